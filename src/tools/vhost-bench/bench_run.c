/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Worker loop: submit, reap, check, time. See bench.h for the threading rules.
 */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* Failure lines printed at most (the counts are always complete). */
#define BENCH_REPORT_MAX 10

volatile int g_bench_stop;

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t
rng_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

static int
thread_fail(struct bench_thread *t, int rc, const char *fmt, ...) VHD_PRINTF(3, 4);

static int
thread_fail(struct bench_thread *t, int rc, const char *fmt, ...)
{
	va_list ap;

	if (t->rc == 0) {
		va_start(ap, fmt);
		vsnprintf(t->err, sizeof(t->err), fmt, ap);
		va_end(ap);
		t->rc = rc;
	}
	t->ctx->abort = 1;
	return rc;
}

static void
report_line(struct bench_ctx *ctx, const char *fmt, ...) VHD_PRINTF(2, 3);

/* Failure path only: serialise and rate-limit diagnostic lines. */
static void
report_line(struct bench_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ctx->report_lock);
	if (ctx->reported < BENCH_REPORT_MAX) {
		va_start(ap, fmt);
		fputs("vhost-bench: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	} else if (ctx->reported == BENCH_REPORT_MAX) {
		fputs("vhost-bench: (further failures counted, not printed)\n", stderr);
	}
	ctx->reported++;
	pthread_mutex_unlock(&ctx->report_lock);
}

static inline bool
busy_test(const struct bench_queue *q, uint64_t rel)
{
	return (q->busy[rel / 64] >> (rel % 64)) & 1;
}

static inline void
busy_flip(struct bench_queue *q, uint64_t rel)
{
	q->busy[rel / 64] ^= 1ull << (rel % 64);
}

/* Choose the block for the next request of q. \return false when none is available. */
static bool
pick_block(struct bench_queue *q, enum bench_phase_kind kind, bool random, uint64_t *block)
{
	const struct bench_ctx *ctx = q->ctx;
	bool verify = q->busy != NULL;
	uint64_t rel, i;

	if (kind != BENCH_PHASE_MAIN) {
		/* Sweep: every block of the slice once, in order. */
		while (q->cursor < q->count) {
			rel = q->cursor++;
			if (kind == BENCH_PHASE_READBACK) {
				uint32_t g = ctx->vmap.gen[q->first + rel];

				if (g == BENCH_GEN_NONE || g == BENCH_GEN_UNKNOWN) {
					continue;
				}
			}
			*block = q->first + rel;
			return true;
		}
		q->exhausted = true;
		return false;
	}
	if (random) {
		rel = rng_below(&q->rng, q->count);
	} else {
		rel = q->cursor;
		q->cursor = q->cursor + 1 == q->count ? 0 : q->cursor + 1;
	}
	if (verify) {
		/* Never two requests on one block at once: its content would be unknown. */
		for (i = 0; i < q->count && busy_test(q, rel); i++) {
			rel = rel + 1 == q->count ? 0 : rel + 1;
		}
		if (i == q->count) {
			return false;
		}
	}
	*block = q->first + rel;
	return true;
}

static enum bench_op
pick_op(struct bench_queue *q, enum bench_phase_kind kind)
{
	const struct bench_opts *o = q->ctx->o;

	switch (kind) {
	case BENCH_PHASE_PREFILL:
		return BENCH_OP_WRITE;
	case BENCH_PHASE_READBACK:
		return BENCH_OP_READ;
	case BENCH_PHASE_MAIN:
		break;
	}
	if (o->rw == BENCH_RW_RANDRW || o->rw == BENCH_RW_RW) {
		return rng_below(&q->rng, 100) < o->rwmixread ? BENCH_OP_READ : BENCH_OP_WRITE;
	}
	return bench_rw_writes(o->rw) ? BENCH_OP_WRITE : BENCH_OP_READ;
}

static inline uint64_t
block_sector(const struct bench_ctx *ctx, uint64_t block)
{
	return (ctx->o->offset + block * ctx->o->bs) / VIRTIO_BLK_SECTOR_SIZE;
}

