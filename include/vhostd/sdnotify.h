/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * systemd readiness notification (Type=notify) without libsystemd: one datagram to
 * $NOTIFY_SOCKET. A no-op when not started by systemd.
 */
#ifndef VHOSTD_SDNOTIFY_H
#define VHOSTD_SDNOTIFY_H

/* Send `state` (e.g. "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...").
 * \return 0 (also when there is no notify socket) or -errno. */
int vhd_sd_notify(const char *state);

#endif /* VHOSTD_SDNOTIFY_H */
