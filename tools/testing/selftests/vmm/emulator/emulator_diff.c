// SPDX-License-Identifier: GPL-2.0
/*
 * Differential test of the x86 emulator against the host CPU, for every
 * instruction class arch/x86/emulate.c executes with a memory operand.
 *
 * Each case is made from a seed: a random encoding of the class (operand
 * size, 66/67/REX/REX.W/LOCK/segment prefixes, every ModRM/SIB/displacement
 * form, RIP-relative and moffs addressing, register forms now and then),
 * random registers, RFLAGS and memory. The bytes run natively in this
 * process on a buffer below 2 GiB (a stub loads every GPR but RSP and
 * RFLAGS from a struct, jumps to the instruction in an executable page and
 * stores them back), and through the emulator in 64-bit mode, whose
 * callbacks serve a copy of the same buffer as MMIO (reads exit once with
 * RETRY, REP string items go one per call) or as RAM (batches). Memory,
 * every GPR, RIP and the RFLAGS bits the SDM defines for the instruction
 * must agree. The "noncanonical" class makes the address non-canonical and
 * compares the fault: #GP is SIGSEGV, #SS is SIGBUS.
 *
 * Addresses are made to fall in the buffer, RSP is never an operand (only a
 * base in the fault class, where a signal stack catches the fault), locked
 * operands stay inside a cache line, so nothing faults natively; a native
 * fault outside the fault class is reported as a failure, not a crash.
 *
 *   emulator_diff [-s SEED] [-n CASES] [-c CLASS] [-S CASE_SEED] [-a]
 *
 * A failing class prints its first failing case's seed (-a: every one);
 * "-c CLASS -S CASE_SEED" runs that case alone and prints its state.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ucontext.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "emulate.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#if defined(__x86_64__)

#include <asm/prctl.h>

#define BUF_PAGES	3
#define BUF_SIZE	(BUF_PAGES * 4096)
#define BUF_MARGIN	32	/* bytes at each end no access touches */
#define CODE_SIZE	4096

#define FLAGS_ALL	(X86_EMU_FLAGS_ARITH | X86_EMU_FLAGS_DF)
#define FLAGS_LOGIC	(FLAGS_ALL & ~X86_EMU_FLAGS_AF)
#define FLAGS_BT	(X86_EMU_FLAGS_CF | X86_EMU_FLAGS_DF)

/* ------------------------------------------------------------------------ */
/* Native execution */

/*
 * The stub's view. gpr[] and rflags are loaded before the instruction and
 * stored after it; RSP is loaded only by diff_native_run_rsp().
 */
struct native_state {
	u64 gpr[X86_NR_GPRS];
	u64 rflags;
	u64 code;
	u64 host_rsp;
};

_Static_assert(offsetof(struct native_state, rflags) == 128, "asm layout");
_Static_assert(offsetof(struct native_state, code) == 136, "asm layout");
_Static_assert(offsetof(struct native_state, host_rsp) == 144, "asm layout");

struct native_state diff_native;
void diff_native_run(void);
void diff_native_run_rsp(void);
extern const char diff_native_back[];

#define NAT(off)	"diff_native+" #off "(%rip)"

#define NATIVE_ENTER							\
	"	push %rbx\n	push %rbp\n	push %r12\n"		\
	"	push %r13\n	push %r14\n	push %r15\n"		\
	"	mov %rsp, " NAT(144) "\n"					\
	"	pushq " NAT(128) "\n"					\
	"	popfq\n"							\
	"	mov " NAT(0) ", %rax\n	mov " NAT(8) ", %rcx\n"		\
	"	mov " NAT(16) ", %rdx\n	mov " NAT(24) ", %rbx\n"	\
	"	mov " NAT(40) ", %rbp\n	mov " NAT(48) ", %rsi\n"	\
	"	mov " NAT(56) ", %rdi\n	mov " NAT(64) ", %r8\n"		\
	"	mov " NAT(72) ", %r9\n	mov " NAT(80) ", %r10\n"	\
	"	mov " NAT(88) ", %r11\n	mov " NAT(96) ", %r12\n"	\
	"	mov " NAT(104) ", %r13\n	mov " NAT(112) ", %r14\n"	\
	"	mov " NAT(120) ", %r15\n"

/*
 * The code page holds the instruction followed by "jmp *0(%rip)" to
 * diff_native_back, which stores the registers, then RFLAGS once it is back
 * on its own stack.
 */
asm("	.text\n"
    "	.globl diff_native_run, diff_native_run_rsp, diff_native_back\n"
    "diff_native_run:\n"
    NATIVE_ENTER
    "	jmp *" NAT(136) "\n"
    "diff_native_run_rsp:\n"
    NATIVE_ENTER
    "	mov " NAT(32) ", %rsp\n"
    "	jmp *" NAT(136) "\n"
    "diff_native_back:\n"
    "	mov %rax, " NAT(0) "\n	mov %rcx, " NAT(8) "\n"
    "	mov %rdx, " NAT(16) "\n	mov %rbx, " NAT(24) "\n"
    "	mov %rsp, " NAT(32) "\n	mov %rbp, " NAT(40) "\n"
    "	mov %rsi, " NAT(48) "\n	mov %rdi, " NAT(56) "\n"
    "	mov %r8, " NAT(64) "\n	mov %r9, " NAT(72) "\n"
    "	mov %r10, " NAT(80) "\n	mov %r11, " NAT(88) "\n"
    "	mov %r12, " NAT(96) "\n	mov %r13, " NAT(104) "\n"
    "	mov %r14, " NAT(112) "\n	mov %r15, " NAT(120) "\n"
    "	mov " NAT(144) ", %rsp\n"
    "	pushfq\n"
    "	popq " NAT(128) "\n"
    "	cld\n"
    "	pop %r15\n	pop %r14\n	pop %r13\n"
    "	pop %r12\n	pop %rbp\n	pop %rbx\n"
    "	ret\n");

static u8 *buf;			/* the native buffer, below 2 GiB */
static u64 buf_addr;
static u8 *code_page;
static u64 fs_base;		/* this thread's: the C library's TLS */
static u64 cur_gs_base;
static bool gs_settable;
static bool host_la57;		/* 57-bit linear addresses (5-level paging) */

static sigjmp_buf native_env;
static volatile sig_atomic_t native_sig;
static volatile int native_si_code;
static volatile u64 native_fault_rip;

static void native_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	native_sig = sig;
	native_si_code = si->si_code;
	native_fault_rip = (u64)uc->uc_mcontext.gregs[REG_RIP];
	siglongjmp(native_env, 1);
}

static bool native_setup(void)
{
	static u8 altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };
	struct sigaction sa;
	unsigned int i;
	void *probe;

	buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	code_page = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (buf == MAP_FAILED || code_page == MAP_FAILED) {
		perror("mmap");
		return false;
	}
	buf_addr = (u64)buf;
	/* Linux maps above 47 bits only when asked to, and only with LA57. */
	probe = mmap((void *)(1ull << 50), 4096, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe != MAP_FAILED) {
		host_la57 = (u64)probe >= 1ull << 47;
		munmap(probe, 4096);
	}
	if (sigaltstack(&ss, NULL)) {
		perror("sigaltstack");
		return false;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = native_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	if (syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base))
		fs_base = 0;
	gs_settable = !syscall(SYS_arch_prctl, ARCH_SET_GS, 0ul);
	return true;
}

