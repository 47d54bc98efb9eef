/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layout of one input of the emulator fuzz target (fuzz_emulator.c), shared
 * with the seed writer (fuzz_seeds.h, part of emulator_test.c) so that the
 * seed corpus is made from the table-driven cases.
 *
 * An input is a fixed header, little-endian, zero-padded when shorter, then
 * a pool of bytes that ordinary memory returns: the byte at linear address
 * la is pool[la % pool_len] (la's low byte when the pool is empty).
 */
#ifndef VMM_EMU_FUZZ_INPUT_H
#define VMM_EMU_FUZZ_INPUT_H

#include "emulate.h"

/* fuzz_input.mode */
#define FUZZ_MODE_MASK		0x07	/* enum x86_emu_mode, modulo 5 */
#define FUZZ_MODE_API_SHIFT	3	/* 2 bits: enum fuzz_api */
#define FUZZ_MODE_LA57		0x80

enum fuzz_api {
	FUZZ_API_EMULATE,	/* x86_emulate() alone */
	FUZZ_API_DECODE,	/* x86_decode(), then x86_emulate() */
	FUZZ_API_LENGTH,	/* x86_insn_length(), then x86_emulate() */
	FUZZ_API_DECODE_TWICE,	/* x86_decode() twice, then x86_emulate() */
};

/*
 * fuzz_input.fault: bits 0-2 pick the callback that fails (enum
 * fuzz_fault_cb), bits 3-4 what it returns (RETRY, EXCEPTION, UNHANDLED, or
 * nothing), bits 5-7 which of its calls (0-7) since the input started.
 */
enum fuzz_fault_cb {
	FUZZ_FAULT_NONE,
	FUZZ_FAULT_READ,
	FUZZ_FAULT_WRITE,
	FUZZ_FAULT_PIO_IN,
	FUZZ_FAULT_PIO_OUT,
	FUZZ_FAULT_ANY,		/* the n-th callback of any kind */
};

/*
 * fuzz_input.options: bit 0 provides ops->batch_ok, bit 1 makes it refuse
 * MMIO pages, bits 2-4 index the max_rep_count table, bits 5-7 pick the
 * byte the context is filled with before its inputs are set.
 */
#define FUZZ_OPT_BATCH_OK	0x01
#define FUZZ_OPT_BATCH_MMIO	0x02
#define FUZZ_OPT_REP_SHIFT	2
#define FUZZ_OPT_FILL_SHIFT	5

struct fuzz_input {
	u8 mode;
	u8 fault;
	u8 options;
	u8 insn_len;		/* modulo 16: bytes the emulator may read */
	u8 insn[X86_EMU_MAX_INSN_LEN];
	u8 pad;
	u64 rip;
	u64 rflags;
	u64 gpr[X86_NR_GPRS];
	u64 seg_base[X86_NR_SEGS];
	u64 mmio_page;		/* linear page whose reads exit first (MMIO) */
	u64 fault_page;		/* linear page whose accesses raise #PF */
} __attribute__((packed));

#define FUZZ_HDR_SIZE	sizeof(struct fuzz_input)

#endif /* VMM_EMU_FUZZ_INPUT_H */
