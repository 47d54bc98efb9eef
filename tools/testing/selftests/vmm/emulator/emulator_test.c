// SPDX-License-Identifier: GPL-2.0
/*
 * Table-driven unit tests of the freestanding x86 emulator.
 *
 * Each case gives a mode, instruction bytes, the initial register file and
 * the contents of a small fake linear memory (pages, some of them "MMIO":
 * the first read of an MMIO location returns X86_EMU_RETRY and the re-run
 * gets the data). The harness runs x86_emulate() until it stops retrying and
 * checks the result, the exact sequence of callback accesses, the final
 * register file and memory. Generated cases cover the addressing forms in
 * every mode, and a differential test compares ALU results and flags with
 * the host CPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include "emulate.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Fake machine */

#define NR_PAGES	4
#define MAX_LOG		16
#define MAX_READY	16

struct page_desc {
	u64 la;			/* page-aligned; 0 with mmio = 0 ends the list */
	bool mmio;
};

struct access {
	char kind;		/* 'R', 'W', 'I' (port in), 'O' (port out) */
	u64 addr;		/* linear address or port */
	unsigned int size;	/* bytes (memory) or item size (ports) */
	unsigned int count;	/* ports: items (memory: unused, 0) */
	u64 val;		/* first min(8, bytes) bytes, little-endian */
};

struct machine {
	struct page_desc pages[NR_PAGES];
	u8 mem[NR_PAGES][4096];
	struct access log[MAX_LOG];
	unsigned int nlog;
	bool log_overflow;
	struct { u64 la; unsigned int size; } ready[MAX_READY];
	unsigned int nready;
	unsigned int pio_retry;	/* pio_in calls still to answer RETRY */
	bool wrote;		/* any write/pio_out this run */
};

static struct machine m;

static u8 *page_of(u64 la, bool *mmio)
{
	unsigned int i;

	for (i = 0; i < NR_PAGES; i++) {
		if (!m.pages[i].la && !m.pages[i].mmio && i)
			break;
		if (m.pages[i].la == (la & ~4095ull)) {
			if (mmio)
				*mmio = m.pages[i].mmio;
			return m.mem[i];
		}
	}
	return NULL;
}

static u64 le_val(const void *data, unsigned int bytes)
{
	u64 v = 0;

	memcpy(&v, data, bytes < 8 ? bytes : 8);
	return v;
}

static void log_access(char kind, u64 addr, unsigned int size,
		       unsigned int count, u64 val)
{
	if (m.nlog == MAX_LOG) {
		m.log_overflow = true;
		return;
	}
	m.log[m.nlog++] = (struct access){ kind, addr, size, count, val };
}

static int page_fault(struct x86_emu_ctxt *ctxt, u64 la, bool write)
{
	ctxt->exception.vector = 14;
	ctxt->exception.has_error_code = true;
	ctxt->exception.error_code = write ? 2 : 0;
	ctxt->exception.cr2 = la;
	return X86_EMU_EXCEPTION;
}

static bool mmio_ready(u64 la, unsigned int size)
{
	unsigned int i;

	for (i = 0; i < m.nready; i++)
		if (m.ready[i].la == la && m.ready[i].size == size)
			return true;
	if (m.nready < MAX_READY)
		m.ready[m.nready++].la = la, m.ready[m.nready - 1].size = size;
	return false;
}

static int fake_read(struct x86_emu_ctxt *ctxt, u64 la, void *data,
		     unsigned int size)
{
	bool mmio = false;
	u8 *p = page_of(la, &mmio);

	if ((la & 4095) + size > 4096)
		return X86_EMU_UNHANDLED;	/* contract: never crosses */
	if (!p)
		return page_fault(ctxt, la, false);
	if (mmio && !mmio_ready(la, size))
		return X86_EMU_RETRY;
	memcpy(data, p + (la & 4095), size);
	log_access('R', la, size, 0, le_val(data, size));
	return X86_EMU_OK;
}

