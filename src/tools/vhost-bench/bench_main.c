/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-bench: set up the device from the options, run the phases, report.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "bench.h"

#define EXIT_USAGE 2

struct phase_result {
	bool ran;
	int rc;
	double elapsed_s;
	double user_s;
	double sys_s;
	struct bench_stats st;
};

static void
on_signal(int sig)
{
	(void)sig;
	g_bench_stop = 1;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static uint64_t
round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint64_t
random_u64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		v = bench_now_ns() ^ ((uint64_t)getpid() << 32);
	}
	return v;
}

/* Check the job against the device and derive ring and segment geometry. */
static int
plan(struct bench_ctx *ctx, char *err, size_t len)
{
	const struct bench_opts *o = ctx->o;
	struct vub_blk *d = &ctx->dev;
	uint64_t cap = vub_blk_capacity(d), size = o->size, need, qsize;
	uint32_t blk = 512, size_max = 0, seg_max = 0;

	if (!d->has_config && size == 0) {
		snprintf(err, len, "the back-end has no config space (PROTOCOL_F_CONFIG): "
			 "give --size");
		return -EINVAL;
	}
	if (d->has_config) {
		if (o->offset >= cap) {
			snprintf(err, len, "--offset %llu is beyond the device's %llu bytes",
				 (unsigned long long)o->offset, (unsigned long long)cap);
			return -EINVAL;
		}
		if (size == 0) {
			size = cap - o->offset;
		}
		if (size > cap - o->offset) {
			snprintf(err, len, "--offset %llu + --size %llu exceeds the device's %llu "
				 "bytes", (unsigned long long)o->offset, (unsigned long long)size,
				 (unsigned long long)cap);
			return -EINVAL;
		}
	}
	if (vub_blk_offers(d, VIRTIO_BLK_F_BLK_SIZE)) {
		blk = d->cfg.blk_size;
	}
	if (o->bs % blk != 0 || o->offset % blk != 0) {
		snprintf(err, len, "--bs %u and --offset %llu must be multiples of the device "
			 "block size %u", o->bs, (unsigned long long)o->offset, blk);
		return -EINVAL;
	}
	if (vub_blk_offers(d, VIRTIO_BLK_F_RO) &&
	    (bench_rw_writes(o->rw) || o->verify_prefill) && !o->readback_only) {
		snprintf(err, len, "the device is read-only (VIRTIO_BLK_F_RO) and the job writes");
		return -EROFS;
	}
	if (o->queues > d->max_queues) {
		snprintf(err, len, "--queues %u: the device supports %u", o->queues, d->max_queues);
		return -EINVAL;
	}
	ctx->nblocks = size / o->bs;
	if (ctx->nblocks < o->queues) {
		snprintf(err, len, "the range (%llu bytes) holds fewer --bs blocks than queues",
			 (unsigned long long)size);
		return -EINVAL;
	}
	if (vub_blk_offers(d, VIRTIO_BLK_F_SIZE_MAX)) {
		size_max = d->cfg.size_max;
	}
	if (vub_blk_offers(d, VIRTIO_BLK_F_SEG_MAX)) {
		seg_max = d->cfg.seg_max;
	}
	ctx->seg_len = size_max != 0 ? VHD_MIN(size_max, o->bs) : o->bs;
	ctx->seg_len = ctx->seg_len / 512 * 512;
	if (ctx->seg_len == 0) {
		ctx->seg_len = VHD_MIN(size_max, o->bs);
	}
	ctx->nseg = (unsigned int)((o->bs + ctx->seg_len - 1) / ctx->seg_len);
	if (seg_max != 0 && ctx->nseg > seg_max) {
		snprintf(err, len, "--bs %u needs %u segments of size_max %u; seg_max is %u", o->bs,
			 ctx->nseg, size_max, seg_max);
		return -EINVAL;
	}
	if (o->indirect && !vub_blk_offers(d, VIRTIO_RING_F_INDIRECT_DESC)) {
		snprintf(err, len, "--indirect: the back-end does not offer INDIRECT_DESC");
		return -ENOTSUP;
	}
	need = (uint64_t)o->iodepth * (o->indirect ? 1 : ctx->nseg + 2);
	if (o->queue_size != 0) {
		qsize = o->queue_size;
	} else {
		for (qsize = 128; qsize < need && qsize < VHD_VRING_MAX_SIZE; qsize <<= 1) {
		}
	}
	if (need > qsize) {
		snprintf(err, len, "--iodepth %u needs %llu descriptors per queue; the queue size "
			 "is %llu", o->iodepth, (unsigned long long)need,
			 (unsigned long long)qsize);
		return -EINVAL;
	}
	ctx->qsize = (uint16_t)qsize;
	ctx->vunit = bench_verify_unit(o->bs);
	ctx->vmap.size = size;
	return 0;
}

