/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rte_vhost glue (see vhostd/transport.h). Facts this code relies on, all from DPDK 22.11:
 *  - every callback and extern message hook runs on the single vhost-events thread;
 *  - new_device never fires when the guest initialises fewer queues than the front-end
 *    allocated, so queues are started one by one from vring_state_changed;
 *  - GET_VRING_BASE closes the call/kick fds and replies with the library's index before any
 *    callback tells us, so the queue is drained in the pre-message hook;
 *  - SET_MEM_TABLE remaps guest memory with no callback, so queues are stopped in the pre hook
 *    and restarted in the post hook when the layout really changes;
 *  - GET_CONFIG/SET_CONFIG reach a non-vDPA device only through the extern pre hook;
 *  - unregister does not call destroy_connection and unmaps guest memory even when
 *    new_device never fired, so queues are stopped before unregistering;
 *  - destroy_connection runs before the library unmaps guest memory.
 * Backends whose device DMAs into guest memory (nvme) get each region of the memory table
 * DMA-mapped when we first read the table, and unmapped after the queues are drained and
 * before the library munmaps it: in the SET_MEM_TABLE pre hook when the layout changes, on
 * disconnect, and before unregistering.
 * Workers never call a locking rte_vhost function (they signal the call eventfd themselves),
 * so waiting for a worker while DPDK holds its virtqueue locks cannot deadlock.
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_vhost.h>

#define VHD_LOG_COMPONENT "vhost"
#include "vhostd/log.h"
#include "vhostd/transport.h"
#include "vhostd/unix_socket.h"

#define MAX_VIDS 1024      /* DPDK's MAX_VHOST_DEVICE */
#define MAX_VRINGS 256     /* DPDK's VHOST_MAX_VRING */
#define CONFIG_SPACE_MAX 256
#define MAX_RESUBMIT_HEADS 1024

/* vhost-user master requests we look at (vhost-user spec numbering). */
enum {
	VHU_SET_FEATURES = 2,
	VHU_SET_MEM_TABLE = 5,
	VHU_GET_VRING_BASE = 11,
	VHU_GET_QUEUE_NUM = 17,
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
};

/* The front of DPDK's VhostUserMsg (vhost_user.h is not installed); the hook's argument
 * starts with it. Only fd-less payloads are used. */
struct VHD_PACKED vhu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union VHD_PACKED {
		uint64_t u64;
		struct VHD_PACKED {
			uint32_t index;
			uint32_t num;
		} state;
		struct VHD_PACKED {
			uint32_t nregions;
			uint32_t padding;
			struct VHD_PACKED {
				uint64_t gpa;
				uint64_t size;
				uint64_t uaddr;
				uint64_t mmap_offset;
			} regions[VHD_MEM_MAX_REGIONS];
		} memory;
		struct VHD_PACKED {
			uint32_t offset;
			uint32_t size;
			uint32_t flags;
			uint8_t region[CONFIG_SPACE_MAX];
		} cfg;
	} payload;
};

struct session {
	int vid;
	struct vhd_mem *mem;
	struct vhd_queue *queues[MAX_VRINGS];
	unsigned int nstarted;
	uint64_t restart[MAX_VRINGS / 64]; /* stopped for a memory table change */
	bool warned_extra_queue;
	struct timespec started;     /* front-end began starting the device (SET_FEATURES) */
	bool start_pending;          /* ... and has not shared memory yet */
	struct vhd_mem dma_mem;      /* the table DMA-mapped for the device's backends */
	bool dma_mapped;
	struct vhd_bdev **dma_bdevs; /* the backends it is mapped for (exactly these are
					unmapped, whatever the device serves by then) */
	unsigned int ndma_bdevs;
};

struct vhd_vhost {
	char path[PATH_MAX];
	struct vhd_dev *dev;
	struct vhd_worker *worker;
	pthread_mutex_t lock;        /* control path: callbacks vs. create/destroy/RPC */
	struct session *session;     /* the connected front-end, if any */
	/*
	 * A connection accepted while `session` still exists. A front-end that hangs up and
	 * reconnects at once can be accepted before DPDK has processed the hang-up, so the
	 * newcomer waits: at its first message it takes over if the old connection is gone by
	 * then, and is refused otherwise (one front-end per disk).
	 */
	struct session *waiting;
	bool deleting;
	/* Statistics of queues that stopped, per vring, so figures survive reconnects. */
	struct vhd_io_stats *retired;
	unsigned int nretired;
	TAILQ_ENTRY(vhd_vhost) link;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, vhd_vhost) g_vhosts = TAILQ_HEAD_INITIALIZER(g_vhosts);
