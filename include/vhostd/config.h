/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The YAML configuration file, decoded into plain C structs (no libyaml types leak out).
 *
 * vhd_config_load() parses and validates everything it can check without starting anything:
 * syntax, unknown keys, types, ranges, cross references (unknown or doubly-used backends,
 * duplicate names, cpumasks outside `cores`) and the host facts the file names (backing files
 * exist, socket_dir is a writable directory). Every problem becomes one diagnostic line
 *
 *     FILE:LINE:COL: path.to.key: what is wrong
 *
 * e.g. "vhostd.yaml:12:16: controllers[1].cpumask: CPU 3 is not in cores (0-1)". LINE and COL
 * are 1-based and point at the offending value (or at the mapping that lacks a required key,
 * or at the key itself when it is unknown or duplicated). YAML syntax errors and problems of
 * the file as a whole (empty, not a mapping, several documents) have no path:
 * "FILE:LINE:COL: message". All diagnostics are collected, in file order; a config with any
 * diagnostic is rejected. docs/config.md lists every key; config/schema.yaml is the same list
 * in machine-readable form, checked against the loader by the unit tests.
 *
 * The same structs are what the control plane (src/ctrl) consumes, whether they came from
 * YAML or from a JSON-RPC call.
 */
#ifndef VHOSTD_CONFIG_H
#define VHOSTD_CONFIG_H

#include <limits.h>

#include "vhostd/common.h"
#include "vhostd/cpumask.h"
#include "vhostd/log.h"

enum vhd_backend_type {
	VHD_BACKEND_AIO,    /* Linux AIO on a file or block device (O_DIRECT) */
	VHD_BACKEND_MALLOC, /* RAM */
	VHD_BACKEND_NULL,   /* discards writes; reads leave the buffer untouched */
	VHD_BACKEND_NVME,   /* userspace NVMe over VFIO */
};

struct vhd_backend_conf {
	char name[VHD_NAME_MAX + 1];
	enum vhd_backend_type type;
	char path[PATH_MAX];  /* aio: absolute; an existing regular file or block device */
	uint64_t size;        /* malloc, null: bytes; a multiple of block_size */
	uint32_t block_size;  /* 512..65536, power of two. aio: 0 = the device's logical block
				 size (512 for a file); malloc/null: always set, default 512;
				 nvme: 0 (the namespace's format) */
	bool readonly;        /* aio */
	char pci[16];         /* nvme: "0000:01:00.0", hex digits in lower case */
	uint32_t nsid;        /* nvme: namespace id, >= 1 */
	int line;             /* where the entry starts in the file, 0 if not from a file */
};

enum vhd_ctrlr_type {
	VHD_CTRLR_BLK,
	VHD_CTRLR_SCSI,
};

struct vhd_lun_conf {
	uint32_t lun;                     /* 0..16383 */
	char backend[VHD_NAME_MAX + 1];
	bool readonly;
};

#define VHD_SCSI_MAX_TARGETS 256
#define VHD_SCSI_MAX_LUNS 16384

struct vhd_target_conf {
	uint32_t id;                      /* 0..255 */
	struct vhd_lun_conf *luns;
	unsigned int nluns;
};

/* Serial numbers are at most 20 ASCII characters (virtio-blk GET_ID). */
#define VHD_SERIAL_MAX 20

struct vhd_ctrlr_conf {
	char name[VHD_NAME_MAX + 1];      /* also the socket file name in socket_dir */
	enum vhd_ctrlr_type type;
	struct vhd_cpumask cpumask;       /* defaults to `cores` */
	uint16_t num_queues;              /* 1..128, default 1 */
	/* blk */
	char backend[VHD_NAME_MAX + 1];
	bool readonly;
	char serial[VHD_SERIAL_MAX + 1];  /* default: the controller name, truncated */
	/* scsi */
	struct vhd_target_conf *targets;
	unsigned int ntargets;
	int line;
};

struct vhd_config {
	char *path;                       /* the file it was loaded from */
	struct vhd_cpumask cores;         /* default: CPU 0 */
	uint64_t hugemem_mb;              /* default 256 */
	char socket_dir[PATH_MAX];        /* default /var/tmp */
	enum vhd_log_level log_level;     /* default notice */
	uint32_t idle_sleep_us;           /* 0 = busy poll (default); else nap when idle */
	char rpc_socket[PATH_MAX];        /* default /var/tmp/vhostd.sock */
	char instance[VHD_NAME_MAX + 1];  /* "" = derived from rpc_socket (vhd_config_instance) */
	char kata_store[PATH_MAX];        /* empty = no Kata integration */
	struct vhd_backend_conf *backends;
	unsigned int nbackends;
	struct vhd_ctrlr_conf *controllers;
	unsigned int ncontrollers;
};

