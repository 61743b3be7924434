/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-scsi device (VIRTIO 1.2 §5.6): request framing, LUN addressing, task management,
 * the event queue and runtime LUN changes. The SCSI commands themselves are in scsi_cmd.c.
 *
 * Framing: the 51-byte request header may share descriptors with data-out, the 108-byte
 * response with data-in; neither is assumed to be one descriptor. The header is copied once
 * before it is looked at. A chain without room for the response cannot be answered and breaks
 * the queue (as in QEMU); every other malformed request is answered (FAILURE, OVERRUN,
 * BAD_TARGET). Without VIRTIO_SCSI_F_INOUT, which QEMU never offers, a request with data in
 * both directions is a FAILURE.
 *
 * Task management: backend I/O cannot be cancelled. A TMF marks the commands it hits
 * (abort_response), each stops at its next step or when its I/O returns, and the TMF answers
 * once the last of them is on the used ring, as the spec requires. No allocation: a pending
 * TMF counts the commands it waits for; a finishing aborted command finds the pending TMFs
 * that counted it by scope and arrival order (it arrived before the TMF).
 *
 * Threads: every queue of the device runs on one worker, which owns everything below; the
 * control path reaches it through conf->exec (vhd_scsi_add_lun() ...).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define VHD_LOG_COMPONENT "scsi"
#include "vhostd/log.h"
#include "scsi_internal.h"

#define REQ_LEN sizeof(struct virtio_scsi_cmd_req)
#define RESP_LEN sizeof(struct virtio_scsi_cmd_resp)
#define EVENT_LEN sizeof(struct virtio_scsi_event)

#define CTRL_VQ 0
#define EVENT_VQ 1

/* iovecs to re-walk a chain too long for its task's iov[] (only to answer it). */
#define SCRATCH_IOV 4096

struct scsi_tmf {
	uint32_t subtype;
	uint32_t target;
	struct scsi_lu *lu;
	uint64_t tag;
	uint64_t seq;
	uint32_t waiting;            /* commands hit by this TMF still running */
};

struct scsi_task {
	struct vhd_task base;
	unsigned int resp_cnt;       /* iovecs of the response, from base.chain.nreadable */
	TAILQ_ENTRY(scsi_task) link; /* posted event buffer / pending TMF */
	union {
		struct scsi_cmd cmd;     /* request queues */
		struct scsi_tmf tmf;     /* control queue */
	} u;
};

TAILQ_HEAD(scsi_task_list, scsi_task);

struct scsi_dev {
	struct vhd_dev base;
	vhd_scsi_exec_fn exec;
	void *exec_owner;
	uint32_t remove_timeout_ms;
	/* Owned by the worker while queues run; by the control path otherwise. */
	struct scsi_target *targets[VHD_SCSI_MAX_TARGETS];
	TAILQ_HEAD(, scsi_lu) removed;    /* unlinked LUs whose commands still run */
	unsigned int nstarted;            /* started queues */
	uint64_t features;                /* negotiated */
	struct vhd_queue *eventq;
	struct scsi_task_list event_bufs; /* buffers the driver posted on the event queue */
	bool events_missed;
	struct scsi_task_list tmfs;       /* TMFs waiting for aborted commands */
	uint64_t seq;
	struct iovec *scratch;            /* [SCRATCH_IOV] */
};

static const struct vhd_dev_ops g_scsi_ops;

static struct scsi_dev *
to_scsi(struct vhd_dev *dev)
{
	return VHD_CONTAINER_OF(dev, struct scsi_dev, base);
}

static struct scsi_task *
to_scsi_task(struct vhd_task *t)
{
	return VHD_CONTAINER_OF(t, struct scsi_task, base);
}

bool
vhd_dev_is_scsi(const struct vhd_dev *dev)
{
	return dev->ops == &g_scsi_ops;
}

static bool
negotiated(const struct scsi_dev *d, unsigned int bit)
{
	return (d->features & (1ull << bit)) != 0;
}

/* Call fn for every LU of a target. */
static void
foreach_lu(struct scsi_target *t, void (*fn)(struct scsi_lu *lu, void *arg), void *arg)
{
	for (unsigned int p = 0; p < SCSI_LUN_PAGES; p++) {
		struct scsi_lu **page = t->pages[p];

		for (unsigned int i = 0; page != NULL && i < SCSI_LUN_PAGE_SIZE; i++) {
			if (page[i] != NULL) {
				fn(page[i], arg);
			}
		}
	}
}

static void
foreach_dev_lu(struct scsi_dev *d, void (*fn)(struct scsi_lu *lu, void *arg), void *arg)
{
	for (unsigned int i = 0; i < VHD_SCSI_MAX_TARGETS; i++) {
		if (d->targets[i] != NULL) {
			foreach_lu(d->targets[i], fn, arg);
		}
	}
}

/* ---- guest buffers ---- */

/*
 * Find the iovecs holding the first len writable bytes (response, event). \return false when
 * the chain has fewer, or some of them are outside guest memory or not in iov[].
 */
static bool
locate_resp(struct scsi_task *st, uint64_t len)
{
	struct vhd_task *t = &st->base;
	unsigned int i = t->chain.nreadable;
	uint64_t have = 0;

	if (t->chain.writable_len < len) {
		return false;
	}
	for (; i < t->chain.niov && have < len; i++) {
		if (t->iov[i].iov_base == NULL) {
			return false;
		}
		have += t->iov[i].iov_len;
	}
	st->resp_cnt = i - t->chain.nreadable;
	return have >= len;
}

