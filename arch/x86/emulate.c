// SPDX-License-Identifier: GPL-2.0
/*
 * Freestanding x86 instruction decoder and emulator (MMIO, string port I/O).
 *
 * Decoding is driven by two 256-entry tables (one-byte map and 0F map) that
 * give, per opcode, the operand-byte layout needed for the length and the
 * emulation routine, if any. Execution reads every operand first, then does
 * at most one memory (or port) write, then updates registers, RFLAGS and RIP;
 * see the contract at the top of emulate.h.
 *
 * References: Intel SDM Vol. 2A chapter 2 (instruction format), appendix A
 * (opcode maps); AMD APM Vol. 3 chapter 1 and appendix A.
 */
#include "emulate.h"

/* Per-opcode decode flags. */
#define F_K		0x0001	/* known opcode */
#define F_MODRM		0x0002	/* has a ModRM byte */
#define F_MODRM_REG	0x0004	/* ModRM whose mod field is ignored (MOV CR/DR) */
#define F_IMM8		0x0008	/* ib */
#define F_IMM16		0x0010	/* iw */
#define F_IMMZ		0x0020	/* iz: 16 or 32 bits by operand size */
#define F_IMMV		0x0040	/* iv: 16, 32 or 64 bits by operand size */
#define F_MOFFS		0x0080	/* moffs: address-size offset */
#define F_FAR		0x0100	/* ptr16:16 / ptr16:32 */
#define F_ENTER		0x0200	/* iw, ib */
#define F_BYTE		0x0400	/* byte operand size */
#define F_INV64		0x0800	/* #UD in 64-bit mode */
#define F_UD		0x1000	/* always #UD */
#define F_LOCK		0x2000	/* LOCK allowed with a memory destination */
#define F_GRP3		0x4000	/* F6/F7: immediate only for /0 and /1 */
#define F_VEX		0x8000	/* C4/C5/62: VEX/EVEX unless legacy with mod != 3 */

/* Emulation routines. */
enum {
	H_NONE,
	H_MOV,
	H_MOVZX,
	H_MOVSX,
	H_MOVSXD,
	H_ALU,
	H_GRP1,
	H_TEST,
	H_GRP3,
	H_INCDEC,
	H_XCHG,
	H_BT,
	H_CMPXCHG,
	H_XADD,
	H_MOVS,
	H_CMPS,
	H_STOS,
	H_LODS,
	H_SCAS,
	H_INS,
	H_OUTS,
};

/* ALU operations; 0-7 are the encoding order of opcodes 00-3F and group 1. */
enum {
	ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP,
	ALU_TEST,
};

struct opcode_desc {
	u16 flags;
	u8 handler;
};

#define E(f, h)		{ (f) | F_K, (h) }
#define M		F_MODRM

#define ALU_ROW(b, lk)							\
	[(b) + 0] = E(M | F_BYTE | (lk), H_ALU),			\
	[(b) + 1] = E(M | (lk), H_ALU),					\
	[(b) + 2] = E(M | F_BYTE, H_ALU),				\
	[(b) + 3] = E(M, H_ALU),					\
	[(b) + 4] = E(F_IMM8 | F_BYTE, H_ALU),				\
	[(b) + 5] = E(F_IMMZ, H_ALU)

static const struct opcode_desc onebyte_table[256] = {
	ALU_ROW(0x00, F_LOCK), ALU_ROW(0x08, F_LOCK),
	ALU_ROW(0x10, F_LOCK), ALU_ROW(0x18, F_LOCK),
	ALU_ROW(0x20, F_LOCK), ALU_ROW(0x28, F_LOCK),
	ALU_ROW(0x30, F_LOCK), ALU_ROW(0x38, 0),
	[0x06] = E(F_INV64, 0), [0x07] = E(F_INV64, 0),
	[0x0e] = E(F_INV64, 0),
	[0x16] = E(F_INV64, 0), [0x17] = E(F_INV64, 0),
	[0x1e] = E(F_INV64, 0), [0x1f] = E(F_INV64, 0),
	[0x27] = E(F_INV64, 0), [0x2f] = E(F_INV64, 0),
	[0x37] = E(F_INV64, 0), [0x3f] = E(F_INV64, 0),
	[0x40 ... 0x5f] = E(0, 0),
	[0x60] = E(F_INV64, 0), [0x61] = E(F_INV64, 0),
	[0x62] = E(M | F_INV64 | F_VEX, 0),
	[0x63] = E(M, H_MOVSXD),
	[0x68] = E(F_IMMZ, 0), [0x69] = E(M | F_IMMZ, 0),
	[0x6a] = E(F_IMM8, 0), [0x6b] = E(M | F_IMM8, 0),
	[0x6c] = E(F_BYTE, H_INS), [0x6d] = E(0, H_INS),
	[0x6e] = E(F_BYTE, H_OUTS), [0x6f] = E(0, H_OUTS),
	[0x70 ... 0x7f] = E(F_IMM8, 0),
	[0x80] = E(M | F_IMM8 | F_BYTE | F_LOCK, H_GRP1),
	[0x81] = E(M | F_IMMZ | F_LOCK, H_GRP1),
	[0x82] = E(M | F_IMM8 | F_BYTE | F_LOCK | F_INV64, H_GRP1),
	[0x83] = E(M | F_IMM8 | F_LOCK, H_GRP1),
	[0x84] = E(M | F_BYTE, H_TEST), [0x85] = E(M, H_TEST),
	[0x86] = E(M | F_BYTE | F_LOCK, H_XCHG), [0x87] = E(M | F_LOCK, H_XCHG),
	[0x88] = E(M | F_BYTE, H_MOV), [0x89] = E(M, H_MOV),
	[0x8a] = E(M | F_BYTE, H_MOV), [0x8b] = E(M, H_MOV),
	[0x8c ... 0x8f] = E(M, 0),
	[0x90 ... 0x99] = E(0, 0),
	[0x9a] = E(F_FAR | F_INV64, 0),
	[0x9b ... 0x9f] = E(0, 0),
	[0xa0] = E(F_MOFFS | F_BYTE, H_MOV), [0xa1] = E(F_MOFFS, H_MOV),
	[0xa2] = E(F_MOFFS | F_BYTE, H_MOV), [0xa3] = E(F_MOFFS, H_MOV),
	[0xa4] = E(F_BYTE, H_MOVS), [0xa5] = E(0, H_MOVS),
	[0xa6] = E(F_BYTE, H_CMPS), [0xa7] = E(0, H_CMPS),
	[0xa8] = E(F_IMM8 | F_BYTE, H_TEST), [0xa9] = E(F_IMMZ, H_TEST),
	[0xaa] = E(F_BYTE, H_STOS), [0xab] = E(0, H_STOS),
	[0xac] = E(F_BYTE, H_LODS), [0xad] = E(0, H_LODS),
	[0xae] = E(F_BYTE, H_SCAS), [0xaf] = E(0, H_SCAS),
	[0xb0 ... 0xb7] = E(F_IMM8, 0),
	[0xb8 ... 0xbf] = E(F_IMMV, 0),
	[0xc0] = E(M | F_IMM8, 0), [0xc1] = E(M | F_IMM8, 0),
	[0xc2] = E(F_IMM16, 0), [0xc3] = E(0, 0),
	[0xc4] = E(M | F_INV64 | F_VEX, 0), [0xc5] = E(M | F_INV64 | F_VEX, 0),
	[0xc6] = E(M | F_IMM8 | F_BYTE, H_MOV), [0xc7] = E(M | F_IMMZ, H_MOV),
	[0xc8] = E(F_ENTER, 0), [0xc9] = E(0, 0),
	[0xca] = E(F_IMM16, 0), [0xcb] = E(0, 0), [0xcc] = E(0, 0),
	[0xcd] = E(F_IMM8, 0), [0xce] = E(F_INV64, 0), [0xcf] = E(0, 0),
	[0xd0 ... 0xd3] = E(M, 0),
	[0xd4] = E(F_IMM8 | F_INV64, 0), [0xd5] = E(F_IMM8 | F_INV64, 0),
	[0xd6] = E(F_UD, 0), [0xd7] = E(0, 0),
	[0xd8 ... 0xdf] = E(M, 0),
	[0xe0 ... 0xe7] = E(F_IMM8, 0),
	/*
	 * CALL/JMP rel: with 66 in 64-bit mode AMD takes rel16 and Intel
	 * ignores the prefix (rel32); we follow AMD (APM Vol. 3 "CALL (Near)").
	 */
	[0xe8] = E(F_IMMZ, 0), [0xe9] = E(F_IMMZ, 0),
	[0xea] = E(F_FAR | F_INV64, 0), [0xeb] = E(F_IMM8, 0),
	[0xec ... 0xef] = E(0, 0),
	[0xf1] = E(0, 0), [0xf4] = E(0, 0), [0xf5] = E(0, 0),
	[0xf6] = E(M | F_BYTE | F_GRP3 | F_LOCK, H_GRP3),
	[0xf7] = E(M | F_GRP3 | F_LOCK, H_GRP3),
	[0xf8 ... 0xfd] = E(0, 0),
	[0xfe] = E(M | F_BYTE | F_LOCK, H_INCDEC),
	[0xff] = E(M | F_LOCK, H_INCDEC),
};

