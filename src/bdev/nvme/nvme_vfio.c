/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VFIO for the NVMe backend (see nvme_vfio.h). Linux VFIO facts used here:
 *  - a device is usable only through its IOMMU group (/dev/vfio/<group>), which must be viable
 *    (every device of the group bound to vfio-pci or to no driver) and attached to a container
 *    (/dev/vfio/vfio) with an IOMMU model set (type1);
 *  - the group file can be open in one process only;
 *  - BAR0 is mmap()ed from the device fd at the region's offset, except areas the kernel keeps
 *    for itself (the MSI-X table), which the sparse-mmap capability leaves out;
 *  - config space is read and written with pread/pwrite at the config region's offset;
 *  - VFIO_IOMMU_MAP_DMA pins the pages and maps them at the IOVA we choose, inside the ranges
 *    the IOVA-range capability reports (the IOMMU's address width minus reserved windows);
 *  - on unbind or hot removal the kernel signals the "request" eventfd and waits until the
 *    user closes the device fd (and drops every mmap of it).
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define VHD_LOG_COMPONENT "nvme"
#include "nvme_vfio.h"
#include "vhostd/log.h"

#define SYSFS_PCI "/sys/bus/pci/devices"
#define HUGE_2M (2ull << 20)
/* Registers and the doorbells of every queue we may use, with the smallest stride. */
#define BAR0_NEEDED (NVME_REG_DBS + 2u * (NVME_MAX_IO_QUEUES + 1) * 4u)

struct vfio_domain {
	int group_no;
	int group_fd;
	int container_fd;
	unsigned int refs;
	bool dead;                     /* a device was handed back: the IOMMU domain is gone */
	pthread_mutex_t lock;          /* iova, table writers, map/unmap ioctls */
	struct nvme_iova_space iova;
	struct nvme_dma_table table;
	TAILQ_ENTRY(vfio_domain) link;
};

struct vhd_vfio_dev {
	char bdf[16];
	struct vfio_domain *dom;
	int dev_fd;
	void *bar;
	size_t bar_size;
	uint64_t cfg_off;
	int req_efd;
};

static pthread_mutex_t g_domains_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, vfio_domain) g_domains = TAILQ_HEAD_INITIALIZER(g_domains);

/* ---- sysfs ---- */

static int
read_link_base(const char *path, char *out, size_t size)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	const char *base;

	if (n < 0) {
		return -errno;
	}
	buf[n] = '\0';
	base = strrchr(buf, '/');
	return vhd_strlcpy(out, base != NULL ? base + 1 : buf, size);
}

static int
read_hex_file(const char *path, unsigned long *val)
{
	char buf[32];
	FILE *f = fopen(path, "r");
	char *end;

	if (f == NULL) {
		return -errno;
	}
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*val = strtoul(buf, &end, 16);
	return end == buf ? -EINVAL : 0;
}

/* Log the devices that make a group not viable. */
static void
explain_group(const char *bdf, int group)
{
	char path[PATH_MAX], drv[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group);
	d = opendir(path);
	if (d == NULL) {
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char link[PATH_MAX];

		if (de->d_name[0] == '.') {
			continue;
		}
		snprintf(link, sizeof(link), "%s/%s/driver", SYSFS_PCI, de->d_name);
		if (read_link_base(link, drv, sizeof(drv)) != 0) {
			continue;
		}
		if (strcmp(drv, "vfio-pci") != 0 && strcmp(drv, "pcieport") != 0 &&
		    strcmp(drv, "pci-stub") != 0) {
			VHD_ERRLOG("%s: IOMMU group %d also holds %s, bound to %s: bind it to "
				   "vfio-pci too (scripts/setup.sh PCI_ALLOWED) or move the NVMe "
				   "device to a slot with its own group", bdf, group, de->d_name,
				   drv);
		}
	}
	closedir(d);
}