static void
write_resp(struct scsi_task *st, const void *buf, size_t len)
{
	struct vhd_task *t = &st->base;

	if (vhd_likely(vhd_task_may_write_guest(t))) {
		vhd_iov_from_buf(&t->iov[t->chain.nreadable], st->resp_cnt, 0, buf, len);
	}
}

/*
 * Make byte `off` of the writable iovecs start an iovec, splitting the one that holds it.
 * \return the index of the first iovec past `off`, or -ENOBUFS (no room for one more).
 */
static int
split_at(struct vhd_task *t, size_t off)
{
	unsigned int cnt = t->chain.niov;
	unsigned int i = t->chain.nreadable;

	while (i < cnt && off >= t->iov[i].iov_len) {
		off -= t->iov[i].iov_len;
		i++;
	}
	if (off == 0) {
		return (int)i;
	}
	if (cnt >= VHD_TASK_IOV_MAX) {
		return -ENOBUFS;
	}
	memmove(&t->iov[i + 1], &t->iov[i], (cnt - i) * sizeof(t->iov[0]));
	t->iov[i].iov_len = off;
	t->iov[i + 1].iov_base = (uint8_t *)t->iov[i + 1].iov_base + off;
	t->iov[i + 1].iov_len -= off;
	t->chain.niov = (uint16_t)(cnt + 1);
	return (int)i + 1;
}

/* ---- addressing ---- */

/*
 * The target a virtio-scsi LUN field names, or NULL (BAD_TARGET). *lun receives the LUN, or
 * UINT32_MAX when the address cannot name one of ours (multi-level, other methods).
 */
static struct scsi_target *
decode_lun(struct scsi_dev *d, const uint8_t *f, uint32_t *lun, bool *wlun)
{
	struct scsi_target *t;
	bool tail_zero = (f[4] | f[5] | f[6] | f[7]) == 0;

	*wlun = false;
	*lun = UINT32_MAX;
	if (f[0] != 1) {
		return NULL;
	}
	t = d->targets[f[1]];
	if (t == NULL) {
		return NULL;
	}
	if (f[2] == 0xc1 && f[3] == 0x01 && tail_zero) {
		*wlun = true; /* REPORT LUNS well-known LU */
	} else if (tail_zero && (f[2] == 0 || (f[2] & 0xc0) == 0x40)) {
		/* Peripheral (bus 0, Windows) or flat space (Linux sets it even for LUN 0). */
		*lun = (uint32_t)(f[2] & 0x3f) << 8 | f[3];
	}
	return t;
}

static void
encode_lun(uint8_t *f, uint32_t target, uint32_t lun)
{
	memset(f, 0, 8);
	f[0] = 1;
	f[1] = (uint8_t)target;
	/* Linux decodes events as lun[2] << 8 | lun[3] without masking the method bits, so only
	 * LUNs that need it get the flat-space bit: then it matches Linux's own LUN numbers. */
	f[2] = lun < 256 ? 0 : (uint8_t)(0x40 | lun >> 8);
	f[3] = (uint8_t)lun;
}

/* ---- event queue ---- */

static void
post_event(struct scsi_dev *d, uint32_t event, uint32_t target, uint32_t lun, uint32_t reason)
{
	struct virtio_scsi_event ev;
	struct scsi_task *st;

	if (d->eventq == NULL) {
		return; /* no driver running: it scans what exists when it starts */
	}
	st = TAILQ_FIRST(&d->event_bufs);
	if (st == NULL) {
		d->events_missed = true;
		return;
	}
	TAILQ_REMOVE(&d->event_bufs, st, link);
	memset(&ev, 0, sizeof(ev));
	ev.event = event | (d->events_missed ? VIRTIO_SCSI_T_EVENTS_MISSED : 0);
	if (event != VIRTIO_SCSI_T_NO_EVENT) {
		encode_lun(ev.lun, target, lun);
	}
	ev.reason = reason;
	d->events_missed = false;
	write_resp(st, &ev, sizeof(ev));
	vhd_task_complete(&st->base, EVENT_LEN);
}

static void
event_submit(struct scsi_dev *d, struct scsi_task *st)
{
	if (!locate_resp(st, EVENT_LEN) || st->base.q != d->eventq) {
		/* Not a usable event buffer: hand it back unused. */
		vhd_task_complete(&st->base, 0);
		return;
	}
	TAILQ_INSERT_TAIL(&d->event_bufs, st, link);
	/* Events were dropped for want of a buffer: say so now (VIRTIO 1.2 §5.6.6.3). */
	if (d->events_missed) {
		post_event(d, VIRTIO_SCSI_T_NO_EVENT, 0, 0, 0);
	}
}

/* ---- request queues ---- */

