/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * YAML config loader (config layer; the contract is in vhostd/config.h).
 *
 * libyaml's document API builds the whole node graph before we look at it, so every value
 * keeps its position and one pass can report every problem instead of the first. The walk is
 * driven by the key tables of config_schema.c: map_open() indexes a mapping's pairs against a
 * section (catching duplicate keys), map_check_keys() reports unknown and missing keys once
 * the entry's type is known, and typed getters read, range-check and report each value.
 * Checks that need the whole file (names, backend sharing, socket path lengths) run after the
 * walk. Diagnostics are kept with their position and sorted at the end, so they come out in
 * file order whichever pass found them.
 *
 * Assumptions: no libyaml type escapes this file; the walk only descends along the schema, so
 * alias cycles (libyaml can build them: `&a [*a]`) are never followed.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#include "config_internal.h"

/* A config is a few KiB; refuse anything that is clearly not one before reading it all. */
#define CONFIG_MAX_BYTES (16u * 1024 * 1024)
/* Longest path a unix socket address holds (sun_path without its NUL). */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define PATH_BUF 256

struct pending {
	size_t line;
	size_t col;
	unsigned int seq;
	char *text;
};

/* One consumer of a backend: a blk controller or a SCSI LUN. */
struct user {
	const char *backend;
	yaml_node_t *node;
	char path[PATH_BUF];
	bool readonly;
};

struct loader {
	const char *file;
	const char *input;
	size_t input_len;
	yaml_document_t *doc;
	struct vhd_config *cfg;
	struct pending *diags;
	size_t ndiags;
	size_t diag_cap;
	bool nomem;
	bool cores_ok;
	bool socket_dir_ok;
	yaml_node_t **backend_names;
	yaml_node_t **ctrlr_names;
	struct user *users;
	size_t nusers;
	size_t user_cap;
};

/* The pairs of one mapping, indexed by the key numbers of its section. */
struct map {
	struct loader *ld;
	yaml_node_t *node;
	const char *path;
	const struct vhd_config_section *sec;
	yaml_node_t *keys[VHD_CONFIG_MAX_KEYS];
	yaml_node_t *values[VHD_CONFIG_MAX_KEYS];
};

static void VHD_PRINTF(5, 0)
vreport(struct loader *ld, size_t line, size_t col, const char *path, const char *fmt,
	va_list ap)
{
	char buf[2048];
	struct pending *p;
	int n = 0;

	if (path != NULL && path[0] != '\0') {
		n = snprintf(buf, sizeof(buf), "%s: ", path);
		if (n < 0 || (size_t)n >= sizeof(buf)) {
			n = 0;
		}
	}
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);

	if (ld->ndiags == ld->diag_cap) {
		size_t cap = ld->diag_cap ? ld->diag_cap * 2 : 16;
		struct pending *d = realloc(ld->diags, cap * sizeof(*d));

		if (d == NULL) {
			ld->nomem = true;
			return;
		}
		ld->diags = d;
		ld->diag_cap = cap;
	}
	p = &ld->diags[ld->ndiags];
	p->text = strdup(buf);
	if (p->text == NULL) {
		ld->nomem = true;
		return;
	}
	p->line = line;
	p->col = col;
	p->seq = (unsigned int)ld->ndiags;
	ld->ndiags++;
}

static void VHD_PRINTF(5, 6)
report_at(struct loader *ld, size_t line, size_t col, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, line, col, path, fmt, ap);
	va_end(ap);
}

/* Report against a node: libyaml marks are 0-based, diagnostics 1-based. */
static void VHD_PRINTF(4, 5)
report(struct loader *ld, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, node->start_mark.line + 1, node->start_mark.column + 1, path, fmt, ap);
	va_end(ap);
}