static int fake_write(struct x86_emu_ctxt *ctxt, u64 la, const void *data,
		      unsigned int size)
{
	u8 *p = page_of(la, NULL);

	if ((la & 4095) + size > 4096)
		return X86_EMU_UNHANDLED;
	if (!p)
		return page_fault(ctxt, la, true);
	memcpy(p + (la & 4095), data, size);
	log_access('W', la, size, 0, le_val(data, size));
	m.wrote = true;
	return X86_EMU_OK;
}

static int fake_pio_in(struct x86_emu_ctxt *ctxt, u16 port, unsigned int size,
		       unsigned int count, void *data)
{
	unsigned int i;
	u8 *p = data;

	(void)ctxt;
	if (m.pio_retry) {
		m.pio_retry--;
		return X86_EMU_RETRY;
	}
	for (i = 0; i < size * count; i++)
		p[i] = (u8)(0xa0 + i);
	log_access('I', port, size, count, le_val(data, size * count));
	return X86_EMU_OK;
}

static int fake_pio_out(struct x86_emu_ctxt *ctxt, u16 port, unsigned int size,
			unsigned int count, const void *data)
{
	(void)ctxt;
	log_access('O', port, size, count, le_val(data, size * count));
	m.wrote = true;
	return X86_EMU_OK;
}

/* MMIO pages are transferred one item at a time. */
static bool fake_batch_ok(struct x86_emu_ctxt *ctxt, u64 la)
{
	bool mmio = false;

	(void)ctxt;
	page_of(la, &mmio);
	return !mmio;
}

static const struct x86_emu_ops fake_ops = {
	.read = fake_read,
	.write = fake_write,
	.pio_in = fake_pio_in,
	.pio_out = fake_pio_out,
	.batch_ok = fake_batch_ok,
};

static void mem_poke(u64 la, unsigned int size, u64 val)
{
	unsigned int i;

	for (i = 0; i < size; i++) {
		u8 *p = page_of(la + i, NULL);

		if (p)
			p[(la + i) & 4095] = (u8)(val >> (8 * i));
	}
}

static u64 mem_peek(u64 la, unsigned int size)
{
	unsigned int i;
	u64 v = 0;

	for (i = 0; i < size; i++) {
		u8 *p = page_of(la + i, NULL);

		if (p)
			v |= (u64)p[(la + i) & 4095] << (8 * i);
	}
	return v;
}

/* ------------------------------------------------------------------------ */
/* Reporting */

static unsigned int n_pass, n_fail, n_test;

static void report(bool ok, const char *name, const char *why)
{
	n_test++;
	if (ok) {
		n_pass++;
		printf("ok %u - %s\n", n_test, name);
	} else {
		n_fail++;
		printf("not ok %u - %s%s%s\n", n_test, name, why ? ": " : "",
		       why ? why : "");
	}
}

/* ------------------------------------------------------------------------ */
/* Table-driven cases */

enum { R16 = X86_EMU_MODE_REAL, V86 = X86_EMU_MODE_VM86,
       P16 = X86_EMU_MODE_PROT16, P32 = X86_EMU_MODE_PROT32,
       P64 = X86_EMU_MODE_PROT64 };

#define RAX X86_RAX
#define RCX X86_RCX
#define RDX X86_RDX
#define RBX X86_RBX
#define RSP X86_RSP
#define RBP X86_RBP
#define RSI X86_RSI
#define RDI X86_RDI

#define CF X86_EMU_FLAGS_CF
#define PF X86_EMU_FLAGS_PF
#define AF X86_EMU_FLAGS_AF
#define ZF X86_EMU_FLAGS_ZF
#define SF X86_EMU_FLAGS_SF
#define DF X86_EMU_FLAGS_DF
#define OF X86_EMU_FLAGS_OF
#define FX X86_EMU_FLAGS_FIXED

#define OK X86_EMU_OK
#define RETRY X86_EMU_RETRY
#define EXC X86_EMU_EXCEPTION
#define UNH X86_EMU_UNHANDLED

