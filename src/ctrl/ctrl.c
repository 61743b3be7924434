/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Registry of backends and controllers, and the create/delete operations shared by the config
 * loader and the RPC server (see vhostd/ctrl.h).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>

#include "kata.h"
#include "vhostd/ctrl.h"
#include "vhostd/scsi.h"
#include "vhostd/transport.h"
#include "vhostd/worker.h"

struct bdev_entry {
	struct vhd_bdev *bdev;
	struct vhd_backend_conf conf;
	TAILQ_ENTRY(bdev_entry) link;
};

/* A SCSI LUN's use of a backend. */
struct lun_use {
	struct bdev_entry *e;
	bool writer;
	bool gone;                     /* removed, but its I/O outlived the wait: still counted */
	uint32_t target;
	uint32_t lun;
};

struct ctrlr {
	struct vhd_ctrlr_conf conf;
	struct vhd_dev *dev;
	struct vhd_vhost *vh;
	struct vhd_worker *worker;
	struct bdev_entry *bdev;       /* blk */
	bool writer;                   /* counts as the backend's writer */
	struct lun_use *luns;          /* scsi */
	unsigned int nluns;
	bool kata_node;                /* has a Kata device node in g_kata_store */
	char socket[PATH_MAX];
	TAILQ_ENTRY(ctrlr) link;
};

static pthread_mutex_t g_ctrl_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(bdev_head_t, bdev_entry) g_bdevs = TAILQ_HEAD_INITIALIZER(g_bdevs);
static TAILQ_HEAD(ctrlr_head_t, ctrlr) g_ctrlrs = TAILQ_HEAD_INITIALIZER(g_ctrlrs);
static char g_socket_dir[PATH_MAX] = "/var/tmp";
static char g_kata_store[PATH_MAX];   /* empty: no Kata integration */

static void VHD_PRINTF(3, 4)
set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || len == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int
vhd_ctrl_init(const struct vhd_config *cfg)
{
	pthread_mutex_lock(&g_ctrl_lock);
	vhd_strlcpy(g_socket_dir, cfg->socket_dir, sizeof(g_socket_dir));
	vhd_strlcpy(g_kata_store, cfg->kata_store, sizeof(g_kata_store));
	pthread_mutex_unlock(&g_ctrl_lock);
	return 0;
}

static struct bdev_entry *
find_bdev(const char *name)
{
	struct bdev_entry *e;

	TAILQ_FOREACH(e, &g_bdevs, link) {
		if (strcmp(e->conf.name, name) == 0) {
			return e;
		}
	}
	return NULL;
}

static struct ctrlr *
find_ctrlr(const char *name)
{
	struct ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (strcmp(c->conf.name, name) == 0) {
			return c;
		}
	}
	return NULL;
}

/* Does controller c use backend e (as a writer when `writer`)? */
static bool
ctrlr_uses(const struct ctrlr *c, const struct bdev_entry *e, bool writer)
{
	if (c->bdev == e && (c->writer || !writer)) {
		return true;
	}
	for (unsigned int i = 0; i < c->nluns; i++) {
		if (c->luns[i].e == e && (c->luns[i].writer || !writer)) {
			return true;
		}
	}
	return false;
}

/* The controller writing to a backend, if any. */
static struct ctrlr *
bdev_writer(const struct bdev_entry *e)
{
	struct ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (ctrlr_uses(c, e, true)) {
			return c;
		}
	}
	return NULL;
}

static struct ctrlr *
bdev_user(const struct bdev_entry *e)
{
	struct ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (ctrlr_uses(c, e, false)) {
			return c;
		}
	}
	return NULL;
}

