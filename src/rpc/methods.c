/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The JSON-RPC methods (docs/rpc.md). SPDK's names and parameters where SPDK has the same
 * operation; vhostd_* for the rest. Every creation and deletion goes through vhostd/ctrl.h,
 * like the config loader. Failures of the control plane are answered with code -errno and
 * its message; "does not exist" is -ENODEV (-19), as in SPDK.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "vhostd/ctrl.h"
#include "vhostd/rpc.h"
#include "vhostd/transport.h"
#include "vhostd/worker.h"

#define MAX_QUEUES 256            /* vrings per controller (DPDK's VHOST_MAX_VRING) */
#define RPC_DEFAULT_NUM_QUEUES 128 /* what DPDK answers for SPDK: any QEMU num-queues works */

static struct {
	char instance[VHD_NAME_MAX + 1];
	char rpc_socket[PATH_MAX];
	char config[PATH_MAX];
} g_info;

void
vhd_rpc_set_daemon_info(const struct vhd_rpc_daemon_info *info)
{
	(void)vhd_strlcpy(g_info.instance, info->instance != NULL ? info->instance : "",
			  sizeof(g_info.instance));
	(void)vhd_strlcpy(g_info.rpc_socket, info->rpc_socket != NULL ? info->rpc_socket : "",
			  sizeof(g_info.rpc_socket));
	(void)vhd_strlcpy(g_info.config, info->config != NULL ? info->config : "",
			  sizeof(g_info.config));
}

/* ---- helpers ---- */

#define DECODE(params, spec, out, seen, err)                                                  \
	do {                                                                                  \
		int decode_rc_ = vhd_jsonrpc_decode((params), (spec), VHD_ARRAY_SIZE(spec), (out), \
						    (seen), (err));                           \
		if (decode_rc_ != 0) {                                                        \
			return decode_rc_;                                                    \
		}                                                                             \
	} while (0)

static int
nomem(struct vhd_jsonrpc_error *err)
{
	return vhd_jsonrpc_fail(err, VHD_JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
}

/* A control-plane failure: code -errno with its message; a missing object is -ENODEV. */
static int
ctrl_fail(struct vhd_jsonrpc_error *err, int rc, const char *msg)
{
	if (rc == -ENOENT) {
		rc = -ENODEV;
	}
	return vhd_jsonrpc_fail(err, rc, "%s", msg);
}

static int
check_name(const char *param, const char *name, struct vhd_jsonrpc_error *err)
{
	char why[VHD_ERR_MAX];

	if (vhd_config_check_name(name, why, sizeof(why)) != 0) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter '%s': %s",
					param, why);
	}
	return 0;
}

static int
check_block_size(uint32_t bs, bool zero_ok, struct vhd_jsonrpc_error *err)
{
	if ((bs == 0 && zero_ok) ||
	    (bs >= 512 && bs <= 65536 && (bs & (bs - 1)) == 0)) {
		return 0;
	}
	return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'block_size': %u is "
				"not a power of two between 512 and 65536", bs);
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? vhd_json_string(s) : json_null();
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Type of an existing backend, or -ENOENT. */
struct type_probe {
	enum vhd_backend_type type;
};

static void
probe_type(const struct vhd_bdev_info *info, void *arg)
{
	((struct type_probe *)arg)->type = info->conf->type;
}

/* Is `name` a backend of `type`? 0, or an RPC error naming what it is. */
static int
require_type(const char *name, enum vhd_backend_type type, struct vhd_jsonrpc_error *err)
{
	struct type_probe p;

	if (vhd_ctrl_foreach_bdev(name, probe_type, &p) != 0) {
		return vhd_jsonrpc_fail(err, -ENODEV, "backend '%s' does not exist", name);
	}
	if (p.type != type) {
		return vhd_jsonrpc_fail(err, -ENODEV, "backend '%s' is a %s backend, not %s", name,
					vhd_backend_type_name(p.type),
					vhd_backend_type_name(type));
	}
	return 0;
}

static int
create_bdev(const struct vhd_backend_conf *conf, json_t **result, struct vhd_jsonrpc_error *err)
{
	char msg[VHD_ERR_MAX];
	int rc = vhd_ctrl_bdev_create(conf, msg, sizeof(msg));

	if (rc != 0) {
		/* Here ENOENT is the file, not a backend: keep it. */
		return vhd_jsonrpc_fail(err, rc, "%s", msg);
	}
	*result = json_string(conf->name);
	return *result != NULL ? 0 : nomem(err);
}

static int
delete_bdev(json_t *params, enum vhd_backend_type type, struct vhd_jsonrpc_error *err)
{
	struct {
		char name[VHD_NAME_MAX + 1];
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, true, __typeof__(p), name),
	};
	char msg[VHD_ERR_MAX];
	int rc;

	DECODE(params, spec, &p, NULL, err);
	rc = require_type(p.name, type, err);
	if (rc != 0) {
		return rc;
	}
	rc = vhd_ctrl_bdev_delete(p.name, msg, sizeof(msg));
	return rc != 0 ? ctrl_fail(err, rc, msg) : 0;
}

/* ---- generic ---- */

static int m_rpc_get_methods(void *ctx, json_t *params, json_t **result,
			     struct vhd_jsonrpc_error *err);

static int
m_spdk_get_version(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	static const struct vhd_jsonrpc_param spec[] = {};
	unsigned int major = 0, minor = 0, patch = 0;
	char version[64];

	DECODE(params, spec, NULL, NULL, err);
	sscanf(VHD_VERSION, "%u.%u.%u", &major, &minor, &patch);
	snprintf(version, sizeof(version), "vhostd v%s", VHD_VERSION);
	*result = json_pack("{s:s,s:{s:i,s:i,s:i,s:s}}", "version", version, "fields", "major",
			    major, "minor", minor, "patch", patch, "suffix", "");
	return *result != NULL ? 0 : nomem(err);
}

