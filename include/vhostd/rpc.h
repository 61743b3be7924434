/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The runtime control interface: a UNIX socket speaking JSON-RPC 2.0 (vhostd/jsonrpc.h) with
 * the method names and parameters of SPDK's vhost target for what both do, plus vhostd's own
 * (docs/rpc.md); and DPDK telemetry commands for the statistics.
 *
 * Every method runs on the server thread and calls the control plane (vhostd/ctrl.h), the
 * same functions the config loader uses. One request runs at a time; a slow one (deleting a
 * controller drains its in-flight I/O) delays the others but never blocks the data path.
 */
#ifndef VHOSTD_RPC_H
#define VHOSTD_RPC_H

#include "vhostd/jsonrpc.h"

/* Clients served at once; more wait in the listen backlog. */
#define VHD_RPC_MAX_CLIENTS 128

/* What vhostd_get_info reports; strings are copied. */
struct vhd_rpc_daemon_info {
	const char *instance;
	const char *rpc_socket;
	const char *config;
};

void vhd_rpc_set_daemon_info(const struct vhd_rpc_daemon_info *info);

/* vhostd's method table (for the server; in-process callers may feed a jsonrpc conn). */
const struct vhd_jsonrpc_dispatcher *vhd_rpc_dispatcher(void);

struct vhd_rpc_server;

/*
 * Listen on path (a stale socket file is replaced: vhd_unix_socket_clear_stale(); the socket
 * is created with mode 0600) and
 * serve d from a helper thread pinned to the control CPUs. Each client may send any number
 * of requests; a request larger than d->max_request, or malformed JSON, gets an error reply
 * and the connection is closed. Other clients are not affected.
 * \return 0, or the errors of vhd_unix_socket_clear_stale(), -errno.
 */
int vhd_rpc_server_start(const char *path, const struct vhd_jsonrpc_dispatcher *d,
			 struct vhd_rpc_server **out);

/* Stop serving, close every connection, join the thread, remove the socket file. */
void vhd_rpc_server_stop(struct vhd_rpc_server *s);

/*
 * Register the DPDK telemetry commands (/vhostd/controllers, /vhostd/stats,NAME,
 * /vhostd/queues,NAME, /vhostd/bdevs, /vhostd/workers). \return 0 or -errno.
 */
int vhd_rpc_telemetry_init(void);

#endif /* VHOSTD_RPC_H */