static uint64_t
small_bytes(const struct bench_ctx *ctx)
{
	/* header (16), status (1, padded to 16), indirect table */
	return round_up(32 + (ctx->o->indirect ? (ctx->nseg + 2) * 16ull : 0), 64);
}

static uint64_t
buffer_bytes(const struct bench_ctx *ctx)
{
	const struct bench_opts *o = ctx->o;
	uint64_t per_queue = o->iodepth * (small_bytes(ctx) + round_up(o->bs, 4096)) + 4096;

	return per_queue * o->queues + 4096;
}

static int
setup_queue(struct bench_ctx *ctx, struct bench_queue *q, unsigned int idx)
{
	const struct bench_opts *o = ctx->o;
	struct vub_mem *m = &ctx->dev.mem;
	unsigned int nbufs = ctx->nseg + 2;
	uint8_t *small;
	int rc;

	q->ctx = ctx;
	q->index = idx;
	q->vq = &ctx->dev.q[idx];
	q->first = ctx->nblocks * idx / o->queues;
	q->count = ctx->nblocks * (idx + 1) / o->queues - q->first;
	q->rng = random_u64() ^ idx;
	q->ios = calloc(o->iodepth, sizeof(*q->ios));
	q->free = calloc(o->iodepth, sizeof(*q->free));
	q->batch = calloc(o->iodepth, sizeof(*q->batch));
	if (q->ios == NULL || q->free == NULL || q->batch == NULL) {
		return -ENOMEM;
	}
	if (o->verify) {
		q->busy = calloc((q->count + 63) / 64, sizeof(uint64_t));
		if (q->busy == NULL) {
			return -ENOMEM;
		}
	}
	for (unsigned int i = 0; i < o->iodepth; i++) {
		struct bench_io *io = &q->ios[i];

		small = vub_mem_alloc(m, small_bytes(ctx), 64);
		io->bufs = calloc(nbufs, sizeof(*io->bufs));
		if (small == NULL || io->bufs == NULL) {
			return -ENOMEM;
		}
		io->q = q;
		io->hdr = (void *)small;
		io->status = small + 16;
		io->itable = o->indirect ? (void *)(small + 32) : NULL;
		q->free[q->nfree++] = io;
	}
	for (unsigned int i = 0; i < o->iodepth; i++) {
		struct bench_io *io = &q->ios[i];
		uint64_t gpa;

		io->data = vub_mem_alloc(m, o->bs, 4096);
		if (io->data == NULL) {
			return -ENOMEM;
		}
		memset(io->data, 0xa5, o->bs);
		gpa = vub_mem_gpa(m, io->data);
		io->bufs[0] = (struct vub_buf){ vub_mem_gpa(m, io->hdr), 16, false };
		for (unsigned int s = 0; s < ctx->nseg; s++) {
			uint32_t off = s * ctx->seg_len;

			io->bufs[1 + s] = (struct vub_buf){ gpa + off,
							    VHD_MIN(ctx->seg_len, o->bs - off),
							    false };
		}
		io->bufs[nbufs - 1] = (struct vub_buf){ vub_mem_gpa(m, io->status), 1, true };
		if (o->indirect) {
			rc = vub_vring_reserve_indirect(&q->vq->vr, io->itable,
							vub_mem_gpa(m, io->itable), io->bufs,
							nbufs);
		} else {
			rc = vub_vring_reserve(&q->vq->vr, io->bufs, nbufs);
		}
		if (rc < 0) {
			return rc;
		}
		io->head = (uint16_t)rc;
		io->chain_op = BENCH_OP_WRITE;
	}
	return 0;
}

