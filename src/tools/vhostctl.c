/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhostctl: command-line client of vhostd's control socket (docs/rpc.md). Each subcommand is
 * one JSON-RPC call (two for "bdev delete", which first asks the backend's type); results are
 * printed as tables, or as the raw JSON result with --json.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "vhostd/config.h"

#define EXIT_USAGE 2
#define DEFAULT_SOCKET "/var/tmp/vhostd.sock"
#define MAX_COLS 10
#define MAX_RESPONSE (64u << 20)
/* A tab-separated table cell holding a uint64_t. */
#define C64 "\t%" PRIu64

static const char *g_socket = DEFAULT_SOCKET;
static bool g_json;
static int g_timeout_ms = 60000;

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: vhostctl [-s SOCKET] [--json] [-t SECONDS] COMMAND [ARGS]\n"
		"Control a running vhostd over its JSON-RPC socket (docs/rpc.md).\n"
		"\n"
		"  -s, --socket PATH    control socket (default $VHOSTCTL_SOCKET or %s)\n"
		"      --json           print the JSON result instead of a table\n"
		"  -t, --timeout SECS   how long to wait for an answer (default 60)\n"
		"  -h, --help           this help\n"
		"\n"
		"Commands:\n"
		"  info                                  daemon version, instance, sockets\n"
		"  version | methods                     spdk_get_version | rpc_get_methods\n"
		"  bdev list [NAME]                      backends\n"
		"  bdev create-aio NAME FILE [--block-size N] [--readonly]\n"
		"  bdev create-malloc NAME SIZE [--block-size N]\n"
		"  bdev create-null NAME SIZE [--block-size N]\n"
		"  bdev delete NAME                      refused while a controller uses it\n"
		"  bdev resize NAME SIZE                 malloc/null (SIZE: 128MiB, 1G, bytes)\n"
		"  bdev rescan NAME                      aio: take the file's new size\n"
		"  bdev iostat [NAME...]                 I/O totals per backend\n"
		"  ctrlr list [NAME]                     controllers\n"
		"  ctrlr create-blk NAME BDEV [--cpumask MASK] [--readonly] [--num-queues N]\n"
		"                   [--serial SERIAL]\n"
		"  ctrlr delete NAME [--force]           --force disconnects a connected guest\n"
		"  stats [NAME]                          per controller and per queue\n"
		"  reload                                re-read the config file (like SIGHUP)\n"
		"  save-config                           the live configuration as JSON\n"
		"  call METHOD [PARAMS_JSON]             any method, e.g. call bdev_get_bdevs "
		"'{\"name\":\"d0\"}'\n",
		DEFAULT_SOCKET);
}

static void VHD_PRINTF(1, 2)
die(const char *fmt, ...)
{
	va_list ap;

	fputs("vhostctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAILURE);
}

static void VHD_PRINTF(1, 2)
die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("vhostctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see vhostctl --help)\n", stderr);
	exit(EXIT_USAGE);
}

/* ---- the call ---- */

static int
connect_socket(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (vhd_strlcpy(addr.sun_path, g_socket, sizeof(addr.sun_path)) != 0) {
		die("%s: path too long for a unix socket", g_socket);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		die("socket: %s", strerror(errno));
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		die("cannot connect to %s: %s (is vhostd running? see -s)", g_socket,
		    strerror(errno));
	}
	return fd;
}

static void
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			die("sending to %s: %s", g_socket, strerror(errno));
		}
		buf += n;
		len -= (size_t)n;
	}
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read until one complete JSON value has arrived, as rpc.py does. */
static json_t *
recv_response(int fd)
{
	int64_t deadline = now_ms() + g_timeout_ms;
	size_t len = 0, cap = 0;
	char *buf = NULL;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		json_error_t jerr;
		json_t *v;
		ssize_t n;

		if (left <= 0) {
			die("no answer from %s within %d s", g_socket, g_timeout_ms / 1000);
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			die("poll: %s", strerror(errno));
		}
		if (pfd.revents == 0) {
			continue;
		}
		if (len + 65536 > cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > MAX_RESPONSE) {
				die("answer from %s is larger than %u MiB", g_socket,
				    MAX_RESPONSE >> 20);
			}
			buf = realloc(buf, cap);
			if (buf == NULL) {
				die("out of memory");
			}
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			die("reading from %s: %s", g_socket, strerror(errno));
		}
		if (n == 0) {
			die("%s closed the connection without a complete answer", g_socket);
		}
		len += (size_t)n;
		v = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &jerr);
		if (v != NULL) {
			free(buf);
			return v;
		}
		if (json_error_code(&jerr) != json_error_premature_end_of_input) {
			die("malformed answer from %s: %s", g_socket, jerr.text);
		}
	}
}

