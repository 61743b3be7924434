/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK telemetry commands, read with `dpdk-telemetry.py -f <instance>` (the EAL file prefix
 * is the instance name). Callbacks run on DPDK's telemetry thread and read the same figures
 * as vhostd_get_stats. DPDK 22.11 containers are flat arrays, so per-queue counters are
 * arrays whose meaning is listed under "fields".
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <rte_telemetry.h>

#include "vhostd/ctrl.h"
#include "vhostd/rpc.h"
#include "vhostd/transport.h"
#include "vhostd/worker.h"

#define MAX_QUEUES 256

static const char *const g_queue_fields[] = {
	"reads", "writes", "flushes", "discards", "write_zeroes", "others", "read_bytes",
	"write_bytes", "discard_bytes", "errors", "in_flight", "latency_us_sum", "started",
	"size",
};

static void
add_name(const struct vhd_ctrlr_info *info, void *arg)
{
	rte_tel_data_add_array_string(arg, info->name);
}

static int
tel_controllers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	vhd_ctrl_foreach_ctrlr(add_name, d);
	return 0;
}

static void
add_bdev_name(const struct vhd_bdev_info *info, void *arg)
{
	rte_tel_data_add_array_string(arg, info->conf->name);
}

static int
tel_bdevs(const char *cmd, const char *params, struct rte_tel_data *d)
{
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	vhd_ctrl_foreach_bdev(NULL, add_bdev_name, d);
	return 0;
}

struct tel_ctx {
	struct rte_tel_data *d;
	struct vhd_queue_stats *qs;
	bool per_queue;
	int rc;
};

static void
add_io(struct rte_tel_data *d, const struct vhd_io_stats *io, uint64_t inflight)
{
	struct rte_tel_data *hist = rte_tel_data_alloc();

	rte_tel_data_add_dict_u64(d, "reads", io->reads);
	rte_tel_data_add_dict_u64(d, "writes", io->writes);
	rte_tel_data_add_dict_u64(d, "flushes", io->flushes);
	rte_tel_data_add_dict_u64(d, "discards", io->discards);
	rte_tel_data_add_dict_u64(d, "write_zeroes", io->write_zeroes);
	rte_tel_data_add_dict_u64(d, "others", io->others);
	rte_tel_data_add_dict_u64(d, "read_bytes", io->read_bytes);
	rte_tel_data_add_dict_u64(d, "write_bytes", io->write_bytes);
	rte_tel_data_add_dict_u64(d, "discard_bytes", io->discard_bytes);
	rte_tel_data_add_dict_u64(d, "errors", io->errors);
	rte_tel_data_add_dict_u64(d, "in_flight", inflight);
	rte_tel_data_add_dict_u64(d, "latency_us_sum", io->lat_sum_us);
	rte_tel_data_add_dict_u64(d, "read_latency_us_sum", io->read_lat_us);
	rte_tel_data_add_dict_u64(d, "write_latency_us_sum", io->write_lat_us);
	rte_tel_data_add_dict_u64(d, "discard_latency_us_sum", io->discard_lat_us);
	if (hist != NULL) {
		/* Bucket 0: under 1 us; bucket b: [2^(b-1), 2^b) us; the last: 2^30 us and up. */
		rte_tel_data_start_array(hist, RTE_TEL_U64_VAL);
		for (unsigned int b = 0; b < VHD_LAT_BUCKETS; b++) {
			rte_tel_data_add_array_u64(hist, io->lat_hist[b]);
		}
		if (rte_tel_data_add_dict_container(d, "latency_histogram", hist, 0) != 0) {
			rte_tel_data_free(hist);
		}
	}
}

