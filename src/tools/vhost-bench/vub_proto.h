/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user wire format as the front-end (driver side) sees it: message header, request
 * codes and payloads. Written from the vhost-user protocol specification; all fields are
 * little-endian, the host is little-endian (see virtio_spec.h).
 */
#ifndef VUB_PROTO_H
#define VUB_PROTO_H

#include "vhostd/virtio_spec.h"

/* Front-end -> back-end requests. */
enum vub_req {
	VUB_REQ_NONE = 0,
	VUB_REQ_GET_FEATURES = 1,
	VUB_REQ_SET_FEATURES = 2,
	VUB_REQ_SET_OWNER = 3,
	VUB_REQ_RESET_OWNER = 4,
	VUB_REQ_SET_MEM_TABLE = 5,
	VUB_REQ_SET_LOG_BASE = 6,
	VUB_REQ_SET_LOG_FD = 7,
	VUB_REQ_SET_VRING_NUM = 8,
	VUB_REQ_SET_VRING_ADDR = 9,
	VUB_REQ_SET_VRING_BASE = 10,
	VUB_REQ_GET_VRING_BASE = 11,
	VUB_REQ_SET_VRING_KICK = 12,
	VUB_REQ_SET_VRING_CALL = 13,
	VUB_REQ_SET_VRING_ERR = 14,
	VUB_REQ_GET_PROTOCOL_FEATURES = 15,
	VUB_REQ_SET_PROTOCOL_FEATURES = 16,
	VUB_REQ_GET_QUEUE_NUM = 17,
	VUB_REQ_SET_VRING_ENABLE = 18,
	VUB_REQ_SEND_RARP = 19,
	VUB_REQ_NET_SET_MTU = 20,
	VUB_REQ_SET_BACKEND_REQ_FD = 21,
	VUB_REQ_IOTLB_MSG = 22,
	VUB_REQ_SET_VRING_ENDIAN = 23,
	VUB_REQ_GET_CONFIG = 24,
	VUB_REQ_SET_CONFIG = 25,
	VUB_REQ_GET_INFLIGHT_FD = 31,
	VUB_REQ_SET_INFLIGHT_FD = 32,
	VUB_REQ_SET_STATUS = 39,
	VUB_REQ_GET_STATUS = 40,
	VUB_REQ_MAX = 41,
};

/* Header flags: bits 0-1 protocol version, bit 2 reply, bit 3 need-reply. */
#define VUB_MSG_VERSION 0x1u
#define VUB_MSG_VERSION_MASK 0x3u
#define VUB_MSG_FLAG_REPLY 0x4u
#define VUB_MSG_FLAG_NEED_REPLY 0x8u

/* SET_VRING_KICK/CALL/ERR u64 payload: bits 0-7 ring index, bit 8 "no fd". */
#define VUB_VRING_IDX_MASK 0xffu
#define VUB_VRING_NOFD_MASK 0x100u

/* SET_VRING_ADDR flags: bit 0 asks the back-end to log used-ring writes. */
#define VUB_VRING_F_LOG 0x1u

/* Most regions SET_MEM_TABLE may carry, most fds one message may carry. */
#define VUB_MAX_MEM_REGIONS 8
#define VUB_MAX_FDS 8

/* GET/SET_CONFIG payload limit (config space bytes). */
#define VUB_CONFIG_MAX 256

/* Device status bits (VIRTIO 2.1) for SET_STATUS. */
#define VUB_STATUS_ACKNOWLEDGE 1u
#define VUB_STATUS_DRIVER 2u
#define VUB_STATUS_DRIVER_OK 4u
#define VUB_STATUS_FEATURES_OK 8u
#define VUB_STATUS_FAILED 0x80u

struct vub_msg_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes that follow */
};
_Static_assert(sizeof(struct vub_msg_hdr) == 12, "vhost-user header");

struct vub_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vub_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_uaddr;  /* front-end virtual addresses, translated via the mem table */
	uint64_t used_uaddr;
	uint64_t avail_uaddr;
	uint64_t log_gpa;
};
_Static_assert(sizeof(struct vub_vring_addr) == 40, "vring addr");

struct vub_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vub_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vub_mem_region regions[VUB_MAX_MEM_REGIONS];
};

struct vub_config_hdr {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
};

struct vub_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};
_Static_assert(sizeof(struct vub_inflight) == 24, "inflight payload");

/* Largest payload vhost-bench sends or accepts. */
#define VUB_MSG_PAYLOAD_MAX 4096

struct vub_msg {
	struct vub_msg_hdr hdr;
	union {
		uint64_t u64;
		struct vub_vring_state state;
		struct vub_vring_addr addr;
		struct vub_mem_table mem;
		struct vub_config_hdr cfg;
		struct vub_inflight inflight;
		uint8_t raw[VUB_MSG_PAYLOAD_MAX];
	} payload;
};

/* Name of a request code for messages ("GET_FEATURES"), "UNKNOWN" otherwise. */
const char *vub_req_name(uint32_t req);

#endif /* VUB_PROTO_H */
