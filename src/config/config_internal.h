/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Config layer internals: the key tables that drive the YAML decoder (config_schema.c).
 *
 * Each YAML mapping the loader understands is a section: a table of keys with their kind,
 * the entry types that accept them, whether they are required and, for integers, their range.
 * config.c walks these tables; the unit tests compare them with config/schema.yaml, so the
 * documented schema and the one the code enforces cannot drift apart.
 */
#ifndef VHOSTD_CONFIG_INTERNAL_H
#define VHOSTD_CONFIG_INTERNAL_H

#include "vhostd/config.h"

/* How a value is read; the names (vhd_config_kind_name) are the `type:` words of schema.yaml. */
enum vhd_config_kind {
	VHD_KIND_INTEGER,
	VHD_KIND_BOOLEAN,
	VHD_KIND_STRING,
	VHD_KIND_NAME,    /* [A-Za-z0-9_.-]{1,63} */
	VHD_KIND_PATH,    /* absolute path */
	VHD_KIND_SIZE,    /* bytes, or a string with a binary suffix (vhd_parse_size) */
	VHD_KIND_CPUSET,  /* CPU list or hex mask (vhd_cpumask_parse) */
	VHD_KIND_ENUM,
	VHD_KIND_PCI,     /* DDDD:BB:DD.F */
	VHD_KIND_MAPPING,
	VHD_KIND_SEQUENCE, /* of mappings described by `child` */
};

struct vhd_config_section;

struct vhd_config_key {
	const char *name;
	enum vhd_config_kind kind;
	/* Bit (1u << type) for every entry type that takes this key; 0 = every type. */
	uint32_t types;
	/* Required for the types above. */
	bool required;
	/* VHD_KIND_INTEGER: inclusive range. */
	int64_t min;
	int64_t max;
	/* VHD_KIND_MAPPING / VHD_KIND_SEQUENCE: the keys of the (item) mapping. */
	const struct vhd_config_section *child;
};

struct vhd_config_section {
	/* Schema path of the mapping: "" (top level), "kata", "backends[]", ... */
	const char *path;
	const struct vhd_config_key *keys;
	unsigned int nkeys;
	/* Names of the entry types indexed by type value (the `type` key), NULL when untyped. */
	const char *const *type_names;
	unsigned int ntypes;
};

/* Key indices, in table order; the decoder addresses values by these. */
enum {
	VHD_ROOT_CORES,
	VHD_ROOT_HUGEMEM,
	VHD_ROOT_SOCKET_DIR,
	VHD_ROOT_LOG_LEVEL,
	VHD_ROOT_IDLE_SLEEP_US,
	VHD_ROOT_RPC_SOCKET,
	VHD_ROOT_INSTANCE,
	VHD_ROOT_KATA,
	VHD_ROOT_BACKENDS,
	VHD_ROOT_CONTROLLERS,
	VHD_ROOT_NKEYS
};

enum {
	VHD_KATA_STORE,
	VHD_KATA_NKEYS
};

enum {
	VHD_BDEV_NAME,
	VHD_BDEV_TYPE,
	VHD_BDEV_PATH,
	VHD_BDEV_SIZE,
	VHD_BDEV_BLOCK_SIZE,
	VHD_BDEV_READONLY,
	VHD_BDEV_PCI,
	VHD_BDEV_NAMESPACE,
	VHD_BDEV_NKEYS
};

enum {
	VHD_CTRLR_NAME,
	VHD_CTRLR_TYPE,
	VHD_CTRLR_CPUMASK,
	VHD_CTRLR_NUM_QUEUES,
	VHD_CTRLR_BACKEND,
	VHD_CTRLR_READONLY,
	VHD_CTRLR_SERIAL,
	VHD_CTRLR_TARGETS,
	VHD_CTRLR_NKEYS
};

enum {
	VHD_TARGET_ID,
	VHD_TARGET_LUNS,
	VHD_TARGET_NKEYS
};

enum {
	VHD_LUN_LUN,
	VHD_LUN_BACKEND,
	VHD_LUN_READONLY,
	VHD_LUN_NKEYS
};

/* The most keys any section has; sizes the decoder's per-mapping index. */
#define VHD_CONFIG_MAX_KEYS 16

extern const struct vhd_config_section vhd_config_root_section;
extern const struct vhd_config_section vhd_config_kata_section;
extern const struct vhd_config_section vhd_config_backend_section;
extern const struct vhd_config_section vhd_config_ctrlr_section;
extern const struct vhd_config_section vhd_config_target_section;
extern const struct vhd_config_section vhd_config_lun_section;

/* "integer", "boolean", ... as written in config/schema.yaml. */
const char *vhd_config_kind_name(enum vhd_config_kind kind);

#endif /* VHOSTD_CONFIG_INTERNAL_H */
