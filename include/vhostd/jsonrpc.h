/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 over a byte stream, with no sockets, threads or DPDK: the part of the control
 * socket that the unit tests drive directly.
 *
 * Framing is the one SPDK's rpc.py uses: a client writes JSON texts back to back, with or
 * without whitespace between them and with no length prefix or delimiter, and reads until
 * a complete JSON value parses. A struct vhd_jsonrpc_conn holds one client's unparsed input
 * and pending output. vhd_jsonrpc_conn_input() appends what was received and runs every
 * complete request in it, in order; responses (compact JSON, each followed by '\n') queue up
 * for vhd_jsonrpc_conn_output(). While more than max_output bytes of responses wait to be
 * sent, further requests stay queued (a client pipelining many requests without reading
 * cannot make the server buffer without bound); vhd_jsonrpc_conn_input(c, NULL, 0) resumes
 * them once the output was consumed.
 *
 * How the end of a request is found: a scanner that knows only strings, escapes and bracket
 * depth walks each received byte once; when the depth returns to zero, jansson parses the
 * candidate (json_loadb with JSON_DISABLE_EOF_CHECK, which reports how many bytes the value
 * took). jansson's "premature end of input" means "wait for more"; any other jansson error
 * means the stream is malformed. So a request dribbled in one byte at a time costs O(n), not
 * one full parse per byte.
 *
 * Errors (JSON-RPC 2.0 section 5.1):
 *  - malformed JSON, or a top-level value that is not an object or an array: -32700 with id
 *    null; the stream cannot be resynchronised, so the connection must be closed;
 *  - a request larger than the limit: -32600 with id null; the connection must be closed;
 *  - a value that is not a valid request (no "jsonrpc": "2.0", no string "method", an id that
 *    is not a string, number or null, params neither object nor array): -32600, connection
 *    kept;
 *  - unknown method: -32601; bad params: -32602 with a message naming the parameter;
 *  - a method that fails: the code the handler chose; the control plane's failures use a
 *    negative errno (-16 EBUSY, -19 ENODEV ...), as SPDK does.
 * Batches (arrays) are answered with an array; notifications (no "id") get no response.
 */
#ifndef VHOSTD_JSONRPC_H
#define VHOSTD_JSONRPC_H

#include <jansson.h>

#include "vhostd/common.h"

#define VHD_JSONRPC_PARSE_ERROR -32700
#define VHD_JSONRPC_INVALID_REQUEST -32600
#define VHD_JSONRPC_METHOD_NOT_FOUND -32601
#define VHD_JSONRPC_INVALID_PARAMS -32602
#define VHD_JSONRPC_INTERNAL_ERROR -32603

/* Default limit on one request (a batch counts as one). */
#define VHD_JSONRPC_MAX_REQUEST (1u << 20)
/* Default amount of unsent responses above which requests wait. */
#define VHD_JSONRPC_MAX_OUTPUT (4u << 20)

#define VHD_JSONRPC_MSG_MAX 4096

struct vhd_jsonrpc_error {
	int code;
	char message[VHD_JSONRPC_MSG_MAX];
};

/* Set err->code and a printf-style message. \return code, for "return vhd_jsonrpc_fail()". */
int vhd_jsonrpc_fail(struct vhd_jsonrpc_error *err, int code, const char *fmt, ...)
	VHD_PRINTF(3, 4);

/*
 * A method. `params` is the request's params object (an empty object when it had none; an
 * array is refused with -32602 before the handler runs). On success the handler sets *result
 * to a new reference (NULL stands for `true`) and returns 0; on failure it returns non-zero
 * after filling err (vhd_jsonrpc_fail()).
 */
typedef int (*vhd_jsonrpc_handler)(void *ctx, json_t *params, json_t **result,
				   struct vhd_jsonrpc_error *err);

struct vhd_jsonrpc_method {
	const char *name;
	vhd_jsonrpc_handler fn;
};

struct vhd_jsonrpc_dispatcher {
	const struct vhd_jsonrpc_method *methods;
	size_t nmethods;
	void *ctx;               /* passed to every handler */
	size_t max_request;      /* bytes; 0 = VHD_JSONRPC_MAX_REQUEST */
	size_t max_output;       /* bytes; 0 = VHD_JSONRPC_MAX_OUTPUT */
};