static int
m_vhostd_get_info(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	static const struct vhd_jsonrpc_param spec[] = {};
	char telemetry[128];

	DECODE(params, spec, NULL, NULL, err);
	snprintf(telemetry, sizeof(telemetry), "dpdk-telemetry.py -f %s", g_info.instance);
	*result = json_pack("{s:s,s:s,s:i,s:o,s:o,s:s}", "version", VHD_VERSION, "instance",
			    g_info.instance, "pid", (int)getpid(), "rpc_socket",
			    vhd_json_string(g_info.rpc_socket), "config",
			    vhd_json_string(g_info.config), "telemetry", telemetry);
	return *result != NULL ? 0 : nomem(err);
}

/* ---- backends ---- */

static int
m_bdev_aio_create(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct vhd_backend_conf conf = {.type = VHD_BACKEND_AIO};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, true, struct vhd_backend_conf, name),
		VHD_JP("filename", VHD_JP_STRING, true, struct vhd_backend_conf, path),
		VHD_JP("block_size", VHD_JP_U32, false, struct vhd_backend_conf, block_size),
		VHD_JP("readonly", VHD_JP_BOOL, false, struct vhd_backend_conf, readonly),
		/* Discard and write-zeroes are always on (fallocate on a helper thread). */
		VHD_JP_IGNORE("fallocate"),
		VHD_JP_NOT_SUPPORTED("uuid", NULL),
		VHD_JP_NOT_SUPPORTED("nowait", NULL),
	};
	int rc;

	DECODE(params, spec, &conf, NULL, err);
	rc = check_name("name", conf.name, err);
	if (rc == 0) {
		rc = check_block_size(conf.block_size, true, err);
	}
	if (rc != 0) {
		return rc;
	}
	if (conf.path[0] != '/') {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'filename': "
					"'%s' is not an absolute path", conf.path);
	}
	return create_bdev(&conf, result, err);
}

static int
m_bdev_aio_delete(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	return delete_bdev(params, VHD_BACKEND_AIO, err);
}

static int
resize_result(const char *name, const struct vhd_resize_result *res, json_t **result,
	      struct vhd_jsonrpc_error *err)
{
	*result = json_pack("{s:s,s:I,s:I,s:i,s:i}", "name", name, "old_size",
			    (json_int_t)res->old_bytes, "new_size", (json_int_t)res->new_bytes,
			    "notified", res->notified, "notify_failed", res->notify_failed);
	return *result != NULL ? 0 : nomem(err);
}

static int
m_bdev_aio_rescan(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct {
		char name[VHD_NAME_MAX + 1];
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, true, __typeof__(p), name),
	};
	struct vhd_resize_result res;
	char msg[VHD_ERR_MAX];
	int rc;

	DECODE(params, spec, &p, NULL, err);
	rc = require_type(p.name, VHD_BACKEND_AIO, err);
	if (rc != 0) {
		return rc;
	}
	rc = vhd_ctrl_bdev_resize(p.name, 0, &res, msg, sizeof(msg));
	/* SPDK answers true. */
	return rc != 0 ? ctrl_fail(err, rc, msg) : 0;
}

struct blocks_params {
	char name[VHD_NAME_MAX + 1];
	uint64_t num_blocks;
	uint32_t block_size;
	uint32_t physical_block_size;
	int64_t numa_id;
};

/* Common checks of malloc/null creation; fills conf. */
static int
blocks_conf(struct blocks_params *p, uint64_t seen, unsigned int pbs_bit,
	    struct vhd_backend_conf *conf, struct vhd_jsonrpc_error *err)
{
	int rc = check_name("name", p->name, err);

	if (rc == 0) {
		rc = check_block_size(p->block_size, false, err);
	}
	if (rc != 0) {
		return rc;
	}
	if ((seen & (1ull << pbs_bit)) && p->physical_block_size != 0 &&
	    p->physical_block_size != p->block_size) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter "
					"'physical_block_size': vhostd supports only the block "
					"size (%u)", p->block_size);
	}
	if (p->num_blocks == 0 || p->num_blocks > UINT64_MAX / p->block_size) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'num_blocks': "
					"%" PRIu64 " blocks of %u bytes is not a usable size",
					p->num_blocks, p->block_size);
	}
	(void)vhd_strlcpy(conf->name, p->name, sizeof(conf->name));
	conf->block_size = p->block_size;
	conf->size = p->num_blocks * p->block_size;
	return 0;
}

static void
name_taken(const struct vhd_bdev_info *info, void *arg)
{
	*(bool *)arg = true;
}

static int
m_bdev_malloc_create(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct vhd_backend_conf conf = {.type = VHD_BACKEND_MALLOC};
	struct blocks_params p = {.numa_id = -1};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, false, struct blocks_params, name),
		VHD_JP("num_blocks", VHD_JP_U64, true, struct blocks_params, num_blocks),
		VHD_JP("block_size", VHD_JP_U32, true, struct blocks_params, block_size),
		VHD_JP("physical_block_size", VHD_JP_U32, false, struct blocks_params,
		       physical_block_size),
		VHD_JP("numa_id", VHD_JP_I64, false, struct blocks_params, numa_id),
		VHD_JP_NOT_SUPPORTED("uuid", NULL),
		VHD_JP_NOT_SUPPORTED("optimal_io_boundary", NULL),
		VHD_JP_NOT_SUPPORTED("md_size", NULL),
		VHD_JP_NOT_SUPPORTED("md_interleave", NULL),
		VHD_JP_NOT_SUPPORTED("dif_type", NULL),
		VHD_JP_NOT_SUPPORTED("dif_is_head_of_md", NULL),
		VHD_JP_NOT_SUPPORTED("dif_pi_format", NULL),
	};
	uint64_t seen;
	int rc;

	DECODE(params, spec, &p, &seen, err);
	if (p.numa_id != -1) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'numa_id': "
					"vhostd does not place malloc backends (use -1)");
	}
	if (p.name[0] == '\0') {
		/* Like SPDK: the first free MallocN. */
		for (unsigned int i = 0;; i++) {
			bool taken = false;

			snprintf(p.name, sizeof(p.name), "Malloc%u", i);
			vhd_ctrl_foreach_bdev(p.name, name_taken, &taken);
			if (!taken) {
				break;
			}
		}
	}
	rc = blocks_conf(&p, seen, 3, &conf, err);
	if (rc != 0) {
		return rc;
	}
	return create_bdev(&conf, result, err);
}

