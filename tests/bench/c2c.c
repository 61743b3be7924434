/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Cache-line round trip between two CPUs: one thread on each passes a counter back and forth
 * through one cache line. Prints the mean round trip in ns. On a virtual machine this moves
 * with where the hypervisor places the two vCPUs (same core complex or not), and every
 * ring-based client/server figure moves with it: the suite records it next to them.
 *
 * Usage: vhd-c2c CPU_A CPU_B [ROUND_TRIPS]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Alignas(64) volatile uint64_t g_line;
static uint64_t g_trips;
static int g_cpu_b;

static int
pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *
responder(void *arg)
{
	(void)arg;
	if (pin(g_cpu_b) != 0) {
		fprintf(stderr, "vhd-c2c: cannot run on CPU %d\n", g_cpu_b);
		exit(1);
	}
	for (uint64_t i = 1; i <= g_trips; i++) {
		while (g_line != 2 * i - 1) {
		}
		g_line = 2 * i;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct timespec a, b;
	pthread_t t;
	int cpu_a;

	if (argc < 3) {
		fprintf(stderr, "usage: vhd-c2c CPU_A CPU_B [ROUND_TRIPS]\n");
		return 2;
	}
	cpu_a = atoi(argv[1]);
	g_cpu_b = atoi(argv[2]);
	g_trips = argc > 3 ? strtoull(argv[3], NULL, 0) : 300000;
	if (g_trips == 0 || pin(cpu_a) != 0) {
		fprintf(stderr, "vhd-c2c: bad round trip count or cannot run on CPU %d\n", cpu_a);
		return 1;
	}
	if (pthread_create(&t, NULL, responder, NULL) != 0) {
		fprintf(stderr, "vhd-c2c: pthread_create failed\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (uint64_t i = 1; i <= g_trips; i++) {
		g_line = 2 * i - 1;
		while (g_line != 2 * i) {
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(t, NULL);
	printf("%.1f\n", ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
	       (double)g_trips);
	return 0;
}
