/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kata vhost-user-store layout (src/ctrl/kata.c): paths, node creation with major 241,
 * minors stable per name and unique per store, stale nodes replaced, foreign files kept.
 * Creating device nodes needs root (the test suite runs as root).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kata.h"

static char store[64];

static void
init(void)
{
	snprintf(store, sizeof(store), "/tmp/vhd-kata-XXXXXX");
	cr_assert_not_null(mkdtemp(store));
	cr_assert_eq(geteuid(), 0, "device nodes can only be created as root");
}

static void
fini(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", store);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(kata, .init = init, .fini = fini);

static struct stat
node(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/block/devices/%s", store, name);
	cr_assert_eq(lstat(path, &st), 0, "%s missing", path);
	return st;
}

Test(kata, layout_and_major)
{
	char path[PATH_MAX];
	unsigned int minor;
	struct stat st;

	cr_assert_eq(vhd_kata_socket_path(store, "vm1-disk", path, sizeof(path)), 0);
	cr_assert_str_eq(path + strlen(store), "/block/sockets/vm1-disk");
	cr_assert_eq(vhd_kata_socket_path(store, "x", path, 10), -ENAMETOOLONG);

	cr_assert_eq(vhd_kata_node_create(store, "vm1-disk", &minor), 0);
	st = node("vm1-disk");
	cr_assert(S_ISBLK(st.st_mode));
	cr_assert_eq(major(st.st_rdev), VHD_KATA_BLK_MAJOR);
	cr_assert_eq(minor(st.st_rdev), minor);
	cr_assert_eq(minor, vhd_kata_preferred_minor("vm1-disk"));
	snprintf(path, sizeof(path), "%s/block/sockets", store);
	cr_assert_eq(stat(path, &st), 0, "sockets directory not created");
	cr_assert(S_ISDIR(st.st_mode));

	vhd_kata_node_remove(store, "vm1-disk");
	snprintf(path, sizeof(path), "%s/block/devices/vm1-disk", store);
	cr_assert_neq(access(path, F_OK), 0, "node not removed");
	vhd_kata_node_remove(store, "vm1-disk"); /* already gone: no error */
}

Test(kata, minors_stable_and_distinct)
{
	unsigned int a, b, a2;

	cr_assert_neq(vhd_kata_preferred_minor("disk-a"), vhd_kata_preferred_minor("disk-b"));
	cr_assert_eq(vhd_kata_preferred_minor("disk-a"), vhd_kata_preferred_minor("disk-a"));
	cr_assert_lt(vhd_kata_preferred_minor("disk-a"), 1u << 20);
	cr_assert_eq(vhd_kata_node_create(store, "disk-a", &a), 0);
	cr_assert_eq(vhd_kata_node_create(store, "disk-b", &b), 0);
	cr_assert_neq(a, b);
	/* A restart recreates the same node with the same minor (stale node replaced). */
	cr_assert_eq(vhd_kata_node_create(store, "disk-a", &a2), 0);
	cr_assert_eq(a2, a);
}

Test(kata, collision_moves_to_next_free_minor)
{
	char path[PATH_MAX];
	unsigned int want = vhd_kata_preferred_minor("victim"), got;

	cr_assert_eq(vhd_kata_node_create(store, "other", &got), 0);
	/* Someone already holds the preferred minor of "victim". */
	snprintf(path, sizeof(path), "%s/block/devices/squatter", store);
	cr_assert_eq(mknod(path, S_IFBLK | 0600, makedev(VHD_KATA_BLK_MAJOR, want)), 0);
	cr_assert_eq(vhd_kata_node_create(store, "victim", &got), 0);
	cr_assert_eq(got, (want + 1) & ((1u << 20) - 1));
	cr_assert_eq(minor(node("victim").st_rdev), got);
}

Test(kata, foreign_file_is_not_replaced)
{
	char path[PATH_MAX];
	unsigned int minor;
	FILE *f;

	cr_assert_eq(vhd_kata_node_create(store, "seed", &minor), 0);
	snprintf(path, sizeof(path), "%s/block/devices/mine", store);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("not a device", f);
	fclose(f);
	cr_assert_eq(vhd_kata_node_create(store, "mine", &minor), -EEXIST);
	vhd_kata_node_remove(store, "mine");
	cr_assert_eq(access(path, F_OK), 0, "a regular file was removed");
}