static int
m_bdev_malloc_delete(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	return delete_bdev(params, VHD_BACKEND_MALLOC, err);
}

static int
m_bdev_null_create(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct vhd_backend_conf conf = {.type = VHD_BACKEND_NULL};
	struct blocks_params p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, true, struct blocks_params, name),
		VHD_JP("num_blocks", VHD_JP_U64, true, struct blocks_params, num_blocks),
		VHD_JP("block_size", VHD_JP_U32, true, struct blocks_params, block_size),
		VHD_JP("physical_block_size", VHD_JP_U32, false, struct blocks_params,
		       physical_block_size),
		VHD_JP_NOT_SUPPORTED("uuid", NULL),
		VHD_JP_NOT_SUPPORTED("md_size", NULL),
		VHD_JP_NOT_SUPPORTED("dif_type", NULL),
		VHD_JP_NOT_SUPPORTED("dif_is_head_of_md", NULL),
		VHD_JP_NOT_SUPPORTED("dif_pi_format", NULL),
		VHD_JP_NOT_SUPPORTED("preferred_write_granularity", NULL),
		VHD_JP_NOT_SUPPORTED("preferred_write_alignment", NULL),
		VHD_JP_NOT_SUPPORTED("optimal_write_size", NULL),
		VHD_JP_NOT_SUPPORTED("preferred_unmap_granularity", NULL),
		VHD_JP_NOT_SUPPORTED("preferred_unmap_alignment", NULL),
	};
	uint64_t seen;
	int rc;

	DECODE(params, spec, &p, &seen, err);
	rc = blocks_conf(&p, seen, 3, &conf, err);
	if (rc != 0) {
		return rc;
	}
	return create_bdev(&conf, result, err);
}

static int
m_bdev_null_delete(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	return delete_bdev(params, VHD_BACKEND_NULL, err);
}

static int
m_bdev_null_resize(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct {
		char name[VHD_NAME_MAX + 1];
		uint64_t new_size;
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, true, __typeof__(p), name),
		VHD_JP("new_size", VHD_JP_U64, true, __typeof__(p), new_size),
	};
	struct vhd_resize_result res;
	char msg[VHD_ERR_MAX];
	int rc;

	DECODE(params, spec, &p, NULL, err);
	rc = require_type(p.name, VHD_BACKEND_NULL, err);
	if (rc != 0) {
		return rc;
	}
	/* SPDK's unit here is MiB. */
	if (p.new_size == 0 || p.new_size > (UINT64_MAX >> 20)) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'new_size': "
					"%" PRIu64 " MiB is not a usable size", p.new_size);
	}
	rc = vhd_ctrl_bdev_resize(p.name, p.new_size << 20, &res, msg, sizeof(msg));
	return rc != 0 ? ctrl_fail(err, rc, msg) : 0;
}

static int
m_vhostd_bdev_resize(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct {
		char name[VHD_NAME_MAX + 1];
		uint64_t size;
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, true, __typeof__(p), name),
		VHD_JP("size", VHD_JP_SIZE, false, __typeof__(p), size),
	};
	struct vhd_resize_result res;
	struct type_probe t;
	char msg[VHD_ERR_MAX];
	uint64_t seen;
	int rc;

	DECODE(params, spec, &p, &seen, err);
	if (vhd_ctrl_foreach_bdev(p.name, probe_type, &t) != 0) {
		return vhd_jsonrpc_fail(err, -ENODEV, "backend '%s' does not exist", p.name);
	}
	if (t.type == VHD_BACKEND_AIO && (seen & 2)) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'size': an "
					"aio backend has the size of its file; grow the file, then "
					"call without 'size' to rescan");
	}
	if (t.type != VHD_BACKEND_AIO && !(seen & 2)) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "missing parameter 'size' "
					"(needed for a %s backend)", vhd_backend_type_name(t.type));
	}
	rc = vhd_ctrl_bdev_resize(p.name, p.size, &res, msg, sizeof(msg));
	if (rc != 0) {
		return ctrl_fail(err, rc, msg);
	}
	return resize_result(p.name, &res, result, err);
}

/* bdev_get_bdevs / save_config */

struct bdev_list {
	json_t *array;
	bool config_form;   /* save_config: {method, params} entries */
	bool failed;
};

static const char *
product_name(enum vhd_backend_type type)
{
	switch (type) {
	case VHD_BACKEND_AIO:
		return "AIO disk";
	case VHD_BACKEND_MALLOC:
		return "Malloc disk";
	case VHD_BACKEND_NULL:
		return "Null disk";
	case VHD_BACKEND_NVME:
		return "NVMe disk";
	}
	return "disk";
}

static json_t *
bdev_config_entry(const struct vhd_bdev_info *info)
{
	const struct vhd_backend_conf *c = info->conf;
	const struct vhd_bdev *b = info->bdev;

	switch (c->type) {
	case VHD_BACKEND_AIO:
		return json_pack("{s:s,s:{s:s,s:o,s:i,s:b}}", "method", "bdev_aio_create",
				 "params", "name", c->name, "filename", vhd_json_string(c->path),
				 "block_size", (int)b->block_size, "readonly", c->readonly);
	case VHD_BACKEND_MALLOC:
	case VHD_BACKEND_NULL:
		return json_pack("{s:s,s:{s:s,s:I,s:i}}", "method",
				 c->type == VHD_BACKEND_MALLOC ? "bdev_malloc_create" :
								 "bdev_null_create",
				 "params", "name", c->name, "num_blocks",
				 (json_int_t)vhd_bdev_num_blocks(b), "block_size",
				 (int)b->block_size);
	case VHD_BACKEND_NVME:
		break;
	}
	return NULL;
}