/*
 * Call method with params (stolen; NULL = none). \return the result (new reference); on a
 * JSON-RPC error prints it and exits 1.
 */
static json_t *
call(const char *method, json_t *params)
{
	static int id;
	json_t *req = json_pack("{s:s,s:s,s:i}", "jsonrpc", "2.0", "method", method, "id", ++id);
	json_t *resp, *result, *error;
	char *text;
	int fd;

	if (req == NULL) {
		die("out of memory");
	}
	if (params != NULL) {
		json_object_set_new(req, "params", params);
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL) {
		die("out of memory");
	}
	fd = connect_socket();
	send_all(fd, text, strlen(text));
	free(text);
	resp = recv_response(fd);
	close(fd);
	error = json_object_get(resp, "error");
	if (error != NULL) {
		const char *msg = json_string_value(json_object_get(error, "message"));

		fprintf(stderr, "vhostctl: %s: %s (code %" JSON_INTEGER_FORMAT ")\n", method,
			msg != NULL ? msg : "error",
			json_integer_value(json_object_get(error, "code")));
		json_decref(resp);
		exit(EXIT_FAILURE);
	}
	result = json_object_get(resp, "result");
	if (result == NULL) {
		die("answer to %s has neither result nor error", method);
	}
	json_incref(result);
	json_decref(resp);
	return result;
}

static void
print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (text != NULL) {
		puts(text);
		free(text);
	}
}

/* ---- formatting ---- */

static const char *
str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

static uint64_t
u64(json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));

	return v > 0 ? (uint64_t)v : 0;
}

static bool
flag(json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

/* "512 B", "64 MiB", "1.5 GiB" */
static void
fmt_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	unsigned int u = 0;
	double v = (double)bytes;

	while (v >= 1024 && u + 1 < VHD_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0 || (bytes & ((1ull << (10 * u)) - 1)) == 0) {
		snprintf(buf, len, "%.0f %s", v, units[u]);
	} else {
		snprintf(buf, len, "%.1f %s", v, units[u]);
	}
}

struct table {
	unsigned int ncols;
	unsigned int nrows;
	char *cells[64][MAX_COLS];
	size_t width[MAX_COLS];
};

/* One table row; cells are separated by tabs in the formatted text. */
static void VHD_PRINTF(2, 3)
row(struct table *t, const char *fmt, ...)
{
	char line[4096];
	const char *cell = line;
	unsigned int c = 0;
	va_list ap;

	if (t->nrows == VHD_ARRAY_SIZE(t->cells)) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	while (c < MAX_COLS) {
		const char *tab = strchr(cell, '\t');
		size_t n = tab != NULL ? (size_t)(tab - cell) : strlen(cell);

		t->cells[t->nrows][c] = strndup(cell, n);
		t->width[c] = VHD_MAX(t->width[c], n);
		c++;
		if (tab == NULL) {
			break;
		}
		cell = tab + 1;
	}
	t->ncols = VHD_MAX(t->ncols, c);
	t->nrows++;
}

static void
print_table(struct table *t)
{
	for (unsigned int r = 0; r < t->nrows; r++) {
		for (unsigned int c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r][c] != NULL ? t->cells[r][c] : "";
			bool last = c + 1 == t->ncols;

			printf("%-*s%s", last ? 0 : (int)t->width[c], cell, last ? "\n" : "  ");
			free(t->cells[r][c]);
		}
	}
	t->nrows = 0;
}

/* ---- commands ---- */

static void
cmd_info(void)
{
	json_t *r = call("vhostd_get_info", NULL);

	if (g_json) {
		print_json(r);
	} else {
		printf("version:     %s\n", str(r, "version"));
		printf("instance:    %s\n", str(r, "instance"));
		printf("pid:         %" PRIu64 "\n", u64(r, "pid"));
		printf("config:      %s\n", str(r, "config"));
		printf("rpc socket:  %s\n", str(r, "rpc_socket"));
		printf("statistics:  %s\n", str(r, "telemetry"));
	}
	json_decref(r);
}