/*
 * Accumulates diagnostics, one "FILE:LINE:COL: path: message" per line. vhd_diag_add() ends
 * each entry with '\n' unless the formatted text already does; `count` grows even when memory
 * for the text runs out, so a non-zero count always means "something was wrong".
 */
struct vhd_diag {
	char *text;      /* NUL-terminated, '\n' after every line; NULL when empty */
	size_t len;
	unsigned int count;
};

void vhd_diag_add(struct vhd_diag *diag, const char *fmt, ...) VHD_PRINTF(2, 3);
void vhd_diag_free(struct vhd_diag *diag);

/*
 * Load and validate a config file.
 * \param path  the YAML file.
 * \param out   on success a new config, to be released with vhd_config_free().
 * \param diag  receives every problem found (must start zeroed; caller frees).
 * \return 0, -EINVAL when the file has problems (see diag), -errno when it cannot be read
 *         (diag then holds "FILE: <strerror>"; -EISDIR for a directory, -EFBIG above 16 MiB),
 *         -ENOMEM. On any failure *out is NULL.
 * Reads the host (stat/access of socket_dir, kata.store and aio paths); starts nothing.
 */
int vhd_config_load(const char *path, struct vhd_config **out, struct vhd_diag *diag);

/* Same, from a string; `name` is used as FILE in diagnostics. */
int vhd_config_load_string(const char *name, const char *yaml, size_t len,
			   struct vhd_config **out, struct vhd_diag *diag);

void vhd_config_free(struct vhd_config *cfg);

const char *vhd_backend_type_name(enum vhd_backend_type type);
const char *vhd_ctrlr_type_name(enum vhd_ctrlr_type type);

/* Find by name; NULL when absent. */
const struct vhd_backend_conf *vhd_config_find_backend(const struct vhd_config *cfg,
							const char *name);

/*
 * The instance name, also the DPDK file prefix (dpdk-telemetry.py -f NAME): `instance` when
 * set; "vhostd" for the default rpc_socket /var/tmp/vhostd.sock; otherwise the rpc_socket
 * path without its leading '/' and final ".sock", '/' written '-' and any other character
 * that is not A-Z a-z 0-9 _ . - written '_' ("/run/vm7/ctl.sock" -> "run-vm7-ctl"). Two
 * instances cannot share an rpc_socket, so their default names differ. A name that would
 * exceed 63 characters becomes "vhostd-" and 16 hex digits of a hash of the path.
 * \param instance    the `instance` setting ("" or NULL when not set).
 * \param rpc_socket  the control socket in effect (`rpc_socket`, or vhostd -r).
 */
void vhd_config_instance(const char *instance, const char *rpc_socket, char *buf, size_t len);

/* Is `name` valid for a backend, controller or instance (1..63 of A-Z a-z 0-9 _ . -, not "."
 * or "..")? \return 0, or -EINVAL with the reason in err ("character 3 is not ..."). */
int vhd_config_check_name(const char *name, char *err, size_t err_len);

/* Is `serial` valid (at most 20 printable ASCII characters)? \return 0 or -EINVAL. */
int vhd_config_check_serial(const char *serial, char *err, size_t err_len);

/* Same object? Every field but `line` is compared (SCSI targets and LUNs deeply). */
bool vhd_backend_conf_equal(const struct vhd_backend_conf *a, const struct vhd_backend_conf *b);
bool vhd_ctrlr_conf_equal(const struct vhd_ctrlr_conf *a, const struct vhd_ctrlr_conf *b);

/*
 * Parse a size: a plain number of bytes or a number with a binary suffix
 * K/KiB/M/MiB/G/GiB/T/TiB (case-insensitive, "64MiB", "1G", "4096", "64 MiB": blanks are
 * allowed between the number and the suffix only). No sign, no fraction, no decimal units
 * ("64MB" is -EINVAL). "0" is valid here; callers decide whether zero makes sense.
 * \return 0, -EINVAL (syntax) or -ERANGE (does not fit in 64 bits); *bytes is only written
 *         on success.
 */
int vhd_parse_size(const char *str, uint64_t *bytes);

#endif /* VHOSTD_CONFIG_H */
