/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log front-end: level filtering and a replaceable sink. The default sink writes
 * "vhostd[component]: level: message" lines to stderr; the daemon swaps in rte_log after EAL
 * init so DPDK's and our messages share one stream and one level control.
 */
#include <stdio.h>
#include <strings.h>

#include "vhostd/log.h"

volatile int vhd_log_threshold = VHD_LOG_NOTICE;

static const char *const g_level_names[] = {
	[VHD_LOG_ERR] = "error",
	[VHD_LOG_WARNING] = "warning",
	[VHD_LOG_NOTICE] = "notice",
	[VHD_LOG_INFO] = "info",
	[VHD_LOG_DEBUG] = "debug",
};

static void
stderr_sink(enum vhd_log_level level, const char *component, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	/* One write per message so lines from several threads do not interleave. */
	n = snprintf(line, sizeof(line), "vhostd[%s]: %s: ", component, vhd_log_level_name(level));
	if (n < 0 || (size_t)n >= sizeof(line)) {
		return;
	}
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	n = (int)strlen(line);
	if (n > 0 && line[n - 1] != '\n' && (size_t)n + 1 < sizeof(line)) {
		line[n++] = '\n';
		line[n] = '\0';
	}
	fputs(line, stderr);
}

static vhd_log_sink_fn g_sink = stderr_sink;

void
vhd_log_set_level(enum vhd_log_level level)
{
	vhd_log_threshold = (int)level;
}

int
vhd_log_level_parse(const char *name, enum vhd_log_level *level)
{
	for (size_t i = 0; i < VHD_ARRAY_SIZE(g_level_names); i++) {
		if (g_level_names[i] != NULL && strcasecmp(name, g_level_names[i]) == 0) {
			*level = (enum vhd_log_level)i;
			return 0;
		}
	}
	/* Accept the spellings DPDK and syslog users type. */
	if (strcasecmp(name, "err") == 0) {
		*level = VHD_LOG_ERR;
		return 0;
	}
	if (strcasecmp(name, "warn") == 0) {
		*level = VHD_LOG_WARNING;
		return 0;
	}
	return -EINVAL;
}

const char *
vhd_log_level_name(enum vhd_log_level level)
{
	if ((size_t)level < VHD_ARRAY_SIZE(g_level_names) && g_level_names[level] != NULL) {
		return g_level_names[level];
	}
	return "unknown";
}

void
vhd_log_set_sink(vhd_log_sink_fn sink)
{
	g_sink = sink != NULL ? sink : stderr_sink;
}

void
vhd_log(enum vhd_log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > vhd_log_threshold) {
		return;
	}
	va_start(ap, fmt);
	g_sink(level, component, fmt, ap);
	va_end(ap);
}