static void
cmd_done(struct scsi_cmd *cmd)
{
	struct scsi_task *st = VHD_CONTAINER_OF(cmd, struct scsi_task, u.cmd);
	struct vhd_task *t = &st->base;
	struct scsi_dev *d = to_scsi(t->q->dev);
	struct virtio_scsi_cmd_resp resp;
	bool aborted = cmd->abort_response != 0;
	bool linked = cmd->linked;
	uint32_t used = RESP_LEN;
	bool failed;

	if (linked) {
		TAILQ_REMOVE(&cmd->lu->cmds, cmd, lu_link);
		cmd->lu->inflight--;
		cmd->linked = false;
	}
	memset(&resp, 0, sizeof(resp));
	resp.resid = (uint32_t)VHD_MIN(cmd->data_len - cmd->xfer, (uint64_t)UINT32_MAX);
	if (aborted) {
		resp.response = cmd->abort_response;
	} else {
		resp.response = cmd->response;
		if (cmd->response == VIRTIO_SCSI_S_OK) {
			resp.status = cmd->status;
			resp.sense_len = VHD_MIN(cmd->sense_len, (uint8_t)VIRTIO_SCSI_SENSE_SIZE);
			memcpy(resp.sense, cmd->sense, resp.sense_len);
		}
	}
	if (cmd->dir == SCSI_DIR_FROM_DEV) {
		used += (uint32_t)cmd->xfer;
	}
	write_resp(st, &resp, sizeof(resp));
	failed = resp.response != VIRTIO_SCSI_S_OK || resp.status != SCSI_STATUS_GOOD;
	vhd_stats_account(&t->q->stats, cmd->op, cmd->xfer, failed, t->start_tsc);
	if (cmd->lu != NULL) {
		/* Per LU too: bdev_get_iostat reports a backend's LUNs. */
		vhd_stats_account(&cmd->lu->stats, cmd->op, cmd->xfer, failed, t->start_tsc);
	}
	vhd_task_complete(t, used);
	if (aborted && linked) {
		/* After the command's used entry: the TMF must not overtake it. */
		struct scsi_task *it = TAILQ_FIRST(&d->tmfs);

		while (it != NULL) {
			struct scsi_task *next = TAILQ_NEXT(it, link);
			struct scsi_tmf *tmf = &it->u.tmf;
			bool covers;

			switch (tmf->subtype) {
			case VIRTIO_SCSI_T_TMF_ABORT_TASK:
				covers = cmd->lu == tmf->lu && cmd->tag == tmf->tag;
				break;
			case VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET:
				covers = cmd->lu->target == tmf->target;
				break;
			default:
				covers = cmd->lu == tmf->lu;
				break;
			}
			if (covers && cmd->seq < tmf->seq && --tmf->waiting == 0) {
				uint8_t r = VIRTIO_SCSI_S_FUNCTION_COMPLETE;

				TAILQ_REMOVE(&d->tmfs, it, link);
				write_resp(it, &r, 1);
				vhd_task_complete(&it->base, 1);
			}
			it = next;
		}
	}
}

/* Answer a request that never reaches a LU. */
static void
fail_request(struct scsi_cmd *cmd, uint8_t response)
{
	cmd->response = response;
	cmd->done(cmd);
}

/* Drop `n` bytes from the front of an iovec array. */
static void
iov_skip(struct iovec **iov, unsigned int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0 && n > 0) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

/*
 * A chain with more segments than iov[] holds, whose response was left out of it (a WRITE:
 * the data-out comes first). Walk it again into the device's scratch array only to find the
 * response and answer FAILURE, rather than leave the guest waiting forever. \return false
 * when even that is impossible.
 */
static bool
fail_oversized(struct scsi_dev *d, struct scsi_task *st)
{
	struct vhd_task *t = &st->base;
	struct virtio_scsi_cmd_resp resp;
	struct vhd_chain c;
	unsigned int i;
	uint64_t have = 0;

	if (t->chain.error != -ENOBUFS || d->scratch == NULL ||
	    vhd_vq_walk(&t->q->vq, t->chain.head, &c, d->scratch, SCRATCH_IOV) != 0 ||
	    c.writable_len < RESP_LEN) {
		return false;
	}
	for (i = c.nreadable; i < c.niov && have < RESP_LEN; i++) {
		if (d->scratch[i].iov_base == NULL) {
			return false;
		}
		have += d->scratch[i].iov_len;
	}
	if (have < RESP_LEN) {
		return false;
	}
	memset(&resp, 0, sizeof(resp));
	resp.response = VIRTIO_SCSI_S_FAILURE;
	resp.resid = (uint32_t)VHD_MIN(c.readable_len + c.writable_len - REQ_LEN - RESP_LEN,
				       (uint64_t)UINT32_MAX);
	vhd_iov_from_buf(&d->scratch[c.nreadable], i - c.nreadable, 0, &resp, sizeof(resp));
	vhd_stats_account(&t->q->stats, VHD_STAT_OTHER, 0, true, t->start_tsc);
	vhd_task_complete(t, RESP_LEN);
	return true;
}