static json_t *
bdev_json(const struct vhd_bdev_info *info)
{
	const struct vhd_backend_conf *c = info->conf;
	const struct vhd_bdev *b = info->bdev;
	json_t *specific;

	if (c->type == VHD_BACKEND_AIO) {
		specific = json_pack("{s:{s:o,s:b,s:b,s:b}}", "aio", "filename",
				     vhd_json_string(c->path), "block_size_override",
				     c->block_size != 0, "readonly", c->readonly, "fallocate",
				     true);
	} else {
		specific = json_object();
	}
	return json_pack("{s:s,s:[],s:s,s:i,s:I,s:b,s:b,s:{s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b},"
			 "s:o,s:{s:s,s:i,s:o,s:b,s:b}}",
			 "name", c->name, "aliases", "product_name", product_name(c->type),
			 "block_size", (int)b->block_size, "num_blocks",
			 (json_int_t)vhd_bdev_num_blocks(b), "claimed", info->nusers > 0, "zoned",
			 false, "supported_io_types", "read", true, "write", !b->readonly,
			 "unmap", b->has_discard, "write_zeroes", b->has_write_zeroes, "flush",
			 true, "reset", false, "nvme_admin", false, "nvme_io", false,
			 "driver_specific", specific, "vhostd", "type",
			 vhd_backend_type_name(c->type), "users", info->nusers, "user",
			 str_or_null(info->user), "from_config", info->from_config,
			 "volatile_cache", b->volatile_cache);
}

static void
list_bdev(const struct vhd_bdev_info *info, void *arg)
{
	struct bdev_list *l = arg;
	json_t *j = l->config_form ? bdev_config_entry(info) : bdev_json(info);

	if (j == NULL || json_array_append_new(l->array, j) != 0) {
		l->failed = true;
	}
}

static int
m_bdev_get_bdevs(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct {
		char name[VHD_NAME_MAX + 1];
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, false, __typeof__(p), name),
		/* Backends appear synchronously: there is nothing to wait for. */
		VHD_JP_IGNORE("timeout"),
	};
	struct bdev_list l = {.array = json_array()};

	DECODE(params, spec, &p, NULL, err);
	if (l.array == NULL) {
		return nomem(err);
	}
	if (vhd_ctrl_foreach_bdev(p.name[0] != '\0' ? p.name : NULL, list_bdev, &l) != 0) {
		json_decref(l.array);
		return vhd_jsonrpc_fail(err, -ENODEV, "backend '%s' does not exist", p.name);
	}
	if (l.failed) {
		json_decref(l.array);
		return nomem(err);
	}
	*result = l.array;
	return 0;
}

/* ---- statistics ---- */

/* Totals of one controller, collected under the control lock. */
struct ctrlr_totals {
	char name[VHD_NAME_MAX + 1];
	char backend[VHD_NAME_MAX + 1];
	struct vhd_io_stats io;
	uint64_t inflight;
};

struct totals_list {
	struct ctrlr_totals *t;
	unsigned int n;
	struct vhd_queue_stats *qs;   /* scratch, MAX_QUEUES */
	bool failed;
};

static void
collect_totals(const struct vhd_ctrlr_info *info, void *arg)
{
	struct totals_list *l = arg;
	struct ctrlr_totals *t = realloc(l->t, (l->n + 1) * sizeof(*t));
	unsigned int n;

	if (t == NULL) {
		l->failed = true;
		return;
	}
	l->t = t;
	t = &l->t[l->n++];
	memset(t, 0, sizeof(*t));
	(void)vhd_strlcpy(t->name, info->name, sizeof(t->name));
	(void)vhd_strlcpy(t->backend, info->backend, sizeof(t->backend));
	n = vhd_vhost_queue_info(info->vh, l->qs, MAX_QUEUES);
	for (unsigned int i = 0; i < n; i++) {
		vhd_io_stats_add(&t->io, &l->qs[i].io);
		t->inflight += l->qs[i].inflight;
	}
}

struct bdev_names {
	char (*names)[VHD_NAME_MAX + 1];
	unsigned int n;
	bool failed;
};

static void
names_add(struct bdev_names *l, const char *name)
{
	char (*names)[VHD_NAME_MAX + 1] = realloc(l->names, (l->n + 1) * sizeof(*names));

	if (names == NULL) {
		l->failed = true;
		return;
	}
	l->names = names;
	(void)vhd_strlcpy(names[l->n++], name, sizeof(names[0]));
}

static void
collect_bdev_name(const struct vhd_bdev_info *info, void *arg)
{
	names_add(arg, info->conf->name);
}

static json_t *
iostat_json(const char *name, const struct totals_list *tl)
{
	struct vhd_io_stats io = {0};
	uint64_t inflight = 0;

	for (unsigned int i = 0; i < tl->n; i++) {
		if (strcmp(tl->t[i].backend, name) == 0) {
			vhd_io_stats_add(&io, &tl->t[i].io);
			inflight += tl->t[i].inflight;
		}
	}
	/* Ticks are microseconds (tick_rate 1000000). */
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
			 "name", name, "bytes_read", (json_int_t)io.read_bytes, "num_read_ops",
			 (json_int_t)io.reads, "bytes_written", (json_int_t)io.write_bytes,
			 "num_write_ops", (json_int_t)io.writes, "bytes_unmapped",
			 (json_int_t)io.discard_bytes, "num_unmap_ops", (json_int_t)io.discards,
			 "read_latency_ticks", (json_int_t)io.read_lat_us, "write_latency_ticks",
			 (json_int_t)io.write_lat_us, "unmap_latency_ticks",
			 (json_int_t)io.discard_lat_us, "num_flush_ops", (json_int_t)io.flushes,
			 "num_write_zeroes_ops", (json_int_t)io.write_zeroes, "io_error",
			 (json_int_t)io.errors, "queue_depth", (json_int_t)inflight);
}

static int
collect_all_totals(struct totals_list *tl)
{
	tl->qs = calloc(MAX_QUEUES, sizeof(*tl->qs));
	if (tl->qs == NULL) {
		return -ENOMEM;
	}
	vhd_ctrl_foreach_ctrlr(collect_totals, tl);
	free(tl->qs);
	tl->qs = NULL;
	return tl->failed ? -ENOMEM : 0;
}

