/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC framing and dispatch without sockets: requests split across reads, several in one
 * buffer, malformed and oversized input, invalid requests, unknown methods, parameter errors,
 * batches and notifications.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "vhostd/jsonrpc.h"

struct add_params {
	uint32_t a;
	uint64_t b;
	char name[8];
	bool flag;
	uint64_t size;
	int64_t delta;
	json_t *any;
};

static const struct vhd_jsonrpc_param g_add_spec[] = {
	VHD_JP("a", VHD_JP_U32, true, struct add_params, a),
	VHD_JP("b", VHD_JP_U64, false, struct add_params, b),
	VHD_JP("name", VHD_JP_STRING, false, struct add_params, name),
	VHD_JP("flag", VHD_JP_BOOL, false, struct add_params, flag),
	VHD_JP("size", VHD_JP_SIZE, false, struct add_params, size),
	VHD_JP("delta", VHD_JP_I64, false, struct add_params, delta),
	VHD_JP("any", VHD_JP_JSON, false, struct add_params, any),
	VHD_JP_NOT_SUPPORTED("md_size", NULL),
	VHD_JP_NOT_SUPPORTED("transport", "vhost_user_blk"),
	VHD_JP_IGNORE("timeout"),
};

static int g_calls;

static int
m_echo(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	g_calls++;
	*result = json_incref(params);
	return 0;
}

static int
m_true(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	g_calls++;
	return 0;
}

static int
m_busy(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	g_calls++;
	return vhd_jsonrpc_fail(err, -EBUSY, "backend '%s' is used by controller '%s'", "x",
				"y");
}

static int
m_add(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct add_params p = {.name = "none"};
	uint64_t seen = 0;
	int rc;

	g_calls++;
	rc = vhd_jsonrpc_decode(params, g_add_spec, VHD_ARRAY_SIZE(g_add_spec), &p, &seen, err);
	if (rc != 0) {
		return rc;
	}
	*result = json_pack("{s:I,s:s,s:b,s:I,s:I,s:b}", "sum", (json_int_t)(p.a + p.b),
			    "name", p.name, "flag", p.flag, "size", (json_int_t)p.size,
			    "seen", (json_int_t)seen, "any", p.any != NULL);
	return 0;
}

static const struct vhd_jsonrpc_method g_methods[] = {
	{"echo", m_echo},
	{"true", m_true},
	{"busy", m_busy},
	{"add", m_add},
};

static struct vhd_jsonrpc_dispatcher g_disp = {
	.methods = g_methods,
	.nmethods = VHD_ARRAY_SIZE(g_methods),
};

static struct vhd_jsonrpc_conn *g_conn;

static void
setup(void)
{
	g_calls = 0;
	g_disp.max_request = 0;
	g_disp.max_output = 0;
	g_conn = vhd_jsonrpc_conn_create(&g_disp);
	cr_assert_not_null(g_conn);
}

static void
teardown(void)
{
	vhd_jsonrpc_conn_destroy(g_conn);
}

TestSuite(jsonrpc, .init = setup, .fini = teardown);

static int
feed(const char *s)
{
	return vhd_jsonrpc_conn_input(g_conn, s, strlen(s));
}

/* Take everything queued, as one string. */
static char *
take_output(void)
{
	size_t len;
	const char *out = vhd_jsonrpc_conn_output(g_conn, &len);
	char *copy = strndup(out, len);

	vhd_jsonrpc_conn_consume(g_conn, len);
	return copy;
}

/* Parse every '\n'-separated response in the output. */
static size_t
take_responses(json_t **resp, size_t max)
{
	char *text = take_output();
	char *line = text;
	size_t n = 0;

	while (*line != '\0') {
		char *nl = strchr(line, '\n');
		json_error_t jerr;

		cr_assert_not_null(nl, "response not terminated by a newline: '%s'", line);
		*nl = '\0';
		cr_assert_lt(n, max);
		resp[n] = json_loads(line, 0, &jerr);
		cr_assert_not_null(resp[n], "bad response '%s': %s", line, jerr.text);
		n++;
		line = nl + 1;
	}
	free(text);
	return n;
}

