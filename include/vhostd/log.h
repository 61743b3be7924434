/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Levelled, component-scoped logging.
 *
 * Every .c file that logs defines VHD_LOG_COMPONENT (a short string such as "blk") before
 * including this header. Messages go to a sink: stderr by default (tools, unit tests), and
 * rte_log once the daemon has initialised EAL (see vhd_log_set_sink()).
 *
 * Rules: never log above DEBUG per request on the data path; log an error or return it,
 * not both; prefix object-scoped messages with the object's name ("vhost.0: ...").
 */
#ifndef VHOSTD_LOG_H
#define VHOSTD_LOG_H

#include <stdarg.h>

#include "vhostd/common.h"

/* Same numeric values as DPDK's RTE_LOG_* so the rte_log sink maps them 1:1. */
enum vhd_log_level {
	VHD_LOG_ERR = 4,
	VHD_LOG_WARNING = 5,
	VHD_LOG_NOTICE = 6,
	VHD_LOG_INFO = 7,
	VHD_LOG_DEBUG = 8,
};

typedef void (*vhd_log_sink_fn)(enum vhd_log_level level, const char *component,
				const char *fmt, va_list ap);

/* Current threshold; messages above it are dropped before formatting. Thread-safe to read. */
extern volatile int vhd_log_threshold;

/* Set the threshold (default NOTICE). */
void vhd_log_set_level(enum vhd_log_level level);

/*
 * Parse a level name: "error", "warning", "notice", "info", "debug" (case-insensitive).
 * \return 0 and *level set, or -EINVAL.
 */
int vhd_log_level_parse(const char *name, enum vhd_log_level *level);

/* Name of a level ("error", ...). */
const char *vhd_log_level_name(enum vhd_log_level level);

/* Replace the sink; NULL restores the stderr sink. Call before other threads log. */
void vhd_log_set_sink(vhd_log_sink_fn sink);

void vhd_log(enum vhd_log_level level, const char *component, const char *fmt, ...)
	VHD_PRINTF(3, 4);

#ifndef VHD_LOG_COMPONENT
#define VHD_LOG_COMPONENT "vhostd"
#endif

#define VHD_LOG(level, ...)                                                   \
	do {                                                                  \
		if (vhd_unlikely((int)(level) <= vhd_log_threshold)) {        \
			vhd_log((level), VHD_LOG_COMPONENT, __VA_ARGS__);     \
		}                                                             \
	} while (0)

#define VHD_ERRLOG(...) VHD_LOG(VHD_LOG_ERR, __VA_ARGS__)
#define VHD_WARNLOG(...) VHD_LOG(VHD_LOG_WARNING, __VA_ARGS__)
#define VHD_NOTICELOG(...) VHD_LOG(VHD_LOG_NOTICE, __VA_ARGS__)
#define VHD_INFOLOG(...) VHD_LOG(VHD_LOG_INFO, __VA_ARGS__)
#define VHD_DEBUGLOG(...) VHD_LOG(VHD_LOG_DEBUG, __VA_ARGS__)

#endif /* VHOSTD_LOG_H */