static void
bdev_list(const char *name)
{
	json_t *r = call("bdev_get_bdevs", name != NULL ? json_pack("{s:s}", "name", name) : NULL);
	struct table t = {0};
	size_t i;
	json_t *b;

	if (g_json) {
		print_json(r);
		json_decref(r);
		return;
	}
	row(&t, "NAME\tTYPE\tSIZE\tBLOCK\tUSED BY\tDETAILS");
	json_array_foreach(r, i, b) {
		json_t *v = json_object_get(b, "vhostd");
		json_t *aio = json_object_get(json_object_get(b, "driver_specific"), "aio");
		char size[32], details[PATH_MAX + 32];
		const char *user = str(v, "user");

		fmt_size(u64(b, "num_blocks") * u64(b, "block_size"), size, sizeof(size));
		snprintf(details, sizeof(details), "%s%s", aio != NULL ? str(aio, "filename") : "-",
			 aio != NULL && flag(aio, "readonly") ? " (read-only)" : "");
		row(&t, "%s\t%s\t%s" C64 "\t%s%s\t%s", str(b, "name"), str(v, "type"), size,
		    u64(b, "block_size"), user[0] != '\0' ? user : "-",
		    u64(v, "users") > 1 ? " +" : "", details);
	}
	print_table(&t);
	json_decref(r);
}

static uint32_t
parse_u32(const char *what, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v > UINT32_MAX) {
		die_usage("%s: '%s' is not a number", what, s);
	}
	return (uint32_t)v;
}

static uint64_t
parse_size(const char *s)
{
	uint64_t v;

	if (vhd_parse_size(s, &v) != 0 || v == 0) {
		die_usage("'%s' is not a size (bytes, or a number with K, M, G or T: 64MiB, "
			  "1G)", s);
	}
	return v;
}

/* Options after the positional arguments of a subcommand. */
struct sub_opts {
	uint32_t block_size;
	bool readonly;
	bool force;
	const char *cpumask;
	int num_queues;
	const char *serial;
};

static int
parse_sub_opts(int argc, char **argv, int first, struct sub_opts *o, const char *allowed)
{
	int i;

	for (i = first; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = strcmp(a, "--block-size") == 0 || strcmp(a, "--cpumask") == 0 ||
				 strcmp(a, "--num-queues") == 0 || strcmp(a, "--serial") == 0;

		if (a[0] != '-' || strstr(allowed, a) == NULL) {
			die_usage("unexpected argument '%s'", a);
		}
		if (has_value && i + 1 >= argc) {
			die_usage("%s needs a value", a);
		}
		if (strcmp(a, "--block-size") == 0) {
			o->block_size = parse_u32("--block-size", argv[++i]);
		} else if (strcmp(a, "--cpumask") == 0) {
			o->cpumask = argv[++i];
		} else if (strcmp(a, "--num-queues") == 0) {
			o->num_queues = (int)parse_u32("--num-queues", argv[++i]);
		} else if (strcmp(a, "--serial") == 0) {
			o->serial = argv[++i];
		} else if (strcmp(a, "--readonly") == 0) {
			o->readonly = true;
		} else if (strcmp(a, "--force") == 0) {
			o->force = true;
		}
	}
	return i;
}

static void
print_created(json_t *r, const char *what)
{
	if (g_json) {
		print_json(r);
	} else {
		printf("created %s '%s'\n", what, json_string_value(r));
	}
	json_decref(r);
}

static void
bdev_create_blocks(const char *method, const char *name, const char *size_arg,
		   const struct sub_opts *o)
{
	uint32_t bs = o->block_size != 0 ? o->block_size : 512;
	uint64_t size = parse_size(size_arg);

	if (size % bs != 0) {
		die_usage("%s is not a multiple of the block size %u", size_arg, bs);
	}
	print_created(call(method, json_pack("{s:s,s:I,s:i}", "name", name, "num_blocks",
					     (json_int_t)(size / bs), "block_size", (int)bs)),
		      "backend");
}

static void
bdev_delete(const char *name)
{
	json_t *r = call("bdev_get_bdevs", json_pack("{s:s}", "name", name));
	const char *type = str(json_object_get(json_array_get(r, 0), "vhostd"), "type");
	char method[64];

	snprintf(method, sizeof(method), "bdev_%s_delete", type);
	json_decref(r);
	r = call(method, json_pack("{s:s}", "name", name));
	if (g_json) {
		print_json(r);
	} else {
		printf("deleted backend '%s'\n", name);
	}
	json_decref(r);
}