static int
check_sysfs(const char *bdf, int *group)
{
	char path[PATH_MAX], drv[64], grp[32];
	unsigned long class = 0;
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", SYSFS_PCI, bdf);
	if (stat(path, &st) != 0) {
		VHD_ERRLOG("%s: no such PCI device (lspci -D lists the addresses)", bdf);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "%s/%s/class", SYSFS_PCI, bdf);
	if (read_hex_file(path, &class) == 0 && (class >> 8) != 0x0108) {
		VHD_ERRLOG("%s: not an NVMe controller (PCI class 0x%06lx)", bdf, class);
		return -ENOTSUP;
	}
	/* The IOMMU first: without one vfio-pci cannot take the device anyway. */
	snprintf(path, sizeof(path), "%s/%s/iommu_group", SYSFS_PCI, bdf);
	if (read_link_base(path, grp, sizeof(grp)) != 0) {
		VHD_ERRLOG("%s: no IOMMU group, so no IOMMU translates this device: enable VT-d / "
			   "AMD-Vi in the firmware and boot with intel_iommu=on (or amd_iommu=on); "
			   "VFIO's no-IOMMU mode is not supported", bdf);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "%s/%s/driver", SYSFS_PCI, bdf);
	rc = read_link_base(path, drv, sizeof(drv));
	if (rc != 0 || strcmp(drv, "vfio-pci") != 0) {
		VHD_ERRLOG("%s: not bound to vfio-pci (%s%s); run: sudo PCI_ALLOWED=\"%s\" "
			   "scripts/setup.sh config", bdf, rc != 0 ? "no driver" : "bound to ",
			   rc != 0 ? "" : drv, bdf);
		return -ENXIO;
	}
	{
		char *end;
		unsigned long g;

		errno = 0;
		g = strtoul(grp, &end, 10);
		if (errno != 0 || *end != '\0' || end == grp || g > INT_MAX) {
			VHD_ERRLOG("%s: unexpected IOMMU group name '%s'", bdf, grp);
			return -EINVAL;
		}
		*group = (int)g;
	}
	return 0;
}

/* ---- container / group ---- */

static void
read_iova_ranges(struct vfio_domain *dom, struct nvme_iova_range *ranges, unsigned int *n)
{
	struct vfio_iommu_type1_info probe = {.argsz = sizeof(probe)};
	struct vfio_iommu_type1_info *info;
	uint32_t off;

	*n = 0;
	if (ioctl(dom->container_fd, VFIO_IOMMU_GET_INFO, &probe) != 0 ||
	    probe.argsz <= sizeof(probe)) {
		return;
	}
	info = calloc(1, probe.argsz);
	if (info == NULL) {
		return;
	}
	info->argsz = probe.argsz;
	if (ioctl(dom->container_fd, VFIO_IOMMU_GET_INFO, info) != 0 ||
	    !(info->flags & VFIO_IOMMU_INFO_CAPS)) {
		free(info);
		return;
	}
	for (off = info->cap_offset; off != 0 && off + sizeof(struct vfio_info_cap_header) <=
						     info->argsz;) {
		struct vfio_info_cap_header *h = (void *)((uint8_t *)info + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;

			for (uint32_t i = 0; i < r->nr_iovas && *n < NVME_IOVA_MAX_RANGES; i++) {
				ranges[*n].start = r->iova_ranges[i].start;
				ranges[*n].end = r->iova_ranges[i].end == UINT64_MAX ?
							 UINT64_MAX :
							 r->iova_ranges[i].end + 1;
				(*n)++;
			}
		} else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
			struct vfio_iommu_type1_info_dma_avail *a = (void *)h;

			VHD_INFOLOG("IOMMU group %d: the kernel allows %u more DMA mappings",
				    dom->group_no, a->avail);
		}
		if (h->next <= off) {
			break;
		}
		off = h->next;
	}
	free(info);
}

