/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parts of the NVM Express base specification (1.4 / 2.0) and of the NVM command set that
 * the userspace driver uses: controller registers, submission and completion queue entries,
 * admin and I/O opcodes, status codes, and the byte offsets of the IDENTIFY fields we read.
 * Everything is little-endian on the wire; vhostd only builds for x86-64, so no swapping.
 */
#ifndef VHOSTD_NVME_SPEC_H
#define VHOSTD_NVME_SPEC_H

#include <stdint.h>

/* ---- Controller registers (BAR0) ---- */

#define NVME_REG_CAP 0x00   /* 64-bit: capabilities */
#define NVME_REG_VS 0x08    /* version */
#define NVME_REG_INTMS 0x0c /* interrupt mask set (pin/MSI only) */
#define NVME_REG_INTMC 0x10
#define NVME_REG_CC 0x14    /* controller configuration */
#define NVME_REG_CSTS 0x1c  /* controller status */
#define NVME_REG_AQA 0x24   /* admin queue attributes */
#define NVME_REG_ASQ 0x28   /* 64-bit: admin SQ base */
#define NVME_REG_ACQ 0x30   /* 64-bit: admin CQ base */
#define NVME_REG_DBS 0x1000 /* first doorbell */

/* CAP */
#define NVME_CAP_MQES(cap) ((uint32_t)((cap) & 0xffff))        /* 0's based */
#define NVME_CAP_CQR(cap) ((uint32_t)(((cap) >> 16) & 0x1))    /* contiguous queues required */
#define NVME_CAP_TO(cap) ((uint32_t)(((cap) >> 24) & 0xff))    /* ready timeout, 500 ms units */
#define NVME_CAP_DSTRD(cap) ((uint32_t)(((cap) >> 32) & 0xf))  /* stride = 4 << DSTRD bytes */
#define NVME_CAP_CSS(cap) ((uint32_t)(((cap) >> 37) & 0xff))   /* bit 0: NVM command set */
#define NVME_CAP_MPSMIN(cap) ((uint32_t)(((cap) >> 48) & 0xf)) /* page = 4 KiB << MPSMIN */
#define NVME_CAP_MPSMAX(cap) ((uint32_t)(((cap) >> 52) & 0xf))

/* CC */
#define NVME_CC_EN (1u << 0)
#define NVME_CC_CSS_NVM (0u << 4)
#define NVME_CC_MPS(shift) ((uint32_t)((shift) - 12) << 7)
#define NVME_CC_AMS_RR (0u << 11)
#define NVME_CC_SHN_MASK (3u << 14)
#define NVME_CC_SHN_NORMAL (1u << 14)
#define NVME_CC_IOSQES(shift) ((uint32_t)(shift) << 16)
#define NVME_CC_IOCQES(shift) ((uint32_t)(shift) << 20)

/* CSTS */
#define NVME_CSTS_RDY (1u << 0)
#define NVME_CSTS_CFS (1u << 1)                /* controller fatal status */
#define NVME_CSTS_SHST(csts) (((csts) >> 2) & 3)
#define NVME_CSTS_SHST_COMPLETE 2
/* A register read of all ones: the device has been removed from the bus. */
#define NVME_REG32_GONE 0xffffffffu

/* AQA: 0's based sizes, ASQS in bits 11:0, ACQS in bits 27:16. */
#define NVME_AQA(sq, cq) ((((uint32_t)(cq) - 1) << 16) | ((uint32_t)(sq) - 1))

/* Offset of a doorbell: SQ y tail is doorbell 2y, CQ y head is doorbell 2y + 1. */
static inline uint32_t
nvme_sq_doorbell(uint16_t qid, uint32_t stride)
{
	return NVME_REG_DBS + (2u * qid) * stride;
}

static inline uint32_t
nvme_cq_doorbell(uint16_t qid, uint32_t stride)
{
	return NVME_REG_DBS + (2u * qid + 1u) * stride;
}

/* ---- Queue entries ---- */

#define NVME_SQES_SHIFT 6 /* 64-byte submission entries */
#define NVME_CQES_SHIFT 4 /* 16-byte completion entries */

/* SGL descriptor (16 bytes). Byte 15: type in bits 7:4, subtype in bits 3:0. */
struct nvme_sgl_desc {
	uint64_t addr;
	uint32_t len;
	uint8_t rsvd[3];
	uint8_t id;
};

#define NVME_SGL_DATA_BLOCK 0x00   /* type 0, subtype 0 (address) */
#define NVME_SGL_SEGMENT 0x20      /* type 2: points to further descriptors */
#define NVME_SGL_LAST_SEGMENT 0x30 /* type 3: points to the last list of descriptors */

