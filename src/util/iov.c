/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "vhostd/iov.h"

size_t
vhd_iov_to_buf(const struct iovec *iov, unsigned int niov, size_t skip, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < niov && done < len; i++) {
		size_t n;

		if (iov[i].iov_base == NULL) {
			break;
		}
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		n = VHD_MIN(iov[i].iov_len - skip, len - done);
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, n);
		done += n;
		skip = 0;
	}
	return done;
}

size_t
vhd_iov_from_buf(const struct iovec *iov, unsigned int niov, size_t skip, const void *buf,
		 size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < niov && done < len; i++) {
		size_t n;

		if (iov[i].iov_base == NULL) {
			break;
		}
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		n = VHD_MIN(iov[i].iov_len - skip, len - done);
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, n);
		done += n;
		skip = 0;
	}
	return done;
}