static void
request_submit(struct scsi_dev *d, struct scsi_task *st)
{
	struct vhd_task *t = &st->base;
	struct vhd_chain *c = &t->chain;
	struct scsi_cmd *cmd = &st->u.cmd;
	struct virtio_scsi_cmd_req req;
	uint64_t out_len, in_len;
	struct scsi_target *target;
	uint32_t lun;
	bool wlun;
	int data;

	if (!locate_resp(st, RESP_LEN)) {
		if (fail_oversized(d, st)) {
			return;
		}
		vhd_vq_set_broken(&t->q->vq, "head %u: the %zu-byte virtio-scsi response does not "
				  "fit in its %" PRIu64 " writable bytes (in guest memory)",
				  c->head, RESP_LEN, c->writable_len);
		vhd_task_complete(t, 0);
		return;
	}
	memset(cmd, 0, offsetof(struct scsi_cmd, io));
	cmd->done = cmd_done;
	cmd->queue_broken = &t->q->vq.broken;
	cmd->op = VHD_STAT_OTHER;
	out_len = c->readable_len > REQ_LEN ? c->readable_len - REQ_LEN : 0;
	in_len = c->writable_len - RESP_LEN;
	cmd->data_len = out_len + in_len;
	if (c->error != 0 || c->readable_len < REQ_LEN) {
		fail_request(cmd, VIRTIO_SCSI_S_FAILURE);
		return;
	}
	data = split_at(t, RESP_LEN);
	if (data < 0) {
		fail_request(cmd, VIRTIO_SCSI_S_FAILURE);
		return;
	}
	if (out_len > 0 && in_len > 0) {
		fail_request(cmd, VIRTIO_SCSI_S_FAILURE); /* bidirectional needs INOUT */
		return;
	}
	vhd_iov_to_buf(t->iov, c->nreadable, 0, &req, sizeof(req));
	cmd->tag = req.tag;
	memcpy(cmd->cdb, req.cdb, sizeof(cmd->cdb));
	if (out_len > 0) {
		cmd->iov = t->iov;
		cmd->iovcnt = c->nreadable;
		iov_skip(&cmd->iov, &cmd->iovcnt, REQ_LEN);
		cmd->dir = SCSI_DIR_TO_DEV;
	} else if (in_len > 0) {
		cmd->iov = &t->iov[data];
		cmd->iovcnt = c->niov - (unsigned int)data;
		cmd->dir = SCSI_DIR_FROM_DEV;
	}
	target = decode_lun(d, req.lun, &lun, &wlun);
	if (target == NULL) {
		fail_request(cmd, VIRTIO_SCSI_S_BAD_TARGET);
		return;
	}
	cmd->target = target;
	cmd->wlun = wlun;
	cmd->lu = wlun ? NULL : scsi_target_lu(target, lun);
	if (cmd->lu != NULL) {
		cmd->seq = ++d->seq;
		cmd->linked = true;
		cmd->lu->inflight++;
		TAILQ_INSERT_TAIL(&cmd->lu->cmds, cmd, lu_link);
	}
	vhd_scsi_cmd_exec(cmd);
}

/* ---- control queue ---- */

/* Write a control response; a chain that cannot take it breaks the queue. */
static void
ctrl_respond(struct scsi_task *st, const void *buf, size_t len)
{
	struct vhd_task *t = &st->base;

	if (!locate_resp(st, len)) {
		vhd_vq_set_broken(&t->q->vq, "head %u: no room for a %zu-byte control response",
				  t->chain.head, len);
		vhd_task_complete(t, 0);
		return;
	}
	write_resp(st, buf, len);
	vhd_task_complete(t, (uint32_t)len);
}

static void
tmf_respond(struct scsi_task *st, uint8_t response)
{
	ctrl_respond(st, &response, 1);
}

/* Mark the running commands of lu (those with `tag` when by_tag) as ended by a TMF. */
static uint32_t
mark_cmds(struct scsi_lu *lu, bool by_tag, uint64_t tag, uint8_t response)
{
	struct scsi_cmd *cmd;
	uint32_t n = 0;

	TAILQ_FOREACH(cmd, &lu->cmds, lu_link) {
		if (by_tag && cmd->tag != tag) {
			continue;
		}
		if (cmd->abort_response == 0) {
			cmd->abort_response = response;
		}
		n++;
	}
	return n;
}

struct nexus_reset {
	uint32_t marked;
};

static void
nexus_reset_lu(struct scsi_lu *lu, void *arg)
{
	struct nexus_reset *r = arg;

	r->marked += mark_cmds(lu, false, 0, VIRTIO_SCSI_S_RESET);
	lu->ua |= SCSI_UA_NEXUS_LOSS;
}

static void
tmf_submit(struct scsi_dev *d, struct scsi_task *st, const struct virtio_scsi_ctrl_tmf_req *req)
{
	struct scsi_tmf *tmf = &st->u.tmf;
	struct scsi_target *t;
	struct scsi_lu *lu = NULL;
	uint32_t lun;
	bool wlun;

	t = decode_lun(d, req->lun, &lun, &wlun);
	if (t == NULL) {
		tmf_respond(st, VIRTIO_SCSI_S_BAD_TARGET);
		return;
	}
	if (!wlun) {
		lu = scsi_target_lu(t, lun);
	}
	memset(tmf, 0, sizeof(*tmf));
	tmf->subtype = req->subtype;
	tmf->target = t->id;
	tmf->lu = lu;
	tmf->tag = req->tag;
	tmf->seq = ++d->seq;
	/* Every function but I_T NEXUS RESET addresses one LU, which must exist. */
	if (lu == NULL && req->subtype != VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET) {
		tmf_respond(st, req->subtype <= VIRTIO_SCSI_T_TMF_QUERY_TASK_SET ?
					VIRTIO_SCSI_S_INCORRECT_LUN :
					VIRTIO_SCSI_S_FUNCTION_REJECTED);
		return;
	}
	switch (req->subtype) {
	case VIRTIO_SCSI_T_TMF_ABORT_TASK:
		tmf->waiting = mark_cmds(lu, true, req->tag, VIRTIO_SCSI_S_ABORTED);
		VHD_DEBUGLOG("%s: ABORT TASK %#" PRIx64 " on %u:%u: %s", d->base.name, req->tag,
			     lu->target, lu->lun, tmf->waiting > 0 ? "running" : "not found");
		break;
	case VIRTIO_SCSI_T_TMF_ABORT_TASK_SET:
	case VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET:
		/* One initiator: its task set and the LU's are the same. */
		tmf->waiting = mark_cmds(lu, false, 0, VIRTIO_SCSI_S_ABORTED);
		break;
	case VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET:
		tmf->waiting = mark_cmds(lu, false, 0, VIRTIO_SCSI_S_RESET);
		lu->ua |= SCSI_UA_RESET;
		VHD_INFOLOG("%s: LUN reset of %u:%u (%u commands running)", d->base.name,
			    lu->target, lu->lun, tmf->waiting);
		break;
	case VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET: {
		struct nexus_reset r = {0};

		foreach_lu(t, nexus_reset_lu, &r);
		tmf->waiting = r.marked;
		VHD_INFOLOG("%s: I_T nexus reset of target %u (%u commands running)",
			    d->base.name, t->id, tmf->waiting);
		break;
	}
	case VIRTIO_SCSI_T_TMF_QUERY_TASK: {
		struct scsi_cmd *cmd;
		bool found = false;

		TAILQ_FOREACH(cmd, &lu->cmds, lu_link) {
			found = found || cmd->tag == req->tag;
		}
		tmf_respond(st, found ? VIRTIO_SCSI_S_FUNCTION_SUCCEEDED :
					VIRTIO_SCSI_S_FUNCTION_COMPLETE);
		return;
	}
	case VIRTIO_SCSI_T_TMF_QUERY_TASK_SET:
		tmf_respond(st, lu->inflight > 0 ? VIRTIO_SCSI_S_FUNCTION_SUCCEEDED :
						   VIRTIO_SCSI_S_FUNCTION_COMPLETE);
		return;
	case VIRTIO_SCSI_T_TMF_CLEAR_ACA:
		/* NormACA is 0 in our INQUIRY data: there is never an ACA to clear. */
	default:
		tmf_respond(st, VIRTIO_SCSI_S_FUNCTION_REJECTED);
		return;
	}
	if (tmf->waiting == 0) {
		tmf_respond(st, VIRTIO_SCSI_S_FUNCTION_COMPLETE);
		return;
	}
	/* Answered by cmd_done() when the last command it hit is on the used ring; the
	 * response buffer is checked now so that it cannot fail then. */
	if (!locate_resp(st, 1)) {
		tmf_respond(st, VIRTIO_SCSI_S_FAILURE);
		return;
	}
	TAILQ_INSERT_TAIL(&d->tmfs, st, link);
}

