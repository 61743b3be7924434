/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The key tables the config decoder enforces (see config_internal.h). They mirror
 * config/schema.yaml, which also carries the defaults and descriptions for people; a unit
 * test checks that both list the same keys with the same kinds, types, required flags and
 * ranges. Defaults live in config.c next to the code that applies them.
 */
#include "config_internal.h"

#define BIT(t) (1u << (t))
#define AIO BIT(VHD_BACKEND_AIO)
#define MALLOC BIT(VHD_BACKEND_MALLOC)
#define NUL BIT(VHD_BACKEND_NULL)
#define NVME BIT(VHD_BACKEND_NVME)
#define BLK BIT(VHD_CTRLR_BLK)
#define SCSI BIT(VHD_CTRLR_SCSI)

static const char *const g_backend_types[] = {
	[VHD_BACKEND_AIO] = "aio",
	[VHD_BACKEND_MALLOC] = "malloc",
	[VHD_BACKEND_NULL] = "null",
	[VHD_BACKEND_NVME] = "nvme",
};

static const char *const g_ctrlr_types[] = {
	[VHD_CTRLR_BLK] = "blk",
	[VHD_CTRLR_SCSI] = "scsi",
};

static const struct vhd_config_key g_lun_keys[] = {
	[VHD_LUN_LUN] = {"lun", VHD_KIND_INTEGER, 0, true, 0, VHD_SCSI_MAX_LUNS - 1, NULL},
	[VHD_LUN_BACKEND] = {"backend", VHD_KIND_NAME, 0, true, 0, 0, NULL},
	[VHD_LUN_READONLY] = {"readonly", VHD_KIND_BOOLEAN, 0, false, 0, 0, NULL},
};

const struct vhd_config_section vhd_config_lun_section = {
	"controllers[].targets[].luns[]", g_lun_keys, VHD_LUN_NKEYS, NULL, 0,
};

static const struct vhd_config_key g_target_keys[] = {
	[VHD_TARGET_ID] = {"id", VHD_KIND_INTEGER, 0, true, 0, VHD_SCSI_MAX_TARGETS - 1, NULL},
	[VHD_TARGET_LUNS] = {"luns", VHD_KIND_SEQUENCE, 0, true, 0, 0, &vhd_config_lun_section},
};

const struct vhd_config_section vhd_config_target_section = {
	"controllers[].targets[]", g_target_keys, VHD_TARGET_NKEYS, NULL, 0,
};

static const struct vhd_config_key g_ctrlr_keys[] = {
	[VHD_CTRLR_NAME] = {"name", VHD_KIND_NAME, 0, true, 0, 0, NULL},
	[VHD_CTRLR_TYPE] = {"type", VHD_KIND_ENUM, 0, true, 0, 0, NULL},
	[VHD_CTRLR_CPUMASK] = {"cpumask", VHD_KIND_CPUSET, 0, false, 0, 0, NULL},
	[VHD_CTRLR_NUM_QUEUES] = {"num_queues", VHD_KIND_INTEGER, 0, false, 1, 128, NULL},
	[VHD_CTRLR_BACKEND] = {"backend", VHD_KIND_NAME, BLK, true, 0, 0, NULL},
	[VHD_CTRLR_READONLY] = {"readonly", VHD_KIND_BOOLEAN, BLK, false, 0, 0, NULL},
	[VHD_CTRLR_SERIAL] = {"serial", VHD_KIND_STRING, BLK, false, 0, 0, NULL},
	[VHD_CTRLR_TARGETS] = {"targets", VHD_KIND_SEQUENCE, SCSI, true, 0, 0,
			       &vhd_config_target_section},
};

const struct vhd_config_section vhd_config_ctrlr_section = {
	"controllers[]", g_ctrlr_keys, VHD_CTRLR_NKEYS, g_ctrlr_types,
	VHD_ARRAY_SIZE(g_ctrlr_types),
};