static const struct opcode_desc twobyte_table[256] = {
	[0x00 ... 0x03] = E(M, 0),
	[0x04] = E(F_UD, 0),
	[0x05 ... 0x09] = E(0, 0),			/* SYSCALL..WBINVD */
	[0x0a ... 0x0c] = E(F_UD, 0),			/* UD2 is 0B */
	[0x0d] = E(M, 0), [0x0e] = E(0, 0),
	[0x0f] = E(M | F_IMM8, 0),			/* 3DNow! */
	[0x10 ... 0x1f] = E(M, 0),
	[0x20 ... 0x23] = E(M | F_MODRM_REG, 0),	/* MOV CRn/DRn */
	[0x24 ... 0x27] = E(F_UD, 0),
	[0x28 ... 0x2f] = E(M, 0),
	[0x30 ... 0x35] = E(0, 0),			/* WRMSR..SYSEXIT */
	[0x36] = E(F_UD, 0), [0x37] = E(0, 0),
	[0x39] = E(F_UD, 0),
	[0x3b ... 0x3f] = E(F_UD, 0),
	[0x40 ... 0x6f] = E(M, 0),
	[0x70 ... 0x73] = E(M | F_IMM8, 0),
	[0x74 ... 0x76] = E(M, 0), [0x77] = E(0, 0),
	[0x78] = E(M, 0), [0x79] = E(M, 0),
	[0x7a] = E(F_UD, 0), [0x7b] = E(F_UD, 0),
	[0x7c ... 0x7f] = E(M, 0),
	[0x80 ... 0x8f] = E(F_IMMZ, 0),
	[0x90 ... 0x9f] = E(M, 0),
	[0xa0 ... 0xa2] = E(0, 0),			/* PUSH/POP FS, CPUID */
	[0xa3] = E(M, H_BT),
	[0xa4] = E(M | F_IMM8, 0), [0xa5] = E(M, 0),
	[0xa6] = E(F_UD, 0), [0xa7] = E(F_UD, 0),
	[0xa8 ... 0xaa] = E(0, 0),
	[0xab] = E(M | F_LOCK, H_BT),
	[0xac] = E(M | F_IMM8, 0), [0xad ... 0xaf] = E(M, 0),
	[0xb0] = E(M | F_BYTE | F_LOCK, H_CMPXCHG),
	[0xb1] = E(M | F_LOCK, H_CMPXCHG),
	[0xb2] = E(M, 0),
	[0xb3] = E(M | F_LOCK, H_BT),
	[0xb4] = E(M, 0), [0xb5] = E(M, 0),
	[0xb6] = E(M, H_MOVZX), [0xb7] = E(M, H_MOVZX),
	[0xb8] = E(M, 0), [0xb9] = E(M | F_UD, 0),
	[0xba] = E(M | F_IMM8 | F_LOCK, H_BT),
	[0xbb] = E(M | F_LOCK, H_BT),
	[0xbc] = E(M, 0), [0xbd] = E(M, 0),
	[0xbe] = E(M, H_MOVSX), [0xbf] = E(M, H_MOVSX),
	[0xc0] = E(M | F_BYTE | F_LOCK, H_XADD), [0xc1] = E(M | F_LOCK, H_XADD),
	[0xc2] = E(M | F_IMM8, 0),
	[0xc3] = E(M, H_MOV),				/* MOVNTI */
	[0xc4 ... 0xc6] = E(M | F_IMM8, 0),
	[0xc7] = E(M | F_LOCK, 0),
	[0xc8 ... 0xcf] = E(0, 0),			/* BSWAP */
	[0xd0 ... 0xfe] = E(M, 0),
	[0xff] = E(M | F_UD, 0),			/* UD0 */
};

#undef M
#undef E
#undef ALU_ROW

static const struct opcode_desc map38_desc = { F_K | F_MODRM, H_NONE };
static const struct opcode_desc map3a_desc = { F_K | F_MODRM | F_IMM8, H_NONE };

/* ------------------------------------------------------------------------ */
/* Small helpers */

static inline bool mode64(const struct x86_emu_ctxt *ctxt)
{
	return ctxt->mode == X86_EMU_MODE_PROT64;
}

static inline u64 size_mask(unsigned int bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (bytes * 8)) - 1;
}

static inline u64 sign_extend(u64 val, unsigned int bytes)
{
	unsigned int shift = 64 - bytes * 8;

	return (u64)((s64)(val << shift) >> shift);
}

static int raise_exception(struct x86_emu_ctxt *ctxt, u8 vector,
			   bool has_error_code, u32 error_code)
{
	ctxt->exception.vector = vector;
	ctxt->exception.has_error_code = has_error_code;
	ctxt->exception.error_code = error_code;
	ctxt->exception.cr2 = 0;
	return X86_EMU_EXCEPTION;
}

static inline int raise_ud(struct x86_emu_ctxt *ctxt)
{
	return raise_exception(ctxt, X86_EMU_VEC_UD, false, 0);
}

/* ------------------------------------------------------------------------ */
/* Decoder */

struct decode_state {
	unsigned int pos;
	const struct opcode_desc *desc;
};

/*
 * Fetch @n bytes little-endian. Running past 15 bytes is #GP(0) (SDM Vol. 2A
 * 2.3.11); running past what the caller fetched is UNHANDLED.
 */
static int fetch(struct x86_emu_ctxt *ctxt, struct decode_state *s,
		 unsigned int n, u64 *val)
{
	unsigned int i;
	u64 v = 0;

	*val = 0;
	if (s->pos + n > X86_EMU_MAX_INSN_LEN)
		return raise_exception(ctxt, X86_EMU_VEC_GP, true, 0);
	if (s->pos + n > ctxt->insn_len)
		return X86_EMU_UNHANDLED;
	for (i = 0; i < n; i++)
		v |= (u64)ctxt->insn[s->pos + i] << (i * 8);
	s->pos += n;
	*val = v;
	return X86_EMU_OK;
}

static int fetch_u8(struct x86_emu_ctxt *ctxt, struct decode_state *s, u8 *b)
{
	u64 v = 0;
	int r = fetch(ctxt, s, 1, &v);

	*b = (u8)v;
	return r;
}

/* Legacy prefixes and REX; leaves the first opcode byte in *op. */
static int decode_prefixes(struct x86_emu_ctxt *ctxt, struct decode_state *s,
			   u8 *op)
{
	struct x86_emu_insn *d = &ctxt->d;
	int r;
	u8 b;

	for (;;) {
		r = fetch_u8(ctxt, s, &b);
		if (r)
			return r;
		switch (b) {
		case 0x26: case 0x2e: case 0x36: case 0x3e:
			/*
			 * Ignored in 64-bit mode (SDM Vol. 1 3.3.7.1): they
			 * neither undo an earlier FS/GS nor turn a fault on a
			 * non-canonical address from #SS into #GP or back.
			 */
			if (!mode64(ctxt))
				d->seg_override = (b >> 3) & 3;
			break;
		case 0x64: case 0x65:
			d->seg_override = X86_SEG_FS + (b & 1);
			break;
		case 0x66:
			d->opsize_prefix = true;
			break;
		case 0x67:
			d->addrsize_prefix = true;
			break;
		case 0xf0:
			d->lock = true;
			break;
		case 0xf2: case 0xf3:
			d->rep = b;
			break;
		default:
			/* REX counts only right before the opcode (SDM 2.2.1). */
			if (mode64(ctxt) && (b & 0xf0) == 0x40) {
				d->rex = b;
				continue;
			}
			*op = b;
			return X86_EMU_OK;
		}
		d->rex = 0;
	}
}