static int
cmp_pending(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	if (x->line != y->line) {
		return x->line < y->line ? -1 : 1;
	}
	if (x->col != y->col) {
		return x->col < y->col ? -1 : 1;
	}
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void
flush_diags(struct loader *ld, struct vhd_diag *diag)
{
	if (ld->ndiags > 1) {
		qsort(ld->diags, ld->ndiags, sizeof(*ld->diags), cmp_pending);
	}
	for (size_t i = 0; i < ld->ndiags; i++) {
		vhd_diag_add(diag, "%s:%zu:%zu: %s", ld->file, ld->diags[i].line,
			     ld->diags[i].col, ld->diags[i].text);
		free(ld->diags[i].text);
	}
	free(ld->diags);
	ld->diags = NULL;
	ld->ndiags = 0;
}

static yaml_node_t *
node_at(struct loader *ld, int index)
{
	return yaml_document_get_node(ld->doc, index);
}

static const char *
text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* An absent value (`key:` or `key: ~`). Quoted empty strings are values. */
static bool
is_null(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (n->data.scalar.length == 0 || strcmp(text(n), "~") == 0);
}

static bool
is_value(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && !is_null(n);
}

/* How a value looks, for "expected X, got Y" messages. */
static const char *
describe(const yaml_node_t *n, char *buf, size_t len)
{
	size_t i, out = 0;
	const char *s;

	if (n->type == YAML_MAPPING_NODE) {
		return "a mapping";
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		return "a sequence";
	}
	if (is_null(n)) {
		return "an empty value";
	}
	/* Quote it, cut it short and keep control characters out of the one-line message. */
	s = text(n);
	buf[out++] = '\'';
	for (i = 0; s[i] != '\0' && i < 40 && out + 6 < len; i++) {
		buf[out++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	}
	if (s[i] != '\0' && out + 5 < len) {
		buf[out++] = '.';
		buf[out++] = '.';
		buf[out++] = '.';
	}
	buf[out++] = '\'';
	buf[out] = '\0';
	return buf;
}

/* Paths only label messages: cutting a pathological one short is fine. */
static void VHD_PRINTF(3, 4)
fmt_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
key_path(const char *parent, const char *key, char *buf, size_t len)
{
	if (parent[0] == '\0') {
		fmt_path(buf, len, "%s", key);
	} else {
		fmt_path(buf, len, "%s.%s", parent, key);
	}
}

/*
 * Index the pairs of a mapping by the section's key numbers. Reports a value that is not a
 * mapping, keys that are not scalars and duplicate keys.
 * \return true when `node` is a mapping (m is then usable).
 */
static bool
map_open(struct loader *ld, yaml_node_t *node, const char *path,
	 const struct vhd_config_section *sec, struct map *m)
{
	yaml_node_pair_t *start, *p;
	char desc[64];

	memset(m, 0, sizeof(*m));
	m->ld = ld;
	m->node = node;
	m->path = path;
	m->sec = sec;
	if (node->type != YAML_MAPPING_NODE) {
		report(ld, node, path, "expected a mapping, got %s",
		       describe(node, desc, sizeof(desc)));
		return false;
	}
	start = node->data.mapping.pairs.start;
	for (p = start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *key = node_at(ld, p->key);
		yaml_node_t *val = node_at(ld, p->value);
		const yaml_node_pair_t *q;

		if (key->type != YAML_SCALAR_NODE) {
			report(ld, key, path, "expected a key name, got %s",
			       describe(key, desc, sizeof(desc)));
			continue;
		}
		for (q = start; q < p; q++) {
			yaml_node_t *prev = node_at(ld, q->key);

			if (prev->type == YAML_SCALAR_NODE && strcmp(text(prev), text(key)) == 0) {
				char kp[PATH_BUF];

				key_path(path, text(key), kp, sizeof(kp));
				report(ld, key, kp, "duplicate key (first given at line %zu)",
				       prev->start_mark.line + 1);
				break;
			}
		}
		if (q < p) {
			continue;
		}
		for (unsigned int k = 0; k < sec->nkeys; k++) {
			if (strcmp(sec->keys[k].name, text(key)) == 0) {
				m->keys[k] = key;
				m->values[k] = val;
				break;
			}
		}
	}
	return true;
}

/*
 * Report keys the section does not know, keys that do not belong to the entry's type and
 * missing required keys. type < 0: untyped section, or the type is missing or invalid; then
 * every key of the table is accepted and only keys common to all types can be required.
 */
static void
map_check_keys(struct map *m, int type)
{
	const struct vhd_config_section *sec = m->sec;
	uint32_t bit = type >= 0 ? 1u << type : 0;
	yaml_node_pair_t *p;
	char kp[PATH_BUF];

	for (p = m->node->data.mapping.pairs.start; p < m->node->data.mapping.pairs.top; p++) {
		yaml_node_t *key = node_at(m->ld, p->key);
		unsigned int k;

		if (key->type != YAML_SCALAR_NODE) {
			continue;
		}
		for (k = 0; k < sec->nkeys; k++) {
			if (strcmp(sec->keys[k].name, text(key)) == 0) {
				break;
			}
		}
		key_path(m->path, text(key), kp, sizeof(kp));
		if (k == sec->nkeys) {
			report(m->ld, key, kp, "unknown key");
		} else if (bit != 0 && sec->keys[k].types != 0 && (sec->keys[k].types & bit) == 0) {
			report(m->ld, key, kp, "unknown key for type %s", sec->type_names[type]);
			m->values[k] = NULL;
		}
	}
	for (unsigned int k = 0; k < sec->nkeys; k++) {
		const struct vhd_config_key *key = &sec->keys[k];

		if (!key->required || m->values[k] != NULL) {
			continue;
		}
		if (key->types == 0) {
			report(m->ld, m->node, m->path, "missing required key '%s'", key->name);
		} else if ((key->types & bit) != 0) {
			report(m->ld, m->node, m->path, "missing required key '%s' for type %s",
			       key->name, sec->type_names[type]);
		}
	}
}

/* Value of key k, with its diagnostic path in kp. NULL when absent. */
static yaml_node_t *
map_get(const struct map *m, int k, char *kp, size_t len)
{
	key_path(m->path, m->sec->keys[k].name, kp, len);
	return m->values[k];
}

/* Parse [+-]digits. \return 0, -EINVAL or -ERANGE (does not fit int64_t). */
static int
parse_int(const char *s, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0;

	if (*s == '+' || *s == '-') {
		neg = *s == '-';
		s++;
	}
	if (*s == '\0') {
		return -EINVAL;
	}
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s)) {
			return -EINVAL;
		}
		if (v > (UINT64_MAX - 9) / 10) {
			v = UINT64_MAX;
		} else {
			v = v * 10 + (uint64_t)(*s - '0');
		}
	}
	if (v > (uint64_t)INT64_MAX) {
		/* Keep scanning the syntax above, then say "out of range" rather than "junk". */
		return -ERANGE;
	}
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* \return 1 and *out set, 0 when absent, -1 when invalid (reported). */
static int
get_int(struct map *m, int k, int64_t *out)
{
	const struct vhd_config_key *key = &m->sec->keys[k];
	char kp[PATH_BUF], desc[64];
	yaml_node_t *n = map_get(m, k, kp, sizeof(kp));
	int64_t v = 0;
	int rc;

	if (n == NULL) {
		return 0;
	}
	rc = is_value(n) ? parse_int(text(n), &v) : -EINVAL;
	if (rc == -EINVAL) {
		report(m->ld, n, kp, "expected an integer, got %s",
		       describe(n, desc, sizeof(desc)));
		return -1;
	}
	if (rc != 0 || v < key->min || v > key->max) {
		report(m->ld, n, kp, "%s is out of range (%" PRId64 "..%" PRId64 ")", text(n),
		       key->min, key->max);
		return -1;
	}
	*out = v;
	return 1;
}

