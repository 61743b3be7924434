/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small pieces of the config API that do not touch YAML: the diagnostic accumulator and the
 * size parser (also used for sizes given over the control socket).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "vhostd/config.h"

void
vhd_diag_add(struct vhd_diag *diag, const char *fmt, ...)
{
	va_list ap;
	char *text;
	size_t need;
	int n;

	/* Count first: even when memory runs out the caller must see that something failed. */
	diag->count++;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return;
	}
	need = diag->len + (size_t)n + 2;
	text = realloc(diag->text, need);
	if (text == NULL) {
		return;
	}
	diag->text = text;
	va_start(ap, fmt);
	vsnprintf(text + diag->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	diag->len += (size_t)n;
	if (n == 0 || text[diag->len - 1] != '\n') {
		text[diag->len++] = '\n';
	}
	text[diag->len] = '\0';
}

void
vhd_diag_free(struct vhd_diag *diag)
{
	free(diag->text);
	memset(diag, 0, sizeof(*diag));
}

int
vhd_parse_size(const char *str, uint64_t *bytes)
{
	static const struct {
		const char *suffix;
		unsigned int shift;
	} units[] = {
		{"", 0}, {"k", 10}, {"kib", 10}, {"m", 20}, {"mib", 20},
		{"g", 30}, {"gib", 30}, {"t", 40}, {"tib", 40},
	};
	const char *p = str;
	uint64_t v = 0;
	bool overflow = false;

	if (!isdigit((unsigned char)*p)) {
		return -EINVAL;
	}
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - d) / 10) {
			overflow = true;
		} else {
			v = v * 10 + d;
		}
	}
	/* "64 MiB" reads naturally; allow blanks between the number and its unit only. */
	if (*p == ' ' && p[1] != '\0') {
		while (*p == ' ') {
			p++;
		}
	}
	for (size_t i = 0; i < VHD_ARRAY_SIZE(units); i++) {
		if (strcasecmp(p, units[i].suffix) != 0) {
			continue;
		}
		/* Syntax first: "999999999999999999999X" is junk, not an overflow. */
		if (overflow || v > (UINT64_MAX >> units[i].shift)) {
			return -ERANGE;
		}
		*bytes = v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}