static int decode_opcode(struct x86_emu_ctxt *ctxt, struct decode_state *s,
			 u8 op)
{
	struct x86_emu_insn *d = &ctxt->d;
	int r;

	d->opcode = op;
	if (op != 0x0f) {
		s->desc = &onebyte_table[op];
		return X86_EMU_OK;
	}
	r = fetch_u8(ctxt, s, &d->opcode);
	if (r)
		return r;
	if (d->opcode == 0x38 || d->opcode == 0x3a) {
		d->opmap = d->opcode == 0x38 ? 2 : 3;
		s->desc = d->opmap == 2 ? &map38_desc : &map3a_desc;
		return fetch_u8(ctxt, s, &d->opcode);
	}
	d->opmap = 1;
	s->desc = &twobyte_table[d->opcode];
	return X86_EMU_OK;
}

static void decode_sizes(struct x86_emu_ctxt *ctxt, u16 flags)
{
	struct x86_emu_insn *d = &ctxt->d;
	bool def16 = ctxt->mode != X86_EMU_MODE_PROT32 && !mode64(ctxt);

	if (mode64(ctxt))
		d->addr_bytes = d->addrsize_prefix ? 4 : 8;
	else
		d->addr_bytes = (def16 ^ d->addrsize_prefix) ? 2 : 4;

	if (flags & F_BYTE)
		d->op_bytes = 1;
	else if (d->rex & 8)
		d->op_bytes = 8;
	else if (mode64(ctxt))
		d->op_bytes = d->opsize_prefix ? 2 : 4;
	else
		d->op_bytes = (def16 ^ d->opsize_prefix) ? 2 : 4;
}

/* ModRM, SIB and displacement (SDM Vol. 2A 2.1.5, tables 2-1 to 2-3). */
static int decode_modrm(struct x86_emu_ctxt *ctxt, struct decode_state *s,
			u16 flags)
{
	struct x86_emu_insn *d = &ctxt->d;
	unsigned int disp = 0;
	u64 v;
	int r;

	r = fetch_u8(ctxt, s, &d->modrm);
	if (r)
		return r;
	d->has_modrm = true;
	d->mod = d->modrm >> 6;
	d->reg = ((d->modrm >> 3) & 7) | ((d->rex & 4) << 1);
	d->rm = (d->modrm & 7) | ((d->rex & 1) << 3);
	if (flags & F_MODRM_REG) {
		/* MOV CR/DR: mod is ignored, always a register (SDM MOV-CR). */
		d->mod = 3;
		return X86_EMU_OK;
	}
	if (d->mod == 3)
		return X86_EMU_OK;

	if (d->addr_bytes == 2) {
		if (d->mod == 1)
			disp = 1;
		else if (d->mod == 2 || (d->modrm & 7) == 6)
			disp = 2;
	} else {
		if ((d->modrm & 7) == 4) {
			r = fetch_u8(ctxt, s, &d->sib);
			if (r)
				return r;
			d->has_sib = true;
		}
		if (d->mod == 1) {
			disp = 1;
		} else if (d->mod == 2) {
			disp = 4;
		} else if (d->has_sib ? (d->sib & 7) == 5 : (d->modrm & 7) == 5) {
			disp = 4;
			d->rip_relative = !d->has_sib && mode64(ctxt);
		}
	}
	if (!disp)
		return X86_EMU_OK;
	r = fetch(ctxt, s, disp, &v);
	if (r)
		return r;
	d->disp_bytes = disp;
	d->disp = (s64)sign_extend(v, disp);
	return X86_EMU_OK;
}

static unsigned int imm_size(const struct x86_emu_ctxt *ctxt, u16 flags)
{
	const struct x86_emu_insn *d = &ctxt->d;

	if (flags & F_IMM8)
		return 1;
	if (flags & F_IMM16)
		return 2;
	if (flags & F_IMMV)
		return d->op_bytes;
	if (flags & (F_IMMZ | F_FAR))
		return d->op_bytes == 2 ? 2 : 4;
	if ((flags & F_GRP3) && (d->reg & 7) < 2)
		return d->op_bytes == 1 ? 1 : (d->op_bytes == 2 ? 2 : 4);
	return 0;
}

static int decode_immediates(struct x86_emu_ctxt *ctxt,
			     struct decode_state *s, u16 flags)
{
	struct x86_emu_insn *d = &ctxt->d;
	unsigned int n = imm_size(ctxt, flags), n2 = 0;
	u64 v;
	int r;

	if (flags & F_MOFFS) {
		/* moffs is an unsigned offset of the address size. */
		r = fetch(ctxt, s, d->addr_bytes, &v);
		if (r)
			return r;
		d->disp_bytes = d->addr_bytes;
		d->disp = (s64)v;
		return X86_EMU_OK;
	}
	if (flags & F_FAR)		/* ptr16:16 or ptr16:32 */
		n2 = 2;
	if (flags & F_ENTER) {		/* ENTER iw, ib */
		n = 2;
		n2 = 1;
	}
	/* AMD SSE4a EXTRQ/INSERTQ (66/F2 0F 78) take ib, ib. */
	if (d->opmap == 1 && d->opcode == 0x78 &&
	    (d->opsize_prefix || d->rep == 0xf2)) {
		n = 1;
		n2 = 1;
	}
	if (n) {
		r = fetch(ctxt, s, n, &v);
		if (r)
			return r;
		d->imm_bytes = (u8)n;
		d->imm = sign_extend(v, n);
	}
	if (n2) {
		r = fetch(ctxt, s, n2, &v);
		if (r)
			return r;
		d->imm2 = (u16)v;
	}
	return X86_EMU_OK;
}

/* LOCK is legal only on a memory destination of a few opcodes (SDM LOCK). */
static bool lock_allowed(const struct x86_emu_insn *d, u16 flags)
{
	unsigned int reg = d->reg & 7;

	if (!(flags & F_LOCK) || d->mod == 3)
		return false;
	if (d->opmap == 0) {
		switch (d->opcode) {
		case 0x80 ... 0x83:
			return reg != 7;
		case 0xf6: case 0xf7:
			return reg == 2 || reg == 3;
		case 0xfe: case 0xff:
			return reg < 2;
		}
		return true;
	}
	if (d->opcode == 0xba)
		return reg >= 5;
	if (d->opcode == 0xc7)
		return reg == 1;
	return true;
}

/* Group encodings that are #UD (SDM appendix A.4, opcode extensions). */
static bool group_undefined(const struct x86_emu_insn *d)
{
	unsigned int reg = d->reg & 7;

	if (d->opmap == 0) {
		switch (d->opcode) {
		case 0xfe:
			return reg >= 2;
		case 0xff:
			return reg == 7;
		}
		return false;
	}
	if (d->opmap == 1 && d->opcode == 0xba)
		return reg < 4;
	return false;
}

/* Can the decoded instruction be executed by x86_emulate()? */
static bool decode_emulatable(struct x86_emu_ctxt *ctxt, u8 handler)
{
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int reg = d->reg & 7;

	switch (handler) {
	case H_NONE:
		return false;
	case H_MOV:
		if (d->opmap == 1)	/* MOVNTI: NP, memory only */
			return !d->opsize_prefix && !d->rep && d->mod != 3 &&
			       d->op_bytes >= 4;
		if (d->opcode == 0xc6 || d->opcode == 0xc7)
			return reg == 0;
		return true;
	case H_MOVSXD:
		return mode64(ctxt);
	case H_GRP3:
		return reg < 4;
	case H_INCDEC:
		return reg < 2;
	case H_MOVZX: case H_MOVSX: case H_BT: case H_CMPXCHG: case H_XADD:
		/* F2/F3 select other instructions (e.g. POPCNT, TZCNT). */
		return !d->rep;
	}
	return true;
}