static int
get_bool(struct map *m, int k, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE"};
	static const char *const no[] = {"false", "False", "FALSE"};
	char kp[PATH_BUF], desc[64];
	yaml_node_t *n = map_get(m, k, kp, sizeof(kp));

	if (n == NULL) {
		return 0;
	}
	if (n->type == YAML_SCALAR_NODE) {
		for (size_t i = 0; i < VHD_ARRAY_SIZE(yes); i++) {
			if (strcmp(text(n), yes[i]) == 0) {
				*out = true;
				return 1;
			}
			if (strcmp(text(n), no[i]) == 0) {
				*out = false;
				return 1;
			}
		}
	}
	report(m->ld, n, kp, "expected true or false, got %s", describe(n, desc, sizeof(desc)));
	return -1;
}

/* A scalar that is not empty; reports otherwise. */
static yaml_node_t *
get_scalar(struct map *m, int k, const char *what, char *kp, size_t kp_len)
{
	char desc[64];
	yaml_node_t *n = map_get(m, k, kp, kp_len);

	if (n == NULL) {
		return NULL;
	}
	if (!is_value(n)) {
		report(m->ld, n, kp, "expected %s, got %s", what, describe(n, desc, sizeof(desc)));
		return NULL;
	}
	return n;
}

static int
get_path(struct map *m, int k, char *dst, size_t size)
{
	char kp[PATH_BUF], desc[64];
	yaml_node_t *n = get_scalar(m, k, "an absolute path", kp, sizeof(kp));

	if (n == NULL) {
		return m->values[k] == NULL ? 0 : -1;
	}
	if (text(n)[0] != '/') {
		report(m->ld, n, kp, "%s is not an absolute path", describe(n, desc, sizeof(desc)));
		return -1;
	}
	if (n->data.scalar.length >= size) {
		report(m->ld, n, kp, "path is too long (%zu characters, at most %zu)",
		       n->data.scalar.length, size - 1);
		return -1;
	}
	memcpy(dst, text(n), n->data.scalar.length + 1);
	return 1;
}

/* Backend and controller names: also socket file names, hence the strict charset. */
static int
check_name(struct loader *ld, yaml_node_t *n, const char *kp)
{
	const char *s = text(n);
	char desc[64];

	if (n->data.scalar.length == 0) {
		report(ld, n, kp, "'' is not a valid name: it is empty");
		return -1;
	}
	if (n->data.scalar.length > VHD_NAME_MAX) {
		report(ld, n, kp, "%s is too long (%zu characters, at most %d)",
		       describe(n, desc, sizeof(desc)), n->data.scalar.length, VHD_NAME_MAX);
		return -1;
	}
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-') {
			report(ld, n, kp, "%s is not a valid name: character %zu is not a letter, "
			       "digit, '_', '.' or '-'", describe(n, desc, sizeof(desc)), i + 1);
			return -1;
		}
	}
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
		report(ld, n, kp, "'%s' is not a valid name", s);
		return -1;
	}
	return 0;
}

static int
get_name(struct map *m, int k, char *dst, yaml_node_t **node)
{
	char kp[PATH_BUF];
	yaml_node_t *n = get_scalar(m, k, "a name", kp, sizeof(kp));

	if (n == NULL) {
		return m->values[k] == NULL ? 0 : -1;
	}
	if (check_name(m->ld, n, kp) != 0) {
		return -1;
	}
	memcpy(dst, text(n), n->data.scalar.length + 1);
	if (node != NULL) {
		*node = n;
	}
	return 1;
}

static int
get_type(struct map *m, int k, int *type)
{
	const struct vhd_config_section *sec = m->sec;
	char kp[PATH_BUF], desc[64], list[128] = "";
	yaml_node_t *n = get_scalar(m, k, "a type name", kp, sizeof(kp));
	size_t off = 0;

	if (n == NULL) {
		return m->values[k] == NULL ? 0 : -1;
	}
	for (unsigned int t = 0; t < sec->ntypes; t++) {
		if (strcmp(text(n), sec->type_names[t]) == 0) {
			*type = (int)t;
			return 1;
		}
	}
	for (unsigned int t = 0; t < sec->ntypes; t++) {
		const char *sep = t == 0 ? "" : t + 1 == sec->ntypes ? " or " : ", ";
		int w = snprintf(list + off, sizeof(list) - off, "%s%s", sep, sec->type_names[t]);

		if (w > 0 && (size_t)w < sizeof(list) - off) {
			off += (size_t)w;
		}
	}
	report(m->ld, n, kp, "%s is not a valid type (expected %s)",
	       describe(n, desc, sizeof(desc)), list);
	return -1;
}

static int
get_cpuset(struct map *m, int k, struct vhd_cpumask *mask)
{
	char kp[PATH_BUF], err[160], desc[64];
	yaml_node_t *n = get_scalar(m, k, "a CPU list or mask", kp, sizeof(kp));

	if (n == NULL) {
		return m->values[k] == NULL ? 0 : -1;
	}
	if (vhd_cpumask_parse(mask, text(n), err, sizeof(err)) != 0) {
		report(m->ld, n, kp, "invalid CPU set %s: %s", describe(n, desc, sizeof(desc)),
		       err);
		return -1;
	}
	return 1;
}

static void
add_user(struct loader *ld, const char *backend, yaml_node_t *node, const char *path,
	 bool readonly)
{
	struct user *u;

	if (ld->nusers == ld->user_cap) {
		size_t cap = ld->user_cap ? ld->user_cap * 2 : 16;
		struct user *users = realloc(ld->users, cap * sizeof(*users));

		if (users == NULL) {
			ld->nomem = true;
			return;
		}
		ld->users = users;
		ld->user_cap = cap;
	}
	u = &ld->users[ld->nusers++];
	u->backend = backend;
	u->node = node;
	u->readonly = readonly;
	fmt_path(u->path, sizeof(u->path), "%s", path);
}

/* Items of a sequence value; NULL when absent or not a sequence (reported). */
static yaml_node_t *
get_sequence(struct map *m, int k, char *kp, size_t len, size_t *count)
{
	char desc[64];
	yaml_node_t *n = map_get(m, k, kp, len);

	*count = 0;
	if (n == NULL) {
		return NULL;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		report(m->ld, n, kp, "expected a sequence, got %s",
		       describe(n, desc, sizeof(desc)));
		return NULL;
	}
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return n;
}

