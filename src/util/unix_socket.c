/* SPDX-License-Identifier: BSD-3-Clause */
/* Stale UNIX socket files (see vhostd/unix_socket.h). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhostd/common.h"
#include "vhostd/unix_socket.h"

int
vhd_unix_socket_clear_stale(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (vhd_strlcpy(addr.sun_path, path, sizeof(addr.sun_path)) != 0) {
		return -ENAMETOOLONG;
	}
	if (lstat(path, &st) != 0) {
		return errno == ENOENT ? 0 : -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	close(fd);
	if (rc == 0) {
		return -EADDRINUSE;
	}
	/* Another process may have removed it meanwhile: free all the same. */
	return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}
