/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data pointers: an I/O's iovec array (host addresses inside DMA-mapped memory) becomes PRP
 * entries or SGL descriptors of IOVAs, one command at a time.
 *
 * PRP rules (NVMe base spec, "Physical Region Page entry and list"): with a 4 KiB memory page,
 * the first entry points anywhere dword-aligned and covers up to the end of its page; every
 * further entry points at the start of a page. So data may only leave one segment for another
 * where the first ends on a page boundary and the second starts on one. PRP2 is the second
 * entry when exactly two are needed, else the address of a list page holding entries 2..n.
 *
 * SGL rules: any number of data block descriptors (address, length), here at most one list
 * page of them behind a "last segment" descriptor. Controllers report whether descriptors must
 * be dword-aligned and dword-sized (SGLS bits 1:0).
 *
 * Both builders cut commands on block boundaries only, so every command is a whole number of
 * logical blocks, and at most max_bytes (MDTS) long.
 */
#include "nvme_internal.h"

#define PAGE_MASK ((uint64_t)NVME_PAGE_SIZE - 1)

/* Pages touched by [a, a + n), n > 0. */
static inline uint64_t
pages_touched(uint64_t a, uint64_t n)
{
	return ((a + n - 1) >> NVME_PAGE_SHIFT) - (a >> NVME_PAGE_SHIFT) + 1;
}

void
nvme_sg_advance(struct nvme_sg_cursor *cur, uint64_t n)
{
	while (n > 0 && cur->idx < cur->iovcnt) {
		size_t left = cur->iov[cur->idx].iov_len - cur->off;

		if (n < left) {
			cur->off += n;
			return;
		}
		n -= left;
		cur->idx++;
		cur->off = 0;
	}
	/* Land on the next non-empty segment so the next command starts cleanly. */
	while (cur->idx < cur->iovcnt && cur->iov[cur->idx].iov_len == cur->off) {
		cur->idx++;
		cur->off = 0;
	}
}

int
nvme_sg_check(const struct iovec *iov, int iovcnt, const struct nvme_dma_table *t,
	      uint32_t *hint, bool *prp_ok)
{
	bool ok = true, first = true, prev_end_aligned = true;

	for (int i = 0; i < iovcnt; i++) {
		uint64_t a;

		if (iov[i].iov_len == 0) {
			continue;
		}
		if (nvme_dma_translate(t, iov[i].iov_base, iov[i].iov_len, &a, hint) != 0) {
			return -EFAULT;
		}
		if (first) {
			ok = (a & 3) == 0;
		} else if (!prev_end_aligned || (a & PAGE_MASK) != 0) {
			ok = false;
		}
		prev_end_aligned = ((a + iov[i].iov_len) & PAGE_MASK) == 0;
		first = false;
	}
	*prp_ok = ok;
	return 0;
}

/* ---- PRP ---- */

/* How many bytes from the cursor PRPs can describe (before cutting to whole blocks). */
static int64_t
prp_reach(const struct nvme_sg_cursor *cur, const struct nvme_dma_table *t, uint32_t *hint,
	  uint64_t max_bytes)
{
	uint64_t total = 0, pages = 0;
	bool first = true;
	int idx = cur->idx;
	size_t off = cur->off;

	while (idx < cur->iovcnt && total < max_bytes) {
		uint64_t len = cur->iov[idx].iov_len - off, a, n, p;

		if (len == 0) {
			idx++;
			off = 0;
			continue;
		}
		if (nvme_dma_translate(t, (const uint8_t *)cur->iov[idx].iov_base + off, len, &a,
				       hint) != 0) {
			return -EFAULT;
		}
		if (first ? (a & 3) != 0 : (a & PAGE_MASK) != 0) {
			break;
		}
		n = VHD_MIN(len, max_bytes - total);
		p = pages_touched(a, n);
		if (pages + p > 1 + NVME_PRP_LIST_ENTRIES) {
			uint64_t left = 1 + NVME_PRP_LIST_ENTRIES - pages;

			total += VHD_MIN(n, (NVME_PAGE_SIZE - (a & PAGE_MASK)) +
						    (left - 1) * NVME_PAGE_SIZE);
			break;
		}
		pages += p;
		total += n;
		if (n < len || ((a + n) & PAGE_MASK) != 0) {
			/* max_bytes reached, or this segment does not end on a page boundary:
			 * nothing after it can join this command. */
			break;
		}
		idx++;
		off = 0;
		first = false;
	}
	return (int64_t)total;
}