static void
ctrl_submit(struct scsi_dev *d, struct scsi_task *st)
{
	struct vhd_task *t = &st->base;
	struct vhd_chain *c = &t->chain;
	union {
		uint32_t type;
		struct virtio_scsi_ctrl_tmf_req tmf;
		struct virtio_scsi_ctrl_an_req an;
	} req;
	struct virtio_scsi_ctrl_an_resp an_resp;
	size_t got;

	memset(&req, 0, sizeof(req));
	got = c->error == 0 ? vhd_iov_to_buf(t->iov, c->nreadable, 0, &req, sizeof(req)) : 0;
	if (got < sizeof(req.type)) {
		tmf_respond(st, VIRTIO_SCSI_S_FAILURE);
		return;
	}
	switch (req.type) {
	case VIRTIO_SCSI_T_TMF:
		if (got < sizeof(req.tmf)) {
			tmf_respond(st, VIRTIO_SCSI_S_FAILURE);
			return;
		}
		tmf_submit(d, st, &req.tmf);
		break;
	case VIRTIO_SCSI_T_AN_QUERY:
	case VIRTIO_SCSI_T_AN_SUBSCRIBE:
		/* No asynchronous notification class is supported: event_actual 0. */
		memset(&an_resp, 0, sizeof(an_resp));
		an_resp.response = got < sizeof(req.an) ? VIRTIO_SCSI_S_FAILURE : VIRTIO_SCSI_S_OK;
		ctrl_respond(st, &an_resp, sizeof(an_resp));
		break;
	default:
		tmf_respond(st, VIRTIO_SCSI_S_FAILURE);
		break;
	}
}

/* ---- device ops ---- */

static void
scsi_submit(struct vhd_task *t)
{
	struct scsi_dev *d = to_scsi(t->q->dev);
	struct scsi_task *st = to_scsi_task(t);

	switch (t->q->index) {
	case CTRL_VQ:
		ctrl_submit(d, st);
		break;
	case EVENT_VQ:
		event_submit(d, st);
		break;
	default:
		request_submit(d, st);
		break;
	}
}

static void
put_channel(struct scsi_lu *lu, void *arg)
{
	if (lu->ch != NULL) {
		vhd_bdev_channel_put(lu->ch);
		lu->ch = NULL;
	}
}

static void
get_channel(struct scsi_lu *lu, void *arg)
{
	int *rc = arg;

	if (*rc == 0 && lu->ch == NULL) {
		lu->ch = vhd_bdev_channel_get(lu->bdev);
		if (lu->ch == NULL) {
			*rc = -ENOMEM;
		}
	}
}

static void
put_all_channels(struct scsi_dev *d)
{
	struct scsi_lu *lu;

	foreach_dev_lu(d, put_channel, NULL);
	TAILQ_FOREACH(lu, &d->removed, link) {
		put_channel(lu, NULL);
	}
}

static int
scsi_queue_start(struct vhd_queue *q)
{
	struct scsi_dev *d = to_scsi(q->dev);
	int rc = 0;

	/* LUs share the worker's channel of their bdev; taken with the first queue. */
	if (d->nstarted == 0) {
		foreach_dev_lu(d, get_channel, &rc);
		if (rc != 0) {
			put_all_channels(d);
			return rc;
		}
	}
	d->nstarted++;
	d->features = q->features;
	if (q->index == EVENT_VQ) {
		d->eventq = q;
		d->events_missed = false;
		TAILQ_INIT(&d->event_bufs);
	}
	return 0;
}

