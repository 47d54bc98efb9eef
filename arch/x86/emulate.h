/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Freestanding x86 instruction decoder and emulator for MMIO and string port
 * I/O. The same source builds into vmm.ko and into the host-side unit tests
 * (tools/testing/selftests/vmm/emulator), so it uses no kernel or libc API
 * beyond memcpy/memset and keeps no global mutable state.
 *
 * Usage: fill the "in" fields of struct x86_emu_ctxt (ops, mode, segment
 * bases, the instruction bytes fetched at CS:RIP, register file) and call
 * x86_emulate(). Memory is only ever touched through ctxt->ops, with linear
 * addresses, and no single callback access crosses a 4 KiB page boundary.
 *
 * Access ordering contract: an instruction performs all of its reads (memory
 * and port input) before its single write (memory or port output), and the
 * register file is updated only when x86_emulate() returns X86_EMU_OK. A
 * callback returning X86_EMU_RETRY therefore leaves no side effect in the
 * emulator, and the caller simply re-runs the whole instruction later.
 * A write callback that hands the data to userspace (MMIO write) should
 * buffer it and return X86_EMU_OK; returning X86_EMU_RETRY from a write means
 * "not performed", and the instruction will be re-run from scratch.
 */
#ifndef VMM_X86_EMULATE_H
#define VMM_X86_EMULATE_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/string.h>
#else
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <stddef.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
#endif

enum x86_emu_mode {
	X86_EMU_MODE_REAL,
	X86_EMU_MODE_VM86,
	X86_EMU_MODE_PROT16,	/* protected mode, CS.D = 0 */
	X86_EMU_MODE_PROT32,	/* protected mode (or compat mode), CS.D = 1 */
	X86_EMU_MODE_PROT64,	/* 64-bit mode, CS.L = 1 */
};

/* Hardware encoding order: index = ModRM/SIB register number (+8 with REX). */
enum x86_reg {
	X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
	X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
	X86_NR_GPRS
};

/* Hardware encoding order (the Sreg field of MOV Sreg). */
enum x86_seg {
	X86_SEG_ES, X86_SEG_CS, X86_SEG_SS, X86_SEG_DS, X86_SEG_FS, X86_SEG_GS,
	X86_NR_SEGS
};

enum x86_emu_result {
	X86_EMU_OK,		/* instruction completed (or one rep batch done) */
	X86_EMU_RETRY,		/* a callback needs userspace: exit, re-run later */
	X86_EMU_EXCEPTION,	/* ctxt->exception set: inject it */
	X86_EMU_UNHANDLED,	/* cannot emulate: caller reports internal error */
};

/* Exception vectors the emulator raises itself. */
#define X86_EMU_VEC_UD		6
#define X86_EMU_VEC_SS		12
#define X86_EMU_VEC_GP		13

/* RFLAGS bits used by the emulator. */
#define X86_EMU_FLAGS_CF	(1ull << 0)
#define X86_EMU_FLAGS_FIXED	(1ull << 1)
#define X86_EMU_FLAGS_PF	(1ull << 2)
#define X86_EMU_FLAGS_AF	(1ull << 4)
#define X86_EMU_FLAGS_ZF	(1ull << 6)
#define X86_EMU_FLAGS_SF	(1ull << 7)
#define X86_EMU_FLAGS_DF	(1ull << 10)
#define X86_EMU_FLAGS_OF	(1ull << 11)
#define X86_EMU_FLAGS_ARITH	(X86_EMU_FLAGS_CF | X86_EMU_FLAGS_PF | \
				 X86_EMU_FLAGS_AF | X86_EMU_FLAGS_ZF | \
				 X86_EMU_FLAGS_SF | X86_EMU_FLAGS_OF)

/* Longest legal instruction (SDM Vol. 2A 2.3.11); longer ones raise #GP(0). */
#define X86_EMU_MAX_INSN_LEN	15

/* Bytes buffered per REP batch; bounds one call's memory/port transfer. */
#define X86_EMU_BUF_SIZE	512

struct x86_emu_ctxt;

struct x86_emu_exception {
	u8 vector;
	bool has_error_code;
	u32 error_code;
	u64 cr2;
};

struct x86_emu_ops {
	/*
	 * Read/write @size bytes at a linear address. @size is 1..8 for
	 * ordinary operands and up to X86_EMU_BUF_SIZE for REP batches; an
	 * access never crosses a 4 KiB page boundary (the emulator splits).
	 * Return X86_EMU_OK, X86_EMU_RETRY (re-run later, when the same read
	 * will return the data), X86_EMU_EXCEPTION (after filling
	 * ctxt->exception, e.g. #PF) or X86_EMU_UNHANDLED.
	 */
	int (*read)(struct x86_emu_ctxt *ctxt, u64 la, void *data,
		    unsigned int size);
	int (*write)(struct x86_emu_ctxt *ctxt, u64 la, const void *data,
		     unsigned int size);
	/* Port I/O for INS/OUTS: @count items of @size bytes in @data. */
	int (*pio_in)(struct x86_emu_ctxt *ctxt, u16 port, unsigned int size,
		      unsigned int count, void *data);
	int (*pio_out)(struct x86_emu_ctxt *ctxt, u16 port, unsigned int size,
		       unsigned int count, const void *data);
	/*
	 * Optional (may be NULL = always batch): may REP items at @la be
	 * moved in multi-item batches? Return false for MMIO, whose exits
	 * carry at most 8 bytes; the string op then does one item per call.
	 * If @la cannot be translated, return true and let read/write fault.
	 */
	bool (*batch_ok)(struct x86_emu_ctxt *ctxt, u64 la);
};

