/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Polling workers: one per core in `cores`, each an EAL lcore pinned to its CPU. A worker owns
 * the queues of the controllers placed on it and the backend channels they use; nothing else
 * touches them. Other threads ask a worker to act with vhd_worker_call(), which runs a
 * function on that worker and waits for its result.
 *
 * Each round: run pending calls, reap backend completions (and retry parked I/O), pop new
 * requests from every queue, let backends push the round's batch, notify each queue's guest at
 * most once, and finish queue drains whose last request completed.
 */
#ifndef VHOSTD_WORKER_H
#define VHOSTD_WORKER_H

#include "vhostd/common.h"
#include "vhostd/cpumask.h"
#include "vhostd/dev.h"

struct vhd_worker;

/* How long a drain may wait for backend I/O before the queue is abandoned. */
#define VHD_DRAIN_TIMEOUT_MS 10000

/*
 * Launch a worker on every EAL worker lcore. lcore_cpus[i] is the CPU of worker lcore i
 * (EAL lcore ids 0..n-1). idle_sleep_us > 0 lets an idle worker nap that long between rounds.
 * \return 0 or -errno.
 */
int vhd_workers_start(const unsigned int *lcore_cpus, unsigned int n, uint32_t idle_sleep_us);

/* Stop and join every worker (they must own no queue any more). */
void vhd_workers_stop(void);

/* The least-loaded worker whose CPU is in mask, its load incremented; NULL if none. */
struct vhd_worker *vhd_worker_pick(const struct vhd_cpumask *mask);

/* Undo vhd_worker_pick(). */
void vhd_worker_unpick(struct vhd_worker *w);

unsigned int vhd_worker_cpu(const struct vhd_worker *w);

/* The worker running the calling thread, or NULL outside workers. */
struct vhd_worker *vhd_worker_self(void);

/*
 * Run fn(arg) on worker w and wait for its return value. Must not be called from a worker.
 * \return fn's result.
 */
int vhd_worker_call(struct vhd_worker *w, int (*fn)(void *arg), void *arg);

/*
 * Hand a prepared queue (vhd_queue_init()) to worker w: the device's queue_start() runs there,
 * `resubmit` heads (inflight records, oldest first) are resubmitted, the guest is notified
 * once, and polling begins. \return 0 or -errno (queue not added).
 */
int vhd_worker_add_queue(struct vhd_worker *w, struct vhd_queue *q, const uint16_t *resubmit,
			 unsigned int nresubmit);

/* Ring position of a stopped queue, for the vring base the front-end gets back. */
struct vhd_queue_final {
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t abandoned;         /* requests still in the backend when the drain gave up */
};

/*
 * Stop polling a queue and wait until every request it popped has completed and is on the
 * used ring; `final` receives its ring position. \return 0, or -ETIMEDOUT when backend I/O
 * did not finish in VHD_DRAIN_TIMEOUT_MS: the worker then keeps the queue (and frees it with
 * vhd_queue_fini() + free() once the I/O ends), writing nothing more to guest memory; the
 * caller must forget it.
 */
int vhd_worker_remove_queue(struct vhd_worker *w, struct vhd_queue *q,
			    struct vhd_queue_final *final);

/* Per-worker figures for statistics. */
struct vhd_worker_stats {
	unsigned int cpu;
	unsigned int nqueues;
	unsigned int load;          /* controllers placed here */
	uint64_t rounds;
	uint64_t busy_rounds;
};
unsigned int vhd_worker_count(void);
void vhd_worker_get_stats(unsigned int i, struct vhd_worker_stats *st);

#endif /* VHOSTD_WORKER_H */