static void set_gs_base(u64 base)
{
	if (base != cur_gs_base &&
	    !syscall(SYS_arch_prctl, ARCH_SET_GS, base))
		cur_gs_base = base;
}

/* ------------------------------------------------------------------------ */
/* Random numbers: one splitmix64 stream per case */

static u64 rng_state;

static u64 rnd(void)
{
	u64 z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned int rnd_below(unsigned int n)
{
	return (unsigned int)(rnd() % n);
}

static bool chance(unsigned int one_in)
{
	return rnd_below(one_in) == 0;
}

/* A register or immediate value, biased towards the edges. */
static u64 rnd_value(void)
{
	switch (rnd_below(10)) {
	case 0: return 0;
	case 1: return ~0ull;
	case 2: return 1ull << (8 * (1 + rnd_below(8)) - 1);
	case 3: return (1ull << (8 * (1 + rnd_below(8)) - 1)) - 1;
	case 4: return rnd_below(64);
	case 5: return rnd() & 0xffffffffull;
	default: return rnd();
	}
}

static unsigned int rnd_size(void)
{
	static const unsigned int sizes[] = { 2, 4, 8 };

	return sizes[rnd_below(3)];
}

/* ------------------------------------------------------------------------ */
/* A case */

struct dcase {
	u64 gpr[X86_NR_GPRS];
	u64 rflags;
	u8 mem[BUF_SIZE];
	u8 insn[X86_EMU_MAX_INSN_LEN];
	unsigned int len;
	unsigned int code_off;		/* where in the code page */
	u64 gs_base;
	u64 flag_mask;			/* RFLAGS bits compared */
	bool mmio;			/* emulator memory is MMIO, else RAM */
	unsigned int max_rep;
	u64 rep_count;			/* bounds the emulator's re-runs */
	bool load_rsp;			/* gpr[RSP] is loaded natively */
	bool want_fault;		/* noncanonical: both must fault */
	bool locked;			/* access must stay in a cache line */
};

static u64 code_addr(const struct dcase *c)
{
	return (u64)code_page + c->code_off;
}

static const unsigned int max_reps[] = { 1, 2, 7, 64, X86_EMU_BUF_SIZE };

static void case_init(struct dcase *c)
{
	unsigned int i;
	u64 v;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < X86_NR_GPRS; i++)
		c->gpr[i] = rnd_value();
	c->rflags = 0x202 | (rnd() & FLAGS_ALL);
	for (i = 0; i < BUF_SIZE; i += 8) {
		v = rnd();
		memcpy(c->mem + i, &v, 8);
	}
	c->code_off = 64 + rnd_below(CODE_SIZE - 256);
	c->flag_mask = FLAGS_ALL;
	c->mmio = chance(2);
	c->max_rep = max_reps[rnd_below(ARRAY_SIZE(max_reps))];
	switch (rnd_below(3)) {
	case 0:
		c->gs_base = 0;
		break;
	case 1:		/* a 32-bit EA can still reach the buffer */
		c->gs_base = buf_addr - rnd_below(0x10000000);
		break;
	default:
		c->gs_base = rnd() & 0x00007fffffffffffull;
		break;
	}
	if (!gs_settable)
		c->gs_base = 0;
}

/* Little-endian value of @size bytes at linear address @la of the case. */
static u64 case_peek(const struct dcase *c, u64 la, unsigned int size)
{
	u64 v = 0;

	memcpy(&v, c->mem + (la - buf_addr), size);
	return v;
}

static u64 mask_of(unsigned int size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Replace the low @size bytes of a register. */
static void set_low(struct dcase *c, int reg, unsigned int size, u64 v)
{
	c->gpr[reg] = (c->gpr[reg] & ~mask_of(size)) | (v & mask_of(size));
}

/* An address for an access of @size bytes, often across a page boundary. */
static u64 pick_target(const struct dcase *c, unsigned int size)
{
	u64 lo = buf_addr + BUF_MARGIN;
	u64 span = BUF_SIZE - 2 * BUF_MARGIN - size;
	u64 t;

	if (!c->locked && size > 1 && chance(4))
		return buf_addr + 4096 * (1 + rnd_below(BUF_PAGES - 1)) -
		       1 - rnd_below(size - 1);
	t = lo + rnd_below((unsigned int)span);
	if (c->locked || chance(2))
		t &= ~(u64)(size - 1);
	return t;
}

/* ------------------------------------------------------------------------ */
/* Encoding */

struct encoder {
	u8 b[32];
	unsigned int n;
};

static void put(struct encoder *e, u64 v, unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes && e->n < sizeof(e->b); i++)
		e->b[e->n++] = (u8)(v >> (8 * i));
}

static const u8 seg_prefix[X86_NR_SEGS] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };

/* Legacy prefixes in random order (SDM Vol. 2A 2.1.1: any order). */
static void put_prefixes(struct encoder *e, u8 *p, unsigned int n)
{
	unsigned int i, j;
	u8 t;

	for (i = n; i > 1; i--) {
		j = rnd_below(i);
		t = p[i - 1];
		p[i - 1] = p[j];
		p[j] = t;
	}
	for (i = 0; i < n; i++)
		put(e, p[i], 1);
}

/* A segment override: -1 for none; FS and GS have a base. */
static int pick_seg(const struct dcase *c, bool addr32, u64 target)
{
	int seg;

	if (!chance(3))
		return -1;
	seg = (int)rnd_below(X86_NR_SEGS);
	if (seg == X86_SEG_FS || seg == X86_SEG_GS) {
		u64 base = seg == X86_SEG_FS ? fs_base : c->gs_base;

		if (addr32 && target - base > 0xffffffffull - BUF_SIZE)
			return X86_SEG_DS;
	}
	return seg;
}

/*
 * Now and then an extra ES/CS/SS/DS prefix, before or after the real one:
 * 64-bit mode ignores them altogether (SDM Vol. 1 3.3.7.1).
 */
static void put_null_seg(u8 *pfx, unsigned int *npfx)
{
	if (chance(4))
		pfx[(*npfx)++] = seg_prefix[rnd_below(4)];
}

static u64 seg_base_of(const struct dcase *c, int seg)
{
	if (seg == X86_SEG_FS)
		return fs_base;
	return seg == X86_SEG_GS ? c->gs_base : 0;
}

/*
 * An instruction with a ModRM byte. reg is a GPR (reg_gpr) or a /digit;
 * the r/m operand is memory at @target, or the register @rm_reg.
 */
struct rm_insn {
	u8 opcode[3];
	unsigned int opcode_len;
	unsigned int osz;		/* 1, 2, 4, 8: selects 66 and REX.W */
	bool byte_reg;			/* ModRM.reg is a byte register */
	bool byte_rm;			/* a register r/m is a byte register */
	bool no_66;			/* 66 would change the instruction */
	int reg;
	bool reg_gpr;
	bool lock;
	bool mem;
	int rm_reg;
	unsigned int imm_bytes;
	u64 imm;
	unsigned int access;		/* bytes accessed at target */
	u64 target;
	u32 avoid;			/* GPRs not to use in the address */
	bool rsp_base;			/* may use RSP as base (fault class) */
};

