/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Generated cases: every ModRM/SIB/displacement form in every mode and
 * address size, with and without segment overrides and REX bits, checked
 * against a reference effective-address computation written independently
 * of the emulator (from SDM Vol. 2A tables 2-1, 2-2 and 2-3). Part of
 * emulator_test.c. The instruction is MOV r32/r16, r/m (8B) or, for the
 * store variant, MOV r/m, r (89); accesses go to a flat "anything mapped"
 * memory that logs the linear address.
 */

static u64 gen_la;
static unsigned int gen_reads, gen_size;

static int gen_read(struct x86_emu_ctxt *ctxt, u64 la, void *data,
		    unsigned int size)
{
	(void)ctxt;
	gen_la = la;
	gen_size = size;
	gen_reads++;
	memset(data, 0x5c, size);
	return X86_EMU_OK;
}

static int gen_write(struct x86_emu_ctxt *ctxt, u64 la, const void *data,
		     unsigned int size)
{
	(void)ctxt;
	(void)data;
	gen_la = la;
	gen_size = size;
	gen_reads++;
	return X86_EMU_OK;
}

static const struct x86_emu_ops gen_ops = {
	.read = gen_read,
	.write = gen_write,
	.pio_in = fake_pio_in,
	.pio_out = fake_pio_out,
};

struct gen_form {
	int mode;
	bool a67;
	int seg_prefix;		/* -1 or X86_SEG_* */
	u8 rex;
	u8 mod, rm, sib;
	bool store;
};

static const u8 seg_prefix_byte[6] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };

/*
 * Register values: distinct and 8-byte aligned (so no access crosses a
 * page), with junk above the address size that the emulator must drop.
 */
static u64 gen_reg(int mode, bool a67, unsigned int i)
{
	u64 junk = (mode == P64 && !a67) ? 0 : 0xdeadbeef00000000ull;

	return junk | (0x1000ull * (i + 1)) | (i * 8);
}

static int gen_addr_bytes(const struct gen_form *f)
{
	if (f->mode == P64)
		return f->a67 ? 4 : 8;
	if (f->mode == P32)
		return f->a67 ? 2 : 4;
	return f->a67 ? 4 : 2;
}

/* Reference EA: returns the EA, *seg the default segment, *dlen disp size. */
static u64 ref_ea(const struct gen_form *f, const u64 *gpr, u64 disp8,
		  u64 disp32, u64 disp16, int *seg, int *dlen)
{
	int ab = gen_addr_bytes(f);
	u64 ea = 0, mask = ab == 8 ? ~0ull : (1ull << (ab * 8)) - 1;
	unsigned int b, x, s;

	*seg = X86_SEG_DS;
	*dlen = f->mod == 1 ? 1 : (f->mod == 2 ? (ab == 2 ? 2 : 4) : 0);
	if (ab == 2) {
		switch (f->rm) {
		case 0: ea = gpr[RBX] + gpr[RSI]; break;
		case 1: ea = gpr[RBX] + gpr[RDI]; break;
		case 2: ea = gpr[RBP] + gpr[RSI]; *seg = X86_SEG_SS; break;
		case 3: ea = gpr[RBP] + gpr[RDI]; *seg = X86_SEG_SS; break;
		case 4: ea = gpr[RSI]; break;
		case 5: ea = gpr[RDI]; break;
		case 6:
			if (f->mod == 0) {
				*dlen = 2;
			} else {
				ea = gpr[RBP];
				*seg = X86_SEG_SS;
			}
			break;
		case 7: ea = gpr[RBX]; break;
		}
	} else if (f->rm == 4) {
		b = (f->sib & 7) + ((f->rex & 1) ? 8 : 0);
		x = ((f->sib >> 3) & 7) + ((f->rex & 2) ? 8 : 0);
		s = 1u << (f->sib >> 6);
		if ((f->sib & 7) == 5 && f->mod == 0) {
			*dlen = 4;
		} else {
			ea = gpr[b];
			if (b == RSP || b == RBP)
				*seg = X86_SEG_SS;
		}
		if (x != 4)
			ea += gpr[x] * s;
	} else if (f->rm == 5 && f->mod == 0) {
		*dlen = 4;
		if (f->mode == P64)
			ea = 0x7000;	/* RIP of the next instruction, below */
	} else {
		b = f->rm + ((f->rex & 1) ? 8 : 0);
		ea = gpr[b];
		if (b == RBP)
			*seg = X86_SEG_SS;
	}
	if (*dlen == 1)
		ea += disp8;
	else if (*dlen == 2)
		ea += disp16;
	else if (*dlen == 4)
		ea += disp32;
	if (f->seg_prefix >= 0)
		*seg = f->seg_prefix;
	return ea & mask;
}