/* Instruction bytes with their length. */
#define I(...) .insn = { __VA_ARGS__ }, .len = sizeof((u8[]){ __VA_ARGS__ })

struct memval {
	u64 la;
	unsigned int size;
	u64 val;
};

struct regval {
	int reg;		/* X86_R*, or -1 to end (0 = RAX allowed) */
	u64 val;
};

struct tcase {
	const char *name;
	int mode;
	u8 insn[15];
	unsigned int len;
	unsigned int fetched;		/* insn_len given to the emulator */
	u64 regs[16];
	u64 rip;
	u64 rflags;			/* 0 means FX */
	u64 seg[6];
	unsigned int max_rep;		/* 0 means 64 */
	struct page_desc pages[NR_PAGES];	/* none: one page at 0x1000 */
	struct memval init[4];
	unsigned int pio_retry;
	int xres;
	struct access acc[MAX_LOG];	/* ignored if skip_acc */
	bool skip_acc;
	struct regval xregs[5];		/* changed registers */
	int nxregs;
	u64 xrip;			/* only if has_xrip */
	bool has_xrip;			/* else rip + len on OK, rip if not */
	u64 xflags;			/* 0: unchanged */
	struct memval xmem[4];
	u8 xvec;
	unsigned int xretries;
};

#define XRIP(v)	.xrip = (v), .has_xrip = true
#define REGS(...) .xregs = { __VA_ARGS__ }, \
	.nxregs = sizeof((struct regval[]){ __VA_ARGS__ }) / sizeof(struct regval)

static void setup(struct x86_emu_ctxt *c, const struct tcase *t)
{
	unsigned int i;

	memset(&m, 0, sizeof(m));
	if (t->pages[0].la || t->pages[0].mmio)
		memcpy(m.pages, t->pages, sizeof(m.pages));
	else
		m.pages[0].la = 0x1000;
	for (i = 0; i < NR_PAGES; i++)
		memset(m.mem[i], 0xcc, 4096);
	for (i = 0; i < ARRAY_SIZE(t->init) && t->init[i].size; i++)
		mem_poke(t->init[i].la, t->init[i].size, t->init[i].val);
	m.pio_retry = t->pio_retry;

	memset(c, 0xa5, sizeof(*c));	/* the emulator must not rely on zeroes */
	c->ops = &fake_ops;
	c->priv = NULL;
	c->mode = t->mode;
	c->la57 = false;
	memcpy(c->seg_base, t->seg, sizeof(c->seg_base));
	memcpy(c->insn, t->insn, sizeof(c->insn));
	c->insn_len = t->fetched ? t->fetched : 15;
	c->max_rep_count = t->max_rep ? t->max_rep : 64;
	memcpy(c->gpr, t->regs, sizeof(c->gpr));
	c->rip = t->rip;
	c->rflags = t->rflags ? t->rflags : FX;
	c->decoded = false;
}

static bool check_log(const struct tcase *t, char *why, size_t n)
{
	unsigned int i;

	if (m.log_overflow) {
		snprintf(why, n, "access log overflow");
		return false;
	}
	for (i = 0; i < MAX_LOG; i++) {
		const struct access *e = &t->acc[i], *g = &m.log[i];

		if (!e->kind && i == m.nlog)
			return true;
		if (!e->kind || i == m.nlog) {
			snprintf(why, n, "access %u: expected %c, got %c %#" PRIx64
				 "/%u", i, e->kind ? e->kind : '-',
				 i < m.nlog ? g->kind : '-',
				 i < m.nlog ? g->addr : 0,
				 i < m.nlog ? g->size : 0);
			return false;
		}
		if (e->kind != g->kind || e->addr != g->addr ||
		    e->size != g->size || e->count != g->count ||
		    e->val != g->val) {
			snprintf(why, n, "access %u: expected %c %#" PRIx64
				 " size %u count %u val %#" PRIx64 ", got %c %#"
				 PRIx64 " size %u count %u val %#" PRIx64, i,
				 e->kind, e->addr, e->size, e->count, e->val,
				 g->kind, g->addr, g->size, g->count, g->val);
			return false;
		}
	}
	return true;
}