static yaml_node_t *
item(struct loader *ld, yaml_node_t *seq, size_t i)
{
	return node_at(ld, seq->data.sequence.items.start[i]);
}

static void
check_file(struct loader *ld, yaml_node_t *n, const char *kp, bool readonly)
{
	struct stat st;

	if (stat(text(n), &st) != 0) {
		report(ld, n, kp, "'%s': %s", text(n), strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		report(ld, n, kp, "'%s' is not a regular file or block device", text(n));
		return;
	}
	if (access(text(n), readonly ? R_OK : R_OK | W_OK) != 0) {
		report(ld, n, kp, "'%s' cannot be opened %s: %s", text(n),
		       readonly ? "for reading" : "for reading and writing", strerror(errno));
	}
}

/* DDDD:BB:DD.F, hex; device 0..1f, function 0..7. Stored in lower case. */
static int
check_pci(struct loader *ld, yaml_node_t *n, const char *kp, char *dst, size_t size)
{
	static const char shape[] = "xxxx:xx:xx.x";
	const char *s = text(n);
	char desc[64];
	unsigned long dev, fn;

	if (n->data.scalar.length != sizeof(shape) - 1 || sizeof(shape) > size) {
		goto bad;
	}
	for (size_t i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != shape[i]) {
			goto bad;
		}
		dst[i] = (char)tolower((unsigned char)s[i]);
	}
	dst[sizeof(shape) - 1] = '\0';
	dev = strtoul(dst + 8, NULL, 16);
	fn = strtoul(dst + 11, NULL, 16);
	if (dev > 0x1f || fn > 7) {
		report(ld, n, kp, "'%s' is not a valid PCI address (device must be 00..1f and "
		       "function 0..7)", s);
		dst[0] = '\0';
		return -1;
	}
	return 0;
bad:
	report(ld, n, kp, "%s is not a PCI address (expected DDDD:BB:DD.F in hex, e.g. "
	       "0000:01:00.0)", describe(n, desc, sizeof(desc)));
	dst[0] = '\0';
	return -1;
}

static void
decode_size(struct map *m, struct vhd_backend_conf *b)
{
	char kp[PATH_BUF], desc[64];
	yaml_node_t *n = get_scalar(m, VHD_BDEV_SIZE, "a size", kp, sizeof(kp));
	int rc;

	if (n == NULL) {
		return;
	}
	rc = vhd_parse_size(text(n), &b->size);
	if (rc == -ERANGE) {
		report(m->ld, n, kp, "%s is too large (more than 2^64-1 bytes)",
		       describe(n, desc, sizeof(desc)));
	} else if (rc != 0) {
		report(m->ld, n, kp, "%s is not a size (expected bytes, or a number with K, KiB, "
		       "M, MiB, G, GiB, T or TiB)", describe(n, desc, sizeof(desc)));
	} else if (b->size == 0) {
		report(m->ld, n, kp, "size must be greater than 0");
	} else if (b->block_size != 0 && b->size % b->block_size != 0) {
		report(m->ld, n, kp, "%s (%" PRIu64 " bytes) is not a multiple of block_size "
		       "(%" PRIu32 ")", describe(n, desc, sizeof(desc)), b->size, b->block_size);
	}
}

static void
decode_backend(struct loader *ld, yaml_node_t *node, size_t idx, struct vhd_backend_conf *b)
{
	char path[PATH_BUF], kp[PATH_BUF];
	struct map m;
	int type = -1;
	int64_t v;
	int rc;

	fmt_path(path, sizeof(path), "backends[%zu]", idx);
	b->line = (int)node->start_mark.line + 1;
	if (!map_open(ld, node, path, &vhd_config_backend_section, &m)) {
		return;
	}
	get_name(&m, VHD_BDEV_NAME, b->name, &ld->backend_names[idx]);
	if (get_type(&m, VHD_BDEV_TYPE, &type) > 0) {
		b->type = (enum vhd_backend_type)type;
	}
	map_check_keys(&m, type);
	if (type < 0) {
		return;
	}

	rc = get_int(&m, VHD_BDEV_BLOCK_SIZE, &v);
	if (rc > 0 && (v & (v - 1)) != 0) {
		map_get(&m, VHD_BDEV_BLOCK_SIZE, kp, sizeof(kp));
		report(ld, m.values[VHD_BDEV_BLOCK_SIZE], kp, "%" PRId64 " is not a power of two",
		       v);
		rc = -1;
	}
	if (rc > 0) {
		b->block_size = (uint32_t)v;
	} else if (rc == 0 && b->type != VHD_BACKEND_AIO && b->type != VHD_BACKEND_NVME) {
		b->block_size = 512;
	}

	switch (b->type) {
	case VHD_BACKEND_AIO:
		get_bool(&m, VHD_BDEV_READONLY, &b->readonly);
		if (get_path(&m, VHD_BDEV_PATH, b->path, sizeof(b->path)) > 0) {
			map_get(&m, VHD_BDEV_PATH, kp, sizeof(kp));
			check_file(ld, m.values[VHD_BDEV_PATH], kp, b->readonly);
		}
		break;
	case VHD_BACKEND_MALLOC:
	case VHD_BACKEND_NULL:
		if (rc < 0) {
			/* Unknown block size: do not add a "not a multiple" complaint on top. */
			b->block_size = 0;
		}
		decode_size(&m, b);
		break;
	case VHD_BACKEND_NVME:
		if (get_scalar(&m, VHD_BDEV_PCI, "a PCI address", kp, sizeof(kp)) != NULL) {
			check_pci(ld, m.values[VHD_BDEV_PCI], kp, b->pci, sizeof(b->pci));
		}
		b->nsid = 1;
		if (get_int(&m, VHD_BDEV_NAMESPACE, &v) > 0) {
			b->nsid = (uint32_t)v;
		}
		break;
	}
}

