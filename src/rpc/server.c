/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket (see vhostd/rpc.h): one helper thread, poll() over the listening socket,
 * a wake-up eventfd and every client. Clients are non-blocking; a client's input is read only
 * while it has no unsent output, so a client that does not read its answers cannot make
 * vhostd buffer without bound, and a client that stalls mid-request only holds its own slot.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define VHD_LOG_COMPONENT "rpc"
#include "vhostd/log.h"
#include "vhostd/rpc.h"
#include "vhostd/thread.h"
#include "vhostd/unix_socket.h"

#define READ_CHUNK (64 * 1024)
#define LISTEN_BACKLOG 128

struct client {
	int fd;
	struct vhd_jsonrpc_conn *conn;
	bool closing;   /* send what is queued, then close */
	bool eof;       /* the peer will send nothing more */
};

struct vhd_rpc_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;      /* identity of our socket file, so we never unlink another's */
	ino_t ino;
	int listen_fd;
	int wake_fd;
	const struct vhd_jsonrpc_dispatcher *d;
	struct client clients[VHD_RPC_MAX_CLIENTS];
	unsigned int nclients;
	pthread_t thread;
};

static void
client_close(struct vhd_rpc_server *s, unsigned int i)
{
	struct client *c = &s->clients[i];

	close(c->fd);
	vhd_jsonrpc_conn_destroy(c->conn);
	s->clients[i] = s->clients[--s->nclients];
}

static void
accept_clients(struct vhd_rpc_server *s)
{
	while (s->nclients < VHD_RPC_MAX_CLIENTS) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				VHD_WARNLOG("%s: accept: %s", s->path, strerror(errno));
			}
			return;
		}
		c = &s->clients[s->nclients];
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->conn = vhd_jsonrpc_conn_create(s->d);
		if (c->conn == NULL) {
			close(fd);
			return;
		}
		s->nclients++;
	}
}

/*
 * Send what is queued; once all of it is sent, run requests that waited for the output to
 * drain, and send their answers too. \return false when the client is gone.
 */
static bool
client_write(struct client *c)
{
	for (;;) {
		size_t len;
		const char *out = vhd_jsonrpc_conn_output(c->conn, &len);
		ssize_t n;

		if (len == 0 && !c->closing && vhd_jsonrpc_conn_pending_input(c->conn) > 0) {
			if (vhd_jsonrpc_conn_input(c->conn, NULL, 0) != 0) {
				c->closing = true;
			}
			out = vhd_jsonrpc_conn_output(c->conn, &len);
		}
		if (len == 0) {
			return true;
		}
		n = send(c->fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			return errno == EAGAIN || errno == EINTR;
		}
		vhd_jsonrpc_conn_consume(c->conn, (size_t)n);
	}
}

/* Read and run what arrived. \return false when the client is gone. */
static bool
client_read(struct client *c, char *buf)
{
	ssize_t n = recv(c->fd, buf, READ_CHUNK, MSG_DONTWAIT);

	if (n < 0) {
		return errno == EAGAIN || errno == EINTR;
	}
	if (n == 0) {
		c->eof = true;
		return true;
	}
	if (vhd_jsonrpc_conn_input(c->conn, buf, (size_t)n) != 0) {
		c->closing = true;
	}
	return true;
}

