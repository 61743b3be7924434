/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user control channel, front-end side. The socket is non-blocking; every wait goes
 * through poll() against one deadline per call so a stuck back-end costs at most timeout_ms
 * per step.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vub_client.h"

static const char *const g_req_names[VUB_REQ_MAX] = {
	[VUB_REQ_GET_FEATURES] = "GET_FEATURES",
	[VUB_REQ_SET_FEATURES] = "SET_FEATURES",
	[VUB_REQ_SET_OWNER] = "SET_OWNER",
	[VUB_REQ_RESET_OWNER] = "RESET_OWNER",
	[VUB_REQ_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VUB_REQ_SET_LOG_BASE] = "SET_LOG_BASE",
	[VUB_REQ_SET_LOG_FD] = "SET_LOG_FD",
	[VUB_REQ_SET_VRING_NUM] = "SET_VRING_NUM",
	[VUB_REQ_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VUB_REQ_SET_VRING_BASE] = "SET_VRING_BASE",
	[VUB_REQ_GET_VRING_BASE] = "GET_VRING_BASE",
	[VUB_REQ_SET_VRING_KICK] = "SET_VRING_KICK",
	[VUB_REQ_SET_VRING_CALL] = "SET_VRING_CALL",
	[VUB_REQ_SET_VRING_ERR] = "SET_VRING_ERR",
	[VUB_REQ_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VUB_REQ_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VUB_REQ_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VUB_REQ_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VUB_REQ_SEND_RARP] = "SEND_RARP",
	[VUB_REQ_NET_SET_MTU] = "NET_SET_MTU",
	[VUB_REQ_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VUB_REQ_IOTLB_MSG] = "IOTLB_MSG",
	[VUB_REQ_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VUB_REQ_GET_CONFIG] = "GET_CONFIG",
	[VUB_REQ_SET_CONFIG] = "SET_CONFIG",
	[VUB_REQ_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VUB_REQ_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VUB_REQ_SET_STATUS] = "SET_STATUS",
	[VUB_REQ_GET_STATUS] = "GET_STATUS",
};

const char *
vub_req_name(uint32_t req)
{
	if (req < VUB_REQ_MAX && g_req_names[req] != NULL) {
		return g_req_names[req];
	}
	return "UNKNOWN";
}

static int
conn_fail(struct vub_conn *c, int rc, const char *fmt, ...) VHD_PRINTF(3, 4);

static int
conn_fail(struct vub_conn *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return rc;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on the socket until deadline. \return 0, -ETIMEDOUT or -errno. */
static int
conn_wait(struct vub_conn *c, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int64_t left;
	int rc;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			return -ETIMEDOUT;
		}
		rc = poll(&pfd, 1, (int)VHD_MIN(left, (int64_t)INT32_MAX));
		if (rc > 0) {
			return 0;
		}
		if (rc < 0 && errno != EINTR) {
			return -errno;
		}
	}
}

int
vub_conn_connect(struct vub_conn *c, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline;
	int fd, rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	if (vhd_strlcpy(sa.sun_path, path, sizeof(sa.sun_path)) != 0) {
		return conn_fail(c, -ENAMETOOLONG, "socket path too long: %s", path);
	}
	deadline = now_ms() + timeout_ms;
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			return conn_fail(c, -errno, "socket: %s", strerror(errno));
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			break;
		}
		rc = -errno;
		close(fd);
		if (rc != -ENOENT && rc != -ECONNREFUSED && rc != -EAGAIN && rc != -EINTR) {
			return conn_fail(c, rc, "connect %s: %s", path, strerror(-rc));
		}
		if (now_ms() >= deadline) {
			return conn_fail(c, -ETIMEDOUT, "connect %s: %s (gave up after %d ms)",
					 path, strerror(-rc), timeout_ms);
		}
		usleep(20000);
	}
	c->fd = fd;
	return 0;
}

void
vub_conn_close(struct vub_conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	c->fd = -1;
}

const char *
vub_conn_error(const struct vub_conn *c)
{
	return c->err;
}