static void
bdev_resize(const char *name, const char *size_arg)
{
	json_t *params = size_arg != NULL ?
				 json_pack("{s:s,s:I}", "name", name, "size",
					   (json_int_t)parse_size(size_arg)) :
				 json_pack("{s:s}", "name", name);
	json_t *r = call("vhostd_bdev_resize", params);
	char was[32], now[32];

	if (g_json) {
		print_json(r);
		json_decref(r);
		return;
	}
	fmt_size(u64(r, "old_size"), was, sizeof(was));
	fmt_size(u64(r, "new_size"), now, sizeof(now));
	if (u64(r, "old_size") == u64(r, "new_size")) {
		printf("%s: size unchanged (%s)\n", name, now);
	} else {
		printf("%s: %s -> %s (%" PRIu64 " connected front-end%s notified)\n", name, was,
		       now, u64(r, "notified"), u64(r, "notified") == 1 ? "" : "s");
	}
	if (u64(r, "notify_failed") > 0) {
		printf("%s: %" PRIu64 " front-end(s) could not be notified; their guests keep the "
		       "old size until they re-read it\n", name, u64(r, "notify_failed"));
	}
	json_decref(r);
}

static void
bdev_iostat(int argc, char **argv, int first)
{
	json_t *names = json_array(), *r, *b;
	struct table t = {0};
	size_t i;

	for (int a = first; a < argc; a++) {
		json_array_append_new(names, json_string(argv[a]));
	}
	r = call("bdev_get_iostat", json_array_size(names) > 0 ?
					    json_pack("{s:o}", "names", names) :
					    (json_decref(names), NULL));
	if (g_json) {
		print_json(r);
		json_decref(r);
		return;
	}
	row(&t, "NAME\tREADS\tWRITES\tREAD\tWRITTEN\tDISCARDS\tERRORS\tAVG READ\tAVG WRITE"
	    "\tIN FLIGHT");
	json_array_foreach(json_object_get(r, "bdevs"), i, b) {
		uint64_t nr = u64(b, "num_read_ops"), nw = u64(b, "num_write_ops");
		char rd[32], wr[32];

		fmt_size(u64(b, "bytes_read"), rd, sizeof(rd));
		fmt_size(u64(b, "bytes_written"), wr, sizeof(wr));
		row(&t, "%s" C64 C64 "\t%s\t%s" C64 C64 C64 " us" C64 " us" C64, str(b, "name"), nr,
		    nw, rd, wr, u64(b, "num_unmap_ops"),
		    u64(b, "io_error"), nr != 0 ? u64(b, "read_latency_ticks") / nr : 0,
		    nw != 0 ? u64(b, "write_latency_ticks") / nw : 0, u64(b, "queue_depth"));
	}
	print_table(&t);
	json_decref(r);
}

static void
ctrlr_list(const char *name)
{
	json_t *r = call("vhost_get_controllers",
			 name != NULL ? json_pack("{s:s}", "name", name) : NULL);
	struct table t = {0};
	size_t i;
	json_t *c;

	if (g_json) {
		print_json(r);
		json_decref(r);
		return;
	}
	row(&t, "NAME\tTYPE\tBACKEND\tCPU\tQUEUES\tGUEST\tSOCKET");
	json_array_foreach(r, i, c) {
		json_t *v = json_object_get(c, "vhostd");
		json_t *blk = json_object_get(json_object_get(c, "backend_specific"), "block");

		row(&t, "%s\t%s\t%s%s" C64 C64 "\t%s\t%s", str(c, "ctrlr"), str(v, "type"),
		    blk != NULL ? str(blk, "bdev") : "-",
		    blk != NULL && flag(blk, "readonly") ? " (ro)" : "", u64(v, "cpu"),
		    u64(v, "num_queues"), flag(v, "connected") ? "connected" : "-",
		    str(c, "socket"));
	}
	print_table(&t);
	json_decref(r);
}

static void
ctrlr_create_blk(const char *name, const char *bdev, const struct sub_opts *o)
{
	json_t *p = json_pack("{s:s,s:s,s:b}", "ctrlr", name, "dev_name", bdev, "readonly",
			      o->readonly);

	if (o->cpumask != NULL) {
		json_object_set_new(p, "cpumask", json_string(o->cpumask));
	}
	if (o->num_queues > 0) {
		json_object_set_new(p, "num_queues", json_integer(o->num_queues));
	}
	if (o->serial != NULL) {
		json_object_set_new(p, "serial", json_string(o->serial));
	}
	json_decref(call("vhost_create_blk_controller", p));
	if (g_json) {
		puts("true");
	} else {
		printf("created controller '%s' on backend '%s'\n", name, bdev);
	}
}

