/* SPDX-License-Identifier: BSD-3-Clause */
#include <criterion/criterion.h>

#include "bench_opts.h"

static uint64_t
size_ok(const char *s)
{
	uint64_t v = 0;

	cr_assert_eq(bench_parse_size(s, &v), 0, "%s", s);
	return v;
}

Test(bench_opts, sizes)
{
	cr_assert_eq(size_ok("0"), 0);
	cr_assert_eq(size_ok("4096"), 4096);
	cr_assert_eq(size_ok("512b"), 512);
	cr_assert_eq(size_ok("4k"), 4096);
	cr_assert_eq(size_ok("4K"), 4096);
	cr_assert_eq(size_ok("4KiB"), 4096);
	cr_assert_eq(size_ok("4kb"), 4096);
	cr_assert_eq(size_ok("1m"), 1048576);
	cr_assert_eq(size_ok("128MiB"), 128ull << 20);
	cr_assert_eq(size_ok("1g"), 1ull << 30);
	cr_assert_eq(size_ok("2T"), 2ull << 40);
	cr_assert_eq(size_ok("16383p"), 16383ull << 50);
}

Test(bench_opts, bad_sizes)
{
	uint64_t v;

	cr_assert_eq(bench_parse_size("", &v), -EINVAL);
	cr_assert_eq(bench_parse_size("k", &v), -EINVAL);
	cr_assert_eq(bench_parse_size("4x", &v), -EINVAL);
	cr_assert_eq(bench_parse_size("4kk", &v), -EINVAL);
	cr_assert_eq(bench_parse_size("4ki", &v), -EINVAL);
	cr_assert_eq(bench_parse_size("-1", &v), -EINVAL);
	cr_assert_eq(bench_parse_size(" 4k", &v), -EINVAL);
	cr_assert_eq(bench_parse_size("4 k", &v), -EINVAL);
	cr_assert_eq(bench_parse_size("1.5k", &v), -EINVAL);
	cr_assert_eq(bench_parse_size("99999999999999999999", &v), -ERANGE);
	cr_assert_eq(bench_parse_size("17179869184g", &v), -ERANGE);
	cr_assert_eq(bench_parse_size("16384p", &v), -ERANGE);
}