int
vub_conn_send(struct vub_conn *c, uint32_t req, uint32_t flags, const void *payload,
	      uint32_t size, const int *fds, unsigned int nfds)
{
	struct vub_msg_hdr hdr = {
		.request = req,
		.flags = (flags & ~VUB_MSG_VERSION_MASK) | VUB_MSG_VERSION,
		.size = size,
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * VUB_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size > 0 ? 2 : 1 };
	int64_t deadline = now_ms() + c->timeout_ms;
	size_t total = sizeof(hdr) + size, sent = 0;
	struct cmsghdr *cm;
	ssize_t n;
	int rc;

	if (c->fd < 0) {
		return conn_fail(c, -ENOTCONN, "%s: not connected", vub_req_name(req));
	}
	if (nfds > VUB_MAX_FDS || size > VUB_MSG_PAYLOAD_MAX) {
		return conn_fail(c, -EINVAL, "%s: too many fds or payload too big",
				 vub_req_name(req));
	}
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	while (sent < total) {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EPIPE || errno == ECONNRESET) {
				return conn_fail(c, -ECONNRESET,
						 "%s: back-end closed the connection",
						 vub_req_name(req));
			}
			if (errno != EAGAIN) {
				return conn_fail(c, -errno, "%s: send: %s", vub_req_name(req),
						 strerror(errno));
			}
			rc = conn_wait(c, POLLOUT, deadline);
			if (rc != 0) {
				return conn_fail(c, rc, "%s: send: %s", vub_req_name(req),
						 strerror(-rc));
			}
			continue;
		}
		sent += (size_t)n;
		/* Fds travel with the first byte only; advance the iovecs past what went out. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (n > 0 && mh.msg_iovlen > 0) {
			if ((size_t)n >= mh.msg_iov[0].iov_len) {
				n -= (ssize_t)mh.msg_iov[0].iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + n;
				mh.msg_iov[0].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

static void
close_fds(const int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		close(fds[i]);
	}
}

/* Read exactly len bytes; fds arriving with them are appended to got (count in ngot). */
static int
conn_read(struct vub_conn *c, void *buf, size_t len, int64_t deadline, int *got,
	  unsigned int *ngot, unsigned int cap, bool *extra_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VUB_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	size_t done = 0;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	unsigned int k, nrx;
	int rx[VUB_MAX_FDS];
	ssize_t n;
	int rc;

	while (done < len) {
		iov.iov_base = (char *)buf + done;
		iov.iov_len = len - done;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN) {
				return -errno;
			}
			rc = conn_wait(c, POLLIN, deadline);
			if (rc != 0) {
				return rc;
			}
			continue;
		}
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
				continue;
			}
			nrx = (unsigned int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			nrx = VHD_MIN(nrx, VUB_MAX_FDS);
			memcpy(rx, CMSG_DATA(cm), nrx * sizeof(int));
			for (k = 0; k < nrx; k++) {
				if (got != NULL && *ngot < cap) {
					got[(*ngot)++] = rx[k];
				} else {
					close(rx[k]);
					*extra_fds = true;
				}
			}
		}
		if ((mh.msg_flags & MSG_CTRUNC) != 0) {
			*extra_fds = true;
		}
		if (n == 0) {
			return -ECONNRESET;
		}
		done += (size_t)n;
	}
	return 0;
}

int
vub_conn_recv(struct vub_conn *c, struct vub_msg *msg, int *fds, unsigned int *nfds)
{
	int64_t deadline = now_ms() + c->timeout_ms;
	unsigned int cap = (fds != NULL && nfds != NULL) ? VHD_MIN(*nfds, VUB_MAX_FDS) : 0;
	unsigned int ngot = 0;
	bool extra = false;
	int rc;

	if (nfds != NULL) {
		*nfds = 0;
	}
	if (c->fd < 0) {
		return conn_fail(c, -ENOTCONN, "receive: not connected");
	}
	rc = conn_read(c, &msg->hdr, sizeof(msg->hdr), deadline, fds, &ngot, cap, &extra);
	if (rc == 0 && msg->hdr.size > VUB_MSG_PAYLOAD_MAX) {
		close_fds(fds, ngot);
		return conn_fail(c, -EPROTO, "reply %s: payload size %u exceeds %u",
				 vub_req_name(msg->hdr.request), msg->hdr.size,
				 VUB_MSG_PAYLOAD_MAX);
	}
	if (rc == 0) {
		rc = conn_read(c, &msg->payload, msg->hdr.size, deadline, fds, &ngot, cap, &extra);
	}
	if (rc == 0 && extra) {
		rc = -EPROTO;
		close_fds(fds, ngot);
		return conn_fail(c, rc, "reply %s: carries unexpected file descriptors",
				 vub_req_name(msg->hdr.request));
	}
	if (rc != 0) {
		close_fds(fds, ngot);
		if (rc == -ECONNRESET) {
			return conn_fail(c, rc, "back-end closed the connection");
		}
		return conn_fail(c, rc, "receive: %s", strerror(-rc));
	}
	if (nfds != NULL) {
		*nfds = ngot;
	}
	return 0;
}