static void
ctrlr_delete(const char *name, bool force)
{
	json_t *r = force ? call("vhostd_delete_controller",
				 json_pack("{s:s,s:b}", "ctrlr", name, "force", true)) :
			    call("vhost_delete_controller", json_pack("{s:s}", "ctrlr", name));

	if (g_json) {
		print_json(r);
	} else {
		printf("deleted controller '%s'\n", name);
	}
	json_decref(r);
}

static void
stats_row(struct table *t, const char *name, json_t *io)
{
	uint64_t n = u64(io, "reads") + u64(io, "writes") + u64(io, "flushes") +
		     u64(io, "discards") + u64(io, "write_zeroes") + u64(io, "others");
	char rd[32], wr[32];

	fmt_size(u64(io, "read_bytes"), rd, sizeof(rd));
	fmt_size(u64(io, "write_bytes"), wr, sizeof(wr));
	row(t, "%s" C64 C64 C64 C64 "\t%s\t%s" C64 C64 C64 " us", name, u64(io, "reads"),
	    u64(io, "writes"), u64(io, "flushes"),
	    u64(io, "discards") + u64(io, "write_zeroes"), rd, wr, u64(io, "errors"),
	    u64(io, "in_flight"), n != 0 ? u64(io, "latency_us_sum") / n : 0);
}

static void
cmd_stats(const char *name)
{
	json_t *r = call("vhostd_get_stats",
			 name != NULL ? json_pack("{s:s}", "name", name) : NULL);
	struct table t = {0};
	size_t i, j;
	json_t *c, *q;

	if (g_json) {
		print_json(r);
		json_decref(r);
		return;
	}
	row(&t, "CONTROLLER/QUEUE\tREADS\tWRITES\tFLUSHES\tDISCARDS\tREAD\tWRITTEN\tERRORS"
	    "\tIN FLIGHT\tAVG LATENCY");
	json_array_foreach(json_object_get(r, "controllers"), i, c) {
		char label[128];

		snprintf(label, sizeof(label), "%s (%s%s)", str(c, "name"), str(c, "backend"),
			 flag(c, "connected") ? ", connected" : "");
		stats_row(&t, label, json_object_get(c, "total"));
		json_array_foreach(json_object_get(c, "queues"), j, q) {
			snprintf(label, sizeof(label), "  q%" PRIu64 "%s", u64(q, "index"),
				 flag(q, "started") ? "" : " (stopped)");
			stats_row(&t, label, json_object_get(q, "io"));
		}
	}
	print_table(&t);
	json_decref(r);
}

static void
cmd_reload(void)
{
	json_t *r = call("vhostd_reload", NULL), *it;
	bool ok = flag(r, "ok");
	size_t i;

	if (g_json) {
		print_json(r);
	} else {
		json_array_foreach(json_object_get(r, "items"), i, it) {
			if (strcmp(str(it, "action"), "unchanged") == 0) {
				continue;
			}
			printf("%s %s: %s\n", str(it, "kind"), str(it, "name"), str(it, "message"));
		}
		printf("reloaded%s\n", ok ? "" : " (some changes were refused; see above)");
	}
	json_decref(r);
	if (!ok) {
		exit(EXIT_FAILURE);
	}
}

static void
cmd_call(const char *method, const char *params_text)
{
	json_t *params = NULL, *r;

	if (params_text != NULL) {
		json_error_t jerr;

		params = json_loads(params_text, 0, &jerr);
		if (params == NULL || !json_is_object(params)) {
			die_usage("PARAMS must be a JSON object: %s", params == NULL ? jerr.text :
				  "not an object");
		}
	}
	r = call(method, params);
	print_json(r);
	json_decref(r);
}

static void
need(int argc, int min, const char *what)
{
	if (argc < min) {
		die_usage("%s: missing arguments", what);
	}
}