static int
domain_setup(struct vfio_domain *dom, const char *bdf)
{
	struct vfio_group_status status = {.argsz = sizeof(status)};
	struct nvme_iova_range ranges[NVME_IOVA_MAX_RANGES];
	char path[64];
	unsigned int nranges;
	int type, rc;

	dom->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (dom->container_fd < 0) {
		rc = -errno;
		VHD_ERRLOG("%s: cannot open /dev/vfio/vfio: %s (is the vfio-pci module loaded? "
			   "scripts/setup.sh loads it)", bdf, strerror(-rc));
		return rc;
	}
	if (ioctl(dom->container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		VHD_ERRLOG("%s: unknown VFIO API version", bdf);
		return -ENOTSUP;
	}
	if (ioctl(dom->container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1) {
		type = VFIO_TYPE1v2_IOMMU;
	} else if (ioctl(dom->container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1) {
		type = VFIO_TYPE1_IOMMU;
	} else {
		VHD_ERRLOG("%s: VFIO offers no type1 IOMMU (no IOMMU, or no-IOMMU mode, which "
			   "vhostd does not support)", bdf);
		return -ENOTSUP;
	}
	snprintf(path, sizeof(path), "/dev/vfio/%d", dom->group_no);
	dom->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (dom->group_fd < 0) {
		rc = -errno;
		if (rc == -EBUSY) {
			VHD_ERRLOG("%s: %s is in use by another process (another vhostd, a DPDK or "
				   "SPDK application, a VM with the device passed through)", bdf,
				   path);
		} else if (rc == -EACCES || rc == -EPERM) {
			VHD_ERRLOG("%s: %s: permission denied (run as root, or hand the group to "
				   "vhostd's user with VFIO_OWNER= in scripts/setup.sh)", bdf,
				   path);
		} else {
			VHD_ERRLOG("%s: cannot open %s: %s", bdf, path, strerror(-rc));
		}
		return rc;
	}
	if (ioctl(dom->group_fd, VFIO_GROUP_GET_STATUS, &status) != 0) {
		return -errno;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		VHD_ERRLOG("%s: IOMMU group %d is not viable: every device in it must be bound to "
			   "vfio-pci (or to no driver)", bdf, dom->group_no);
		explain_group(bdf, dom->group_no);
		return -EPERM;
	}
	if (ioctl(dom->group_fd, VFIO_GROUP_SET_CONTAINER, &dom->container_fd) != 0) {
		rc = -errno;
		VHD_ERRLOG("%s: cannot attach IOMMU group %d to a container: %s", bdf,
			   dom->group_no, strerror(-rc));
		return rc;
	}
	if (ioctl(dom->container_fd, VFIO_SET_IOMMU, type) != 0) {
		rc = -errno;
		VHD_ERRLOG("%s: cannot set the IOMMU model: %s", bdf, strerror(-rc));
		ioctl(dom->group_fd, VFIO_GROUP_UNSET_CONTAINER);
		return rc;
	}
	read_iova_ranges(dom, ranges, &nranges);
	if (nranges == 0) {
		/* Old kernels: assume a 39-bit IOMMU and keep clear of the x86 MSI window. */
		ranges[0] = (struct nvme_iova_range){1ull << 20, 0xfee00000ull};
		ranges[1] = (struct nvme_iova_range){1ull << 32, 1ull << 39};
		nranges = 2;
	}
	if (nvme_iova_init(&dom->iova, ranges, nranges) != 0) {
		VHD_ERRLOG("%s: the IOMMU reports no usable IOVA range", bdf);
		ioctl(dom->group_fd, VFIO_GROUP_UNSET_CONTAINER);
		return -ENOTSUP;
	}
	return 0;
}

static void
domain_put(struct vfio_domain *dom)
{
	pthread_mutex_lock(&g_domains_lock);
	if (--dom->refs > 0) {
		pthread_mutex_unlock(&g_domains_lock);
		return;
	}
	TAILQ_REMOVE(&g_domains, dom, link);
	pthread_mutex_unlock(&g_domains_lock);
	/* Closing the container drops every mapping left; say so, it is a caller's bug. */
	if (dom->table.nmaps > 0) {
		VHD_WARNLOG("IOMMU group %d: %u external DMA mappings still present at close",
			    dom->group_no, dom->table.nmaps);
	}
	if (dom->group_fd >= 0) {
		ioctl(dom->group_fd, VFIO_GROUP_UNSET_CONTAINER);
		close(dom->group_fd);
	}
	if (dom->container_fd >= 0) {
		close(dom->container_fd);
	}
	pthread_mutex_destroy(&dom->lock);
	free(dom);
}

static int
domain_get(int group, const char *bdf, struct vfio_domain **out)
{
	struct vfio_domain *dom;
	int rc;

	pthread_mutex_lock(&g_domains_lock);
	TAILQ_FOREACH(dom, &g_domains, link) {
		if (dom->group_no == group) {
			dom->refs++;
			pthread_mutex_unlock(&g_domains_lock);
			*out = dom;
			return 0;
		}
	}
	dom = calloc(1, sizeof(*dom));
	if (dom == NULL) {
		pthread_mutex_unlock(&g_domains_lock);
		return -ENOMEM;
	}
	dom->group_no = group;
	dom->group_fd = -1;
	dom->container_fd = -1;
	dom->refs = 1;
	pthread_mutex_init(&dom->lock, NULL);
	rc = domain_setup(dom, bdf);
	if (rc != 0) {
		if (dom->group_fd >= 0) {
			close(dom->group_fd);
		}
		if (dom->container_fd >= 0) {
			close(dom->container_fd);
		}
		pthread_mutex_destroy(&dom->lock);
		free(dom);
		pthread_mutex_unlock(&g_domains_lock);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_domains, dom, link);
	pthread_mutex_unlock(&g_domains_lock);
	*out = dom;
	return 0;
}

/* ---- device ---- */

static struct vfio_region_info *
region_info(int fd, uint32_t index)
{
	struct vfio_region_info probe = {.argsz = sizeof(probe), .index = index};
	struct vfio_region_info *info;

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &probe) != 0) {
		return NULL;
	}
	info = calloc(1, VHD_MAX(probe.argsz, (uint32_t)sizeof(probe)));
	if (info == NULL) {
		return NULL;
	}
	info->argsz = VHD_MAX(probe.argsz, (uint32_t)sizeof(probe));
	info->index = index;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, info) != 0) {
		free(info);
		return NULL;
	}
	return info;
}

