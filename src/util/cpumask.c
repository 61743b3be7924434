/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CPU list / hex mask parsing and formatting (see vhostd/cpumask.h). Used by the config
 * loader and cpumask_tool, so error strings are written for people reading a config error.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "vhostd/cpumask.h"

#define WORD_BITS 64u

void
vhd_cpumask_zero(struct vhd_cpumask *mask)
{
	memset(mask, 0, sizeof(*mask));
}

void
vhd_cpumask_set(struct vhd_cpumask *mask, unsigned int cpu)
{
	if (cpu < VHD_CPUMASK_MAX_CPUS) {
		mask->bits[cpu / WORD_BITS] |= 1ULL << (cpu % WORD_BITS);
	}
}

void
vhd_cpumask_clear(struct vhd_cpumask *mask, unsigned int cpu)
{
	if (cpu < VHD_CPUMASK_MAX_CPUS) {
		mask->bits[cpu / WORD_BITS] &= ~(1ULL << (cpu % WORD_BITS));
	}
}

bool
vhd_cpumask_test(const struct vhd_cpumask *mask, unsigned int cpu)
{
	return cpu < VHD_CPUMASK_MAX_CPUS &&
	       (mask->bits[cpu / WORD_BITS] & (1ULL << (cpu % WORD_BITS))) != 0;
}

unsigned int
vhd_cpumask_count(const struct vhd_cpumask *mask)
{
	unsigned int n = 0;

	for (size_t i = 0; i < VHD_ARRAY_SIZE(mask->bits); i++) {
		n += (unsigned int)__builtin_popcountll(mask->bits[i]);
	}
	return n;
}

bool
vhd_cpumask_empty(const struct vhd_cpumask *mask)
{
	return vhd_cpumask_next(mask, 0) < 0;
}

bool
vhd_cpumask_subset(const struct vhd_cpumask *sub, const struct vhd_cpumask *super)
{
	for (size_t i = 0; i < VHD_ARRAY_SIZE(sub->bits); i++) {
		if ((sub->bits[i] & ~super->bits[i]) != 0) {
			return false;
		}
	}
	return true;
}

void
vhd_cpumask_and(struct vhd_cpumask *dst, const struct vhd_cpumask *a, const struct vhd_cpumask *b)
{
	for (size_t i = 0; i < VHD_ARRAY_SIZE(dst->bits); i++) {
		dst->bits[i] = a->bits[i] & b->bits[i];
	}
}

int
vhd_cpumask_next(const struct vhd_cpumask *mask, unsigned int start)
{
	for (unsigned int w = start / WORD_BITS; w < VHD_ARRAY_SIZE(mask->bits); w++) {
		uint64_t word = mask->bits[w];

		if (w == start / WORD_BITS) {
			word &= ~0ULL << (start % WORD_BITS);
		}
		if (word != 0) {
			return (int)(w * WORD_BITS + (unsigned int)__builtin_ctzll(word));
		}
	}
	return -1;
}

static void VHD_PRINTF(3, 4)
set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
}

static int
parse_hex(struct vhd_cpumask *mask, const char *s, size_t len, char *err, size_t err_len)
{
	unsigned int bit = 0;

	if (len == 0) {
		set_err(err, err_len, "'0x' has no hex digits");
		return -EINVAL;
	}
	/* Walk from the least significant digit so any width works. */
	for (size_t i = len; i-- > 0;) {
		int c = (unsigned char)s[i];
		unsigned int v;

		if (!isxdigit(c)) {
			char bad[2] = {(char)c, '\0'};

			set_err(err, err_len, "'%s' is not a hex digit", bad);
			return -EINVAL;
		}
		v = (unsigned int)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
		for (unsigned int b = 0; b < 4; b++, bit++) {
			if ((v & (1u << b)) == 0) {
				continue;
			}
			if (bit >= VHD_CPUMASK_MAX_CPUS) {
				set_err(err, err_len, "CPU %u is beyond the supported maximum (%u)",
					bit, VHD_CPUMASK_MAX_CPUS - 1);
				return -ERANGE;
			}
			vhd_cpumask_set(mask, bit);
		}
	}
	return 0;
}

static int
parse_cpu(const char **p, unsigned long *cpu, char *err, size_t err_len)
{
	char *end;

	if (!isdigit((unsigned char)**p)) {
		char bad[16];

		snprintf(bad, sizeof(bad), "%.11s", **p == '\0' ? "end of list" : *p);
		set_err(err, err_len, "expected a CPU number at '%s'", bad);
		return -EINVAL;
	}
	errno = 0;
	*cpu = strtoul(*p, &end, 10);
	if (errno != 0 || *cpu >= VHD_CPUMASK_MAX_CPUS) {
		set_err(err, err_len, "CPU %.*s is beyond the supported maximum (%u)",
			(int)(end - *p), *p, VHD_CPUMASK_MAX_CPUS - 1);
		return -ERANGE;
	}
	*p = end;
	return 0;
}

