/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-bench command line: parsing and validation that needs no device (checks against
 * the device's geometry happen after GET_CONFIG). Pure C, unit-tested.
 */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

#include <stdio.h>

#include "vhostd/cpumask.h"
#include "vhostd/virtio_spec.h"

enum bench_rw {
	BENCH_RW_RANDREAD,
	BENCH_RW_RANDWRITE,
	BENCH_RW_READ,
	BENCH_RW_WRITE,
	BENCH_RW_RANDRW,
	BENCH_RW_RW,
};

enum bench_mem {
	BENCH_MEM_MEMFD,
	BENCH_MEM_HUGE_MEMFD,
	BENCH_MEM_HUGETLBFS,
};

struct bench_opts {
	const char *socket;
	enum bench_rw rw;
	unsigned int rwmixread;   /* percent reads for randrw/rw */
	uint32_t bs;
	unsigned int iodepth;     /* per queue */
	unsigned int queues;
	unsigned int threads;     /* 0: one per queue */
	bool have_cpus;
	struct vhd_cpumask cpus;
	uint64_t runtime_ms;      /* 0 with number_ios */
	uint64_t ramp_ms;
	uint64_t number_ios;      /* total over all queues; 0: run for runtime_ms */
	uint64_t offset;
	uint64_t size;            /* 0: to the end of the device */
	unsigned int queue_size;  /* 0: smallest power of two that fits iodepth (>= 128) */
	bool wait_call;
	bool event_idx;
	bool indirect;
	bool inflight;
	bool verify;
	bool verify_prefill;
	bool readback_only;
	bool no_readback;
	const char *verify_state;
	bool have_seed;
	uint64_t seed;
	enum bench_mem mem;
	const char *hugetlbfs_dir;
	uint64_t timeout_ms;      /* control messages */
	uint64_t io_timeout_ms;   /* no completion for this long with I/O in flight: fail */
	bool json;
	bool verbose;
};

/* What the caller should do after parsing. */
enum bench_opts_result {
	BENCH_OPTS_RUN = 0,
	BENCH_OPTS_HELP = 1,    /* -h printed nothing yet: print bench_opts_usage() */
	BENCH_OPTS_VERSION = 2,
};

/*
 * Parse argv (getopt_long; resets optind). \return a bench_opts_result, or -EINVAL with a
 * one-line reason in err.
 */
int bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t err_len);

void bench_opts_usage(FILE *f, const char *prog);

/*
 * "4096", "4k", "4K", "4KiB", "4kb", "1m", "128MiB", "1g", "2t" (binary multiples).
 * \return 0, -EINVAL (syntax) or -ERANGE (overflow).
 */
int bench_parse_size(const char *s, uint64_t *out);

/* "10" (seconds), "10s", "500ms", "250us", "2m", "1h" -> milliseconds (us rounds up). */
int bench_parse_time_ms(const char *s, uint64_t *out);

/* Plain unsigned decimal within [min, max]. */
int bench_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

const char *bench_rw_name(enum bench_rw rw);
bool bench_rw_random(enum bench_rw rw);
bool bench_rw_writes(enum bench_rw rw);
bool bench_rw_reads(enum bench_rw rw);

#endif /* BENCH_OPTS_H */