static void
decode_lun(struct loader *ld, yaml_node_t *node, const char *path, struct vhd_lun_conf *lun,
	   yaml_node_t **lun_node)
{
	struct map m;
	yaml_node_t *bnode = NULL;
	int64_t v;

	if (!map_open(ld, node, path, &vhd_config_lun_section, &m)) {
		return;
	}
	map_check_keys(&m, -1);
	if (get_int(&m, VHD_LUN_LUN, &v) > 0) {
		lun->lun = (uint32_t)v;
		*lun_node = m.values[VHD_LUN_LUN];
	}
	get_bool(&m, VHD_LUN_READONLY, &lun->readonly);
	if (get_name(&m, VHD_LUN_BACKEND, lun->backend, &bnode) > 0) {
		add_user(ld, lun->backend, bnode, path, lun->readonly);
	}
}

static void
decode_target(struct loader *ld, yaml_node_t *node, const char *path, struct vhd_target_conf *t,
	      yaml_node_t **id_node)
{
	char kp[PATH_BUF], lp[PATH_BUF];
	yaml_node_t *seq, **lun_nodes;
	struct map m;
	size_t n;
	int64_t v;

	if (!map_open(ld, node, path, &vhd_config_target_section, &m)) {
		return;
	}
	map_check_keys(&m, -1);
	if (get_int(&m, VHD_TARGET_ID, &v) > 0) {
		t->id = (uint32_t)v;
		*id_node = m.values[VHD_TARGET_ID];
	}
	seq = get_sequence(&m, VHD_TARGET_LUNS, kp, sizeof(kp), &n);
	if (seq == NULL) {
		return;
	}
	if (n == 0) {
		report(ld, seq, kp, "a target needs at least one LUN");
		return;
	}
	t->luns = calloc(n, sizeof(*t->luns));
	lun_nodes = calloc(n, sizeof(*lun_nodes));
	if (t->luns == NULL || lun_nodes == NULL) {
		free(lun_nodes);
		ld->nomem = true;
		return;
	}
	t->nluns = (unsigned int)n;
	for (size_t i = 0; i < n; i++) {
		fmt_path(lp, sizeof(lp), "%s[%zu]", kp, i);
		decode_lun(ld, item(ld, seq, i), lp, &t->luns[i], &lun_nodes[i]);
		if (lun_nodes[i] == NULL) {
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (lun_nodes[j] != NULL && t->luns[j].lun == t->luns[i].lun) {
				fmt_path(lp, sizeof(lp), "%s[%zu].lun", kp, i);
				report(ld, lun_nodes[i], lp,
				       "duplicate LUN %" PRIu32 " (first given at line %zu)",
				       t->luns[i].lun,
				       lun_nodes[j]->start_mark.line + 1);
				break;
			}
		}
	}
	free(lun_nodes);
}

static void
decode_targets(struct map *m, struct vhd_ctrlr_conf *c)
{
	struct loader *ld = m->ld;
	char kp[PATH_BUF], tp[PATH_BUF];
	yaml_node_t *seq, **id_nodes;
	size_t n;

	seq = get_sequence(m, VHD_CTRLR_TARGETS, kp, sizeof(kp), &n);
	if (seq == NULL) {
		return;
	}
	if (n == 0) {
		report(ld, seq, kp, "a scsi controller needs at least one target");
		return;
	}
	c->targets = calloc(n, sizeof(*c->targets));
	id_nodes = calloc(n, sizeof(*id_nodes));
	if (c->targets == NULL || id_nodes == NULL) {
		free(id_nodes);
		ld->nomem = true;
		return;
	}
	c->ntargets = (unsigned int)n;
	for (size_t i = 0; i < n; i++) {
		fmt_path(tp, sizeof(tp), "%s[%zu]", kp, i);
		decode_target(ld, item(ld, seq, i), tp, &c->targets[i], &id_nodes[i]);
		if (id_nodes[i] == NULL) {
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (id_nodes[j] != NULL && c->targets[j].id == c->targets[i].id) {
				fmt_path(tp, sizeof(tp), "%s[%zu].id", kp, i);
				report(ld, id_nodes[i], tp,
				       "duplicate target id %" PRIu32 " (first given at line %zu)",
				       c->targets[i].id,
				       id_nodes[j]->start_mark.line + 1);
				break;
			}
		}
	}
	free(id_nodes);
}

static void
decode_serial(struct map *m, struct vhd_ctrlr_conf *c)
{
	char kp[PATH_BUF], desc[64];
	yaml_node_t *n = map_get(m, VHD_CTRLR_SERIAL, kp, sizeof(kp));

	if (n == NULL) {
		/* The default: the name, cut to what GET_ID can carry. */
		(void)vhd_strlcpy(c->serial, c->name, sizeof(c->serial));
		return;
	}
	if (n->type != YAML_SCALAR_NODE) {
		report(m->ld, n, kp, "expected a string, got %s", describe(n, desc, sizeof(desc)));
		return;
	}
	if (n->data.scalar.length > VHD_SERIAL_MAX) {
		report(m->ld, n, kp, "%s is too long (%zu characters, at most %d)",
		       describe(n, desc, sizeof(desc)), n->data.scalar.length, VHD_SERIAL_MAX);
		return;
	}
	for (size_t i = 0; i < n->data.scalar.length; i++) {
		unsigned char ch = (unsigned char)text(n)[i];

		if (ch < 0x20 || ch > 0x7e) {
			report(m->ld, n, kp, "character %zu is not printable ASCII", i + 1);
			return;
		}
	}
	memcpy(c->serial, text(n), n->data.scalar.length + 1);
}