/* 0F 20-23: expose the control/debug register and the GPR. */
static int decode_cr_dr(struct x86_emu_ctxt *ctxt)
{
	struct x86_emu_insn *d = &ctxt->d;

	d->cr_dr = d->reg;
	if (d->lock) {
		/* AMD: LOCK MOV CR0 accesses CR8 (APM Vol. 3, MOV CRn). */
		if (d->opcode & 1)
			return raise_ud(ctxt);
		d->cr_dr |= 8;
		d->lock = false;
	}
	d->op_bytes = mode64(ctxt) ? 8 : 4;
	return X86_EMU_OK;
}

/* The opcode byte of a VEX/EVEX prefix (C4/C5/62) or the legacy form? */
static int decode_check_vex(struct x86_emu_ctxt *ctxt,
			    const struct decode_state *s)
{
	if (mode64(ctxt))
		return X86_EMU_UNHANDLED;
	if (s->pos >= ctxt->insn_len)
		return X86_EMU_UNHANDLED;
	if ((ctxt->insn[s->pos] & 0xc0) == 0xc0)
		return X86_EMU_UNHANDLED;
	return X86_EMU_OK;
}

static int decode_operands(struct x86_emu_ctxt *ctxt, struct decode_state *s)
{
	struct x86_emu_insn *d = &ctxt->d;
	u16 flags = s->desc->flags;
	int r;

	if (!(flags & F_K))
		return X86_EMU_UNHANDLED;
	if (flags & F_VEX) {
		r = decode_check_vex(ctxt, s);
		if (r)
			return r;
	}
	if ((flags & F_UD) || ((flags & F_INV64) && mode64(ctxt)))
		return raise_ud(ctxt);
	decode_sizes(ctxt, flags);
	if (flags & F_MODRM) {
		r = decode_modrm(ctxt, s, flags);
		if (r)
			return r;
		/* AMD XOP (8F with reg != 0) is not supported. */
		if (d->opmap == 0 && d->opcode == 0x8f && (d->reg & 7))
			return X86_EMU_UNHANDLED;
	}
	return decode_immediates(ctxt, s, flags);
}

int x86_decode(struct x86_emu_ctxt *ctxt)
{
	struct x86_emu_insn *d = &ctxt->d;
	struct decode_state s = { 0, NULL };
	int r;
	u8 op;

	memset(d, 0, sizeof(*d));
	d->seg_override = -1;
	ctxt->decoded = false;
	ctxt->emulatable = false;

	r = decode_prefixes(ctxt, &s, &op);
	if (!r)
		r = decode_opcode(ctxt, &s, op);
	if (!r)
		r = decode_operands(ctxt, &s);
	if (r)
		return r;
	d->len = (u8)s.pos;

	if (d->opmap == 1 && d->opcode >= 0x20 && d->opcode <= 0x23) {
		r = decode_cr_dr(ctxt);
		if (r)
			return r;
	}
	if (d->lock && !lock_allowed(d, s.desc->flags))
		return raise_ud(ctxt);
	if (group_undefined(d))
		return raise_ud(ctxt);
	/* MOVNTI with a register operand is #UD. */
	if (d->opmap == 1 && d->opcode == 0xc3 && d->mod == 3)
		return raise_ud(ctxt);

	d->handler = s.desc->handler;
	ctxt->emulatable = decode_emulatable(ctxt, d->handler);
	ctxt->decoded = true;
	return X86_EMU_OK;
}

int x86_insn_length(struct x86_emu_ctxt *ctxt)
{
	if (x86_decode(ctxt) != X86_EMU_OK)
		return -1;
	return ctxt->d.len;
}

/* ------------------------------------------------------------------------ */
/* Registers */

static u64 reg_read(const struct x86_emu_ctxt *ctxt, unsigned int reg,
		    unsigned int bytes)
{
	/* Without REX, byte registers 4-7 are AH, CH, DH, BH. */
	if (bytes == 1 && !ctxt->d.rex && reg >= 4 && reg < 8)
		return (ctxt->gpr[reg - 4] >> 8) & 0xff;
	return ctxt->gpr[reg] & size_mask(bytes);
}

/* 8/16-bit writes merge, 32-bit writes zero-extend (SDM Vol. 1 3.4.1.1). */
static void reg_write(struct x86_emu_ctxt *ctxt, unsigned int reg,
		      unsigned int bytes, u64 val)
{
	u64 *p = &ctxt->gpr[reg];

	switch (bytes) {
	case 1:
		if (!ctxt->d.rex && reg >= 4 && reg < 8) {
			p = &ctxt->gpr[reg - 4];
			*p = (*p & ~0xff00ull) | ((val & 0xff) << 8);
		} else {
			*p = (*p & ~0xffull) | (val & 0xff);
		}
		break;
	case 2:
		*p = (*p & ~0xffffull) | (val & 0xffff);
		break;
	case 4:
		*p = val & 0xffffffffull;
		break;
	default:
		*p = val;
		break;
	}
}

static void update_flags(struct x86_emu_ctxt *ctxt, u64 mask, u64 flags)
{
	ctxt->rflags = (ctxt->rflags & ~mask) | (flags & mask);
}

static u64 code_mask(const struct x86_emu_ctxt *ctxt)
{
	switch (ctxt->mode) {
	case X86_EMU_MODE_PROT64:
		return ~0ull;
	case X86_EMU_MODE_PROT32:
		return 0xffffffffull;
	default:
		return 0xffff;
	}
}

/* Completes an instruction: RIP wraps to the code size. */
static int finish(struct x86_emu_ctxt *ctxt)
{
	ctxt->rip = (ctxt->rip + ctxt->d.len) & code_mask(ctxt);
	return X86_EMU_OK;
}

/* ------------------------------------------------------------------------ */
/* Addresses and memory */

static u64 ea_modrm16(const struct x86_emu_ctxt *ctxt, int *seg)
{
	static const u8 base[8] = { X86_RBX, X86_RBX, X86_RBP, X86_RBP,
				    X86_RSI, X86_RDI, X86_RBP, X86_RBX };
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int rm = d->modrm & 7;
	u64 ea = (u64)d->disp;

	if (!(d->mod == 0 && rm == 6)) {
		ea += ctxt->gpr[base[rm]];
		if (base[rm] == X86_RBP)
			*seg = X86_SEG_SS;
	}
	if (rm < 4)
		ea += ctxt->gpr[rm & 1 ? X86_RDI : X86_RSI];
	return ea & 0xffff;
}

/*
 * Effective address of the ModRM memory operand (SDM Vol. 1 3.7.5). SS is
 * the default segment for RSP and RBP bases only: R12 and R13 share their
 * low three bits but default to DS (SDM Vol. 1 table 3-5).
 */
static u64 ea_modrm(const struct x86_emu_ctxt *ctxt, int *seg)
{
	const struct x86_emu_insn *d = &ctxt->d;
	u64 ea = (u64)d->disp;
	unsigned int base, index;

	*seg = X86_SEG_DS;
	if (d->addr_bytes == 2) {
		ea = ea_modrm16(ctxt, seg);
	} else if (d->rip_relative) {
		ea += ctxt->rip + d->len;
	} else if (d->has_sib) {
		base = (d->sib & 7) | ((d->rex & 1) << 3);
		index = ((d->sib >> 3) & 7) | ((d->rex & 2) << 2);
		if (!(d->mod == 0 && (d->sib & 7) == 5)) {
			ea += ctxt->gpr[base];
			if (base == X86_RSP || base == X86_RBP)
				*seg = X86_SEG_SS;
		}
		if (index != X86_RSP)
			ea += ctxt->gpr[index] << (d->sib >> 6);
	} else if (!(d->mod == 0 && (d->modrm & 7) == 5)) {
		ea += ctxt->gpr[d->rm];
		if (d->rm == X86_RBP)
			*seg = X86_SEG_SS;
	}
	if (d->seg_override >= 0)
		*seg = d->seg_override;
	return ea & size_mask(d->addr_bytes);
}

