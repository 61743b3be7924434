/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <strings.h>

#include "bench_opts.h"

static const char *const g_rw_names[] = {
	[BENCH_RW_RANDREAD] = "randread",
	[BENCH_RW_RANDWRITE] = "randwrite",
	[BENCH_RW_READ] = "read",
	[BENCH_RW_WRITE] = "write",
	[BENCH_RW_RANDRW] = "randrw",
	[BENCH_RW_RW] = "rw",
};

const char *
bench_rw_name(enum bench_rw rw)
{
	return (size_t)rw < VHD_ARRAY_SIZE(g_rw_names) ? g_rw_names[rw] : "?";
}

bool
bench_rw_random(enum bench_rw rw)
{
	return rw == BENCH_RW_RANDREAD || rw == BENCH_RW_RANDWRITE || rw == BENCH_RW_RANDRW;
}

bool
bench_rw_writes(enum bench_rw rw)
{
	return rw != BENCH_RW_RANDREAD && rw != BENCH_RW_READ;
}

bool
bench_rw_reads(enum bench_rw rw)
{
	return rw != BENCH_RW_RANDWRITE && rw != BENCH_RW_WRITE;
}

/* Parse leading decimal digits; *end is set past them. */
static int
parse_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;

	if (!isdigit((unsigned char)*s)) {
		return -EINVAL;
	}
	while (isdigit((unsigned char)*s)) {
		unsigned int d = (unsigned int)(*s - '0');

		if (n > (UINT64_MAX - d) / 10) {
			return -ERANGE;
		}
		n = n * 10 + d;
		s++;
	}
	*v = n;
	*end = s;
	return 0;
}

int
bench_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;
	int rc;

	rc = parse_digits(s, &v, &end);
	if (rc != 0) {
		return rc;
	}
	if (*end != '\0') {
		return -EINVAL;
	}
	if (v < min || v > max) {
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int
bench_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmgtp";
	const char *end, *u;
	unsigned int shift = 0;
	uint64_t v;
	int rc;

	rc = parse_digits(s, &v, &end);
	if (rc != 0) {
		return rc;
	}
	if (*end != '\0') {
		u = strchr(units, tolower((unsigned char)*end));
		if (u == NULL) {
			if (strcasecmp(end, "b") == 0) {
				*out = v;
				return 0;
			}
			return -EINVAL;
		}
		shift = 10u * (unsigned int)(u - units + 1);
		end++;
		/* Accept k, kb, kib (any case). */
		if (*end == 'i' || *end == 'I') {
			end++;
			if (*end != 'b' && *end != 'B') {
				return -EINVAL;
			}
		}
		if (*end == 'b' || *end == 'B') {
			end++;
		}
		if (*end != '\0') {
			return -EINVAL;
		}
	}
	if (shift > 0 && v > (UINT64_MAX >> shift)) {
		return -ERANGE;
	}
	*out = v << shift;
	return 0;
}

int
bench_parse_time_ms(const char *s, uint64_t *out)
{
	static const struct {
		const char *name;
		uint64_t num; /* ms = v * num / den, rounded up */
		uint64_t den;
	} units[] = {
		{ "", 1000, 1 }, { "s", 1000, 1 }, { "ms", 1, 1 }, { "us", 1, 1000 },
		{ "m", 60000, 1 }, { "min", 60000, 1 }, { "h", 3600000, 1 },
	};
	const char *end;
	uint64_t v;
	int rc;

	rc = parse_digits(s, &v, &end);
	if (rc != 0) {
		return rc;
	}
	for (size_t i = 0; i < VHD_ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].name) != 0) {
			continue;
		}
		if (v > UINT64_MAX / units[i].num) {
			return -ERANGE;
		}
		*out = (v * units[i].num + units[i].den - 1) / units[i].den;
		return 0;
	}
	return -EINVAL;
}