static bool gen_one(const struct gen_form *f, char *why, size_t n)
{
	static struct x86_emu_ctxt c;
	const u64 d8 = (u64)-8, d16 = 0x1230, d32 = 0x00123450;
	unsigned int len = 0, i, ab;
	int seg, dlen, res;
	u64 ea, la, base;
	u8 *p = c.insn;

	memset(&c, 0, sizeof(c));
	c.ops = &gen_ops;
	c.mode = f->mode;
	for (i = 0; i < 16; i++)
		c.gpr[i] = gen_reg(f->mode, f->a67, i);
	for (i = 0; i < 6; i++)
		c.seg_base[i] = 0x100000ull * (i + 1);
	ea = ref_ea(f, c.gpr, d8, d32, d16, &seg, &dlen);

	if (f->seg_prefix >= 0)
		p[len++] = seg_prefix_byte[f->seg_prefix];
	if (f->a67)
		p[len++] = 0x67;
	if (f->rex)
		p[len++] = f->rex;
	p[len++] = f->store ? 0x89 : 0x8b;
	p[len++] = (u8)(f->mod << 6 | 2 << 3 | f->rm);	/* reg = edx */
	ab = gen_addr_bytes(f);
	if (f->rm == 4 && ab != 2)
		p[len++] = f->sib;
	if (dlen == 1)
		p[len++] = (u8)d8;
	for (i = 0; dlen > 1 && i < (unsigned int)dlen; i++)
		p[len++] = (u8)((dlen == 2 ? d16 : d32) >> (8 * i));
	c.insn_len = len;
	c.rip = 0x7000 - len;		/* so RIP-relative bases are 0x7000 */

	if (f->mode == P64)
		base = (seg == X86_SEG_FS || seg == X86_SEG_GS) ? c.seg_base[seg] : 0;
	else
		base = c.seg_base[seg];
	la = base + ea;
	if (f->mode != P64)
		la &= 0xffffffffull;

	gen_reads = 0;
	res = x86_emulate(&c);
	if (res != OK || gen_reads != 1 || gen_la != la || c.rip != 0x7000 ||
	    gen_size != (f->mode == P64 || f->mode == P32 ? 4u : 2u)) {
		snprintf(why, n, "mode %d 67=%d seg %d rex %#x modrm %#x sib %#x:"
			 " res %d reads %u la %#" PRIx64 " (want %#" PRIx64
			 ") rip %#" PRIx64, f->mode, f->a67, f->seg_prefix,
			 f->rex, p[len - 1 - (dlen > 0 ? dlen : 0)], f->sib, res,
			 gen_reads, gen_la, la, c.rip);
		return false;
	}
	return true;
}

static void gen_bulk(const char *name, const struct gen_form *proto)
{
	struct gen_form f = *proto;
	unsigned int cases = 0, bad = 0, sib;
	char why[256] = "", first[256] = "";

	for (f.mod = 0; f.mod < 3; f.mod++) {
		for (f.rm = 0; f.rm < 8; f.rm++) {
			bool has_sib = f.rm == 4 && gen_addr_bytes(&f) != 2;

			for (sib = 0; sib < (has_sib ? 256u : 1u); sib++) {
				f.sib = (u8)sib;
				cases++;
				if (!gen_one(&f, why, sizeof(why))) {
					if (!bad++)
						memcpy(first, why, sizeof(first));
				}
			}
		}
	}
	n_pass += cases - bad;
	n_fail += bad;
	n_test++;
	if (bad)
		printf("not ok %u - %s: %u of %u failed, first: %s\n", n_test,
		       name, bad, cases, first);
	else
		printf("ok %u - %s (%u cases)\n", n_test, name, cases);
}

static void run_generated(void)
{
	static const int modes[] = { R16, V86, P16, P32, P64 };
	static const u8 rexes[] = { 0x41, 0x42, 0x43, 0x44 };
	struct gen_form f = { 0 };
	char name[96];
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		for (j = 0; j < 2; j++) {
			f = (struct gen_form){ modes[i], j, -1, 0, 0, 0, 0, false };
			snprintf(name, sizeof(name), "addressing mode %d addr67 %u",
				 modes[i], j);
			gen_bulk(name, &f);
			f.store = true;
			snprintf(name, sizeof(name), "store addressing mode %d addr67 %u",
				 modes[i], j);
			gen_bulk(name, &f);
			f.store = false;
			f.seg_prefix = (int)((i + j) % 6);
			snprintf(name, sizeof(name), "addressing mode %d addr67 %u seg %d",
				 modes[i], j, f.seg_prefix);
			gen_bulk(name, &f);
		}
	}
	for (i = 0; i < ARRAY_SIZE(rexes); i++) {
		for (j = 0; j < 6; j++) {
			f = (struct gen_form){ P64, i & 1, (int)j, rexes[i], 0, 0, 0, false };
			snprintf(name, sizeof(name), "addressing 64 rex %#x seg %u addr67 %u",
				 rexes[i], j, i & 1);
			gen_bulk(name, &f);
		}
	}
}