static bool is_canonical(const struct x86_emu_ctxt *ctxt, u64 la)
{
	unsigned int shift = ctxt->la57 ? 64 - 57 : 64 - 48;

	return (u64)((s64)(la << shift) >> shift) == la;
}

/*
 * Segment base + effective address. In 64-bit mode only FS/GS have a base
 * and a non-canonical address faults with #SS(0) for SS, else #GP(0) (SDM
 * Vol. 3A 6.15). Segment limits and rights are not checked.
 */
static int linearize(struct x86_emu_ctxt *ctxt, int seg, u64 ea,
		     unsigned int size, u64 *la)
{
	u64 base = ctxt->seg_base[seg];

	if (!mode64(ctxt)) {
		*la = (base + ea) & 0xffffffffull;
		return X86_EMU_OK;
	}
	if (seg != X86_SEG_FS && seg != X86_SEG_GS)
		base = 0;
	*la = base + ea;
	if (!is_canonical(ctxt, *la) || !is_canonical(ctxt, *la + size - 1))
		return raise_exception(ctxt, seg == X86_SEG_SS ?
				       X86_EMU_VEC_SS : X86_EMU_VEC_GP, true, 0);
	return X86_EMU_OK;
}

static u64 la_next(const struct x86_emu_ctxt *ctxt, u64 la, unsigned int n)
{
	return mode64(ctxt) ? la + n : (la + n) & 0xffffffffull;
}

/* Split an access at 4 KiB page boundaries; callbacks never cross one. */
static int mem_access(struct x86_emu_ctxt *ctxt, u64 la, void *data,
		      unsigned int size, bool write)
{
	u8 *p = data;
	unsigned int chunk;
	int r;

	while (size) {
		chunk = 4096 - (unsigned int)(la & 4095);
		if (chunk > size)
			chunk = size;
		if (write)
			r = ctxt->ops->write(ctxt, la, p, chunk);
		else
			r = ctxt->ops->read(ctxt, la, p, chunk);
		if (r)
			return r;
		la = la_next(ctxt, la, chunk);
		p += chunk;
		size -= chunk;
	}
	return X86_EMU_OK;
}

static void put_le(u8 *p, u64 val, unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes; i++)
		p[i] = (u8)(val >> (i * 8));
}

static u64 get_le(const u8 *p, unsigned int bytes)
{
	unsigned int i;
	u64 v = 0;

	for (i = 0; i < bytes; i++)
		v |= (u64)p[i] << (i * 8);
	return v;
}

static int read_val(struct x86_emu_ctxt *ctxt, u64 la, unsigned int bytes,
		    u64 *val)
{
	u8 b[8];
	int r = mem_access(ctxt, la, b, bytes, false);

	if (!r)
		*val = get_le(b, bytes);
	return r;
}

static int write_val(struct x86_emu_ctxt *ctxt, u64 la, unsigned int bytes,
		     u64 val)
{
	u8 b[8];

	put_le(b, val, bytes);
	return mem_access(ctxt, la, b, bytes, true);
}

/* ------------------------------------------------------------------------ */
/* Operands */

struct opnd {
	bool mem;
	u8 reg;
	u8 bytes;
	u64 la;
	u64 val;
};

static void opnd_reg(struct opnd *o, unsigned int reg, unsigned int bytes)
{
	o->mem = false;
	o->reg = (u8)reg;
	o->bytes = (u8)bytes;
}

static void opnd_imm(struct opnd *o, u64 imm, unsigned int bytes)
{
	o->mem = false;
	o->reg = 0xff;
	o->bytes = (u8)bytes;
	o->val = imm & size_mask(bytes);
}

/* Memory operand at ModRM's effective address plus @adjust bytes. */
static int opnd_mem(struct x86_emu_ctxt *ctxt, struct opnd *o,
		    unsigned int bytes, s64 adjust)
{
	int seg;
	u64 ea = ea_modrm(ctxt, &seg);

	ea = (ea + (u64)adjust) & size_mask(ctxt->d.addr_bytes);
	o->mem = true;
	o->bytes = (u8)bytes;
	return linearize(ctxt, seg, ea, bytes, &o->la);
}

static int opnd_rm(struct x86_emu_ctxt *ctxt, struct opnd *o,
		   unsigned int bytes)
{
	if (ctxt->d.mod == 3) {
		opnd_reg(o, ctxt->d.rm, bytes);
		return X86_EMU_OK;
	}
	return opnd_mem(ctxt, o, bytes, 0);
}

static int opnd_load(struct x86_emu_ctxt *ctxt, struct opnd *o)
{
	if (o->mem)
		return read_val(ctxt, o->la, o->bytes, &o->val);
	if (o->reg != 0xff)
		o->val = reg_read(ctxt, o->reg, o->bytes);
	return X86_EMU_OK;
}

static int opnd_store(struct x86_emu_ctxt *ctxt, const struct opnd *o,
		      u64 val)
{
	if (o->mem)
		return write_val(ctxt, o->la, o->bytes, val);
	reg_write(ctxt, o->reg, o->bytes, val);
	return X86_EMU_OK;
}

/* ------------------------------------------------------------------------ */
/* Flags (SDM Vol. 1 3.4.3.1 and appendix A) */

static u64 flags_szp(u64 res, unsigned int bytes)
{
	u64 f = 0;
	u8 p = (u8)res;

	res &= size_mask(bytes);
	if (!res)
		f |= X86_EMU_FLAGS_ZF;
	if (res >> (bytes * 8 - 1))
		f |= X86_EMU_FLAGS_SF;
	p ^= p >> 4;
	p ^= p >> 2;
	p ^= p >> 1;
	if (!(p & 1))
		f |= X86_EMU_FLAGS_PF;
	return f;
}

/* Flags of res = a + b + carry: carry out of and into the sign bit. */
static u64 flags_add(u64 a, u64 b, u64 res, unsigned int bytes)
{
	unsigned int sign = bytes * 8 - 1;
	u64 f = flags_szp(res, bytes);

	if ((((a & b) | ((a | b) & ~res)) >> sign) & 1)
		f |= X86_EMU_FLAGS_CF;
	if ((((a ^ res) & (b ^ res)) >> sign) & 1)
		f |= X86_EMU_FLAGS_OF;
	if ((a ^ b ^ res) & 0x10)
		f |= X86_EMU_FLAGS_AF;
	return f;
}

/* Flags of res = a - b - borrow. */
static u64 flags_sub(u64 a, u64 b, u64 res, unsigned int bytes)
{
	unsigned int sign = bytes * 8 - 1;
	u64 f = flags_szp(res, bytes);

	if ((((~a & b) | ((~a | b) & res)) >> sign) & 1)
		f |= X86_EMU_FLAGS_CF;
	if ((((a ^ b) & (a ^ res)) >> sign) & 1)
		f |= X86_EMU_FLAGS_OF;
	if ((a ^ b ^ res) & 0x10)
		f |= X86_EMU_FLAGS_AF;
	return f;
}

/*
 * One ALU operation on @bytes-wide operands. Returns the result and sets
 * *flags to the new arithmetic flags. AF is cleared by the logical ops
 * (architecturally undefined there).
 */
static u64 alu_op(unsigned int op, unsigned int bytes, u64 a, u64 b,
		  u64 rflags, u64 *flags)
{
	u64 c = rflags & X86_EMU_FLAGS_CF;
	u64 res;

	switch (op) {
	case ALU_ADD:
	case ALU_ADC:
		res = a + b + (op == ALU_ADC ? c : 0);
		*flags = flags_add(a, b, res, bytes);
		break;
	case ALU_SUB:
	case ALU_SBB:
	case ALU_CMP:
		res = a - b - (op == ALU_SBB ? c : 0);
		*flags = flags_sub(a, b, res, bytes);
		break;
	case ALU_OR:
		res = a | b;
		*flags = flags_szp(res, bytes);
		break;
	case ALU_XOR:
		res = a ^ b;
		*flags = flags_szp(res, bytes);
		break;
	default:	/* AND, TEST */
		res = a & b;
		*flags = flags_szp(res, bytes);
		break;
	}
	return res & size_mask(bytes);
}