static int
setup_threads(struct bench_ctx *ctx)
{
	const struct bench_opts *o = ctx->o;
	int cpu = -1;

	ctx->threads = calloc(o->threads, sizeof(*ctx->threads));
	if (ctx->threads == NULL) {
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < o->threads; i++) {
		struct bench_thread *t = &ctx->threads[i];

		t->ctx = ctx;
		t->id = i;
		t->cpu = -1;
		if (o->have_cpus) {
			cpu = vhd_cpumask_next(&o->cpus, (unsigned int)(cpu + 1));
			if (cpu < 0) {
				cpu = vhd_cpumask_next(&o->cpus, 0);
			}
			t->cpu = cpu;
		}
		t->qs = calloc(o->queues, sizeof(*t->qs));
		t->pfds = calloc(o->queues, sizeof(*t->pfds));
		if (t->qs == NULL || t->pfds == NULL) {
			return -ENOMEM;
		}
	}
	for (unsigned int q = 0; q < o->queues; q++) {
		struct bench_thread *t = &ctx->threads[q % o->threads];

		t->qs[t->nq++] = &ctx->queues[q];
	}
	return 0;
}

static void
teardown(struct bench_ctx *ctx)
{
	if (ctx->queues != NULL) {
		for (unsigned int i = 0; i < ctx->o->queues; i++) {
			struct bench_queue *q = &ctx->queues[i];

			if (q->ios != NULL) {
				for (unsigned int k = 0; k < ctx->o->iodepth; k++) {
					free(q->ios[k].bufs);
				}
			}
			free(q->ios);
			free(q->free);
			free(q->batch);
			free(q->busy);
		}
		free(ctx->queues);
	}
	if (ctx->threads != NULL) {
		for (unsigned int i = 0; i < ctx->o->threads; i++) {
			free(ctx->threads[i].qs);
			free(ctx->threads[i].pfds);
		}
		free(ctx->threads);
	}
	bench_vmap_fini(&ctx->vmap);
	vub_blk_close(&ctx->dev);
	pthread_mutex_destroy(&ctx->report_lock);
}

static void
gather(struct bench_ctx *ctx, struct phase_result *r, int rc)
{
	uint64_t start = UINT64_MAX, end = 0;

	r->ran = true;
	r->rc = rc;
	bench_collect(ctx, &r->st);
	r->user_s = 0;
	r->sys_s = 0;
	for (unsigned int i = 0; i < ctx->o->threads; i++) {
		const struct bench_thread *t = &ctx->threads[i];

		if (t->win_start != 0) {
			start = VHD_MIN(start, t->win_start);
		}
		end = VHD_MAX(end, t->win_end);
		r->user_s += (double)t->utime.tv_sec + (double)t->utime.tv_usec / 1e6;
		r->sys_s += (double)t->stime.tv_sec + (double)t->stime.tv_usec / 1e6;
	}
	r->elapsed_s = (start != UINT64_MAX && end > start) ? (double)(end - start) / 1e9 : 0.0;
}

/* ---- Text output ---- */

static double
rate(double n, double s)
{
	return s > 0 ? n / s : 0.0;
}

static void
print_op(const char *name, const struct phase_result *r, int op)
{
	const struct bench_hist *h = &r->st.lat[op];

	if (r->st.ios[op] == 0) {
		return;
	}
	printf("  %-5s: IOPS=%.0f, BW=%.1f MiB/s, ios=%llu; lat (us): mean=%.1f p50=%.1f "
	       "p99=%.1f p99.9=%.1f max=%.1f\n", name, rate((double)r->st.ios[op], r->elapsed_s),
	       rate((double)r->st.bytes[op], r->elapsed_s) / 1048576.0,
	       (unsigned long long)r->st.ios[op], bench_hist_mean(h) / 1000.0,
	       (double)bench_hist_percentile(h, 50) / 1000.0,
	       (double)bench_hist_percentile(h, 99) / 1000.0,
	       (double)bench_hist_percentile(h, 99.9) / 1000.0, (double)h->max / 1000.0);
}

