/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small pieces of the config API that do not touch YAML: the diagnostic accumulator, the size
 * parser, name checks and comparisons (also used by the control socket and reload).
 */
#include <ctype.h>
#include <inttypes.h>
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

void
vhd_config_instance(const char *instance, const char *rpc_socket, char *buf, size_t len)
{
	const char *p = rpc_socket;
	size_t n = strlen(p), out = 0;
	uint64_t hash = 0xcbf29ce484222325ull; /* FNV-1a */

	if (len == 0) {
		return;
	}
	if (instance != NULL && instance[0] != '\0') {
		(void)vhd_strlcpy(buf, instance, len);
		return;
	}
	if (strcmp(p, "/var/tmp/vhostd.sock") == 0) {
		(void)vhd_strlcpy(buf, "vhostd", len);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		hash = (hash ^ (unsigned char)p[i]) * 0x100000001b3ull;
	}
	while (*p == '/') {
		p++;
		n--;
	}
	if (n > 5 && strcmp(p + n - 5, ".sock") == 0) {
		n -= 5;
	}
	if (n == 0 || n > VHD_NAME_MAX || n >= len) {
		snprintf(buf, len, "vhostd-%016" PRIx64, hash);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (ch == '/') {
			ch = '-';
		} else if (!isalnum((unsigned char)ch) && ch != '_' && ch != '.' && ch != '-') {
			ch = '_';
		}
		buf[out++] = ch;
	}
	buf[out] = '\0';
	if (strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0) {
		snprintf(buf, len, "vhostd-%016" PRIx64, hash);
	}
}

static int VHD_PRINTF(3, 4)
check_fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int
vhd_config_check_name(const char *name, char *err, size_t len)
{
	size_t n = strlen(name);

	if (n == 0) {
		return check_fail(err, len, "'' is not a valid name: it is empty");
	}
	if (n > VHD_NAME_MAX) {
		return check_fail(err, len, "'%.20s...' is too long (%zu characters, at most %d)",
				  name, n, VHD_NAME_MAX);
	}
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!isalnum((unsigned char)ch) && ch != '_' && ch != '.' && ch != '-') {
			return check_fail(err, len, "'%s' is not a valid name: character %zu "
					  "is not a letter, digit, '_', '.' or '-'", name, i + 1);
		}
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		return check_fail(err, len, "'%s' is not a valid name", name);
	}
	return 0;
}

int
vhd_config_check_serial(const char *serial, char *err, size_t len)
{
	size_t n = strlen(serial);

	if (n > VHD_SERIAL_MAX) {
		return check_fail(err, len, "'%s' is too long (%zu characters, at most %d)",
				  serial, n, VHD_SERIAL_MAX);
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)serial[i] < 0x20 || (unsigned char)serial[i] > 0x7e) {
			return check_fail(err, len, "character %zu is not printable ASCII", i + 1);
		}
	}
	return 0;
}

bool
vhd_backend_conf_equal(const struct vhd_backend_conf *a, const struct vhd_backend_conf *b)
{
	return strcmp(a->name, b->name) == 0 && a->type == b->type &&
	       strcmp(a->path, b->path) == 0 && a->size == b->size &&
	       a->block_size == b->block_size && a->readonly == b->readonly &&
	       strcmp(a->pci, b->pci) == 0 && a->nsid == b->nsid;
}

static bool
targets_equal(const struct vhd_ctrlr_conf *a, const struct vhd_ctrlr_conf *b)
{
	if (a->ntargets != b->ntargets) {
		return false;
	}
	for (unsigned int t = 0; t < a->ntargets; t++) {
		const struct vhd_target_conf *ta = &a->targets[t], *tb = &b->targets[t];

		if (ta->id != tb->id || ta->nluns != tb->nluns) {
			return false;
		}
		for (unsigned int l = 0; l < ta->nluns; l++) {
			if (ta->luns[l].lun != tb->luns[l].lun ||
			    ta->luns[l].readonly != tb->luns[l].readonly ||
			    strcmp(ta->luns[l].backend, tb->luns[l].backend) != 0) {
				return false;
			}
		}
	}
	return true;
}

bool
vhd_ctrlr_conf_equal(const struct vhd_ctrlr_conf *a, const struct vhd_ctrlr_conf *b)
{
	return strcmp(a->name, b->name) == 0 && a->type == b->type &&
	       memcmp(&a->cpumask, &b->cpumask, sizeof(a->cpumask)) == 0 &&
	       a->num_queues == b->num_queues && strcmp(a->backend, b->backend) == 0 &&
	       a->readonly == b->readonly && strcmp(a->serial, b->serial) == 0 &&
	       targets_equal(a, b);
}
