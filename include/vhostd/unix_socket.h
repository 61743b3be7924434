/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Listening UNIX sockets that outlive a crash: the controllers' vhost-user sockets and the
 * control socket.
 */
#ifndef VHOSTD_UNIX_SOCKET_H
#define VHOSTD_UNIX_SOCKET_H

/*
 * Make `path` free for a listening socket: a socket file nobody listens on (left by a crashed
 * process) is removed; a live socket or any other file is left alone.
 * \return 0 (path free), -EADDRINUSE (a process listens on it), -EEXIST (exists and is not a
 *         socket), -ENAMETOOLONG (longer than a socket address allows), -errno.
 */
int vhd_unix_socket_clear_stale(const char *path);

#endif /* VHOSTD_UNIX_SOCKET_H */
