/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differential test: the same ALU operation run natively on the host (64-bit
 * inline asm) and through the emulator with a memory destination, over
 * random and edge-case operands, comparing the result and the arithmetic
 * flags the SDM defines. Part of emulator_test.c.
 */

#if defined(__x86_64__)

/*
 * Run "op src, dst" natively with the given input RFLAGS. The red zone is
 * skipped before pushing, since the compiler may keep locals there.
 */
#define HOST_OP(sfx, mod, insn, a, b, fin, fout)			\
	asm volatile("lea -128(%%rsp), %%rsp\n\t"			\
		     "push %[fi]\n\tpopfq\n\t"				\
		     insn sfx " %" mod "[b], %" mod "[a]\n\t"		\
		     "pushfq\n\tpop %[fo]\n\t"				\
		     "lea 128(%%rsp), %%rsp"				\
		     : [a] "+r" (a), [fo] "=&r" (fout)			\
		     : [b] "r" (b), [fi] "r" (fin) : "cc", "memory")

#define HOST_UNOP(sfx, mod, insn, a, fin, fout)				\
	asm volatile("lea -128(%%rsp), %%rsp\n\t"			\
		     "push %[fi]\n\tpopfq\n\t"				\
		     insn sfx " %" mod "[a]\n\t"			\
		     "pushfq\n\tpop %[fo]\n\t"				\
		     "lea 128(%%rsp), %%rsp"				\
		     : [a] "+r" (a), [fo] "=&r" (fout)			\
		     : [fi] "r" (fin) : "cc", "memory")

#define HOST_SIZES(insn, a, b, fin, fout, size)				\
	switch (size) {							\
	case 1: HOST_OP("b", "b", insn, a, b, fin, fout); break;	\
	case 2: HOST_OP("w", "w", insn, a, b, fin, fout); break;	\
	case 4: HOST_OP("l", "k", insn, a, b, fin, fout); break;	\
	default: HOST_OP("q", "q", insn, a, b, fin, fout); break;	\
	}

#define HOST_UNSIZES(insn, a, fin, fout, size)				\
	switch (size) {							\
	case 1: HOST_UNOP("b", "b", insn, a, fin, fout); break;		\
	case 2: HOST_UNOP("w", "w", insn, a, fin, fout); break;		\
	case 4: HOST_UNOP("l", "k", insn, a, fin, fout); break;		\
	default: HOST_UNOP("q", "q", insn, a, fin, fout); break;	\
	}

enum diff_op {
	D_ADD, D_OR, D_ADC, D_SBB, D_AND, D_SUB, D_XOR, D_CMP,	/* = encoding */
	D_TEST, D_INC, D_DEC, D_NEG, D_NOT, D_XADD, D_NR
};

static const char *const diff_names[D_NR] = {
	"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp",
	"test", "inc", "dec", "neg", "not", "xadd",
};

/* Returns the host's result; *fout gets its RFLAGS. */
static u64 host_run(enum diff_op op, unsigned int size, u64 a, u64 b, u64 fin,
		    u64 *fout)
{
	u64 fo = 0;

	switch (op) {
	case D_ADD: HOST_SIZES("add", a, b, fin, fo, size); break;
	case D_OR:  HOST_SIZES("or", a, b, fin, fo, size); break;
	case D_ADC: HOST_SIZES("adc", a, b, fin, fo, size); break;
	case D_SBB: HOST_SIZES("sbb", a, b, fin, fo, size); break;
	case D_AND: HOST_SIZES("and", a, b, fin, fo, size); break;
	case D_SUB: HOST_SIZES("sub", a, b, fin, fo, size); break;
	case D_XOR: HOST_SIZES("xor", a, b, fin, fo, size); break;
	case D_CMP: HOST_SIZES("cmp", a, b, fin, fo, size); break;
	case D_TEST: HOST_SIZES("test", a, b, fin, fo, size); break;
	case D_XADD: HOST_SIZES("add", a, b, fin, fo, size); break;
	case D_INC: HOST_UNSIZES("inc", a, fin, fo, size); break;
	case D_DEC: HOST_UNSIZES("dec", a, fin, fo, size); break;
	case D_NEG: HOST_UNSIZES("neg", a, fin, fo, size); break;
	case D_NOT: HOST_UNSIZES("not", a, fin, fo, size); break;
	default: break;
	}
	*fout = fo;
	return size == 8 ? a : a & ((1ull << (size * 8)) - 1);
}

