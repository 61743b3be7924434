/* SPDX-License-Identifier: BSD-3-Clause */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/mman.h>

#include "fake_guest.h"

#define GUARD_SIZE 4096ull

void
fg_init_regions(struct fake_guest *g, unsigned int n, const uint64_t *gpa,
		const uint64_t *size)
{
	size_t off = 0;

	cr_assert(n >= 1 && n <= FG_MAX_REGIONS);
	memset(g, 0, sizeof(*g));
	for (unsigned int i = 0; i < n; i++) {
		cr_assert_eq(size[i] % GUARD_SIZE, 0);
		cr_assert(i == 0 || gpa[i] >= gpa[i - 1] + size[i - 1], "regions overlap");
		g->map_len += size[i] + GUARD_SIZE;
	}
	g->map = mmap(NULL, g->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(g->map, MAP_FAILED);
	/* Highest region first in the host, each followed by its guard page. */
	for (unsigned int k = 0; k < n; k++) {
		unsigned int i = n - 1 - k;
		struct vhd_mem_region *r = &g->mem.regions[i];

		cr_assert_eq(mprotect(g->map + off, size[i], PROT_READ | PROT_WRITE), 0);
		r->gpa = gpa[i];
		r->size = size[i];
		r->hva = (uint64_t)(uintptr_t)(g->map + off);
		r->uaddr = 0x7f0000000000ull + gpa[i];
		off += size[i] + GUARD_SIZE;
	}
	g->mem.nregions = n;
	g->cursor = gpa[0];
}

void
fg_init(struct fake_guest *g, unsigned int n)
{
	uint64_t gpa[FG_MAX_REGIONS], size[FG_MAX_REGIONS];

	for (unsigned int i = 0; i < FG_MAX_REGIONS; i++) {
		gpa[i] = i * FG_REGION_SIZE;
		size[i] = FG_REGION_SIZE;
	}
	fg_init_regions(g, n, gpa, size);
}

void
fg_fini(struct fake_guest *g)
{
	munmap(g->map, g->map_len);
	memset(g, 0, sizeof(*g));
}

static const struct vhd_mem_region *
region_of(const struct fake_guest *g, uint64_t gpa)
{
	for (unsigned int i = 0; i < g->mem.nregions; i++) {
		const struct vhd_mem_region *r = &g->mem.regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			return r;
		}
	}
	return NULL;
}

void *
fg_hva(const struct fake_guest *g, uint64_t gpa)
{
	const struct vhd_mem_region *r = region_of(g, gpa);

	cr_assert_not_null(r, "gpa 0x%llx is not in guest memory", (unsigned long long)gpa);
	return (void *)(uintptr_t)(r->hva + (gpa - r->gpa));
}

uint64_t
fg_alloc(struct fake_guest *g, uint64_t len, uint64_t align)
{
	const struct vhd_mem_region *r;
	uint64_t gpa = (g->cursor + align - 1) & ~(align - 1);

	r = region_of(g, gpa);
	if (r == NULL || len > r->size - (gpa - r->gpa)) {
		/* Move to the start of the next region. */
		for (unsigned int i = 0; i < g->mem.nregions; i++) {
			if (g->mem.regions[i].gpa > gpa) {
				r = &g->mem.regions[i];
				gpa = r->gpa;
				break;
			}
		}
	}
	cr_assert(r != NULL && gpa >= r->gpa && len <= r->size - (gpa - r->gpa),
		  "fake guest out of memory");
	g->cursor = gpa + len;
	memset(fg_hva(g, gpa), 0, len);
	return gpa;
}

uint64_t
fg_alloc_span(struct fake_guest *g, unsigned int r, uint64_t before, uint64_t len)
{
	const struct vhd_mem_region *a = &g->mem.regions[r];
	uint64_t end = a->gpa + a->size;
	uint64_t gpa = end - before;

	cr_assert(r + 1 < g->mem.nregions && g->mem.regions[r + 1].gpa == end);
	cr_assert(before > 0 && before < len && len - before <= g->mem.regions[r + 1].size);
	cr_assert_leq(g->cursor, gpa, "fg_alloc_span: region %u is already used there", r);
	g->cursor = gpa + len;
	fg_fill(g, gpa, 0, len);
	return gpa;
}

static void
copy(const struct fake_guest *g, uint64_t gpa, void *buf, uint64_t len, bool to_guest)
{
	uint8_t *p = buf;

	while (len > 0) {
		const struct vhd_mem_region *r = region_of(g, gpa);
		uint64_t n;
		uint8_t *h;

		cr_assert_not_null(r, "gpa 0x%llx is not in guest memory", (unsigned long long)gpa);
		n = VHD_MIN(len, r->size - (gpa - r->gpa));
		h = (uint8_t *)(uintptr_t)(r->hva + (gpa - r->gpa));
		if (to_guest) {
			memcpy(h, p, n);
		} else {
			memcpy(p, h, n);
		}
		p += n;
		gpa += n;
		len -= n;
	}
}

void
fg_write(const struct fake_guest *g, uint64_t gpa, const void *buf, uint64_t len)
{
	copy(g, gpa, (void *)(uintptr_t)buf, len, true);
}

