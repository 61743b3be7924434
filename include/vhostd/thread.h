/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helper (non-polling) threads: the control socket, backend offload threads. They must not run
 * on the polling lcores, so they are created with the "control" CPU set: the CPUs the process
 * was started on minus the polling cores (or all of them when nothing is left).
 */
#ifndef VHOSTD_THREAD_H
#define VHOSTD_THREAD_H

#include <pthread.h>
#include <sched.h>

#include "vhostd/common.h"

/* Record the control CPU set; call once from main before any helper thread exists. */
void vhd_thread_set_control_cpus(const cpu_set_t *cpus);

/*
 * Create a joinable thread pinned to the control CPU set and named `name` (≤ 15 chars).
 * \return 0 or -errno.
 */
int vhd_thread_create(pthread_t *thread, const char *name, void *(*fn)(void *), void *arg);

#endif /* VHOSTD_THREAD_H */