/* \return 0 or -errno (the chain could not be rewritten for the other direction). */
static int
prepare(struct bench_queue *q, struct bench_io *io, enum bench_op op, uint64_t block)
{
	const struct bench_ctx *ctx = q->ctx;
	uint64_t sector = block_sector(ctx, block);

	io->op = (uint8_t)op;
	io->block = block;
	io->hdr->type = op == BENCH_OP_WRITE ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	io->hdr->ioprio = 0;
	io->hdr->sector = sector;
	*io->status = 0xff; /* not a valid status: catches a device that never writes it */
	if (op != io->chain_op) {
		int rc;

		for (unsigned int i = 1; i <= ctx->nseg; i++) {
			io->bufs[i].writable = op == BENCH_OP_READ;
		}
		rc = vub_vring_rewrite(&q->vq->vr, io->head, io->bufs, ctx->nseg + 2);
		if (rc != 0) {
			return rc;
		}
		io->chain_op = (uint8_t)op;
	}
	if (q->busy != NULL) {
		busy_flip(q, block - q->first);
		if (op == BENCH_OP_WRITE) {
			uint32_t units = ctx->o->bs / ctx->vunit;

			io->gen = q->next_gen++;
			if (q->next_gen == BENCH_GEN_UNKNOWN) {
				q->next_gen = 1;
			}
			for (uint32_t u = 0; u < units; u++) {
				bench_sig_fill(io->data + (size_t)u * ctx->vunit, ctx->vunit,
					       sector + (uint64_t)u * ctx->vunit / 512,
					       ctx->vmap.seed, io->gen);
			}
		}
	}
	return 0;
}

/*
 * Fill the free slots of q. counting: the request counts against --number-ios (not during
 * the ramp). \return requests submitted, or -errno.
 */
static int
submit(struct bench_thread *t, struct bench_queue *q, bool random, bool counting)
{
	const struct bench_ctx *ctx = q->ctx;
	enum bench_phase_kind kind = ctx->phase->kind;
	struct vub_vring *vr = &q->vq->vr;
	unsigned int n = 0;
	uint64_t block, ts;
	struct bench_io *io;
	int rc;

	while (q->nfree > 0 && !q->exhausted) {
		io = q->free[q->nfree - 1];
		if (!pick_block(q, kind, random, &block)) {
			break;
		}
		rc = prepare(q, io, pick_op(q, kind), block);
		if (rc == 0) {
			rc = vub_vring_requeue(vr, io->head, io);
		}
		if (rc < 0) {
			return thread_fail(t, rc, "queue %u: cannot add a request to the ring: %s",
					   q->index, strerror(-rc));
		}
		q->nfree--;
		q->batch[n++] = io;
		if (counting && ++q->submitted == q->quota) {
			q->exhausted = true;
		}
	}
	if (n == 0) {
		return 0;
	}
	ts = bench_now_ns();
	for (unsigned int i = 0; i < n; i++) {
		q->batch[i]->start_ns = ts;
	}
	if (vub_vring_publish(vr)) {
		rc = vub_blk_kick(q->vq);
		if (rc != 0) {
			return thread_fail(t, rc, "queue %u: kick: %s", q->index, strerror(-rc));
		}
		q->st.kicks++;
	}
	return (int)n;
}

static void
record_vfail(struct bench_queue *q, struct bench_io *io, uint64_t lba,
	     const struct bench_sig_report *rep)
{
	struct bench_ctx *ctx = q->ctx;
	char extra[64] = "";

	if (rep->first_bad_byte >= 0) {
		snprintf(extra, sizeof(extra), ", first bad byte at +%lld",
			 (long long)rep->first_bad_byte);
	}
	report_line(ctx, "VERIFY FAILED: queue %u lba %llu (byte offset %llu, block %llu): %s: "
		    "expected 0x%llx, found 0x%llx%s", q->index, (unsigned long long)lba,
		    (unsigned long long)lba * 512, (unsigned long long)io->block,
		    bench_sig_status_str(rep->status), (unsigned long long)rep->expected,
		    (unsigned long long)rep->found, extra);
	pthread_mutex_lock(&ctx->report_lock);
	if (!ctx->have_vfail) {
		ctx->have_vfail = true;
		ctx->vfail.queue = q->index;
		ctx->vfail.lba = lba;
		ctx->vfail.block = io->block;
		ctx->vfail.rep = *rep;
	}
	pthread_mutex_unlock(&ctx->report_lock);
}