Test(bench_opts, times)
{
	uint64_t v;

	cr_assert_eq(bench_parse_time_ms("10", &v), 0);
	cr_assert_eq(v, 10000);
	cr_assert_eq(bench_parse_time_ms("10s", &v), 0);
	cr_assert_eq(v, 10000);
	cr_assert_eq(bench_parse_time_ms("500ms", &v), 0);
	cr_assert_eq(v, 500);
	cr_assert_eq(bench_parse_time_ms("250us", &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(bench_parse_time_ms("2m", &v), 0);
	cr_assert_eq(v, 120000);
	cr_assert_eq(bench_parse_time_ms("1h", &v), 0);
	cr_assert_eq(v, 3600000);
	cr_assert_eq(bench_parse_time_ms("5x", &v), -EINVAL);
	cr_assert_eq(bench_parse_time_ms("s", &v), -EINVAL);
	cr_assert_eq(bench_parse_uint("42", 1, 100, &v), 0);
	cr_assert_eq(v, 42);
	cr_assert_eq(bench_parse_uint("0", 1, 100, &v), -ERANGE);
	cr_assert_eq(bench_parse_uint("4k", 1, 10000, &v), -EINVAL);
}

#define PARSE(o, err, ...)                                                            \
	({                                                                            \
		char *argv_[] = { "vhost-bench", __VA_ARGS__, NULL };                 \
		bench_opts_parse((o), (int)VHD_ARRAY_SIZE(argv_) - 1, argv_, (err),   \
				 sizeof(err));                                        \
	})

Test(bench_opts, defaults_and_positional_socket)
{
	struct bench_opts o;
	char err[256] = "";

	cr_assert_eq(PARSE(&o, err, "/tmp/s.sock"), 0, "%s", err);
	cr_assert_str_eq(o.socket, "/tmp/s.sock");
	cr_assert_eq(o.rw, BENCH_RW_RANDREAD);
	cr_assert_eq(o.bs, 4096);
	cr_assert_eq(o.iodepth, 1);
	cr_assert_eq(o.queues, 1);
	cr_assert_eq(o.threads, 1);
	cr_assert_eq(o.runtime_ms, 10000);
	cr_assert_eq(o.timeout_ms, 5000);
	cr_assert_eq(o.io_timeout_ms, 10000);
	cr_assert_eq(o.mem, BENCH_MEM_MEMFD);
	cr_assert(!o.verify);
}

Test(bench_opts, full_job)
{
	struct bench_opts o;
	char err[256] = "";

	cr_assert_eq(PARSE(&o, err, "--socket", "/s", "--rw", "randrw", "--rwmixread", "70",
			   "--bs", "16k", "--iodepth", "32", "--queues", "4", "--threads", "2",
			   "--cpus", "0-1", "--ramp", "500ms", "--runtime", "3s", "--offset",
			   "1m", "--size=64m", "--queue-size", "256", "--wait-call",
			   "--event-idx", "--indirect", "--verify", "--verify-prefill",
			   "--verify-state", "/tmp/st", "--seed", "77", "--hugepages=/mnt/h",
			   "--timeout", "2", "--io-timeout", "30s", "--json", "-v"), 0, "%s", err);
	cr_assert_eq(o.rw, BENCH_RW_RANDRW);
	cr_assert_eq(o.rwmixread, 70);
	cr_assert_eq(o.bs, 16384);
	cr_assert_eq(o.iodepth, 32);
	cr_assert_eq(o.queues, 4);
	cr_assert_eq(o.threads, 2);
	cr_assert(o.have_cpus);
	cr_assert_eq(vhd_cpumask_count(&o.cpus), 2);
	cr_assert_eq(o.ramp_ms, 500);
	cr_assert_eq(o.runtime_ms, 3000);
	cr_assert_eq(o.offset, 1 << 20);
	cr_assert_eq(o.size, 64 << 20);
	cr_assert_eq(o.queue_size, 256);
	cr_assert(o.wait_call && o.event_idx && o.indirect && o.verify && o.verify_prefill);
	cr_assert_str_eq(o.verify_state, "/tmp/st");
	cr_assert(o.have_seed);
	cr_assert_eq(o.seed, 77);
	cr_assert_eq(o.mem, BENCH_MEM_HUGETLBFS);
	cr_assert_str_eq(o.hugetlbfs_dir, "/mnt/h");
	cr_assert_eq(o.timeout_ms, 2000);
	cr_assert_eq(o.io_timeout_ms, 30000);
	cr_assert(o.json && o.verbose);
}

Test(bench_opts, number_ios_and_threads_clamp)
{
	struct bench_opts o;
	char err[256] = "";

	cr_assert_eq(PARSE(&o, err, "-s", "/s", "--number-ios", "1000", "--queues", "2",
			   "--threads", "8", "--hugepages"), 0, "%s", err);
	cr_assert_eq(o.number_ios, 1000);
	cr_assert_eq(o.runtime_ms, 0);
	cr_assert_eq(o.threads, 2);
	cr_assert_eq(o.mem, BENCH_MEM_HUGE_MEMFD);
}

static void
rejected(int rc, const char *err, const char *needle)
{
	cr_assert_eq(rc, -EINVAL);
	cr_assert_not_null(strstr(err, needle), "'%s' lacks '%s'", err, needle);
}

Test(bench_opts, errors)
{
	struct bench_opts o;
	char err[256];

	rejected(PARSE(&o, err, "--rw", "read"), err, "no socket");
	rejected(PARSE(&o, err, "/s", "--rw", "sideways"), err, "--rw sideways");
	rejected(PARSE(&o, err, "/s", "--bs", "1000"), err, "multiple of 512");
	rejected(PARSE(&o, err, "/s", "--bs", "4q"), err, "--bs 4q");
	rejected(PARSE(&o, err, "/s", "--iodepth", "0"), err, "out of range");
	rejected(PARSE(&o, err, "/s", "--rwmixread", "101"), err, "out of range");
	rejected(PARSE(&o, err, "/s", "--queue-size", "100"), err, "power of two");
	rejected(PARSE(&o, err, "/s", "--runtime", "1", "--number-ios", "5"), err,
		 "exclude");
	rejected(PARSE(&o, err, "/s", "--verify-prefill"), err, "need --verify");
	rejected(PARSE(&o, err, "/s", "--verify", "--readback-only"), err, "--readback-only");
	rejected(PARSE(&o, err, "/s", "--cpus", "5-2"), err, "--cpus");
	rejected(PARSE(&o, err, "/s", "--frobnicate"), err, "unknown option");
	rejected(PARSE(&o, err, "/s", "--bs"), err, "needs a value");
	rejected(PARSE(&o, err, "/s", "/t"), err, "unexpected argument");
	rejected(PARSE(&o, err, "/s", "--runtime", "0"), err, "--runtime");
}

Test(bench_opts, help_and_version)
{
	struct bench_opts o;
	char err[64];

	cr_assert_eq(PARSE(&o, err, "-h"), BENCH_OPTS_HELP);
	cr_assert_eq(PARSE(&o, err, "--version"), BENCH_OPTS_VERSION);
}

Test(bench_opts, rw_helpers)
{
	cr_assert(bench_rw_random(BENCH_RW_RANDRW));
	cr_assert(!bench_rw_random(BENCH_RW_RW));
	cr_assert(bench_rw_writes(BENCH_RW_WRITE));
	cr_assert(!bench_rw_writes(BENCH_RW_RANDREAD));
	cr_assert(bench_rw_reads(BENCH_RW_RW));
	cr_assert(!bench_rw_reads(BENCH_RW_RANDWRITE));
	cr_assert_str_eq(bench_rw_name(BENCH_RW_RANDWRITE), "randwrite");
}