static int
bdev_create_locked(const struct vhd_backend_conf *conf, char *err, size_t len)
{
	struct bdev_entry *e;
	int rc;

	if (find_bdev(conf->name) != NULL) {
		set_err(err, len, "backend '%s' already exists", conf->name);
		return -EEXIST;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		set_err(err, len, "backend '%s': out of memory", conf->name);
		return -ENOMEM;
	}
	e->conf = *conf;
	rc = vhd_bdev_create(conf, &e->bdev);
	if (rc != 0) {
		switch (rc) {
		case -EBUSY:
			set_err(err, len, "backend '%s': %s is locked by another user", conf->name,
				conf->path);
			break;
		case -ENOTSUP:
			set_err(err, len, "backend '%s': type %s is not supported by this build",
				conf->name, vhd_backend_type_name(conf->type));
			break;
		case -EINVAL:
			set_err(err, len, "backend '%s': invalid size or block size", conf->name);
			break;
		default:
			if (conf->type == VHD_BACKEND_AIO) {
				set_err(err, len, "backend '%s': cannot open %s: %s", conf->name,
					conf->path, strerror(-rc));
			} else {
				set_err(err, len, "backend '%s': %s", conf->name, strerror(-rc));
			}
			break;
		}
		free(e);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_bdevs, e, link);
	return 0;
}

