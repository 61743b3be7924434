/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user front-end (driver side) control channel: one UNIX stream connection to a
 * back-end, typed request helpers, NEED_REPLY/REPLY_ACK handling and a deadline on every
 * blocking step. Nothing here knows about block devices; see vub_blk.h for that.
 *
 * Errors: every function returns 0 or a negative errno and leaves a one-line description in
 * vub_conn_error(). -ETIMEDOUT: the back-end did not answer in time; -ECONNRESET: it closed
 * the connection; -EPROTO: it answered with a malformed or unexpected reply; -EIO: it
 * answered REPLY_ACK with a failure. After any error other than -EIO the connection is in an
 * unknown state and should be closed.
 *
 * Threads: a connection is used by one thread at a time.
 */
#ifndef VUB_CLIENT_H
#define VUB_CLIENT_H

#include "vub_proto.h"

struct vub_conn {
	int fd;
	int timeout_ms;            /* per blocking step (connect, send, receive) */
	uint64_t protocol_features; /* negotiated by vub_set_protocol_features() */
	bool reply_ack;            /* set NEED_REPLY on requests that have no reply of their own */
	char err[256];
};

/*
 * Connect to the back-end listening on path. ENOENT/ECONNREFUSED/EAGAIN are retried until
 * timeout_ms passes, so a caller may start before the server has bound its socket.
 */
int vub_conn_connect(struct vub_conn *c, const char *path, int timeout_ms);

/* Close the socket; safe on a closed or never-opened (fd = -1) connection. */
void vub_conn_close(struct vub_conn *c);

/* Last error description ("" if none). */
const char *vub_conn_error(const struct vub_conn *c);

/*
 * Low level: send one message (payload may be NULL when size is 0; up to VUB_MAX_FDS fds).
 * flags are OR-ed with the protocol version.
 */
int vub_conn_send(struct vub_conn *c, uint32_t req, uint32_t flags, const void *payload,
		  uint32_t size, const int *fds, unsigned int nfds);

/*
 * Low level: receive one message. Received fds (close-on-exec) go to fds[] up to *nfds
 * (in: capacity, out: count); extra fds are closed and reported as -EPROTO. fds/nfds may be
 * NULL when no fd is expected (any fd received is then an error).
 */
int vub_conn_recv(struct vub_conn *c, struct vub_msg *msg, int *fds, unsigned int *nfds);

/*
 * Send a request and wait for its reply, checking version, REPLY flag and request code. The
 * reply payload must be exactly reply_size bytes (copied to reply). With reply == NULL the
 * request has no reply of its own: if REPLY_ACK is negotiated NEED_REPLY is set and the u64
 * acknowledgement is awaited (non-zero -> -EIO).
 */
int vub_conn_call(struct vub_conn *c, uint32_t req, const void *payload, uint32_t size,
		  const int *fds, unsigned int nfds, void *reply, uint32_t reply_size);

/* ---- Typed requests ---- */
int vub_get_features(struct vub_conn *c, uint64_t *features);
int vub_set_features(struct vub_conn *c, uint64_t features);
int vub_set_owner(struct vub_conn *c);
int vub_get_protocol_features(struct vub_conn *c, uint64_t *features);
/* Also records the set in c->protocol_features and enables REPLY_ACK when it is included. */
int vub_set_protocol_features(struct vub_conn *c, uint64_t features);
int vub_get_queue_num(struct vub_conn *c, uint64_t *num);
/*
 * Read size bytes of config space at offset. An empty reply (how libvhost-user refuses)
 * fails with -ENOMSG, a reply of any other wrong size with -EPROTO.
 */
int vub_get_config(struct vub_conn *c, uint32_t offset, void *buf, uint32_t size);
int vub_set_config(struct vub_conn *c, uint32_t offset, const void *buf, uint32_t size);
/* regions[i] is backed by fds[i] (mapped by the back-end at regions[i].mmap_offset). */
int vub_set_mem_table(struct vub_conn *c, const struct vub_mem_region *regions,
		      const int *fds, unsigned int nregions);
int vub_set_vring_num(struct vub_conn *c, uint32_t idx, uint32_t num);
int vub_set_vring_base(struct vub_conn *c, uint32_t idx, uint32_t base);
/* Addresses are front-end virtual addresses (translated through the mem table's uaddr). */
int vub_set_vring_addr(struct vub_conn *c, uint32_t idx, uint64_t desc, uint64_t used,
		       uint64_t avail, uint32_t flags, uint64_t log_gpa);
/* fd < 0 sends the "no fd" flag (the back-end polls, or does not signal). */
int vub_set_vring_kick(struct vub_conn *c, uint32_t idx, int fd);
int vub_set_vring_call(struct vub_conn *c, uint32_t idx, int fd);
int vub_set_vring_err(struct vub_conn *c, uint32_t idx, int fd);
int vub_set_vring_enable(struct vub_conn *c, uint32_t idx, bool enable);
/* Stops the ring; *base is the back-end's next avail index. */
int vub_get_vring_base(struct vub_conn *c, uint32_t idx, uint32_t *base);
/* fd receives the region (caller closes it); size and offset describe the mapping. */
int vub_get_inflight_fd(struct vub_conn *c, uint16_t num_queues, uint16_t queue_size, int *fd,
			uint64_t *size, uint64_t *offset);
int vub_set_inflight_fd(struct vub_conn *c, int fd, uint64_t size, uint64_t offset,
			uint16_t num_queues, uint16_t queue_size);
int vub_set_status(struct vub_conn *c, uint8_t status);
int vub_get_status(struct vub_conn *c, uint8_t *status);

#endif /* VUB_CLIENT_H */
