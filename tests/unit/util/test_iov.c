/* SPDX-License-Identifier: BSD-3-Clause */
/* The iovec copy helpers (src/util/iov.c). */
#include <criterion/criterion.h>

#include "vhostd/iov.h"

Test(iov, copy_helpers)
{
	uint8_t a[4] = {1, 2, 3, 4}, b[3] = {5, 6, 7}, c[2] = {8, 9};
	struct iovec iov[4] = {{a, 4}, {b, 3}, {NULL, 5}, {c, 2}};
	uint8_t out[16];
	const uint8_t in[] = {0xa0, 0xa1, 0xa2, 0xa3};

	memset(out, 0xff, sizeof(out));
	cr_assert_eq(vhd_iov_to_buf(iov, 2, 0, out, sizeof(out)), 7);
	cr_assert_arr_eq(out, ((uint8_t[]){1, 2, 3, 4, 5, 6, 7}), 7);
	cr_assert_eq(out[7], 0xff);
	cr_assert_eq(vhd_iov_to_buf(iov, 2, 3, out, 2), 2);
	cr_assert_arr_eq(out, ((uint8_t[]){4, 5}), 2);
	cr_assert_eq(vhd_iov_to_buf(iov, 2, 4, out, 16), 3);
	cr_assert_eq(vhd_iov_to_buf(iov, 2, 7, out, 16), 0);
	cr_assert_eq(vhd_iov_to_buf(iov, 2, 100, out, 16), 0);
	/* Stops at the first NULL base, even when there is more after it. */
	cr_assert_eq(vhd_iov_to_buf(iov, 4, 5, out, 16), 2);
	cr_assert_eq(vhd_iov_to_buf(iov, 4, 7, out, 16), 0);

	cr_assert_eq(vhd_iov_from_buf(iov, 2, 2, in, sizeof(in)), 4);
	cr_assert_arr_eq(a, ((uint8_t[]){1, 2, 0xa0, 0xa1}), 4);
	cr_assert_arr_eq(b, ((uint8_t[]){0xa2, 0xa3, 7}), 3);
	cr_assert_eq(vhd_iov_from_buf(iov, 4, 6, in, sizeof(in)), 1);
	cr_assert_eq(b[2], 0xa0);
	cr_assert_arr_eq(c, ((uint8_t[]){8, 9}), 2);
	cr_assert_eq(vhd_iov_from_buf(iov, 0, 0, in, sizeof(in)), 0);
}