static int
parse_list(struct vhd_cpumask *mask, const char *s, size_t len, char *err, size_t err_len)
{
	char buf[4096];
	const char *p = buf;
	int rc;

	if (len >= sizeof(buf)) {
		set_err(err, err_len, "cpu list is too long (%zu characters)", len);
		return -EINVAL;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';

	for (;;) {
		unsigned long first, last;

		while (*p == ' ') {
			p++;
		}
		rc = parse_cpu(&p, &first, err, err_len);
		if (rc != 0) {
			return rc;
		}
		last = first;
		if (*p == '-') {
			p++;
			rc = parse_cpu(&p, &last, err, err_len);
			if (rc != 0) {
				return rc;
			}
			if (last < first) {
				char range[48];

				snprintf(range, sizeof(range), "%lu-%lu", first, last);
				set_err(err, err_len,
					"'%s' is not a valid range (start is after end)", range);
				return -EINVAL;
			}
		}
		for (unsigned long c = first; c <= last; c++) {
			vhd_cpumask_set(mask, (unsigned int)c);
		}
		while (*p == ' ') {
			p++;
		}
		if (*p == '\0') {
			return 0;
		}
		if (*p != ',') {
			char bad[16];

			snprintf(bad, sizeof(bad), "%.8s", p);
			set_err(err, err_len, "unexpected '%s' in cpu list", bad);
			return -EINVAL;
		}
		p++;
	}
}

int
vhd_cpumask_parse(struct vhd_cpumask *mask, const char *str, char *err, size_t err_len)
{
	size_t len;
	int rc;

	vhd_cpumask_zero(mask);
	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	while (isspace((unsigned char)*str)) {
		str++;
	}
	len = strlen(str);
	while (len > 0 && isspace((unsigned char)str[len - 1])) {
		len--;
	}
	if (len == 0) {
		set_err(err, err_len, "empty cpu set");
		return -EINVAL;
	}
	if (len > 2 && str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) {
		rc = parse_hex(mask, str + 2, len - 2, err, err_len);
	} else if (len == 2 && str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) {
		set_err(err, err_len, "'0x' has no hex digits");
		rc = -EINVAL;
	} else {
		rc = parse_list(mask, str, len, err, err_len);
	}
	if (rc == 0 && vhd_cpumask_empty(mask)) {
		set_err(err, err_len, "empty cpu set");
		rc = -EINVAL;
	}
	if (rc != 0) {
		vhd_cpumask_zero(mask);
	}
	return rc;
}

int
vhd_cpumask_format_list(const struct vhd_cpumask *mask, char *buf, size_t len)
{
	size_t off = 0;
	int c = vhd_cpumask_next(mask, 0);

	if (len == 0) {
		return -ENOSPC;
	}
	buf[0] = '\0';
	while (c >= 0) {
		int last = c;
		int n;

		while (vhd_cpumask_test(mask, (unsigned int)last + 1)) {
			last++;
		}
		if (last == c) {
			n = snprintf(buf + off, len - off, "%s%d", off ? "," : "", c);
		} else {
			n = snprintf(buf + off, len - off, "%s%d-%d", off ? "," : "", c, last);
		}
		if (n < 0 || (size_t)n >= len - off) {
			return -ENOSPC;
		}
		off += (size_t)n;
		c = vhd_cpumask_next(mask, (unsigned int)last + 1);
	}
	return 0;
}

int
vhd_cpumask_format_hex(const struct vhd_cpumask *mask, char *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t off = 0;
	bool started = false;

	if (len < 4) {
		return -ENOSPC;
	}
	buf[off++] = '0';
	buf[off++] = 'x';
	for (int nib = VHD_CPUMASK_MAX_CPUS / 4 - 1; nib >= 0; nib--) {
		unsigned int v = (unsigned int)(mask->bits[nib / 16] >> ((nib % 16) * 4)) & 0xf;

		if (v == 0 && !started) {
			continue;
		}
		started = true;
		if (off + 1 >= len) {
			return -ENOSPC;
		}
		buf[off++] = digits[v];
	}
	if (!started) {
		buf[off++] = '0';
	}
	buf[off] = '\0';
	return 0;
}
