/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the loader, the control socket and reload: instance names, name and
 * serial checks, conf comparison. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "vhostd/config.h"

static const char *
instance(const char *set, const char *rpc)
{
	static char buf[VHD_NAME_MAX + 1];

	vhd_config_instance(set, rpc, buf, sizeof(buf));
	return buf;
}

Test(config_util, instance_names)
{
	cr_assert_str_eq(instance("", "/var/tmp/vhostd.sock"), "vhostd");
	cr_assert_str_eq(instance(NULL, "/var/tmp/vhostd.sock"), "vhostd");
	cr_assert_str_eq(instance("vm-7", "/var/tmp/vhostd.sock"), "vm-7");
	cr_assert_str_eq(instance("", "/run/vm7/ctl.sock"), "run-vm7-ctl");
	cr_assert_str_eq(instance("", "/run/vhostd/vhostd.sock"), "run-vhostd-vhostd");
	cr_assert_str_eq(instance("", "/tmp/a b+c/x"), "tmp-a_b_c-x");
	/* Different sockets give different names, even with the same file name. */
	cr_assert_str_eq(instance("", "/run/a/vhostd.sock"), "run-a-vhostd");
	cr_assert_str_eq(instance("", "/run/b/vhostd.sock"), "run-b-vhostd");
}

Test(config_util, long_paths_hash)
{
	char path[120];
	const char *a, *b;
	char first[VHD_NAME_MAX + 1];

	memset(path, 'x', sizeof(path));
	path[0] = '/';
	path[100] = '\0';
	a = instance("", path);
	cr_assert_eq(strlen(a), 23, "%s", a);
	cr_assert_eq(strncmp(a, "vhostd-", 7), 0, "%s", a);
	cr_assert_eq(vhd_config_check_name(a, NULL, 0), 0);
	snprintf(first, sizeof(first), "%s", a);
	path[50] = 'y';
	b = instance("", path);
	cr_assert_str_neq(first, b);
}

Test(config_util, check_name)
{
	char err[128];

	cr_assert_eq(vhd_config_check_name("disk-0_a.b", err, sizeof(err)), 0);
	cr_assert_eq(vhd_config_check_name("", err, sizeof(err)), -EINVAL);
	cr_assert_eq(vhd_config_check_name("..", err, sizeof(err)), -EINVAL);
	cr_assert_eq(vhd_config_check_name("a/b", err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "'a/b' is not a valid name: character 2 is not a letter, digit, "
			 "'_', '.' or '-'");
	cr_assert_eq(vhd_config_check_name("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
					   "aaaaaaaaaaaaaaaaa", err, sizeof(err)), -EINVAL);
	cr_assert_eq(vhd_config_check_serial("SN 01-x", err, sizeof(err)), 0);
	cr_assert_eq(vhd_config_check_serial("123456789012345678901", err, sizeof(err)), -EINVAL);
	cr_assert_eq(vhd_config_check_serial("a\tb", err, sizeof(err)), -EINVAL);
}

Test(config_util, conf_equal)
{
	struct vhd_backend_conf a = {.name = "d", .type = VHD_BACKEND_AIO, .path = "/x", .line = 3};
	struct vhd_backend_conf b = a;
	struct vhd_lun_conf la[] = {{.lun = 0, .backend = "d"}};
	struct vhd_lun_conf lb[] = {{.lun = 0, .backend = "d"}};
	struct vhd_target_conf ta = {.id = 1, .luns = la, .nluns = 1};
	struct vhd_target_conf tb = {.id = 1, .luns = lb, .nluns = 1};
	struct vhd_ctrlr_conf c = {.name = "c", .type = VHD_CTRLR_SCSI, .num_queues = 1,
				   .targets = &ta, .ntargets = 1, .line = 5};
	struct vhd_ctrlr_conf d = c;

	b.line = 9;
	cr_assert(vhd_backend_conf_equal(&a, &b), "line must not count");
	b.readonly = true;
	cr_assert_not(vhd_backend_conf_equal(&a, &b));
	d.targets = &tb;
	d.line = 1;
	cr_assert(vhd_ctrlr_conf_equal(&c, &d), "targets are compared by value");
	lb[0].readonly = true;
	cr_assert_not(vhd_ctrlr_conf_equal(&c, &d));
	lb[0].readonly = false;
	vhd_cpumask_set(&d.cpumask, 3);
	cr_assert_not(vhd_ctrlr_conf_equal(&c, &d));
}