static int
m_bdev_get_iostat(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct {
		char name[VHD_NAME_MAX + 1];
		json_t *names;
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, false, __typeof__(p), name),
		VHD_JP("names", VHD_JP_JSON, false, __typeof__(p), names),
		VHD_JP_NOT_SUPPORTED("per_channel", NULL),
		VHD_JP_NOT_SUPPORTED("reset_mode", "none"),
	};
	struct totals_list tl = {0};
	struct bdev_names bn = {0};
	json_t *bdevs = NULL;
	int rc = 0;

	DECODE(params, spec, &p, NULL, err);
	if (p.names != NULL && !json_is_array(p.names)) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'names': "
					"expected an array of backend names");
	}
	/* Which backends: `name` (older SPDK), `names` (newer) or all. */
	if (p.name[0] != '\0') {
		names_add(&bn, p.name);
	}
	for (size_t i = 0; p.names != NULL && i < json_array_size(p.names); i++) {
		json_t *n = json_array_get(p.names, i);

		if (!json_is_string(n) || json_string_length(n) > VHD_NAME_MAX) {
			free(bn.names);
			return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS,
						"parameter 'names': item %zu is not a backend "
						"name", i);
		}
		names_add(&bn, json_string_value(n));
	}
	if (p.name[0] == '\0' && p.names == NULL) {
		vhd_ctrl_foreach_bdev(NULL, collect_bdev_name, &bn);
	}
	for (unsigned int i = 0; i < bn.n && rc == 0; i++) {
		bool taken = false;

		vhd_ctrl_foreach_bdev(bn.names[i], name_taken, &taken);
		if (!taken) {
			rc = vhd_jsonrpc_fail(err, -ENODEV, "backend '%s' does not exist",
					      bn.names[i]);
		}
	}
	if (rc == 0 && (bn.failed || collect_all_totals(&tl) != 0 ||
			(bdevs = json_array()) == NULL)) {
		rc = nomem(err);
	}
	for (unsigned int i = 0; i < bn.n && rc == 0; i++) {
		if (json_array_append_new(bdevs, iostat_json(bn.names[i], &tl)) != 0) {
			rc = nomem(err);
		}
	}
	if (rc == 0) {
		*result = json_pack("{s:I,s:I,s:o}", "tick_rate", (json_int_t)1000000, "ticks",
				    (json_int_t)now_us(), "bdevs", bdevs);
		bdevs = NULL;
		if (*result == NULL) {
			rc = nomem(err);
		}
	}
	json_decref(bdevs);
	free(bn.names);
	free(tl.t);
	return rc;
}

static json_t *
histogram_json(const uint64_t *hist)
{
	json_t *a = json_array();

	for (unsigned int b = 0; a != NULL && b < VHD_LAT_BUCKETS; b++) {
		json_t *e;

		if (hist[b] == 0) {
			continue;
		}
		/* Bucket 0: under 1 us; bucket b: [2^(b-1), 2^b) us; the last: 2^30 us and up. */
		e = json_pack("{s:I,s:o,s:I}", "from_us",
			      (json_int_t)(b == 0 ? 0 : 1ull << (b - 1)), "below_us",
			      b + 1 < VHD_LAT_BUCKETS ? json_integer((json_int_t)(1ull << b)) :
							json_null(),
			      "count", (json_int_t)hist[b]);
		if (e == NULL || json_array_append_new(a, e) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
io_json(const struct vhd_io_stats *io, uint64_t inflight)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}",
			 "reads", (json_int_t)io->reads, "writes", (json_int_t)io->writes,
			 "flushes", (json_int_t)io->flushes, "discards", (json_int_t)io->discards,
			 "write_zeroes", (json_int_t)io->write_zeroes, "others",
			 (json_int_t)io->others, "read_bytes", (json_int_t)io->read_bytes,
			 "write_bytes", (json_int_t)io->write_bytes, "discard_bytes",
			 (json_int_t)io->discard_bytes, "errors", (json_int_t)io->errors,
			 "in_flight", (json_int_t)inflight, "latency_us_sum",
			 (json_int_t)io->lat_sum_us, "read_latency_us_sum",
			 (json_int_t)io->read_lat_us, "write_latency_us_sum",
			 (json_int_t)io->write_lat_us, "discard_latency_us_sum",
			 (json_int_t)io->discard_lat_us, "latency_histogram",
			 histogram_json(io->lat_hist));
}

struct stats_ctx {
	json_t *array;
	struct vhd_queue_stats *qs;
	bool failed;
};

static void
ctrlr_stats(const struct vhd_ctrlr_info *info, void *arg)
{
	struct stats_ctx *s = arg;
	unsigned int n = vhd_vhost_queue_info(info->vh, s->qs, MAX_QUEUES);
	struct vhd_io_stats total = {0};
	uint64_t inflight = 0;
	json_t *queues = json_array(), *c;

	for (unsigned int i = 0; queues != NULL && i < n; i++) {
		const struct vhd_queue_stats *q = &s->qs[i];
		json_t *j;

		vhd_io_stats_add(&total, &q->io);
		inflight += q->inflight;
		/* Queues never used are left out (an RPC controller accepts 128). */
		if (!q->started && q->io.reads + q->io.writes + q->io.flushes + q->io.discards +
					   q->io.write_zeroes + q->io.others == 0) {
			continue;
		}
		j = json_pack("{s:i,s:b,s:i,s:o}", "index", q->index, "started", q->started,
			      "size", q->size, "io", io_json(&q->io, q->inflight));
		if (j == NULL || json_array_append_new(queues, j) != 0) {
			s->failed = true;
		}
	}
	c = json_pack("{s:s,s:s,s:s,s:b,s:i,s:o,s:o}", "name", info->name, "type",
		      vhd_ctrlr_type_name(info->type), "backend", info->backend, "connected",
		      info->connected, "cpu", info->cpu, "total", io_json(&total, inflight),
		      "queues", queues);
	if (c == NULL || json_array_append_new(s->array, c) != 0) {
		s->failed = true;
	}
}