static void
tel_ctrlr(const struct vhd_ctrlr_info *info, void *arg)
{
	struct tel_ctx *t = arg;
	unsigned int n = vhd_vhost_queue_info(info->vh, t->qs, MAX_QUEUES);
	struct vhd_io_stats total = {0};
	uint64_t inflight = 0;
	char key[16];

	rte_tel_data_start_dict(t->d);
	if (!t->per_queue) {
		for (unsigned int i = 0; i < n; i++) {
			vhd_io_stats_add(&total, &t->qs[i].io);
			inflight += t->qs[i].inflight;
		}
		rte_tel_data_add_dict_string(t->d, "name", info->name);
		rte_tel_data_add_dict_string(t->d, "type", vhd_ctrlr_type_name(info->type));
		rte_tel_data_add_dict_string(t->d, "backend", info->backend);
		rte_tel_data_add_dict_int(t->d, "connected", info->connected);
		rte_tel_data_add_dict_int(t->d, "cpu", (int)info->cpu);
		add_io(t->d, &total, inflight);
		return;
	}
	{
		struct rte_tel_data *fields = rte_tel_data_alloc();

		if (fields != NULL) {
			rte_tel_data_start_array(fields, RTE_TEL_STRING_VAL);
			for (size_t f = 0; f < VHD_ARRAY_SIZE(g_queue_fields); f++) {
				rte_tel_data_add_array_string(fields, g_queue_fields[f]);
			}
			if (rte_tel_data_add_dict_container(t->d, "fields", fields, 0) != 0) {
				rte_tel_data_free(fields);
			}
		}
	}
	for (unsigned int i = 0; i < n && i < RTE_TEL_MAX_DICT_ENTRIES - 1; i++) {
		const struct vhd_queue_stats *q = &t->qs[i];
		const struct vhd_io_stats *io = &q->io;
		struct rte_tel_data *a;

		if (!q->started && io->reads + io->writes + io->flushes + io->discards +
					   io->write_zeroes + io->others == 0) {
			continue;
		}
		a = rte_tel_data_alloc();
		if (a == NULL) {
			t->rc = -ENOMEM;
			return;
		}
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		rte_tel_data_add_array_u64(a, io->reads);
		rte_tel_data_add_array_u64(a, io->writes);
		rte_tel_data_add_array_u64(a, io->flushes);
		rte_tel_data_add_array_u64(a, io->discards);
		rte_tel_data_add_array_u64(a, io->write_zeroes);
		rte_tel_data_add_array_u64(a, io->others);
		rte_tel_data_add_array_u64(a, io->read_bytes);
		rte_tel_data_add_array_u64(a, io->write_bytes);
		rte_tel_data_add_array_u64(a, io->discard_bytes);
		rte_tel_data_add_array_u64(a, io->errors);
		rte_tel_data_add_array_u64(a, q->inflight);
		rte_tel_data_add_array_u64(a, io->lat_sum_us);
		rte_tel_data_add_array_u64(a, q->started);
		rte_tel_data_add_array_u64(a, q->size);
		snprintf(key, sizeof(key), "q%u", q->index);
		if (rte_tel_data_add_dict_container(t->d, key, a, 0) != 0) {
			rte_tel_data_free(a);
		}
	}
}

static int
tel_stats_common(const char *params, struct rte_tel_data *d, bool per_queue)
{
	struct tel_ctx t = {.d = d, .per_queue = per_queue};

	if (params == NULL || params[0] == '\0') {
		return -EINVAL;
	}
	t.qs = calloc(MAX_QUEUES, sizeof(*t.qs));
	if (t.qs == NULL) {
		return -ENOMEM;
	}
	if (vhd_ctrl_visit_ctrlr(params, tel_ctrlr, &t) != 0) {
		t.rc = -ENOENT;
	}
	free(t.qs);
	return t.rc;
}

static int
tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	return tel_stats_common(params, d, false);
}

static int
tel_queues(const char *cmd, const char *params, struct rte_tel_data *d)
{
	return tel_stats_common(params, d, true);
}

static int
tel_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	rte_tel_data_start_dict(d);
	for (unsigned int i = 0; i < vhd_worker_count() && i < RTE_TEL_MAX_DICT_ENTRIES; i++) {
		struct rte_tel_data *a = rte_tel_data_alloc();
		struct vhd_worker_stats ws;
		char key[16];

		if (a == NULL) {
			return -ENOMEM;
		}
		vhd_worker_get_stats(i, &ws);
		/* [cpu, queues, controllers, rounds, busy_rounds] */
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		rte_tel_data_add_array_u64(a, ws.cpu);
		rte_tel_data_add_array_u64(a, ws.nqueues);
		rte_tel_data_add_array_u64(a, ws.load);
		rte_tel_data_add_array_u64(a, ws.rounds);
		rte_tel_data_add_array_u64(a, ws.busy_rounds);
		snprintf(key, sizeof(key), "worker%u", i);
		if (rte_tel_data_add_dict_container(d, key, a, 0) != 0) {
			rte_tel_data_free(a);
		}
	}
	return 0;
}

int
vhd_rpc_telemetry_init(void)
{
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
		{"/vhostd/controllers", tel_controllers, "Names of the vhostd controllers."},
		{"/vhostd/stats", tel_stats, "I/O totals of one controller. Parameter: name."},
		{"/vhostd/queues", tel_queues, "Per-queue I/O counters of one controller (see "
		 "'fields'). Parameter: name."},
		{"/vhostd/bdevs", tel_bdevs, "Names of the vhostd backends."},
		{"/vhostd/workers", tel_workers, "Per polling worker: [cpu, queues, controllers, "
		 "rounds, busy_rounds]."},
	};

	for (size_t i = 0; i < VHD_ARRAY_SIZE(cmds); i++) {
		int rc = rte_telemetry_register_cmd(cmds[i].cmd, cmds[i].fn, cmds[i].help);

		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}
