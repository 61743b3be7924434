/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhostd/sdnotify.h"

int
vhd_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t len;
	socklen_t alen;
	ssize_t n;
	int fd;

	if (path == NULL || path[0] == '\0') {
		return 0;
	}
	len = strlen(path);
	if (len >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@')) {
		return -EINVAL;
	}
	memcpy(addr.sun_path, path, len);
	/* "@name" is an abstract socket: the name starts with a NUL byte. */
	if (path[0] == '@') {
		addr.sun_path[0] = '\0';
	}
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, alen);
	close(fd);
	return n < 0 ? -errno : 0;
}