static void
decode_ctrlr(struct loader *ld, yaml_node_t *node, size_t idx, struct vhd_ctrlr_conf *c)
{
	char path[PATH_BUF], kp[PATH_BUF];
	yaml_node_t *bnode = NULL;
	struct map m;
	int type = -1;
	int64_t v;

	fmt_path(path, sizeof(path), "controllers[%zu]", idx);
	c->line = (int)node->start_mark.line + 1;
	c->cpumask = ld->cfg->cores;
	c->num_queues = 1;
	if (!map_open(ld, node, path, &vhd_config_ctrlr_section, &m)) {
		return;
	}
	get_name(&m, VHD_CTRLR_NAME, c->name, &ld->ctrlr_names[idx]);
	if (get_type(&m, VHD_CTRLR_TYPE, &type) > 0) {
		c->type = (enum vhd_ctrlr_type)type;
	}
	map_check_keys(&m, type);

	if (get_cpuset(&m, VHD_CTRLR_CPUMASK, &c->cpumask) > 0 && ld->cores_ok &&
	    !vhd_cpumask_subset(&c->cpumask, &ld->cfg->cores)) {
		struct vhd_cpumask extra = c->cpumask;
		char outside[256], cores[256];

		for (int cpu = vhd_cpumask_next(&c->cpumask, 0); cpu >= 0;
		     cpu = vhd_cpumask_next(&c->cpumask, (unsigned int)cpu + 1)) {
			if (vhd_cpumask_test(&ld->cfg->cores, (unsigned int)cpu)) {
				vhd_cpumask_clear(&extra, (unsigned int)cpu);
			}
		}
		if (vhd_cpumask_format_list(&extra, outside, sizeof(outside)) != 0) {
			snprintf(outside, sizeof(outside), "(many)");
		}
		if (vhd_cpumask_format_list(&ld->cfg->cores, cores, sizeof(cores)) != 0) {
			snprintf(cores, sizeof(cores), "(many)");
		}
		map_get(&m, VHD_CTRLR_CPUMASK, kp, sizeof(kp));
		report(ld, m.values[VHD_CTRLR_CPUMASK], kp, "%s %s %s not in cores (%s)",
		       vhd_cpumask_count(&extra) == 1 ? "CPU" : "CPUs", outside,
		       vhd_cpumask_count(&extra) == 1 ? "is" : "are", cores);
	}
	if (get_int(&m, VHD_CTRLR_NUM_QUEUES, &v) > 0) {
		c->num_queues = (uint16_t)v;
	}
	if (type < 0) {
		return;
	}

	switch (c->type) {
	case VHD_CTRLR_BLK:
		get_bool(&m, VHD_CTRLR_READONLY, &c->readonly);
		decode_serial(&m, c);
		if (get_name(&m, VHD_CTRLR_BACKEND, c->backend, &bnode) > 0) {
			add_user(ld, c->backend, bnode, path, c->readonly);
		}
		break;
	case VHD_CTRLR_SCSI:
		decode_targets(&m, c);
		break;
	}
}

static void
decode_kata(struct map *root)
{
	char path[PATH_BUF], kp[PATH_BUF];
	yaml_node_t *n = map_get(root, VHD_ROOT_KATA, path, sizeof(path));
	struct loader *ld = root->ld;
	struct stat st;
	struct map m;

	if (n == NULL || !map_open(ld, n, path, &vhd_config_kata_section, &m)) {
		return;
	}
	map_check_keys(&m, -1);
	if (get_path(&m, VHD_KATA_STORE, ld->cfg->kata_store, sizeof(ld->cfg->kata_store)) > 0 &&
	    stat(ld->cfg->kata_store, &st) == 0 && !S_ISDIR(st.st_mode)) {
		/* It may be missing (the daemon creates it), but not something else. */
		map_get(&m, VHD_KATA_STORE, kp, sizeof(kp));
		report(ld, m.values[VHD_KATA_STORE], kp, "'%s' exists and is not a directory",
		       ld->cfg->kata_store);
	}
}