int64_t
nvme_build_prp(struct nvme_sg_cursor *cur, const struct nvme_dma_table *t, uint32_t *hint,
	       uint64_t max_bytes, uint32_t block_size, struct nvme_dptr *dp, uint64_t *list,
	       uint64_t list_iova)
{
	int64_t reach = prp_reach(cur, t, hint, max_bytes);
	uint64_t len, left, nentries = 0, prp1 = 0;

	if (reach < 0) {
		return reach;
	}
	len = (uint64_t)reach - (uint64_t)reach % block_size;
	if (len == 0) {
		return 0;
	}
	left = len;
	while (left > 0) {
		uint64_t seg = cur->iov[cur->idx].iov_len - cur->off, a, n, page;

		if (seg == 0) {
			nvme_sg_advance(cur, 0);
			continue;
		}
		/* Checked by prp_reach(); the table cannot change under a running request. */
		nvme_dma_translate(t, (const uint8_t *)cur->iov[cur->idx].iov_base + cur->off, seg,
				   &a, hint);
		n = VHD_MIN(seg, left);
		if (nentries == 0) {
			prp1 = a;
			nentries = 1;
			page = (a & ~PAGE_MASK) + NVME_PAGE_SIZE;
		} else {
			page = a;
		}
		for (; page < a + n; page += NVME_PAGE_SIZE) {
			list[nentries - 1] = page;
			nentries++;
		}
		nvme_sg_advance(cur, n);
		left -= n;
	}
	dp->sgl = false;
	dp->prp1 = prp1;
	dp->prp2 = nentries == 1 ? 0 : nentries == 2 ? list[0] : list_iova;
	return (int64_t)len;
}

void
nvme_prp_contig(uint64_t iova, uint64_t len, struct nvme_dptr *dp, uint64_t *list,
		uint64_t list_iova)
{
	uint64_t n = 0;

	for (uint64_t page = (iova & ~PAGE_MASK) + NVME_PAGE_SIZE; page < iova + len;
	     page += NVME_PAGE_SIZE) {
		list[n++] = page;
	}
	dp->sgl = false;
	dp->prp1 = iova;
	dp->prp2 = n == 0 ? 0 : n == 1 ? list[0] : list_iova;
}

/* ---- SGL ---- */

static int64_t
sgl_reach(const struct nvme_sg_cursor *cur, const struct nvme_dma_table *t, uint32_t *hint,
	  uint64_t max_bytes, uint32_t sgls)
{
	uint64_t total = 0;
	unsigned int ndesc = 0;
	int idx = cur->idx;
	size_t off = cur->off;

	while (idx < cur->iovcnt && total < max_bytes && ndesc < NVME_SGL_LIST_ENTRIES) {
		uint64_t len = cur->iov[idx].iov_len - off, a, n;

		if (len == 0) {
			idx++;
			off = 0;
			continue;
		}
		if (nvme_dma_translate(t, (const uint8_t *)cur->iov[idx].iov_base + off, len, &a,
				       hint) != 0) {
			return -EFAULT;
		}
		if (sgls == NVME_SGLS_DWORD_ALIGN && (a & 3) != 0) {
			break;
		}
		n = VHD_MIN(len, max_bytes - total);
		n = VHD_MIN(n, (uint64_t)UINT32_MAX & ~3ull);
		total += n;
		ndesc++;
		if (n < len || (sgls == NVME_SGLS_DWORD_ALIGN && (n & 3) != 0)) {
			/* The block cut below makes this last descriptor dword-sized. */
			break;
		}
		idx++;
		off = 0;
	}
	return (int64_t)total;
}

int64_t
nvme_build_sgl(struct nvme_sg_cursor *cur, const struct nvme_dma_table *t, uint32_t *hint,
	       uint64_t max_bytes, uint32_t block_size, uint32_t sgls, struct nvme_dptr *dp,
	       struct nvme_sgl_desc *list, uint64_t list_iova)
{
	int64_t reach = sgl_reach(cur, t, hint, max_bytes, sgls);
	uint64_t len, left;
	unsigned int n = 0;

	if (reach < 0) {
		return reach;
	}
	len = (uint64_t)reach - (uint64_t)reach % block_size;
	if (len == 0) {
		return 0;
	}
	left = len;
	while (left > 0) {
		uint64_t seg = cur->iov[cur->idx].iov_len - cur->off, a, take;

		if (seg == 0) {
			nvme_sg_advance(cur, 0);
			continue;
		}
		nvme_dma_translate(t, (const uint8_t *)cur->iov[cur->idx].iov_base + cur->off, seg,
				   &a, hint);
		take = VHD_MIN(VHD_MIN(seg, left), (uint64_t)UINT32_MAX & ~3ull);
		memset(&list[n], 0, sizeof(list[n]));
		list[n].addr = a;
		list[n].len = (uint32_t)take;
		list[n].id = NVME_SGL_DATA_BLOCK;
		n++;
		nvme_sg_advance(cur, take);
		left -= take;
	}
	dp->sgl = true;
	memset(&dp->sgl1, 0, sizeof(dp->sgl1));
	if (n == 1) {
		dp->sgl1 = list[0];
	} else {
		dp->sgl1.addr = list_iova;
		dp->sgl1.len = n * (uint32_t)sizeof(struct nvme_sgl_desc);
		dp->sgl1.id = NVME_SGL_LAST_SEGMENT;
	}
	return (int64_t)len;
}
