/* SPDX-License-Identifier: BSD-3-Clause */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_verify.h"

/* ---- CRC32C: slicing-by-8 tables, or the SSE4.2 instruction when the CPU has it ---- */

#define CRC32C_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t g_crc_tab[8][256];
static bool g_crc_hw;

__attribute__((constructor)) static void
crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++) {
			c = (c >> 1) ^ ((c & 1) ? CRC32C_POLY : 0);
		}
		g_crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++) {
		for (int t = 1; t < 8; t++) {
			uint32_t c = g_crc_tab[t - 1][i];

			g_crc_tab[t][i] = (c >> 8) ^ g_crc_tab[0][c & 0xff];
		}
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	g_crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t
crc32c_sw(uint32_t c, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w ^= c;
		c = g_crc_tab[7][w & 0xff] ^ g_crc_tab[6][(w >> 8) & 0xff] ^
		    g_crc_tab[5][(w >> 16) & 0xff] ^ g_crc_tab[4][(w >> 24) & 0xff] ^
		    g_crc_tab[3][(w >> 32) & 0xff] ^ g_crc_tab[2][(w >> 40) & 0xff] ^
		    g_crc_tab[1][(w >> 48) & 0xff] ^ g_crc_tab[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len-- > 0) {
		c = (c >> 8) ^ g_crc_tab[0][(c ^ *p++) & 0xff];
	}
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t c, const uint8_t *p, size_t len)
{
	uint64_t c64 = c;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len-- > 0) {
		c = __builtin_ia32_crc32qi(c, *p++);
	}
	return c;
}
#endif

uint32_t
bench_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	uint32_t c = ~crc;

#if defined(__x86_64__)
	if (g_crc_hw) {
		return ~crc32c_hw(c, buf, len);
	}
#endif
	return ~crc32c_sw(c, buf, len);
}

uint32_t
bench_crc32c_update_soft(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32c_sw(~crc, buf, len);
}

uint32_t
bench_crc32c(const void *buf, size_t len)
{
	return bench_crc32c_update(0, buf, len);
}

/* ---- Signatures ---- */

static inline uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The body bytes of a unit: a stream keyed by (seed, lba, gen). */
static void
fill_body(uint64_t *w, size_t nwords, uint64_t lba, uint64_t seed, uint32_t gen)
{
	uint64_t s = mix64(seed ^ mix64(lba ^ ((uint64_t)gen << 40)));

	for (size_t i = 0; i < nwords; i++) {
		s += 0x9e3779b97f4a7c15ull;
		w[i] = mix64(s);
	}
}

static uint32_t
unit_crc(const uint8_t *buf, uint32_t unit)
{
	static const uint32_t zero;
	uint32_t c;

	c = bench_crc32c_update(0, buf, offsetof(struct bench_sig_hdr, crc));
	c = bench_crc32c_update(c, &zero, sizeof(zero));
	return bench_crc32c_update(c, buf + sizeof(struct bench_sig_hdr),
				   unit - sizeof(struct bench_sig_hdr));
}

void
bench_sig_fill(void *buf, uint32_t unit, uint64_t lba, uint64_t seed, uint32_t gen)
{
	struct bench_sig_hdr *h = buf;

	h->magic = BENCH_SIG_MAGIC;
	h->lba = lba;
	h->seed = seed;
	h->gen = gen;
	h->crc = 0;
	fill_body((uint64_t *)(h + 1), (unit - sizeof(*h)) / 8, lba, seed, gen);
	h->crc = unit_crc(buf, unit);
}

static enum bench_sig_status
report(struct bench_sig_report *rep, enum bench_sig_status s, uint64_t exp, uint64_t found)
{
	if (rep != NULL) {
		rep->status = s;
		rep->expected = exp;
		rep->found = found;
		rep->first_bad_byte = -1;
	}
	return s;
}

/* Offset of the first byte of buf that differs from the unit as it was written. */
static int64_t
first_difference(const uint8_t *buf, uint32_t unit, uint64_t lba, uint64_t seed, uint32_t gen)
{
	uint64_t words[512];
	uint32_t done = sizeof(struct bench_sig_hdr);

	/* The header fields were compared already; look for the damage in the body. */
	if (unit - done > sizeof(words)) {
		return -1;
	}
	fill_body(words, (unit - done) / 8, lba, seed, gen);
	for (uint32_t i = 0; i < unit - done; i++) {
		if (buf[done + i] != ((const uint8_t *)words)[i]) {
			return done + i;
		}
	}
	return -1;
}

enum bench_sig_status
bench_sig_check(const void *buf, uint32_t unit, uint64_t lba, uint64_t seed, uint32_t gen,
		struct bench_sig_report *rep)
{
	struct bench_sig_hdr h;
	uint32_t crc;