static void
print_phase(const char *name, const struct phase_result *r)
{
	uint64_t ios = r->st.ios[0] + r->st.ios[1];
	double cpu = r->user_s + r->sys_s;

	if (!r->ran) {
		return;
	}
	printf("%s: %.2f s\n", name, r->elapsed_s);
	print_op("read", r, BENCH_OP_READ);
	print_op("write", r, BENCH_OP_WRITE);
	printf("  total: IOPS=%.0f, BW=%.1f MiB/s, ios=%llu\n", rate((double)ios, r->elapsed_s),
	       rate((double)(r->st.bytes[0] + r->st.bytes[1]), r->elapsed_s) / 1048576.0,
	       (unsigned long long)ios);
	printf("  cpu  : user=%.2fs sys=%.2fs total=%.2fs (%.2f us/io); kicks=%llu (%.3f/io)",
	       r->user_s, r->sys_s, cpu, ios != 0 ? cpu * 1e6 / (double)ios : 0.0,
	       (unsigned long long)r->st.kicks, ios != 0 ? (double)r->st.kicks / (double)ios : 0.0);
	if (r->st.wakeups != 0) {
		printf(" wakeups=%llu", (unsigned long long)r->st.wakeups);
	}
	printf("\n  errors=%llu bad_len=%llu\n", (unsigned long long)r->st.errors,
	       (unsigned long long)r->st.bad_len);
}

/* ---- JSON output ---- */

static json_t *
op_json(const struct phase_result *r, int op)
{
	const struct bench_hist *h = &r->st.lat[op];

	return json_pack("{s:I, s:f, s:I, s:f, s:{s:f, s:f, s:f, s:f, s:f, s:f}}",
			 "ios", (json_int_t)r->st.ios[op],
			 "iops", rate((double)r->st.ios[op], r->elapsed_s),
			 "bytes", (json_int_t)r->st.bytes[op],
			 "mib_s", rate((double)r->st.bytes[op], r->elapsed_s) / 1048576.0,
			 "lat_us",
			 "mean", bench_hist_mean(h) / 1000.0,
			 "min", h->count != 0 ? (double)h->min / 1000.0 : 0.0,
			 "p50", (double)bench_hist_percentile(h, 50) / 1000.0,
			 "p99", (double)bench_hist_percentile(h, 99) / 1000.0,
			 "p99.9", (double)bench_hist_percentile(h, 99.9) / 1000.0,
			 "max", (double)h->max / 1000.0);
}

static json_t *
phase_json(const struct phase_result *r)
{
	uint64_t ios = r->st.ios[0] + r->st.ios[1];
	double cpu = r->user_s + r->sys_s;

	return json_pack("{s:f, s:o, s:o, s:{s:I, s:f, s:f}, s:{s:f, s:f, s:f, s:f}, s:I, s:f, "
			 "s:I, s:I, s:I}",
			 "elapsed_s", r->elapsed_s,
			 "read", op_json(r, BENCH_OP_READ),
			 "write", op_json(r, BENCH_OP_WRITE),
			 "total",
			 "ios", (json_int_t)ios,
			 "iops", rate((double)ios, r->elapsed_s),
			 "mib_s", rate((double)(r->st.bytes[0] + r->st.bytes[1]), r->elapsed_s) /
				 1048576.0,
			 "cpu",
			 "user_s", r->user_s,
			 "sys_s", r->sys_s,
			 "total_s", cpu,
			 "us_per_io", ios != 0 ? cpu * 1e6 / (double)ios : 0.0,
			 "kicks", (json_int_t)r->st.kicks,
			 "kicks_per_io", ios != 0 ? (double)r->st.kicks / (double)ios : 0.0,
			 "wakeups", (json_int_t)r->st.wakeups,
			 "errors", (json_int_t)r->st.errors,
			 "bad_len", (json_int_t)r->st.bad_len);
}

static const char *const g_phase_names[] = { "prefill", "main", "readback" };