static const struct vfio_region_info_cap_sparse_mmap *
sparse_cap(const struct vfio_region_info *info)
{
	uint32_t off;

	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS) || info->argsz <= sizeof(*info)) {
		return NULL;
	}
	for (off = info->cap_offset; off != 0 && off + sizeof(struct vfio_info_cap_header) <=
						     info->argsz;) {
		const struct vfio_info_cap_header *h = (const void *)((const uint8_t *)info + off);

		if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			return (const void *)h;
		}
		if (h->next <= off) {
			break;
		}
		off = h->next;
	}
	return NULL;
}

static int
map_bar0(struct vhd_vfio_dev *d)
{
	struct vfio_region_info *info = region_info(d->dev_fd, VFIO_PCI_BAR0_REGION_INDEX);
	const struct vfio_region_info_cap_sparse_mmap *sp;
	uint64_t covered = 0;
	uint8_t *base;
	int rc = 0;

	if (info == NULL || !(info->flags & VFIO_REGION_INFO_FLAG_MMAP) || info->size < 0x1000) {
		VHD_ERRLOG("%s: BAR0 cannot be mapped into user space", d->bdf);
		free(info);
		return -ENOTSUP;
	}
	d->bar_size = info->size;
	/* Reserve the whole BAR, then map the areas the kernel lets us map over it. */
	base = mmap(NULL, d->bar_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		free(info);
		return -errno;
	}
	d->bar = base;
	sp = sparse_cap(info);
	for (uint32_t i = 0; i < (sp != NULL ? sp->nr_areas : 1); i++) {
		uint64_t off = sp != NULL ? sp->areas[i].offset : 0;
		uint64_t size = sp != NULL ? sp->areas[i].size : d->bar_size;

		if (size == 0 || off + size > d->bar_size) {
			continue;
		}
		if (mmap(base + off, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 d->dev_fd, (off_t)(info->offset + off)) == MAP_FAILED) {
			rc = -errno;
			VHD_ERRLOG("%s: cannot mmap BAR0 [0x%lx, +0x%lx): %s", d->bdf,
				   (unsigned long)off, (unsigned long)size, strerror(-rc));
			break;
		}
		if (off <= covered && off + size > covered) {
			covered = off + size;
		}
	}
	free(info);
	if (rc == 0 && covered < VHD_MIN((uint64_t)BAR0_NEEDED, (uint64_t)d->bar_size)) {
		VHD_ERRLOG("%s: the kernel does not let vhostd map the NVMe registers and "
			   "doorbells (only 0x%lx bytes of BAR0 are mappable)", d->bdf,
			   (unsigned long)covered);
		rc = -ENOTSUP;
	}
	return rc;
}