static bool check_state(const struct tcase *t, const struct x86_emu_ctxt *c,
			int res, char *why, size_t n)
{
	u64 regs[16], rip, flags;
	unsigned int i;

	memcpy(regs, t->regs, sizeof(regs));
	for (i = 0; res == OK && i < (unsigned int)t->nxregs; i++)
		regs[t->xregs[i].reg] = t->xregs[i].val;
	for (i = 0; i < 16; i++) {
		if (c->gpr[i] != regs[i]) {
			snprintf(why, n, "gpr[%u] = %#" PRIx64 ", expected %#"
				 PRIx64, i, c->gpr[i], regs[i]);
			return false;
		}
	}
	rip = res == OK ? (t->has_xrip ? t->xrip : t->rip + t->len) : t->rip;
	if (c->rip != rip) {
		snprintf(why, n, "rip = %#" PRIx64 ", expected %#" PRIx64,
			 c->rip, rip);
		return false;
	}
	flags = t->rflags ? t->rflags : FX;
	if (res == OK && t->xflags)
		flags = t->xflags;
	if (c->rflags != flags) {
		snprintf(why, n, "rflags = %#" PRIx64 ", expected %#" PRIx64,
			 c->rflags, flags);
		return false;
	}
	for (i = 0; i < ARRAY_SIZE(t->xmem) && t->xmem[i].size; i++) {
		u64 v = mem_peek(t->xmem[i].la, t->xmem[i].size);

		if (v != t->xmem[i].val) {
			snprintf(why, n, "mem %#" PRIx64 " = %#" PRIx64
				 ", expected %#" PRIx64, t->xmem[i].la, v,
				 t->xmem[i].val);
			return false;
		}
	}
	return true;
}

/* Nothing may change when an instruction asks to be retried. */
static bool check_retry(const struct tcase *t, const struct x86_emu_ctxt *c,
			char *why, size_t n)
{
	if (m.wrote) {
		snprintf(why, n, "write performed before RETRY");
		return false;
	}
	if (memcmp(c->gpr, t->regs, sizeof(c->gpr)) || c->rip != t->rip ||
	    c->rflags != (t->rflags ? t->rflags : FX)) {
		snprintf(why, n, "register file changed on RETRY");
		return false;
	}
	return true;
}

static void run_case(const struct tcase *t)
{
	static struct x86_emu_ctxt c;
	unsigned int retries = 0;
	char why[256] = "";
	bool ok = true;
	int res;

	setup(&c, t);
	for (;;) {
		m.nlog = 0;
		m.wrote = false;
		res = x86_emulate(&c);
		if (res != RETRY || retries == 4)
			break;
		retries++;
		if (!check_retry(t, &c, why, sizeof(why))) {
			ok = false;
			break;
		}
	}
	if (ok && res != t->xres) {
		snprintf(why, sizeof(why), "result %d, expected %d", res, t->xres);
		ok = false;
	}
	if (ok && retries != t->xretries) {
		snprintf(why, sizeof(why), "%u retries, expected %u", retries,
			 t->xretries);
		ok = false;
	}
	if (ok && res == EXC && c.exception.vector != t->xvec) {
		snprintf(why, sizeof(why), "vector %u, expected %u",
			 c.exception.vector, t->xvec);
		ok = false;
	}
	if (ok && !t->skip_acc)
		ok = check_log(t, why, sizeof(why));
	if (ok)
		ok = check_state(t, &c, res, why, sizeof(why));
	report(ok, t->name, why);
}

#include "cases.h"

/* ------------------------------------------------------------------------ */

static void run_table(const struct tcase *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		run_case(&cases[i]);
}

#include "generated.h"
#include "lengths.h"
#include "differential.h"
#include "fuzz_seeds.h"

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-seeds"))
		return write_seeds(argv[2]);
	run_table(cases, ARRAY_SIZE(cases));
	run_generated();
	run_lengths();
	run_differential();
	printf("%u passed, %u failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