static json_t *
workers_json(void)
{
	json_t *a = json_array();

	for (unsigned int i = 0; a != NULL && i < vhd_worker_count(); i++) {
		struct vhd_worker_stats ws;
		json_t *w;

		vhd_worker_get_stats(i, &ws);
		w = json_pack("{s:i,s:i,s:i,s:I,s:I}", "cpu", ws.cpu, "queues", ws.nqueues,
			      "controllers", ws.load, "rounds", (json_int_t)ws.rounds,
			      "busy_rounds", (json_int_t)ws.busy_rounds);
		if (w == NULL || json_array_append_new(a, w) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int
m_vhostd_get_stats(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	struct {
		char name[VHD_NAME_MAX + 1];
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, false, __typeof__(p), name),
	};
	struct stats_ctx s = {.array = json_array()};
	int rc = 0;

	DECODE(params, spec, &p, NULL, err);
	s.qs = calloc(MAX_QUEUES, sizeof(*s.qs));
	if (s.array == NULL || s.qs == NULL) {
		json_decref(s.array);
		free(s.qs);
		return nomem(err);
	}
	if (p.name[0] != '\0') {
		if (vhd_ctrl_visit_ctrlr(p.name, ctrlr_stats, &s) != 0) {
			rc = vhd_jsonrpc_fail(err, -ENODEV, "controller '%s' does not exist",
					      p.name);
		}
	} else {
		vhd_ctrl_foreach_ctrlr(ctrlr_stats, &s);
	}
	free(s.qs);
	if (rc == 0 && s.failed) {
		rc = nomem(err);
	}
	if (rc != 0) {
		json_decref(s.array);
		return rc;
	}
	*result = json_pack("{s:I,s:o,s:o}", "time_us", (json_int_t)now_us(), "controllers",
			    s.array, "workers", workers_json());
	return *result != NULL ? 0 : nomem(err);
}

/* ---- controllers ---- */

/*
 * SPDK's cpumask syntax: a hex mask with or without 0x ("0x3", "3"), or a list in brackets
 * ("[0-1,4]"). Every CPU must be a polling core.
 */
static int
parse_cpumask(const char *s, struct vhd_cpumask *mask, struct vhd_jsonrpc_error *err)
{
	struct vhd_cpumask cores, outside;
	char buf[512], why[256], list[256];
	size_t n = strlen(s);
	int rc;

	if (n > 0 && s[0] == '[' && s[n - 1] == ']') {
		snprintf(buf, sizeof(buf), "%.*s", (int)(n - 2), s + 1);
	} else if (n > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		snprintf(buf, sizeof(buf), "%s", s);
	} else {
		snprintf(buf, sizeof(buf), "0x%s", s);
	}
	rc = vhd_cpumask_parse(mask, buf, why, sizeof(why));
	if (rc != 0) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'cpumask': "
					"'%s': %s (a hex mask such as 0x3, or a list such as "
					"[0-1])", s, why);
	}
	vhd_ctrl_get_cores(&cores);
	if (!vhd_cpumask_subset(mask, &cores)) {
		memset(&outside, 0, sizeof(outside));
		for (int c = vhd_cpumask_next(mask, 0); c >= 0;
		     c = vhd_cpumask_next(mask, (unsigned int)c + 1)) {
			if (!vhd_cpumask_test(&cores, (unsigned int)c)) {
				vhd_cpumask_set(&outside, (unsigned int)c);
			}
		}
		vhd_cpumask_format_list(&outside, why, sizeof(why));
		vhd_cpumask_format_list(&cores, list, sizeof(list));
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'cpumask': "
					"CPU %s not polled by vhostd (cores: %s)", why, list);
	}
	return 0;
}

static int
m_vhost_create_blk_controller(void *ctx, json_t *params, json_t **result,
			      struct vhd_jsonrpc_error *err)
{
	struct {
		char ctrlr[VHD_NAME_MAX + 1];
		char dev_name[VHD_NAME_MAX + 1];
		char cpumask[256];
		bool readonly;
		uint32_t num_queues;
		char serial[64];
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("ctrlr", VHD_JP_STRING, true, __typeof__(p), ctrlr),
		VHD_JP("dev_name", VHD_JP_STRING, true, __typeof__(p), dev_name),
		VHD_JP("cpumask", VHD_JP_STRING, false, __typeof__(p), cpumask),
		VHD_JP("readonly", VHD_JP_BOOL, false, __typeof__(p), readonly),
		VHD_JP("num_queues", VHD_JP_U32, false, __typeof__(p), num_queues),
		VHD_JP("serial", VHD_JP_STRING, false, __typeof__(p), serial),
		VHD_JP_NOT_SUPPORTED("packed_ring", NULL),
		VHD_JP_NOT_SUPPORTED("packed_ring_recovery", NULL),
		VHD_JP_NOT_SUPPORTED("transport", "vhost_user_blk"),
	};
	struct vhd_ctrlr_conf conf;
	char msg[VHD_ERR_MAX];
	uint64_t seen;
	int rc;

	DECODE(params, spec, &p, &seen, err);
	rc = check_name("ctrlr", p.ctrlr, err);
	if (rc == 0) {
		rc = check_name("dev_name", p.dev_name, err);
	}
	if (rc != 0) {
		return rc;
	}
	vhd_ctrl_ctrlr_conf_init(&conf, p.ctrlr, VHD_CTRLR_BLK);
	conf.num_queues = RPC_DEFAULT_NUM_QUEUES;
	if (seen & (1u << 4)) {
		if (p.num_queues < 1 || p.num_queues > 128) {
			return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter "
						"'num_queues': %u is out of range (1..128)",
						p.num_queues);
		}
		conf.num_queues = (uint16_t)p.num_queues;
	}
	if (seen & (1u << 5)) {
		if (vhd_config_check_serial(p.serial, msg, sizeof(msg)) != 0) {
			return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter "
						"'serial': %s", msg);
		}
		(void)vhd_strlcpy(conf.serial, p.serial, sizeof(conf.serial));
	}
	if ((seen & (1u << 2)) && p.cpumask[0] != '\0') {
		rc = parse_cpumask(p.cpumask, &conf.cpumask, err);
		if (rc != 0) {
			return rc;
		}
	}
	(void)vhd_strlcpy(conf.backend, p.dev_name, sizeof(conf.backend));
	conf.readonly = p.readonly;
	rc = vhd_ctrl_ctrlr_create(&conf, msg, sizeof(msg));
	return rc != 0 ? ctrl_fail(err, rc, msg) : 0;
}