struct vhd_jsonrpc_conn;

/* \return a new connection state, or NULL when out of memory. d must outlive it. */
struct vhd_jsonrpc_conn *vhd_jsonrpc_conn_create(const struct vhd_jsonrpc_dispatcher *d);
void vhd_jsonrpc_conn_destroy(struct vhd_jsonrpc_conn *c);

/*
 * Append len received bytes (none: just resume) and handle every request they complete, in
 * order, until the output bound is reached.
 * \return 0, or -EPROTO (malformed stream), -EMSGSIZE (request over the limit), -ENOMEM: the
 *         error response (if any) is queued; send it, then close. Once an error was returned,
 *         later input is ignored and the same error is returned.
 */
int vhd_jsonrpc_conn_input(struct vhd_jsonrpc_conn *c, const void *buf, size_t len);

/* Bytes received and not handled yet: a partial request, or requests waiting for the output
 * to drain (0 when idle). */
size_t vhd_jsonrpc_conn_pending_input(const struct vhd_jsonrpc_conn *c);

/* Queued response bytes; *len receives their number (0: nothing to send). */
const char *vhd_jsonrpc_conn_output(const struct vhd_jsonrpc_conn *c, size_t *len);

/* Drop the first n bytes of the output (they were sent). */
void vhd_jsonrpc_conn_consume(struct vhd_jsonrpc_conn *c, size_t n);

/* Parameter decoding ---------------------------------------------------------------------- */

enum vhd_jsonrpc_ptype {
	VHD_JP_STRING,   /* char[size]; a string that does not fit is refused */
	VHD_JP_BOOL,     /* bool */
	VHD_JP_U32,      /* uint32_t: an integer 0..UINT32_MAX */
	VHD_JP_U64,      /* uint64_t: an integer >= 0 */
	VHD_JP_I64,      /* int64_t */
	VHD_JP_SIZE,     /* uint64_t bytes: an integer, or a string such as "64MiB" */
	VHD_JP_JSON,     /* json_t *: any value, borrowed from params */
	/*
	 * An option of the SPDK method that vhostd does not implement: accepted when it has the
	 * value that means "off" (null, false, 0, "" or the string in `neutral`), refused
	 * with -32602 otherwise. Nothing is stored.
	 */
	VHD_JP_UNSUPPORTED,
	VHD_JP_IGNORED,  /* accepted with any value and ignored (documented per method) */
};

struct vhd_jsonrpc_param {
	const char *name;
	enum vhd_jsonrpc_ptype type;
	bool required;
	size_t offset;           /* into the output struct (unused for UNSUPPORTED/IGNORED) */
	size_t size;             /* VHD_JP_STRING: buffer size */
	const char *neutral;     /* VHD_JP_UNSUPPORTED: a string value that means "off" */
};

#define VHD_JP(name, type, req, st, field) \
	{ name, type, req, offsetof(st, field), sizeof(((st *)0)->field), NULL }
#define VHD_JP_NOT_SUPPORTED(name, neutral) \
	{ name, VHD_JP_UNSUPPORTED, false, 0, 0, neutral }
#define VHD_JP_IGNORE(name) { name, VHD_JP_IGNORED, false, 0, 0, NULL }

/*
 * Decode params (an object) into out according to spec. A JSON null counts as absent.
 * Members not in spec are refused. Bit i of *seen (if not NULL) is set when spec[i] was
 * given (spec has at most 64 entries).
 * \return 0, or VHD_JSONRPC_INVALID_PARAMS with err naming the parameter ("missing parameter
 *         'name'", "parameter 'num_blocks': expected an integer >= 0, got a string" ...).
 */
int vhd_jsonrpc_decode(json_t *params, const struct vhd_jsonrpc_param *spec, size_t n,
		       void *out, uint64_t *seen, struct vhd_jsonrpc_error *err);

/* A JSON string of s; bytes that are not valid UTF-8 become '?'. NULL only without memory. */
json_t *vhd_json_string(const char *s);

#endif /* VHOSTD_JSONRPC_H */
