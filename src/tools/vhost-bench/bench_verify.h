/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data-integrity signatures. Every verify unit (4 KiB, or the block size when smaller or not
 * a multiple of 4 KiB) written by vhost-bench starts with a header naming its own LBA, the
 * run seed and a generation number, followed by pseudo-random bytes derived from those;
 * a CRC32C over the whole unit (with the crc field taken as zero) closes it. A readback
 * thus detects torn, misdirected, stale and corrupted data, and says which.
 *
 * The verify map (bench_vmap) remembers the generation last written to each I/O block so a
 * read knows what to expect; it can be saved to and loaded from a file so a later run (after
 * a daemon restart, or after tampering with the image) checks the same data.
 */
#ifndef BENCH_VERIFY_H
#define BENCH_VERIFY_H

#include "vhostd/common.h"

#define BENCH_SIG_MAGIC 0x31484356424856ull /* "VHBVCH1" */

/* Generation values with special meaning in the map. */
#define BENCH_GEN_NONE 0u           /* never written: reads are not checked */
#define BENCH_GEN_UNKNOWN 0xffffffffu /* a write failed: content undefined, not checked */

struct bench_sig_hdr {
	uint64_t magic;
	uint64_t lba;   /* first 512-byte sector of this unit */
	uint64_t seed;
	uint32_t gen;
	uint32_t crc;   /* CRC32C of the unit with this field zero */
};
_Static_assert(sizeof(struct bench_sig_hdr) == 32, "signature header");

/* CRC32C (Castagnoli), standard: crc32c("123456789") == 0xe3069283. */
uint32_t bench_crc32c(const void *buf, size_t len);
/* Continue a CRC: pass 0 to start, the previous result to continue. */
uint32_t bench_crc32c_update(uint32_t crc, const void *buf, size_t len);
/* The table-driven implementation, whatever the CPU offers (for tests). */
uint32_t bench_crc32c_update_soft(uint32_t crc, const void *buf, size_t len);

/* Write a signed unit of unit bytes (>= 64, multiple of 8) at buf. */
void bench_sig_fill(void *buf, uint32_t unit, uint64_t lba, uint64_t seed, uint32_t gen);

enum bench_sig_status {
	BENCH_SIG_OK = 0,
	BENCH_SIG_BAD_MAGIC,  /* not a vhost-bench unit at all (zeroes, foreign data) */
	BENCH_SIG_BAD_LBA,    /* a unit from elsewhere on the disk (misdirected I/O) */
	BENCH_SIG_BAD_SEED,   /* written by another run */
	BENCH_SIG_BAD_CRC,    /* corrupted content */
	BENCH_SIG_BAD_GEN,    /* intact but not the last write (lost or stale write) */
};

struct bench_sig_report {
	enum bench_sig_status status;
	uint64_t expected;
	uint64_t found;
	int64_t first_bad_byte; /* for BAD_CRC: offset of the first byte differing from the
				 * expected content, -1 if unknown */
};

/*
 * Check a unit against what was written. With gen == 0 any generation is accepted (only
 * self-consistency is checked). \return the status (also in *rep when rep != NULL).
 */
enum bench_sig_status bench_sig_check(const void *buf, uint32_t unit, uint64_t lba,
				      uint64_t seed, uint32_t gen, struct bench_sig_report *rep);

const char *bench_sig_status_str(enum bench_sig_status s);

/* The unit bench uses for a block size. */
static inline uint32_t
bench_verify_unit(uint32_t bs)
{
	return (bs % 4096 == 0) ? 4096 : bs;
}

/* Generation last written to each I/O block of the range. */
struct bench_vmap {
	uint64_t seed;
	uint32_t bs;
	uint64_t offset;
	uint64_t size;
	uint64_t nblocks;
	uint32_t next_gen; /* first generation a new writer may use */
	uint32_t *gen;
};

int bench_vmap_init(struct bench_vmap *m, uint64_t seed, uint32_t bs, uint64_t offset,
		    uint64_t size);
void bench_vmap_fini(struct bench_vmap *m);
uint64_t bench_vmap_written(const struct bench_vmap *m);

/*
 * Save to path (atomically: temp file + rename). \return 0 or -errno.
 */
int bench_vmap_save(const struct bench_vmap *m, const char *path);

/*
 * Load from path into an initialised map whose bs/offset/size must match the file's
 * (-EINVAL with a reason in err otherwise); the seed and next_gen come from the file.
 * \return 0, -ENOENT when the file does not exist, or -errno.
 */
int bench_vmap_load(struct bench_vmap *m, const char *path, char *err, size_t err_len);

#endif /* BENCH_VERIFY_H */