struct delete_params {
	char ctrlr[VHD_NAME_MAX + 1];
	bool force;
};

static int
delete_ctrlr(const struct delete_params *p, struct vhd_jsonrpc_error *err)
{
	char msg[VHD_ERR_MAX];
	int rc = vhd_ctrl_ctrlr_delete(p->ctrlr, p->force, msg, sizeof(msg));

	return rc != 0 ? ctrl_fail(err, rc, msg) : 0;
}

static int
m_vhost_delete_controller(void *ctx, json_t *params, json_t **result,
			  struct vhd_jsonrpc_error *err)
{
	/* SPDK's parameters: no `force` (refused as unknown; see vhostd_delete_controller). */
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("ctrlr", VHD_JP_STRING, true, struct delete_params, ctrlr),
	};
	struct delete_params p = {0};

	DECODE(params, spec, &p, NULL, err);
	return delete_ctrlr(&p, err);
}

static int
m_vhostd_delete_controller(void *ctx, json_t *params, json_t **result,
			   struct vhd_jsonrpc_error *err)
{
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("ctrlr", VHD_JP_STRING, true, struct delete_params, ctrlr),
		VHD_JP("force", VHD_JP_BOOL, false, struct delete_params, force),
	};
	struct delete_params p = {0};

	DECODE(params, spec, &p, NULL, err);
	return delete_ctrlr(&p, err);
}

struct ctrlr_list {
	json_t *array;
	bool config_form;
	bool failed;
};

static json_t *
ctrlr_config_entry(const struct vhd_ctrlr_info *info)
{
	char mask[512];

	if (info->type != VHD_CTRLR_BLK) {
		return NULL;
	}
	vhd_cpumask_format_hex(&info->conf->cpumask, mask, sizeof(mask));
	return json_pack("{s:s,s:{s:s,s:s,s:s,s:b,s:s,s:i,s:s}}", "method",
			 "vhost_create_blk_controller", "params", "ctrlr", info->name, "dev_name",
			 info->backend, "cpumask", mask, "readonly", info->conf->readonly,
			 "transport", "vhost_user_blk", "num_queues", info->num_queues, "serial",
			 info->conf->serial);
}

static json_t *
ctrlr_json(const struct vhd_ctrlr_info *info)
{
	json_t *specific, *sessions;
	char mask[512];

	vhd_cpumask_format_hex(&info->conf->cpumask, mask, sizeof(mask));
	if (info->type == VHD_CTRLR_BLK) {
		specific = json_pack("{s:{s:b,s:s,s:s}}", "block", "readonly",
				     info->conf->readonly, "bdev", info->backend, "transport",
				     "vhost_user_blk");
	} else {
		specific = json_object();
	}
	sessions = info->connected ? json_pack("[{s:b}]", "connected", true) : json_array();
	return json_pack("{s:s,s:s,s:i,s:i,s:o,s:o,s:o,s:{s:s,s:i,s:i,s:s,s:b,s:b}}",
			 "ctrlr", info->name, "cpumask", mask, "delay_base_us", 0,
			 "iops_threshold", 0, "socket", vhd_json_string(info->socket), "sessions",
			 sessions, "backend_specific", specific, "vhostd", "type",
			 vhd_ctrlr_type_name(info->type), "cpu", info->cpu, "num_queues",
			 info->num_queues, "serial", info->conf->serial, "connected",
			 info->connected, "from_config", info->from_config);
}

static void
list_ctrlr(const struct vhd_ctrlr_info *info, void *arg)
{
	struct ctrlr_list *l = arg;
	json_t *j = l->config_form ? ctrlr_config_entry(info) : ctrlr_json(info);

	if (j == NULL) {
		/* save_config: only blk controllers have an entry for now. */
		l->failed |= !l->config_form;
		return;
	}
	if (json_array_append_new(l->array, j) != 0) {
		l->failed = true;
	}
}

static int
m_vhost_get_controllers(void *ctx, json_t *params, json_t **result,
			struct vhd_jsonrpc_error *err)
{
	struct {
		char name[VHD_NAME_MAX + 1];
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, false, __typeof__(p), name),
	};
	struct ctrlr_list l = {.array = json_array()};

	DECODE(params, spec, &p, NULL, err);
	if (l.array == NULL) {
		return nomem(err);
	}
	if (p.name[0] != '\0') {
		if (vhd_ctrl_visit_ctrlr(p.name, list_ctrlr, &l) != 0) {
			json_decref(l.array);
			return vhd_jsonrpc_fail(err, -ENODEV, "controller '%s' does not exist",
						p.name);
		}
	} else {
		vhd_ctrl_foreach_ctrlr(list_ctrlr, &l);
	}
	if (l.failed) {
		json_decref(l.array);
		return nomem(err);
	}
	*result = l.array;
	return 0;
}

/* ---- configuration ---- */

static json_t *
subsystem_config(const char *name)
{
	if (strcmp(name, "bdev") == 0) {
		struct bdev_list l = {.array = json_array(), .config_form = true};

		if (l.array != NULL) {
			vhd_ctrl_foreach_bdev(NULL, list_bdev, &l);
		}
		if (l.failed) {
			json_decref(l.array);
			return NULL;
		}
		return l.array;
	}
	if (strcmp(name, "vhost_blk") == 0) {
		struct ctrlr_list l = {.array = json_array(), .config_form = true};

		if (l.array != NULL) {
			vhd_ctrl_foreach_ctrlr(list_ctrlr, &l);
		}
		if (l.failed) {
			json_decref(l.array);
			return NULL;
		}
		return l.array;
	}
	return NULL;
}