/* Submission queue entry (64 bytes). */
struct nvme_cmd {
	uint8_t opc;
	uint8_t flags; /* bits 1:0 FUSE, bits 7:6 PSDT */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	union {
		struct {
			uint64_t prp1;
			uint64_t prp2;
		} prp;
		struct nvme_sgl_desc sgl1;
	} dptr;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};

#define NVME_CMD_PSDT_PRP (0u << 6)
#define NVME_CMD_PSDT_SGL (1u << 6) /* SGL, MPTR is a contiguous buffer */

/* Completion queue entry (16 bytes). */
struct nvme_cpl {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* bit 0 phase, 8:1 SC, 11:9 SCT, 13:12 CRD, 14 M, 15 DNR */
};

_Static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");
_Static_assert(sizeof(struct nvme_cmd) == 64, "submission entry is 64 bytes");
_Static_assert(sizeof(struct nvme_cpl) == 16, "completion entry is 16 bytes");

#define NVME_STATUS_PHASE(st) ((st) & 1u)
#define NVME_STATUS_SC(st) (((st) >> 1) & 0xffu)
#define NVME_STATUS_SCT(st) (((st) >> 9) & 0x7u)
#define NVME_STATUS_DNR(st) (((st) >> 15) & 1u)
/* Build a status field (without the phase bit) from its type and code. */
#define NVME_STATUS(sct, sc) ((uint16_t)((((sct) & 0x7u) << 9) | (((sc) & 0xffu) << 1)))

/* Status code types */
#define NVME_SCT_GENERIC 0x0
#define NVME_SCT_CMD_SPECIFIC 0x1
#define NVME_SCT_MEDIA 0x2
#define NVME_SCT_PATH 0x3
#define NVME_SCT_VENDOR 0x7

/* Generic command status */
#define NVME_SC_SUCCESS 0x00
#define NVME_SC_INVALID_OPCODE 0x01
#define NVME_SC_INVALID_FIELD 0x02
#define NVME_SC_CID_CONFLICT 0x03
#define NVME_SC_DATA_XFER_ERROR 0x04
#define NVME_SC_ABORTED_POWER_LOSS 0x05
#define NVME_SC_INTERNAL 0x06
#define NVME_SC_ABORT_REQUESTED 0x07
#define NVME_SC_ABORTED_SQ_DELETION 0x08
#define NVME_SC_INVALID_NS 0x0b
#define NVME_SC_CMD_SEQ_ERROR 0x0c
#define NVME_SC_INVALID_SGL_SEG 0x0d
#define NVME_SC_INVALID_NUM_SGL 0x0e
#define NVME_SC_DATA_SGL_LEN 0x0f
#define NVME_SC_SGL_TYPE_INVALID 0x11
#define NVME_SC_PRP_OFFSET_INVALID 0x13
#define NVME_SC_SANITIZE_IN_PROGRESS 0x1d
#define NVME_SC_NS_WRITE_PROTECTED 0x20
#define NVME_SC_CMD_INTERRUPTED 0x21
#define NVME_SC_TRANSIENT_TRANSPORT 0x22
#define NVME_SC_LBA_OUT_OF_RANGE 0x80
#define NVME_SC_CAPACITY_EXCEEDED 0x81
#define NVME_SC_NS_NOT_READY 0x82
#define NVME_SC_RESERVATION_CONFLICT 0x83
#define NVME_SC_FORMAT_IN_PROGRESS 0x84

/* Command specific status */
#define NVME_SC_INVALID_QID 0x01
#define NVME_SC_INVALID_QSIZE 0x02
#define NVME_SC_ABORT_LIMIT 0x03
#define NVME_SC_CONFLICTING_ATTRS 0x80
#define NVME_SC_INVALID_PI 0x81
#define NVME_SC_WRITE_TO_RO 0x82

/* Media and data integrity errors */
#define NVME_SC_WRITE_FAULT 0x80
#define NVME_SC_UNRECOVERED_READ 0x81
#define NVME_SC_GUARD_CHECK 0x82
#define NVME_SC_APPTAG_CHECK 0x83
#define NVME_SC_REFTAG_CHECK 0x84
#define NVME_SC_COMPARE_FAILURE 0x85
#define NVME_SC_ACCESS_DENIED 0x86
#define NVME_SC_UNWRITTEN_BLOCK 0x87

/* ---- Admin commands ---- */