static struct vhd_vhost *g_by_vid[MAX_VIDS];

static const struct rte_vhost_user_extern_ops g_extern_ops;

static const char g_share_hint[] =
	"QEMU needs shareable guest RAM (e.g. -object memory-backend-memfd,id=mem,size=...,"
	"share=on -numa node,memdev=mem)";

/* A front-end that starts the device but never sends its memory table within this long is
 * almost always QEMU with private guest RAM: it fails on its side and the guest hangs. */
#define MEM_TABLE_GRACE_MS 3000

static struct vhd_vhost *
vhost_of_vid(int vid)
{
	struct vhd_vhost *vh = NULL;

	if (vid >= 0 && vid < MAX_VIDS) {
		pthread_mutex_lock(&g_lock);
		vh = g_by_vid[vid];
		pthread_mutex_unlock(&g_lock);
	}
	return vh;
}

/* The session of vid, with vh->lock held; NULL (lock not held) when vid is not ours. */
static struct session *
lock_session(int vid, struct vhd_vhost **out)
{
	struct vhd_vhost *vh = vhost_of_vid(vid);

	if (vh == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&vh->lock);
	if (vh->session == NULL || vh->session->vid != vid) {
		pthread_mutex_unlock(&vh->lock);
		return NULL;
	}
	*out = vh;
	return vh->session;
}

/* ---- memory table ---- */

static int
read_mem_table(int vid, struct vhd_mem *out)
{
	struct rte_vhost_memory *m = NULL;

	if (rte_vhost_get_mem_table(vid, &m) != 0 || m == NULL) {
		return -ENOMEM;
	}
	memset(out, 0, sizeof(*out));
	out->nregions = VHD_MIN(m->nregions, (uint32_t)VHD_MEM_MAX_REGIONS);
	for (uint32_t i = 0; i < out->nregions; i++) {
		out->regions[i].gpa = m->regions[i].guest_phys_addr;
		out->regions[i].size = m->regions[i].size;
		out->regions[i].hva = m->regions[i].host_user_addr;
		out->regions[i].uaddr = m->regions[i].guest_user_addr;
	}
	free(m); /* rte_vhost_get_mem_table() hands out a malloc()ed copy */
	return 0;
}

/* ---- DMA mappings of guest memory for backends that need them ---- */

struct bdev_set {
	struct vhd_bdev **v;
	unsigned int n;
	unsigned int cap;
};

static bool
bdev_set_has(const struct bdev_set *set, const struct vhd_bdev *bdev)
{
	for (unsigned int i = 0; i < set->n; i++) {
		if (set->v[i] == bdev) {
			return true;
		}
	}
	return false;
}

static void
collect_dma_bdev(struct vhd_bdev *bdev, void *arg)
{
	struct bdev_set *set = arg;

	if (!vhd_bdev_needs_dma_map(bdev) || bdev_set_has(set, bdev)) {
		return;
	}
	if (set->n == set->cap) {
		unsigned int cap = set->cap ? 2 * set->cap : 4;
		struct vhd_bdev **v = realloc(set->v, cap * sizeof(*v));

		if (v == NULL) {
			return;
		}
		set->v = v;
		set->cap = cap;
	}
	set->v[set->n++] = bdev;
}

/* The device's backends that DMA into guest memory. */
static struct bdev_set
dma_bdevs_now(struct vhd_vhost *vh)
{
	struct bdev_set set = {NULL, 0, 0};

	if (vh->dev->ops->foreach_bdev != NULL) {
		vh->dev->ops->foreach_bdev(vh->dev, collect_dma_bdev, &set);
	}
	return set;
}

static void
dma_bdev(struct vhd_vhost *vh, const struct vhd_mem *mem, struct vhd_bdev *bdev, bool map)
{
	for (uint32_t i = 0; i < mem->nregions; i++) {
		const struct vhd_mem_region *r = &mem->regions[i];
		void *va = (void *)(uintptr_t)r->hva;
		int rc;

		if (!map) {
			vhd_bdev_dma_unmap(bdev, va, r->size);
			continue;
		}
		rc = vhd_bdev_dma_map(bdev, va, r->size);
		if (rc != 0) {
			VHD_ERRLOG("%s: cannot DMA-map guest memory region %u (%" PRIu64 " MiB) "
				   "for backend %s: %s; its I/O into that memory fails",
				   vh->dev->name, i, r->size >> 20, bdev->name, strerror(-rc));
		}
	}
}