/* The addressing form of a memory operand (SDM Vol. 2A tables 2-2, 2-3). */
struct mem_form {
	bool addr32;
	u8 mod, rm;			/* ModRM fields, rm without REX.B */
	bool has_sib;
	u8 sib;
	int base, index;		/* GPR numbers, or -1 */
	unsigned int scale;
	unsigned int disp_bytes;
	s64 disp;
	bool rip_rel;
	u8 rex;				/* REX.X and REX.B */
	int seg;
};

static int pick_reg(u32 avoid)
{
	int r;

	do
		r = (int)rnd_below(16);
	while (avoid & (1u << r));
	return r;
}

static void pick_form(const struct rm_insn *ri, struct mem_form *f)
{
	u32 avoid = ri->avoid | (ri->rsp_base ? 0 : 1u << X86_RSP);
	unsigned int kind = rnd_below(8);

	memset(f, 0, sizeof(*f));
	f->addr32 = !ri->rsp_base && chance(4);	/* 32-bit EAs are canonical */
	f->base = -1;
	f->index = -1;
	f->scale = 1;
	if (ri->rsp_base && chance(3))
		kind = 4;		/* SIB with RSP as base */
	switch (kind) {
	case 0: case 1: case 2: case 3:	/* [base], [base+d8], [base+d32] */
		f->mod = (u8)(kind == 3 ? 2 : kind);
		do
			f->base = pick_reg(avoid | (1u << X86_RSP));
		while ((f->base & 7) == 4 || (f->mod == 0 && (f->base & 7) == 5));
		f->rm = f->base & 7;
		break;
	case 4: case 5: case 6:		/* SIB */
		f->has_sib = true;
		f->rm = 4;
		f->mod = (u8)rnd_below(3);
		f->scale = 1u << rnd_below(4);
		if (kind == 6) {	/* no base: index*scale + disp32 */
			f->mod = 0;
		} else {
			f->base = (ri->rsp_base && chance(2)) ? X86_RSP :
				  pick_reg(avoid);
			if (f->mod == 0 && (f->base & 7) == 5)
				f->mod = 1;
		}
		if (!chance(4))
			f->index = pick_reg(avoid | (1u << X86_RSP));
		f->sib = (u8)((__builtin_ctz(f->scale) << 6) |
			      ((f->index < 0 ? 4 : f->index & 7) << 3) |
			      (f->base < 0 ? 5 : f->base & 7));
		break;
	default:			/* RIP-relative */
		f->rip_rel = true;
		f->rm = 5;
		break;
	}
	if (f->mod == 1)
		f->disp_bytes = 1;
	else if (f->mod == 2 || f->rip_rel || (f->has_sib && f->base < 0))
		f->disp_bytes = 4;
	if (f->index >= 8)
		f->rex |= 0x42;
	if (f->base >= 8)
		f->rex |= 0x41;
}

/* Random displacement of the form's size. */
static s64 rnd_disp(unsigned int bytes)
{
	if (bytes == 1)
		return (s8)rnd();
	if (bytes == 4)
		return chance(2) ? (s32)rnd() : (s64)rnd_below(512) - 256;
	return 0;
}

/*
 * Set the address registers (or the displacement) so that the operand's
 * linear address is @la; @next_rip is the address after the instruction.
 */
static bool resolve_form(struct dcase *c, struct mem_form *f, u64 la,
			 u64 next_rip)
{
	u64 amask = f->addr32 ? 0xffffffffull : ~0ull;
	u64 want = la - seg_base_of(c, f->seg), rest, idx = 0;
	u64 junk = f->addr32 && chance(2) ? rnd() << 32 : 0;

	if (f->addr32 && want > 0xffffffffull)
		return false;
	if (f->rip_rel) {
		f->disp = (s64)(want - next_rip);
		return f->disp == (s32)f->disp ||
		       (f->addr32 && ((next_rip + (u64)f->disp) & amask) == want);
	}
	if (f->base < 0 && f->index < 0) {
		f->disp = (s64)want;
		return f->disp == (s32)f->disp;
	}
	f->disp = rnd_disp(f->disp_bytes);
	rest = want - (u64)f->disp;
	if (f->index >= 0 && f->base < 0) {
		if (rest % f->scale) {
			f->disp += rest % f->scale;
			rest -= rest % f->scale;
			if (f->disp != (s32)f->disp)
				return false;
		}
		c->gpr[f->index] = ((rest / f->scale) & amask) | junk;
		return f->addr32 || rest / f->scale * f->scale == rest;
	}
	if (f->index == f->base) {
		if (rest % (f->scale + 1))
			return false;
		c->gpr[f->base] = (rest / (f->scale + 1)) | junk;
		return f->addr32 ||
		       (rest / (f->scale + 1)) * (f->scale + 1) == rest;
	}
	if (f->index >= 0) {
		idx = chance(2) ? (u64)((s64)rnd_below(1024) - 512) :
				  rnd() & amask;
		c->gpr[f->index] = (idx & amask) |
				   (f->addr32 ? rnd() << 32 : 0);
	}
	c->gpr[f->base] = ((rest - idx * f->scale) & amask) | junk;
	return true;
}

static void put_form(struct encoder *e, const struct mem_form *f, u8 reg,
		     unsigned int *disp_at)
{
	put(e, (u64)(f->mod << 6 | (reg & 7) << 3 | f->rm), 1);
	if (f->has_sib)
		put(e, f->sib, 1);
	*disp_at = e->n;
	put(e, (u64)f->disp, f->disp_bytes);
}

/* Encode @ri into the case; false if the random choices do not fit. */
static bool emit_rm(struct dcase *c, const struct rm_insn *ri)
{
	struct mem_form f;
	struct encoder e = { .n = 0 };
	u8 pfx[7], rex = 0;
	unsigned int npfx = 0, disp_at = 0, i;

	memset(&f, 0, sizeof(f));
	f.seg = -1;
	if (ri->mem) {
		pick_form(ri, &f);
		f.seg = pick_seg(c, f.addr32, ri->target);
		rex |= f.rex;
	} else {
		f.mod = 3;
		f.rm = ri->rm_reg & 7;
		if (ri->rm_reg >= 8)
			rex |= 0x41;
	}
	if (ri->osz == 8)
		rex |= 0x48;
	if (ri->reg_gpr && ri->reg >= 8)
		rex |= 0x44;
	if (!rex && chance(6))
		rex = 0x40;
	if ((ri->byte_reg || ri->byte_rm) && ri->osz == 1 && chance(8))
		rex |= 0x48;		/* REX.W on a byte operation: no effect */
	/* Register 4 is RSP, or SPL with a REX: only AH may be used. */
	if (ri->reg_gpr && ri->reg == 4 && (rex || !ri->byte_reg))
		return false;
	if (!ri->mem && ri->rm_reg == 4 && (rex || !ri->byte_rm))
		return false;

	if (ri->lock)
		pfx[npfx++] = 0xf0;
	if (ri->osz == 2 ||
	    (!ri->no_66 && (ri->osz == 8 || ri->osz == 1) && chance(8)))
		pfx[npfx++] = 0x66;
	if (f.addr32)
		pfx[npfx++] = 0x67;
	if (f.seg >= 0)
		pfx[npfx++] = seg_prefix[f.seg];
	put_null_seg(pfx, &npfx);
	put_prefixes(&e, pfx, npfx);
	if (rex)
		put(&e, rex, 1);
	for (i = 0; i < ri->opcode_len; i++)
		put(&e, ri->opcode[i], 1);
	if (ri->mem)
		put_form(&e, &f, (u8)ri->reg, &disp_at);
	else
		put(&e, (u64)(0xc0 | (ri->reg & 7) << 3 | f.rm), 1);
	put(&e, ri->imm, ri->imm_bytes);
	if (e.n > X86_EMU_MAX_INSN_LEN)
		return false;
	if (ri->mem) {
		if (!resolve_form(c, &f, ri->target, code_addr(c) + e.n))
			return false;
		memcpy(e.b + disp_at, &f.disp, f.disp_bytes);
	}
	memcpy(c->insn, e.b, e.n);
	c->len = e.n;
	return true;
}