#define NVME_ADM_DELETE_SQ 0x00
#define NVME_ADM_CREATE_SQ 0x01
#define NVME_ADM_DELETE_CQ 0x04
#define NVME_ADM_CREATE_CQ 0x05
#define NVME_ADM_IDENTIFY 0x06
#define NVME_ADM_ABORT 0x08
#define NVME_ADM_SET_FEATURES 0x09
#define NVME_ADM_GET_FEATURES 0x0a

/* CREATE I/O CQ cdw11: PC bit 0, IEN bit 1, IV bits 31:16. CREATE I/O SQ cdw11: PC bit 0,
 * QPRIO bits 2:1, CQID bits 31:16. cdw10 of both: QID bits 15:0, QSIZE (0's based) 31:16. */
#define NVME_QUEUE_PC (1u << 0)
#define NVME_CQ_IEN (1u << 1)

/* IDENTIFY cdw10 CNS */
#define NVME_CNS_NS 0x00
#define NVME_CNS_CTRLR 0x01
#define NVME_IDENTIFY_SIZE 4096

/* Features */
#define NVME_FEAT_VOLATILE_WC 0x06
#define NVME_FEAT_NUM_QUEUES 0x07

/* ---- NVM command set (I/O) ---- */

#define NVME_OPC_FLUSH 0x00
#define NVME_OPC_WRITE 0x01
#define NVME_OPC_READ 0x02
#define NVME_OPC_WRITE_ZEROES 0x08
#define NVME_OPC_DSM 0x09

/* READ/WRITE/WRITE ZEROES cdw12: NLB (0's based) bits 15:0, DEAC bit 25, FUA bit 30. */
#define NVME_RW_FUA (1u << 30)
#define NVME_WZ_DEAC (1u << 25)
#define NVME_MAX_NLB 65536u

/* DATASET MANAGEMENT: cdw10 NR (0's based) bits 7:0; cdw11 AD (deallocate) bit 2. */
#define NVME_DSM_AD (1u << 2)
#define NVME_DSM_MAX_RANGES 256u

struct nvme_dsm_range {
	uint32_t attributes;
	uint32_t nlb; /* not 0's based */
	uint64_t slba;
};
_Static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");

/* ---- IDENTIFY CONTROLLER byte offsets ---- */

#define NVME_IDC_SN 4      /* 20 ASCII bytes */
#define NVME_IDC_MN 24     /* 40 */
#define NVME_IDC_FR 64     /* 8 */
#define NVME_IDC_MDTS 77   /* max transfer = 2^MDTS minimum pages; 0 = no limit */
#define NVME_IDC_VER 80
#define NVME_IDC_ACL 258   /* abort command limit, 0's based */
#define NVME_IDC_SQES 512  /* bits 3:0 required (min), 7:4 max, as log2 */
#define NVME_IDC_CQES 513
#define NVME_IDC_NN 516    /* 32-bit: number of namespaces (highest valid NSID) */
#define NVME_IDC_ONCS 520  /* 16-bit: optional NVM commands */
#define NVME_IDC_VWC 525   /* bit 0: a volatile write cache is present */
#define NVME_IDC_SGLS 536  /* 32-bit: bits 1:0 SGL support */

#define NVME_ONCS_DSM (1u << 2)
#define NVME_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_SGLS_NONE 0u
#define NVME_SGLS_ANY_ALIGN 1u   /* supported, no alignment or granularity rule */
#define NVME_SGLS_DWORD_ALIGN 2u /* supported, data blocks dword aligned and sized */

/* ---- IDENTIFY NAMESPACE byte offsets ---- */

#define NVME_IDNS_NSZE 0    /* 64-bit: size in logical blocks */
#define NVME_IDNS_NCAP 8
#define NVME_IDNS_NSFEAT 24 /* bit 4: NPWG/NPWA/NPDG/NPDA/NOWS are valid */
#define NVME_IDNS_NLBAF 25  /* number of LBA formats, 0's based */
#define NVME_IDNS_FLBAS 26  /* bits 3:0 (and 6:5 in 2.0): format in use; bit 4: extended LBA */
#define NVME_IDNS_DLFEAT 33
#define NVME_IDNS_NPWG 64   /* 16-bit, 0's based: preferred write granularity in blocks */
#define NVME_IDNS_NOWS 72   /* 16-bit, 0's based: optimal write size in blocks */
#define NVME_IDNS_NSATTR 99 /* bit 0: write protected */
#define NVME_IDNS_LBAF 128  /* 16 (or 64) 32-bit formats: MS 15:0, LBADS 23:16, RP 25:24 */

#define NVME_NSFEAT_OPTPERF (1u << 4)

#endif /* VHOSTD_NVME_SPEC_H */