/* ------------------------------------------------------------------------ */
/* Execution: data movement */

static int em_mov(struct x86_emu_ctxt *ctxt)
{
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int bytes = d->op_bytes;
	struct opnd dst = {}, src = {};
	int seg, r;

	if (d->opmap == 1) {			/* MOVNTI m, r */
		r = opnd_rm(ctxt, &dst, bytes);
		opnd_reg(&src, d->reg, bytes);
	} else if ((d->opcode & 0xfc) == 0xa0) {	/* A0-A3 moffs */
		seg = d->seg_override >= 0 ? d->seg_override : X86_SEG_DS;
		dst.mem = true;
		dst.bytes = (u8)bytes;
		r = linearize(ctxt, seg, (u64)d->disp, bytes, &dst.la);
		opnd_reg(&src, X86_RAX, bytes);
		if (d->opcode < 0xa2) {
			src = dst;
			opnd_reg(&dst, X86_RAX, bytes);
		}
	} else if (d->opcode >= 0xc6) {		/* C6/C7 r/m, imm */
		r = opnd_rm(ctxt, &dst, bytes);
		opnd_imm(&src, d->imm, bytes);
	} else if (d->opcode & 2) {		/* 8A/8B r, r/m */
		opnd_reg(&dst, d->reg, bytes);
		r = opnd_rm(ctxt, &src, bytes);
	} else {				/* 88/89 r/m, r */
		r = opnd_rm(ctxt, &dst, bytes);
		opnd_reg(&src, d->reg, bytes);
	}
	if (!r)
		r = opnd_load(ctxt, &src);
	if (!r)
		r = opnd_store(ctxt, &dst, src.val);
	return r ? r : finish(ctxt);
}

/* MOVZX, MOVSX (0F B6/B7/BE/BF) and MOVSXD (63). */
static int em_movx(struct x86_emu_ctxt *ctxt, bool sign)
{
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int bytes = d->op_bytes;
	unsigned int sbytes;
	struct opnd src = {};
	u64 val;
	int r;

	if (d->opmap == 0)
		sbytes = bytes == 8 ? 4 : bytes;
	else
		sbytes = (d->opcode & 1) ? 2 : 1;
	r = opnd_rm(ctxt, &src, sbytes);
	if (!r)
		r = opnd_load(ctxt, &src);
	if (r)
		return r;
	val = sign ? sign_extend(src.val, sbytes) : src.val;
	reg_write(ctxt, d->reg, bytes, val);
	return finish(ctxt);
}

/* XCHG r/m, r: the memory write happens before the register update. */
static int em_xchg(struct x86_emu_ctxt *ctxt)
{
	unsigned int bytes = ctxt->d.op_bytes;
	struct opnd a = {}, b = {};
	int r;

	opnd_reg(&b, ctxt->d.reg, bytes);
	r = opnd_rm(ctxt, &a, bytes);
	if (!r)
		r = opnd_load(ctxt, &a);
	if (!r)
		r = opnd_load(ctxt, &b);
	if (!r)
		r = opnd_store(ctxt, &a, b.val);
	if (r)
		return r;
	opnd_store(ctxt, &b, a.val);
	return finish(ctxt);
}

/* ------------------------------------------------------------------------ */
/* Execution: arithmetic */

static int alu_exec(struct x86_emu_ctxt *ctxt, unsigned int op,
		    struct opnd *dst, struct opnd *src)
{
	u64 res, flags;
	int r;

	r = opnd_load(ctxt, dst);
	if (!r)
		r = opnd_load(ctxt, src);
	if (r)
		return r;
	res = alu_op(op, dst->bytes, dst->val, src->val, ctxt->rflags, &flags);
	if (op != ALU_CMP && op != ALU_TEST) {
		r = opnd_store(ctxt, dst, res);
		if (r)
			return r;
	}
	update_flags(ctxt, X86_EMU_FLAGS_ARITH, flags);
	return finish(ctxt);
}

/* Opcodes 00-3D: forms Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev / AL,ib / eAX,iz. */
static int em_alu(struct x86_emu_ctxt *ctxt)
{
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int bytes = d->op_bytes;
	struct opnd dst = {}, src = {};
	int r = X86_EMU_OK;

	switch (d->opcode & 7) {
	case 0: case 1:
		r = opnd_rm(ctxt, &dst, bytes);
		opnd_reg(&src, d->reg, bytes);
		break;
	case 2: case 3:
		opnd_reg(&dst, d->reg, bytes);
		r = opnd_rm(ctxt, &src, bytes);
		break;
	default:
		opnd_reg(&dst, X86_RAX, bytes);
		opnd_imm(&src, d->imm, bytes);
		break;
	}
	return r ? r : alu_exec(ctxt, (d->opcode >> 3) & 7, &dst, &src);
}

/* Group 1 (80-83): op r/m, imm (imm8 of 83 sign-extended). */
static int em_grp1(struct x86_emu_ctxt *ctxt)
{
	const struct x86_emu_insn *d = &ctxt->d;
	struct opnd dst = {}, src = {};
	int r;

	r = opnd_rm(ctxt, &dst, d->op_bytes);
	if (r)
		return r;
	opnd_imm(&src, d->imm, d->op_bytes);
	return alu_exec(ctxt, d->reg & 7, &dst, &src);
}

/* TEST r/m, r (84/85) and TEST acc, imm (A8/A9). */
static int em_test(struct x86_emu_ctxt *ctxt)
{
	const struct x86_emu_insn *d = &ctxt->d;
	struct opnd dst = {}, src = {};
	int r = X86_EMU_OK;

	if (d->opcode >= 0xa8) {
		opnd_reg(&dst, X86_RAX, d->op_bytes);
		opnd_imm(&src, d->imm, d->op_bytes);
	} else {
		r = opnd_rm(ctxt, &dst, d->op_bytes);
		opnd_reg(&src, d->reg, d->op_bytes);
	}
	return r ? r : alu_exec(ctxt, ALU_TEST, &dst, &src);
}

/* Group 3 (F6/F7) /0 /1 TEST imm, /2 NOT, /3 NEG. */
static int em_grp3(struct x86_emu_ctxt *ctxt)
{
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int bytes = d->op_bytes;
	struct opnd dst = {}, src = {};
	u64 res, flags;
	int r;

	r = opnd_rm(ctxt, &dst, bytes);
	if (r)
		return r;
	if ((d->reg & 7) < 2) {
		opnd_imm(&src, d->imm, bytes);
		return alu_exec(ctxt, ALU_TEST, &dst, &src);
	}
	r = opnd_load(ctxt, &dst);
	if (r)
		return r;
	if ((d->reg & 7) == 2) {		/* NOT: no flags */
		r = opnd_store(ctxt, &dst, ~dst.val & size_mask(bytes));
		return r ? r : finish(ctxt);
	}
	/* NEG: CF = (source != 0), the rest as 0 - source (SDM NEG). */
	res = (0 - dst.val) & size_mask(bytes);
	flags = flags_sub(0, dst.val, res, bytes);
	r = opnd_store(ctxt, &dst, res);
	if (r)
		return r;
	update_flags(ctxt, X86_EMU_FLAGS_ARITH, flags);
	return finish(ctxt);
}

/* INC/DEC r/m (FE/FF /0 /1): CF is preserved. */
static int em_incdec(struct x86_emu_ctxt *ctxt)
{
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int bytes = d->op_bytes;
	struct opnd dst = {};
	u64 res, flags;
	int r;

	r = opnd_rm(ctxt, &dst, bytes);
	if (!r)
		r = opnd_load(ctxt, &dst);
	if (r)
		return r;
	if (d->reg & 1) {
		res = (dst.val - 1) & size_mask(bytes);
		flags = flags_sub(dst.val, 1, res, bytes);
	} else {
		res = (dst.val + 1) & size_mask(bytes);
		flags = flags_add(dst.val, 1, res, bytes);
	}
	r = opnd_store(ctxt, &dst, res);
	if (r)
		return r;
	update_flags(ctxt, X86_EMU_FLAGS_ARITH & ~X86_EMU_FLAGS_CF, flags);
	return finish(ctxt);
}