static void
check_read(struct bench_queue *q, struct bench_io *io)
{
	struct bench_ctx *ctx = q->ctx;
	uint32_t gen = ctx->vmap.gen[io->block], units = ctx->o->bs / ctx->vunit;
	uint64_t sector = block_sector(ctx, io->block);
	struct bench_sig_report rep;

	if (gen == BENCH_GEN_NONE || gen == BENCH_GEN_UNKNOWN) {
		q->st.unverified += units;
		return;
	}
	for (uint32_t u = 0; u < units; u++) {
		uint64_t lba = sector + (uint64_t)u * ctx->vunit / 512;

		q->st.verified++;
		if (bench_sig_check(io->data + (size_t)u * ctx->vunit, ctx->vunit, lba,
				    ctx->vmap.seed, gen, &rep) != BENCH_SIG_OK) {
			q->st.verify_failures++;
			record_vfail(q, io, lba, &rep);
		}
	}
}

static void
complete(struct bench_queue *q, struct bench_io *io, uint32_t len, uint64_t now, bool rec)
{
	struct bench_ctx *ctx = q->ctx;
	uint8_t status = __atomic_load_n(io->status, __ATOMIC_RELAXED);
	uint32_t want_len = ctx->o->bs * (io->op == BENCH_OP_READ) + 1;
	bool verify = q->busy != NULL;

	if (status != VIRTIO_BLK_S_OK) {
		q->st.errors++;
		report_line(ctx, "I/O error: queue %u %s lba %llu: status %u%s", q->index,
			    io->op == BENCH_OP_READ ? "read" : "write",
			    (unsigned long long)block_sector(ctx, io->block), status,
			    status == 0xff ? " (status byte never written)" : "");
		if (verify && io->op == BENCH_OP_WRITE) {
			ctx->vmap.gen[io->block] = BENCH_GEN_UNKNOWN;
		}
	} else {
		if (len != want_len && q->st.bad_len++ == 0) {
			report_line(ctx, "warning: queue %u: used len %u for a %s of %u bytes, "
				    "expected %u (the bytes the device wrote); counted as bad_len",
				    q->index, len, io->op == BENCH_OP_READ ? "read" : "write",
				    ctx->o->bs, want_len);
		}
		if (verify) {
			if (io->op == BENCH_OP_WRITE) {
				ctx->vmap.gen[io->block] = io->gen;
			} else {
				check_read(q, io);
			}
		}
	}
	if (verify) {
		busy_flip(q, io->block - q->first);
	}
	if (rec) {
		bench_hist_add(&q->st.lat[io->op], now - io->start_ns);
		q->st.ios[io->op]++;
		q->st.bytes[io->op] += ctx->o->bs;
	}
	q->free[q->nfree++] = io;
}

/* Reap everything pending on q. \return completions, or -EPROTO. */
static int
reap(struct bench_thread *t, struct bench_queue *q, bool rec, uint64_t *last_ns)
{
	struct vub_vring *vr = &q->vq->vr;
	uint64_t now = 0;
	uint32_t len;
	void *cookie;
	int n = 0, rc;

	while ((rc = vub_vring_get_used(vr, &cookie, &len)) == 1) {
		if (now == 0) {
			now = bench_now_ns();
		}
		complete(q, cookie, len, now, rec);
		n++;
	}
	if (rc < 0) {
		return thread_fail(t, rc, "queue %u: back-end wrote a bad used entry: %s",
				   q->index, vr->err);
	}
	if (n > 0) {
		q->last_progress_ns = now;
		*last_ns = now;
	}
	return n;
}

static void
usage_now(struct timeval *u, struct timeval *s)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	*u = ru.ru_utime;
	*s = ru.ru_stime;
}

static void
tv_sub(struct timeval *a, const struct timeval *b)
{
	struct timeval r;

	timersub(a, b, &r);
	*a = r;
}