/* Check that msg is a well-formed reply to req. */
static int
check_reply(struct vub_conn *c, const struct vub_msg *msg, uint32_t req)
{
	if ((msg->hdr.flags & VUB_MSG_VERSION_MASK) != VUB_MSG_VERSION) {
		return conn_fail(c, -EPROTO, "reply to %s: bad version in flags 0x%x",
				 vub_req_name(req), msg->hdr.flags);
	}
	if ((msg->hdr.flags & VUB_MSG_FLAG_REPLY) == 0) {
		return conn_fail(c, -EPROTO, "reply to %s: REPLY flag missing (flags 0x%x)",
				 vub_req_name(req), msg->hdr.flags);
	}
	if (msg->hdr.request != req) {
		return conn_fail(c, -EPROTO, "expected reply to %s, got %s (%u)",
				 vub_req_name(req), vub_req_name(msg->hdr.request),
				 msg->hdr.request);
	}
	return 0;
}

/*
 * Send and collect the reply (of any size) into *rep. want: the request has a reply of its
 * own. Without one, an ack is awaited when REPLY_ACK is on. rfds/nrfds as vub_conn_recv.
 */
static int
conn_transact(struct vub_conn *c, uint32_t req, const void *payload, uint32_t size,
	      const int *fds, unsigned int nfds, bool want, struct vub_msg *rep, int *rfds,
	      unsigned int *nrfds)
{
	bool ack = !want && c->reply_ack;
	int rc;

	rc = vub_conn_send(c, req, ack ? VUB_MSG_FLAG_NEED_REPLY : 0, payload, size, fds, nfds);
	if (rc != 0) {
		return rc;
	}
	if (!want && !ack) {
		return 0;
	}
	rc = vub_conn_recv(c, rep, rfds, nrfds);
	if (rc != 0) {
		char why[sizeof(c->err)];

		memcpy(why, c->err, sizeof(why));
		return conn_fail(c, rc, "%s: %s", vub_req_name(req), why);
	}
	rc = check_reply(c, rep, req);
	if (rc != 0) {
		if (nrfds != NULL) {
			close_fds(rfds, *nrfds);
			*nrfds = 0;
		}
		return rc;
	}
	if (ack) {
		if (rep->hdr.size != sizeof(uint64_t)) {
			return conn_fail(c, -EPROTO, "%s: ack payload is %u bytes, expected 8",
					 vub_req_name(req), rep->hdr.size);
		}
		if (rep->payload.u64 != 0) {
			return conn_fail(c, -EIO, "%s: back-end reported failure (ack %llu)",
					 vub_req_name(req),
					 (unsigned long long)rep->payload.u64);
		}
	}
	return 0;
}

int
vub_conn_call(struct vub_conn *c, uint32_t req, const void *payload, uint32_t size,
	      const int *fds, unsigned int nfds, void *reply, uint32_t reply_size)
{
	struct vub_msg rep;
	int rc;

	rc = conn_transact(c, req, payload, size, fds, nfds, reply != NULL, &rep, NULL, NULL);
	if (rc != 0 || reply == NULL) {
		return rc;
	}
	if (rep.hdr.size != reply_size) {
		return conn_fail(c, -EPROTO, "reply to %s: payload is %u bytes, expected %u",
				 vub_req_name(req), rep.hdr.size, reply_size);
	}
	memcpy(reply, &rep.payload, reply_size);
	return 0;
}

static int
get_u64(struct vub_conn *c, uint32_t req, uint64_t *v)
{
	return vub_conn_call(c, req, NULL, 0, NULL, 0, v, sizeof(*v));
}

static int
set_u64(struct vub_conn *c, uint32_t req, uint64_t v)
{
	return vub_conn_call(c, req, &v, sizeof(v), NULL, 0, NULL, 0);
}

int
vub_get_features(struct vub_conn *c, uint64_t *features)
{
	return get_u64(c, VUB_REQ_GET_FEATURES, features);
}

int
vub_set_features(struct vub_conn *c, uint64_t features)
{
	return set_u64(c, VUB_REQ_SET_FEATURES, features);
}