static int
m_framework_get_subsystems(void *ctx, json_t *params, json_t **result,
			   struct vhd_jsonrpc_error *err)
{
	static const struct vhd_jsonrpc_param spec[] = {};

	DECODE(params, spec, NULL, NULL, err);
	*result = json_pack("[{s:s,s:[]},{s:s,s:[s]}]", "subsystem", "bdev", "depends_on",
			    "subsystem", "vhost_blk", "depends_on", "bdev");
	return *result != NULL ? 0 : nomem(err);
}

static int
m_framework_get_config(void *ctx, json_t *params, json_t **result,
		       struct vhd_jsonrpc_error *err)
{
	struct {
		char name[64];
	} p = {0};
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP("name", VHD_JP_STRING, true, __typeof__(p), name),
		/* vhostd never batches: the output is the same either way. */
		VHD_JP_IGNORE("with_batches"),
	};

	DECODE(params, spec, &p, NULL, err);
	if (strcmp(p.name, "bdev") != 0 && strcmp(p.name, "vhost_blk") != 0) {
		return vhd_jsonrpc_fail(err, VHD_JSONRPC_INVALID_PARAMS, "parameter 'name': no "
					"subsystem '%s' (vhostd has bdev and vhost_blk)", p.name);
	}
	*result = subsystem_config(p.name);
	return *result != NULL ? 0 : nomem(err);
}

static int
m_save_config(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	static const struct vhd_jsonrpc_param spec[] = {};

	DECODE(params, spec, NULL, NULL, err);
	*result = json_pack("{s:[{s:s,s:o},{s:s,s:o}]}", "subsystems", "subsystem", "bdev",
			    "config", subsystem_config("bdev"), "subsystem", "vhost_blk",
			    "config", subsystem_config("vhost_blk"));
	return *result != NULL ? 0 : nomem(err);
}

static int
m_vhostd_reload(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	static const struct vhd_jsonrpc_param spec[] = {};
	struct vhd_reload_report rep;
	json_t *items;
	int rc;

	DECODE(params, spec, NULL, NULL, err);
	rc = vhd_ctrl_reload(&rep);
	if (rc != 0) {
		if (rep.diag != NULL) {
			vhd_jsonrpc_fail(err, rc, "%s: the configuration was not reloaded; nothing "
					 "changed:\n%s", g_info.config, rep.diag);
		} else {
			vhd_jsonrpc_fail(err, rc, "%s: cannot reload: %s", g_info.config,
					 strerror(-rc));
		}
		vhd_reload_report_free(&rep);
		return rc;
	}
	items = json_array();
	for (unsigned int i = 0; items != NULL && i < rep.nitems; i++) {
		const struct vhd_reload_item *it = &rep.items[i];

		if (json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:s}", "kind",
							   vhd_reload_kind_name(it->kind), "name",
							   it->name, "action",
							   vhd_reload_action_name(it->action),
							   "message", it->message)) != 0) {
			json_decref(items);
			items = NULL;
		}
	}
	*result = json_pack("{s:b,s:i,s:o}", "ok", rep.nrefused == 0, "refused", rep.nrefused,
			    "items", items);
	vhd_reload_report_free(&rep);
	return *result != NULL ? 0 : nomem(err);
}

/* ---- table ---- */

static const struct vhd_jsonrpc_method g_methods[] = {
	{"rpc_get_methods", m_rpc_get_methods},
	{"spdk_get_version", m_spdk_get_version},
	{"framework_get_subsystems", m_framework_get_subsystems},
	{"framework_get_config", m_framework_get_config},
	{"save_config", m_save_config},
	{"bdev_aio_create", m_bdev_aio_create},
	{"bdev_aio_delete", m_bdev_aio_delete},
	{"bdev_aio_rescan", m_bdev_aio_rescan},
	{"bdev_malloc_create", m_bdev_malloc_create},
	{"bdev_malloc_delete", m_bdev_malloc_delete},
	{"bdev_null_create", m_bdev_null_create},
	{"bdev_null_delete", m_bdev_null_delete},
	{"bdev_null_resize", m_bdev_null_resize},
	{"bdev_get_bdevs", m_bdev_get_bdevs},
	{"bdev_get_iostat", m_bdev_get_iostat},
	{"vhost_create_blk_controller", m_vhost_create_blk_controller},
	{"vhost_delete_controller", m_vhost_delete_controller},
	{"vhost_get_controllers", m_vhost_get_controllers},
	{"vhostd_get_info", m_vhostd_get_info},
	{"vhostd_bdev_resize", m_vhostd_bdev_resize},
	{"vhostd_delete_controller", m_vhostd_delete_controller},
	{"vhostd_get_stats", m_vhostd_get_stats},
	{"vhostd_reload", m_vhostd_reload},
};

static const struct vhd_jsonrpc_dispatcher g_dispatcher = {
	.methods = g_methods,
	.nmethods = VHD_ARRAY_SIZE(g_methods),
};

static int
m_rpc_get_methods(void *ctx, json_t *params, json_t **result, struct vhd_jsonrpc_error *err)
{
	/* Every method can be called at any time, and there are no aliases. */
	static const struct vhd_jsonrpc_param spec[] = {
		VHD_JP_IGNORE("current"),
		VHD_JP_IGNORE("include_aliases"),
	};
	json_t *a;

	DECODE(params, spec, NULL, NULL, err);
	a = json_array();
	for (size_t i = 0; a != NULL && i < VHD_ARRAY_SIZE(g_methods); i++) {
		if (json_array_append_new(a, json_string(g_methods[i].name)) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	*result = a;
	return a != NULL ? 0 : nomem(err);
}

const struct vhd_jsonrpc_dispatcher *
vhd_rpc_dispatcher(void)
{
	return &g_dispatcher;
}
