/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 framing, validation, dispatch and parameter decoding (see vhostd/jsonrpc.h).
 * No sockets and no threads here: the server feeds bytes in and sends what comes out.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "vhostd/config.h"
#include "vhostd/jsonrpc.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

struct vhd_jsonrpc_conn {
	const struct vhd_jsonrpc_dispatcher *d;
	struct buf in;
	/* Scanner state over `in`: where the current value starts and how far we looked. */
	size_t start;
	size_t scan_pos;
	uint32_t depth;
	bool started;
	bool in_string;
	bool escape;
	struct buf out;
	size_t out_off;
	int error;          /* sticky: the connection must be closed */
};

static int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0) {
		return 0;
	}
	if (n > SIZE_MAX - b->len - 1) {
		return -ENOMEM;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = VHD_MAX(b->cap * 2, (size_t)4096);
		char *d;

		while (cap < b->len + n + 1) {
			cap *= 2;
		}
		d = realloc(b->data, cap);
		if (d == NULL) {
			return -ENOMEM;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
vhd_jsonrpc_fail(struct vhd_jsonrpc_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

json_t *
vhd_json_string(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL || s == NULL) {
		return j;
	}
	/* Not valid UTF-8 (a file name, say): keep the ASCII, mark the rest. */
	copy = strdup(s);
	if (copy == NULL) {
		return NULL;
	}
	for (char *p = copy; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80) {
			*p = '?';
		}
	}
	j = json_string(copy);
	free(copy);
	return j;
}

/* ---- responses ---- */

static json_t *
response_new(json_t *id)
{
	json_t *r = json_object();

	if (r == NULL) {
		return NULL;
	}
	if (json_object_set_new(r, "jsonrpc", json_string("2.0")) != 0 ||
	    json_object_set_new(r, "id", id != NULL ? json_incref(id) : json_null()) != 0) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static json_t *
error_response(json_t *id, int code, const char *message)
{
	json_t *r = response_new(id);
	json_t *e = json_object();

	if (r == NULL || e == NULL ||
	    json_object_set_new(e, "code", json_integer(code)) != 0 ||
	    json_object_set_new(e, "message", vhd_json_string(message)) != 0 ||
	    json_object_set_new(r, "error", e) != 0) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static json_t *
result_response(json_t *id, json_t *result)
{
	json_t *r = response_new(id);

	if (r == NULL || json_object_set_new(r, "result", result) != 0) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static int
queue_response(struct vhd_jsonrpc_conn *c, json_t *resp)
{
	char *text;
	int rc;

	if (resp == NULL) {
		return -ENOMEM;
	}
	text = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	if (text == NULL) {
		return -ENOMEM;
	}
	rc = buf_append(&c->out, text, strlen(text));
	if (rc == 0) {
		rc = buf_append(&c->out, "\n", 1);
	}
	free(text);
	return rc;
}

/* ---- dispatch ---- */

static const struct vhd_jsonrpc_method *
find_method(const struct vhd_jsonrpc_dispatcher *d, const char *name)
{
	for (size_t i = 0; i < d->nmethods; i++) {
		if (strcmp(d->methods[i].name, name) == 0) {
			return &d->methods[i];
		}
	}
	return NULL;
}

/* Run one request object. \return its response, or NULL for a notification (and on OOM). */
static json_t *
handle_request(struct vhd_jsonrpc_conn *c, json_t *req, bool *nomem)
{
	const struct vhd_jsonrpc_method *m;
	struct vhd_jsonrpc_error err = {0};
	json_t *id, *jv, *method, *params, *result = NULL, *resp;
	bool own_params = false;
	int rc;

	if (!json_is_object(req)) {
		return error_response(NULL, VHD_JSONRPC_INVALID_REQUEST,
				      "Invalid request: a request must be a JSON object");
	}
	id = json_object_get(req, "id");
	if (id != NULL && !json_is_string(id) && !json_is_number(id) && !json_is_null(id)) {
		return error_response(NULL, VHD_JSONRPC_INVALID_REQUEST,
				      "Invalid request: 'id' must be a string, a number or null");
	}
	jv = json_object_get(req, "jsonrpc");
	if (!json_is_string(jv) || strcmp(json_string_value(jv), "2.0") != 0) {
		return error_response(id, VHD_JSONRPC_INVALID_REQUEST,
				      "Invalid request: 'jsonrpc' must be \"2.0\"");
	}
	method = json_object_get(req, "method");
	if (!json_is_string(method)) {
		return error_response(id, VHD_JSONRPC_INVALID_REQUEST,
				      "Invalid request: 'method' must be a string");
	}
	params = json_object_get(req, "params");
	if (params != NULL && !json_is_null(params) && !json_is_object(params)) {
		if (json_is_array(params)) {
			resp = error_response(id, VHD_JSONRPC_INVALID_PARAMS,
					      "Invalid params: 'params' must be an object (vhostd "
					      "methods take named parameters)");
		} else {
			resp = error_response(id, VHD_JSONRPC_INVALID_REQUEST,
					      "Invalid request: 'params' must be an object");
		}
		return resp;
	}
	m = find_method(c->d, json_string_value(method));
	if (m == NULL) {
		char msg[VHD_JSONRPC_MSG_MAX];

		if (id == NULL) {
			return NULL;
		}
		snprintf(msg, sizeof(msg), "Method not found: '%s'", json_string_value(method));
		return error_response(id, VHD_JSONRPC_METHOD_NOT_FOUND, msg);
	}
	if (params == NULL || json_is_null(params)) {
		params = json_object();
		if (params == NULL) {
			*nomem = true;
			return NULL;
		}
		own_params = true;
	}
	rc = m->fn(c->d->ctx, params, &result, &err);
	if (own_params) {
		json_decref(params);
	}
	if (rc != 0) {
		json_decref(result);
		if (id == NULL) {
			return NULL;
		}
		if (err.code == 0) {
			err.code = VHD_JSONRPC_INTERNAL_ERROR;
			snprintf(err.message, sizeof(err.message), "Internal error");
		}
		return error_response(id, err.code, err.message);
	}
	if (id == NULL) {
		json_decref(result);
		return NULL;
	}
	if (result == NULL) {
		result = json_true();
	}
	return result_response(id, result);
}

static int
handle_value(struct vhd_jsonrpc_conn *c, json_t *v)
{
	bool nomem = false;
	json_t *resp;

	if (!json_is_array(v)) {
		resp = handle_request(c, v, &nomem);
		if (nomem) {
			return -ENOMEM;
		}
		return resp != NULL ? queue_response(c, resp) : 0;
	}
	if (json_array_size(v) == 0) {
		return queue_response(c, error_response(NULL, VHD_JSONRPC_INVALID_REQUEST,
							"Invalid request: empty batch"));
	}
	resp = json_array();
	if (resp == NULL) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *r = handle_request(c, json_array_get(v, i), &nomem);

		if (nomem) {
			json_decref(resp);
			return -ENOMEM;
		}
		if (r != NULL && json_array_append_new(resp, r) != 0) {
			json_decref(resp);
			return -ENOMEM;
		}
	}
	if (json_array_size(resp) == 0) {
		/* Only notifications: nothing to say. */
		json_decref(resp);
		return 0;
	}
	return queue_response(c, resp);
}

/* ---- framing ---- */

struct vhd_jsonrpc_conn *
vhd_jsonrpc_conn_create(const struct vhd_jsonrpc_dispatcher *d)
{
	struct vhd_jsonrpc_conn *c = calloc(1, sizeof(*c));

	if (c != NULL) {
		c->d = d;
	}
	return c;
}

void
vhd_jsonrpc_conn_destroy(struct vhd_jsonrpc_conn *c)
{
	if (c == NULL) {
		return;
	}
	free(c->in.data);
	free(c->out.data);
	free(c);
}

static size_t
max_request(const struct vhd_jsonrpc_conn *c)
{
	return c->d->max_request != 0 ? c->d->max_request : VHD_JSONRPC_MAX_REQUEST;
}

/*
 * Walk the new input bytes. \return one past the last byte of a value whose brackets balance
 * (or of a first byte that cannot start an object or array), 0 when more input is needed.
 */
static size_t
scan(struct vhd_jsonrpc_conn *c)
{
	const char *p = c->in.data;

	for (size_t i = c->scan_pos; i < c->in.len; i++) {
		char ch = p[i];

		if (!c->started) {
			if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
				continue;
			}
			c->started = true;
			c->start = i;
			if (ch != '{' && ch != '[') {
				c->scan_pos = i + 1;
				return i + 1;
			}
			c->depth = 1;
			continue;
		}
		if (c->in_string) {
			if (c->escape) {
				c->escape = false;
			} else if (ch == '\\') {
				c->escape = true;
			} else if (ch == '"') {
				c->in_string = false;
			}
			continue;
		}
		switch (ch) {
		case '"':
			c->in_string = true;
			break;
		case '{':
		case '[':
			c->depth++;
			break;
		case '}':
		case ']':
			if (--c->depth == 0) {
				c->scan_pos = i + 1;
				return i + 1;
			}
			break;
		default:
			break;
		}
	}
	c->scan_pos = c->in.len;
	return 0;
}

static void
scan_reset(struct vhd_jsonrpc_conn *c, size_t consumed)
{
	memmove(c->in.data, c->in.data + consumed, c->in.len - consumed);
	c->in.len -= consumed;
	c->start = 0;
	c->scan_pos = 0;
	c->depth = 0;
	c->started = false;
	c->in_string = false;
	c->escape = false;
}

static int
fail_stream(struct vhd_jsonrpc_conn *c, int error, int code, const char *message)
{
	int rc = queue_response(c, error_response(NULL, code, message));

	c->error = rc != 0 ? rc : error;
	/* Nothing after a broken request can be trusted; drop it. */
	c->in.len = 0;
	return c->error;
}

static int
process(struct vhd_jsonrpc_conn *c)
{
	size_t max = max_request(c);
	size_t max_out = c->d->max_output != 0 ? c->d->max_output : VHD_JSONRPC_MAX_OUTPUT;

	for (;;) {
		size_t end;
		json_error_t jerr;
		json_t *v;
		int rc;

		if (c->out.len - c->out_off > max_out) {
			/* Resumed by vhd_jsonrpc_conn_input(c, NULL, 0) once the client read. */
			return 0;
		}
		end = scan(c);
		if (end == 0) {
			if (!c->started) {
				/* Only whitespace so far: keep nothing. */
				c->in.len = 0;
				c->scan_pos = 0;
			} else if (c->in.len - c->start > max) {
				break;
			}
			return 0;
		}
		if (end - c->start > max) {
			break;
		}
		/*
		 * jansson decides. With JSON_DISABLE_EOF_CHECK it stops after the first value and
		 * jerr.position says how many bytes it used.
		 */
		v = json_loadb(c->in.data + c->start, end - c->start, JSON_DISABLE_EOF_CHECK,
			       &jerr);
		if (v == NULL) {
			char msg[VHD_JSONRPC_MSG_MAX];

			/*
			 * "Premature end of input" would mean "wait for more", but the scanner
			 * only asks once brackets balance, so then any error is malformed input.
			 */
			snprintf(msg, sizeof(msg), "Parse error: %s (byte %d of the request)",
				 jerr.text, jerr.position);
			return fail_stream(c, -EPROTO, VHD_JSONRPC_PARSE_ERROR, msg);
		}
		rc = handle_value(c, v);
		json_decref(v);
		if (rc != 0) {
			c->error = rc;
			return rc;
		}
		/* jansson stopped at the scanner's bracket: jerr.position == end - start. */
		scan_reset(c, end);
	}
	{
		char msg[128];

		snprintf(msg, sizeof(msg), "Invalid request: larger than %zu bytes", max);
		return fail_stream(c, -EMSGSIZE, VHD_JSONRPC_INVALID_REQUEST, msg);
	}
}

int
vhd_jsonrpc_conn_input(struct vhd_jsonrpc_conn *c, const void *buf, size_t len)
{
	if (c->error != 0) {
		return c->error;
	}
	if (buf_append(&c->in, buf, len) != 0) {
		c->error = -ENOMEM;
		return c->error;
	}
	return process(c);
}

size_t
vhd_jsonrpc_conn_pending_input(const struct vhd_jsonrpc_conn *c)
{
	return c->in.len;
}

const char *
vhd_jsonrpc_conn_output(const struct vhd_jsonrpc_conn *c, size_t *len)
{
	*len = c->out.len - c->out_off;
	return c->out.data != NULL ? c->out.data + c->out_off : "";
}

void
vhd_jsonrpc_conn_consume(struct vhd_jsonrpc_conn *c, size_t n)
{
	c->out_off += VHD_MIN(n, c->out.len - c->out_off);
	if (c->out_off == c->out.len) {
		c->out.len = 0;
		c->out_off = 0;
	}
}

/* ---- parameters ---- */

static const char *
describe(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return json_integer_value(v) < 0 ? "a negative integer" : "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

static bool
is_neutral(const json_t *v, const char *neutral)
{
	switch (json_typeof(v)) {
	case JSON_FALSE:
		return true;
	case JSON_INTEGER:
		return json_integer_value(v) == 0;
	case JSON_STRING:
		return json_string_length(v) == 0 ||
		       (neutral != NULL && strcmp(json_string_value(v), neutral) == 0);
	default:
		return false;
	}
}

static int
decode_one(const struct vhd_jsonrpc_param *p, json_t *v, void *out,
	   struct vhd_jsonrpc_error *err)
{
	void *dst = (char *)out + p->offset;
	json_int_t i;

	switch (p->type) {
	case VHD_JP_STRING:
		if (!json_is_string(v)) {
			break;
		}
		if (json_string_length(v) >= p->size) {
			return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS,
						"parameter '%s' is too long (%zu characters, at "
						"most %zu)", p->name, json_string_length(v),
						p->size - 1);
		}
		memcpy(dst, json_string_value(v), json_string_length(v) + 1);
		return 0;
	case VHD_JP_BOOL:
		if (!json_is_boolean(v)) {
			break;
		}
		*(bool *)dst = json_is_true(v);
		return 0;
	case VHD_JP_U32:
		i = json_is_integer(v) ? json_integer_value(v) : -1;
		if (i < 0 || (uint64_t)i > UINT32_MAX) {
			if (json_is_integer(v)) {
				return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS,
							"parameter '%s': %" JSON_INTEGER_FORMAT
							" is out of range (0..4294967295)",
							p->name, json_integer_value(v));
			}
			break;
		}
		*(uint32_t *)dst = (uint32_t)i;
		return 0;
	case VHD_JP_U64:
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			break;
		}
		*(uint64_t *)dst = (uint64_t)json_integer_value(v);
		return 0;
	case VHD_JP_I64:
		if (!json_is_integer(v)) {
			break;
		}
		*(int64_t *)dst = json_integer_value(v);
		return 0;
	case VHD_JP_SIZE:
		if (json_is_integer(v) && json_integer_value(v) >= 0) {
			*(uint64_t *)dst = (uint64_t)json_integer_value(v);
			return 0;
		}
		if (json_is_string(v)) {
			uint64_t bytes;

			if (vhd_parse_size(json_string_value(v), &bytes) != 0) {
				return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS,
							"parameter '%s': '%s' is not a size "
							"(bytes, or a number with K, M, G or "
							"T, e.g. \"64MiB\")", p->name,
							json_string_value(v));
			}
			*(uint64_t *)dst = bytes;
			return 0;
		}
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS,
					"parameter '%s': expected a size (an integer >= 0 or a "
					"string such as \"64MiB\"), got %s", p->name, describe(v));
	case VHD_JP_JSON:
		*(json_t **)dst = v;
		return 0;
	case VHD_JP_UNSUPPORTED:
		if (is_neutral(v, p->neutral)) {
			return 0;
		}
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS,
					"parameter '%s': vhostd does not support this option "
					"(leave it out)", p->name);
	case VHD_JP_IGNORED:
		return 0;
	}
	{
		static const char *const want[] = {
			[VHD_JP_STRING] = "a string",
			[VHD_JP_BOOL] = "a boolean",
			[VHD_JP_U32] = "an integer >= 0",
			[VHD_JP_U64] = "an integer >= 0",
			[VHD_JP_I64] = "an integer",
		};

		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS,
					"parameter '%s': expected %s, got %s", p->name,
					want[p->type], describe(v));
	}
}

int
vhd_jsonrpc_decode(json_t *params, const struct vhd_jsonrpc_param *spec, size_t n, void *out,
		   uint64_t *seen, struct vhd_jsonrpc_error *err)
{
	const char *key;
	json_t *v;
	uint64_t mask = 0;

	json_object_foreach(params, key, v) {
		size_t i;

		for (i = 0; i < n && strcmp(spec[i].name, key) != 0; i++) {
		}
		if (i == n) {
			return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS,
						"unknown parameter '%s'", key);
		}
	}
	for (size_t i = 0; i < n; i++) {
		int rc;

		v = json_object_get(params, spec[i].name);
		if (v == NULL || json_is_null(v)) {
			if (spec[i].required) {
				return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS,
							"missing parameter '%s'", spec[i].name);
			}
			continue;
		}
		rc = decode_one(&spec[i], v, out, err);
		if (rc != 0) {
			return rc;
		}
		if (i < 64) {
			mask |= 1ull << i;
		}
	}
	if (seen != NULL) {
		*seen = mask;
	}
	return 0;
}
