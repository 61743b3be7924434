/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Registry of backends and controllers, and the create/delete operations shared by the config
 * loader and the RPC server (see vhostd/ctrl.h).
 */
#include <inttypes.h>
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
	bool from_config;              /* the config file owns it (reload may change it) */
	TAILQ_ENTRY(bdev_entry) link;
};

/* A SCSI LUN's use of a backend. */
struct lun_use {
	struct bdev_entry *e;
	bool writer;
	bool readonly;                 /* asked for (the backend may be read-only as well) */
	bool gone;                     /* removed, but its I/O outlived the wait: still counted */
	uint32_t target;
	uint32_t lun;
};

struct ctrlr {
	/* As created; for scsi, targets follow the LUNs added and removed at run time (sorted by
	 * target and LUN; LUNs whose removal timed out are left out), so reload and save_config
	 * see what runs. */
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
	bool from_config;              /* the config file owns it (reload may change it) */
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

static int save_settings(const struct vhd_config *cfg);

int
vhd_ctrl_init(const struct vhd_config *cfg)
{
	int rc;

	pthread_mutex_lock(&g_ctrl_lock);
	vhd_strlcpy(g_socket_dir, cfg->socket_dir, sizeof(g_socket_dir));
	vhd_strlcpy(g_kata_store, cfg->kata_store, sizeof(g_kata_store));
	rc = save_settings(cfg);
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
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
	if (rc != 0 && conf->type == VHD_BACKEND_NVME) {
		set_err(err, len, "backend '%s': namespace %u of NVMe controller %s: %s",
			conf->name, conf->nsid, conf->pci, vhd_bdev_nvme_strerror(rc));
		free(e);
		return rc;
	}
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
		char lun[64] = "";

		for (unsigned int i = 0; i < user->nluns; i++) {
			const struct lun_use *u = &user->luns[i];

			if (u->e == e) {
				snprintf(lun, sizeof(lun), " (LUN %u:%u%s)", u->target, u->lun,
					 u->gone ? ", removed; its I/O has not finished" : "");
				break;
			}
		}
		set_err(err, len, "backend '%s' is used by controller '%s'%s", name,
			user->conf.name, lun);
		return -EBUSY;
	}
	/* A queue abandoned by a drain that timed out still has I/O on a worker channel. */
	if (__atomic_load_n(&e->bdev->nchannels, __ATOMIC_ACQUIRE) > 0) {
		set_err(err, len, "backend '%s' still has I/O in flight from a disconnected guest; "
			"try again once it has finished", name);
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

static void
targets_free(struct vhd_target_conf *targets, unsigned int ntargets)
{
	for (unsigned int t = 0; targets != NULL && t < ntargets; t++) {
		free(targets[t].luns);
	}
	free(targets);
}

static int
lun_use_cmp(const void *a, const void *b)
{
	const struct lun_use *x = *(const struct lun_use *const *)a;
	const struct lun_use *y = *(const struct lun_use *const *)b;

	if (x->target != y->target) {
		return x->target < y->target ? -1 : 1;
	}
	return x->lun < y->lun ? -1 : x->lun > y->lun;
}

struct targets {
	struct vhd_target_conf *t;
	unsigned int n;
};

/*
 * The targets of c's LUNs as a controller conf holds them, sorted, without the LUNs that are
 * gone: with `add` when not NULL, without c->luns[skip] when skip < c->nluns. Built before a
 * change so that, once the device has changed, recording it cannot fail.
 * \return 0 or -ENOMEM.
 */
static int
targets_build(const struct ctrlr *c, const struct lun_use *add, unsigned int skip,
	      struct targets *out)
{
	const struct lun_use **v = calloc(c->nluns + 1, sizeof(*v));
	struct vhd_target_conf *tc = NULL;
	unsigned int n = 0, nt = 0;

	out->t = NULL;
	out->n = 0;
	if (v == NULL) {
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < c->nluns; i++) {
		if (i != skip && !c->luns[i].gone) {
			v[n++] = &c->luns[i];
		}
	}
	if (add != NULL) {
		v[n++] = add;
	}
	qsort(v, n, sizeof(*v), lun_use_cmp);
	for (unsigned int i = 0; i < n; i++) {
		nt += i == 0 || v[i]->target != v[i - 1]->target;
	}
	if (nt > 0) {
		tc = calloc(nt, sizeof(*tc));
		if (tc == NULL) {
			free(v);
			return -ENOMEM;
		}
	}
	for (unsigned int i = 0, t = 0; i < n; t++) {
		unsigned int j = i;

		while (j < n && v[j]->target == v[i]->target) {
			j++;
		}
		tc[t].id = v[i]->target;
		tc[t].luns = calloc(j - i, sizeof(*tc[t].luns));
		if (tc[t].luns == NULL) {
			targets_free(tc, nt);
			free(v);
			return -ENOMEM;
		}
		for (; i < j; i++) {
			struct vhd_lun_conf *lc = &tc[t].luns[tc[t].nluns++];

			lc->lun = v[i]->lun;
			lc->readonly = v[i]->readonly;
			(void)vhd_strlcpy(lc->backend, v[i]->e->conf.name, sizeof(lc->backend));
		}
	}
	free(v);
	out->t = tc;
	out->n = nt;
	return 0;
}

/* Make t the targets of c's conf (it takes them). */
static void
targets_set(struct ctrlr *c, struct targets *t)
{
	targets_free(c->conf.targets, c->conf.ntargets);
	c->conf.targets = t->t;
	c->conf.ntargets = t->n;
	t->t = NULL;
	t->n = 0;
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
			c->luns[c->nluns] = (struct lun_use){
				.e = e,
				.writer = writer,
				.readonly = lc->readonly,
				.target = tc->id,
				.lun = lc->lun,
			};
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
	if (rc == 0) {
		struct targets t;

		/* The stored conf: the LUNs as they run, sorted. */
		rc = targets_build(c, NULL, UINT_MAX, &t);
		if (rc != 0) {
			set_err(err, len, "controller '%s': out of memory", conf->name);
			vhd_dev_put(c->dev);
			c->dev = NULL;
		} else {
			targets_set(c, &t);
		}
	}
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
		vhd_dev_put(c->dev);
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
	targets_free(c->conf.targets, c->conf.ntargets);
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
	vhd_dev_put(c->dev);
	if (c->bdev != NULL) {
		c->bdev->bdev->refs--;
	}
	for (unsigned int i = 0; i < c->nluns; i++) {
		c->luns[i].e->bdev->refs--;
	}
	vhd_worker_unpick(c->worker);
	targets_free(c->conf.targets, c->conf.ntargets);
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
		set_err(err, len, "controller '%s' is a %s controller, not scsi", name,
			vhd_ctrlr_type_name(c->conf.type));
		*rc = -EINVAL;
		return NULL;
	}
	return c;
}

/* Index in c->luns of the running LUN target:lun, or c->nluns. */
static unsigned int
find_lun(const struct ctrlr *c, uint32_t target, uint32_t lun)
{
	unsigned int i;

	for (i = 0; i < c->nluns; i++) {
		if (c->luns[i].target == target && c->luns[i].lun == lun && !c->luns[i].gone) {
			break;
		}
	}
	return i;
}

/* Does target `target` of c have a running LUN? */
static bool
target_used(const struct ctrlr *c, uint32_t target)
{
	for (unsigned int i = 0; i < c->nluns; i++) {
		if (c->luns[i].target == target && !c->luns[i].gone) {
			return true;
		}
	}
	return false;
}

static int
scsi_add_lun_locked(struct ctrlr *c, uint32_t target, const struct vhd_lun_conf *lc, char *err,
		    size_t len)
{
	const char *name = c->conf.name;
	struct lun_use use, *luns;
	struct bdev_entry *e;
	struct targets t;
	int rc;

	if (target >= VHD_SCSI_MAX_TARGETS || lc->lun >= VHD_SCSI_MAX_LUNS) {
		set_err(err, len, "controller '%s': LUN %u:%u is out of range (targets 0..%u, "
			"LUNs 0..%u)", name, target, lc->lun, VHD_SCSI_MAX_TARGETS - 1,
			VHD_SCSI_MAX_LUNS - 1);
		return -EINVAL;
	}
	if (find_lun(c, target, lc->lun) < c->nluns) {
		set_err(err, len, "controller '%s': LUN %u:%u already exists", name, target,
			lc->lun);
		return -EEXIST;
	}
	e = find_bdev(lc->backend);
	if (e == NULL) {
		set_err(err, len, "controller '%s': LUN %u:%u: backend '%s' does not exist", name,
			target, lc->lun, lc->backend);
		return -ENOENT;
	}
	use = (struct lun_use){
		.e = e,
		.writer = !lc->readonly && !e->bdev->readonly,
		.readonly = lc->readonly,
		.target = target,
		.lun = lc->lun,
	};
	rc = check_lun_use(c, e, use.writer, target, lc->lun, err, len);
	if (rc != 0) {
		return rc;
	}
	luns = realloc(c->luns, (c->nluns + 1) * sizeof(*luns));
	if (luns != NULL) {
		c->luns = luns;
	}
	if (luns == NULL || targets_build(c, &use, UINT_MAX, &t) != 0) {
		set_err(err, len, "controller '%s': out of memory", name);
		return -ENOMEM;
	}
	rc = vhd_scsi_add_lun(c->dev, target, lc->lun, e->bdev, lc->readonly);
	if (rc != 0) {
		targets_free(t.t, t.n);
		set_err(err, len, "controller '%s': LUN %u:%u: %s", name, target, lc->lun,
			rc == -ENOMEM ? "out of memory (or no I/O channel for the backend)" :
					strerror(-rc));
		return rc;
	}
	c->luns[c->nluns++] = use;
	e->bdev->refs++;
	targets_set(c, &t);
	/* nvme LUNs: map the connected guest's memory for the new backend */
	vhd_vhost_dma_sync(c->vh);
	return 0;
}

int
vhd_ctrl_scsi_add_lun(const char *ctrlr, uint32_t target, const struct vhd_lun_conf *lun,
		      char *err, size_t len)
{
	struct ctrlr *c;
	int rc = 0;

	pthread_mutex_lock(&g_ctrl_lock);
	c = find_scsi_ctrlr(ctrlr, &rc, err, len);
	if (c != NULL) {
		rc = scsi_add_lun_locked(c, target, lun, err, len);
	}
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

int
vhd_ctrl_scsi_add_target(const char *ctrlr, int32_t target, const char *backend,
			 uint32_t *added, char *err, size_t len)
{
	struct vhd_lun_conf lc = {.lun = 0};
	struct ctrlr *c;
	uint32_t t;
	int rc = 0;

	(void)vhd_strlcpy(lc.backend, backend, sizeof(lc.backend));
	pthread_mutex_lock(&g_ctrl_lock);
	c = find_scsi_ctrlr(ctrlr, &rc, err, len);
	if (c == NULL) {
		goto out;
	}
	if (target < 0) {
		t = 0;
		while (t < VHD_SCSI_MAX_TARGETS && target_used(c, t)) {
			t++;
		}
		if (t == VHD_SCSI_MAX_TARGETS) {
			set_err(err, len, "controller '%s': all %u targets are in use", ctrlr,
				VHD_SCSI_MAX_TARGETS);
			rc = -ENOSPC;
			goto out;
		}
	} else {
		t = (uint32_t)target;
		if (t >= VHD_SCSI_MAX_TARGETS) {
			set_err(err, len, "controller '%s': target %u is out of range (0..%u)",
				ctrlr, t, VHD_SCSI_MAX_TARGETS - 1);
			rc = -EINVAL;
			goto out;
		}
		if (target_used(c, t)) {
			set_err(err, len, "controller '%s': target %u already exists", ctrlr, t);
			rc = -EEXIST;
			goto out;
		}
	}
	rc = scsi_add_lun_locked(c, t, &lc, err, len);
	if (rc == 0) {
		*added = t;
	}
out:
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

/* Remove c->luns[i]; on 0 its backend is free of it. */
static int
scsi_remove_lun_at(struct ctrlr *c, unsigned int i, char *err, size_t len)
{
	struct lun_use *u = &c->luns[i];
	struct targets t;
	int rc;

	if (targets_build(c, NULL, i, &t) != 0) {
		set_err(err, len, "controller '%s': out of memory", c->conf.name);
		return -ENOMEM;
	}
	rc = vhd_scsi_remove_lun(c->dev, u->target, u->lun);
	if (rc == 0 || rc == -ETIMEDOUT) {
		/* nvme LUNs: the guest's memory is no longer mapped for a backend it left */
		vhd_vhost_dma_sync(c->vh);
	}
	if (rc == -ETIMEDOUT) {
		/* Gone for the guest; the device still holds the backend until deleted. */
		u->gone = true;
		targets_set(c, &t);
		set_err(err, len, "controller '%s': LUN %u:%u removed, but its backend I/O did not "
			"finish within %u s; backend '%s' stays in use until the controller is "
			"deleted", c->conf.name, u->target, u->lun,
			VHD_SCSI_REMOVE_TIMEOUT_MS / 1000, u->e->conf.name);
		return rc;
	}
	if (rc != 0) {
		targets_free(t.t, t.n);
		set_err(err, len, "controller '%s': LUN %u:%u: %s", c->conf.name, u->target,
			u->lun, strerror(-rc));
		return rc;
	}
	u->e->bdev->refs--;
	c->luns[i] = c->luns[--c->nluns];
	targets_set(c, &t);
	return 0;
}

int
vhd_ctrl_scsi_remove_lun(const char *ctrlr, uint32_t target, uint32_t lun, char *err,
			 size_t len)
{
	struct ctrlr *c;
	unsigned int i;
	int rc = 0;

	pthread_mutex_lock(&g_ctrl_lock);
	c = find_scsi_ctrlr(ctrlr, &rc, err, len);
	if (c != NULL) {
		i = find_lun(c, target, lun);
		if (i == c->nluns) {
			set_err(err, len, "controller '%s' has no LUN %u:%u", ctrlr, target, lun);
			rc = -ENOENT;
		} else {
			rc = scsi_remove_lun_at(c, i, err, len);
		}
	}
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

int
vhd_ctrl_scsi_remove_target(const char *ctrlr, uint32_t target, char *err, size_t len)
{
	char first[VHD_ERR_MAX] = "";
	struct ctrlr *c;
	int rc = 0;

	pthread_mutex_lock(&g_ctrl_lock);
	c = find_scsi_ctrlr(ctrlr, &rc, err, len);
	if (c != NULL && !target_used(c, target)) {
		set_err(err, len, "controller '%s' has no target %u", ctrlr, target);
		rc = -ENOENT;
		c = NULL;
	}
	/* Highest LUN first, LUN 0 last: the guest scans a target through LUN 0. */
	while (c != NULL && target_used(c, target)) {
		unsigned int i, top = c->nluns;
		int one;

		for (i = 0; i < c->nluns; i++) {
			if (c->luns[i].target == target && !c->luns[i].gone &&
			    (top == c->nluns || c->luns[i].lun > c->luns[top].lun)) {
				top = i;
			}
		}
		one = scsi_remove_lun_at(c, top, err, len);
		if (one == -ETIMEDOUT) {
			/* Gone for the guest all the same: go on with the others. */
			if (rc == 0) {
				(void)vhd_strlcpy(first, err, sizeof(first));
			}
			rc = one;
		} else if (one != 0) {
			rc = one;
			break;
		}
	}
	if (rc == -ETIMEDOUT && err != NULL && len > 0) {
		(void)vhd_strlcpy(err, first, len);
	}
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
		/* Still polled by a worker for an abandoned queue's late I/O: the process is
		 * exiting, so leave it to the kernel rather than free it under the worker. */
		if (__atomic_load_n(&e->bdev->nchannels, __ATOMIC_ACQUIRE) == 0) {
			vhd_bdev_destroy(e->bdev);
		}
		free(e);
	}
}

static void mark_from_config(const struct vhd_config *cfg);

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
	} else {
		mark_from_config(cfg);
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

static void
visit_ctrlr(struct ctrlr *c, void (*fn)(const struct vhd_ctrlr_info *info, void *arg), void *arg)
{
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
	info.conf = &c->conf;
	info.from_config = c->from_config;
	info.vh = c->vh;
	info.dev = c->dev;
	fn(&info, arg);
}

void
vhd_ctrl_foreach_ctrlr(void (*fn)(const struct vhd_ctrlr_info *info, void *arg), void *arg)
{
	struct ctrlr *c;

	pthread_mutex_lock(&g_ctrl_lock);
	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		visit_ctrlr(c, fn, arg);
	}
	pthread_mutex_unlock(&g_ctrl_lock);
}

/* ==== Runtime control: introspection, resize and reload (RPC server, SIGHUP) ==== */

/* Settings of the configuration in effect (its lists are not kept: the registry is the truth). */
static struct vhd_config g_settings;
static char *g_config_path;
static bool (*g_log_level_hook)(enum vhd_log_level level);

static int
save_settings(const struct vhd_config *cfg)
{
	char *path = NULL;

	if (cfg->path != NULL) {
		path = strdup(cfg->path);
		if (path == NULL) {
			return -ENOMEM;
		}
	}
	free(g_config_path);
	g_config_path = path;
	g_settings = *cfg;
	g_settings.path = NULL;
	g_settings.backends = NULL;
	g_settings.nbackends = 0;
	g_settings.controllers = NULL;
	g_settings.ncontrollers = 0;
	return 0;
}

static void
mark_from_config(const struct vhd_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nbackends; i++) {
		struct bdev_entry *e = find_bdev(cfg->backends[i].name);

		if (e != NULL) {
			e->from_config = true;
		}
	}
	for (unsigned int i = 0; i < cfg->ncontrollers; i++) {
		struct ctrlr *c = find_ctrlr(cfg->controllers[i].name);

		if (c != NULL) {
			c->from_config = true;
		}
	}
}

int
vhd_ctrl_visit_ctrlr(const char *name,
		     void (*fn)(const struct vhd_ctrlr_info *info, void *arg), void *arg)
{
	struct ctrlr *c;
	int rc = -ENOENT;

	pthread_mutex_lock(&g_ctrl_lock);
	c = find_ctrlr(name);
	if (c != NULL) {
		visit_ctrlr(c, fn, arg);
		rc = 0;
	}
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

static void
visit_bdev(struct bdev_entry *e, void (*fn)(const struct vhd_bdev_info *info, void *arg),
	   void *arg)
{
	struct vhd_bdev_info info = {
		.conf = &e->conf,
		.bdev = e->bdev,
		.from_config = e->from_config,
	};
	struct ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (ctrlr_uses(c, e, false)) {
			if (info.user == NULL) {
				info.user = c->conf.name;
			}
			info.nusers++;
		}
	}
	fn(&info, arg);
}

int
vhd_ctrl_foreach_bdev(const char *name,
		      void (*fn)(const struct vhd_bdev_info *info, void *arg), void *arg)
{
	struct bdev_entry *e;
	int rc = 0;

	pthread_mutex_lock(&g_ctrl_lock);
	if (name != NULL) {
		e = find_bdev(name);
		if (e != NULL) {
			visit_bdev(e, fn, arg);
		} else {
			rc = -ENOENT;
		}
	} else {
		TAILQ_FOREACH(e, &g_bdevs, link) {
			visit_bdev(e, fn, arg);
		}
	}
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

void
vhd_ctrl_get_cores(struct vhd_cpumask *cores)
{
	pthread_mutex_lock(&g_ctrl_lock);
	*cores = g_settings.cores;
	pthread_mutex_unlock(&g_ctrl_lock);
}

void
vhd_ctrl_ctrlr_conf_init(struct vhd_ctrlr_conf *conf, const char *name, enum vhd_ctrlr_type type)
{
	memset(conf, 0, sizeof(*conf));
	(void)vhd_strlcpy(conf->name, name, sizeof(conf->name));
	conf->type = type;
	vhd_ctrl_get_cores(&conf->cpumask);
	conf->num_queues = 1;
	(void)vhd_strlcpy(conf->serial, name, sizeof(conf->serial));
}

static int
bdev_resize_locked(struct bdev_entry *e, uint64_t new_size, struct vhd_resize_result *res,
		   char *err, size_t len)
{
	struct vhd_bdev *bdev = e->bdev;
	const char *name = e->conf.name;
	struct ctrlr *c;
	int rc;

	memset(res, 0, sizeof(*res));
	if (bdev->ops->resize == NULL) {
		set_err(err, len, "backend '%s': a %s backend cannot be resized", name,
			vhd_backend_type_name(bdev->type));
		return -ENOTSUP;
	}
	if (bdev->type == VHD_BACKEND_AIO && new_size != 0) {
		set_err(err, len, "backend '%s': an aio backend has the size of %s; grow the file "
			"(or device), then rescan", name, e->conf.path);
		return -EINVAL;
	}
	if (bdev->type != VHD_BACKEND_AIO && new_size == 0) {
		set_err(err, len, "backend '%s': the new size must be greater than 0", name);
		return -EINVAL;
	}
	res->old_bytes = vhd_bdev_num_blocks(bdev) * bdev->block_size;
	rc = bdev->ops->resize(bdev, new_size);
	switch (rc) {
	case 0:
		break;
	case -EINVAL:
		if (bdev->type == VHD_BACKEND_AIO) {
			set_err(err, len, "backend '%s': %s is smaller than one block (%u bytes)",
				name, e->conf.path, bdev->block_size);
		} else {
			set_err(err, len, "backend '%s': %" PRIu64 " bytes is not a multiple of "
				"the block size (%u)", name, new_size, bdev->block_size);
		}
		return rc;
	case -ENOSPC:
		set_err(err, len, "backend '%s': a malloc backend grows to at most 16 times its "
			"size at creation (at least 16 GiB)", name);
		return rc;
	default:
		set_err(err, len, "backend '%s': cannot resize: %s", name, strerror(-rc));
		return rc;
	}
	res->new_bytes = vhd_bdev_num_blocks(bdev) * bdev->block_size;
	if (bdev->type == VHD_BACKEND_MALLOC || bdev->type == VHD_BACKEND_NULL) {
		e->conf.size = res->new_bytes;
	}
	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (!ctrlr_uses(c, e, false)) {
			continue;
		}
		res->users++;
		if (res->new_bytes == res->old_bytes) {
			continue;
		}
		if (c->bdev == e) {
			/* virtio-blk: QEMU re-reads the capacity from the config space. */
			rc = vhd_vhost_config_changed(c->vh);
			if (rc == 0) {
				res->notified++;
			} else if (rc != -ENOTCONN) {
				res->notify_failed++;
			}
			continue;
		}
		/* SCSI: unit attention 06/2A/09 and a PARAM_CHANGE event, per LUN on it. */
		for (unsigned int i = 0; i < c->nluns; i++) {
			if (c->luns[i].e == e && !c->luns[i].gone &&
			    vhd_scsi_lun_resized(c->dev, c->luns[i].target, c->luns[i].lun) == 0 &&
			    vhd_vhost_connected(c->vh)) {
				res->notified++;
			}
		}
	}
	return 0;
}

int
vhd_ctrl_bdev_resize(const char *name, uint64_t new_size, struct vhd_resize_result *res,
		     char *err, size_t len)
{
	struct bdev_entry *e;
	int rc;

	pthread_mutex_lock(&g_ctrl_lock);
	e = find_bdev(name);
	if (e == NULL) {
		set_err(err, len, "backend '%s' does not exist", name);
		rc = -ENOENT;
	} else {
		rc = bdev_resize_locked(e, new_size, res, err, len);
	}
	pthread_mutex_unlock(&g_ctrl_lock);
	return rc;
}

void
vhd_ctrl_set_log_level_hook(bool (*fn)(enum vhd_log_level level))
{
	pthread_mutex_lock(&g_ctrl_lock);
	g_log_level_hook = fn;
	pthread_mutex_unlock(&g_ctrl_lock);
}

/* ---- reload ---- */

const char *
vhd_reload_action_name(enum vhd_reload_action action)
{
	static const char *const names[] = {
		[VHD_RELOAD_UNCHANGED] = "unchanged",
		[VHD_RELOAD_CREATED] = "created",
		[VHD_RELOAD_DELETED] = "deleted",
		[VHD_RELOAD_REPLACED] = "replaced",
		[VHD_RELOAD_RESIZED] = "resized",
		[VHD_RELOAD_APPLIED] = "applied",
		[VHD_RELOAD_KEPT] = "kept",
		[VHD_RELOAD_RESTART] = "restart-needed",
		[VHD_RELOAD_FAILED] = "failed",
	};

	return (size_t)action < VHD_ARRAY_SIZE(names) ? names[action] : "unknown";
}

const char *
vhd_reload_kind_name(enum vhd_reload_kind kind)
{
	switch (kind) {
	case VHD_RELOAD_BACKEND:
		return "backend";
	case VHD_RELOAD_CONTROLLER:
		return "controller";
	case VHD_RELOAD_SETTING:
		return "setting";
	}
	return "unknown";
}

void
vhd_reload_report_free(struct vhd_reload_report *rep)
{
	free(rep->items);
	free(rep->diag);
	memset(rep, 0, sizeof(*rep));
}

/* Names deleted during a reload to be created again (REPLACED rather than CREATED). */
struct name_list {
	char (*names)[VHD_NAME_MAX + 1];
	unsigned int n;
};

struct reload {
	const struct vhd_config *cfg;
	struct vhd_reload_report *rep;
	struct name_list replaced_bdevs;
	struct name_list replaced_ctrlrs;
	/* RPC-made controllers removed so that a backend the file changes could be replaced. */
	struct vhd_ctrlr_conf *recreate;
	unsigned int nrecreate;
	bool nomem;
};

static void VHD_PRINTF(5, 6)
report(struct reload *r, enum vhd_reload_kind kind, enum vhd_reload_action action,
       const char *name, const char *fmt, ...)
{
	struct vhd_reload_report *rep = r->rep;
	struct vhd_reload_item *items, *it;
	va_list ap;

	items = realloc(rep->items, (rep->nitems + 1) * sizeof(*items));
	if (items == NULL) {
		r->nomem = true;
		return;
	}
	rep->items = items;
	it = &items[rep->nitems++];
	it->kind = kind;
	it->action = action;
	(void)vhd_strlcpy(it->name, name, sizeof(it->name));
	va_start(ap, fmt);
	vsnprintf(it->message, sizeof(it->message), fmt, ap);
	va_end(ap);
	if (action == VHD_RELOAD_KEPT || action == VHD_RELOAD_FAILED) {
		rep->nrefused++;
	}
}

static void
name_list_add(struct reload *r, struct name_list *l, const char *name)
{
	char (*names)[VHD_NAME_MAX + 1] = realloc(l->names, (l->n + 1) * sizeof(*names));

	if (names == NULL) {
		r->nomem = true;
		return;
	}
	l->names = names;
	(void)vhd_strlcpy(names[l->n++], name, sizeof(names[0]));
}

static bool
name_list_has(const struct name_list *l, const char *name)
{
	for (unsigned int i = 0; i < l->n; i++) {
		if (strcmp(l->names[i], name) == 0) {
			return true;
		}
	}
	return false;
}

static const struct vhd_ctrlr_conf *
cfg_ctrlr(const struct vhd_config *cfg, const char *name)
{
	for (unsigned int i = 0; i < cfg->ncontrollers; i++) {
		if (strcmp(cfg->controllers[i].name, name) == 0) {
			return &cfg->controllers[i];
		}
	}
	return NULL;
}

/* Only the size differs (malloc/null): resized in place rather than replaced. */
static bool
only_size_differs(const struct vhd_backend_conf *a, const struct vhd_backend_conf *b)
{
	struct vhd_backend_conf tmp = *b;

	if (a->type != VHD_BACKEND_MALLOC && a->type != VHD_BACKEND_NULL) {
		return false;
	}
	tmp.size = a->size;
	return vhd_backend_conf_equal(a, &tmp);
}

/* Is the running LUN set of scsi controller c the one conf describes? */
static bool
scsi_luns_match(const struct ctrlr *c, const struct vhd_ctrlr_conf *conf)
{
	unsigned int n = 0, running = 0;

	for (unsigned int i = 0; i < c->nluns; i++) {
		running += !c->luns[i].gone;
	}
	for (unsigned int t = 0; t < conf->ntargets; t++) {
		const struct vhd_target_conf *tc = &conf->targets[t];

		for (unsigned int l = 0; l < tc->nluns; l++) {
			const struct vhd_lun_conf *lc = &tc->luns[l];
			unsigned int i;

			for (i = 0; i < c->nluns; i++) {
				const struct lun_use *u = &c->luns[i];

				if (!u->gone && u->target == tc->id && u->lun == lc->lun &&
				    strcmp(u->e->conf.name, lc->backend) == 0 &&
				    u->writer == (!lc->readonly && !u->e->bdev->readonly)) {
					break;
				}
			}
			if (i == c->nluns) {
				return false;
			}
			n++;
		}
	}
	return n == running;
}

/*
 * Does controller c run as conf describes? The stored conf does not keep SCSI targets (LUNs
 * may also come and go at run time), so those are compared with the running LUN set.
 */
static bool
ctrlr_matches(const struct ctrlr *c, const struct vhd_ctrlr_conf *conf)
{
	struct vhd_ctrlr_conf a = c->conf, b = *conf;

	a.targets = NULL;
	a.ntargets = 0;
	b.targets = NULL;
	b.ntargets = 0;
	if (!vhd_ctrlr_conf_equal(&a, &b)) {
		return false;
	}
	return c->conf.type != VHD_CTRLR_SCSI || scsi_luns_match(c, conf);
}

/*
 * The file changes this backend (beyond its size), so it is to be replaced. (A backend the
 * file removes is deleted only if unused; its users are not touched for it.)
 */
static bool
bdev_replaced(const struct reload *r, const struct bdev_entry *e)
{
	const struct vhd_backend_conf *nb = vhd_config_find_backend(r->cfg, e->conf.name);

	return nb != NULL && !vhd_backend_conf_equal(&e->conf, nb) &&
	       !only_size_differs(&e->conf, nb);
}

/* Does controller c use a backend the file replaces (its blk backend or one of its LUNs)? */
static bool
ctrlr_backend_replaced(const struct reload *r, const struct ctrlr *c)
{
	if (c->bdev != NULL && bdev_replaced(r, c->bdev)) {
		return true;
	}
	for (unsigned int i = 0; i < c->nluns; i++) {
		if (bdev_replaced(r, c->luns[i].e)) {
			return true;
		}
	}
	return false;
}

static void
reload_ctrlrs_remove(struct reload *r)
{
	const char *file = r->cfg->path;
	char err[VHD_ERR_MAX];
	struct ctrlr *c, *next;

	for (c = TAILQ_FIRST(&g_ctrlrs); c != NULL; c = next) {
		const struct vhd_ctrlr_conf *nc = cfg_ctrlr(r->cfg, c->conf.name);
		bool backend_goes = ctrlr_backend_replaced(r, c);
		char name[VHD_NAME_MAX + 1];
		struct vhd_ctrlr_conf keep;
		const char *why;

		next = TAILQ_NEXT(c, link);
		if (nc == NULL && !c->from_config && !backend_goes) {
			/* Made over RPC and not concerned. */
			continue;
		}
		if (nc == NULL && c->from_config) {
			why = "removed from";
		} else if (nc != NULL && !ctrlr_matches(c, nc)) {
			why = "changed in";
		} else if (backend_goes) {
			why = "uses a backend that changes in";
		} else {
			c->from_config = true;
			report(r, VHD_RELOAD_CONTROLLER, VHD_RELOAD_UNCHANGED, c->conf.name,
			       "unchanged");
			continue;
		}
		(void)vhd_strlcpy(name, c->conf.name, sizeof(name));
		if (vhd_vhost_connected(c->vh)) {
			report(r, VHD_RELOAD_CONTROLLER, VHD_RELOAD_KEPT, name, "%s %s, but a "
			       "front-end is connected: left as it was (delete or change it once "
			       "the VM has stopped)", why, file);
			continue;
		}
		/* Its conf (with the LUNs it runs now) outlives it, to create it again. */
		keep = c->conf;
		c->conf.targets = NULL;
		c->conf.ntargets = 0;
		if (ctrlr_delete_locked(name, false, err, sizeof(err)) != 0) {
			c->conf.targets = keep.targets;
			c->conf.ntargets = keep.ntargets;
			report(r, VHD_RELOAD_CONTROLLER, VHD_RELOAD_FAILED, name, "%s %s; cannot "
			       "delete it: %s", why, file, err);
			continue;
		}
		if (nc == NULL && strcmp(why, "removed from") == 0) {
			report(r, VHD_RELOAD_CONTROLLER, VHD_RELOAD_DELETED, name,
			       "removed from %s: deleted", file);
			targets_free(keep.targets, keep.ntargets);
			continue;
		}
		name_list_add(r, &r->replaced_ctrlrs, name);
		if (nc == NULL) {
			/* Made over RPC: back as it was (with its LUNs), on the new backend. */
			struct vhd_ctrlr_conf *re = realloc(r->recreate,
							    (r->nrecreate + 1) * sizeof(*re));

			if (re == NULL) {
				targets_free(keep.targets, keep.ntargets);
				r->nomem = true;
				continue;
			}
			r->recreate = re;
			re[r->nrecreate++] = keep;
		} else {
			targets_free(keep.targets, keep.ntargets);
		}
	}
}

static void
reload_bdevs_remove(struct reload *r)
{
	const char *file = r->cfg->path;
	struct bdev_entry *e, *next;

	for (e = TAILQ_FIRST(&g_bdevs); e != NULL; e = next) {
		const struct vhd_backend_conf *nb = vhd_config_find_backend(r->cfg, e->conf.name);
		struct vhd_resize_result res;
		char err[VHD_ERR_MAX];
		struct ctrlr *user;
		const char *name = e->conf.name;

		next = TAILQ_NEXT(e, link);
		if (nb == NULL && !e->from_config) {
			continue;
		}
		if (nb != NULL && vhd_backend_conf_equal(&e->conf, nb)) {
			e->from_config = true;
			report(r, VHD_RELOAD_BACKEND, VHD_RELOAD_UNCHANGED, name, "unchanged");
			continue;
		}
		if (nb != NULL && only_size_differs(&e->conf, nb)) {
			e->from_config = true;
			if (bdev_resize_locked(e, nb->size, &res, err, sizeof(err)) != 0) {
				report(r, VHD_RELOAD_BACKEND, VHD_RELOAD_FAILED, name, "%s", err);
			} else {
				report(r, VHD_RELOAD_BACKEND, VHD_RELOAD_RESIZED, name,
				       "size changed in %s: resized from %" PRIu64 " to %" PRIu64
				       " bytes, %u front-end(s) notified", file, res.old_bytes,
				       res.new_bytes, res.notified);
			}
			continue;
		}
		user = bdev_user(e);
		if (user != NULL) {
			report(r, VHD_RELOAD_BACKEND, VHD_RELOAD_KEPT, name,
			       "%s %s, but controller '%s' uses it: left as it was",
			       nb == NULL ? "removed from" : "changed in", file, user->conf.name);
			continue;
		}
		if (nb == NULL) {
			report(r, VHD_RELOAD_BACKEND, VHD_RELOAD_DELETED, name,
			       "removed from %s: deleted", file);
		} else {
			name_list_add(r, &r->replaced_bdevs, name);
		}
		TAILQ_REMOVE(&g_bdevs, e, link);
		vhd_bdev_destroy(e->bdev);
		free(e);
	}
}

static void
reload_create(struct reload *r)
{
	const struct vhd_config *cfg = r->cfg;
	char err[VHD_ERR_MAX];

	for (unsigned int i = 0; i < cfg->nbackends; i++) {
		const struct vhd_backend_conf *b = &cfg->backends[i];
		bool again = name_list_has(&r->replaced_bdevs, b->name);

		if (find_bdev(b->name) != NULL) {
			continue;
		}
		if (bdev_create_locked(b, err, sizeof(err)) != 0) {
			report(r, VHD_RELOAD_BACKEND, VHD_RELOAD_FAILED, b->name, "%s%s", err,
			       again ? " (the old one was deleted)" : "");
			continue;
		}
		find_bdev(b->name)->from_config = true;
		report(r, VHD_RELOAD_BACKEND, again ? VHD_RELOAD_REPLACED : VHD_RELOAD_CREATED,
		       b->name, again ? "changed in %s: replaced" : "new in %s: created",
		       cfg->path);
	}
	for (unsigned int i = 0; i < cfg->ncontrollers; i++) {
		const struct vhd_ctrlr_conf *c = &cfg->controllers[i];
		bool again = name_list_has(&r->replaced_ctrlrs, c->name);

		if (find_ctrlr(c->name) != NULL) {
			continue;
		}
		if (ctrlr_create_locked(c, err, sizeof(err)) != 0) {
			report(r, VHD_RELOAD_CONTROLLER, VHD_RELOAD_FAILED, c->name, "%s%s", err,
			       again ? " (the old one was deleted)" : "");
			continue;
		}
		find_ctrlr(c->name)->from_config = true;
		report(r, VHD_RELOAD_CONTROLLER, again ? VHD_RELOAD_REPLACED : VHD_RELOAD_CREATED,
		       c->name, again ? "changed in %s: replaced" : "new in %s: created",
		       cfg->path);
	}
	for (unsigned int i = 0; i < r->nrecreate; i++) {
		const struct vhd_ctrlr_conf *c = &r->recreate[i];

		if (ctrlr_create_locked(c, err, sizeof(err)) != 0) {
			report(r, VHD_RELOAD_CONTROLLER, VHD_RELOAD_FAILED, c->name, "its backend "
			       "was replaced, and it could not be created again: %s", err);
			continue;
		}
		report(r, VHD_RELOAD_CONTROLLER, VHD_RELOAD_REPLACED, c->name, "its backend was "
		       "replaced: created again");
	}
}

static void
setting_restart(struct reload *r, const char *key, const char *was, const char *now)
{
	report(r, VHD_RELOAD_SETTING, VHD_RELOAD_RESTART, key, "changed from %s to %s in %s; "
	       "takes effect when vhostd restarts", was, now, r->cfg->path);
}

static void
reload_settings(struct reload *r)
{
	const struct vhd_config *n = r->cfg, *o = &g_settings;
	char was[PATH_MAX], now[PATH_MAX];

	if (memcmp(&n->cores, &o->cores, sizeof(n->cores)) != 0) {
		vhd_cpumask_format_list(&o->cores, was, sizeof(was));
		vhd_cpumask_format_list(&n->cores, now, sizeof(now));
		setting_restart(r, "cores", was, now);
	}
	if (n->hugemem_mb != o->hugemem_mb) {
		snprintf(was, sizeof(was), "%" PRIu64, o->hugemem_mb);
		snprintf(now, sizeof(now), "%" PRIu64, n->hugemem_mb);
		setting_restart(r, "hugemem", was, now);
	}
	if (n->idle_sleep_us != o->idle_sleep_us) {
		snprintf(was, sizeof(was), "%u", o->idle_sleep_us);
		snprintf(now, sizeof(now), "%u", n->idle_sleep_us);
		setting_restart(r, "idle_sleep_us", was, now);
	}
	if (strcmp(n->socket_dir, o->socket_dir) != 0) {
		setting_restart(r, "socket_dir", o->socket_dir, n->socket_dir);
	}
	if (strcmp(n->rpc_socket, o->rpc_socket) != 0) {
		setting_restart(r, "rpc_socket", o->rpc_socket, n->rpc_socket);
	}
	if (strcmp(n->instance, o->instance) != 0) {
		setting_restart(r, "instance", o->instance[0] != '\0' ? o->instance : "(default)",
				n->instance[0] != '\0' ? n->instance : "(default)");
	}
	if (strcmp(n->kata_store, o->kata_store) != 0) {
		setting_restart(r, "kata.store", o->kata_store[0] != '\0' ? o->kata_store :
				"(none)", n->kata_store[0] != '\0' ? n->kata_store : "(none)");
	}
	if (n->log_level != o->log_level) {
		if (g_log_level_hook != NULL && g_log_level_hook(n->log_level)) {
			report(r, VHD_RELOAD_SETTING, VHD_RELOAD_APPLIED, "log_level",
			       "changed from %s to %s: applied", vhd_log_level_name(o->log_level),
			       vhd_log_level_name(n->log_level));
			g_settings.log_level = n->log_level;
		} else {
			report(r, VHD_RELOAD_SETTING, VHD_RELOAD_KEPT, "log_level",
			       "changed from %s to %s in %s, but the command line (-l) set the "
			       "level: kept",
			       vhd_log_level_name(o->log_level), vhd_log_level_name(n->log_level),
			       n->path);
		}
	}
}

int
vhd_ctrl_reload(struct vhd_reload_report *rep)
{
	struct vhd_diag diag = {0};
	struct vhd_config *cfg = NULL;
	struct reload r = {.rep = rep};
	char *path;
	int rc;

	memset(rep, 0, sizeof(*rep));
	pthread_mutex_lock(&g_ctrl_lock);
	path = g_config_path != NULL ? strdup(g_config_path) : NULL;
	pthread_mutex_unlock(&g_ctrl_lock);
	if (path == NULL) {
		return -ENOMEM;
	}
	rc = vhd_config_load(path, &cfg, &diag);
	free(path);
	if (rc != 0) {
		rep->diag = diag.text;
		return rc;
	}
	r.cfg = cfg;
	pthread_mutex_lock(&g_ctrl_lock);
	reload_settings(&r);
	/* Controllers first (they free backends), then backends, then everything new. */
	reload_ctrlrs_remove(&r);
	reload_bdevs_remove(&r);
	reload_create(&r);
	pthread_mutex_unlock(&g_ctrl_lock);
	free(r.replaced_bdevs.names);
	free(r.replaced_ctrlrs.names);
	for (unsigned int i = 0; i < r.nrecreate; i++) {
		targets_free(r.recreate[i].targets, r.recreate[i].ntargets);
	}
	free(r.recreate);
	vhd_config_free(cfg);
	return r.nomem ? -ENOMEM : 0;
}