static const struct vhd_config_key g_backend_keys[] = {
	[VHD_BDEV_NAME] = {"name", VHD_KIND_NAME, 0, true, 0, 0, NULL},
	[VHD_BDEV_TYPE] = {"type", VHD_KIND_ENUM, 0, true, 0, 0, NULL},
	[VHD_BDEV_PATH] = {"path", VHD_KIND_PATH, AIO, true, 0, 0, NULL},
	[VHD_BDEV_SIZE] = {"size", VHD_KIND_SIZE, MALLOC | NUL, true, 0, 0, NULL},
	[VHD_BDEV_BLOCK_SIZE] = {"block_size", VHD_KIND_INTEGER, AIO | MALLOC | NUL, false,
				 512, 65536, NULL},
	[VHD_BDEV_READONLY] = {"readonly", VHD_KIND_BOOLEAN, AIO, false, 0, 0, NULL},
	[VHD_BDEV_PCI] = {"pci", VHD_KIND_PCI, NVME, true, 0, 0, NULL},
	/* NVMe namespace ids run from 1 to 0xfffffffe; 0xffffffff means "all namespaces". */
	[VHD_BDEV_NAMESPACE] = {"namespace", VHD_KIND_INTEGER, NVME, false, 1, 0xfffffffeLL, NULL},
};

const struct vhd_config_section vhd_config_backend_section = {
	"backends[]", g_backend_keys, VHD_BDEV_NKEYS, g_backend_types,
	VHD_ARRAY_SIZE(g_backend_types),
};

static const struct vhd_config_key g_kata_keys[] = {
	[VHD_KATA_STORE] = {"store", VHD_KIND_PATH, 0, true, 0, 0, NULL},
};

const struct vhd_config_section vhd_config_kata_section = {
	"kata", g_kata_keys, VHD_KATA_NKEYS, NULL, 0,
};

static const struct vhd_config_key g_root_keys[] = {
	[VHD_ROOT_CORES] = {"cores", VHD_KIND_CPUSET, 0, false, 0, 0, NULL},
	[VHD_ROOT_HUGEMEM] = {"hugemem", VHD_KIND_INTEGER, 0, false, 16, 1048576, NULL},
	[VHD_ROOT_SOCKET_DIR] = {"socket_dir", VHD_KIND_PATH, 0, false, 0, 0, NULL},
	[VHD_ROOT_LOG_LEVEL] = {"log_level", VHD_KIND_ENUM, 0, false, 0, 0, NULL},
	[VHD_ROOT_IDLE_SLEEP_US] = {"idle_sleep_us", VHD_KIND_INTEGER, 0, false, 0, 100000, NULL},
	[VHD_ROOT_RPC_SOCKET] = {"rpc_socket", VHD_KIND_PATH, 0, false, 0, 0, NULL},
	[VHD_ROOT_INSTANCE] = {"instance", VHD_KIND_NAME, 0, false, 0, 0, NULL},
	[VHD_ROOT_KATA] = {"kata", VHD_KIND_MAPPING, 0, false, 0, 0, &vhd_config_kata_section},
	[VHD_ROOT_BACKENDS] = {"backends", VHD_KIND_SEQUENCE, 0, false, 0, 0,
			       &vhd_config_backend_section},
	[VHD_ROOT_CONTROLLERS] = {"controllers", VHD_KIND_SEQUENCE, 0, false, 0, 0,
				  &vhd_config_ctrlr_section},
};

const struct vhd_config_section vhd_config_root_section = {
	"", g_root_keys, VHD_ROOT_NKEYS, NULL, 0,
};

const char *
vhd_config_kind_name(enum vhd_config_kind kind)
{
	static const char *const names[] = {
		[VHD_KIND_INTEGER] = "integer",
		[VHD_KIND_BOOLEAN] = "boolean",
		[VHD_KIND_STRING] = "string",
		[VHD_KIND_NAME] = "name",
		[VHD_KIND_PATH] = "path",
		[VHD_KIND_SIZE] = "size",
		[VHD_KIND_CPUSET] = "cpuset",
		[VHD_KIND_ENUM] = "enum",
		[VHD_KIND_PCI] = "pci",
		[VHD_KIND_MAPPING] = "mapping",
		[VHD_KIND_SEQUENCE] = "sequence",
	};

	if ((size_t)kind < VHD_ARRAY_SIZE(names) && names[kind] != NULL) {
		return names[kind];
	}
	return "unknown";
}