static void
cmd_bdev(int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "list";
	struct sub_opts o = {0};

	if (strcmp(sub, "list") == 0) {
		parse_sub_opts(argc, argv, argc > 1 ? 2 : 1, &o, "");
		bdev_list(argc > 1 ? argv[1] : NULL);
	} else if (strcmp(sub, "create-aio") == 0) {
		need(argc, 3, "bdev create-aio NAME FILE");
		parse_sub_opts(argc, argv, 3, &o, "--block-size --readonly");
		{
			json_t *p = json_pack("{s:s,s:s,s:b}", "name", argv[1], "filename", argv[2],
					      "readonly", o.readonly);
			char *abs = realpath(argv[2], NULL);

			if (abs != NULL) {
				json_object_set_new(p, "filename", json_string(abs));
				free(abs);
			}
			if (o.block_size != 0) {
				json_object_set_new(p, "block_size", json_integer(o.block_size));
			}
			print_created(call("bdev_aio_create", p), "backend");
		}
	} else if (strcmp(sub, "create-malloc") == 0 || strcmp(sub, "create-null") == 0) {
		need(argc, 3, "bdev create-malloc|create-null NAME SIZE");
		parse_sub_opts(argc, argv, 3, &o, "--block-size");
		bdev_create_blocks(strcmp(sub, "create-malloc") == 0 ? "bdev_malloc_create" :
								       "bdev_null_create",
				   argv[1], argv[2], &o);
	} else if (strcmp(sub, "delete") == 0) {
		need(argc, 2, "bdev delete NAME");
		parse_sub_opts(argc, argv, 2, &o, "");
		bdev_delete(argv[1]);
	} else if (strcmp(sub, "resize") == 0) {
		need(argc, 3, "bdev resize NAME SIZE");
		parse_sub_opts(argc, argv, 3, &o, "");
		bdev_resize(argv[1], argv[2]);
	} else if (strcmp(sub, "rescan") == 0) {
		need(argc, 2, "bdev rescan NAME");
		parse_sub_opts(argc, argv, 2, &o, "");
		bdev_resize(argv[1], NULL);
	} else if (strcmp(sub, "iostat") == 0) {
		bdev_iostat(argc, argv, 1);
	} else {
		die_usage("unknown command 'bdev %s'", sub);
	}
}

static void
cmd_ctrlr(int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "list";
	struct sub_opts o = {0};

	if (strcmp(sub, "list") == 0) {
		parse_sub_opts(argc, argv, argc > 1 ? 2 : 1, &o, "");
		ctrlr_list(argc > 1 ? argv[1] : NULL);
	} else if (strcmp(sub, "create-blk") == 0) {
		need(argc, 3, "ctrlr create-blk NAME BDEV");
		parse_sub_opts(argc, argv, 3, &o, "--cpumask --readonly --num-queues --serial");
		ctrlr_create_blk(argv[1], argv[2], &o);
	} else if (strcmp(sub, "delete") == 0) {
		need(argc, 2, "ctrlr delete NAME");
		parse_sub_opts(argc, argv, 2, &o, "--force");
		ctrlr_delete(argv[1], o.force);
	} else {
		die_usage("unknown command 'ctrlr %s'", sub);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd;
	int c;

	if (getenv("VHOSTCTL_SOCKET") != NULL) {
		g_socket = getenv("VHOSTCTL_SOCKET");
	}
	/* "+": options end at the command, whose own options come after it. */
	while ((c = getopt_long(argc, argv, "+s:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			g_socket = optarg;
			break;
		case 'j':
			g_json = true;
			break;
		case 't':
			g_timeout_ms = (int)parse_u32("--timeout", optarg) * 1000;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;
	if (strcmp(cmd, "info") == 0) {
		cmd_info();
	} else if (strcmp(cmd, "version") == 0) {
		json_t *r = call("spdk_get_version", NULL);

		if (g_json) {
			print_json(r);
		} else {
			puts(str(r, "version"));
		}
		json_decref(r);
	} else if (strcmp(cmd, "methods") == 0) {
		json_t *r = call("rpc_get_methods", NULL), *m;
		size_t i;

		if (g_json) {
			print_json(r);
		} else {
			json_array_foreach(r, i, m) {
				puts(json_string_value(m));
			}
		}
		json_decref(r);
	} else if (strcmp(cmd, "bdev") == 0) {
		cmd_bdev(argc, argv);
	} else if (strcmp(cmd, "ctrlr") == 0) {
		cmd_ctrlr(argc, argv);
	} else if (strcmp(cmd, "stats") == 0) {
		cmd_stats(argc > 0 ? argv[0] : NULL);
	} else if (strcmp(cmd, "reload") == 0) {
		cmd_reload();
	} else if (strcmp(cmd, "save-config") == 0) {
		json_t *r = call("save_config", NULL);

		print_json(r);
		json_decref(r);
	} else if (strcmp(cmd, "call") == 0) {
		if (argc < 1) {
			die_usage("call: missing METHOD");
		}
		cmd_call(argv[0], argc > 1 ? argv[1] : NULL);
	} else {
		die_usage("unknown command '%s'", cmd);
	}
	return EXIT_SUCCESS;
}