static void
decode_socket_dir(struct map *root)
{
	struct vhd_config *cfg = root->ld->cfg;
	char kp[PATH_BUF];
	yaml_node_t *n;
	struct stat st;
	int rc;

	rc = get_path(root, VHD_ROOT_SOCKET_DIR, cfg->socket_dir, sizeof(cfg->socket_dir));
	if (rc <= 0) {
		root->ld->socket_dir_ok = rc == 0;
		return;
	}
	n = map_get(root, VHD_ROOT_SOCKET_DIR, kp, sizeof(kp));
	if (stat(cfg->socket_dir, &st) != 0) {
		report(root->ld, n, kp, "'%s': %s", cfg->socket_dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		report(root->ld, n, kp, "'%s' is not a directory", cfg->socket_dir);
	} else if (access(cfg->socket_dir, W_OK | X_OK) != 0) {
		report(root->ld, n, kp, "cannot create sockets in '%s': %s", cfg->socket_dir,
		       strerror(errno));
	} else {
		root->ld->socket_dir_ok = true;
	}
}

static void
decode_root_scalars(struct map *m)
{
	struct vhd_config *cfg = m->ld->cfg;
	char kp[PATH_BUF], desc[64];
	yaml_node_t *n;
	int64_t v;
	int rc;

	rc = get_cpuset(m, VHD_ROOT_CORES, &cfg->cores);
	m->ld->cores_ok = rc >= 0;
	if (rc == 0) {
		vhd_cpumask_set(&cfg->cores, 0);
	}
	if (get_int(m, VHD_ROOT_HUGEMEM, &v) > 0) {
		cfg->hugemem_mb = (uint64_t)v;
	}
	decode_socket_dir(m);
	n = get_scalar(m, VHD_ROOT_LOG_LEVEL, "a log level", kp, sizeof(kp));
	if (n != NULL && vhd_log_level_parse(text(n), &cfg->log_level) != 0) {
		report(m->ld, n, kp, "%s is not a log level (expected error, warning, notice, "
		       "info or debug)", describe(n, desc, sizeof(desc)));
	}
	if (get_int(m, VHD_ROOT_IDLE_SLEEP_US, &v) > 0) {
		cfg->idle_sleep_us = (uint32_t)v;
	}
	if (get_path(m, VHD_ROOT_RPC_SOCKET, cfg->rpc_socket, sizeof(cfg->rpc_socket)) > 0 &&
	    strlen(cfg->rpc_socket) > SOCKET_PATH_MAX) {
		n = map_get(m, VHD_ROOT_RPC_SOCKET, kp, sizeof(kp));
		report(m->ld, n, kp, "path is %zu characters, longer than the %zu a unix socket "
		       "allows", strlen(cfg->rpc_socket), SOCKET_PATH_MAX);
	}
	(void)get_name(m, VHD_ROOT_INSTANCE, cfg->instance, NULL);
}

static void
decode_root(struct loader *ld, yaml_node_t *root)
{
	struct vhd_config *cfg = ld->cfg;
	char kp[PATH_BUF], desc[64];
	yaml_node_t *seq;
	struct map m;
	size_t n;

	if (root->type != YAML_MAPPING_NODE) {
		report(ld, root, NULL, "the top level must be a mapping of settings, got %s",
		       describe(root, desc, sizeof(desc)));
		return;
	}
	map_open(ld, root, "", &vhd_config_root_section, &m);
	map_check_keys(&m, -1);
	decode_root_scalars(&m);
	decode_kata(&m);

	seq = get_sequence(&m, VHD_ROOT_BACKENDS, kp, sizeof(kp), &n);
	if (seq != NULL && n > 0) {
		cfg->backends = calloc(n, sizeof(*cfg->backends));
		ld->backend_names = calloc(n, sizeof(*ld->backend_names));
		if (cfg->backends == NULL || ld->backend_names == NULL) {
			ld->nomem = true;
			return;
		}
		cfg->nbackends = (unsigned int)n;
		for (size_t i = 0; i < n; i++) {
			decode_backend(ld, item(ld, seq, i), i, &cfg->backends[i]);
		}
	}
	seq = get_sequence(&m, VHD_ROOT_CONTROLLERS, kp, sizeof(kp), &n);
	if (seq != NULL && n > 0) {
		cfg->controllers = calloc(n, sizeof(*cfg->controllers));
		ld->ctrlr_names = calloc(n, sizeof(*ld->ctrlr_names));
		if (cfg->controllers == NULL || ld->ctrlr_names == NULL) {
			ld->nomem = true;
			return;
		}
		cfg->ncontrollers = (unsigned int)n;
		for (size_t i = 0; i < n; i++) {
			decode_ctrlr(ld, item(ld, seq, i), i, &cfg->controllers[i]);
		}
	}
}

/* Report each name that an earlier entry already took. */
static void
check_unique(struct loader *ld, yaml_node_t **nodes, size_t n, const char *what,
	     const char *seq)
{
	char kp[PATH_BUF];

	for (size_t i = 0; i < n; i++) {
		if (nodes[i] == NULL) {
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (nodes[j] != NULL && strcmp(text(nodes[i]), text(nodes[j])) == 0) {
				fmt_path(kp, sizeof(kp), "%s[%zu].name", seq, i);
				report(ld, nodes[i], kp, "duplicate %s name '%s' (first defined at "
				       "line %zu)", what, text(nodes[i]),
				       nodes[j]->start_mark.line + 1);
				break;
			}
		}
	}
}

/*
 * A backend may back several controllers or LUNs only if none of them writes to it: two
 * writers (or a writer and a reader with its own cache) would corrupt each other's view.
 */
static void
check_users(struct loader *ld)
{
	struct vhd_config *cfg = ld->cfg;
	char kp[PATH_BUF + 16];

	for (size_t i = 0; i < ld->nusers; i++) {
		struct user *u = &ld->users[i];
		const struct vhd_backend_conf *b = vhd_config_find_backend(cfg, u->backend);
		const struct user *first = NULL, *writer = NULL;

		fmt_path(kp, sizeof(kp), "%s.backend", u->path);
		if (b == NULL) {
			report(ld, u->node, kp, "unknown backend '%s'", u->backend);
			continue;
		}
		if (b->readonly) {
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(ld->users[j].backend, u->backend) != 0) {
				continue;
			}
			first = first != NULL ? first : &ld->users[j];
			if (!ld->users[j].readonly && writer == NULL) {
				writer = &ld->users[j];
			}
		}
		if (first == NULL) {
			continue;
		}
		if (!u->readonly) {
			report(ld, u->node, kp, "backend '%s' is already used by %s (line %zu); a "
			       "shared backend must be read-only for every user", u->backend,
			       first->path, first->node->start_mark.line + 1);
		} else if (writer != NULL) {
			report(ld, u->node, kp, "backend '%s' is already used read-write by %s "
			       "(line %zu); a shared backend must be read-only for every user",
			       u->backend, writer->path, writer->node->start_mark.line + 1);
		}
	}
}

static void
check_socket_paths(struct loader *ld)
{
	struct vhd_config *cfg = ld->cfg;
	char kp[PATH_BUF];

	if (!ld->socket_dir_ok) {
		return;
	}
	for (unsigned int i = 0; i < cfg->ncontrollers; i++) {
		size_t len = strlen(cfg->socket_dir) + 1 + strlen(cfg->controllers[i].name);

		if (ld->ctrlr_names[i] != NULL && len > SOCKET_PATH_MAX) {
			fmt_path(kp, sizeof(kp), "controllers[%u].name", i);
			report(ld, ld->ctrlr_names[i], kp, "socket path '%s/%s' is %zu characters, "
			       "longer than the %zu a unix socket allows", cfg->socket_dir,
			       cfg->controllers[i].name, len, SOCKET_PATH_MAX);
		}
	}
}

