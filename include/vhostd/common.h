/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small helpers shared by every layer. No DPDK here: the layers that do not
 * talk to rte_* (config, virtq, dev, util) must build and unit-test without it.
 */
#ifndef VHOSTD_COMMON_H
#define VHOSTD_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#define VHD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define VHD_CONTAINER_OF(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define VHD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VHD_MAX(a, b) ((a) > (b) ? (a) : (b))

#define vhd_likely(x) __builtin_expect(!!(x), 1)
#define vhd_unlikely(x) __builtin_expect(!!(x), 0)

#define VHD_PACKED __attribute__((packed))
#define VHD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* Longest controller or backend name, not counting the NUL. */
#define VHD_NAME_MAX 63

/*
 * Copy a NUL-terminated string into a fixed buffer.
 * \return 0, or -ENAMETOOLONG when src does not fit (dst then holds a truncated copy).
 */
static inline int
vhd_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size == 0) {
		return -ENAMETOOLONG;
	}
	if (len >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -ENAMETOOLONG;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

#endif /* VHOSTD_COMMON_H */