	memcpy(&h, buf, sizeof(h));
	if (h.magic != BENCH_SIG_MAGIC) {
		return report(rep, BENCH_SIG_BAD_MAGIC, BENCH_SIG_MAGIC, h.magic);
	}
	if (h.lba != lba) {
		return report(rep, BENCH_SIG_BAD_LBA, lba, h.lba);
	}
	if (h.seed != seed) {
		return report(rep, BENCH_SIG_BAD_SEED, seed, h.seed);
	}
	crc = unit_crc(buf, unit);
	if (crc != h.crc) {
		/* expected: the CRC stored with the unit; found: what its content hashes to. */
		report(rep, BENCH_SIG_BAD_CRC, h.crc, crc);
		if (rep != NULL) {
			rep->first_bad_byte = first_difference(buf, unit, lba, seed, h.gen);
		}
		return BENCH_SIG_BAD_CRC;
	}
	if (gen != 0 && h.gen != gen) {
		return report(rep, BENCH_SIG_BAD_GEN, gen, h.gen);
	}
	return report(rep, BENCH_SIG_OK, 0, 0);
}

const char *
bench_sig_status_str(enum bench_sig_status s)
{
	switch (s) {
	case BENCH_SIG_OK:
		return "ok";
	case BENCH_SIG_BAD_MAGIC:
		return "no signature (magic mismatch)";
	case BENCH_SIG_BAD_LBA:
		return "block from another LBA (misdirected)";
	case BENCH_SIG_BAD_SEED:
		return "block written by another run (seed mismatch)";
	case BENCH_SIG_BAD_CRC:
		return "corrupted content (crc32c mismatch)";
	case BENCH_SIG_BAD_GEN:
		return "stale data (generation mismatch)";
	}
	return "unknown";
}

/* ---- Verify map ---- */

struct vmap_file_hdr {
	char magic[8];
	uint32_t version;
	uint32_t bs;
	uint64_t offset;
	uint64_t size;
	uint64_t nblocks;
	uint64_t seed;
	uint32_t next_gen;
	uint32_t crc; /* CRC32C of the generation array */
};

static const char g_vmap_magic[8] = { 'V', 'H', 'B', 'V', 'M', 'A', 'P', '1' };

int
bench_vmap_init(struct bench_vmap *m, uint64_t seed, uint32_t bs, uint64_t offset,
		uint64_t size)
{
	memset(m, 0, sizeof(*m));
	if (bs == 0) {
		return -EINVAL;
	}
	m->seed = seed;
	m->bs = bs;
	m->offset = offset;
	m->size = size;
	m->nblocks = size / bs;
	m->next_gen = 1;
	m->gen = calloc(m->nblocks > 0 ? m->nblocks : 1, sizeof(*m->gen));
	return m->gen == NULL ? -ENOMEM : 0;
}

void
bench_vmap_fini(struct bench_vmap *m)
{
	free(m->gen);
	m->gen = NULL;
}

uint64_t
bench_vmap_written(const struct bench_vmap *m)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < m->nblocks; i++) {
		n += (m->gen[i] != BENCH_GEN_NONE && m->gen[i] != BENCH_GEN_UNKNOWN);
	}
	return n;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		if (n == 0) {
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
bench_vmap_save(const struct bench_vmap *m, const char *path)
{
	struct vmap_file_hdr h = {
		.version = 1,
		.bs = m->bs,
		.offset = m->offset,
		.size = m->size,
		.nblocks = m->nblocks,
		.seed = m->seed,
		.next_gen = m->next_gen,
	};
	char tmp[4096];
	int fd, rc, n;

	memcpy(h.magic, g_vmap_magic, sizeof(h.magic));
	h.crc = bench_crc32c(m->gen, m->nblocks * sizeof(*m->gen));
	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		return -errno;
	}
	rc = write_all(fd, &h, sizeof(h));
	if (rc == 0) {
		rc = write_all(fd, m->gen, m->nblocks * sizeof(*m->gen));
	}
	if (rc == 0 && fsync(fd) != 0) {
		rc = -errno;
	}
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -errno;
	}
	if (rc != 0) {
		unlink(tmp);
	}
	return rc;
}

int
bench_vmap_load(struct bench_vmap *m, const char *path, char *err, size_t err_len)
{
	struct vmap_file_hdr h;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = read_all(fd, &h, sizeof(h));
	if (rc == 0 && memcmp(h.magic, g_vmap_magic, sizeof(h.magic)) != 0) {
		rc = -EINVAL;
		snprintf(err, err_len, "%s: not a vhost-bench verify state file", path);
	} else if (rc == 0 && (h.bs != m->bs || h.offset != m->offset || h.size != m->size ||
			       h.nblocks != m->nblocks)) {
		rc = -EINVAL;
		snprintf(err, err_len, "%s: written for bs %u offset %llu size %llu; this run "
			 "uses bs %u offset %llu size %llu", path, h.bs,
			 (unsigned long long)h.offset, (unsigned long long)h.size, m->bs,
			 (unsigned long long)m->offset, (unsigned long long)m->size);
	} else if (rc == 0) {
		rc = read_all(fd, m->gen, m->nblocks * sizeof(*m->gen));
		if (rc == 0 && bench_crc32c(m->gen, m->nblocks * sizeof(*m->gen)) != h.crc) {
			rc = -EINVAL;
			snprintf(err, err_len, "%s: checksum mismatch (file damaged)", path);
		} else if (rc != 0) {
			snprintf(err, err_len, "%s: truncated", path);
		}
	} else {
		snprintf(err, err_len, "%s: truncated header", path);
	}
	close(fd);
	if (rc == 0) {
		m->seed = h.seed;
		m->next_gen = VHD_MAX(h.next_gen, 1u);
	}
	return rc;
}