/* Map the current table for the device's backends (nothing for most backends). */
static void
dma_map_mem(struct vhd_vhost *vh, struct session *s)
{
	struct bdev_set set;

	if (s->mem == NULL || s->dma_mapped) {
		return;
	}
	set = dma_bdevs_now(vh);
	for (unsigned int i = 0; i < set.n; i++) {
		dma_bdev(vh, s->mem, set.v[i], true);
	}
	s->dma_mem = *s->mem;
	s->dma_bdevs = set.v;
	s->ndma_bdevs = set.n;
	s->dma_mapped = true;
}

/* Undo dma_map_mem(). The queues must be stopped: no backend I/O uses the memory. */
static void
dma_unmap_mem(struct vhd_vhost *vh, struct session *s)
{
	if (!s->dma_mapped) {
		return;
	}
	for (unsigned int i = 0; i < s->ndma_bdevs; i++) {
		dma_bdev(vh, &s->dma_mem, s->dma_bdevs[i], false);
	}
	free(s->dma_bdevs);
	s->dma_bdevs = NULL;
	s->ndma_bdevs = 0;
	s->dma_mapped = false;
}

/* Make s->mem describe the current table. Called only when no queue uses the old one, or
 * when the layout is unchanged (then the old one stays). */
static int
refresh_mem(struct vhd_vhost *vh, struct session *s)
{
	struct vhd_mem *m = malloc(sizeof(*m));
	int rc;

	if (m == NULL) {
		return -ENOMEM;
	}
	rc = read_mem_table(s->vid, m);
	if (rc != 0) {
		free(m);
		return rc;
	}
	if (s->mem != NULL && vhd_mem_same_layout(s->mem, m)) {
		free(m);
		return 0;
	}
	if (s->nstarted > 0) {
		/* Cannot happen: a layout change stops every queue first. Refuse rather than
		 * pull memory from under running queues. */
		free(m);
		return -EBUSY;
	}
	/* Normally already done by the SET_MEM_TABLE pre hook. */
	dma_unmap_mem(vh, s);
	free(s->mem);
	s->mem = m;
	s->start_pending = false;
	if (!vh->deleting) {
		dma_map_mem(vh, s);
	}
	if (m->nregions == 0) {
		VHD_ERRLOG("%s: the front-end shared no guest memory; %s", vh->dev->name,
			   g_share_hint);
	}
	return 0;
}

/* ---- queues ---- */