static void
scsi_queue_drain(struct vhd_queue *q)
{
	struct scsi_dev *d = to_scsi(q->dev);

	if (q != d->eventq) {
		return;
	}
	/* Event buffers are held until an event comes: give them back as NO_EVENT (the driver
	 * reposts them) or the drain would wait for them forever. */
	d->events_missed = false;
	while (!TAILQ_EMPTY(&d->event_bufs)) {
		post_event(d, VIRTIO_SCSI_T_NO_EVENT, 0, 0, 0);
	}
	d->eventq = NULL;
}

static void
scsi_queue_stop(struct vhd_queue *q)
{
	struct scsi_dev *d = to_scsi(q->dev);

	if (q == d->eventq) {
		d->eventq = NULL;
	}
	if (--d->nstarted == 0) {
		put_all_channels(d);
	}
}

static uint64_t
scsi_features(struct vhd_dev *dev)
{
	/* CHANGE: QEMU lets the guest acknowledge it whatever we offer, and rte_vhost refuses
	 * acknowledged bits it did not offer. */
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
	       (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_SCSI_F_HOTPLUG) |
	       (1ull << VIRTIO_SCSI_F_CHANGE);
}

static uint32_t
scsi_num_vrings(struct vhd_dev *dev)
{
	return dev->num_queues + 2u;
}

static void
free_lu(struct scsi_lu *lu, void *arg)
{
	free(lu);
}

static void
scsi_destroy(struct vhd_dev *dev)
{
	struct scsi_dev *d = to_scsi(dev);
	struct scsi_lu *lu;

	foreach_dev_lu(d, free_lu, NULL);
	for (unsigned int i = 0; i < VHD_SCSI_MAX_TARGETS; i++) {
		struct scsi_target *t = d->targets[i];

		for (unsigned int p = 0; t != NULL && p < SCSI_LUN_PAGES; p++) {
			free(t->pages[p]);
		}
		free(t);
	}
	while ((lu = TAILQ_FIRST(&d->removed)) != NULL) {
		TAILQ_REMOVE(&d->removed, lu, link);
		free(lu);
	}
	free(d->scratch);
	free(d);
}

/* foreach_bdev: the LUN table belongs to the worker while queues run, so the backends are
 * collected there and fn runs here (mapping memory for DMA may be slow). */
struct bdev_list {
	struct vhd_bdev **v;
	unsigned int n;
	unsigned int cap;
};

struct bdev_list_op {
	struct scsi_dev *d;
	struct bdev_list list;
};

static void
collect_bdev(struct scsi_lu *lu, void *arg)
{
	struct bdev_list *l = arg;
	struct vhd_bdev **v;

	for (unsigned int i = 0; i < l->n; i++) {
		if (l->v[i] == lu->bdev) {
			return;
		}
	}
	if (l->n == l->cap) {
		v = realloc(l->v, (l->cap ? 2 * l->cap : 8) * sizeof(*v));
		if (v == NULL) {
			return;
		}
		l->v = v;
		l->cap = l->cap ? 2 * l->cap : 8;
	}
	l->v[l->n++] = lu->bdev;
}

static int
do_collect_bdevs(void *arg)
{
	struct bdev_list_op *op = arg;

	foreach_dev_lu(op->d, collect_bdev, &op->list);
	return 0;
}

static void
scsi_foreach_bdev(struct vhd_dev *dev, void (*fn)(struct vhd_bdev *bdev, void *arg), void *arg)
{
	struct bdev_list_op op = {.d = to_scsi(dev)};

	op.d->exec(op.d->exec_owner, do_collect_bdevs, &op);
	for (unsigned int i = 0; i < op.list.n; i++) {
		fn(op.list.v[i], arg);
	}
	free(op.list.v);
}

static const struct vhd_dev_ops g_scsi_ops = {
	.type = "scsi",
	.task_size = sizeof(struct scsi_task),
	.protocol_features = 0,
	.features = scsi_features,
	.num_vrings = scsi_num_vrings,
	.queue_start = scsi_queue_start,
	.queue_drain = scsi_queue_drain,
	.queue_stop = scsi_queue_stop,
	.submit = scsi_submit,
	.destroy = scsi_destroy,
	.foreach_bdev = scsi_foreach_bdev,
};

/* ---- LUN table (control path before the device runs, its worker after) ---- */

struct lun_op {
	struct scsi_dev *d;
	uint32_t target;
	uint32_t lun;
	struct scsi_lu *lu;
	uint32_t running;            /* remove: commands of the LU still running then */
	/* Memory the worker may need (add) or gives back (remove); freed by the caller. */
	struct scsi_target *spare_target;
	struct scsi_lu **spare_page;
};

/* Put op->lu in the table, taking spare memory for a new target or page. */
static int
install_lu(struct lun_op *op)
{
	struct scsi_dev *d = op->d;
	struct scsi_target *t = d->targets[op->target];
	struct scsi_lu ***page;

	if (t != NULL && scsi_target_lu(t, op->lun) != NULL) {
		return -EEXIST;
	}
	if ((t == NULL && op->spare_target == NULL) ||
	    ((t == NULL || t->pages[op->lun / SCSI_LUN_PAGE_SIZE] == NULL) &&
	     op->spare_page == NULL)) {
		return -ENOMEM;
	}
	if (t == NULL) {
		t = op->spare_target;
		op->spare_target = NULL;
		t->id = op->target;
		d->targets[op->target] = t;
	}
	page = &t->pages[op->lun / SCSI_LUN_PAGE_SIZE];
	if (*page == NULL) {
		*page = op->spare_page;
		op->spare_page = NULL;
	}
	(*page)[op->lun % SCSI_LUN_PAGE_SIZE] = op->lu;
	t->nluns++;
	return 0;
}

