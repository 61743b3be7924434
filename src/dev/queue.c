/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The queue framework shared by the blk and scsi devices: pop, walk, dispatch, complete, and
 * per-queue statistics.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

#define VHD_LOG_COMPONENT "queue"
#include "vhostd/dev.h"
#include "vhostd/log.h"

#define POP_BATCH 32

int
vhd_queue_init(struct vhd_queue *q, struct vhd_dev *dev, uint16_t index, uint64_t features,
	       const struct vhd_vq_setup *setup)
{
	int rc;

	memset(q, 0, sizeof(*q));
	q->dev = dev;
	q->index = index;
	q->features = features;
	snprintf(q->name, sizeof(q->name), "%s q%u", dev->name, index);
	struct vhd_vq_setup s = *setup;

	s.name = q->name;
	rc = vhd_vq_start(&q->vq, &s);
	if (rc != 0) {
		return rc;
	}
	q->tasks = calloc(q->vq.size, dev->ops->task_size);
	if (q->tasks == NULL) {
		vhd_vq_stop(&q->vq);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < q->vq.size; i++) {
		vhd_queue_task(q, (uint16_t)i)->q = q;
	}
	__atomic_add_fetch(&dev->refs, 1, __ATOMIC_RELAXED);
	return 0;
}

void
vhd_queue_fini(struct vhd_queue *q)
{
	vhd_vq_stop(&q->vq);
	free(q->tasks);
	q->tasks = NULL;
	vhd_dev_put(q->dev);
}

void
vhd_dev_put(struct vhd_dev *dev)
{
	if (__atomic_sub_fetch(&dev->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		dev->ops->destroy(dev);
	}
}

static void
dispatch(struct vhd_queue *q, uint16_t head)
{
	struct vhd_task *task = vhd_queue_task(q, head);

	task->start_tsc = vhd_tsc();
	if (vhd_unlikely(vhd_vq_walk(&q->vq, head, &task->chain, task->iov, VHD_TASK_IOV_MAX) !=
			 0)) {
		/* Broken ring: this only releases the head. */
		vhd_vq_push(&q->vq, head, 0);
		return;
	}
	q->dev->ops->submit(task);
}

int
vhd_queue_poll(struct vhd_queue *q)
{
	uint16_t heads[POP_BATCH];
	int n;

	if (vhd_unlikely(q->stopping)) {
		return 0;
	}
	n = vhd_vq_pop(&q->vq, heads, POP_BATCH);
	for (int i = 0; i < n; i++) {
		dispatch(q, heads[i]);
	}
	return n > 0 ? n : 0;
}

int
vhd_queue_resubmit(struct vhd_queue *q, uint16_t head)
{
	int rc = vhd_vq_take(&q->vq, head);

	if (rc == 0) {
		dispatch(q, head);
	}
	return rc;
}

void
vhd_task_complete(struct vhd_task *task, uint32_t used_len)
{
	vhd_vq_push(&task->q->vq, task->chain.head, used_len);
}

/* ---- time and statistics ---- */

static uint64_t g_tsc_hz;
/* Microseconds per TSC tick in 32.32 fixed point: a multiply per request instead of a 64-bit
 * division, which costs tens of cycles on the data path. */
static uint64_t g_us_per_tsc_q32 = 1ull << 32;
static pthread_once_t g_tsc_once = PTHREAD_ONCE_INIT;

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
calibrate(void)
{
	struct timespec pause = {0, 20 * 1000 * 1000};
	uint64_t t0 = mono_ns(), c0 = __rdtsc();
	uint64_t t1, c1;

	nanosleep(&pause, NULL);
	t1 = mono_ns();
	c1 = __rdtsc();
	g_tsc_hz = (c1 - c0) * 1000000000ull / VHD_MAX(t1 - t0, 1ull);
	g_tsc_hz = VHD_MAX(g_tsc_hz, 1000000ull);
	g_us_per_tsc_q32 = (1000000ull << 32) / g_tsc_hz;
}

uint64_t
vhd_tsc(void)
{
	return __rdtsc();
}

uint64_t
vhd_tsc_hz(void)
{
	pthread_once(&g_tsc_once, calibrate);
	return g_tsc_hz;
}

void
vhd_stats_account(struct vhd_io_stats *st, enum vhd_stat_op op, uint64_t bytes, bool error,
		  uint64_t start_tsc)
{
	uint64_t us = (uint64_t)(((unsigned __int128)(vhd_tsc() - start_tsc) * g_us_per_tsc_q32) >>
				 32);
	unsigned int bucket = us == 0 ? 0 : 64u - (unsigned int)__builtin_clzll(us);

	switch (op) {
	case VHD_STAT_READ:
		st->reads++;
		st->read_bytes += bytes;
		st->read_lat_us += us;
		break;
	case VHD_STAT_WRITE:
		st->writes++;
		st->write_bytes += bytes;
		st->write_lat_us += us;
		break;
	case VHD_STAT_FLUSH:
		st->flushes++;
		break;
	case VHD_STAT_DISCARD:
		st->discards++;
		st->discard_bytes += bytes;
		st->discard_lat_us += us;
		break;
	case VHD_STAT_WRITE_ZEROES:
		st->write_zeroes++;
		break;
	case VHD_STAT_OTHER:
		st->others++;
		break;
	}
	st->errors += error;
	st->lat_sum_us += us;
	st->lat_hist[VHD_MIN(bucket, VHD_LAT_BUCKETS - 1u)]++;
}

void
vhd_io_stats_add(struct vhd_io_stats *dst, const struct vhd_io_stats *src)
{
	dst->reads += src->reads;
	dst->writes += src->writes;
	dst->flushes += src->flushes;
	dst->discards += src->discards;
	dst->write_zeroes += src->write_zeroes;
	dst->others += src->others;
	dst->read_bytes += src->read_bytes;
	dst->write_bytes += src->write_bytes;
	dst->errors += src->errors;
	dst->lat_sum_us += src->lat_sum_us;
	for (unsigned int i = 0; i < VHD_LAT_BUCKETS; i++) {
		dst->lat_hist[i] += src->lat_hist[i];
	}
	dst->discard_bytes += src->discard_bytes;
	dst->read_lat_us += src->read_lat_us;
	dst->write_lat_us += src->write_lat_us;
	dst->discard_lat_us += src->discard_lat_us;
}