static void
start_queue(struct vhd_vhost *vh, struct session *s, uint16_t qid)
{
	struct vhd_dev *dev = vh->dev;
	struct rte_vhost_ring_inflight ri;
	struct rte_vhost_vring vr;
	struct vhd_vq_setup setup;
	uint16_t resubmit[MAX_RESUBMIT_HEADS];
	unsigned int nresubmit = 0;
	uint16_t avail_idx, used_idx;
	uint64_t features;
	struct vhd_queue *q;
	int rc;

	if (vh->deleting || qid >= MAX_VRINGS || s->queues[qid] != NULL) {
		return;
	}
	if (qid >= dev->ops->num_vrings(dev)) {
		if (!s->warned_extra_queue) {
			VHD_WARNLOG("%s: front-end enabled queue %u but only %u are configured; "
				    "extra queues are not served", dev->name, qid,
				    dev->ops->num_vrings(dev));
			s->warned_extra_queue = true;
		}
		return;
	}
	rc = refresh_mem(vh, s);
	if (rc != 0) {
		VHD_ERRLOG("%s: q%u: cannot read the guest memory table: %s", dev->name, qid,
			   strerror(-rc));
		return;
	}
	if (rte_vhost_get_vhost_vring(s->vid, qid, &vr) != 0 ||
	    rte_vhost_get_vring_base(s->vid, qid, &avail_idx, &used_idx) != 0 ||
	    rte_vhost_get_negotiated_features(s->vid, &features) != 0) {
		VHD_ERRLOG("%s: q%u: rte_vhost has no state for this queue", dev->name, qid);
		return;
	}
	if (features & (1ull << VIRTIO_F_RING_PACKED)) {
		VHD_ERRLOG("%s: q%u: packed rings are not supported", dev->name, qid);
		return;
	}

	memset(&setup, 0, sizeof(setup));
	setup.desc = (struct vhd_vring_desc *)vr.desc;
	setup.avail = (struct vhd_vring_avail *)vr.avail;
	setup.used = (struct vhd_vring_used *)vr.used;
	setup.size = vr.size;
	setup.last_avail_idx = avail_idx;
	setup.last_used_idx = used_idx;
	setup.event_idx = (features & (1ull << VIRTIO_RING_F_EVENT_IDX)) != 0;
	setup.indirect = (features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) != 0;
	setup.callfd = vr.callfd;
	setup.mem = s->mem;

	memset(&ri, 0, sizeof(ri));
	if (rte_vhost_get_vhost_ring_inflight(s->vid, qid, &ri) == 0 &&
	    ri.inflight_split != NULL) {
		struct vhd_inflight_split *inf = (struct vhd_inflight_split *)ri.inflight_split;

		if (inf->desc_num == vr.size) {
			setup.inflight = inf;
		} else {
			VHD_WARNLOG("%s: q%u: inflight region is for %u entries, ring has %u; "
				    "not tracking in-flight requests", dev->name, qid,
				    inf->desc_num, vr.size);
		}
	}
	/* DPDK lists the requests recorded in flight newest first; resubmit oldest first. */
	if (setup.inflight != NULL && ri.resubmit_inflight != NULL) {
		struct rte_vhost_resubmit_info *info = ri.resubmit_inflight;

		for (uint32_t i = info->resubmit_num; i-- > 0 && nresubmit < MAX_RESUBMIT_HEADS;) {
			resubmit[nresubmit++] = info->resubmit_list[i].index;
		}
		/* DPDK owns the list; consume it so a later restart does not replay it. */
		info->resubmit_num = 0;
	}

	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		return;
	}
	rc = vhd_queue_init(q, dev, qid, features, &setup);
	if (rc != 0) {
		VHD_ERRLOG("%s: q%u: cannot start: ring of %u entries at desc %p avail %p used %p "
			   "is invalid", dev->name, qid, vr.size, vr.desc, (void *)vr.avail,
			   (void *)vr.used);
		free(q);
		return;
	}
	rc = vhd_worker_add_queue(vh->worker, q, resubmit, nresubmit);
	if (rc != 0) {
		VHD_ERRLOG("%s: q%u: cannot start on cpu %u: %s", dev->name, qid,
			   vhd_worker_cpu(vh->worker), strerror(-rc));
		vhd_queue_fini(q);
		free(q);
		return;
	}
	s->queues[qid] = q;
	s->nstarted++;
	VHD_INFOLOG("%s: q%u started on cpu %u (size %u, avail %u, used %u%s, %u resubmitted)",
		    dev->name, qid, vhd_worker_cpu(vh->worker), vr.size, avail_idx, used_idx,
		    setup.inflight != NULL ? ", inflight tracked" : "", nresubmit);
}

static void
stop_queue(struct vhd_vhost *vh, struct session *s, uint16_t qid)
{
	struct vhd_queue *q = qid < MAX_VRINGS ? s->queues[qid] : NULL;
	struct vhd_queue_final fin;
	bool tracked;
	int rc;

	if (q == NULL) {
		return;
	}
	tracked = q->vq.inflight != NULL;
	rc = vhd_worker_remove_queue(vh->worker, q, &fin);
	if (qid < vh->nretired) {
		/* An abandoned queue may still count its late completions; they are not kept. */
		vhd_io_stats_add(&vh->retired[qid], &q->stats);
	}
	/*
	 * With inflight tracking, DPDK adds the requests still recorded in flight to the base
	 * when the queue restarts, so they must not be counted here as well.
	 */
	if (rc == -ETIMEDOUT && tracked) {
		fin.last_avail_idx = (uint16_t)(fin.last_avail_idx - fin.abandoned);
	}
	rte_vhost_set_vring_base(s->vid, qid, fin.last_avail_idx, fin.used_idx);
	if (rc == 0) {
		vhd_queue_fini(q);
		free(q);
	}
	s->queues[qid] = NULL;
	s->nstarted--;
	VHD_INFOLOG("%s: q%u stopped (avail %u, used %u)", vh->dev->name, qid,
		    fin.last_avail_idx, fin.used_idx);
}

static void
stop_all(struct vhd_vhost *vh, struct session *s)
{
	for (uint16_t qid = 0; qid < MAX_VRINGS && s->nstarted > 0; qid++) {
		stop_queue(vh, s, qid);
	}
}

static void
forget_vid(struct vhd_vhost *vh, int vid)
{
	pthread_mutex_lock(&g_lock);
	if (vid >= 0 && vid < MAX_VIDS && g_by_vid[vid] == vh) {
		g_by_vid[vid] = NULL;
	}
	pthread_mutex_unlock(&g_lock);
}

static void
free_session(struct vhd_vhost *vh)
{
	struct session *s = vh->session;

	stop_all(vh, s);
	dma_unmap_mem(vh, s);
	forget_vid(vh, s->vid);
	free(s->mem);
	free(s);
	vh->session = NULL;
}