/*
 * BT/BTS/BTR/BTC (0F A3/AB/B3/BB, 0F BA /4-7). With a register bit offset
 * and a memory operand the offset is signed and selects an operand-sized
 * unit relative to the effective address (SDM BT, "bit base"). Only CF is
 * written; OF/SF/AF/PF are undefined and left unchanged.
 */
static int em_bt(struct x86_emu_ctxt *ctxt)
{
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int bytes = d->op_bytes, bits = bytes * 8;
	unsigned int op, shift = bytes == 2 ? 4 : (bytes == 4 ? 5 : 6);
	struct opnd dst = {};
	s64 off;
	u64 bit, res;
	int r;

	if (d->opcode == 0xba) {
		op = d->reg & 3;
		off = (s64)(d->imm & (bits - 1));
	} else {
		op = (d->opcode >> 3) & 3;
		off = (s64)sign_extend(reg_read(ctxt, d->reg, bytes), bytes);
	}
	if (d->mod == 3 || d->opcode == 0xba)
		r = opnd_rm(ctxt, &dst, bytes);
	else
		r = opnd_mem(ctxt, &dst, bytes, (off >> shift) * (s64)bytes);
	if (!r)
		r = opnd_load(ctxt, &dst);
	if (r)
		return r;
	bit = 1ull << (off & (bits - 1));
	switch (op) {
	case 1:				/* BTS */
		res = dst.val | bit;
		break;
	case 2:				/* BTR */
		res = dst.val & ~bit;
		break;
	case 3:				/* BTC */
		res = dst.val ^ bit;
		break;
	default:			/* BT */
		res = dst.val;
		break;
	}
	if (op) {
		r = opnd_store(ctxt, &dst, res);
		if (r)
			return r;
	}
	update_flags(ctxt, X86_EMU_FLAGS_CF, (dst.val & bit) ? X86_EMU_FLAGS_CF : 0);
	return finish(ctxt);
}

/*
 * CMPXCHG r/m, r (0F B0/B1). On mismatch a memory destination is written
 * back unchanged and the accumulator loaded (SDM CMPXCHG); a register
 * destination is left alone, so a 32-bit one keeps its upper half.
 */
static int em_cmpxchg(struct x86_emu_ctxt *ctxt)
{
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int bytes = d->op_bytes;
	struct opnd dst = {}, src = {}, acc = {};
	u64 flags;
	int r;

	opnd_reg(&src, d->reg, bytes);
	opnd_reg(&acc, X86_RAX, bytes);
	r = opnd_rm(ctxt, &dst, bytes);
	if (!r)
		r = opnd_load(ctxt, &dst);
	if (r)
		return r;
	opnd_load(ctxt, &src);
	opnd_load(ctxt, &acc);
	alu_op(ALU_CMP, bytes, acc.val, dst.val, 0, &flags);
	if (acc.val == dst.val || dst.mem) {
		r = opnd_store(ctxt, &dst,
			       acc.val == dst.val ? src.val : dst.val);
		if (r)
			return r;
	}
	if (acc.val != dst.val)
		opnd_store(ctxt, &acc, dst.val);
	update_flags(ctxt, X86_EMU_FLAGS_ARITH, flags);
	return finish(ctxt);
}

/*
 * XADD r/m, r (0F C0/C1): the source gets the old destination, then the
 * destination the sum, so XADD reg, reg with one register leaves the sum.
 * A memory destination is written first: the register file must not
 * change if the write does not complete.
 */
static int em_xadd(struct x86_emu_ctxt *ctxt)
{
	const struct x86_emu_insn *d = &ctxt->d;
	unsigned int bytes = d->op_bytes;
	struct opnd dst = {}, src = {};
	u64 res, flags;
	int r;

	opnd_reg(&src, d->reg, bytes);
	r = opnd_rm(ctxt, &dst, bytes);
	if (!r)
		r = opnd_load(ctxt, &dst);
	if (r)
		return r;
	opnd_load(ctxt, &src);
	res = alu_op(ALU_ADD, bytes, dst.val, src.val, 0, &flags);
	if (!dst.mem)
		opnd_store(ctxt, &src, dst.val);
	r = opnd_store(ctxt, &dst, res);
	if (r)
		return r;
	if (dst.mem)
		opnd_store(ctxt, &src, dst.val);
	update_flags(ctxt, X86_EMU_FLAGS_ARITH, flags);
	return finish(ctxt);
}

/* ------------------------------------------------------------------------ */
/* Execution: string instructions (SDM Vol. 1 7.3.9, Vol. 2B REP) */

/* str_setup(): go on with the batch (any other value is the result). */
#define STR_GO		(-1)

struct str_op {
	unsigned int size;	/* item size */
	unsigned int n;		/* items this call */
	u64 count;		/* RCX (address-size wide) before, if REP */
	u64 si, di;		/* effective addresses */
	u64 src_la, dst_la;
	bool uses_src, uses_dst;
};

/* Items that fit before a page end or an address-size wrap (DF = 0). */
static u64 str_room(const struct x86_emu_ctxt *ctxt, u64 ea, u64 la,
		    unsigned int size)
{
	u64 bytes = 4096 - (la & 4095);
	u64 amask = size_mask(ctxt->d.addr_bytes);

	if (amask != ~0ull && amask - ea + 1 < bytes)
		bytes = amask - ea + 1;
	return bytes / size;
}

static bool str_batch_ok(struct x86_emu_ctxt *ctxt, const struct str_op *s)
{
	const struct x86_emu_ops *ops = ctxt->ops;

	if (!ops->batch_ok)
		return true;
	if (s->uses_src && !ops->batch_ok(ctxt, s->src_la))
		return false;
	return !s->uses_dst || ops->batch_ok(ctxt, s->dst_la);
}

/*
 * Work out this call's batch: with REP and DF = 0, up to max_rep_count items
 * (0: no limit but the buffer) that stay within one page of each address
 * and that ops->batch_ok() allows; otherwise one item.
 */
static void str_batch(struct x86_emu_ctxt *ctxt, struct str_op *s,
		      bool batchable)
{
	u64 n = 1;

	if (ctxt->d.rep && batchable && !(ctxt->rflags & X86_EMU_FLAGS_DF)) {
		n = s->count;
		if (ctxt->max_rep_count && n > ctxt->max_rep_count)
			n = ctxt->max_rep_count;
		if (n > X86_EMU_BUF_SIZE / s->size)
			n = X86_EMU_BUF_SIZE / s->size;
		if (s->uses_src && n > str_room(ctxt, s->si, s->src_la, s->size))
			n = str_room(ctxt, s->si, s->src_la, s->size);
		if (s->uses_dst && n > str_room(ctxt, s->di, s->dst_la, s->size))
			n = str_room(ctxt, s->di, s->dst_la, s->size);
		/*
		 * MOVS reads a whole batch before writing it, but hardware
		 * moves the items in order (SDM Vol. 2B REP, MOVS): when the
		 * destination starts inside the source range, a later item
		 * reads what an earlier one stored. Stop before the overlap.
		 */
		if (s->uses_src && s->uses_dst && s->dst_la > s->src_la &&
		    s->dst_la - s->src_la < n * s->size)
			n = (s->dst_la - s->src_la) / s->size;
		if (!n)
			n = 1;	/* one item straddling a page: split access */
		if (n > 1 && !str_batch_ok(ctxt, s))
			n = 1;
	}
	s->n = (unsigned int)n;
}

static int str_setup(struct x86_emu_ctxt *ctxt, struct str_op *s,
		     bool src, bool dst, bool batchable)
{
	const struct x86_emu_insn *d = &ctxt->d;
	u64 amask = size_mask(d->addr_bytes);
	int seg = d->seg_override >= 0 ? d->seg_override : X86_SEG_DS;
	int r;

	s->size = d->op_bytes;
	s->count = d->rep ? ctxt->gpr[X86_RCX] & amask : 1;
	s->si = ctxt->gpr[X86_RSI] & amask;
	s->di = ctxt->gpr[X86_RDI] & amask;
	s->uses_src = src;
	s->uses_dst = dst;
	s->n = 0;
	/* A REP with a zero count does nothing but complete (SDM REP). */
	if (!s->count)
		return finish(ctxt);
	if (src) {
		r = linearize(ctxt, seg, s->si, s->size, &s->src_la);
		if (r)
			return r;
	}
	if (dst) {
		/* The destination is always ES, no override (SDM MOVS). */
		r = linearize(ctxt, X86_SEG_ES, s->di, s->size, &s->dst_la);
		if (r)
			return r;
	}
	str_batch(ctxt, s, batchable);
	return STR_GO;
}