/* Take op->lun out of the table; an emptied page or target goes to the op's spares. */
static struct scsi_lu *
uninstall_lu(struct lun_op *op)
{
	struct scsi_dev *d = op->d;
	struct scsi_target *t = d->targets[op->target];
	struct scsi_lu **page;
	struct scsi_lu *lu;

	lu = t != NULL ? scsi_target_lu(t, op->lun) : NULL;
	if (lu == NULL) {
		return NULL;
	}
	page = t->pages[op->lun / SCSI_LUN_PAGE_SIZE];
	page[op->lun % SCSI_LUN_PAGE_SIZE] = NULL;
	t->nluns--;
	for (unsigned int i = 0; i < SCSI_LUN_PAGE_SIZE && page != NULL; i++) {
		if (page[i] != NULL) {
			page = NULL;
		}
	}
	if (page != NULL) {
		t->pages[op->lun / SCSI_LUN_PAGE_SIZE] = NULL;
		op->spare_page = page;
	}
	if (t->nluns == 0) {
		d->targets[op->target] = NULL;
		op->spare_target = t;
	}
	return lu;
}

static void
set_luns_changed(struct scsi_lu *lu, void *arg)
{
	if (lu != arg) {
		lu->ua |= SCSI_UA_LUNS_CHANGED;
	}
}

static int
do_add_lun(void *arg)
{
	struct lun_op *op = arg;
	struct scsi_dev *d = op->d;
	struct scsi_target *t = d->targets[op->target];
	int rc;

	if (t != NULL && scsi_target_lu(t, op->lun) != NULL) {
		return -EEXIST;
	}
	if (d->nstarted > 0) {
		op->lu->ch = vhd_bdev_channel_get(op->lu->bdev);
		if (op->lu->ch == NULL) {
			return -ENOMEM;
		}
	}
	rc = install_lu(op);
	if (rc != 0) {
		put_channel(op->lu, NULL);
		return rc;
	}
	foreach_lu(d->targets[op->target], set_luns_changed, op->lu);
	if (negotiated(d, VIRTIO_SCSI_F_HOTPLUG)) {
		post_event(d, VIRTIO_SCSI_T_TRANSPORT_RESET, op->target, op->lun,
			   VIRTIO_SCSI_EVT_RESET_RESCAN);
	}
	return 0;
}

static int
do_remove_lun(void *arg)
{
	struct lun_op *op = arg;
	struct scsi_dev *d = op->d;
	struct scsi_lu *lu = uninstall_lu(op);

	if (lu == NULL) {
		return -ENOENT;
	}
	op->lu = lu;
	lu->removed = true;
	if (d->targets[op->target] != NULL) {
		foreach_lu(d->targets[op->target], set_luns_changed, NULL);
	}
	if (negotiated(d, VIRTIO_SCSI_F_HOTPLUG)) {
		post_event(d, VIRTIO_SCSI_T_TRANSPORT_RESET, op->target, op->lun,
			   VIRTIO_SCSI_EVT_RESET_REMOVED);
	}
	op->running = lu->inflight;
	if (lu->inflight > 0) {
		TAILQ_INSERT_TAIL(&d->removed, lu, link);
		return -EINPROGRESS;
	}
	put_channel(lu, NULL);
	return 0;
}

static int
do_check_removed(void *arg)
{
	struct lun_op *op = arg;

	if (op->lu->inflight > 0) {
		return -EBUSY;
	}
	TAILQ_REMOVE(&op->d->removed, op->lu, link);
	put_channel(op->lu, NULL);
	return 0;
}

static int
do_lun_resized(void *arg)
{
	struct lun_op *op = arg;
	struct scsi_dev *d = op->d;
	struct scsi_target *t = d->targets[op->target];
	struct scsi_lu *lu = t != NULL ? scsi_target_lu(t, op->lun) : NULL;

	if (lu == NULL) {
		return -ENOENT;
	}
	lu->ua |= SCSI_UA_CAPACITY;
	if (negotiated(d, VIRTIO_SCSI_F_CHANGE)) {
		post_event(d, VIRTIO_SCSI_T_PARAM_CHANGE, op->target, op->lun, 0x2a | 0x09 << 8);
	}
	return 0;
}

static bool
lun_addr_ok(uint32_t target, uint32_t lun)
{
	return target < VHD_SCSI_MAX_TARGETS && lun < VHD_SCSI_MAX_LUNS;
}

static struct scsi_lu *
new_lu(struct scsi_dev *d, uint32_t target, uint32_t lun, struct vhd_bdev *bdev, bool ro)
{
	struct scsi_lu *lu = malloc(sizeof(*lu));

	if (lu != NULL) {
		vhd_scsi_lu_init(lu, d->base.name, target, lun, bdev, ro);
	}
	return lu;
}

