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

#include "vhostd/ctrl.h"
#include "vhostd/transport.h"
#include "vhostd/worker.h"

struct bdev_entry {
	struct vhd_bdev *bdev;
	struct vhd_backend_conf conf;
	TAILQ_ENTRY(bdev_entry) link;
};

struct ctrlr {
	struct vhd_ctrlr_conf conf;
	struct vhd_dev *dev;
	struct vhd_vhost *vh;
	struct vhd_worker *worker;
	struct bdev_entry *bdev;       /* blk */
	bool writer;                   /* counts as the backend's writer */
	char socket[PATH_MAX];
	TAILQ_ENTRY(ctrlr) link;
};

static pthread_mutex_t g_ctrl_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(bdev_head_t, bdev_entry) g_bdevs = TAILQ_HEAD_INITIALIZER(g_bdevs);
static TAILQ_HEAD(ctrlr_head_t, ctrlr) g_ctrlrs = TAILQ_HEAD_INITIALIZER(g_ctrlrs);
static char g_socket_dir[PATH_MAX] = "/var/tmp";

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

/* The controller writing to a backend, if any. */
static struct ctrlr *
bdev_writer(const struct bdev_entry *e)
{
	struct ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (c->bdev == e && c->writer) {
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
		if (c->bdev == e) {
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

static int
ctrlr_create_locked(const struct vhd_ctrlr_conf *conf, char *err, size_t len)
{
	struct vhd_blk_conf blk;
	struct ctrlr *c;
	struct ctrlr *writer;
	int rc;

	if (find_ctrlr(conf->name) != NULL) {
		set_err(err, len, "controller '%s' already exists", conf->name);
		return -EEXIST;
	}
	if (conf->type != VHD_CTRLR_BLK) {
		set_err(err, len, "controller '%s': type %s is not supported yet", conf->name,
			vhd_ctrlr_type_name(conf->type));
		return -ENOTSUP;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		set_err(err, len, "controller '%s': out of memory", conf->name);
		return -ENOMEM;
	}
	c->conf = *conf;
	c->conf.targets = NULL;
	c->conf.ntargets = 0;
	c->bdev = find_bdev(conf->backend);
	if (c->bdev == NULL) {
		set_err(err, len, "controller '%s': backend '%s' does not exist", conf->name,
			conf->backend);
		rc = -ENOENT;
		goto fail;
	}
	c->writer = !conf->readonly && !c->bdev->bdev->readonly;
	writer = bdev_writer(c->bdev);
	if (c->writer && writer != NULL) {
		set_err(err, len, "controller '%s': backend '%s' is already written by controller "
			"'%s'", conf->name, conf->backend, writer->conf.name);
		rc = -EBUSY;
		goto fail;
	}
	if (snprintf(c->socket, sizeof(c->socket), "%s/%s", g_socket_dir, conf->name) >=
	    (int)sizeof(c->socket)) {
		set_err(err, len, "controller '%s': socket path is too long", conf->name);
		rc = -ENAMETOOLONG;
		goto fail;
	}
	c->worker = vhd_worker_pick(&conf->cpumask);
	if (c->worker == NULL) {
		set_err(err, len, "controller '%s': no polling core in its cpumask", conf->name);
		rc = -EINVAL;
		goto fail;
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
	c->bdev->bdev->refs++;
	TAILQ_INSERT_TAIL(&g_ctrlrs, c, link);
	return 0;

fail_worker:
	vhd_worker_unpick(c->worker);
fail:
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
	c->dev->ops->destroy(c->dev);
	if (c->bdev != NULL) {
		c->bdev->bdev->refs--;
	}
	vhd_worker_unpick(c->worker);
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