static int
config_rw16(struct vhd_vfio_dev *d, uint32_t reg, uint16_t *val, bool write)
{
	ssize_t n = write ? pwrite(d->dev_fd, val, 2, (off_t)(d->cfg_off + reg)) :
			    pread(d->dev_fd, val, 2, (off_t)(d->cfg_off + reg));

	return n == 2 ? 0 : -EIO;
}

static int
enable_device(struct vhd_vfio_dev *d)
{
	struct vfio_region_info *cfg = region_info(d->dev_fd, VFIO_PCI_CONFIG_REGION_INDEX);
	uint16_t cmd;

	if (cfg == NULL) {
		return -EIO;
	}
	d->cfg_off = cfg->offset;
	free(cfg);
	if (config_rw16(d, PCI_COMMAND, &cmd, false) != 0) {
		return -EIO;
	}
	/* Decode memory, master the bus; no legacy interrupt: everything is polled. */
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE;
	return config_rw16(d, PCI_COMMAND, &cmd, true);
}

static void
setup_req_irq(struct vhd_vfio_dev *d)
{
	struct vfio_irq_info irq = {.argsz = sizeof(irq), .index = VFIO_PCI_REQ_IRQ_INDEX};
	uint8_t buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int32_t fd;

	d->req_efd = -1;
	if (ioctl(d->dev_fd, VFIO_DEVICE_GET_IRQ_INFO, &irq) != 0 || irq.count == 0) {
		VHD_WARNLOG("%s: the kernel offers no device request notification: unbinding the "
			    "device will wait until vhostd exits", d->bdf);
		return;
	}
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0) {
		return;
	}
	memset(buf, 0, sizeof(buf));
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_REQ_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &fd, sizeof(fd));
	if (ioctl(d->dev_fd, VFIO_DEVICE_SET_IRQS, set) != 0) {
		VHD_WARNLOG("%s: cannot register for device requests: %s", d->bdf, strerror(errno));
		close(fd);
		return;
	}
	d->req_efd = fd;
}

static void
disable_req_irq(struct vhd_vfio_dev *d)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_REQ_IRQ_INDEX,
		.start = 0,
		.count = 0,
	};

	if (d->req_efd >= 0 && d->dev_fd >= 0) {
		ioctl(d->dev_fd, VFIO_DEVICE_SET_IRQS, &set);
	}
}

