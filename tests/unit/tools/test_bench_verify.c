/* SPDX-License-Identifier: BSD-3-Clause */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_verify.h"

Test(bench_verify, crc32c_known_answers)
{
	uint8_t zeros[32] = { 0 }, ones[32];

	memset(ones, 0xff, sizeof(ones));
	cr_assert_eq(bench_crc32c("123456789", 9), 0xe3069283u);
	cr_assert_eq(bench_crc32c_update_soft(0, "123456789", 9), 0xe3069283u);
	/* RFC 3720 B.4 test vectors. */
	cr_assert_eq(bench_crc32c(zeros, sizeof(zeros)), 0x8a9136aau);
	cr_assert_eq(bench_crc32c(ones, sizeof(ones)), 0x62a8ab43u);
	cr_assert_eq(bench_crc32c("", 0), 0);
}

Test(bench_verify, crc32c_hw_matches_soft_and_chains)
{
	uint8_t buf[1031];

	for (size_t i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)(i * 131 + 7);
	}
	for (size_t len = 0; len < sizeof(buf); len += 37) {
		cr_assert_eq(bench_crc32c(buf, len), bench_crc32c_update_soft(0, buf, len),
			     "len %zu", len);
	}
	cr_assert_eq(bench_crc32c_update(bench_crc32c(buf, 100), buf + 100, sizeof(buf) - 100),
		     bench_crc32c(buf, sizeof(buf)));
}

#define UNIT 4096

Test(bench_verify, signature_roundtrip)
{
	static uint8_t blk[UNIT];
	struct bench_sig_report rep;

	bench_sig_fill(blk, UNIT, 1234, 0xfeedull, 7);
	cr_assert_eq(bench_sig_check(blk, UNIT, 1234, 0xfeedull, 7, &rep), BENCH_SIG_OK);
	cr_assert_eq(rep.status, BENCH_SIG_OK);
	/* gen 0: any generation accepted. */
	cr_assert_eq(bench_sig_check(blk, UNIT, 1234, 0xfeedull, 0, NULL), BENCH_SIG_OK);
	/* 512-byte units work too. */
	bench_sig_fill(blk, 512, 8, 1, 1);
	cr_assert_eq(bench_sig_check(blk, 512, 8, 1, 1, NULL), BENCH_SIG_OK);
}

Test(bench_verify, same_inputs_same_bytes_different_gen_different_bytes)
{
	static uint8_t a[UNIT], b[UNIT];

	bench_sig_fill(a, UNIT, 99, 5, 3);
	bench_sig_fill(b, UNIT, 99, 5, 3);
	cr_assert_eq(memcmp(a, b, UNIT), 0);
	bench_sig_fill(b, UNIT, 99, 5, 4);
	cr_assert_neq(memcmp(a + 64, b + 64, UNIT - 64), 0);
}

Test(bench_verify, corrupted_block)
{
	static uint8_t blk[UNIT];
	struct bench_sig_report rep;

	bench_sig_fill(blk, UNIT, 1234, 42, 7);
	blk[1000] ^= 0x10;
	cr_assert_eq(bench_sig_check(blk, UNIT, 1234, 42, 7, &rep), BENCH_SIG_BAD_CRC);
	cr_assert_eq(rep.first_bad_byte, 1000);
	cr_assert_neq(rep.expected, rep.found);
	blk[1000] ^= 0x10;
	cr_assert_eq(bench_sig_check(blk, UNIT, 1234, 42, 7, &rep), BENCH_SIG_OK);
	/* Damage inside the header's crc-covered fields. */
	blk[20] ^= 1; /* seed byte */
	cr_assert_eq(bench_sig_check(blk, UNIT, 1234, 42, 7, &rep), BENCH_SIG_BAD_SEED);
}

Test(bench_verify, misdirected_stale_foreign)
{
	static uint8_t blk[UNIT];
	struct bench_sig_report rep;

	bench_sig_fill(blk, UNIT, 1234, 42, 7);
	cr_assert_eq(bench_sig_check(blk, UNIT, 1242, 42, 7, &rep), BENCH_SIG_BAD_LBA);
	cr_assert_eq(rep.expected, 1242);
	cr_assert_eq(rep.found, 1234);
	cr_assert_eq(bench_sig_check(blk, UNIT, 1234, 42, 8, &rep), BENCH_SIG_BAD_GEN);
	cr_assert_eq(rep.expected, 8);
	cr_assert_eq(rep.found, 7);
	cr_assert_eq(bench_sig_check(blk, UNIT, 1234, 43, 7, &rep), BENCH_SIG_BAD_SEED);
	memset(blk, 0, UNIT);
	cr_assert_eq(bench_sig_check(blk, UNIT, 1234, 42, 7, &rep), BENCH_SIG_BAD_MAGIC);
	cr_assert_str_neq(bench_sig_status_str(BENCH_SIG_BAD_MAGIC), "unknown");
}

Test(bench_verify, unit_choice)
{
	cr_assert_eq(bench_verify_unit(4096), 4096);
	cr_assert_eq(bench_verify_unit(1 << 20), 4096);
	cr_assert_eq(bench_verify_unit(512), 512);
	cr_assert_eq(bench_verify_unit(1536), 1536);
}

Test(bench_verify, vmap_save_load)
{
	struct bench_vmap a, b, c;
	char path[] = "/tmp/vhost-bench-vmap-XXXXXX", err[256];
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(bench_vmap_init(&a, 0x1234, 4096, 8192, 4096 * 100), 0);
	cr_assert_eq(a.nblocks, 100);
	a.gen[0] = 5;
	a.gen[99] = 9;
	a.gen[50] = BENCH_GEN_UNKNOWN;
	a.next_gen = 10;
	cr_assert_eq(bench_vmap_written(&a), 2);
	cr_assert_eq(bench_vmap_save(&a, path), 0);

	cr_assert_eq(bench_vmap_init(&b, 0x9999, 4096, 8192, 4096 * 100), 0);
	cr_assert_eq(bench_vmap_load(&b, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(b.seed, 0x1234);
	cr_assert_eq(b.next_gen, 10);
	cr_assert_eq(memcmp(a.gen, b.gen, 100 * sizeof(uint32_t)), 0);

	/* Another geometry is refused with a reason. */
	cr_assert_eq(bench_vmap_init(&c, 1, 8192, 8192, 4096 * 100), 0);
	cr_assert_eq(bench_vmap_load(&c, path, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "bs 4096"));
	bench_vmap_fini(&c);

	unlink(path);
	cr_assert_eq(bench_vmap_load(&b, path, err, sizeof(err)), -ENOENT);
	bench_vmap_fini(&a);
	bench_vmap_fini(&b);
}