/* Encode "op [rbx], rcx" (or the unary form on [rbx]); returns the length. */
static unsigned int diff_encode(enum diff_op op, unsigned int size, u8 *p)
{
	unsigned int n = 0;
	bool byte = size == 1;

	if (size == 2)
		p[n++] = 0x66;
	if (size == 8)
		p[n++] = 0x48;
	switch (op) {
	case D_TEST:
		p[n++] = byte ? 0x84 : 0x85;
		p[n++] = 0x0b;
		break;
	case D_INC: case D_DEC:
		p[n++] = byte ? 0xfe : 0xff;
		p[n++] = op == D_INC ? 0x03 : 0x0b;
		break;
	case D_NEG: case D_NOT:
		p[n++] = byte ? 0xf6 : 0xf7;
		p[n++] = op == D_NEG ? 0x1b : 0x13;
		break;
	case D_XADD:
		p[n++] = 0x0f;
		p[n++] = byte ? 0xc0 : 0xc1;
		p[n++] = 0x0b;
		break;
	default:
		p[n++] = (u8)(op * 8 + !byte);
		p[n++] = 0x0b;
		break;
	}
	return n;
}

/* Flags the SDM leaves undefined are not compared. */
static u64 diff_flag_mask(enum diff_op op)
{
	switch (op) {
	case D_OR: case D_AND: case D_XOR: case D_TEST:
		return X86_EMU_FLAGS_ARITH & ~X86_EMU_FLAGS_AF;
	case D_NOT:
		return 0;
	default:
		return X86_EMU_FLAGS_ARITH;
	}
}

static u64 rng_state = 0x9e3779b97f4a7c15ull;

static u64 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Random operand biased towards the edges of the size. */
static u64 rng_operand(unsigned int size)
{
	u64 mask = size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
	u64 sign = 1ull << (size * 8 - 1);

	switch (rng() % 8) {
	case 0: return 0;
	case 1: return mask;
	case 2: return sign;
	case 3: return sign - 1 + (rng() % 3);
	case 4: return rng() % 32;
	default: return rng() & mask;
	}
}

static bool diff_one(enum diff_op op, unsigned int size, char *why, size_t n)
{
	static struct x86_emu_ctxt c;
	u64 a = rng_operand(size), b = rng_operand(size);
	u64 fin = X86_EMU_FLAGS_FIXED | (rng() & X86_EMU_FLAGS_ARITH);
	u64 hres, hflags, eres, mask = diff_flag_mask(op);
	bool writes = op != D_CMP && op != D_TEST;
	int res;

	hres = host_run(op, size, a, b, fin, &hflags);

	memset(&m, 0, sizeof(m));
	m.pages[0].la = 0x1000;
	mem_poke(0x1000, 8, 0);
	mem_poke(0x1000, size, a);
	memset(&c, 0, sizeof(c));
	c.ops = &fake_ops;
	c.mode = X86_EMU_MODE_PROT64;
	c.insn_len = diff_encode(op, size, c.insn);
	c.gpr[RBX] = 0x1000;
	c.gpr[RCX] = b;
	c.rflags = fin;
	res = x86_emulate(&c);
	eres = mem_peek(0x1000, size);
	if (res != OK || (writes && eres != hres) ||
	    (!writes && eres != a) ||
	    ((c.rflags ^ hflags) & mask) ||
	    (c.rflags & ~X86_EMU_FLAGS_ARITH) != (fin & ~X86_EMU_FLAGS_ARITH) ||
	    (op == D_XADD && (c.gpr[RCX] & ((size == 8 ? 0 : 1ull << (size * 8)) - 1)) != a)) {
		snprintf(why, n, "%s size %u a %#" PRIx64 " b %#" PRIx64
			 " flags in %#" PRIx64 ": host %#" PRIx64 "/%#" PRIx64
			 ", emulator %d %#" PRIx64 "/%#" PRIx64, diff_names[op],
			 size, a, b, fin, hres, hflags & mask, res, eres,
			 c.rflags & mask);
		return false;
	}
	return true;
}

static void run_differential(void)
{
	static const unsigned int sizes[] = { 1, 2, 4, 8 };
	const unsigned int iters = 2000;
	char why[256], first[256], name[64];
	unsigned int op, s, i, bad;

	for (op = 0; op < D_NR; op++) {
		for (s = 0; s < ARRAY_SIZE(sizes); s++) {
			bad = 0;
			for (i = 0; i < iters; i++) {
				if (!diff_one(op, sizes[s], why, sizeof(why)) && !bad++)
					memcpy(first, why, sizeof(first));
			}
			snprintf(name, sizeof(name), "differential %s size %u",
				 diff_names[op], sizes[s]);
			report(!bad, name, bad ? first : NULL);
		}
	}
}

#else
static void run_differential(void)
{
	printf("# differential test skipped: not an x86-64 host\n");
}
#endif