static json_t *
take_one(void)
{
	json_t *r[4];

	cr_assert_eq(take_responses(r, 4), 1, "expected exactly one response");
	return r[0];
}

static void
assert_error(json_t *r, int code, const char *needle)
{
	json_t *e = json_object_get(r, "error");
	const char *msg;

	cr_assert_not_null(e, "no error in %s", json_dumps(r, 0));
	cr_assert_str_eq(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
	cr_assert_eq(json_integer_value(json_object_get(e, "code")), code, "code %lld, want %d",
		     json_integer_value(json_object_get(e, "code")), code);
	msg = json_string_value(json_object_get(e, "message"));
	cr_assert_not_null(msg);
	if (needle != NULL) {
		cr_assert_not_null(strstr(msg, needle), "message '%s' lacks '%s'", msg, needle);
	}
	cr_assert_null(json_object_get(r, "result"));
}

static json_t *
result_of(json_t *r, json_int_t id)
{
	cr_assert_null(json_object_get(r, "error"), "unexpected error: %s", json_dumps(r, 0));
	cr_assert_str_eq(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), id);
	return json_object_get(r, "result");
}

Test(jsonrpc, one_request)
{
	json_t *r;

	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\","
			  "\"params\":{\"x\":1}}"), 0);
	r = take_one();
	cr_assert_eq(json_integer_value(json_object_get(result_of(r, 7), "x")), 1);
	json_decref(r);
}

Test(jsonrpc, no_params_gives_empty_object_and_true)
{
	json_t *r;

	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}"), 0);
	r = take_one();
	cr_assert(json_is_object(result_of(r, 1)));
	cr_assert_eq(json_object_size(result_of(r, 1)), 0);
	json_decref(r);
	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"true\",\"params\":null}"), 0);
	r = take_one();
	cr_assert(json_is_true(result_of(r, 2)));
	json_decref(r);
}

/* What rpc.py sends: indented JSON, no trailing newline, string ids too. */
Test(jsonrpc, rpc_py_style_and_id_types)
{
	json_t *r;

	cr_assert_eq(feed("{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"true\",\n"
			  "  \"id\": 1\n}"), 0);
	r = take_one();
	cr_assert(json_is_true(result_of(r, 1)));
	json_decref(r);
	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"true\"}"), 0);
	r = take_one();
	cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "abc");
	json_decref(r);
	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"true\"}"), 0);
	r = take_one();
	cr_assert(json_is_null(json_object_get(r, "id")));
	json_decref(r);
}

static const char g_tricky[] = "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":"
			       "{\"s\":\"}{][ \\\"quoted\\\" \\\\\",\"t\":[{\"u\":[]}],"
			       "\"v\":\"caf\\u00e9 \xc3\xa9\"}}";

/* Every split point of a request whose strings hold brackets, quotes and escapes. */
Test(jsonrpc, split_at_every_byte_boundary)
{
	size_t len = strlen(g_tricky);

	for (size_t cut = 1; cut < len; cut++) {
		struct vhd_jsonrpc_conn *c = vhd_jsonrpc_conn_create(&g_disp);
		json_t *r, *res;
		size_t outlen;

		cr_assert_eq(vhd_jsonrpc_conn_input(c, g_tricky, cut), 0);
		vhd_jsonrpc_conn_output(c, &outlen);
		cr_assert_eq(outlen, 0, "answered after %zu of %zu bytes", cut, len);
		cr_assert_gt(vhd_jsonrpc_conn_pending_input(c), 0);
		cr_assert_eq(vhd_jsonrpc_conn_input(c, g_tricky + cut, len - cut), 0);
		vhd_jsonrpc_conn_destroy(g_conn);
		g_conn = c;
		r = take_one();
		res = result_of(r, 3);
		cr_assert_str_eq(json_string_value(json_object_get(res, "s")),
				 "}{][ \"quoted\" \\");
		cr_assert_str_eq(json_string_value(json_object_get(res, "v")),
				 "caf\xc3\xa9 \xc3\xa9");
		cr_assert_eq(vhd_jsonrpc_conn_pending_input(c), 0);
		json_decref(r);
	}
}