/* ---- rte_vhost callbacks (vhost-events thread) ---- */

static int
on_new_connection(int vid)
{
	char path[PATH_MAX];
	struct vhd_vhost *vh = NULL, *it;
	struct session *s;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0 || vid < 0 || vid >= MAX_VIDS) {
		return -1;
	}
	pthread_mutex_lock(&g_lock);
	TAILQ_FOREACH(it, &g_vhosts, link) {
		if (strcmp(it->path, path) == 0) {
			vh = it;
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	if (vh == NULL) {
		return -1;
	}
	pthread_mutex_lock(&vh->lock);
	if (vh->deleting) {
		pthread_mutex_unlock(&vh->lock);
		return -1;
	}
	if (vh->session != NULL && vh->waiting != NULL) {
		VHD_WARNLOG("%s: refusing a third front-end on %s (one is connected)",
			    vh->dev->name, path);
		pthread_mutex_unlock(&vh->lock);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		pthread_mutex_unlock(&vh->lock);
		return -1;
	}
	s->vid = vid;
	if (vh->session != NULL) {
		vh->waiting = s;
	} else {
		vh->session = s;
		VHD_NOTICELOG("%s: front-end connected", vh->dev->name);
	}
	pthread_mutex_lock(&g_lock);
	g_by_vid[vid] = vh;
	pthread_mutex_unlock(&g_lock);
	rte_vhost_extern_callback_register(vid, &g_extern_ops, NULL);
	pthread_mutex_unlock(&vh->lock);
	return 0;
}

/*
 * First message of a waiting connection (vh->lock held): take over if the previous
 * front-end has gone meanwhile. \return false when the newcomer must be refused.
 */
static bool
admit_waiting(struct vhd_vhost *vh)
{
	if (vh->session != NULL) {
		VHD_WARNLOG("%s: refusing a second front-end on %s (one is connected)",
			    vh->dev->name, vh->path);
		return false;
	}
	vh->session = vh->waiting;
	vh->waiting = NULL;
	VHD_NOTICELOG("%s: front-end connected", vh->dev->name);
	return true;
}

static void
on_destroy_connection(int vid)
{
	struct vhd_vhost *vh = vhost_of_vid(vid);

	if (vh == NULL) {
		return;
	}
	pthread_mutex_lock(&vh->lock);
	if (vh->waiting != NULL && vh->waiting->vid == vid) {
		free(vh->waiting);
		vh->waiting = NULL;
		forget_vid(vh, vid);
		pthread_mutex_unlock(&vh->lock);
		return;
	}
	if (vh->session == NULL || vh->session->vid != vid) {
		pthread_mutex_unlock(&vh->lock);
		return;
	}
	if (vh->session->start_pending) {
		VHD_ERRLOG("%s: the front-end gave up starting the device without sharing guest "
			   "memory; %s", vh->dev->name, g_share_hint);
	}
	free_session(vh);
	VHD_NOTICELOG("%s: front-end disconnected", vh->dev->name);
	pthread_mutex_unlock(&vh->lock);
}

static int
on_new_device(int vid)
{
	struct vhd_vhost *vh;
	struct session *s = lock_session(vid, &vh);

	if (s != NULL) {
		VHD_INFOLOG("%s: driver ready, %u queues running", vh->dev->name, s->nstarted);
		pthread_mutex_unlock(&vh->lock);
	}
	return 0;
}

static void
on_destroy_device(int vid)
{
	struct vhd_vhost *vh;
	struct session *s = lock_session(vid, &vh);

	if (s != NULL) {
		stop_all(vh, s);
		pthread_mutex_unlock(&vh->lock);
	}
}

static int
on_vring_state_changed(int vid, uint16_t qid, int enable)
{
	struct vhd_vhost *vh;
	struct session *s = lock_session(vid, &vh);

	if (s == NULL) {
		return 0;
	}
	if (enable) {
		start_queue(vh, s, qid);
	} else {
		stop_queue(vh, s, qid);
	}
	pthread_mutex_unlock(&vh->lock);
	return 0;
}

static const struct rte_vhost_device_ops g_device_ops = {
	.new_device = on_new_device,
	.destroy_device = on_destroy_device,
	.vring_state_changed = on_vring_state_changed,
	.new_connection = on_new_connection,
	.destroy_connection = on_destroy_connection,
};

/* ---- extern message hooks (vhost-events thread) ---- */

static enum rte_vhost_msg_result
get_config(struct vhd_vhost *vh, struct vhu_msg *msg)
{
	uint8_t space[CONFIG_SPACE_MAX];
	uint32_t off = msg->payload.cfg.offset;
	uint32_t len = msg->payload.cfg.size;

	if (vh->dev->ops->get_config == NULL || len > CONFIG_SPACE_MAX ||
	    off > CONFIG_SPACE_MAX - len) {
		VHD_WARNLOG("%s: GET_CONFIG of %u bytes at %u refused", vh->dev->name, len, off);
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	/* Reply with exactly the size asked for, zero-padded past our struct: some front-ends
	 * (SPDK's virtio-user) ask for the whole 256 bytes. */
	vh->dev->ops->get_config(vh->dev, space, CONFIG_SPACE_MAX);
	memcpy(msg->payload.cfg.region, space + off, len);
	return RTE_VHOST_MSG_RESULT_REPLY;
}

static enum rte_vhost_msg_result
set_config(struct vhd_vhost *vh, struct vhu_msg *msg)
{
	uint32_t off = msg->payload.cfg.offset;
	uint32_t len = msg->payload.cfg.size;

	if (vh->dev->ops->set_config == NULL || len > CONFIG_SPACE_MAX ||
	    off > CONFIG_SPACE_MAX - len) {
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	return vh->dev->ops->set_config(vh->dev, msg->payload.cfg.region, off, len) == 0 ?
		       RTE_VHOST_MSG_RESULT_OK :
		       RTE_VHOST_MSG_RESULT_ERR;
}

static bool
layout_changes(const struct session *s, const struct vhu_msg *msg)
{
	struct vhd_mem m;

	if (s->mem == NULL || msg->payload.memory.nregions > VHD_MEM_MAX_REGIONS) {
		return true;
	}
	memset(&m, 0, sizeof(m));
	m.nregions = msg->payload.memory.nregions;
	for (uint32_t i = 0; i < m.nregions; i++) {
		m.regions[i].gpa = msg->payload.memory.regions[i].gpa;
		m.regions[i].size = msg->payload.memory.regions[i].size;
		m.regions[i].uaddr = msg->payload.memory.regions[i].uaddr;
	}
	return !vhd_mem_same_layout(s->mem, &m);
}

static enum rte_vhost_msg_result
pre_msg(int vid, void *arg)
{
	struct vhu_msg *msg = arg;
	enum rte_vhost_msg_result res = RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	struct vhd_vhost *vh;
	struct session *s;

	vh = vhost_of_vid(vid);
	if (vh != NULL) {
		bool refuse = false;

		pthread_mutex_lock(&vh->lock);
		if (vh->waiting != NULL && vh->waiting->vid == vid) {
			refuse = !admit_waiting(vh);
		}
		pthread_mutex_unlock(&vh->lock);
		if (refuse) {
			/* DPDK closes the connection; destroy_connection frees the waiter. */
			return RTE_VHOST_MSG_RESULT_ERR;
		}
	}
	switch (msg->request) {
	case VHU_SET_FEATURES:
	case VHU_GET_CONFIG:
	case VHU_SET_CONFIG:
	case VHU_GET_QUEUE_NUM:
	case VHU_GET_VRING_BASE:
	case VHU_SET_MEM_TABLE:
		break;
	default:
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	s = lock_session(vid, &vh);
	if (s == NULL) {
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	switch (msg->request) {
	case VHU_SET_FEATURES:
		if (s->mem == NULL && !s->start_pending) {
			clock_gettime(CLOCK_MONOTONIC, &s->started);
			s->start_pending = true;
		}
		break;
	case VHU_GET_CONFIG:
		res = get_config(vh, msg);
		break;
	case VHU_SET_CONFIG:
		res = set_config(vh, msg);
		break;
	case VHU_GET_QUEUE_NUM:
		/* QEMU refuses num-queues above this with a clear message at device_add. */
		msg->payload.u64 = vh->dev->num_queues;
		msg->size = sizeof(msg->payload.u64);
		res = RTE_VHOST_MSG_RESULT_REPLY;
		break;
	case VHU_GET_VRING_BASE:
		stop_queue(vh, s, (uint16_t)msg->payload.state.index);
		break;
	case VHU_SET_MEM_TABLE:
		memset(s->restart, 0, sizeof(s->restart));
		if (!layout_changes(s, msg)) {
			break;
		}
		if (s->nstarted > 0) {
			VHD_NOTICELOG("%s: guest memory layout changes; pausing %u queues",
				      vh->dev->name, s->nstarted);
			for (uint16_t qid = 0; qid < MAX_VRINGS; qid++) {
				if (s->queues[qid] != NULL) {
					stop_queue(vh, s, qid);
					s->restart[qid / 64] |= 1ull << (qid % 64);
				}
			}
		}
		/* Drained: no backend I/O uses the old regions, which the library unmaps next. */
		dma_unmap_mem(vh, s);
		break;
	}
	pthread_mutex_unlock(&vh->lock);
	return res;
}

static enum rte_vhost_msg_result
post_msg(int vid, void *arg)
{
	struct vhu_msg *msg = arg;
	struct vhd_vhost *vh;
	struct session *s;

	if (msg->request != VHU_SET_MEM_TABLE) {
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	s = lock_session(vid, &vh);
	if (s == NULL) {
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	if (s->nstarted == 0) {
		refresh_mem(vh, s);
	}
	for (uint16_t qid = 0; qid < MAX_VRINGS; qid++) {
		if (s->restart[qid / 64] & (1ull << (qid % 64))) {
			start_queue(vh, s, qid);
		}
	}
	memset(s->restart, 0, sizeof(s->restart));
	pthread_mutex_unlock(&vh->lock);
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static const struct rte_vhost_user_extern_ops g_extern_ops = {
	.pre_msg_handle = pre_msg,
	.post_msg_handle = post_msg,
};

/* ---- control path ---- */

int
vhd_vhost_create(const char *path, struct vhd_dev *dev, struct vhd_worker *w,
		 struct vhd_vhost **out)
{
	struct vhd_vhost *vh;
	uint64_t pf = 0;
	uint64_t features;
	int rc;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		return -ENAMETOOLONG;
	}
	rc = vhd_unix_socket_clear_stale(path);
	if (rc != 0) {
		return rc;
	}
	vh = calloc(1, sizeof(*vh));
	if (vh == NULL) {
		return -ENOMEM;
	}
	vhd_strlcpy(vh->path, path, sizeof(vh->path));
	vh->dev = dev;
	vh->worker = w;
	vh->nretired = VHD_MIN(dev->ops->num_vrings(dev), (uint32_t)MAX_VRINGS);
	vh->retired = calloc(vh->nretired, sizeof(*vh->retired));
	if (vh->retired == NULL) {
		free(vh);
		return -ENOMEM;
	}
	pthread_mutex_init(&vh->lock, NULL);

	if (rte_vhost_driver_register(path, 0) != 0) {
		free(vh->retired);
		free(vh);
		return -EIO;
	}
	/* set_features also turns off DPDK's built-in virtio-net assumptions. */
	features = dev->ops->features(dev) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	if (rte_vhost_driver_set_features(path, features) != 0 ||
	    rte_vhost_driver_get_protocol_features(path, &pf) != 0 ||
	    rte_vhost_driver_set_protocol_features(
		    path, pf | dev->ops->protocol_features |
				  (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) != 0 ||
	    rte_vhost_driver_callback_register(path, &g_device_ops) != 0) {
		rte_vhost_driver_unregister(path);
		free(vh->retired);
		free(vh);
		return -EIO;
	}
	pthread_mutex_lock(&g_lock);
	TAILQ_INSERT_TAIL(&g_vhosts, vh, link);
	pthread_mutex_unlock(&g_lock);
	if (rte_vhost_driver_start(path) != 0) {
		pthread_mutex_lock(&g_lock);
		TAILQ_REMOVE(&g_vhosts, vh, link);
		pthread_mutex_unlock(&g_lock);
		rte_vhost_driver_unregister(path);
		free(vh->retired);
		free(vh);
		return -EIO;
	}
	*out = vh;
	return 0;
}

void
vhd_vhost_destroy(struct vhd_vhost *vh)
{
	pthread_mutex_lock(&vh->lock);
	vh->deleting = true;
	if (vh->session != NULL) {
		stop_all(vh, vh->session);
		/* Unregistering unmaps guest memory without telling us. */
		dma_unmap_mem(vh, vh->session);
	}
	pthread_mutex_unlock(&vh->lock);

	/* Closes the connection and the listening socket and unlinks the socket file. */
	rte_vhost_driver_unregister(vh->path);

	pthread_mutex_lock(&vh->lock);
	if (vh->session != NULL) {
		free_session(vh);
	}
	if (vh->waiting != NULL) {
		forget_vid(vh, vh->waiting->vid);
		free(vh->waiting);
		vh->waiting = NULL;
	}
	pthread_mutex_unlock(&vh->lock);
	pthread_mutex_lock(&g_lock);
	TAILQ_REMOVE(&g_vhosts, vh, link);
	pthread_mutex_unlock(&g_lock);
	unlink(vh->path);
	pthread_mutex_destroy(&vh->lock);
	free(vh->retired);
	free(vh);
}

bool
vhd_vhost_connected(struct vhd_vhost *vh)
{
	bool connected;

	pthread_mutex_lock(&vh->lock);
	connected = vh->session != NULL;
	pthread_mutex_unlock(&vh->lock);
	return connected;
}

int
vhd_vhost_config_changed(struct vhd_vhost *vh)
{
	int vid = -1;

	pthread_mutex_lock(&vh->lock);
	if (vh->session != NULL) {
		vid = vh->session->vid;
	}
	pthread_mutex_unlock(&vh->lock);
	if (vid < 0) {
		return -ENOTCONN;
	}
	/* Never with need_reply: the reply needs the vhost-events thread (deadlock). */
	return rte_vhost_slave_config_change(vid, false) == 0 ? 0 : -EIO;
}

void
vhd_vhost_dma_sync(struct vhd_vhost *vh)
{
	struct session *s;
	struct bdev_set now;

	pthread_mutex_lock(&vh->lock);
	s = vh->session;
	if (s == NULL || !s->dma_mapped || vh->deleting) {
		pthread_mutex_unlock(&vh->lock);
		return;
	}
	now = dma_bdevs_now(vh);
	for (unsigned int i = 0; i < now.n; i++) {
		bool had = false;

		for (unsigned int j = 0; j < s->ndma_bdevs && !had; j++) {
			had = s->dma_bdevs[j] == now.v[i];
		}
		if (!had) {
			dma_bdev(vh, &s->dma_mem, now.v[i], true);
		}
	}
	for (unsigned int j = 0; j < s->ndma_bdevs; j++) {
		if (!bdev_set_has(&now, s->dma_bdevs[j])) {
			dma_bdev(vh, &s->dma_mem, s->dma_bdevs[j], false);
		}
	}
	free(s->dma_bdevs);
	s->dma_bdevs = now.v;
	s->ndma_bdevs = now.n;
	pthread_mutex_unlock(&vh->lock);
}

unsigned int
vhd_vhost_queue_stats(struct vhd_vhost *vh, struct vhd_io_stats *stats, unsigned int max)
{
	unsigned int n = VHD_MIN(vh->nretired, max);

	pthread_mutex_lock(&vh->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct vhd_queue *q = vh->session != NULL ? vh->session->queues[i] : NULL;

		stats[i] = vh->retired[i];
		if (q != NULL) {
			/* Written by the worker as we read: each counter is a whole 64-bit value,
			 * the set is not a snapshot of one instant. */
			vhd_io_stats_add(&stats[i], &q->stats);
		}
	}
	pthread_mutex_unlock(&vh->lock);
	return n;
}

unsigned int
vhd_vhost_queue_info(struct vhd_vhost *vh, struct vhd_queue_stats *qs, unsigned int max)
{
	unsigned int n = VHD_MIN(vh->nretired, max);

	pthread_mutex_lock(&vh->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct vhd_queue *q = vh->session != NULL ? vh->session->queues[i] : NULL;

		memset(&qs[i], 0, sizeof(qs[i]));
		qs[i].index = (uint16_t)i;
		qs[i].io = vh->retired[i];
		if (q != NULL) {
			qs[i].started = true;
			qs[i].size = q->vq.size;
			qs[i].inflight = __atomic_load_n(&q->vq.inflight_count, __ATOMIC_RELAXED);
			vhd_io_stats_add(&qs[i].io, &q->stats);
		}
	}
	pthread_mutex_unlock(&vh->lock);
	return n;
}

void
vhd_transport_tick(void)
{
	struct timespec now;
	struct vhd_vhost *vh;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&g_lock);
	TAILQ_FOREACH(vh, &g_vhosts, link) {
		struct session *s;
		int64_t ms;

		/* g_lock is taken before vh->lock nowhere else: never wait here. */
		if (pthread_mutex_trylock(&vh->lock) != 0) {
			continue;
		}
		s = vh->session;
		if (s != NULL && s->start_pending) {
			ms = (now.tv_sec - s->started.tv_sec) * 1000 +
			     (now.tv_nsec - s->started.tv_nsec) / 1000000;
			if (ms > MEM_TABLE_GRACE_MS) {
				VHD_ERRLOG("%s: the front-end started the device but shared "
					   "no guest memory; %s", vh->dev->name, g_share_hint);
				s->start_pending = false;
			}
		}
		pthread_mutex_unlock(&vh->lock);
	}
	pthread_mutex_unlock(&g_lock);
}

int
vhd_transport_init(void)
{
	return 0;
}

void
vhd_transport_fini(void)
{
}
