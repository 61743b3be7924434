/* SPDX-License-Identifier: BSD-3-Clause */
#include "vhostd/thread.h"

static cpu_set_t g_control_cpus;
static bool g_control_cpus_set;

void
vhd_thread_set_control_cpus(const cpu_set_t *cpus)
{
	g_control_cpus = *cpus;
	g_control_cpus_set = true;
}

int
vhd_thread_create(pthread_t *thread, const char *name, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int rc;

	rc = pthread_attr_init(&attr);
	if (rc != 0) {
		return -rc;
	}
	/* Without this a thread started from a worker would inherit its single-CPU pinning
	 * and compete with the poll loop. */
	if (g_control_cpus_set) {
		pthread_attr_setaffinity_np(&attr, sizeof(g_control_cpus), &g_control_cpus);
	}
	rc = pthread_create(thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		return -rc;
	}
	pthread_setname_np(*thread, name);
	return 0;
}