void
fg_read(const struct fake_guest *g, uint64_t gpa, void *buf, uint64_t len)
{
	copy(g, gpa, buf, len, false);
}

void
fg_fill(const struct fake_guest *g, uint64_t gpa, uint8_t byte, uint64_t len)
{
	uint8_t chunk[4096];

	memset(chunk, byte, sizeof(chunk));
	while (len > 0) {
		uint64_t n = VHD_MIN(len, (uint64_t)sizeof(chunk));

		fg_write(g, gpa, chunk, n);
		gpa += n;
		len -= n;
	}
}

/* ---- ring ---- */

void
fr_init(struct fake_ring *r, struct fake_guest *g, uint16_t size)
{
	memset(r, 0, sizeof(*r));
	r->g = g;
	r->size = size;
	r->desc_gpa = fg_alloc(g, 16ull * size, 16);
	r->avail_gpa = fg_alloc(g, 4 + 2ull * size + 2, 2);
	r->used_gpa = fg_alloc(g, 4 + 8ull * size + 2, 4);
	r->desc = fg_hva(g, r->desc_gpa);
	r->avail = fg_hva(g, r->avail_gpa);
	r->used = fg_hva(g, r->used_gpa);
}

void
fr_start_at(struct fake_ring *r, uint16_t idx)
{
	r->avail_idx = idx;
	r->used_seen = idx;
	r->avail->idx = idx;
	r->used->idx = idx;
}

void
fr_setup(const struct fake_ring *r, struct vhd_vq_setup *s, bool event_idx, bool indirect,
	 int callfd)
{
	memset(s, 0, sizeof(*s));
	s->desc = r->desc;
	s->avail = r->avail;
	s->used = r->used;
	s->size = r->size;
	s->last_avail_idx = r->avail->idx;
	s->last_used_idx = r->used->idx;
	s->event_idx = event_idx;
	s->indirect = indirect;
	s->callfd = callfd;
	s->mem = &r->g->mem;
	s->name = "test q0";
}

void
fr_set_desc(struct fake_ring *r, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
	    uint16_t next)
{
	cr_assert_lt(idx, r->size);
	r->desc[idx].addr = addr;
	r->desc[idx].len = len;
	r->desc[idx].flags = flags;
	r->desc[idx].next = next;
}

void
fr_add_avail(struct fake_ring *r, uint16_t head)
{
	r->avail->ring[r->avail_idx & (r->size - 1)] = head;
	r->avail_idx++;
}

void
fr_publish(struct fake_ring *r)
{
	__atomic_store_n(&r->avail->idx, r->avail_idx, __ATOMIC_RELEASE);
}

void
fr_push_avail(struct fake_ring *r, uint16_t head)
{
	fr_add_avail(r, head);
	fr_publish(r);
}

uint16_t *
fr_used_event(const struct fake_ring *r)
{
	return &r->avail->ring[r->size];
}

uint16_t *
fr_avail_event(const struct fake_ring *r)
{
	return (uint16_t *)&r->used->ring[r->size];
}

uint16_t
fr_used_idx(const struct fake_ring *r)
{
	return __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
}

struct vhd_vring_used_elem
fr_used_elem(const struct fake_ring *r, uint16_t used_idx)
{
	return r->used->ring[used_idx & (r->size - 1)];
}

uint16_t
fr_chain(struct fake_ring *r, uint16_t first, const struct fr_buf *b, unsigned int n)
{
	uint16_t idx = first;

	cr_assert(n >= 1 && n <= r->size);
	for (unsigned int i = 0; i < n; i++) {
		uint16_t next = (uint16_t)((idx + 1) & (r->size - 1));
		uint16_t flags = (uint16_t)((b[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0));

		fr_set_desc(r, idx, b[i].gpa, b[i].len, flags, i + 1 < n ? next : 0);
		idx = next;
	}
	return first;
}

uint64_t
fr_indirect_table(struct fake_guest *g, const struct fr_buf *b, unsigned int n)
{
	uint64_t table = fg_alloc(g, 16ull * n, 16);
	struct vhd_vring_desc *d = fg_hva(g, table);

	for (unsigned int i = 0; i < n; i++) {
		d[i].addr = b[i].gpa;
		d[i].len = b[i].len;
		d[i].flags = (uint16_t)((b[i].write ? VRING_DESC_F_WRITE : 0) |
					(i + 1 < n ? VRING_DESC_F_NEXT : 0));
		d[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
	}
	return table;
}

struct vhd_vring_desc *
fr_table_entry(struct fake_guest *g, uint64_t table, unsigned int i)
{
	return fg_hva(g, table + 16ull * i);
}

/* ---- log capture ---- */

struct log_capture g_log;

static void
capture_sink(enum vhd_log_level level, const char *component, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (level == VHD_LOG_ERR) {
		g_log.errors++;
		memcpy(g_log.last_error, line, sizeof(line));
	} else if (level == VHD_LOG_WARNING) {
		g_log.warnings++;
	} else {
		g_log.others++;
	}
	fprintf(stderr, "vhostd[%s]: %s\n", component, line);
}

void
log_capture_start(void)
{
	memset(&g_log, 0, sizeof(g_log));
	vhd_log_set_sink(capture_sink);
}