int
vhd_vfio_open(const char *bdf, struct vhd_vfio_dev **out)
{
	struct vfio_device_info info = {.argsz = sizeof(info)};
	struct vhd_vfio_dev *d;
	int group, rc;

	rc = check_sysfs(bdf, &group);
	if (rc != 0) {
		return rc;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return -ENOMEM;
	}
	vhd_strlcpy(d->bdf, bdf, sizeof(d->bdf));
	d->dev_fd = -1;
	d->req_efd = -1;
	rc = domain_get(group, bdf, &d->dom);
	if (rc != 0) {
		free(d);
		return rc;
	}
	d->dev_fd = ioctl(d->dom->group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (d->dev_fd < 0) {
		rc = -errno;
		VHD_ERRLOG("%s: cannot get the device from its VFIO group: %s", bdf, strerror(-rc));
		goto fail;
	}
	if (ioctl(d->dev_fd, VFIO_DEVICE_GET_INFO, &info) != 0 ||
	    !(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
		VHD_ERRLOG("%s: not a vfio-pci device", bdf);
		rc = -ENOTSUP;
		goto fail;
	}
	rc = map_bar0(d);
	if (rc == 0) {
		rc = enable_device(d);
		if (rc != 0) {
			VHD_ERRLOG("%s: cannot enable bus mastering", bdf);
		}
	}
	if (rc != 0) {
		goto fail;
	}
	setup_req_irq(d);
	*out = d;
	return 0;

fail:
	vhd_vfio_close(d);
	return rc;
}

void
vhd_vfio_close(struct vhd_vfio_dev *d)
{
	disable_req_irq(d);
	if (d->bar != NULL) {
		munmap(d->bar, d->bar_size);
	}
	if (d->dev_fd >= 0) {
		close(d->dev_fd);
	}
	if (d->req_efd >= 0) {
		close(d->req_efd);
	}
	domain_put(d->dom);
	free(d);
}

volatile void *
vhd_vfio_bar0(const struct vhd_vfio_dev *d, size_t *size)
{
	*size = d->bar_size;
	return d->bar;
}

int
vhd_vfio_req_fd(const struct vhd_vfio_dev *d)
{
	return d->req_efd;
}

void
vhd_vfio_stop_dma(struct vhd_vfio_dev *d)
{
	uint16_t cmd;

	if (d->dev_fd >= 0 && config_rw16(d, PCI_COMMAND, &cmd, false) == 0) {
		cmd &= (uint16_t)~PCI_COMMAND_MASTER;
		config_rw16(d, PCI_COMMAND, &cmd, true);
	}
}

void
vhd_vfio_release(struct vhd_vfio_dev *d)
{
	void *dummy;

	if (d->dev_fd < 0) {
		return;
	}
	dummy = mmap(NULL, d->bar_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		     0);
	if (dummy != MAP_FAILED) {
		memset(dummy, 0xff, d->bar_size);
		/* One step: a concurrent register access sees the device or all ones, never a
		 * hole. */
		if (mremap(dummy, d->bar_size, d->bar_size, MREMAP_MAYMOVE | MREMAP_FIXED,
			   d->bar) == MAP_FAILED) {
			VHD_ERRLOG("%s: cannot replace the BAR mapping: %s", d->bdf,
				   strerror(errno));
			munmap(dummy, d->bar_size);
		}
	}
	disable_req_irq(d);
	close(d->dev_fd);
	d->dev_fd = -1;
	/* With its device gone the group's IOMMU domain is torn down: later map and unmap
	 * calls only keep the bookkeeping. */
	pthread_mutex_lock(&d->dom->lock);
	d->dom->dead = true;
	pthread_mutex_unlock(&d->dom->lock);
	VHD_NOTICELOG("%s: device handed back to the kernel", d->bdf);
}

/* ---- DMA ---- */

static int
iommu_map(struct vfio_domain *dom, uint64_t vaddr, uint64_t iova, uint64_t size)
{
	if (dom->dead) {
		return -ENODEV;
	}
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(dom->container_fd, VFIO_IOMMU_MAP_DMA, &m) == 0 ? 0 : -errno;
}

static void
iommu_unmap(struct vfio_domain *dom, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u),
		.iova = iova,
		.size = size,
	};

	if (!dom->dead && ioctl(dom->container_fd, VFIO_IOMMU_UNMAP_DMA, &u) != 0) {
		VHD_WARNLOG("IOMMU group %d: unmap of IOVA 0x%lx failed: %s", dom->group_no,
			    (unsigned long)iova, strerror(errno));
	}
}

static const char *
map_error_hint(int rc)
{
	switch (rc) {
	case -ENOMEM:
		return " (cannot pin the pages: raise RLIMIT_MEMLOCK or run with CAP_IPC_LOCK)";
	case -ENOSPC:
		return " (the kernel's vfio_iommu_type1 dma_entry_limit is reached)";
	default:
		return "";
	}
}

int
vhd_vfio_dma_alloc(struct vhd_vfio_dev *d, size_t size, void **vaddr, uint64_t *iova)
{
	struct vfio_domain *dom = d->dom;
	void *p;
	int rc;

	size = (size + NVME_PAGE_SIZE - 1) & ~((size_t)NVME_PAGE_SIZE - 1);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		 -1, 0);
	if (p == MAP_FAILED) {
		return -errno;
	}
	madvise(p, size, MADV_DONTFORK);
	pthread_mutex_lock(&dom->lock);
	rc = nvme_iova_alloc(&dom->iova, size, NVME_PAGE_SIZE, iova);
	if (rc == 0) {
		rc = iommu_map(dom, (uint64_t)(uintptr_t)p, *iova, size);
		if (rc != 0) {
			nvme_iova_free(&dom->iova, *iova, size);
			VHD_ERRLOG("%s: cannot map %zu bytes for DMA: %s%s", d->bdf, size,
				   strerror(-rc), map_error_hint(rc));
		}
	}
	pthread_mutex_unlock(&dom->lock);
	if (rc != 0) {
		munmap(p, size);
		return rc;
	}
	*vaddr = p;
	return 0;
}