enum {
	OPT_RW = 256,
	OPT_RWMIX,
	OPT_BS,
	OPT_IODEPTH,
	OPT_QUEUES,
	OPT_THREADS,
	OPT_CPUS,
	OPT_RUNTIME,
	OPT_RAMP,
	OPT_NUMBER_IOS,
	OPT_OFFSET,
	OPT_SIZE,
	OPT_QUEUE_SIZE,
	OPT_WAIT_CALL,
	OPT_EVENT_IDX,
	OPT_INDIRECT,
	OPT_INFLIGHT,
	OPT_VERIFY,
	OPT_VERIFY_PREFILL,
	OPT_VERIFY_STATE,
	OPT_READBACK_ONLY,
	OPT_NO_READBACK,
	OPT_SEED,
	OPT_HUGEPAGES,
	OPT_TIMEOUT,
	OPT_IO_TIMEOUT,
	OPT_JSON,
	OPT_VERSION,
};

static const struct option g_long_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "rw", required_argument, NULL, OPT_RW },
	{ "rwmixread", required_argument, NULL, OPT_RWMIX },
	{ "bs", required_argument, NULL, OPT_BS },
	{ "iodepth", required_argument, NULL, OPT_IODEPTH },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "runtime", required_argument, NULL, OPT_RUNTIME },
	{ "ramp", required_argument, NULL, OPT_RAMP },
	{ "number-ios", required_argument, NULL, OPT_NUMBER_IOS },
	{ "offset", required_argument, NULL, OPT_OFFSET },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "queue-size", required_argument, NULL, OPT_QUEUE_SIZE },
	{ "wait-call", no_argument, NULL, OPT_WAIT_CALL },
	{ "event-idx", no_argument, NULL, OPT_EVENT_IDX },
	{ "indirect", no_argument, NULL, OPT_INDIRECT },
	{ "inflight", no_argument, NULL, OPT_INFLIGHT },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "verify-prefill", no_argument, NULL, OPT_VERIFY_PREFILL },
	{ "verify-state", required_argument, NULL, OPT_VERIFY_STATE },
	{ "readback-only", no_argument, NULL, OPT_READBACK_ONLY },
	{ "no-readback", no_argument, NULL, OPT_NO_READBACK },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "hugepages", optional_argument, NULL, OPT_HUGEPAGES },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "io-timeout", required_argument, NULL, OPT_IO_TIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void
bench_opts_usage(FILE *f, const char *prog)
{
	fprintf(f,
"Usage: %s [options] --socket PATH   (or: %s [options] PATH)\n"
"vhost-user-blk front-end load generator and data verifier (plays QEMU's part).\n"
"\n"
"Target:\n"
"  -s, --socket PATH      vhost-user-blk back-end UNIX socket\n"
"      --timeout T        deadline for each control message and for connecting [5s]\n"
"      --io-timeout T     fail when nothing completes for T with I/O in flight [10s]\n"
"Workload:\n"
"      --rw MODE          randread|randwrite|read|write|randrw|rw [randread]\n"
"      --rwmixread N      percent reads for randrw/rw [50]\n"
"      --bs SIZE          I/O size, multiple of 512 and of the device block size [4k]\n"
"      --iodepth N        requests in flight per queue [1]\n"
"      --queues N         virtqueues to drive [1]\n"
"      --threads N        worker threads; queue q is polled by thread q %% N [= queues]\n"
"      --cpus LIST        pin worker i to the i-th CPU of LIST (\"0-3,8\" or 0xf)\n"
"      --runtime T        measured run time, e.g. 10, 10s, 500ms, 2m [10s]\n"
"      --ramp T           run T before measuring starts [0]\n"
"      --number-ios N     stop after N I/Os in total (split over queues) instead\n"
"      --offset SIZE      start of the range used [0]\n"
"      --size SIZE        length of the range [to the end of the device]\n"
"                         (each queue works on its own 1/queues slice of the range)\n"
"Virtqueues:\n"
"      --queue-size N     ring entries, power of two [smallest >= 128 that fits]\n"
"      --wait-call        sleep on the call eventfd instead of polling the used ring\n"
"      --event-idx        negotiate VIRTIO_RING_F_EVENT_IDX when offered\n"
"      --indirect         put each request in an indirect descriptor table\n"
"      --inflight         negotiate INFLIGHT_SHMFD when offered (GET/SET_INFLIGHT_FD)\n"
"      --hugepages[=DIR]  shared memory from huge pages: memfd MFD_HUGETLB, or a file\n"
"                         in the hugetlbfs mount DIR [memfd, 4 KiB pages]\n"
"Verification:\n"
"      --verify           sign every written block (LBA, seed, generation, crc32c) and\n"
"                         check every read of a block written in this run; after a\n"
"                         workload with writes, read back every written block\n"
"      --verify-prefill   write the whole range first so every read is checked\n"
"      --verify-state F   load the block generations from F if it exists, save them\n"
"                         to F at the end (verify across runs and daemon restarts)\n"
"      --readback-only    skip the workload: only read back and check (with\n"
"                         --verify-state or --verify-prefill)\n"
"      --no-readback      skip the read-back pass after the workload\n"
"      --seed N           signature seed (default: random; from F with --verify-state)\n"
"Output:\n"
"      --json             print the results as one JSON object\n"
"  -v, --verbose          print the negotiation to stderr\n"
"  -h, --help             this text\n"
"      --version          print the version\n"
"\n"
"Sizes take k/m/g/t suffixes (binary: 4k = 4096). Exit status: 0 success, 1 I/O error,\n"
"verify mismatch, timeout or protocol violation by the back-end, 2 usage error.\n",
		prog, prog);
}