/* libyaml reader errors carry a byte offset, not a line: count it ourselves. */
static void
offset_to_mark(const char *s, size_t len, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (s[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void
report_syntax(struct loader *ld, const yaml_parser_t *parser)
{
	size_t line = parser->problem_mark.line + 1;
	size_t col = parser->problem_mark.column + 1;
	const char *problem = parser->problem != NULL ? parser->problem : "syntax error";

	if (parser->error == YAML_MEMORY_ERROR) {
		ld->nomem = true;
		return;
	}
	if (parser->error == YAML_READER_ERROR) {
		offset_to_mark(ld->input, ld->input_len, parser->problem_offset, &line, &col);
		if (parser->problem_value != -1) {
			report_at(ld, line, col, NULL, "%s (byte 0x%02x)", problem,
				  (unsigned int)parser->problem_value & 0xff);
		} else {
			report_at(ld, line, col, NULL, "%s", problem);
		}
		return;
	}
	if (parser->context != NULL) {
		report_at(ld, line, col, NULL, "%s (%s at %zu:%zu)", problem, parser->context,
			  parser->context_mark.line + 1, parser->context_mark.column + 1);
	} else {
		report_at(ld, line, col, NULL, "%s", problem);
	}
}

static void
parse_and_decode(struct loader *ld)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;

	if (!yaml_parser_initialize(&parser)) {
		ld->nomem = true;
		return;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->input, ld->input_len);
	if (!yaml_parser_load(&parser, &doc)) {
		report_syntax(ld, &parser);
		yaml_parser_delete(&parser);
		return;
	}
	ld->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		report_at(ld, 1, 1, NULL, "the file is empty; expected a mapping of settings");
	} else {
		decode_root(ld, root);
		check_unique(ld, ld->backend_names, ld->cfg->nbackends, "backend", "backends");
		check_unique(ld, ld->ctrlr_names, ld->cfg->ncontrollers, "controller",
			     "controllers");
		check_users(ld);
		check_socket_paths(ld);

		/* A second document would be silently ignored by anything reading only one. */
		if (!yaml_parser_load(&parser, &extra)) {
			report_syntax(ld, &parser);
		} else {
			yaml_node_t *r2 = yaml_document_get_root_node(&extra);

			if (r2 != NULL) {
				report(ld, r2, NULL,
				       "only one YAML document is allowed in a config");
			}
			yaml_document_delete(&extra);
		}
	}
	ld->doc = NULL;
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
}

static void
set_defaults(struct vhd_config *cfg)
{
	vhd_cpumask_zero(&cfg->cores);
	cfg->hugemem_mb = 256;
	snprintf(cfg->socket_dir, sizeof(cfg->socket_dir), "/var/tmp");
	cfg->log_level = VHD_LOG_NOTICE;
	cfg->idle_sleep_us = 0;
	snprintf(cfg->rpc_socket, sizeof(cfg->rpc_socket), "/var/tmp/vhostd.sock");
	cfg->kata_store[0] = '\0';
}

int
vhd_config_load_string(const char *name, const char *yaml, size_t len,
		       struct vhd_config **out, struct vhd_diag *diag)
{
	struct loader ld = {
		.file = name,
		.input = yaml,
		.input_len = len,
	};
	int rc = 0;

	*out = NULL;
	ld.cfg = calloc(1, sizeof(*ld.cfg));
	if (ld.cfg == NULL) {
		return -ENOMEM;
	}
	set_defaults(ld.cfg);
	ld.cfg->path = strdup(name);
	if (ld.cfg->path == NULL) {
		ld.nomem = true;
	} else {
		parse_and_decode(&ld);
	}

	if (ld.nomem) {
		rc = -ENOMEM;
	} else if (ld.ndiags > 0) {
		rc = -EINVAL;
	}
	flush_diags(&ld, diag);
	free(ld.backend_names);
	free(ld.ctrlr_names);
	free(ld.users);
	if (rc != 0) {
		vhd_config_free(ld.cfg);
		return rc;
	}
	*out = ld.cfg;
	return 0;
}

int
vhd_config_load(const char *path, struct vhd_config **out, struct vhd_diag *diag)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	ssize_t n;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		vhd_diag_add(diag, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto fail;
	}
	if (st.st_size > (off_t)CONFIG_MAX_BYTES) {
		rc = -EFBIG;
		goto fail;
	}
	/* st_size is only a hint (pipes, /proc): read to EOF, growing up to the cap. */
	cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	for (;;) {
		if (len == cap || buf == NULL) {
			char *grown;

			cap = buf == NULL ? cap : VHD_MIN(cap * 2, (size_t)CONFIG_MAX_BYTES + 1);
			grown = realloc(buf, cap);
			if (grown == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			rc = -errno;
			goto fail;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
		if (len > CONFIG_MAX_BYTES) {
			rc = -EFBIG;
			goto fail;
		}
	}
	close(fd);
	rc = vhd_config_load_string(path, buf, len, out, diag);
	free(buf);
	return rc;
fail:
	vhd_diag_add(diag, "%s: %s", path, strerror(-rc));
	free(buf);
	close(fd);
	return rc;
}

void
vhd_config_free(struct vhd_config *cfg)
{
	if (cfg == NULL) {
		return;
	}
	for (unsigned int i = 0; i < cfg->ncontrollers; i++) {
		struct vhd_ctrlr_conf *c = &cfg->controllers[i];

		for (unsigned int t = 0; t < c->ntargets; t++) {
			free(c->targets[t].luns);
		}
		free(c->targets);
	}
	free(cfg->controllers);
	free(cfg->backends);
	free(cfg->path);
	free(cfg);
}

const struct vhd_backend_conf *
vhd_config_find_backend(const struct vhd_config *cfg, const char *name)
{
	for (unsigned int i = 0; i < cfg->nbackends; i++) {
		if (cfg->backends[i].name[0] != '\0' && strcmp(cfg->backends[i].name, name) == 0) {
			return &cfg->backends[i];
		}
	}
	return NULL;
}

const char *
vhd_backend_type_name(enum vhd_backend_type type)
{
	const struct vhd_config_section *sec = &vhd_config_backend_section;

	return (unsigned int)type < sec->ntypes ? sec->type_names[type] : "unknown";
}

const char *
vhd_ctrlr_type_name(enum vhd_ctrlr_type type)
{
	const struct vhd_config_section *sec = &vhd_config_ctrlr_section;

	return (unsigned int)type < sec->ntypes ? sec->type_names[type] : "unknown";
}