void
vhd_vfio_dma_free(struct vhd_vfio_dev *d, void *vaddr, size_t size, uint64_t iova)
{
	struct vfio_domain *dom = d->dom;

	size = (size + NVME_PAGE_SIZE - 1) & ~((size_t)NVME_PAGE_SIZE - 1);
	pthread_mutex_lock(&dom->lock);
	iommu_unmap(dom, iova, size);
	nvme_iova_free(&dom->iova, iova, size);
	pthread_mutex_unlock(&dom->lock);
	munmap(vaddr, size);
}

static void
page_span(uint64_t vaddr, uint64_t len, uint64_t *start, uint64_t *size)
{
	uint64_t end = (vaddr + len + NVME_PAGE_SIZE - 1) & ~((uint64_t)NVME_PAGE_SIZE - 1);

	*start = vaddr & ~((uint64_t)NVME_PAGE_SIZE - 1);
	*size = end - *start;
}

int
vhd_vfio_dma_map(struct vhd_vfio_dev *d, uint64_t vaddr, uint64_t len)
{
	struct vfio_domain *dom = d->dom;
	uint64_t start, size, iova, align;
	int idx, rc;

	if (len == 0) {
		return -EINVAL;
	}
	page_span(vaddr, len, &start, &size);
	/* Congruent IOVA and address modulo 2 MiB let the IOMMU use large pages. */
	align = (start % HUGE_2M == 0 && size >= HUGE_2M) ? HUGE_2M : NVME_PAGE_SIZE;
	pthread_mutex_lock(&dom->lock);
	idx = nvme_dma_table_find(&dom->table, start, size);
	if (idx >= 0) {
		dom->table.maps[idx].refs++;
		pthread_mutex_unlock(&dom->lock);
		return 0;
	}
	rc = nvme_iova_alloc(&dom->iova, size, align, &iova);
	if (rc != 0) {
		pthread_mutex_unlock(&dom->lock);
		VHD_ERRLOG("%s: no IOVA space left for %" PRIu64 " MiB", d->bdf, size >> 20);
		return rc == -ENOMEM ? -ENOSPC : rc;
	}
	rc = iommu_map(dom, start, iova, size);
	if (rc == 0) {
		rc = nvme_dma_table_insert(&dom->table, start, size, iova);
		if (rc != 0) {
			iommu_unmap(dom, iova, size);
		}
	}
	if (rc != 0) {
		nvme_iova_free(&dom->iova, iova, size);
	}
	pthread_mutex_unlock(&dom->lock);
	if (rc != 0) {
		VHD_ERRLOG("%s: cannot map %" PRIu64 " MiB of guest memory at %p for DMA: %s%s",
			   d->bdf, size >> 20, (void *)(uintptr_t)start, strerror(-rc),
			   map_error_hint(rc));
	}
	return rc;
}

int
vhd_vfio_dma_unmap(struct vhd_vfio_dev *d, uint64_t vaddr, uint64_t len)
{
	struct vfio_domain *dom = d->dom;
	uint64_t start, size;
	int idx;

	page_span(vaddr, len, &start, &size);
	pthread_mutex_lock(&dom->lock);
	idx = nvme_dma_table_find(&dom->table, start, size);
	if (idx < 0) {
		pthread_mutex_unlock(&dom->lock);
		return -ENOENT;
	}
	if (--dom->table.maps[idx].refs == 0) {
		uint64_t iova = dom->table.maps[idx].iova;

		/* Out of the table first, so no new command can use it; then out of the IOMMU. */
		nvme_dma_table_remove(&dom->table, idx);
		iommu_unmap(dom, iova, size);
		nvme_iova_free(&dom->iova, iova, size);
	}
	pthread_mutex_unlock(&dom->lock);
	return 0;
}

struct nvme_dma_table *
vhd_vfio_dma_table(struct vhd_vfio_dev *d)
{
	return &d->dom->table;
}
