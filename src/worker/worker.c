/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-lcore poll loop and the cross-thread call mechanism (see vhostd/worker.h).
 *
 * Calls travel over a multi-producer/single-consumer rte_ring; the caller sleeps on a
 * semaphore. A queue removal is a call the worker completes later, when the queue has drained
 * (or its deadline passed), so the vhost-events thread never spins on data-path state.
 */
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_tailq.h>

#define VHD_LOG_COMPONENT "worker"
#include "vhostd/log.h"
#include "vhostd/worker.h"

#define CALL_RING_SIZE 1024
#define IDLE_ROUNDS_BEFORE_NAP 2048

struct call {
	int (*fn)(struct call *call);
	void *arg;
	int rc;
	bool deferred;              /* fn will complete the call itself later */
	sem_t done;
};

struct drain {
	struct vhd_queue *q;
	struct vhd_queue_final *final;
	uint64_t deadline;
	struct call *call;
	TAILQ_ENTRY(drain) link;
};

struct vhd_worker {
	unsigned int lcore;
	unsigned int cpu;
	struct rte_ring *calls;
	TAILQ_HEAD(, vhd_queue) queues;
	TAILQ_HEAD(, drain) drains;
	TAILQ_HEAD(, vhd_queue) zombies; /* abandoned: waiting for backend I/O to finish */
	unsigned int nqueues;
	unsigned int load;
	uint32_t idle_sleep_us;
	volatile bool stop;
	uint64_t rounds;
	uint64_t busy_rounds;
};

static struct vhd_worker *g_workers;
static unsigned int g_nworkers;
static __thread struct vhd_worker *t_self;

static void
call_finish(struct call *call, int rc)
{
	call->rc = rc;
	sem_post(&call->done);
}

static int
run_calls(struct vhd_worker *w)
{
	void *objs[16];
	unsigned int n;

	/* Nearly every round finds no message: a read of the producer's index says so. */
	if (vhd_likely(rte_ring_empty(w->calls))) {
		return 0;
	}
	n = rte_ring_sc_dequeue_burst(w->calls, objs, VHD_ARRAY_SIZE(objs), NULL);

	for (unsigned int i = 0; i < n; i++) {
		struct call *call = objs[i];
		int rc = call->fn(call);

		if (!call->deferred) {
			call_finish(call, rc);
		}
	}
	return (int)n;
}

static void
drop_zombies(struct vhd_worker *w)
{
	struct vhd_queue *q, *tmp;

	RTE_TAILQ_FOREACH_SAFE(q, &w->zombies, link, tmp) {
		if (vhd_queue_inflight(q) == 0) {
			TAILQ_REMOVE(&w->zombies, q, link);
			q->dev->ops->queue_stop(q);
			VHD_NOTICELOG("%s: late backend I/O finished; abandoned queue freed",
				      q->name);
			vhd_queue_fini(q);
			free(q);
		}
	}
}

static void
check_drains(struct vhd_worker *w)
{
	struct drain *d, *tmp;

	RTE_TAILQ_FOREACH_SAFE(d, &w->drains, link, tmp) {
		struct vhd_queue *q = d->q;

		d->final->last_avail_idx = q->vq.last_avail_idx;
		d->final->used_idx = q->vq.used_idx;
		d->final->abandoned = vhd_queue_inflight(q);
		if (vhd_queue_inflight(q) == 0) {
			vhd_vq_notify(&q->vq);
			TAILQ_REMOVE(&w->queues, q, link);
			w->nqueues--;
			q->dev->ops->queue_stop(q);
			TAILQ_REMOVE(&w->drains, d, link);
			call_finish(d->call, 0);
		} else if (rte_get_tsc_cycles() > d->deadline) {
			VHD_ERRLOG("%s: %u requests still in the backend after %u ms; abandoning "
				   "them (they stay recorded in flight for the next connection)",
				   q->name, vhd_queue_inflight(q), VHD_DRAIN_TIMEOUT_MS);
			/* From now on completions write nothing to guest memory. */
			q->vq.broken = true;
			TAILQ_REMOVE(&w->queues, q, link);
			w->nqueues--;
			TAILQ_INSERT_TAIL(&w->zombies, q, link);
			TAILQ_REMOVE(&w->drains, d, link);
			call_finish(d->call, -ETIMEDOUT);
		}
	}
}

static void
nap(uint32_t us)
{
	struct timespec ts = {0, (long)us * 1000};

	nanosleep(&ts, NULL);
}

static int
worker_main(void *arg)
{
	struct vhd_worker *w = arg;
	unsigned int idle = 0;

	t_self = w;
	VHD_INFOLOG("worker on lcore %u (cpu %u) polling", w->lcore, w->cpu);
	while (!w->stop) {
		struct vhd_queue *q;
		int work = run_calls(w);

		work += vhd_bdev_poll_channels();
		TAILQ_FOREACH(q, &w->queues, link) {
			work += vhd_queue_poll(q);
		}
		vhd_bdev_flush_channels();
		TAILQ_FOREACH(q, &w->queues, link) {
			vhd_vq_notify(&q->vq);
		}
		if (vhd_unlikely(!TAILQ_EMPTY(&w->drains))) {
			check_drains(w);
		}
		if (vhd_unlikely(!TAILQ_EMPTY(&w->zombies))) {
			drop_zombies(w);
		}
		w->rounds++;
		if (work > 0) {
			w->busy_rounds++;
			idle = 0;
		} else if (w->idle_sleep_us > 0 && ++idle > IDLE_ROUNDS_BEFORE_NAP &&
			   !vhd_bdev_thread_busy()) {
			nap(w->idle_sleep_us);
		}
	}
	return 0;
}