static void *
server_main(void *arg)
{
	struct vhd_rpc_server *s = arg;
	struct pollfd pfd[VHD_RPC_MAX_CLIENTS + 2];
	char *buf = malloc(READ_CHUNK);

	if (buf == NULL) {
		VHD_ERRLOG("%s: out of memory; the control socket is not served", s->path);
		return NULL;
	}
	for (;;) {
		unsigned int n = s->nclients;
		int rc;

		pfd[0] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
		/* A full table stops accepting: newcomers wait in the backlog. */
		pfd[1] = (struct pollfd){
			.fd = s->nclients < VHD_RPC_MAX_CLIENTS ? s->listen_fd : -1,
			.events = POLLIN,
		};
		for (unsigned int i = 0; i < n; i++) {
			struct client *c = &s->clients[i];
			size_t pending;

			vhd_jsonrpc_conn_output(c->conn, &pending);
			pfd[i + 2] = (struct pollfd){.fd = c->fd};
			if (pending > 0) {
				pfd[i + 2].events = POLLOUT;
			} else if (!c->closing && !c->eof) {
				pfd[i + 2].events = POLLIN;
			}
		}
		rc = poll(pfd, n + 2, -1);
		if (rc < 0) {
			if (errno == EINTR) {
				continue;
			}
			VHD_ERRLOG("%s: poll: %s; the control socket is not served any more",
				   s->path, strerror(errno));
			break;
		}
		if (pfd[0].revents != 0) {
			break;
		}
		/* Backwards, so closing (which moves the last client into i) is safe. */
		for (unsigned int i = n; i-- > 0;) {
			struct client *c = &s->clients[i];
			short ev = pfd[i + 2].revents;
			size_t pending;
			bool alive = true;

			if (ev & POLLOUT) {
				alive = client_write(c);
			}
			if (alive && (ev & POLLIN)) {
				alive = client_read(c, buf);
				/* Answer at once; most clients wait for it. */
				alive = alive && client_write(c);
			}
			if (alive && (ev & (POLLERR | POLLNVAL))) {
				alive = false;
			}
			if (alive && (ev & POLLHUP) && !(ev & POLLIN)) {
				alive = false;
			}
			vhd_jsonrpc_conn_output(c->conn, &pending);
			if (!alive || ((c->closing || c->eof) && pending == 0)) {
				client_close(s, i);
			}
		}
		if (pfd[1].revents & POLLIN) {
			accept_clients(s);
		}
	}
	free(buf);
	return NULL;
}

int
vhd_rpc_server_start(const char *path, const struct vhd_jsonrpc_dispatcher *d,
		     struct vhd_rpc_server **out)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct vhd_rpc_server *s;
	struct stat st;
	int rc;

	if (vhd_strlcpy(addr.sun_path, path, sizeof(addr.sun_path)) != 0) {
		return -ENAMETOOLONG;
	}
	rc = vhd_unix_socket_clear_stale(path);
	if (rc != 0) {
		return rc;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return -ENOMEM;
	}
	(void)vhd_strlcpy(s->path, path, sizeof(s->path));
	s->d = d;
	s->wake_fd = -1;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		rc = -errno;
		goto fail;
	}
	/* Not listening yet, so nobody got in before the mode is tightened. */
	if (chmod(path, 0600) != 0 || stat(path, &st) != 0) {
		rc = -errno;
		unlink(path);
		goto fail;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (listen(s->listen_fd, LISTEN_BACKLOG) != 0) {
		rc = -errno;
		unlink(path);
		goto fail;
	}
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		rc = -errno;
		unlink(path);
		goto fail;
	}
	rc = vhd_thread_create(&s->thread, "vhd-rpc", server_main, s);
	if (rc != 0) {
		unlink(path);
		goto fail;
	}
	*out = s;
	return 0;

fail:
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
	}
	if (s->wake_fd >= 0) {
		close(s->wake_fd);
	}
	free(s);
	return rc;
}

void
vhd_rpc_server_stop(struct vhd_rpc_server *s)
{
	uint64_t one = 1;
	struct stat st;

	if (s == NULL) {
		return;
	}
	if (write(s->wake_fd, &one, sizeof(one)) != sizeof(one)) {
		VHD_WARNLOG("%s: cannot wake the server thread: %s", s->path, strerror(errno));
	}
	pthread_join(s->thread, NULL);
	while (s->nclients > 0) {
		client_close(s, s->nclients - 1);
	}
	close(s->listen_fd);
	close(s->wake_fd);
	/* Only our own socket: another instance may have replaced a file we thought stale. */
	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino) {
		unlink(s->path);
	}
	free(s);
}
