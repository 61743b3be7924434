/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CPU sets as users write them: taskset-style lists ("0-3,8,10-11") or hex masks
 * ("0x1f", arbitrarily wide, e.g. 0x1fc00000001e000). Shared by the daemon's config and
 * cpumask_tool. Pure C, no DPDK.
 */
#ifndef VHOSTD_CPUMASK_H
#define VHOSTD_CPUMASK_H

#include "vhostd/common.h"

/* Highest CPU number + 1 that a mask can hold. */
#define VHD_CPUMASK_MAX_CPUS 1024

struct vhd_cpumask {
	uint64_t bits[VHD_CPUMASK_MAX_CPUS / 64];
};

/*
 * Parse a list ("0-3,8") or a hex mask ("0x1f", "0X1F"; a leading "0x" is required for hex).
 * Whitespace around the string is ignored. An empty set is an error.
 *
 * \param mask  set to the parsed CPUs (cleared first).
 * \param err   optional; on failure receives a human-readable reason without a trailing
 *              newline, e.g. "'5-2' is not a valid range (start is after end)".
 * \return 0, or -EINVAL for bad syntax / empty set, -ERANGE for a CPU >= VHD_CPUMASK_MAX_CPUS.
 */
int vhd_cpumask_parse(struct vhd_cpumask *mask, const char *str, char *err, size_t err_len);

/* Format as a compact list ("13-16,50-56"). \return 0 or -ENOSPC. */
int vhd_cpumask_format_list(const struct vhd_cpumask *mask, char *buf, size_t len);

/* Format as lower-case hex with "0x" prefix and no leading zeros ("0x1e000"); empty -> "0x0". */
int vhd_cpumask_format_hex(const struct vhd_cpumask *mask, char *buf, size_t len);

void vhd_cpumask_zero(struct vhd_cpumask *mask);
void vhd_cpumask_set(struct vhd_cpumask *mask, unsigned int cpu);
void vhd_cpumask_clear(struct vhd_cpumask *mask, unsigned int cpu);
bool vhd_cpumask_test(const struct vhd_cpumask *mask, unsigned int cpu);
unsigned int vhd_cpumask_count(const struct vhd_cpumask *mask);
bool vhd_cpumask_empty(const struct vhd_cpumask *mask);
/* true when every CPU of sub is in super. */
bool vhd_cpumask_subset(const struct vhd_cpumask *sub, const struct vhd_cpumask *super);
/* dst = a & b */
void vhd_cpumask_and(struct vhd_cpumask *dst, const struct vhd_cpumask *a,
		     const struct vhd_cpumask *b);
/* First CPU >= start in the mask, or -1.
 * Iterate with: for (c = next(m, 0); c >= 0; c = next(m, c + 1)) */
int vhd_cpumask_next(const struct vhd_cpumask *mask, unsigned int start);

#endif /* VHOSTD_CPUMASK_H */