int
vub_set_owner(struct vub_conn *c)
{
	return vub_conn_call(c, VUB_REQ_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
}

int
vub_get_protocol_features(struct vub_conn *c, uint64_t *features)
{
	return get_u64(c, VUB_REQ_GET_PROTOCOL_FEATURES, features);
}

int
vub_set_protocol_features(struct vub_conn *c, uint64_t features)
{
	int rc;

	/* NEED_REPLY is only valid once REPLY_ACK is negotiated, i.e. after this message. */
	c->reply_ack = false;
	rc = set_u64(c, VUB_REQ_SET_PROTOCOL_FEATURES, features);
	if (rc != 0) {
		return rc;
	}
	c->protocol_features = features;
	c->reply_ack = (features & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK)) != 0;
	return 0;
}

int
vub_get_queue_num(struct vub_conn *c, uint64_t *num)
{
	return get_u64(c, VUB_REQ_GET_QUEUE_NUM, num);
}

int
vub_get_config(struct vub_conn *c, uint32_t offset, void *buf, uint32_t size)
{
	struct {
		struct vub_config_hdr h;
		uint8_t data[VUB_CONFIG_MAX];
	} req = { .h = { .offset = offset, .size = size } };
	uint32_t len = (uint32_t)sizeof(req.h) + size;
	struct vub_msg rep;
	int rc;

	if (size == 0 || size > VUB_CONFIG_MAX) {
		return conn_fail(c, -EINVAL, "GET_CONFIG: bad size %u", size);
	}
	rc = conn_transact(c, VUB_REQ_GET_CONFIG, &req, len, NULL, 0, true, &rep, NULL, NULL);
	if (rc != 0) {
		return rc;
	}
	if (rep.hdr.size == 0) {
		return conn_fail(c, -ENOMSG, "GET_CONFIG(offset %u, size %u): the back-end "
				 "refused the request (empty reply)", offset, size);
	}
	if (rep.hdr.size != len) {
		return conn_fail(c, -EPROTO, "GET_CONFIG(offset %u, size %u): reply payload is "
				 "%u bytes, expected %u", offset, size, rep.hdr.size, len);
	}
	if (rep.payload.cfg.offset != offset || rep.payload.cfg.size != size) {
		return conn_fail(c, -EPROTO, "GET_CONFIG: reply is for offset %u size %u, "
				 "asked offset %u size %u", rep.payload.cfg.offset,
				 rep.payload.cfg.size, offset, size);
	}
	memcpy(buf, rep.payload.raw + sizeof(struct vub_config_hdr), size);
	return 0;
}

int
vub_set_config(struct vub_conn *c, uint32_t offset, const void *buf, uint32_t size)
{
	struct {
		struct vub_config_hdr h;
		uint8_t data[VUB_CONFIG_MAX];
	} req = { .h = { .offset = offset, .size = size } };

	if (size == 0 || size > VUB_CONFIG_MAX) {
		return conn_fail(c, -EINVAL, "SET_CONFIG: bad size %u", size);
	}
	memcpy(req.data, buf, size);
	return vub_conn_call(c, VUB_REQ_SET_CONFIG, &req, (uint32_t)sizeof(req.h) + size, NULL,
			     0, NULL, 0);
}

int
vub_set_mem_table(struct vub_conn *c, const struct vub_mem_region *regions, const int *fds,
		  unsigned int nregions)
{
	struct vub_mem_table t = { .nregions = nregions };
	uint32_t size;

	if (nregions == 0 || nregions > VUB_MAX_MEM_REGIONS) {
		return conn_fail(c, -EINVAL, "SET_MEM_TABLE: %u regions", nregions);
	}
	memcpy(t.regions, regions, nregions * sizeof(*regions));
	size = (uint32_t)(offsetof(struct vub_mem_table, regions) +
			  nregions * sizeof(struct vub_mem_region));
	return vub_conn_call(c, VUB_REQ_SET_MEM_TABLE, &t, size, fds, nregions, NULL, 0);
}

static int
set_state(struct vub_conn *c, uint32_t req, uint32_t idx, uint32_t num)
{
	struct vub_vring_state s = { .index = idx, .num = num };

	return vub_conn_call(c, req, &s, sizeof(s), NULL, 0, NULL, 0);
}

int
vub_set_vring_num(struct vub_conn *c, uint32_t idx, uint32_t num)
{
	return set_state(c, VUB_REQ_SET_VRING_NUM, idx, num);
}

int
vub_set_vring_base(struct vub_conn *c, uint32_t idx, uint32_t base)
{
	return set_state(c, VUB_REQ_SET_VRING_BASE, idx, base);
}

int
vub_set_vring_enable(struct vub_conn *c, uint32_t idx, bool enable)
{
	return set_state(c, VUB_REQ_SET_VRING_ENABLE, idx, enable ? 1 : 0);
}