Test(jsonrpc, one_byte_at_a_time)
{
	size_t len = strlen(g_tricky);
	json_t *r;

	for (size_t i = 0; i < len; i++) {
		size_t outlen;

		cr_assert_eq(vhd_jsonrpc_conn_input(g_conn, g_tricky + i, 1), 0);
		vhd_jsonrpc_conn_output(g_conn, &outlen);
		cr_assert_eq(outlen == 0, i + 1 < len);
	}
	r = take_one();
	result_of(r, 3);
	json_decref(r);
	cr_assert_eq(g_calls, 1);
}

Test(jsonrpc, several_requests_in_one_buffer_answered_in_order)
{
	json_t *r[8];
	size_t n;

	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"true\"}"
			  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"busy\"}\n\n"
			  "  {\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"nope\"}\r\n"
			  "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\",\"params\":{\"k\":4}}"
			  "{\"jsonrpc\":\"2.0\",\"id\":5,"), 0);
	n = take_responses(r, 8);
	cr_assert_eq(n, 4);
	cr_assert(json_is_true(result_of(r[0], 1)));
	assert_error(r[1], -EBUSY, "backend 'x' is used by controller 'y'");
	cr_assert_eq(json_integer_value(json_object_get(r[1], "id")), 2);
	assert_error(r[2], VHD_JSONRPC_METHOD_NOT_FOUND, "nope");
	cr_assert_eq(json_integer_value(json_object_get(r[2], "id")), 3);
	cr_assert_eq(json_integer_value(json_object_get(result_of(r[3], 4), "k")), 4);
	for (size_t i = 0; i < n; i++) {
		json_decref(r[i]);
	}
	/* The fifth is incomplete and waits for its end. */
	cr_assert_gt(vhd_jsonrpc_conn_pending_input(g_conn), 0);
	cr_assert_eq(feed("\"method\":\"true\"}"), 0);
	r[0] = take_one();
	result_of(r[0], 5);
	json_decref(r[0]);
}

Test(jsonrpc, whitespace_only_is_not_a_request)
{
	size_t len;

	cr_assert_eq(feed(" \n\t\r\n "), 0);
	vhd_jsonrpc_conn_output(g_conn, &len);
	cr_assert_eq(len, 0);
	cr_assert_eq(vhd_jsonrpc_conn_pending_input(g_conn), 0);
}

Test(jsonrpc, malformed_json_closes_the_stream)
{
	json_t *r;

	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"true\"}"
			  "{\"jsonrpc\" \"2.0\"}"
			  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"true\"}"), -EPROTO);
	{
		json_t *rs[4];

		cr_assert_eq(take_responses(rs, 4), 2);
		result_of(rs[0], 1);
		assert_error(rs[1], VHD_JSONRPC_PARSE_ERROR, "Parse error");
		cr_assert(json_is_null(json_object_get(rs[1], "id")));
		json_decref(rs[0]);
		json_decref(rs[1]);
	}
	/* Sticky: nothing more is run. */
	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"true\"}"), -EPROTO);
	cr_assert_eq(g_calls, 1);
	{
		size_t len;

		vhd_jsonrpc_conn_output(g_conn, &len);
		cr_assert_eq(len, 0);
	}
	(void)r;
}

Test(jsonrpc, garbage_and_bare_scalars_are_parse_errors)
{
	static const char *const bad[] = {"xyz", "123", "\"a string\"", "null", "{]",
					  "{\"a\":tru}", "[1,}", "{\"a\":\"\\q\"}"};

	for (size_t i = 0; i < VHD_ARRAY_SIZE(bad); i++) {
		struct vhd_jsonrpc_conn *c = vhd_jsonrpc_conn_create(&g_disp);
		json_t *r;

		cr_assert_eq(vhd_jsonrpc_conn_input(c, bad[i], strlen(bad[i])), -EPROTO, "%s",
			     bad[i]);
		vhd_jsonrpc_conn_destroy(g_conn);
		g_conn = c;
		r = take_one();
		assert_error(r, VHD_JSONRPC_PARSE_ERROR, NULL);
		json_decref(r);
	}
	cr_assert_eq(g_calls, 0);
}

