/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kata.h"

/* Minor numbers are 20 bits wide. */
#define MINOR_BITS 20
#define MINOR_MASK ((1u << MINOR_BITS) - 1)

unsigned int
vhd_kata_preferred_minor(const char *name)
{
	/* FNV-1a: stable across runs and hosts, cheap, spreads short names well. */
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		h = (h ^ *p) * 16777619u;
	}
	return (h ^ (h >> MINOR_BITS)) & MINOR_MASK;
}

int
vhd_kata_socket_path(const char *store, const char *name, char *path, size_t len)
{
	int n = snprintf(path, len, "%s/block/sockets/%s", store, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int
mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(tmp)) {
		return -ENAMETOOLONG;
	}
	memcpy(tmp, dir, len + 1);
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
				return -errno;
			}
			*p = '/';
		}
	}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
		return -errno;
	}
	return 0;
}

/* Is `minor` used by a vhost-user-blk node other than `self` in dir? */
static bool
minor_taken(const char *dir, const char *self, unsigned int minor)
{
	struct dirent *de;
	bool taken = false;
	DIR *d = opendir(dir);

	if (d == NULL) {
		return false;
	}
	while (!taken && (de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;

		if (strcmp(de->d_name, self) == 0 ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path)) {
			continue;
		}
		taken = lstat(path, &st) == 0 && S_ISBLK(st.st_mode) &&
			major(st.st_rdev) == VHD_KATA_BLK_MAJOR && minor(st.st_rdev) == minor;
	}
	closedir(d);
	return taken;
}

int
vhd_kata_node_create(const char *store, const char *name, unsigned int *minor_out)
{
	char dir[PATH_MAX], path[PATH_MAX];
	unsigned int minor = vhd_kata_preferred_minor(name);
	struct stat st;
	int rc;

	if (snprintf(dir, sizeof(dir), "%s/block/sockets", store) >= (int)sizeof(dir)) {
		return -ENAMETOOLONG;
	}
	rc = mkdir_p(dir);
	if (rc != 0) {
		return rc;
	}
	if (snprintf(dir, sizeof(dir), "%s/block/devices", store) >= (int)sizeof(dir) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		return -ENAMETOOLONG;
	}
	rc = mkdir_p(dir);
	if (rc != 0) {
		return rc;
	}
	/* A node left by a previous run (crash) is ours to replace; anything else is not. */
	if (lstat(path, &st) == 0) {
		if (!S_ISBLK(st.st_mode) || major(st.st_rdev) != VHD_KATA_BLK_MAJOR) {
			return -EEXIST;
		}
		unlink(path);
	}
	for (unsigned int tries = 0; minor_taken(dir, name, minor); tries++) {
		if (tries > MINOR_MASK) {
			return -ENOSPC;
		}
		minor = (minor + 1) & MINOR_MASK;
	}
	if (mknod(path, S_IFBLK | 0640, makedev(VHD_KATA_BLK_MAJOR, minor)) != 0) {
		return -errno;
	}
	*minor_out = minor;
	return 0;
}

void
vhd_kata_node_remove(const char *store, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/block/devices/%s", store, name) < (int)sizeof(path) &&
	    lstat(path, &st) == 0 && S_ISBLK(st.st_mode) &&
	    major(st.st_rdev) == VHD_KATA_BLK_MAJOR) {
		unlink(path);
	}
}