int
vub_set_vring_addr(struct vub_conn *c, uint32_t idx, uint64_t desc, uint64_t used,
		   uint64_t avail, uint32_t flags, uint64_t log_gpa)
{
	struct vub_vring_addr a = {
		.index = idx,
		.flags = flags,
		.desc_uaddr = desc,
		.used_uaddr = used,
		.avail_uaddr = avail,
		.log_gpa = log_gpa,
	};

	return vub_conn_call(c, VUB_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL, 0);
}

static int
set_vring_fd(struct vub_conn *c, uint32_t req, uint32_t idx, int fd)
{
	uint64_t v = idx & VUB_VRING_IDX_MASK;

	if (idx > VUB_VRING_IDX_MASK) {
		return conn_fail(c, -EINVAL, "%s: ring index %u", vub_req_name(req), idx);
	}
	if (fd < 0) {
		v |= VUB_VRING_NOFD_MASK;
		return vub_conn_call(c, req, &v, sizeof(v), NULL, 0, NULL, 0);
	}
	return vub_conn_call(c, req, &v, sizeof(v), &fd, 1, NULL, 0);
}

int
vub_set_vring_kick(struct vub_conn *c, uint32_t idx, int fd)
{
	return set_vring_fd(c, VUB_REQ_SET_VRING_KICK, idx, fd);
}

int
vub_set_vring_call(struct vub_conn *c, uint32_t idx, int fd)
{
	return set_vring_fd(c, VUB_REQ_SET_VRING_CALL, idx, fd);
}

int
vub_set_vring_err(struct vub_conn *c, uint32_t idx, int fd)
{
	return set_vring_fd(c, VUB_REQ_SET_VRING_ERR, idx, fd);
}

int
vub_get_vring_base(struct vub_conn *c, uint32_t idx, uint32_t *base)
{
	struct vub_vring_state s = { .index = idx }, r;
	int rc;

	rc = vub_conn_call(c, VUB_REQ_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &r, sizeof(r));
	if (rc != 0) {
		return rc;
	}
	if (r.index != idx) {
		return conn_fail(c, -EPROTO, "GET_VRING_BASE: reply for ring %u, asked %u",
				 r.index, idx);
	}
	if (r.num > UINT16_MAX) {
		return conn_fail(c, -EPROTO, "GET_VRING_BASE(%u): base %u out of range", idx,
				 r.num);
	}
	*base = r.num;
	return 0;
}

int
vub_get_inflight_fd(struct vub_conn *c, uint16_t num_queues, uint16_t queue_size, int *fd,
		    uint64_t *size, uint64_t *offset)
{
	struct vub_inflight in = { .num_queues = num_queues, .queue_size = queue_size };
	struct vub_msg rep;
	unsigned int nfd = 1;
	int rfd = -1, rc;

	rc = conn_transact(c, VUB_REQ_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0, true, &rep,
			   &rfd, &nfd);
	if (rc != 0) {
		return rc;
	}
	if (rep.hdr.size != sizeof(in) || nfd != 1) {
		if (nfd == 1) {
			close(rfd);
		}
		return conn_fail(c, -EPROTO, "GET_INFLIGHT_FD: reply has %u bytes and %u fds, "
				 "expected %zu and 1", rep.hdr.size, nfd, sizeof(in));
	}
	if (rep.payload.inflight.mmap_size == 0) {
		close(rfd);
		return conn_fail(c, -EPROTO, "GET_INFLIGHT_FD: zero-sized region");
	}
	*fd = rfd;
	*size = rep.payload.inflight.mmap_size;
	*offset = rep.payload.inflight.mmap_offset;
	return 0;
}

int
vub_set_inflight_fd(struct vub_conn *c, int fd, uint64_t size, uint64_t offset,
		    uint16_t num_queues, uint16_t queue_size)
{
	struct vub_inflight in = {
		.mmap_size = size,
		.mmap_offset = offset,
		.num_queues = num_queues,
		.queue_size = queue_size,
	};

	return vub_conn_call(c, VUB_REQ_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1, NULL, 0);
}

int
vub_set_status(struct vub_conn *c, uint8_t status)
{
	return set_u64(c, VUB_REQ_SET_STATUS, status);
}

int
vub_get_status(struct vub_conn *c, uint8_t *status)
{
	uint64_t v;
	int rc;

	rc = get_u64(c, VUB_REQ_GET_STATUS, &v);
	if (rc == 0) {
		*status = (uint8_t)v;
	}
	return rc;
}