Test(jsonrpc, invalid_utf8_is_a_parse_error)
{
	json_t *r;

	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":"
			  "{\"s\":\"\xff\xfe\"}}"), -EPROTO);
	r = take_one();
	assert_error(r, VHD_JSONRPC_PARSE_ERROR, NULL);
	json_decref(r);
}

Test(jsonrpc, oversized_incomplete_request)
{
	char chunk[4096];
	size_t sent = 0;
	int rc = 0;
	json_t *r;

	g_disp.max_request = 64 * 1024;
	memset(chunk, 'a', sizeof(chunk));
	rc = feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"s\":\"");
	while (rc == 0 && sent < 128 * 1024) {
		rc = vhd_jsonrpc_conn_input(g_conn, chunk, sizeof(chunk));
		sent += sizeof(chunk);
	}
	cr_assert_eq(rc, -EMSGSIZE);
	cr_assert_leq(sent, 64 * 1024 + sizeof(chunk));
	r = take_one();
	assert_error(r, VHD_JSONRPC_INVALID_REQUEST, "larger than 65536 bytes");
	cr_assert(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	cr_assert_eq(g_calls, 0);
}

Test(jsonrpc, oversized_complete_request_default_limit)
{
	size_t big = VHD_JSONRPC_MAX_REQUEST + 16;
	char *req = malloc(big + 128);
	size_t off;
	json_t *r;

	off = (size_t)snprintf(req, 128, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
			       "\"echo\",\"params\":{\"s\":\"");
	memset(req + off, 'b', big);
	off += big;
	off += (size_t)snprintf(req + off, 8, "\"}}");
	cr_assert_eq(vhd_jsonrpc_conn_input(g_conn, req, off), -EMSGSIZE);
	free(req);
	r = take_one();
	assert_error(r, VHD_JSONRPC_INVALID_REQUEST, "larger than 1048576 bytes");
	json_decref(r);
	cr_assert_eq(g_calls, 0);
}

/* Just under the limit is fine, and the limit is per request, not per connection. */
Test(jsonrpc, limit_is_per_request)
{
	char req[1024];
	int n;

	g_disp.max_request = 200;
	n = snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"true\"}");
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(vhd_jsonrpc_conn_input(g_conn, req, (size_t)n), 0);
	}
	cr_assert_eq(g_calls, 50);
	free(take_output());
}

Test(jsonrpc, invalid_requests_keep_the_connection)
{
	static const struct {
		const char *req;
		int code;
		const char *needle;
		bool id_null;
	} cases[] = {
		{"{\"id\":1,\"method\":\"true\"}", VHD_JSONRPC_INVALID_REQUEST, "jsonrpc", false},
		{"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"true\"}", VHD_JSONRPC_INVALID_REQUEST,
		 "\"2.0\"", false},
		{"{\"jsonrpc\":\"2.0\",\"id\":1}", VHD_JSONRPC_INVALID_REQUEST, "method", false},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", VHD_JSONRPC_INVALID_REQUEST,
		 "method", false},
		{"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"true\"}", VHD_JSONRPC_INVALID_REQUEST,
		 "'id'", true},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"true\",\"params\":3}",
		 VHD_JSONRPC_INVALID_REQUEST, "params", false},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":[1,2]}",
		 VHD_JSONRPC_INVALID_PARAMS, "named parameters", false},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}", VHD_JSONRPC_METHOD_NOT_FOUND,
		 "Method not found: 'nope'", false},
	};

	for (size_t i = 0; i < VHD_ARRAY_SIZE(cases); i++) {
		json_t *r;

		cr_assert_eq(feed(cases[i].req), 0, "%s", cases[i].req);
		r = take_one();
		assert_error(r, cases[i].code, cases[i].needle);
		if (cases[i].id_null) {
			cr_assert(json_is_null(json_object_get(r, "id")));
		} else {
			cr_assert_eq(json_integer_value(json_object_get(r, "id")), 1, "%s",
				     cases[i].req);
		}
		json_decref(r);
	}
	cr_assert_eq(g_calls, 0);
	/* Still serving. */
	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"true\"}"), 0);
	json_decref(take_one());
}