/* Advance RSI/RDI/RCX and RIP after a batch; @stop ends a REPE/REPNE. */
static int str_commit(struct x86_emu_ctxt *ctxt, const struct str_op *s,
		      bool stop)
{
	const struct x86_emu_insn *d = &ctxt->d;
	u64 delta = (u64)s->n * s->size;
	unsigned int ab = d->addr_bytes;

	if (ctxt->rflags & X86_EMU_FLAGS_DF)
		delta = 0 - delta;
	if (s->uses_src)
		reg_write(ctxt, X86_RSI, ab, s->si + delta);
	if (s->uses_dst)
		reg_write(ctxt, X86_RDI, ab, s->di + delta);
	if (!d->rep)
		return finish(ctxt);
	reg_write(ctxt, X86_RCX, ab, s->count - s->n);
	/* A batch that leaves RCX != 0 re-executes, as hardware may do. */
	if (s->count == s->n || stop)
		return finish(ctxt);
	return X86_EMU_OK;
}


static int em_movs(struct x86_emu_ctxt *ctxt)
{
	struct str_op s;
	unsigned int bytes;
	int r;

	r = str_setup(ctxt, &s, true, true, true);
	if (r != STR_GO)
		return r;
	bytes = s.n * s.size;
	r = mem_access(ctxt, s.src_la, ctxt->buf, bytes, false);
	if (!r)
		r = mem_access(ctxt, s.dst_la, ctxt->buf, bytes, true);
	return r ? r : str_commit(ctxt, &s, false);
}

static int em_stos(struct x86_emu_ctxt *ctxt)
{
	u64 val = reg_read(ctxt, X86_RAX, ctxt->d.op_bytes);
	struct str_op s;
	unsigned int i;
	int r;

	r = str_setup(ctxt, &s, false, true, true);
	if (r != STR_GO)
		return r;
	for (i = 0; i < s.n; i++)
		put_le(ctxt->buf + i * s.size, val, s.size);
	r = mem_access(ctxt, s.dst_la, ctxt->buf, s.n * s.size, true);
	return r ? r : str_commit(ctxt, &s, false);
}

/* LODS is not batched: every read of an MMIO source may have effects. */
static int em_lods(struct x86_emu_ctxt *ctxt)
{
	struct str_op s;
	u64 val;
	int r;

	r = str_setup(ctxt, &s, true, false, false);
	if (r != STR_GO)
		return r;
	r = read_val(ctxt, s.src_la, s.size, &val);
	if (r)
		return r;
	reg_write(ctxt, X86_RAX, s.size, val);
	return str_commit(ctxt, &s, false);
}

/* REPE stops when ZF = 0, REPNE when ZF = 1 (SDM REP, table 4-?). */
static bool str_cmp_stop(const struct x86_emu_ctxt *ctxt, u64 flags)
{
	bool zf = flags & X86_EMU_FLAGS_ZF;

	return ctxt->d.rep == 0xf3 ? !zf : zf;
}

/* CMPS: compares [RSI] with ES:[RDI], i.e. src - dst. One item per call. */
static int em_cmps(struct x86_emu_ctxt *ctxt)
{
	struct str_op s;
	u64 a, b, flags;
	int r;

	r = str_setup(ctxt, &s, true, true, false);
	if (r != STR_GO)
		return r;
	r = read_val(ctxt, s.src_la, s.size, &a);
	if (!r)
		r = read_val(ctxt, s.dst_la, s.size, &b);
	if (r)
		return r;
	alu_op(ALU_CMP, s.size, a, b, 0, &flags);
	update_flags(ctxt, X86_EMU_FLAGS_ARITH, flags);
	return str_commit(ctxt, &s, str_cmp_stop(ctxt, flags));
}

static int em_scas(struct x86_emu_ctxt *ctxt)
{
	struct str_op s;
	u64 a, b, flags;
	int r;

	r = str_setup(ctxt, &s, false, true, false);
	if (r != STR_GO)
		return r;
	a = reg_read(ctxt, X86_RAX, s.size);
	r = read_val(ctxt, s.dst_la, s.size, &b);
	if (r)
		return r;
	alu_op(ALU_CMP, s.size, a, b, 0, &flags);
	update_flags(ctxt, X86_EMU_FLAGS_ARITH, flags);
	return str_commit(ctxt, &s, str_cmp_stop(ctxt, flags));
}

/*
 * Port I/O is at most 32 bits wide: INS and OUTS ignore REX.W (SDM Vol. 2B,
 * INS/OUTS: "64-bit operand size is not encodable").
 */
static void str_io_size(struct x86_emu_ctxt *ctxt)
{
	if (ctxt->d.op_bytes == 8)
		ctxt->d.op_bytes = 4;
}

/* INS: the port read comes first, then the memory write. */
static int em_ins(struct x86_emu_ctxt *ctxt)
{
	u16 port = (u16)ctxt->gpr[X86_RDX];
	struct str_op s;
	int r;

	str_io_size(ctxt);
	r = str_setup(ctxt, &s, false, true, true);
	if (r != STR_GO)
		return r;
	r = ctxt->ops->pio_in(ctxt, port, s.size, s.n, ctxt->buf);
	if (!r)
		r = mem_access(ctxt, s.dst_la, ctxt->buf, s.n * s.size, true);
	return r ? r : str_commit(ctxt, &s, false);
}

static int em_outs(struct x86_emu_ctxt *ctxt)
{
	u16 port = (u16)ctxt->gpr[X86_RDX];
	struct str_op s;
	int r;

	str_io_size(ctxt);
	r = str_setup(ctxt, &s, true, false, true);
	if (r != STR_GO)
		return r;
	r = mem_access(ctxt, s.src_la, ctxt->buf, s.n * s.size, false);
	if (!r)
		r = ctxt->ops->pio_out(ctxt, port, s.size, s.n, ctxt->buf);
	return r ? r : str_commit(ctxt, &s, false);
}

/* ------------------------------------------------------------------------ */

static int emulate_one(struct x86_emu_ctxt *ctxt)
{
	switch (ctxt->d.handler) {
	case H_MOV:	return em_mov(ctxt);
	case H_MOVZX:	return em_movx(ctxt, false);
	case H_MOVSX:	return em_movx(ctxt, true);
	case H_MOVSXD:	return em_movx(ctxt, true);
	case H_ALU:	return em_alu(ctxt);
	case H_GRP1:	return em_grp1(ctxt);
	case H_TEST:	return em_test(ctxt);
	case H_GRP3:	return em_grp3(ctxt);
	case H_INCDEC:	return em_incdec(ctxt);
	case H_XCHG:	return em_xchg(ctxt);
	case H_BT:	return em_bt(ctxt);
	case H_CMPXCHG:	return em_cmpxchg(ctxt);
	case H_XADD:	return em_xadd(ctxt);
	case H_MOVS:	return em_movs(ctxt);
	case H_CMPS:	return em_cmps(ctxt);
	case H_STOS:	return em_stos(ctxt);
	case H_LODS:	return em_lods(ctxt);
	case H_SCAS:	return em_scas(ctxt);
	case H_INS:	return em_ins(ctxt);
	case H_OUTS:	return em_outs(ctxt);
	}
	return X86_EMU_UNHANDLED;
}

int x86_emulate(struct x86_emu_ctxt *ctxt)
{
	int r;

	if (!ctxt->decoded) {
		r = x86_decode(ctxt);
		if (r)
			return r;
	}
	ctxt->decoded = false;
	if (!ctxt->emulatable)
		return X86_EMU_UNHANDLED;
	return emulate_one(ctxt);
}