/* Encode an instruction without ModRM: prefixes, REX.W, opcode, tail. */
static bool emit_plain(struct dcase *c, u8 *pfx, unsigned int npfx,
		       unsigned int osz, u8 opcode, u64 tail,
		       unsigned int tail_bytes)
{
	struct encoder e = { .n = 0 };

	if (osz == 2)
		pfx[npfx++] = 0x66;
	else if (osz == 8 && chance(8))
		pfx[npfx++] = 0x66;	/* REX.W wins */
	put_prefixes(&e, pfx, npfx);
	if (osz == 8)
		put(&e, 0x48 | (rnd() & 7), 1);
	else if (chance(6))
		put(&e, 0x40 | (rnd() & 7), 1);
	put(&e, opcode, 1);
	put(&e, tail, tail_bytes);
	if (e.n > X86_EMU_MAX_INSN_LEN)
		return false;
	memcpy(c->insn, e.b, e.n);
	c->len = e.n;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Classes */

/* Common shape: memory (mostly) or register r/m at a fresh target. */
static void rm_init(struct dcase *c, struct rm_insn *ri, unsigned int osz,
		    unsigned int access, bool mem_only)
{
	memset(ri, 0, sizeof(*ri));
	ri->osz = osz;
	ri->access = access;
	ri->mem = mem_only || !chance(8);
	ri->reg = (int)rnd_below(16);
	ri->reg_gpr = true;
	ri->rm_reg = (int)rnd_below(16);
	ri->target = pick_target(c, access);
}

static void op1(struct rm_insn *ri, u8 a)
{
	ri->opcode[0] = a;
	ri->opcode_len = 1;
}

static void op2(struct rm_insn *ri, u8 b)
{
	ri->opcode[0] = 0x0f;
	ri->opcode[1] = b;
	ri->opcode_len = 2;
}

/* 88/89/8A/8B: MOV r/m, r and MOV r, r/m. */
static bool gen_mov(struct dcase *c)
{
	struct rm_insn ri;
	u8 op = (u8)(0x88 + rnd_below(4));
	unsigned int osz = (op & 1) ? rnd_size() : 1;

	rm_init(c, &ri, osz, osz, false);
	op1(&ri, op);
	ri.byte_reg = ri.byte_rm = osz == 1;
	return emit_rm(c, &ri);
}

/* C6/C7 /0: MOV r/m, imm (iz sign-extended with REX.W). */
static bool gen_mov_imm(struct dcase *c)
{
	struct rm_insn ri;
	bool byte = chance(2);
	unsigned int osz = byte ? 1 : rnd_size();

	rm_init(c, &ri, osz, osz, false);
	op1(&ri, byte ? 0xc6 : 0xc7);
	ri.byte_rm = byte;
	ri.reg = 0;
	ri.reg_gpr = false;
	ri.imm_bytes = osz == 1 ? 1 : (osz == 2 ? 2 : 4);
	ri.imm = rnd_value();
	return emit_rm(c, &ri);
}

/* A0-A3: MOV AL/rAX, moffs and back (a full 64-bit offset, 32 with 67). */
static bool gen_mov_moffs(struct dcase *c)
{
	u8 op = (u8)(0xa0 + rnd_below(4)), pfx[5];
	unsigned int osz = (op & 1) ? rnd_size() : 1, npfx = 0;
	bool addr32 = chance(4);
	u64 t = pick_target(c, osz);
	int seg = pick_seg(c, addr32, t);
	u64 off = t - seg_base_of(c, seg);

	if (addr32)
		pfx[npfx++] = 0x67;
	if (seg >= 0)
		pfx[npfx++] = seg_prefix[seg];
	put_null_seg(pfx, &npfx);
	return emit_plain(c, pfx, npfx, osz, op, off, addr32 ? 4 : 8);
}

/* 0F C3: MOVNTI m32/m64, r. */
static bool gen_movnti(struct dcase *c)
{
	struct rm_insn ri;
	unsigned int osz = chance(2) ? 4 : 8;

	rm_init(c, &ri, osz, osz, true);
	op2(&ri, 0xc3);
	ri.no_66 = true;
	return emit_rm(c, &ri);
}

/* 0F B6/B7 MOVZX, 0F BE/BF MOVSX. */
static bool gen_movx(struct dcase *c, u8 base_op)
{
	struct rm_insn ri;
	bool word = chance(2);
	unsigned int osz = rnd_size();

	rm_init(c, &ri, osz, word ? 2 : 1, false);
	op2(&ri, (u8)(base_op + word));
	ri.byte_rm = !word;
	return emit_rm(c, &ri);
}

static bool gen_movzx(struct dcase *c)
{
	return gen_movx(c, 0xb6);
}

static bool gen_movsx(struct dcase *c)
{
	return gen_movx(c, 0xbe);
}

/* 63: MOVSXD r, r/m32 (r/m16 with 66). */
static bool gen_movsxd(struct dcase *c)
{
	struct rm_insn ri;
	unsigned int osz = rnd_size();

	rm_init(c, &ri, osz, osz == 8 ? 4 : osz, false);
	op1(&ri, 0x63);
	return emit_rm(c, &ri);
}

/* A read-modify-write with LOCK allowed: sometimes locked, then aligned. */
static void maybe_lock(struct dcase *c, struct rm_insn *ri, bool always)
{
	if (!ri->mem)
		return;
	ri->lock = chance(2);
	if (ri->lock || always) {
		c->locked = true;
		ri->target = pick_target(c, ri->access);
	}
}

/* 86/87: XCHG r/m, r (locked with memory, with or without LOCK). */
static bool gen_xchg(struct dcase *c)
{
	struct rm_insn ri;
	bool byte = chance(2);
	unsigned int osz = byte ? 1 : rnd_size();

	rm_init(c, &ri, osz, osz, false);
	op1(&ri, byte ? 0x86 : 0x87);
	ri.byte_reg = ri.byte_rm = byte;
	maybe_lock(c, &ri, true);
	return emit_rm(c, &ri);
}

/* 0F B0/B1: CMPXCHG r/m, r; the accumulator often matches. */
static bool gen_cmpxchg(struct dcase *c)
{
	struct rm_insn ri;
	bool byte = chance(2), match = chance(2);
	unsigned int osz = byte ? 1 : rnd_size();

	rm_init(c, &ri, osz, osz, false);
	op2(&ri, byte ? 0xb0 : 0xb1);
	ri.byte_reg = ri.byte_rm = byte;
	maybe_lock(c, &ri, false);
	if (match)
		ri.avoid |= 1u << X86_RAX;
	if (!emit_rm(c, &ri))
		return false;
	if (match && ri.mem)
		set_low(c, X86_RAX, osz, case_peek(c, ri.target, osz));
	else if (match && ri.rm_reg != X86_RAX)
		set_low(c, X86_RAX, osz, c->gpr[ri.rm_reg]);
	return true;
}

/* 0F C0/C1: XADD r/m, r. */
static bool gen_xadd(struct dcase *c)
{
	struct rm_insn ri;
	bool byte = chance(2);
	unsigned int osz = byte ? 1 : rnd_size();

	rm_init(c, &ri, osz, osz, false);
	op2(&ri, byte ? 0xc0 : 0xc1);
	ri.byte_reg = ri.byte_rm = byte;
	maybe_lock(c, &ri, false);
	return emit_rm(c, &ri);
}

/* Flags compared for ALU operation @op (0-7 = ADD..CMP, 8 = TEST). */
static u64 alu_flags(unsigned int op)
{
	return (op == 1 || op == 4 || op == 6 || op == 8) ? FLAGS_LOGIC :
							    FLAGS_ALL;
}

/* 00-3B: op r/m, r (LOCK unless CMP) and op r, r/m. */
static bool gen_alu(struct dcase *c, bool to_rm)
{
	struct rm_insn ri;
	unsigned int op = rnd_below(8);
	bool byte = chance(2);
	unsigned int osz = byte ? 1 : rnd_size();

	rm_init(c, &ri, osz, osz, false);
	op1(&ri, (u8)(op * 8 + (to_rm ? 0 : 2) + !byte));
	ri.byte_reg = ri.byte_rm = byte;
	if (to_rm && op != 7)
		maybe_lock(c, &ri, false);
	c->flag_mask = alu_flags(op);
	return emit_rm(c, &ri);
}

static bool gen_alu_rm_reg(struct dcase *c)
{
	return gen_alu(c, true);
}

static bool gen_alu_reg_rm(struct dcase *c)
{
	return gen_alu(c, false);
}

/* 80/81/83 /0-/7: op r/m, imm. */
static const u8 grp1_ops[] = { 0x80, 0x81, 0x83 };

static bool gen_alu_imm(struct dcase *c)
{
	struct rm_insn ri;
	unsigned int op = rnd_below(8), form = rnd_below(3);
	unsigned int osz = form == 0 ? 1 : rnd_size();

	rm_init(c, &ri, osz, osz, false);
	op1(&ri, grp1_ops[form]);
	ri.byte_rm = form == 0;
	ri.reg = (int)op;
	ri.reg_gpr = false;
	ri.imm_bytes = form == 1 ? (osz == 2 ? 2 : 4) : 1;
	ri.imm = rnd_value();
	if (op != 7)
		maybe_lock(c, &ri, false);
	c->flag_mask = alu_flags(op);
	return emit_rm(c, &ri);
}

/* 04/05 ... 3C/3D op AL/rAX, imm and A8/A9 TEST: no memory operand. */
static bool gen_alu_acc(struct dcase *c)
{
	unsigned int op = rnd_below(9);
	bool byte = chance(2);
	unsigned int osz = byte ? 1 : rnd_size(), npfx = 0;
	u8 opcode = op == 8 ? 0xa8 : (u8)(op * 8 + 4);
	u8 pfx[2];

	c->flag_mask = alu_flags(op);
	return emit_plain(c, pfx, npfx, osz, (u8)(opcode + !byte), rnd_value(),
			  osz == 1 ? 1 : (osz == 2 ? 2 : 4));
}

/* 84/85 TEST r/m, r and F6/F7 /0 /1 TEST r/m, imm. */
static bool gen_test(struct dcase *c)
{
	struct rm_insn ri;
	bool byte = chance(2), imm = chance(2);
	unsigned int osz = byte ? 1 : rnd_size();

	rm_init(c, &ri, osz, osz, false);
	ri.byte_reg = ri.byte_rm = byte;
	if (imm) {
		op1(&ri, byte ? 0xf6 : 0xf7);
		ri.reg = (int)rnd_below(2);
		ri.reg_gpr = false;
		ri.imm_bytes = osz == 1 ? 1 : (osz == 2 ? 2 : 4);
		ri.imm = rnd_value();
	} else {
		op1(&ri, byte ? 0x84 : 0x85);
	}
	c->flag_mask = FLAGS_LOGIC;
	return emit_rm(c, &ri);
}

/* F6/F7 /2 NOT, /3 NEG and FE/FF /0 INC, /1 DEC. */
static bool gen_unary(struct dcase *c, u8 opcode, int first)
{
	struct rm_insn ri;
	bool byte = chance(2);
	unsigned int osz = byte ? 1 : rnd_size();

	rm_init(c, &ri, osz, osz, false);
	op1(&ri, (u8)(opcode + !byte));
	ri.byte_rm = byte;
	ri.reg = first + (int)rnd_below(2);
	ri.reg_gpr = false;
	maybe_lock(c, &ri, false);
	return emit_rm(c, &ri);
}

static bool gen_not_neg(struct dcase *c)
{
	return gen_unary(c, 0xf6, 2);
}

static bool gen_inc_dec(struct dcase *c)
{
	return gen_unary(c, 0xfe, 0);
}

/*
 * 0F A3/AB/B3/BB: BT/BTS/BTR/BTC r/m, r. With memory the register is a
 * signed bit offset from the effective address (SDM BT): the access is the
 * operand-sized unit at EA + (offset >> log2(bits)) * size.
 */
static bool gen_bt_reg(struct dcase *c)
{
	struct rm_insn ri;
	unsigned int op = rnd_below(4), osz = rnd_size();
	unsigned int shift = osz == 2 ? 4 : (osz == 4 ? 5 : 6);
	s64 off = (s64)rnd_below(8192) - 4096;
	u64 unit;

	rm_init(c, &ri, osz, osz, false);
	op2(&ri, (u8)(0xa3 + op * 8));
	if (op)
		maybe_lock(c, &ri, false);
	c->flag_mask = FLAGS_BT;
	if (!ri.mem)
		return emit_rm(c, &ri);
	unit = ri.target;
	ri.target = unit - (u64)((off >> shift) * (s64)osz);
	ri.avoid |= 1u << ri.reg;
	if (!emit_rm(c, &ri))
		return false;
	set_low(c, ri.reg, osz, (u64)off);
	return true;
}

/* 0F BA /4-/7: BT/BTS/BTR/BTC r/m, imm8 (offset modulo the size). */
static bool gen_bt_imm(struct dcase *c)
{
	struct rm_insn ri;
	unsigned int op = rnd_below(4), osz = rnd_size();

	rm_init(c, &ri, osz, osz, false);
	op2(&ri, 0xba);
	ri.reg = 4 + (int)op;
	ri.reg_gpr = false;
	ri.imm_bytes = 1;
	ri.imm = rnd() & 0xff;
	if (op)
		maybe_lock(c, &ri, false);
	c->flag_mask = FLAGS_BT;
	return emit_rm(c, &ri);
}

/*
 * String instructions: A4/A5 MOVS, A6/A7 CMPS, AA/AB STOS, AC/AD LODS,
 * AE/AF SCAS, with and without REP/REPE/REPNE, DF 0 and 1, 32-bit address
 * size, a segment override on the source. The walked ranges stay in the
 * buffer; MOVS ranges often overlap.
 */
static bool gen_string(struct dcase *c, u8 opcode, bool src, bool dst,
		       bool cmp)
{
	bool byte = chance(2), addr32 = chance(4);
	bool df = chance(2);
	unsigned int osz = byte ? 1 : rnd_size(), npfx = 0, i;
	u64 count = 1, span, lo, room, s_start = 0, d_start, amask;
	int seg = -1;
	u8 pfx[6], rep = 0;

	if (!chance(4))
		rep = cmp && chance(2) ? 0xf2 : 0xf3;
	if (rep) {
		count = chance(8) ? rnd_below(700) : rnd_below(40);
		if (count * osz > 5000)
			count = 5000 / osz;
	}
	span = (count ? count : 1) * osz;
	lo = buf_addr + BUF_MARGIN;
	room = BUF_SIZE - 2 * BUF_MARGIN - span;	/* where a range may start */
	d_start = lo + rnd_below((unsigned int)room);
	if (src) {
		s_start = lo + rnd_below((unsigned int)room);
		if (dst && !cmp && chance(3)) {	/* overlapping MOVS */
			s_start = d_start + rnd_below(65) - 32;
			if (s_start < lo || s_start > lo + room)
				s_start = d_start;
		}
		seg = pick_seg(c, addr32, s_start);
		if (seg >= 0)
			pfx[npfx++] = seg_prefix[seg];
	}
	if (cmp) {			/* few distinct bytes: REPE/REPNE stop */
		for (i = 0; i < BUF_SIZE; i++)
			c->mem[i] = chance(24) ? 1 : 0;
		c->gpr[X86_RAX] = chance(2) ? 0 : rnd_value();
	}
	if (rep)
		pfx[npfx++] = rep;
	if (addr32)
		pfx[npfx++] = 0x67;
	put_null_seg(pfx, &npfx);
	if (df) {
		c->rflags |= X86_EMU_FLAGS_DF;
		s_start += span - osz;
		d_start += span - osz;
	} else {
		c->rflags &= ~X86_EMU_FLAGS_DF;
	}
	amask = addr32 ? 0xffffffffull : ~0ull;
	if (src) {
		u64 want = s_start - seg_base_of(c, seg);

		if (addr32 && want > 0xffffffffull - 2 * BUF_SIZE)
			return false;
		c->gpr[X86_RSI] = (want & amask) |
				  (addr32 ? rnd() << 32 : 0);
	}
	if (dst)
		c->gpr[X86_RDI] = d_start | (addr32 ? rnd() << 32 : 0);
	if (rep)
		c->gpr[X86_RCX] = count | (addr32 ? rnd() << 32 : 0);
	c->rep_count = count;
	return emit_plain(c, pfx, npfx, osz, (u8)(opcode + !byte), 0, 0);
}

static bool gen_movs(struct dcase *c)
{
	return gen_string(c, 0xa4, true, true, false);
}

static bool gen_cmps(struct dcase *c)
{
	return gen_string(c, 0xa6, true, true, true);
}

static bool gen_stos(struct dcase *c)
{
	return gen_string(c, 0xaa, false, true, false);
}

static bool gen_lods(struct dcase *c)
{
	return gen_string(c, 0xac, true, false, false);
}

static bool gen_scas(struct dcase *c)
{
	return gen_string(c, 0xae, false, true, true);
}

/*
 * A non-canonical address for an access of @size bytes (SDM Vol. 1
 * 3.3.7.1): above the lower half, below the upper half, or starting at a
 * canonical byte and ending past it.
 */
static u64 rnd_noncanonical(unsigned int size)
{
	unsigned int bits = host_la57 ? 57 : 48;
	u64 half = 1ull << (bits - 1);

	switch (rnd_below(3)) {
	case 0:
		return half + (rnd() & (half - 1));
	case 1:
		return 0x8000000000000000ull + (rnd() & ((~0ull >> 1) - half));
	default:
		return half - 1 - rnd_below(size - 1);
	}
}

/*
 * Memory operands at non-canonical addresses, RSP and RBP as bases and
 * every segment override: #SS(0) for the stack segment, else #GP(0)
 * (SDM Vol. 3A 6.15, interrupts 12 and 13).
 */
static bool gen_noncanonical(struct dcase *c)
{
	static const u8 ops[] = { 0x8b, 0x89, 0x01, 0x3b, 0x85, 0xff };
	struct rm_insn ri;
	u8 op = ops[rnd_below(ARRAY_SIZE(ops))];
	unsigned int osz = rnd_size();

	c->want_fault = true;
	if (chance(5)) {		/* MOVS/moffs at a bad address */
		u8 pfx[1];

		if (chance(2)) {
			c->gpr[X86_RSI] = rnd_noncanonical(osz);
			c->gpr[X86_RDI] = pick_target(c, 8);
			return emit_plain(c, pfx, 0, osz, 0xa5, 0, 0);
		}
		return emit_plain(c, pfx, 0, osz, 0xa1, rnd_noncanonical(osz), 8);
	}
	rm_init(c, &ri, osz, osz, true);
	op1(&ri, op);
	ri.rsp_base = true;
	if (op == 0xff) {
		ri.reg = (int)rnd_below(2);
		ri.reg_gpr = false;
	}
	ri.avoid = 1u << ri.reg;
	ri.target = rnd_noncanonical(osz);
	if (!emit_rm(c, &ri))
		return false;
	c->load_rsp = true;
	return true;
}

struct diff_class {
	const char *name;
	bool (*gen)(struct dcase *c);
};

static const struct diff_class classes[] = {
	{ "mov", gen_mov },
	{ "mov-imm", gen_mov_imm },
	{ "mov-moffs", gen_mov_moffs },
	{ "movnti", gen_movnti },
	{ "movzx", gen_movzx },
	{ "movsx", gen_movsx },
	{ "movsxd", gen_movsxd },
	{ "xchg", gen_xchg },
	{ "cmpxchg", gen_cmpxchg },
	{ "xadd", gen_xadd },
	{ "alu-rm-reg", gen_alu_rm_reg },
	{ "alu-reg-rm", gen_alu_reg_rm },
	{ "alu-imm", gen_alu_imm },
	{ "alu-acc-imm", gen_alu_acc },
	{ "test", gen_test },
	{ "not-neg", gen_not_neg },
	{ "inc-dec", gen_inc_dec },
	{ "bt-reg", gen_bt_reg },
	{ "bt-imm", gen_bt_imm },
	{ "movs", gen_movs },
	{ "cmps", gen_cmps },
	{ "stos", gen_stos },
	{ "lods", gen_lods },
	{ "scas", gen_scas },
	{ "noncanonical", gen_noncanonical },
};

/* ------------------------------------------------------------------------ */
/* The emulator's side: the buffer copy as MMIO or RAM */

static u8 emu_mem[BUF_SIZE];
static bool emu_mmio;
static unsigned int emu_calls;		/* memory callbacks this case */
static char emu_err[160];
static struct { u64 la; unsigned int size; } answered[32];
static unsigned int nanswered;

static u8 *emu_ptr(u64 la, unsigned int size, const char *what)
{
	emu_calls++;
	if (la < buf_addr || la + size > buf_addr + BUF_SIZE || !size) {
		if (!emu_err[0])
			snprintf(emu_err, sizeof(emu_err), "%s %#" PRIx64
				 "/%u outside the buffer", what, la, size);
		return NULL;
	}
	if (emu_mmio && size > 8 && !emu_err[0])
		snprintf(emu_err, sizeof(emu_err), "MMIO %s of %u bytes", what,
			 size);
	return emu_mem + (la - buf_addr);
}

static int diff_read(struct x86_emu_ctxt *ctxt, u64 la, void *data,
		     unsigned int size)
{
	u8 *p = emu_ptr(la, size, "read");
	unsigned int i;

	(void)ctxt;
	if (!p)
		return X86_EMU_UNHANDLED;
	if (emu_mmio) {
		for (i = 0; i < nanswered; i++)
			if (answered[i].la == la && answered[i].size == size)
				break;
		if (i == nanswered) {
			if (nanswered == ARRAY_SIZE(answered))
				return X86_EMU_UNHANDLED;
			answered[nanswered].la = la;
			answered[nanswered++].size = size;
			return X86_EMU_RETRY;
		}
	}
	memcpy(data, p, size);
	return X86_EMU_OK;
}

static int diff_write(struct x86_emu_ctxt *ctxt, u64 la, const void *data,
		      unsigned int size)
{
	u8 *p = emu_ptr(la, size, "write");

	(void)ctxt;
	if (!p)
		return X86_EMU_UNHANDLED;
	memcpy(p, data, size);
	return X86_EMU_OK;
}

/* None of the classes does port I/O. */
static int diff_pio_in(struct x86_emu_ctxt *ctxt, u16 port,
		       unsigned int size, unsigned int count, void *data)
{
	(void)ctxt;
	(void)size;
	(void)count;
	(void)data;
	snprintf(emu_err, sizeof(emu_err), "port input from %#x", port);
	return X86_EMU_UNHANDLED;
}

static int diff_pio_out(struct x86_emu_ctxt *ctxt, u16 port,
			unsigned int size, unsigned int count,
			const void *data)
{
	(void)ctxt;
	(void)size;
	(void)count;
	(void)data;
	snprintf(emu_err, sizeof(emu_err), "port output to %#x", port);
	return X86_EMU_UNHANDLED;
}

static bool diff_batch_ok(struct x86_emu_ctxt *ctxt, u64 la)
{
	(void)ctxt;
	(void)la;
	return !emu_mmio;
}

static const struct x86_emu_ops diff_ops = {
	.read = diff_read,
	.write = diff_write,
	.pio_in = diff_pio_in,
	.pio_out = diff_pio_out,
	.batch_ok = diff_batch_ok,
};

/* Run the case through the emulator until it completes; the last result. */
static int emu_run(const struct dcase *c, struct x86_emu_ctxt *ctxt)
{
	u64 start = code_addr(c);
	unsigned int calls, limit = (unsigned int)c->rep_count * 4 + 16;
	int r = X86_EMU_UNHANDLED;

	memset(ctxt, 0x5a, sizeof(*ctxt));
	ctxt->ops = &diff_ops;
	ctxt->priv = NULL;
	ctxt->mode = X86_EMU_MODE_PROT64;
	ctxt->la57 = host_la57;
	ctxt->seg_base[X86_SEG_ES] = rnd();	/* ignored in 64-bit mode */
	ctxt->seg_base[X86_SEG_CS] = rnd();
	ctxt->seg_base[X86_SEG_SS] = rnd();
	ctxt->seg_base[X86_SEG_DS] = rnd();
	ctxt->seg_base[X86_SEG_FS] = fs_base;
	ctxt->seg_base[X86_SEG_GS] = c->gs_base;
	/* What the kernel fetches: 15 bytes, the jump back included. */
	memcpy(ctxt->insn, code_page + c->code_off, X86_EMU_MAX_INSN_LEN);
	ctxt->insn_len = X86_EMU_MAX_INSN_LEN;
	ctxt->max_rep_count = c->max_rep;
	memcpy(ctxt->gpr, c->gpr, sizeof(ctxt->gpr));
	ctxt->rip = start;
	ctxt->rflags = c->rflags;
	ctxt->decoded = false;

	memcpy(emu_mem, c->mem, BUF_SIZE);
	emu_mmio = c->mmio;
	emu_calls = 0;
	emu_err[0] = 0;
	nanswered = 0;
	for (calls = 0; calls < limit; calls++) {
		r = x86_emulate(ctxt);
		if (r == X86_EMU_OK)
			nanswered = 0;
		if (r == X86_EMU_RETRY && emu_mmio)
			continue;
		if (r != X86_EMU_OK || ctxt->rip != start)
			break;
	}
	return r;
}

/* ------------------------------------------------------------------------ */
/* Running and comparing */

static const char *const gpr_names[X86_NR_GPRS] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

static void native_run(const struct dcase *c)
{
	u8 *code = code_page + c->code_off;
	u64 back = (u64)diff_native_back;

	memcpy(buf, c->mem, BUF_SIZE);
	memcpy(code, c->insn, c->len);
	/* jmp *0(%rip); .quad diff_native_back */
	memcpy(code + c->len, "\xff\x25\x00\x00\x00\x00", 6);
	memcpy(code + c->len + 6, &back, 8);
	memcpy(diff_native.gpr, c->gpr, sizeof(diff_native.gpr));
	diff_native.rflags = c->rflags;
	diff_native.code = (u64)code;
	set_gs_base(c->gs_base);
	native_sig = 0;
	if (!sigsetjmp(native_env, 1)) {
		if (c->load_rsp)
			diff_native_run_rsp();
		else
			diff_native_run();
	}
}

static int fault_vector(void)
{
	if (native_sig == SIGSEGV && native_si_code == SI_KERNEL)
		return X86_EMU_VEC_GP;
	if (native_sig == SIGBUS && native_si_code == SI_KERNEL)
		return X86_EMU_VEC_SS;
	return -1;
}

static bool compare_fault(const struct dcase *c,
			  const struct x86_emu_ctxt *ctxt, int r, char *why,
			  size_t n)
{
	int vec = fault_vector();

	if (!native_sig || native_fault_rip != code_addr(c) || vec < 0) {
		snprintf(why, n, "native: signal %d code %d at %#" PRIx64
			 ", expected #GP or #SS at the instruction",
			 (int)native_sig, native_si_code, native_fault_rip);
		return false;
	}
	if (r != X86_EMU_EXCEPTION || ctxt->exception.vector != vec ||
	    !ctxt->exception.has_error_code || ctxt->exception.error_code) {
		snprintf(why, n, "native vector %d, emulator result %d vector %u",
			 vec, r, ctxt->exception.vector);
		return false;
	}
	if (emu_calls || memcmp(ctxt->gpr, c->gpr, sizeof(ctxt->gpr)) ||
	    ctxt->rip != code_addr(c) || ctxt->rflags != c->rflags) {
		snprintf(why, n, "emulator changed state before the fault");
		return false;
	}
	return true;
}

static bool compare(const struct dcase *c, const struct x86_emu_ctxt *ctxt,
		    int r, char *why, size_t n)
{
	unsigned int i;

	if (c->want_fault)
		return compare_fault(c, ctxt, r, why, n);
	if (native_sig) {
		snprintf(why, n, "native fault: signal %d code %d at %#" PRIx64
			 " (generator bug)", (int)native_sig, native_si_code,
			 native_fault_rip);
		return false;
	}
	if (emu_err[0]) {
		snprintf(why, n, "emulator callback: %s", emu_err);
		return false;
	}
	if (r != X86_EMU_OK) {
		snprintf(why, n, "emulator result %d (vector %u)", r,
			 r == X86_EMU_EXCEPTION ? ctxt->exception.vector : 0);
		return false;
	}
	if (ctxt->rip != code_addr(c) + c->len) {
		snprintf(why, n, "emulator RIP advanced by %" PRId64 ", not %u",
			 (s64)(ctxt->rip - code_addr(c)), c->len);
		return false;
	}
	for (i = 0; i < X86_NR_GPRS; i++) {
		u64 want = i == X86_RSP ? c->gpr[i] : diff_native.gpr[i];

		if (ctxt->gpr[i] != want) {
			snprintf(why, n, "%s: native %#" PRIx64 ", emulator %#"
				 PRIx64 " (was %#" PRIx64 ")", gpr_names[i],
				 want, ctxt->gpr[i], c->gpr[i]);
			return false;
		}
	}
	if ((ctxt->rflags ^ diff_native.rflags) & c->flag_mask ||
	    (ctxt->rflags ^ c->rflags) & ~X86_EMU_FLAGS_ARITH) {
		snprintf(why, n, "rflags: in %#" PRIx64 ", native %#" PRIx64
			 ", emulator %#" PRIx64 " (compared %#" PRIx64 ")",
			 c->rflags, diff_native.rflags, ctxt->rflags,
			 c->flag_mask);
		return false;
	}
	for (i = 0; i < BUF_SIZE; i++) {
		if (buf[i] != emu_mem[i]) {
			snprintf(why, n, "memory at %#" PRIx64 ": native %#x, "
				 "emulator %#x (was %#x)", buf_addr + i, buf[i],
				 emu_mem[i], c->mem[i]);
			return false;
		}
	}
	return true;
}

static u64 case_seed(u64 seed, unsigned int cls, unsigned int i)
{
	rng_state = seed ^ ((u64)cls << 32) ^ i;
	return rnd();
}

static void dump_case(const struct dcase *c)
{
	unsigned int i;

	printf("#   bytes:");
	for (i = 0; i < c->len; i++)
		printf(" %02x", c->insn[i]);
	printf("\n#   at %#" PRIx64 ", buffer %#" PRIx64 "-%#" PRIx64
	       ", rflags %#" PRIx64 ", %s, max_rep %u, gs %#" PRIx64
	       ", fs %#" PRIx64 "\n", code_addr(c), buf_addr,
	       buf_addr + BUF_SIZE, c->rflags, c->mmio ? "MMIO" : "RAM",
	       c->max_rep, c->gs_base, fs_base);
	for (i = 0; i < X86_NR_GPRS; i++)
		printf("#   %-3s %#018" PRIx64 " -> native %#018" PRIx64 "\n",
		       gpr_names[i], c->gpr[i], diff_native.gpr[i]);
}

/* One case from its seed; false and @why on a mismatch. */
static bool run_case(const struct diff_class *cls, u64 seed, bool verbose,
		     char *why, size_t n)
{
	static struct dcase c;
	static struct x86_emu_ctxt ctxt;
	unsigned int tries = 0;
	bool ok;
	int r;

	do {
		rng_state = seed + tries++;
		case_init(&c);
	} while (!cls->gen(&c) && tries < 1000);
	if (tries == 1000) {
		snprintf(why, n, "generator gave up");
		return false;
	}
	native_run(&c);
	r = emu_run(&c, &ctxt);
	ok = compare(&c, &ctxt, r, why, n);
	if (verbose)
		dump_case(&c);
	return ok;
}

static void usage(void)
{
	unsigned int i;

	fprintf(stderr, "usage: emulator_diff [-s SEED] [-n CASES] [-c CLASS]"
		" [-S CASE_SEED] [-a]\nclasses:");
	for (i = 0; i < ARRAY_SIZE(classes); i++)
		fprintf(stderr, " %s", classes[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	u64 seed = 1, one = 0;
	unsigned int cases = 4000, i, k, total = 0, passed = 0, failed = 0;
	const char *only = NULL;
	bool has_one = false, all = false;
	char why[512], first[512];
	int opt;

	while ((opt = getopt(argc, argv, "s:n:c:S:a")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			cases = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			only = optarg;
			break;
		case 'S':
			one = strtoull(optarg, NULL, 0);
			has_one = true;
			break;
		case 'a':
			all = true;
			break;
		default:
			usage();
		}
	}
	if (has_one && !only)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!native_setup()) {
		printf("ok 1 - emulator_diff # SKIP no buffer below 2 GiB\n");
		printf("0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	printf("# emulator_diff: seed %#" PRIx64 ", %u cases per class, "
	       "buffer %#" PRIx64 ", code %p\n", seed, cases, buf_addr,
	       (void *)code_page);
	for (k = 0; k < ARRAY_SIZE(classes); k++) {
		const struct diff_class *cls = &classes[k];
		unsigned int bad = 0;
		u64 bad_seed = 0;

		if (only && strcmp(only, cls->name))
			continue;
		if (has_one) {
			bool ok = run_case(cls, one, true, why, sizeof(why));

			printf("%sok %u - %s case %#" PRIx64 "%s%s\n",
			       ok ? "" : "not ", ++total, cls->name, one,
			       ok ? "" : ": ", ok ? "" : why);
			ok ? passed++ : failed++;
			continue;
		}
		for (i = 0; i < cases; i++) {
			u64 s = case_seed(seed, k, i);

			if (run_case(cls, s, false, why, sizeof(why)))
				continue;
			if (all)
				printf("#   %s case %#" PRIx64 ": %s\n",
				       cls->name, s, why);
			if (!bad++) {
				bad_seed = s;
				memcpy(first, why, sizeof(first));
			}
		}
		total++;
		if (!bad) {
			passed++;
			printf("ok %u - diff %s: %u cases\n", total, cls->name,
			       cases);
			continue;
		}
		failed++;
		printf("not ok %u - diff %s: %u of %u cases failed; first: %s\n"
		       "#   reproduce: emulator_diff -c %s -S %#" PRIx64 "\n",
		       total, cls->name, bad, cases, first, cls->name,
		       bad_seed);
	}
	set_gs_base(0);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}

#else /* !__x86_64__ */

int main(void)
{
	printf("ok 1 - emulator_diff # SKIP not an x86-64 host\n");
	printf("0 passed, 0 failed, 1 skipped\n");
	return 0;
}

#endif