static int
opt_fail(char *err, size_t len, const char *fmt, ...) VHD_PRINTF(3, 4);

static int
opt_fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void
defaults(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->rw = BENCH_RW_RANDREAD;
	o->rwmixread = 50;
	o->bs = 4096;
	o->iodepth = 1;
	o->queues = 1;
	o->timeout_ms = 5000;
	o->io_timeout_ms = 10000;
}

static int
parse_rw(const char *s, enum bench_rw *rw)
{
	for (size_t i = 0; i < VHD_ARRAY_SIZE(g_rw_names); i++) {
		if (strcmp(s, g_rw_names[i]) == 0) {
			*rw = (enum bench_rw)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Cross-option checks. */
static int
validate(struct bench_opts *o, bool runtime_set, char *err, size_t len)
{
	if (o->socket == NULL) {
		return opt_fail(err, len, "no socket given (--socket PATH)");
	}
	if (o->bs < 512 || o->bs % 512 != 0) {
		return opt_fail(err, len, "--bs %u is not a non-zero multiple of 512", o->bs);
	}
	if (o->offset % 512 != 0 || o->size % 512 != 0) {
		return opt_fail(err, len, "--offset and --size must be multiples of 512");
	}
	if (o->queue_size != 0 && (o->queue_size & (o->queue_size - 1)) != 0) {
		return opt_fail(err, len, "--queue-size %u is not a power of two", o->queue_size);
	}
	if (o->threads == 0 || o->threads > o->queues) {
		o->threads = o->queues;
	}
	if (o->number_ios != 0 && runtime_set) {
		return opt_fail(err, len, "--runtime and --number-ios exclude each other");
	}
	if (o->number_ios == 0 && !runtime_set) {
		o->runtime_ms = 10000;
	}
	if (o->number_ios == 0 && o->runtime_ms == 0 && !o->readback_only) {
		return opt_fail(err, len, "--runtime must be > 0");
	}
	if ((o->verify_prefill || o->verify_state != NULL || o->readback_only ||
	     o->no_readback) && !o->verify) {
		return opt_fail(err, len, "--verify-prefill, --verify-state, --readback-only and "
				"--no-readback need --verify");
	}
	if (o->readback_only && o->no_readback) {
		return opt_fail(err, len, "--readback-only and --no-readback exclude each other");
	}
	if (o->readback_only && o->verify_state == NULL && !o->verify_prefill) {
		return opt_fail(err, len, "--readback-only needs --verify-state or "
				"--verify-prefill (nothing to read back otherwise)");
	}
	if (o->timeout_ms == 0 || o->timeout_ms > INT32_MAX || o->io_timeout_ms == 0 ||
	    o->io_timeout_ms > INT32_MAX) {
		return opt_fail(err, len, "timeouts must be > 0 and < 24 days");
	}
	return 0;
}

int
bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t err_len)
{
	bool runtime_set = false;
	char cpuerr[128];
	int c, rc, li = -1;
	uint64_t v;

	defaults(o);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:vh", g_long_opts, &li)) != -1) {
		const char *name = li >= 0 ? g_long_opts[li].name : "s";

		li = -1;
		rc = 0;
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case OPT_RW:
			if (parse_rw(optarg, &o->rw) != 0) {
				return opt_fail(err, err_len, "--rw %s: expected randread, "
						"randwrite, read, write, randrw or rw", optarg);
			}
			break;
		case OPT_RWMIX:
			rc = bench_parse_uint(optarg, 0, 100, &v);
			o->rwmixread = (unsigned int)v;
			break;
		case OPT_BS:
			rc = bench_parse_size(optarg, &v);
			if (rc == 0 && (v == 0 || v > (64u << 20))) {
				rc = -ERANGE;
			}
			o->bs = (uint32_t)v;
			break;
		case OPT_IODEPTH:
			rc = bench_parse_uint(optarg, 1, VHD_VRING_MAX_SIZE, &v);
			o->iodepth = (unsigned int)v;
			break;
		case OPT_QUEUES:
			rc = bench_parse_uint(optarg, 1, 256, &v);
			o->queues = (unsigned int)v;
			break;
		case OPT_THREADS:
			rc = bench_parse_uint(optarg, 1, 256, &v);
			o->threads = (unsigned int)v;
			break;
		case OPT_CPUS:
			if (vhd_cpumask_parse(&o->cpus, optarg, cpuerr, sizeof(cpuerr)) != 0) {
				return opt_fail(err, err_len, "--cpus: %s", cpuerr);
			}
			o->have_cpus = true;
			break;
		case OPT_RUNTIME:
			rc = bench_parse_time_ms(optarg, &o->runtime_ms);
			runtime_set = true;
			break;
		case OPT_RAMP:
			rc = bench_parse_time_ms(optarg, &o->ramp_ms);
			break;
		case OPT_NUMBER_IOS:
			rc = bench_parse_uint(optarg, 1, UINT64_MAX, &o->number_ios);
			break;
		case OPT_OFFSET:
			rc = bench_parse_size(optarg, &o->offset);
			break;
		case OPT_SIZE:
			rc = bench_parse_size(optarg, &o->size);
			break;
		case OPT_QUEUE_SIZE:
			rc = bench_parse_uint(optarg, 1, VHD_VRING_MAX_SIZE, &v);
			o->queue_size = (unsigned int)v;
			break;
		case OPT_WAIT_CALL:
			o->wait_call = true;
			break;
		case OPT_EVENT_IDX:
			o->event_idx = true;
			break;
		case OPT_INDIRECT:
			o->indirect = true;
			break;
		case OPT_INFLIGHT:
			o->inflight = true;
			break;
		case OPT_VERIFY:
			o->verify = true;
			break;
		case OPT_VERIFY_PREFILL:
			o->verify_prefill = true;
			break;
		case OPT_VERIFY_STATE:
			o->verify_state = optarg;
			break;
		case OPT_READBACK_ONLY:
			o->readback_only = true;
			break;
		case OPT_NO_READBACK:
			o->no_readback = true;
			break;
		case OPT_SEED:
			rc = bench_parse_uint(optarg, 0, UINT64_MAX, &o->seed);
			o->have_seed = true;
			break;
		case OPT_HUGEPAGES:
			o->mem = optarg != NULL ? BENCH_MEM_HUGETLBFS : BENCH_MEM_HUGE_MEMFD;
			o->hugetlbfs_dir = optarg;
			break;
		case OPT_TIMEOUT:
			rc = bench_parse_time_ms(optarg, &o->timeout_ms);
			break;
		case OPT_IO_TIMEOUT:
			rc = bench_parse_time_ms(optarg, &o->io_timeout_ms);
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			return BENCH_OPTS_HELP;
		case OPT_VERSION:
			return BENCH_OPTS_VERSION;
		case ':':
			return opt_fail(err, err_len, "option %s needs a value", argv[optind - 1]);
		default:
			return opt_fail(err, err_len, "unknown option %s", argv[optind - 1]);
		}
		if (rc != 0) {
			return opt_fail(err, err_len, "--%s %s: %s", name, optarg,
					rc == -ERANGE ? "out of range" : "invalid value");
		}
	}
	if (optind < argc) {
		if (o->socket != NULL || optind + 1 < argc) {
			return opt_fail(err, err_len, "unexpected argument %s", argv[optind]);
		}
		o->socket = argv[optind];
	}
	return validate(o, runtime_set, err, err_len);
}