/* --wait-call: sleep until a call, the deadline or 100 ms. */
static void
wait_for_call(struct bench_thread *t, uint64_t now, uint64_t deadline)
{
	unsigned int n = 0;
	bool pending = false;
	uint64_t v;
	int ms;

	for (unsigned int i = 0; i < t->nq; i++) {
		struct bench_queue *q = t->qs[i];

		if (vub_vring_in_flight(&q->vq->vr) == 0) {
			continue;
		}
		pending |= vub_vring_enable_cb(&q->vq->vr);
		t->pfds[n].fd = q->vq->call_fd;
		t->pfds[n].events = POLLIN;
		n++;
	}
	if (!pending && n > 0) {
		ms = deadline > now ? (int)VHD_MIN((deadline - now + 999999) / 1000000, 100) : 0;
		if (poll(t->pfds, n, ms) > 0) {
			t->qs[0]->st.wakeups++;
		}
	}
	for (unsigned int i = 0; i < t->nq; i++) {
		struct bench_queue *q = t->qs[i];

		/* Clear the counter; EAGAIN when nothing was signalled. */
		if (read(q->vq->call_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
			thread_fail(t, -errno, "queue %u: read call eventfd: %s", q->index,
				    strerror(errno));
		}
		vub_vring_disable_cb(&q->vq->vr);
	}
}

static void
phase_begin(struct bench_thread *t)
{
	const struct bench_phase *ph = t->ctx->phase;

	for (unsigned int i = 0; i < t->nq; i++) {
		struct bench_queue *q = t->qs[i];
		uint64_t total = ph->number_ios, nq = t->ctx->o->queues;

		q->cursor = 0;
		q->submitted = 0;
		q->exhausted = false;
		q->quota = total == 0 ? 0 : total / nq + (q->index < total % nq);
		if (total != 0 && q->quota == 0) {
			q->exhausted = true;
		}
		q->last_progress_ns = t->ctx->t0;
		memset(&q->st, 0, sizeof(q->st));
		bench_hist_reset(&q->st.lat[0]);
		bench_hist_reset(&q->st.lat[1]);
		vub_vring_disable_cb(&q->vq->vr);
	}
}

/* End of ramp: forget performance figures; correctness counters keep counting. */
static void
reset_stats(struct bench_thread *t)
{
	for (unsigned int i = 0; i < t->nq; i++) {
		struct bench_stats *st = &t->qs[i]->st;

		bench_hist_reset(&st->lat[0]);
		bench_hist_reset(&st->lat[1]);
		memset(st->ios, 0, sizeof(st->ios));
		memset(st->bytes, 0, sizeof(st->bytes));
		st->kicks = 0;
		st->wakeups = 0;
	}
}

enum { REC_RAMP, REC_ON, REC_DONE };

static void
run(struct bench_thread *t)
{
	struct bench_ctx *ctx = t->ctx;
	const struct bench_phase *ph = ctx->phase;
	const struct bench_opts *o = ctx->o;
	bool random = ph->kind == BENCH_PHASE_MAIN && bench_rw_random(o->rw);
	uint64_t rec_start = ctx->t0 + ph->ramp_ns, io_timeout = o->io_timeout_ms * 1000000ull;
	uint64_t end = ph->runtime_ns != 0 ? rec_start + ph->runtime_ns : UINT64_MAX;
	uint64_t now, last_done = 0;
	struct timeval u0 = { 0 }, s0 = { 0 };
	bool submitting = true;
	int rec = REC_RAMP;
	unsigned int i;
	int rc;

	phase_begin(t);
	for (;;) {
		unsigned int in_flight = 0;
		bool progress = false, more = false;

		now = bench_now_ns();
		if (rec == REC_RAMP && now >= rec_start) {
			reset_stats(t);
			rec = REC_ON;
			t->win_start = now;
			usage_now(&u0, &s0);
		}
		if (submitting && (now >= end || g_bench_stop || ctx->abort)) {
			submitting = false;
			if (rec == REC_ON) {
				rec = REC_DONE;
				t->win_end = now;
				usage_now(&t->utime, &t->stime);
			}
		}
		for (i = 0; i < t->nq; i++) {
			struct bench_queue *q = t->qs[i];

			rc = reap(t, q, rec == REC_ON, &last_done);
			if (rc < 0) {
				return;
			}
			progress |= rc > 0;
			if (submitting) {
				rc = submit(t, q, random, rec == REC_ON);
				if (rc < 0) {
					return;
				}
				progress |= rc > 0;
				more |= !q->exhausted;
			}
			in_flight += vub_vring_in_flight(&q->vq->vr);
		}
		if (in_flight == 0 && (!submitting || !more)) {
			break;
		}
		if (progress) {
			continue;
		}
		for (i = 0; i < t->nq; i++) {
			struct bench_queue *q = t->qs[i];
			unsigned int f = vub_vring_in_flight(&q->vq->vr);

			if (f > 0 && now > q->last_progress_ns + io_timeout) {
				thread_fail(t, -ETIMEDOUT, "queue %u: no completion for %llu ms "
					    "with %u requests in flight", q->index,
					    (unsigned long long)o->io_timeout_ms, f);
				ctx->unclean = true;
				return;
			}
		}
		if (o->wait_call && in_flight > 0) {
			uint64_t deadline = submitting ? VHD_MIN(end, now + io_timeout) :
							now + io_timeout;

			if (rec == REC_RAMP) {
				deadline = VHD_MIN(deadline, rec_start);
			}
			wait_for_call(t, now, deadline);
		} else {
			__builtin_ia32_pause();
		}
	}
	if (rec == REC_ON) {
		/* Quota or sweep finished: the window closes at the last completion. */
		t->win_end = last_done != 0 ? last_done : bench_now_ns();
		usage_now(&t->utime, &t->stime);
		rec = REC_DONE;
	}
	if (rec == REC_DONE) {
		tv_sub(&t->utime, &u0);
		tv_sub(&t->stime, &s0);
	}
}

static void *
thread_main(void *arg)
{
	struct bench_thread *t = arg;
	cpu_set_t set;
	int rc;

	if (t->cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(t->cpu, &set);
		rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (rc != 0) {
			thread_fail(t, -rc, "cannot pin worker %u to CPU %d: %s", t->id, t->cpu,
				    strerror(rc));
			return NULL;
		}
	}
	run(t);
	return NULL;
}

int
bench_run_phase(struct bench_ctx *ctx, const struct bench_phase *ph)
{
	unsigned int n = ctx->o->threads, started = 0;
	int rc = 0;

	ctx->phase = ph;
	ctx->t0 = bench_now_ns();
	for (unsigned int i = 0; i < n; i++) {
		struct bench_thread *t = &ctx->threads[i];

		t->rc = 0;
		t->err[0] = '\0';
		t->win_start = 0;
		t->win_end = 0;
		memset(&t->utime, 0, sizeof(t->utime));
		memset(&t->stime, 0, sizeof(t->stime));
		rc = pthread_create(&t->tid, NULL, thread_main, t);
		if (rc != 0) {
			rc = -rc;
			ctx->abort = 1;
			break;
		}
		started++;
	}
	for (unsigned int i = 0; i < started; i++) {
		pthread_join(ctx->threads[i].tid, NULL);
	}
	if (rc != 0) {
		return rc;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (ctx->threads[i].rc != 0) {
			return ctx->threads[i].rc;
		}
	}
	return 0;
}

void
bench_collect(const struct bench_ctx *ctx, struct bench_stats *st)
{
	memset(st, 0, sizeof(*st));
	bench_hist_reset(&st->lat[0]);
	bench_hist_reset(&st->lat[1]);
	for (unsigned int i = 0; i < ctx->o->queues; i++) {
		const struct bench_stats *s = &ctx->queues[i].st;

		for (int op = 0; op < 2; op++) {
			bench_hist_merge(&st->lat[op], &s->lat[op]);
			st->ios[op] += s->ios[op];
			st->bytes[op] += s->bytes[op];
		}
		st->errors += s->errors;
		st->bad_len += s->bad_len;
		st->kicks += s->kicks;
		st->wakeups += s->wakeups;
		st->verified += s->verified;
		st->unverified += s->unverified;
		st->verify_failures += s->verify_failures;
	}
}
