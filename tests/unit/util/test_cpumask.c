/* SPDX-License-Identifier: BSD-3-Clause */
#include <criterion/criterion.h>

#include "vhostd/cpumask.h"

static void
roundtrip_list(const char *in, const char *list, const char *hex)
{
	struct vhd_cpumask m;
	char buf[512], err[128];

	cr_assert_eq(vhd_cpumask_parse(&m, in, err, sizeof(err)), 0, "%s: %s", in, err);
	cr_assert_eq(vhd_cpumask_format_list(&m, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, list);
	cr_assert_eq(vhd_cpumask_format_hex(&m, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, hex);
}

Test(cpumask, list_and_hex_agree)
{
	roundtrip_list("13-16,50-56", "13-16,50-56", "0x1fc00000001e000");
	roundtrip_list("0x1fc00000001e000", "13-16,50-56", "0x1fc00000001e000");
	roundtrip_list("0", "0", "0x1");
	roundtrip_list("0x3", "0-1", "0x3");
	roundtrip_list(" 1, 3 ,5-6 ", "1,3,5-6", "0x6a");
	roundtrip_list("0X0F", "0-3", "0xf");
	roundtrip_list("2,1,0", "0-2", "0x7");
}

Test(cpumask, wider_than_64)
{
	struct vhd_cpumask m;
	char buf[512];

	cr_assert_eq(vhd_cpumask_parse(&m, "0-127", NULL, 0), 0);
	cr_assert_eq(vhd_cpumask_count(&m), 128);
	cr_assert_eq(vhd_cpumask_format_hex(&m, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "0xffffffffffffffffffffffffffffffff");
	cr_assert_eq(vhd_cpumask_parse(&m, "0x10000000000000000", NULL, 0), 0);
	cr_assert(vhd_cpumask_test(&m, 64));
	cr_assert_eq(vhd_cpumask_count(&m), 1);
	cr_assert_eq(vhd_cpumask_parse(&m, "1023", NULL, 0), 0);
	cr_assert_eq(vhd_cpumask_next(&m, 0), 1023);
}

static void
rejects(const char *in, int rc, const char *msg)
{
	struct vhd_cpumask m;
	char err[128] = "";

	cr_assert_eq(vhd_cpumask_parse(&m, in, err, sizeof(err)), rc, "%s", in);
	cr_assert_str_eq(err, msg, "%s: got '%s'", in, err);
	cr_assert(vhd_cpumask_empty(&m));
}

Test(cpumask, bad_input)
{
	rejects("", -EINVAL, "empty cpu set");
	rejects("0x0", -EINVAL, "empty cpu set");
	rejects("0x", -EINVAL, "'0x' has no hex digits");
	rejects("0xfg", -EINVAL, "'g' is not a hex digit");
	rejects("5-2", -EINVAL, "'5-2' is not a valid range (start is after end)");
	rejects("1,,2", -EINVAL, "expected a CPU number at ',2'");
	rejects("1-", -EINVAL, "expected a CPU number at 'end of list'");
	rejects("a", -EINVAL, "expected a CPU number at 'a'");
	rejects("1;2", -EINVAL, "unexpected ';2' in cpu list");
	rejects("1024", -ERANGE, "CPU 1024 is beyond the supported maximum (1023)");
	rejects("99999999999999999999999", -ERANGE,
		"CPU 99999999999999999999999 is beyond the supported maximum (1023)");
}

Test(cpumask, set_operations)
{
	struct vhd_cpumask a, b, c;

	vhd_cpumask_parse(&a, "0-3", NULL, 0);
	vhd_cpumask_parse(&b, "2-5", NULL, 0);
	cr_assert(!vhd_cpumask_subset(&a, &b));
	vhd_cpumask_and(&c, &a, &b);
	cr_assert(vhd_cpumask_subset(&c, &a));
	cr_assert(vhd_cpumask_subset(&c, &b));
	cr_assert_eq(vhd_cpumask_count(&c), 2);
	vhd_cpumask_clear(&c, 2);
	cr_assert_eq(vhd_cpumask_next(&c, 0), 3);
	cr_assert_eq(vhd_cpumask_next(&c, 4), -1);
}