static json_t *
call_add(const char *params)
{
	char req[2048];

	snprintf(req, sizeof(req),
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":%s}", params);
	cr_assert_eq(feed(req), 0);
	return take_one();
}

static void
expect_param_error(const char *params, const char *needle)
{
	json_t *r = call_add(params);

	assert_error(r, VHD_JSONRPC_INVALID_PARAMS, needle);
	json_decref(r);
}

Test(jsonrpc, params_decoded)
{
	json_t *r = call_add("{\"a\":2,\"b\":40,\"name\":\"abc\",\"flag\":true,\"size\":\"64MiB\","
			     "\"any\":[1],\"md_size\":0,\"transport\":\"vhost_user_blk\","
			     "\"timeout\":5,\"delta\":null}");
	json_t *res = result_of(r, 1);

	cr_assert_eq(json_integer_value(json_object_get(res, "sum")), 42);
	cr_assert_str_eq(json_string_value(json_object_get(res, "name")), "abc");
	cr_assert(json_is_true(json_object_get(res, "flag")));
	cr_assert_eq(json_integer_value(json_object_get(res, "size")), 64 << 20);
	cr_assert(json_is_true(json_object_get(res, "any")));
	/* a, b, name, flag, size, any, md_size, transport, timeout; not delta (null). */
	cr_assert_eq(json_integer_value(json_object_get(res, "seen")), 0x3df);
	json_decref(r);

	r = call_add("{\"a\":1,\"size\":4096,\"md_size\":false}");
	res = result_of(r, 1);
	cr_assert_eq(json_integer_value(json_object_get(res, "size")), 4096);
	cr_assert_str_eq(json_string_value(json_object_get(res, "name")), "none");
	json_decref(r);
}

Test(jsonrpc, param_errors_name_the_parameter)
{
	expect_param_error("{}", "missing parameter 'a'");
	expect_param_error("{\"a\":null}", "missing parameter 'a'");
	expect_param_error("{\"a\":\"1\"}",
			   "parameter 'a': expected an integer >= 0, got a string");
	expect_param_error("{\"a\":-1}", "parameter 'a'");
	expect_param_error("{\"a\":4294967296}", "parameter 'a': 4294967296 is out of range");
	expect_param_error("{\"a\":1.5}", "parameter 'a': expected an integer >= 0, got a number");
	expect_param_error("{\"a\":1,\"b\":-5}", "parameter 'b'");
	expect_param_error("{\"a\":1,\"flag\":1}", "parameter 'flag': expected a boolean");
	expect_param_error("{\"a\":1,\"name\":12}", "parameter 'name': expected a string");
	expect_param_error("{\"a\":1,\"name\":\"12345678\"}", "parameter 'name' is too long");
	expect_param_error("{\"a\":1,\"size\":\"12 parsecs\"}", "parameter 'size': '12 parsecs'");
	expect_param_error("{\"a\":1,\"size\":true}", "parameter 'size': expected a size");
	expect_param_error("{\"a\":1,\"delta\":\"x\"}", "parameter 'delta': expected an integer");
	expect_param_error("{\"a\":1,\"bogus\":1}", "unknown parameter 'bogus'");
	expect_param_error("{\"a\":1,\"md_size\":8}", "parameter 'md_size': vhostd does not");
	expect_param_error("{\"a\":1,\"transport\":\"vfio_user\"}", "parameter 'transport'");
}

Test(jsonrpc, notifications_get_no_response)
{
	size_t len;

	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"method\":\"true\"}"
			  "{\"jsonrpc\":\"2.0\",\"method\":\"busy\"}"
			  "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}"), 0);
	vhd_jsonrpc_conn_output(g_conn, &len);
	cr_assert_eq(len, 0);
	cr_assert_eq(g_calls, 2);
}