int
vhd_scsi_add_lun(struct vhd_dev *dev, uint32_t target, uint32_t lun, struct vhd_bdev *bdev,
		 bool readonly)
{
	struct scsi_dev *d = to_scsi(dev);
	struct lun_op op = {.d = d, .target = target, .lun = lun};
	int rc;

	if (!lun_addr_ok(target, lun) || bdev == NULL) {
		return -EINVAL;
	}
	op.lu = new_lu(d, target, lun, bdev, readonly);
	op.spare_target = calloc(1, sizeof(*op.spare_target));
	op.spare_page = calloc(SCSI_LUN_PAGE_SIZE, sizeof(*op.spare_page));
	if (op.lu == NULL || op.spare_target == NULL || op.spare_page == NULL) {
		rc = -ENOMEM;
	} else {
		rc = d->exec(d->exec_owner, do_add_lun, &op);
	}
	free(op.spare_target);
	free(op.spare_page);
	if (rc != 0) {
		free(op.lu);
		return rc;
	}
	VHD_NOTICELOG("%s: LUN %u:%u added (backend %s%s)", dev->name, target, lun, bdev->name,
		      op.lu->readonly ? ", read-only" : "");
	return 0;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
vhd_scsi_remove_lun(struct vhd_dev *dev, uint32_t target, uint32_t lun)
{
	struct scsi_dev *d = to_scsi(dev);
	struct lun_op op = {.d = d, .target = target, .lun = lun};
	struct timespec pause = {0, 1000 * 1000};
	uint64_t start = now_ms(), deadline = start + d->remove_timeout_ms;
	int rc;

	if (!lun_addr_ok(target, lun)) {
		return -ENOENT;
	}
	rc = d->exec(d->exec_owner, do_remove_lun, &op);
	/* The page and target are only looked at synchronously: free them now. */
	free(op.spare_page);
	free(op.spare_target);
	if (rc == -ENOENT) {
		return rc;
	}
	while (rc == -EINPROGRESS || rc == -EBUSY) {
		if (now_ms() > deadline) {
			VHD_WARNLOG("%s: LUN %u:%u removed, but its backend I/O (%u commands) "
				    "has not finished after %u ms; it keeps the backend until the "
				    "controller is deleted", dev->name, target, lun, op.running,
				    d->remove_timeout_ms);
			return -ETIMEDOUT;
		}
		nanosleep(&pause, NULL);
		rc = d->exec(d->exec_owner, do_check_removed, &op);
	}
	free(op.lu);
	VHD_NOTICELOG("%s: LUN %u:%u removed (%u commands were running; %" PRIu64 " ms)",
		      dev->name, target, lun, op.running, now_ms() - start);
	return 0;
}

int
vhd_scsi_lun_resized(struct vhd_dev *dev, uint32_t target, uint32_t lun)
{
	struct scsi_dev *d = to_scsi(dev);
	struct lun_op op = {.d = d, .target = target, .lun = lun};

	if (!lun_addr_ok(target, lun)) {
		return -ENOENT;
	}
	return d->exec(d->exec_owner, do_lun_resized, &op);
}

int
vhd_scsi_lun_stats(struct vhd_dev *dev, uint32_t target, uint32_t lun, struct vhd_io_stats *io,
		   uint64_t *inflight)
{
	struct scsi_dev *d = to_scsi(dev);
	const struct scsi_target *t = target < VHD_SCSI_MAX_TARGETS ? d->targets[target] : NULL;
	const struct scsi_lu *lu = t != NULL ? scsi_target_lu(t, lun) : NULL;

	if (lu == NULL) {
		return -ENOENT;
	}
	/* Whole 64-bit words written by the worker: each is consistent, the set is not. */
	*io = lu->stats;
	*inflight = lu->inflight;
	return 0;
}

int
vhd_scsi_create(const struct vhd_scsi_conf *conf, struct vhd_dev **dev)
{
	struct scsi_dev *d;
	struct lun_op op;
	int rc = 0;

	if (conf->name == NULL || strlen(conf->name) > VHD_NAME_MAX || conf->num_queues == 0 ||
	    conf->num_queues > VHD_SCSI_MAX_QUEUES || conf->exec == NULL) {
		return -EINVAL;
	}
	for (unsigned int i = 0; i < conf->nluns; i++) {
		if (!lun_addr_ok(conf->luns[i].target, conf->luns[i].lun) ||
		    conf->luns[i].bdev == NULL) {
			return -EINVAL;
		}
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return -ENOMEM;
	}
	vhd_strlcpy(d->base.name, conf->name, sizeof(d->base.name));
	d->base.ops = &g_scsi_ops;
	d->base.refs = 1;
	d->base.num_queues = conf->num_queues;
	d->exec = conf->exec;
	d->exec_owner = conf->exec_owner;
	d->remove_timeout_ms = conf->remove_timeout_ms != 0 ? conf->remove_timeout_ms :
							       VHD_SCSI_REMOVE_TIMEOUT_MS;
	TAILQ_INIT(&d->removed);
	TAILQ_INIT(&d->event_bufs);
	TAILQ_INIT(&d->tmfs);
	d->scratch = calloc(SCRATCH_IOV, sizeof(*d->scratch));
	if (d->scratch == NULL) {
		free(d);
		return -ENOMEM;
	}

	memset(&op, 0, sizeof(op));
	op.d = d;
	for (unsigned int i = 0; i < conf->nluns && rc == 0; i++) {
		const struct vhd_scsi_lun_def *l = &conf->luns[i];

		op.target = l->target;
		op.lun = l->lun;
		op.lu = new_lu(d, l->target, l->lun, l->bdev, l->readonly);
		if (op.spare_target == NULL) {
			op.spare_target = calloc(1, sizeof(*op.spare_target));
		}
		if (op.spare_page == NULL) {
			op.spare_page = calloc(SCSI_LUN_PAGE_SIZE, sizeof(*op.spare_page));
		}
		rc = op.lu != NULL ? install_lu(&op) : -ENOMEM;
		if (rc != 0) {
			free(op.lu);
		}
	}
	free(op.spare_target);
	free(op.spare_page);
	if (rc != 0) {
		scsi_destroy(&d->base);
		return rc == -EEXIST ? -EINVAL : rc;
	}
	*dev = &d->base;
	return 0;
}