static void
print_json(const struct bench_ctx *ctx, const struct phase_result *res, uint64_t errors,
	   const struct bench_stats *vs, bool ok, const char *error)
{
	const struct bench_opts *o = ctx->o;
	const struct vub_blk *d = &ctx->dev;
	json_t *root, *v;
	char *s;

	root = json_pack("{s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
			 "s:{s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:s, s:b, "
			 "s:b, s:b}}",
			 "vhost_bench", VHD_VERSION,
			 "socket", o->socket,
			 "device",
			 "capacity_bytes", (json_int_t)vub_blk_capacity(d),
			 "blk_size", (json_int_t)d->cfg.blk_size,
			 "seg_max", (json_int_t)d->cfg.seg_max,
			 "size_max", (json_int_t)d->cfg.size_max,
			 "num_queues", (json_int_t)d->max_queues,
			 "config_len", (json_int_t)d->cfg_len,
			 "features", (json_int_t)d->dev_features,
			 "acked_features", (json_int_t)d->features,
			 "protocol_features", (json_int_t)d->proto_offered,
			 "acked_protocol_features", (json_int_t)d->proto,
			 "job",
			 "rw", bench_rw_name(o->rw),
			 "rwmixread", (json_int_t)o->rwmixread,
			 "bs", (json_int_t)o->bs,
			 "iodepth", (json_int_t)o->iodepth,
			 "queues", (json_int_t)o->queues,
			 "threads", (json_int_t)o->threads,
			 "runtime_s", (double)o->runtime_ms / 1000.0,
			 "ramp_s", (double)o->ramp_ms / 1000.0,
			 "number_ios", (json_int_t)o->number_ios,
			 "offset", (json_int_t)o->offset,
			 "size", (json_int_t)(ctx->nblocks * o->bs),
			 "completion", o->wait_call ? "call" : "poll",
			 "event_idx", vub_blk_has(d, VIRTIO_RING_F_EVENT_IDX),
			 "indirect", o->indirect,
			 "verify", o->verify);
	if (root == NULL) {
		fprintf(stderr, "vhost-bench: cannot build JSON\n");
		return;
	}
	json_object_set_new(json_object_get(root, "job"), "queue_size", json_integer(ctx->qsize));
	for (int i = 0; i < 3; i++) {
		if (res[i].ran) {
			json_object_set_new(root, g_phase_names[i], phase_json(&res[i]));
		}
	}
	if (o->verify) {
		v = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "seed", (json_int_t)ctx->vmap.seed,
			      "unit", (json_int_t)ctx->vunit,
			      "blocks_written", (json_int_t)bench_vmap_written(&ctx->vmap),
			      "checked_units", (json_int_t)vs->verified,
			      "unverified_units", (json_int_t)vs->unverified,
			      "failures", (json_int_t)vs->verify_failures);
		if (ctx->have_vfail) {
			json_object_set_new(v, "first_failure",
				json_pack("{s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I}",
					  "queue", (json_int_t)ctx->vfail.queue,
					  "lba", (json_int_t)ctx->vfail.lba,
					  "byte_offset", (json_int_t)(ctx->vfail.lba * 512),
					  "block", (json_int_t)ctx->vfail.block,
					  "reason", bench_sig_status_str(ctx->vfail.rep.status),
					  "expected", (json_int_t)ctx->vfail.rep.expected,
					  "found", (json_int_t)ctx->vfail.rep.found,
					  "first_bad_byte",
					  (json_int_t)ctx->vfail.rep.first_bad_byte));
		}
		json_object_set_new(root, "verify", v);
	}
	json_object_set_new(root, "errors", json_integer((json_int_t)errors));
	json_object_set_new(root, "result", json_string(ok ? "pass" : "fail"));
	if (error != NULL) {
		json_object_set_new(root, "error", json_string(error));
	}
	s = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(root);
}

static void
print_negotiation(const struct bench_ctx *ctx)
{
	const struct vub_blk *d = &ctx->dev;

	fprintf(stderr, "vhost-bench: features offered 0x%llx acked 0x%llx; protocol offered "
		"0x%llx acked 0x%llx; queues %u; config %u bytes: capacity %llu sectors, "
		"blk_size %u, seg_max %u, size_max %u, num_queues %u; queue size %u, "
		"%u data segment(s) per request\n", (unsigned long long)d->dev_features,
		(unsigned long long)d->features, (unsigned long long)d->proto_offered,
		(unsigned long long)d->proto, d->max_queues, d->cfg_len,
		(unsigned long long)d->cfg.capacity, d->cfg.blk_size, d->cfg.seg_max,
		d->cfg.size_max, d->cfg.num_queues, ctx->qsize, ctx->nseg);
}