Test(jsonrpc, batch)
{
	json_t *r, *e;

	cr_assert_eq(feed("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"true\"},"
			  "{\"jsonrpc\":\"2.0\",\"method\":\"true\"},"
			  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"busy\"},"
			  "5,"
			  "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\","
			  "\"params\":{\"z\":0}}]"),
		     0);
	r = take_one();
	cr_assert(json_is_array(r));
	cr_assert_eq(json_array_size(r), 4);
	cr_assert(json_is_true(result_of(json_array_get(r, 0), 1)));
	assert_error(json_array_get(r, 1), -EBUSY, NULL);
	e = json_array_get(r, 2);
	assert_error(e, VHD_JSONRPC_INVALID_REQUEST, "JSON object");
	cr_assert(json_is_null(json_object_get(e, "id")));
	result_of(json_array_get(r, 3), 3);
	json_decref(r);
	cr_assert_eq(g_calls, 4);
}

Test(jsonrpc, empty_batch_and_notification_batch)
{
	json_t *r;
	size_t len;

	cr_assert_eq(feed("[]"), 0);
	r = take_one();
	cr_assert(json_is_object(r));
	assert_error(r, VHD_JSONRPC_INVALID_REQUEST, "empty batch");
	json_decref(r);
	cr_assert_eq(feed("[{\"jsonrpc\":\"2.0\",\"method\":\"true\"}]"), 0);
	vhd_jsonrpc_conn_output(g_conn, &len);
	cr_assert_eq(len, 0);
}

Test(jsonrpc, output_consumed_in_pieces)
{
	const char *out;
	size_t len, total;
	char *all;

	cr_assert_eq(feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"true\"}"), 0);
	out = vhd_jsonrpc_conn_output(g_conn, &total);
	all = strndup(out, total);
	vhd_jsonrpc_conn_consume(g_conn, 5);
	out = vhd_jsonrpc_conn_output(g_conn, &len);
	cr_assert_eq(len, total - 5);
	cr_assert_eq(memcmp(out, all + 5, len), 0);
	vhd_jsonrpc_conn_consume(g_conn, len + 100);
	vhd_jsonrpc_conn_output(g_conn, &len);
	cr_assert_eq(len, 0);
	cr_assert_str_eq(all, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}\n");
	free(all);
}

/* Pipelined requests wait while too many answers are unsent, and resume when they are read. */
Test(jsonrpc, output_bound_pauses_requests)
{
	char req[4096];
	size_t len, off = 0;
	json_t *r;

	g_disp.max_output = 100;
	for (int i = 1; i <= 5; i++) {
		off += (size_t)snprintf(req + off, sizeof(req) - off,
					"{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\","
					"\"params\":{\"pad\":\"0123456789012345678901234567"
					"890123456789\"}}", i);
	}
	cr_assert_eq(feed(req), 0);
	/* Each answer is about 90 bytes: the second one crosses the bound. */
	cr_assert_eq(g_calls, 2);
	cr_assert_gt(vhd_jsonrpc_conn_pending_input(g_conn), 0);
	free(take_output());
	cr_assert_eq(vhd_jsonrpc_conn_input(g_conn, NULL, 0), 0);
	cr_assert_eq(g_calls, 4);
	free(take_output());
	cr_assert_eq(vhd_jsonrpc_conn_input(g_conn, NULL, 0), 0);
	cr_assert_eq(g_calls, 5);
	r = take_one();
	result_of(r, 5);
	json_decref(r);
	cr_assert_eq(vhd_jsonrpc_conn_pending_input(g_conn), 0);
	vhd_jsonrpc_conn_output(g_conn, &len);
	cr_assert_eq(len, 0);
}

Test(jsonrpc, json_string_survives_bad_utf8)
{
	json_t *s = vhd_json_string("/tmp/\xff\xfe.img");

	cr_assert_not_null(s);
	cr_assert_str_eq(json_string_value(s), "/tmp/??.img");
	json_decref(s);
}