int
vhd_workers_start(const unsigned int *lcore_cpus, unsigned int n, uint32_t idle_sleep_us)
{
	g_workers = calloc(n, sizeof(*g_workers));
	if (g_workers == NULL) {
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct vhd_worker *w = &g_workers[i];
		char name[RTE_RING_NAMESIZE];

		w->lcore = i;
		w->cpu = lcore_cpus[i];
		w->idle_sleep_us = idle_sleep_us;
		TAILQ_INIT(&w->queues);
		TAILQ_INIT(&w->drains);
		TAILQ_INIT(&w->zombies);
		snprintf(name, sizeof(name), "vhd-calls-%u", i);
		w->calls = rte_ring_create(name, CALL_RING_SIZE, (int)rte_lcore_to_socket_id(i),
					   RING_F_SC_DEQ);
		if (w->calls == NULL) {
			return -rte_errno;
		}
	}
	g_nworkers = n;
	for (unsigned int i = 0; i < n; i++) {
		int rc = rte_eal_remote_launch(worker_main, &g_workers[i], i);

		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

void
vhd_workers_stop(void)
{
	for (unsigned int i = 0; i < g_nworkers; i++) {
		g_workers[i].stop = true;
	}
	for (unsigned int i = 0; i < g_nworkers; i++) {
		rte_eal_wait_lcore(g_workers[i].lcore);
		rte_ring_free(g_workers[i].calls);
	}
	free(g_workers);
	g_workers = NULL;
	g_nworkers = 0;
}

struct vhd_worker *
vhd_worker_pick(const struct vhd_cpumask *mask)
{
	struct vhd_worker *best = NULL;

	for (unsigned int i = 0; i < g_nworkers; i++) {
		struct vhd_worker *w = &g_workers[i];

		if (vhd_cpumask_test(mask, w->cpu) &&
		    (best == NULL || __atomic_load_n(&w->load, __ATOMIC_RELAXED) <
					     __atomic_load_n(&best->load, __ATOMIC_RELAXED))) {
			best = w;
		}
	}
	if (best != NULL) {
		__atomic_add_fetch(&best->load, 1, __ATOMIC_RELAXED);
	}
	return best;
}

void
vhd_worker_unpick(struct vhd_worker *w)
{
	__atomic_sub_fetch(&w->load, 1, __ATOMIC_RELAXED);
}

unsigned int
vhd_worker_cpu(const struct vhd_worker *w)
{
	return w->cpu;
}

struct vhd_worker *
vhd_worker_self(void)
{
	return t_self;
}

static int
call_on(struct vhd_worker *w, struct call *call)
{
	struct timespec retry = {0, 100 * 1000};

	sem_init(&call->done, 0, 0);
	call->deferred = false;
	while (rte_ring_mp_enqueue(w->calls, call) != 0) {
		nanosleep(&retry, NULL);
	}
	while (sem_wait(&call->done) != 0) {
	}
	sem_destroy(&call->done);
	return call->rc;
}

struct plain_call {
	int (*fn)(void *arg);
	void *arg;
};

static int
run_plain(struct call *call)
{
	struct plain_call *pc = call->arg;

	return pc->fn(pc->arg);
}

int
vhd_worker_call(struct vhd_worker *w, int (*fn)(void *arg), void *arg)
{
	struct plain_call pc = {fn, arg};
	struct call call = {.fn = run_plain, .arg = &pc};

	return call_on(w, &call);
}

struct add_req {
	struct vhd_queue *q;
	const uint16_t *resubmit;
	unsigned int nresubmit;
};

static int
do_add_queue(struct call *call)
{
	struct add_req *req = call->arg;
	struct vhd_queue *q = req->q;
	struct vhd_worker *w = t_self;
	int rc = q->dev->ops->queue_start(q);

	if (rc != 0) {
		return rc;
	}
	TAILQ_INSERT_TAIL(&w->queues, q, link);
	w->nqueues++;
	for (unsigned int i = 0; i < req->nresubmit; i++) {
		if (vhd_queue_resubmit(q, req->resubmit[i]) != 0) {
			break;
		}
	}
	/* A guest may have missed an interrupt while we were away: wake it once. */
	vhd_vq_notify_force(&q->vq);
	return 0;
}

int
vhd_worker_add_queue(struct vhd_worker *w, struct vhd_queue *q, const uint16_t *resubmit,
		     unsigned int nresubmit)
{
	struct add_req req = {q, resubmit, nresubmit};
	struct call call = {.fn = do_add_queue, .arg = &req};

	return call_on(w, &call);
}

static int
do_remove_queue(struct call *call)
{
	struct drain *d = call->arg;
	struct vhd_worker *w = t_self;

	d->q->stopping = true;
	if (d->q->dev->ops->queue_drain != NULL) {
		d->q->dev->ops->queue_drain(d->q);
	}
	d->call = call;
	d->deadline = rte_get_tsc_cycles() + rte_get_tsc_hz() / 1000 * VHD_DRAIN_TIMEOUT_MS;
	TAILQ_INSERT_TAIL(&w->drains, d, link);
	call->deferred = true;
	return 0;
}

int
vhd_worker_remove_queue(struct vhd_worker *w, struct vhd_queue *q, struct vhd_queue_final *final)
{
	struct drain d = {.q = q, .final = final};
	struct call call = {.fn = do_remove_queue, .arg = &d};

	return call_on(w, &call);
}

unsigned int
vhd_worker_count(void)
{
	return g_nworkers;
}

void
vhd_worker_get_stats(unsigned int i, struct vhd_worker_stats *st)
{
	const struct vhd_worker *w = &g_workers[i];

	st->cpu = w->cpu;
	st->nqueues = w->nqueues;
	st->load = __atomic_load_n(&w->load, __ATOMIC_RELAXED);
	st->rounds = w->rounds;
	st->busy_rounds = w->busy_rounds;
}