int
vhd_ctrl_bdev_create(const struct vhd_backend_conf *conf, char *err, size_t len)
{
	int rc;

	pthread_mutex_lock(&g_ctrl_lock);
	rc = bdev_create_locked(conf, err, len);
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

static int
bdev_delete_locked(const char *name, char *err, size_t len)
{
	struct bdev_entry *e = find_bdev(name);
	struct ctrlr *user;

	if (e == NULL) {
		set_err(err, len, "backend '%s' does not exist", name);
		return -ENOENT;
	}
	user = bdev_user(e);
	if (user != NULL) {
		set_err(err, len, "backend '%s' is used by controller '%s'", name, user->conf.name);
		return -EBUSY;
	}
	TAILQ_REMOVE(&g_bdevs, e, link);
	vhd_bdev_destroy(e->bdev);
	free(e);
	return 0;
}

int
vhd_ctrl_bdev_delete(const char *name, char *err, size_t len)
{
	int rc;

	pthread_mutex_lock(&g_ctrl_lock);
	rc = bdev_delete_locked(name, err, len);
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

/* Socket path (and Kata device node) and polling worker of a new controller. */
static int
ctrlr_socket_worker(struct ctrlr *c, char *err, size_t len)
{
	const char *name = c->conf.name;
	/* Kata's vhost-user-store looks for blk sockets in its own directory tree. */
	bool kata = g_kata_store[0] != '\0' && c->conf.type == VHD_CTRLR_BLK;
	int rc;

	if (kata) {
		rc = vhd_kata_socket_path(g_kata_store, name, c->socket, sizeof(c->socket));
	} else {
		rc = snprintf(c->socket, sizeof(c->socket), "%s/%s", g_socket_dir, name) >=
				     (int)sizeof(c->socket) ?
			     -ENAMETOOLONG :
			     0;
	}
	if (rc != 0) {
		set_err(err, len, "controller '%s': socket path is too long", name);
		return rc;
	}
	if (kata) {
		unsigned int minor;

		rc = vhd_kata_node_create(g_kata_store, name, &minor);
		if (rc != 0) {
			set_err(err, len, "controller '%s': cannot create the Kata device node in "
				"%s/block/devices: %s", name, g_kata_store, strerror(-rc));
			return rc;
		}
		c->kata_node = true;
	}
	c->worker = vhd_worker_pick(&c->conf.cpumask);
	if (c->worker == NULL) {
		set_err(err, len, "controller '%s': no polling core in its cpumask", c->conf.name);
		return -EINVAL;
	}
	return 0;
}

/* Control path -> the controller's worker (the SCSI device changes its LUNs there). */
static int
exec_on_worker(void *owner, int (*fn)(void *arg), void *arg)
{
	return vhd_worker_call(owner, fn, arg);
}

/*
 * May LUN target:lun of controller c (being created or running) use backend e? One writer
 * per backend, across controllers and the LUNs of this one.
 */
static int
check_lun_use(struct ctrlr *c, struct bdev_entry *e, bool writer, uint32_t target, uint32_t lun,
	      char *err, size_t len)
{
	struct ctrlr *other = bdev_writer(e);

	if (!writer) {
		return 0;
	}
	if (other != NULL && other != c) {
		set_err(err, len, "controller '%s': LUN %u:%u: backend '%s' is already written by "
			"controller '%s'", c->conf.name, target, lun, e->conf.name,
			other->conf.name);
		return -EBUSY;
	}
	for (unsigned int i = 0; i < c->nluns; i++) {
		if (c->luns[i].e == e && c->luns[i].writer) {
			set_err(err, len, "controller '%s': LUN %u:%u: backend '%s' is already "
				"written by its LUN %u:%u", c->conf.name, target, lun, e->conf.name,
				c->luns[i].target, c->luns[i].lun);
			return -EBUSY;
		}
	}
	return 0;
}

/* Resolve the targets/LUNs of a scsi conf into c->luns and create the device. */
static int
scsi_create(struct ctrlr *c, const struct vhd_ctrlr_conf *conf, char *err, size_t len)
{
	struct vhd_scsi_lun_def *defs;
	struct vhd_scsi_conf sconf;
	unsigned int n = 0;
	int rc = 0;

	for (unsigned int t = 0; t < conf->ntargets; t++) {
		n += conf->targets[t].nluns;
	}
	c->luns = calloc(n > 0 ? n : 1, sizeof(*c->luns));
	defs = calloc(n > 0 ? n : 1, sizeof(*defs));
	if (c->luns == NULL || defs == NULL) {
		set_err(err, len, "controller '%s': out of memory", conf->name);
		free(defs);
		return -ENOMEM;
	}
	for (unsigned int t = 0; t < conf->ntargets && rc == 0; t++) {
		const struct vhd_target_conf *tc = &conf->targets[t];

		for (unsigned int l = 0; l < tc->nluns && rc == 0; l++) {
			const struct vhd_lun_conf *lc = &tc->luns[l];
			struct bdev_entry *e = find_bdev(lc->backend);
			bool writer;

			if (e == NULL) {
				set_err(err, len, "controller '%s': LUN %u:%u: backend '%s' "
					"does not exist", conf->name, tc->id, lc->lun,
					lc->backend);
				rc = -ENOENT;
				break;
			}
			writer = !lc->readonly && !e->bdev->readonly;
			rc = check_lun_use(c, e, writer, tc->id, lc->lun, err, len);
			if (rc != 0) {
				break;
			}
			c->luns[c->nluns] = (struct lun_use){e, writer, false, tc->id, lc->lun};
			defs[c->nluns] = (struct vhd_scsi_lun_def){tc->id, lc->lun, e->bdev,
								   lc->readonly};
			c->nluns++;
		}
	}
	if (rc == 0) {
		sconf = (struct vhd_scsi_conf){
			.name = conf->name,
			.num_queues = conf->num_queues,
			.luns = defs,
			.nluns = c->nluns,
			.exec = exec_on_worker,
			.exec_owner = c->worker,
		};
		rc = vhd_scsi_create(&sconf, &c->dev);
		if (rc != 0) {
			set_err(err, len, "controller '%s': %s", conf->name,
				rc == -EINVAL ? "invalid targets or LUNs" : strerror(-rc));
		}
	}
	free(defs);
	return rc;
}

static int
blk_create(struct ctrlr *c, const struct vhd_ctrlr_conf *conf, char *err, size_t len)
{
	struct vhd_blk_conf blk;
	struct ctrlr *writer;
	int rc;

	c->bdev = find_bdev(conf->backend);
	if (c->bdev == NULL) {
		set_err(err, len, "controller '%s': backend '%s' does not exist", conf->name,
			conf->backend);
		return -ENOENT;
	}
	c->writer = !conf->readonly && !c->bdev->bdev->readonly;
	writer = bdev_writer(c->bdev);
	if (c->writer && writer != NULL) {
		set_err(err, len, "controller '%s': backend '%s' is already written by controller "
			"'%s'", conf->name, conf->backend, writer->conf.name);
		return -EBUSY;
	}
	blk = (struct vhd_blk_conf){
		.name = conf->name,
		.bdev = c->bdev->bdev,
		.num_queues = conf->num_queues,
		.readonly = conf->readonly,
		.serial = conf->serial[0] != '\0' ? conf->serial : NULL,
	};
	rc = vhd_blk_create(&blk, &c->dev);
	if (rc != 0) {
		set_err(err, len, "controller '%s': %s", conf->name, strerror(-rc));
	}
	return rc;
}

static int
ctrlr_create_locked(const struct vhd_ctrlr_conf *conf, char *err, size_t len)
{
	struct ctrlr *c;
	int rc;

	if (find_ctrlr(conf->name) != NULL) {
		set_err(err, len, "controller '%s' already exists", conf->name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		set_err(err, len, "controller '%s': out of memory", conf->name);
		return -ENOMEM;
	}
	c->conf = *conf;
	c->conf.targets = NULL;
	c->conf.ntargets = 0;
	rc = ctrlr_socket_worker(c, err, len);
	if (rc != 0) {
		goto fail;
	}
	rc = conf->type == VHD_CTRLR_SCSI ? scsi_create(c, conf, err, len) :
					    blk_create(c, conf, err, len);
	if (rc != 0) {
		goto fail_worker;
	}
	rc = vhd_vhost_create(c->socket, c->dev, c->worker, &c->vh);
	if (rc != 0) {
		switch (rc) {
		case -EEXIST:
			set_err(err, len, "controller '%s': %s exists and is not a socket",
				conf->name, c->socket);
			break;
		case -EADDRINUSE:
			set_err(err, len, "controller '%s': another process listens on %s",
				conf->name, c->socket);
			break;
		default:
			set_err(err, len, "controller '%s': cannot listen on %s: %s", conf->name,
				c->socket, strerror(-rc));
			break;
		}
		c->dev->ops->destroy(c->dev);
		goto fail_worker;
	}
	if (c->bdev != NULL) {
		c->bdev->bdev->refs++;
	}
	for (unsigned int i = 0; i < c->nluns; i++) {
		c->luns[i].e->bdev->refs++;
	}
	TAILQ_INSERT_TAIL(&g_ctrlrs, c, link);
	return 0;

fail_worker:
	vhd_worker_unpick(c->worker);
fail:
	if (c->kata_node) {
		vhd_kata_node_remove(g_kata_store, conf->name);
	}
	free(c->luns);
	free(c);
	return rc;
}

int
vhd_ctrl_ctrlr_create(const struct vhd_ctrlr_conf *conf, char *err, size_t len)
{
	int rc;

	pthread_mutex_lock(&g_ctrl_lock);
	rc = ctrlr_create_locked(conf, err, len);
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

static void
ctrlr_free(struct ctrlr *c)
{
	TAILQ_REMOVE(&g_ctrlrs, c, link);
	vhd_vhost_destroy(c->vh);
	if (c->kata_node) {
		vhd_kata_node_remove(g_kata_store, c->conf.name);
	}
	c->dev->ops->destroy(c->dev);
	if (c->bdev != NULL) {
		c->bdev->bdev->refs--;
	}
	for (unsigned int i = 0; i < c->nluns; i++) {
		c->luns[i].e->bdev->refs--;
	}
	vhd_worker_unpick(c->worker);
	free(c->luns);
	free(c);
}

static int
ctrlr_delete_locked(const char *name, bool force, char *err, size_t len)
{
	struct ctrlr *c = find_ctrlr(name);

	if (c == NULL) {
		set_err(err, len, "controller '%s' does not exist", name);
		return -ENOENT;
	}
	if (!force && vhd_vhost_connected(c->vh)) {
		set_err(err, len, "controller '%s' has a connected front-end (use force to "
			"disconnect it)", name);
		return -EBUSY;
	}
	ctrlr_free(c);
	return 0;
}

int
vhd_ctrl_ctrlr_delete(const char *name, bool force, char *err, size_t len)
{
	int rc;

	pthread_mutex_lock(&g_ctrl_lock);
	rc = ctrlr_delete_locked(name, force, err, len);
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

/* The running scsi controller `name`, or NULL with err set. */
static struct ctrlr *
find_scsi_ctrlr(const char *name, int *rc, char *err, size_t len)
{
	struct ctrlr *c = find_ctrlr(name);

	if (c == NULL) {
		set_err(err, len, "controller '%s' does not exist", name);
		*rc = -ENOENT;
		return NULL;
	}
	if (c->conf.type != VHD_CTRLR_SCSI) {
		set_err(err, len, "controller '%s' is not a scsi controller", name);
		*rc = -EINVAL;
		return NULL;
	}
	return c;
}

static int
scsi_add_lun_locked(const char *name, uint32_t target, const struct vhd_lun_conf *lc, char *err,
		    size_t len)
{
	struct ctrlr *c;
	struct bdev_entry *e;
	struct lun_use *luns;
	bool writer;
	int rc = 0;

	c = find_scsi_ctrlr(name, &rc, err, len);
	if (c == NULL) {
		return rc;
	}
	e = find_bdev(lc->backend);
	if (e == NULL) {
		set_err(err, len, "controller '%s': LUN %u:%u: backend '%s' does not exist", name,
			target, lc->lun, lc->backend);
		return -ENOENT;
	}
	writer = !lc->readonly && !e->bdev->readonly;
	rc = check_lun_use(c, e, writer, target, lc->lun, err, len);
	if (rc != 0) {
		return rc;
	}
	luns = realloc(c->luns, (c->nluns + 1) * sizeof(*luns));
	if (luns == NULL) {
		set_err(err, len, "controller '%s': out of memory", name);
		return -ENOMEM;
	}
	c->luns = luns;
	rc = vhd_scsi_add_lun(c->dev, target, lc->lun, e->bdev, lc->readonly);
	switch (rc) {
	case 0:
		c->luns[c->nluns++] = (struct lun_use){e, writer, false, target, lc->lun};
		e->bdev->refs++;
		/* nvme LUNs: map the connected guest's memory for the new backend */
		vhd_vhost_dma_sync(c->vh);
		break;
	case -EEXIST:
		set_err(err, len, "controller '%s': LUN %u:%u already exists", name, target,
			lc->lun);
		break;
	case -EINVAL:
		set_err(err, len, "controller '%s': LUN %u:%u is out of range (targets 0..%u, "
			"LUNs 0..%u)", name, target, lc->lun, VHD_SCSI_MAX_TARGETS - 1,
			VHD_SCSI_MAX_LUNS - 1);
		break;
	default:
		set_err(err, len, "controller '%s': LUN %u:%u: %s", name, target, lc->lun,
			strerror(-rc));
		break;
	}
	return rc;
}

int
vhd_ctrl_scsi_add_lun(const char *ctrlr, uint32_t target, const struct vhd_lun_conf *lun,
		      char *err, size_t len)
{
	int rc;

	pthread_mutex_lock(&g_ctrl_lock);
	rc = scsi_add_lun_locked(ctrlr, target, lun, err, len);
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

static int
scsi_remove_lun_locked(const char *name, uint32_t target, uint32_t lun, char *err, size_t len)
{
	struct ctrlr *c;
	unsigned int i;
	int rc = 0;

	c = find_scsi_ctrlr(name, &rc, err, len);
	if (c == NULL) {
		return rc;
	}
	for (i = 0; i < c->nluns; i++) {
		if (c->luns[i].target == target && c->luns[i].lun == lun && !c->luns[i].gone) {
			break;
		}
	}
	if (i == c->nluns) {
		set_err(err, len, "controller '%s' has no LUN %u:%u", name, target, lun);
		return -ENOENT;
	}
	rc = vhd_scsi_remove_lun(c->dev, target, lun);
	if (rc == 0 || rc == -ETIMEDOUT) {
		/* nvme LUNs: the guest's memory is no longer mapped for a backend it left */
		vhd_vhost_dma_sync(c->vh);
	}
	if (rc == -ETIMEDOUT) {
		/* Gone for the guest; the device still holds the backend until deleted. */
		c->luns[i].gone = true;
		set_err(err, len, "controller '%s': LUN %u:%u removed, but its backend I/O is "
			"still running; backend '%s' stays in use until the controller is deleted",
			name, target, lun, c->luns[i].e->conf.name);
		return rc;
	}
	if (rc != 0) {
		set_err(err, len, "controller '%s': LUN %u:%u: %s", name, target, lun,
			strerror(-rc));
		return rc;
	}
	c->luns[i].e->bdev->refs--;
	c->luns[i] = c->luns[--c->nluns];
	return 0;
}

int
vhd_ctrl_scsi_remove_lun(const char *ctrlr, uint32_t target, uint32_t lun, char *err,
			 size_t len)
{
	int rc;

	pthread_mutex_lock(&g_ctrl_lock);
	rc = scsi_remove_lun_locked(ctrlr, target, lun, err, len);
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

static void
shutdown_locked(void)
{
	struct bdev_entry *e;
	struct ctrlr *c;

	while ((c = TAILQ_LAST(&g_ctrlrs, ctrlr_head_t)) != NULL) {
		ctrlr_free(c);
	}
	while ((e = TAILQ_LAST(&g_bdevs, bdev_head_t)) != NULL) {
		TAILQ_REMOVE(&g_bdevs, e, link);
		vhd_bdev_destroy(e->bdev);
		free(e);
	}
}

int
vhd_ctrl_apply_config(const struct vhd_config *cfg, char *err, size_t len)
{
	int rc = 0;

	pthread_mutex_lock(&g_ctrl_lock);
	for (unsigned int i = 0; i < cfg->nbackends && rc == 0; i++) {
		rc = bdev_create_locked(&cfg->backends[i], err, len);
	}
	for (unsigned int i = 0; i < cfg->ncontrollers && rc == 0; i++) {
		rc = ctrlr_create_locked(&cfg->controllers[i], err, len);
	}
	if (rc != 0) {
		shutdown_locked();
	}
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

void
vhd_ctrl_shutdown(void)
{
	pthread_mutex_lock(&g_ctrl_lock);
	shutdown_locked();
	pthread_mutex_unlock(&g_ctrl_lock);
}

void
vhd_ctrl_foreach_ctrlr(void (*fn)(const struct vhd_ctrlr_info *info, void *arg), void *arg)
{
	struct ctrlr *c;

	pthread_mutex_lock(&g_ctrl_lock);
	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		struct vhd_ctrlr_info info;

		memset(&info, 0, sizeof(info));
		vhd_strlcpy(info.name, c->conf.name, sizeof(info.name));
		info.type = c->conf.type;
		vhd_strlcpy(info.socket, c->socket, sizeof(info.socket));
		info.cpu = vhd_worker_cpu(c->worker);
		info.num_queues = c->conf.num_queues;
		info.connected = vhd_vhost_connected(c->vh);
		if (c->bdev != NULL) {
			vhd_strlcpy(info.backend, c->bdev->conf.name, sizeof(info.backend));
		}
		fn(&info, arg);
	}
	pthread_mutex_unlock(&g_ctrl_lock);
}