static int
setup_verify(struct bench_ctx *ctx, char *err, size_t len)
{
	const struct bench_opts *o = ctx->o;
	uint64_t size = ctx->vmap.size;
	int rc;

	rc = bench_vmap_init(&ctx->vmap, o->have_seed ? o->seed : random_u64(), o->bs, o->offset,
			     size);
	if (rc != 0) {
		snprintf(err, len, "verify map for %llu blocks: %s",
			 (unsigned long long)ctx->nblocks, strerror(-rc));
		return rc;
	}
	if (o->verify_state != NULL) {
		rc = bench_vmap_load(&ctx->vmap, o->verify_state, err, len);
		if (rc == -ENOENT) {
			rc = 0;
		}
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct bench_phase phases[3] = {
		{ .kind = BENCH_PHASE_PREFILL, .name = "prefill" },
		{ .kind = BENCH_PHASE_MAIN, .name = "main" },
		{ .kind = BENCH_PHASE_READBACK, .name = "readback" },
	};
	struct phase_result res[3];
	struct bench_ctx ctx;
	struct bench_opts o;
	struct bench_stats vs;
	struct vub_blk_opts bo;
	char err[512] = "";
	bool run[3] = { false, false, false }, ok;
	uint64_t errors = 0;
	int rc;

	rc = bench_opts_parse(&o, argc, argv, err, sizeof(err));
	if (rc == BENCH_OPTS_HELP) {
		bench_opts_usage(stdout, argv[0]);
		return 0;
	}
	if (rc == BENCH_OPTS_VERSION) {
		printf("vhost-bench %s\n", VHD_VERSION);
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "vhost-bench: %s (see --help)\n", err);
		return EXIT_USAGE;
	}
	install_signals();
	memset(&ctx, 0, sizeof(ctx));
	memset(res, 0, sizeof(res));
	memset(&vs, 0, sizeof(vs));
	ctx.o = &o;
	pthread_mutex_init(&ctx.report_lock, NULL);

	memset(&bo, 0, sizeof(bo));
	bo.path = o.socket;
	bo.timeout_ms = (int)o.timeout_ms;
	bo.features = o.event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0;
	bo.inflight = o.inflight;
	bo.backing = o.mem == BENCH_MEM_MEMFD ? VUB_MEM_MEMFD :
		     o.mem == BENCH_MEM_HUGE_MEMFD ? VUB_MEM_MEMFD_HUGETLB : VUB_MEM_HUGETLBFS;
	bo.hugetlbfs_dir = o.hugetlbfs_dir;
	rc = vub_blk_connect(&ctx.dev, &bo);
	if (rc != 0) {
		snprintf(err, sizeof(err), "%s: %s", o.socket, vub_blk_error(&ctx.dev));
		goto fail;
	}
	rc = plan(&ctx, err, sizeof(err));
	if (rc == 0 && o.verify) {
		rc = setup_verify(&ctx, err, sizeof(err));
	}
	if (rc != 0) {
		goto fail;
	}
	rc = vub_blk_start(&ctx.dev, (uint16_t)o.queues, ctx.qsize, buffer_bytes(&ctx));
	if (o.verbose) {
		print_negotiation(&ctx);
	}
	if (rc != 0) {
		snprintf(err, sizeof(err), "%s: %s", o.socket, vub_blk_error(&ctx.dev));
		goto fail;
	}
	ctx.queues = calloc(o.queues, sizeof(*ctx.queues));
	rc = ctx.queues == NULL ? -ENOMEM : 0;
	for (unsigned int i = 0; rc == 0 && i < o.queues; i++) {
		rc = setup_queue(&ctx, &ctx.queues[i], i);
		ctx.queues[i].next_gen = ctx.vmap.next_gen;
	}
	if (rc == 0) {
		rc = setup_threads(&ctx);
	}
	if (rc != 0) {
		snprintf(err, sizeof(err), "setting up buffers: %s", strerror(-rc));
		goto fail;
	}

	phases[1].ramp_ns = o.ramp_ms * 1000000ull;
	phases[1].runtime_ns = o.number_ios != 0 ? 0 : o.runtime_ms * 1000000ull;
	phases[1].number_ios = o.number_ios;
	run[0] = o.verify_prefill;
	run[1] = !o.readback_only;
	run[2] = o.verify && !o.no_readback && (o.readback_only || bench_rw_writes(o.rw));
	for (int i = 0; i < 3; i++) {
		if (!run[i] || g_bench_stop) {
			continue;
		}
		rc = bench_run_phase(&ctx, &phases[i]);
		gather(&ctx, &res[i], rc);
		errors += res[i].st.errors;
		vs.verified += res[i].st.verified;
		vs.unverified += res[i].st.unverified;
		vs.verify_failures += res[i].st.verify_failures;
		if (rc != 0) {
			for (unsigned int t = 0; t < o.threads; t++) {
				if (ctx.threads[t].rc != 0) {
					snprintf(err, sizeof(err), "%s", ctx.threads[t].err);
					break;
				}
			}
			break;
		}
	}
	if (rc == 0 || !ctx.unclean) {
		int src = vub_blk_stop(&ctx.dev);

		if (src != 0 && rc == 0) {
			rc = src;
			snprintf(err, sizeof(err), "stopping the device: %s",
				 vub_blk_error(&ctx.dev));
		}
	}
	if (o.verify) {
		for (unsigned int i = 0; i < o.queues; i++) {
			ctx.vmap.next_gen = VHD_MAX(ctx.vmap.next_gen, ctx.queues[i].next_gen);
		}
	}
	if (o.verify_state != NULL && !ctx.unclean) {
		int src = bench_vmap_save(&ctx.vmap, o.verify_state);

		if (src != 0 && rc == 0) {
			rc = src;
			snprintf(err, sizeof(err), "saving %s: %s", o.verify_state, strerror(-src));
		}
	}
	ok = rc == 0 && errors == 0 && vs.verify_failures == 0;
	if (o.json) {
		print_json(&ctx, res, errors, &vs, ok, rc != 0 ? err : NULL);
	} else {
		printf("vhost-bench %s: %s: %s bs=%u iodepth=%u queues=%u threads=%u qsize=%u "
		       "(%s%s%s)\n", VHD_VERSION, o.socket,
		       o.readback_only ? "readback-only" : bench_rw_name(o.rw), o.bs, o.iodepth,
		       o.queues, o.threads, ctx.qsize, o.wait_call ? "wait-call" : "poll",
		       vub_blk_has(&ctx.dev, VIRTIO_RING_F_EVENT_IDX) ? ", event_idx" : "",
		       o.indirect ? ", indirect" : "");
		for (int i = 0; i < 3; i++) {
			print_phase(g_phase_names[i], &res[i]);
		}
		if (o.verify) {
			printf("verify: seed=0x%llx unit=%u written_blocks=%llu checked_units=%llu "
			       "unverified_units=%llu failures=%llu\n",
			       (unsigned long long)ctx.vmap.seed, ctx.vunit,
			       (unsigned long long)bench_vmap_written(&ctx.vmap),
			       (unsigned long long)vs.verified, (unsigned long long)vs.unverified,
			       (unsigned long long)vs.verify_failures);
			if (ctx.have_vfail) {
				printf("verify: first failure at lba %llu (byte offset %llu): %s\n",
				       (unsigned long long)ctx.vfail.lba,
				       (unsigned long long)ctx.vfail.lba * 512,
				       bench_sig_status_str(ctx.vfail.rep.status));
			}
		}
		printf("errors: %llu\n", (unsigned long long)errors);
		if (rc != 0) {
			printf("error: %s\n", err);
		}
		printf("result: %s\n", ok ? "PASS" : "FAIL");
	}
	if (rc != 0) {
		fprintf(stderr, "vhost-bench: %s\n", err);
	}
	teardown(&ctx);
	return ok ? 0 : 1;

fail:
	fprintf(stderr, "vhost-bench: %s\n", err);
	if (o.json) {
		json_t *j = json_pack("{s:s, s:s, s:s}", "vhost_bench", VHD_VERSION, "result",
				      "fail", "error", err);

		if (j != NULL) {
			char *s = json_dumps(j, JSON_INDENT(2));

			if (s != NULL) {
				puts(s);
				free(s);
			}
			json_decref(j);
		}
	}
	teardown(&ctx);
	return 1;
}
