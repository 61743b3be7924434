/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny NVMe controller in plain memory for the driver's unit tests: a byte array stands in
 * for BAR0, and fake_nvme_step() plays the controller: CC.EN/CSTS.RDY and shutdown, the admin
 * queue (IDENTIFY, SET FEATURES Number of Queues, CREATE/DELETE I/O SQ/CQ, ABORT) and I/O
 * queues (READ, WRITE, FLUSH, WRITE ZEROES, DSM) on a RAM disk. It checks what a real
 * controller relies on: PRP entry alignment, SGL descriptor types, MDTS, LBA ranges, queue
 * ids, and every DMA address against the IOVAs the driver was given (IOVAs are never equal
 * to host addresses here, so a driver that leaks a host address into a command is caught).
 *
 * The environment it hands the driver (fake_nvme.env) has a manual clock: delay_us()
 * advances it and runs fake_nvme_step(), so the driver's waits make progress.
 */
#ifndef VHOSTD_TEST_FAKE_NVME_H
#define VHOSTD_TEST_FAKE_NVME_H

#include "nvme_internal.h"

#define FAKE_BAR_SIZE 0x2000
#define FAKE_MAX_QUEUES 66
#define FAKE_MAX_ALLOCS 256
#define FAKE_MAX_HELD 512
#define FAKE_IOVA_BASE 0x1000000000ull

struct fake_queue {
	bool valid;
	uint64_t iova;
	uint16_t size;
	uint16_t head;    /* SQ: next entry to fetch; CQ: head as last rung by the host */
	uint16_t tail;    /* CQ: next entry to post */
	uint8_t phase;    /* CQ */
	uint16_t cqid;    /* SQ */
	bool pc;
};

struct fake_held {
	uint16_t sqid;
	uint16_t cid;
};

struct fake_nvme {
	uint8_t *bar;
	struct nvme_env env;
	struct nvme_dma_table table;      /* "guest memory" the tests map */
	uint64_t now_us;
	bool auto_step;

	struct {
		void *va;
		uint64_t iova;
		size_t size;
	} allocs[FAKE_MAX_ALLOCS];
	unsigned int nallocs;
	uint64_t next_iova;

	/* Configuration (set before nvme_ctrlr_init()). */
	uint64_t cap;
	uint32_t nn;
	uint16_t oncs;
	uint8_t vwc;
	uint32_t sgls;
	uint8_t mdts;
	uint8_t acl;              /* 0's based */
	uint32_t lba_shift;
	uint16_t ms;              /* metadata bytes per block */
	uint64_t nsze;
	uint16_t queues_granted;
	bool ready_never;
	bool start_enabled;       /* CC.EN = CSTS.RDY = 1 before init */
	bool ns2_inactive;

	/* Behaviour (any time). */
	bool hold_io;             /* fetch I/O commands but do not complete them */
	bool ignore_abort;
	bool gone;                /* registers read all ones, nothing is processed */
	uint16_t inject_status;   /* next I/O command completes with this status */
	int inject_opc;           /* ... only for this opcode (-1: any) */
	bool reverse_completion;  /* complete the fetched commands of a step newest first */

	/* Controller state. */
	bool enabled;
	struct fake_queue sq[FAKE_MAX_QUEUES];
	struct fake_queue cq[FAKE_MAX_QUEUES];
	struct fake_held held[FAKE_MAX_HELD];
	unsigned int nheld;
	uint8_t *disk;
	size_t disk_size;

	/* Record. */
	uint8_t admin_ops[256];
	unsigned int nadmin;
	unsigned int io_ops[256];
	unsigned int prp_cmds, sgl_cmds, deac_cmds, fua_cmds;
	unsigned int max_nlb;     /* largest NLB of a READ/WRITE, 1-based */
	unsigned int violations;  /* rule broken by the driver (also printed) */
	unsigned int dma_errors;  /* DMA to an unknown IOVA */
	unsigned int disables;    /* EN 1 -> 0 transitions seen */
	unsigned int reset_requests;
	bool dma_stopped;
	uint32_t cc_at_enable;
};

/* Allocate and configure the defaults: 64 MiB disk of 512-byte blocks, 1 namespace, MDTS 5
 * (128 KiB), DSM + WRITE ZEROES, volatile cache, SGLs, 8 queues granted. */
struct fake_nvme *fake_nvme_new(void);
void fake_nvme_free(struct fake_nvme *f);

/* Write CAP/VS (and CC/CSTS when start_enabled) after the configuration fields are set. */
void fake_nvme_power_on(struct fake_nvme *f);

/* Play the controller once: react to CC, process every SQ up to its doorbell. */
void fake_nvme_step(struct fake_nvme *f);

/* Complete the held commands (status 0) and stop holding. */
void fake_nvme_release_held(struct fake_nvme *f);

/* Make test memory DMA-able at a fake IOVA (what the transport does with guest RAM). */
void fake_nvme_map(struct fake_nvme *f, void *va, size_t len);

uint32_t fake_reg32(const struct fake_nvme *f, uint32_t off);
void fake_set_reg32(struct fake_nvme *f, uint32_t off, uint32_t v);

#endif /* VHOSTD_TEST_FAKE_NVME_H */
