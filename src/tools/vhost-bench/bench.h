/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-bench internals shared by the worker loop (bench_run.c) and the front matter /
 * reporting (bench_main.c).
 *
 * Threading: the device is set up by the main thread; then, per phase (prefill, workload,
 * read-back), --threads workers each own a fixed set of queues (queue q -> thread
 * q % threads) and are the only ones touching those rings, buffers, statistics and their
 * slice of the verify map. The main thread waits for them and only then merges results.
 * The data path of a worker makes no allocation, takes no lock and makes no system call
 * per request: one eventfd write per submission round that the device asks to be kicked,
 * and in --wait-call mode a poll()/read() when it would otherwise spin idle.
 */
#ifndef BENCH_H
#define BENCH_H

#include <poll.h>
#include <pthread.h>
#include <sys/time.h>

#include "bench_hist.h"
#include "bench_opts.h"
#include "bench_verify.h"
#include "vub_blk.h"

enum bench_op {
	BENCH_OP_READ = 0,
	BENCH_OP_WRITE = 1,
};

struct bench_stats {
	struct bench_hist lat[2]; /* ns, by bench_op */
	uint64_t ios[2];
	uint64_t bytes[2];
	uint64_t errors;          /* status other than VIRTIO_BLK_S_OK */
	uint64_t bad_len;         /* used len other than the writable bytes of the request */
	uint64_t kicks;
	uint64_t wakeups;         /* --wait-call sleeps that ended in a call */
	uint64_t verified;        /* units whose signature was checked */
	uint64_t unverified;      /* read units never written (not checkable) */
	uint64_t verify_failures; /* units that failed the check */
};

struct bench_queue;

struct bench_io {
	struct bench_queue *q;
	struct virtio_blk_outhdr *hdr;
	uint8_t *status;
	uint8_t *data;
	struct vhd_vring_desc *itable; /* --indirect */
	struct vub_buf *bufs;      /* header, data segments, status */
	uint64_t start_ns;
	uint64_t block;            /* index in the range */
	uint32_t gen;              /* verify: generation this write carries */
	uint16_t head;             /* its reserved chain (vub_vring_reserve) */
	uint8_t op;
	uint8_t chain_op;          /* the direction the chain's data buffers are written for */
};

enum bench_phase_kind {
	BENCH_PHASE_PREFILL,  /* write every block once, sequentially */
	BENCH_PHASE_MAIN,     /* the --rw workload */
	BENCH_PHASE_READBACK, /* read every written block once, sequentially, and check it */
};

struct bench_phase {
	enum bench_phase_kind kind;
	const char *name;
	uint64_t ramp_ns;
	uint64_t runtime_ns;  /* 0: until quota or sweep end */
	uint64_t number_ios;  /* total; 0: unlimited */
};

struct bench_ctx;

struct bench_queue {
	struct bench_ctx *ctx;
	struct vub_blk_queue *vq;
	unsigned int index;
	struct bench_io *ios;
	struct bench_io **free;
	unsigned int nfree;
	struct bench_io **batch;   /* submitted this round, to stamp */
	uint64_t first;            /* slice of the range: blocks [first, first + count) */
	uint64_t count;
	uint64_t cursor;
	uint64_t *busy;            /* verify: block in flight (bit per block of the slice) */
	uint64_t rng;
	uint32_t next_gen;
	uint64_t quota;            /* requests to submit this phase, 0 = unlimited */
	uint64_t submitted;
	bool exhausted;            /* quota reached or sweep finished */
	uint64_t last_progress_ns;
	struct bench_stats st;
};

struct bench_thread {
	struct bench_ctx *ctx;
	pthread_t tid;
	unsigned int id;
	int cpu;                   /* -1: not pinned */
	struct bench_queue **qs;
	unsigned int nq;
	struct pollfd *pfds;
	int rc;
	char err[320];
	uint64_t win_start;        /* measured window, ns (CLOCK_MONOTONIC) */
	uint64_t win_end;
	struct timeval utime;      /* CPU used inside the window */
	struct timeval stime;
};

/* One verify failure, as reported. */
struct bench_vfail {
	unsigned int queue;
	uint64_t lba;              /* sector of the failing unit */
	uint64_t block;
	struct bench_sig_report rep;
};

struct bench_ctx {
	const struct bench_opts *o;
	struct vub_blk dev;
	uint64_t nblocks;
	uint32_t vunit;
	unsigned int nseg;         /* data descriptors per request */
	uint32_t seg_len;
	uint16_t qsize;
	struct bench_vmap vmap;    /* verify only */
	struct bench_queue *queues;
	struct bench_thread *threads;
	const struct bench_phase *phase;
	uint64_t t0;
	volatile int abort;        /* a worker failed: everybody stops */
	pthread_mutex_t report_lock; /* failure path only */
	unsigned int reported;     /* failure lines printed */
	bool have_vfail;
	struct bench_vfail vfail;  /* first verify failure */
	bool unclean;              /* a phase ended with I/O still in flight */
};

extern volatile int g_bench_stop;

uint64_t bench_now_ns(void);

/* Run one phase on every thread and wait for them. \return 0 or the first worker error. */
int bench_run_phase(struct bench_ctx *ctx, const struct bench_phase *ph);

/* Sum of the queues' statistics. */
void bench_collect(const struct bench_ctx *ctx, struct bench_stats *st);

#endif /* BENCH_H */