/* Operand kinds of the decoded instruction (see struct x86_emu_insn). */
enum x86_emu_opnd_kind {
	X86_OPND_NONE,
	X86_OPND_REG,
	X86_OPND_MEM,
};

/*
 * The decoded instruction, filled by x86_decode(). Register numbers include
 * the REX extension bits. For MOV to/from CRn/DRn (0F 20-23) the mod field is
 * ignored by hardware: cr_dr is the control/debug register number (LOCK MOV
 * CR0 is reported as CR8, AMD APM Vol. 3 "MOV CRn") and rm the GPR.
 */
struct x86_emu_insn {
	u8 len;			/* total length including prefixes */
	u8 opcode;		/* last opcode byte */
	u8 opmap;		/* 0: one-byte, 1: 0F, 2: 0F 38, 3: 0F 3A */
	u8 rep;			/* 0, 0xf2 (REPNE) or 0xf3 (REP/REPE) */
	bool lock;
	bool opsize_prefix;	/* 0x66 seen */
	bool addrsize_prefix;	/* 0x67 seen */
	u8 rex;			/* 0 or 0x40-0x4f */
	s8 seg_override;	/* X86_SEG_* or -1 */
	u8 op_bytes;		/* effective operand size: 1, 2, 4 or 8 */
	u8 addr_bytes;		/* effective address size: 2, 4 or 8 */
	bool has_modrm;
	u8 modrm;
	u8 mod;			/* ModRM.mod */
	u8 reg;			/* ModRM.reg | REX.R << 3 */
	u8 rm;			/* ModRM.rm | REX.B << 3 (meaningful if mod == 3) */
	bool has_sib;
	u8 sib;
	u8 cr_dr;		/* for 0F 20-23 */
	u8 disp_bytes;
	s64 disp;		/* sign-extended displacement / moffs */
	u8 imm_bytes;
	u64 imm;		/* immediate, sign-extended to 64 bits */
	u16 imm2;		/* far selector, ENTER level, 2nd SSE4a ib */
	bool rip_relative;
	u8 handler;		/* internal: emulation routine, 0 = none */
};

struct x86_emu_ctxt {
	/* in: */
	const struct x86_emu_ops *ops;
	void *priv;			/* caller's cookie */
	enum x86_emu_mode mode;
	bool la57;			/* CR4.LA57: 57-bit canonical checks */
	u64 seg_base[X86_NR_SEGS];	/* in 64-bit mode only FS/GS apply */
	u8 insn[X86_EMU_MAX_INSN_LEN];	/* bytes fetched at CS:RIP */
	unsigned int insn_len;		/* fewer than 15 near a page end */
	unsigned int max_rep_count;	/* max REP items per call (>= 1) */

	/* in/out: updated only when the result is X86_EMU_OK */
	u64 gpr[X86_NR_GPRS];
	u64 rip;
	u64 rflags;

	/* out: */
	struct x86_emu_exception exception;
	struct x86_emu_insn d;		/* valid after x86_decode() */
	/*
	 * Set by x86_decode(); x86_emulate() consumes it, so every call of
	 * x86_emulate() without a preceding x86_decode() decodes afresh.
	 */
	bool decoded;
	bool emulatable;		/* x86_emulate() can execute d */

	/* scratch for REP batches; keep this struct off the kernel stack */
	u8 buf[X86_EMU_BUF_SIZE];
};

/*
 * Decode ctxt->insn into ctxt->d. Returns X86_EMU_OK for every instruction
 * whose length is known (ctxt->emulatable tells whether x86_emulate() can
 * execute it), X86_EMU_UNHANDLED for unknown encodings or when the fetched
 * bytes run out, and X86_EMU_EXCEPTION for #UD (invalid opcode or LOCK) and
 * #GP(0) (longer than 15 bytes).
 */
int x86_decode(struct x86_emu_ctxt *ctxt);

/* Decode (unless x86_decode() was just called) and execute. */
int x86_emulate(struct x86_emu_ctxt *ctxt);

/* Decode only: the instruction length, or -1 if it cannot be decoded. */
int x86_insn_length(struct x86_emu_ctxt *ctxt);

#endif /* VMM_X86_EMULATE_H */
