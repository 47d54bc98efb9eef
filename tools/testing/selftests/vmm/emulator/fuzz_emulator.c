// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the freestanding x86 decoder and emulator.
 *
 * The input (fuzz_input.h) picks the CPU mode, the API sequence, the register
 * file, RFLAGS, segment bases, up to 15 instruction bytes and how many of
 * them the emulator may read, an MMIO page (reads exit with RETRY until
 * answered, as in arch/x86/exits.c), a page that faults with #PF, which
 * callback fails and how, and the bytes ordinary memory returns.
 *
 * Beyond ASan and UBSan, every callback checks the contract of emulate.h and
 * abort()s when it is broken, and each x86_emulate() result is checked:
 * - the instruction bytes past insn_len are poisoned, so reading them is an
 *   ASan report; a decode gives the same answer with exactly its length
 *   fetched, and "ran out of bytes" with one byte less;
 * - accesses are 1-8 bytes, or up to X86_EMU_BUF_SIZE for REP string
 *   batches, never cross a page, are canonical in 64-bit mode and 32-bit
 *   elsewhere; MMIO refused by batch_ok() is moved one item per call;
 * - all reads come before the single write (two pieces at most, at a page
 *   boundary), and no callback follows one that failed;
 * - a failing callback's result is the instruction's result, and any
 *   result other than X86_EMU_OK leaves the register file, RIP and RFLAGS
 *   untouched; exceptions of the emulator's own are #UD, #GP(0), #SS(0);
 * - on X86_EMU_OK, RIP advances by exactly the length (wrapped to the code
 *   size), or stays for an unfinished REP string batch whose count
 *   dropped; only arithmetic flags change; at most three GPRs change;
 * - the whole run (results, callbacks and their data, final state) is the
 *   same when the context starts filled with other garbage: nothing
 *   depends on fields the caller need not set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "emulate.h"
#include "fuzz_input.h"

#define NR_MODES	5
#define MAX_CALLS	8	/* x86_emulate() calls per input */
#define MAX_ANSWERED	16	/* MMIO reads answered, as VMM_MMIO_READS */

enum cb_kind { CB_READ, CB_WRITE, CB_PIO_IN, CB_PIO_OUT, CB_NR };

static const unsigned int rep_counts[8] = {
	1, 2, 3, 8, 64, 511, X86_EMU_BUF_SIZE, 0xffffffffu
};

/* What a run did, compared between two runs of one input. */
struct outcome {
	int results[MAX_CALLS];
	unsigned int calls;
	u64 gpr[X86_NR_GPRS];
	u64 rip;
	u64 rflags;
	struct x86_emu_exception exception;
	u64 trace;		/* hash of every callback and its data */
};

struct fuzz_state {
	struct fuzz_input in;
	u8 fill;			/* garbage the context starts with */
	const u8 *pool;
	size_t pool_len;
	int fault_cb;			/* enum fuzz_fault_cb */
	int fault_res;			/* what the chosen call returns */
	unsigned int fault_nth;
	unsigned int calls[CB_NR];	/* per kind, over the whole input */
	unsigned int all_calls;
	struct { u64 la; unsigned int size; } answered[MAX_ANSWERED];
	unsigned int nanswered;

	/* per x86_emulate() call */
	int failed_res;			/* X86_EMU_OK, or a callback's failure */
	bool wrote;			/* memory write or port output seen */
	unsigned int write_pieces;
	u64 write_next;			/* where a split write continues */
	u64 fault_la;
	struct outcome out;
};

static struct fuzz_state st;

static void contract(bool ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_emulator: contract broken: %s\n", what);
	abort();
}

static bool mode64(const struct x86_emu_ctxt *ctxt)
{
	return ctxt->mode == X86_EMU_MODE_PROT64;
}

static u64 code_mask(enum x86_emu_mode mode)
{
	if (mode == X86_EMU_MODE_PROT64)
		return ~0ull;
	return mode == X86_EMU_MODE_PROT32 ? 0xffffffffull : 0xffffull;
}

static u64 addr_mask(unsigned int bytes)
{
	return bytes == 8 ? ~0ull : (1ull << (bytes * 8)) - 1;
}

static bool canonical(const struct x86_emu_ctxt *ctxt, u64 la)
{
	unsigned int shift = ctxt->la57 ? 64 - 57 : 64 - 48;

	return (u64)((s64)(la << shift) >> shift) == la;
}

/* INS, OUTS, MOVS, CMPS, STOS, LODS, SCAS. */
static bool is_string(const struct x86_emu_insn *d)
{
	if (d->opmap != 0)
		return false;
	return (d->opcode >= 0x6c && d->opcode <= 0x6f) ||
	       (d->opcode >= 0xa4 && d->opcode <= 0xa7) ||
	       (d->opcode >= 0xaa && d->opcode <= 0xaf);
}

static bool on_page(u64 la, u64 page)
{
	return (la & ~4095ull) == (page & ~4095ull);
}

/* ------------------------------------------------------------------------ */
/* Callbacks */

/* Counts the call and returns the injected failure, or X86_EMU_OK. */
static int cb_enter(struct x86_emu_ctxt *ctxt, enum cb_kind kind, u64 la)
{
	unsigned int nth = st.calls[kind]++;
	unsigned int any = st.all_calls++;
	bool hit;

	contract(st.failed_res == X86_EMU_OK,
		 "callback after a callback failed");
	if (st.fault_cb == FUZZ_FAULT_ANY)
		hit = any == st.fault_nth;
	else
		hit = st.fault_cb == FUZZ_FAULT_READ + (int)kind &&
		      nth == st.fault_nth;
	if (!hit || st.fault_res == X86_EMU_OK)
		return X86_EMU_OK;
	if (st.fault_res == X86_EMU_EXCEPTION) {
		ctxt->exception.vector = 14;
		ctxt->exception.has_error_code = true;
		ctxt->exception.error_code = kind == CB_WRITE ? 2 : 0;
		ctxt->exception.cr2 = la;
		st.fault_la = la;
	}
	return st.fault_res;
}

static int cb_fail(int res)
{
	st.failed_res = res;
	return res;
}

/* FNV-1a over what the emulator told a callback and what it got back. */
static void trace(u64 tag, const void *data, size_t len)
{
	const u8 *p = data;
	size_t i;

	st.out.trace = (st.out.trace ^ tag) * 0x100000001b3ull;
	for (i = 0; i < len; i++)
		st.out.trace = (st.out.trace ^ p[i]) * 0x100000001b3ull;
}

static void check_mem_access(struct x86_emu_ctxt *ctxt, u64 la,
			     unsigned int size)
{
	const struct x86_emu_insn *d = &ctxt->d;

	contract(size >= 1 && size <= X86_EMU_BUF_SIZE, "access size");
	contract((la & 4095) + size <= 4096, "access crosses a page");
	if (mode64(ctxt))
		contract(canonical(ctxt, la) && canonical(ctxt, la + size - 1),
			 "non-canonical access");
	else
		contract(la <= 0xffffffffull, "access above 4 GiB outside 64-bit");
	if (size > 8) {
		contract(is_string(d) && d->rep, "batch without REP string");
		contract(size % d->op_bytes == 0, "batch of partial items");
		if (ctxt->ops->batch_ok &&
		    (st.in.options & FUZZ_OPT_BATCH_MMIO))
			contract(!on_page(la, st.in.mmio_page),
				 "MMIO moved in a batch");
	}
}

static int fuzz_read(struct x86_emu_ctxt *ctxt, u64 la, void *data,
		     unsigned int size)
{
	u8 *p = data;
	unsigned int i;
	int r;

	check_mem_access(ctxt, la, size);
	contract(!st.wrote, "read after the write");
	trace(la ^ ((u64)size << 48) ^ (1ull << 62), NULL, 0);
	r = cb_enter(ctxt, CB_READ, la);
	if (r)
		return cb_fail(r);
	if (on_page(la, st.in.fault_page)) {
		ctxt->exception.vector = 14;
		ctxt->exception.has_error_code = true;
		ctxt->exception.error_code = 0;
		ctxt->exception.cr2 = la;
		st.fault_la = la;
		return cb_fail(X86_EMU_EXCEPTION);
	}
	if (on_page(la, st.in.mmio_page)) {
		for (i = 0; i < st.nanswered; i++)
			if (st.answered[i].la == la && st.answered[i].size == size)
				break;
		if (i == st.nanswered) {
			if (st.nanswered == MAX_ANSWERED)
				return cb_fail(X86_EMU_UNHANDLED);
			st.answered[st.nanswered].la = la;
			st.answered[st.nanswered++].size = size;
			return cb_fail(X86_EMU_RETRY);
		}
	}
	for (i = 0; i < size; i++)
		p[i] = st.pool_len ? st.pool[(la + i) % st.pool_len] :
				     (u8)(la + i);
	return X86_EMU_OK;
}

static int fuzz_write(struct x86_emu_ctxt *ctxt, u64 la, const void *data,
		      unsigned int size)
{
	int r;

	check_mem_access(ctxt, la, size);
	trace(la ^ ((u64)size << 48) ^ (2ull << 62), data, size);
	if (st.wrote)
		contract(st.write_pieces == 1 && la == st.write_next &&
			 !(la & 4095), "second write");
	r = cb_enter(ctxt, CB_WRITE, la);
	if (r)
		return cb_fail(r);
	if (on_page(la, st.in.fault_page)) {
		ctxt->exception.vector = 14;
		ctxt->exception.has_error_code = true;
		ctxt->exception.error_code = 2;
		ctxt->exception.cr2 = la;
		st.fault_la = la;
		return cb_fail(X86_EMU_EXCEPTION);
	}
	st.wrote = true;
	st.write_pieces++;
	st.write_next = la + size;
	if (!mode64(ctxt))
		st.write_next &= 0xffffffffull;
	return X86_EMU_OK;
}

static void check_pio(struct x86_emu_ctxt *ctxt, unsigned int size,
		      unsigned int count)
{
	contract(size == 1 || size == 2 || size == 4, "port access size");
	contract(count >= 1 && size * count <= X86_EMU_BUF_SIZE,
		 "port item count");
	contract(count == 1 || (ctxt->d.rep && count <= ctxt->max_rep_count),
		 "port batch without REP or above max_rep_count");
	contract(!st.wrote, "port access after the write");
}

static int fuzz_pio_in(struct x86_emu_ctxt *ctxt, u16 port, unsigned int size,
		       unsigned int count, void *data)
{
	u8 *p = data;
	unsigned int i;
	int r;

	check_pio(ctxt, size, count);
	trace(port ^ ((u64)size << 16) ^ ((u64)count << 32), NULL, 0);
	r = cb_enter(ctxt, CB_PIO_IN, port);
	if (r)
		return cb_fail(r);
	for (i = 0; i < size * count; i++)
		p[i] = st.pool_len ? st.pool[(port + i) % st.pool_len] : (u8)i;
	return X86_EMU_OK;
}

static int fuzz_pio_out(struct x86_emu_ctxt *ctxt, u16 port,
			unsigned int size, unsigned int count,
			const void *data)
{
	int r;

	check_pio(ctxt, size, count);
	trace(port ^ ((u64)size << 16) ^ ((u64)count << 32) ^ (3ull << 62),
	      data, (size_t)size * count);
	r = cb_enter(ctxt, CB_PIO_OUT, port);
	if (r)
		return cb_fail(r);
	st.wrote = true;
	return X86_EMU_OK;
}

static bool fuzz_batch_ok(struct x86_emu_ctxt *ctxt, u64 la)
{
	(void)ctxt;
	contract(st.failed_res == X86_EMU_OK, "batch_ok after a failure");
	trace(la ^ (1ull << 61), NULL, 0);
	if (!(st.in.options & FUZZ_OPT_BATCH_MMIO))
		return true;
	return !on_page(la, st.in.mmio_page);
}

static const struct x86_emu_ops ops_batch = {
	.read = fuzz_read,
	.write = fuzz_write,
	.pio_in = fuzz_pio_in,
	.pio_out = fuzz_pio_out,
	.batch_ok = fuzz_batch_ok,
};

static const struct x86_emu_ops ops_nobatch = {
	.read = fuzz_read,
	.write = fuzz_write,
	.pio_in = fuzz_pio_in,
	.pio_out = fuzz_pio_out,
};

/* ------------------------------------------------------------------------ */
/* Contexts whose instruction bytes past insn_len are poisoned */

static struct x86_emu_ctxt *ctxt_new(unsigned int insn_len)
{
	struct x86_emu_ctxt *c = malloc(sizeof(*c));
	const struct fuzz_input *in = &st.in;

	if (!c)
		abort();
	/* Garbage everywhere the caller need not initialise. */
	memset(c, st.fill, sizeof(*c));
	c->ops = (in->options & FUZZ_OPT_BATCH_OK) ? &ops_batch : &ops_nobatch;
	c->priv = NULL;
	c->mode = (enum x86_emu_mode)((in->mode & FUZZ_MODE_MASK) % NR_MODES);
	c->la57 = in->mode & FUZZ_MODE_LA57;
	memcpy(c->seg_base, in->seg_base, sizeof(c->seg_base));
	memcpy(c->insn, in->insn, sizeof(c->insn));
	c->insn_len = insn_len;
	c->max_rep_count = rep_counts[(in->options >> FUZZ_OPT_REP_SHIFT) & 7];
	memcpy(c->gpr, in->gpr, sizeof(c->gpr));
	c->rip = in->rip;
	c->rflags = in->rflags | X86_EMU_FLAGS_FIXED;
	c->decoded = false;
	ASAN_POISON_MEMORY_REGION(c->insn + insn_len,
				  sizeof(c->insn) - insn_len);
	return c;
}

static void ctxt_free(struct x86_emu_ctxt *c)
{
	ASAN_UNPOISON_MEMORY_REGION(c->insn, sizeof(c->insn));
	free(c);
}

/* ------------------------------------------------------------------------ */
/* Decoder invariants */

static void check_decode(unsigned int insn_len)
{
	struct x86_emu_ctxt *c = ctxt_new(insn_len), *c2;
	struct x86_emu_insn d;
	bool emulatable;
	int r, len;

	r = x86_decode(c);
	contract(r == X86_EMU_OK || r == X86_EMU_EXCEPTION ||
		 r == X86_EMU_UNHANDLED, "decode result");
	if (r == X86_EMU_EXCEPTION) {
		contract((c->exception.vector == X86_EMU_VEC_UD &&
			  !c->exception.has_error_code) ||
			 (c->exception.vector == X86_EMU_VEC_GP &&
			  c->exception.has_error_code &&
			  !c->exception.error_code), "decode exception");
	}
	if (r != X86_EMU_OK) {
		contract(!c->decoded, "decoded set on failure");
		contract(x86_insn_length(c) == -1, "length of a failed decode");
		ctxt_free(c);
		return;
	}
	len = c->d.len;
	contract(c->decoded, "decoded not set");
	contract(len >= 1 && (unsigned int)len <= insn_len,
		 "length beyond the fetched bytes");
	contract(!c->emulatable || c->d.handler, "emulatable without handler");
	contract(c->d.op_bytes == 1 || c->d.op_bytes == 2 ||
		 c->d.op_bytes == 4 || c->d.op_bytes == 8, "operand size");
	contract(c->d.addr_bytes == 2 || c->d.addr_bytes == 4 ||
		 c->d.addr_bytes == 8, "address size");
	d = c->d;
	emulatable = c->emulatable;
	ctxt_free(c);

	/* Exactly the instruction's bytes fetched: the same decode. */
	c2 = ctxt_new((unsigned int)len);
	contract(x86_decode(c2) == X86_EMU_OK &&
		 !memcmp(&c2->d, &d, sizeof(d)) &&
		 c2->emulatable == emulatable,
		 "decode depends on bytes past the instruction");
	contract(x86_insn_length(c2) == len, "x86_insn_length");
	ctxt_free(c2);

	/* One byte fewer: the bytes run out. */
	c2 = ctxt_new((unsigned int)len - 1);
	contract(x86_decode(c2) == X86_EMU_UNHANDLED,
		 "decode of a truncated instruction");
	ctxt_free(c2);
}

/* ------------------------------------------------------------------------ */
/* Execution invariants */

struct snapshot {
	u64 gpr[X86_NR_GPRS];
	u64 rip;
	u64 rflags;
};

static void snap(const struct x86_emu_ctxt *c, struct snapshot *s)
{
	memcpy(s->gpr, c->gpr, sizeof(s->gpr));
	s->rip = c->rip;
	s->rflags = c->rflags;
}

static bool unchanged(const struct x86_emu_ctxt *c, const struct snapshot *s)
{
	return !memcmp(s->gpr, c->gpr, sizeof(s->gpr)) && s->rip == c->rip &&
	       s->rflags == c->rflags;
}

static void check_ok(const struct x86_emu_ctxt *c, const struct snapshot *s)
{
	const struct x86_emu_insn *d = &c->d;
	u64 amask = addr_mask(d->addr_bytes);
	unsigned int i, changed = 0;

	contract(d->len >= 1 && d->len <= X86_EMU_MAX_INSN_LEN &&
		 d->len <= c->insn_len, "length on success");
	contract(!((c->rflags ^ s->rflags) & ~X86_EMU_FLAGS_ARITH),
		 "non-arithmetic RFLAGS bit changed");
	for (i = 0; i < X86_NR_GPRS; i++)
		changed += c->gpr[i] != s->gpr[i];
	contract(changed <= 3, "more than three GPRs changed");
	if (c->rip == ((s->rip + d->len) & code_mask(c->mode)))
		return;
	contract(c->rip == s->rip, "RIP not advanced by the length");
	/* An unfinished REP batch: its count must have dropped, not to 0. */
	contract(is_string(d) && d->rep, "RIP kept by a non-REP instruction");
	contract((c->gpr[X86_RCX] & amask) < (s->gpr[X86_RCX] & amask) &&
		 (c->gpr[X86_RCX] & amask), "REP batch made no progress");
}

static void check_result(const struct x86_emu_ctxt *c,
			 const struct snapshot *s, int r)
{
	contract(r == X86_EMU_OK || r == X86_EMU_RETRY ||
		 r == X86_EMU_EXCEPTION || r == X86_EMU_UNHANDLED,
		 "emulate result");
	if (st.failed_res != X86_EMU_OK)
		contract(r == st.failed_res, "callback failure not returned");
	if (r == X86_EMU_OK) {
		check_ok(c, s);
		return;
	}
	contract(unchanged(c, s), "register file changed without success");
	if (r == X86_EMU_RETRY)
		contract(st.failed_res == X86_EMU_RETRY, "RETRY made up");
	if (r != X86_EMU_EXCEPTION)
		return;
	if (st.failed_res == X86_EMU_EXCEPTION) {
		contract(c->exception.vector == 14 &&
			 c->exception.cr2 == st.fault_la,
			 "callback's #PF overwritten");
		return;
	}
	contract((c->exception.vector == X86_EMU_VEC_UD &&
		  !c->exception.has_error_code) ||
		 ((c->exception.vector == X86_EMU_VEC_GP ||
		   c->exception.vector == X86_EMU_VEC_SS) &&
		  c->exception.has_error_code && !c->exception.error_code),
		 "emulator exception");
}

static int first_call(struct x86_emu_ctxt *c)
{
	enum fuzz_api api = (enum fuzz_api)((st.in.mode >> FUZZ_MODE_API_SHIFT) & 3);

	switch (api) {
	case FUZZ_API_DECODE_TWICE:
		x86_decode(c);
		/* fall through */
	case FUZZ_API_DECODE:
		if (x86_decode(c) != X86_EMU_OK)
			contract(!c->decoded, "decoded set on failure");
		break;
	case FUZZ_API_LENGTH:
		x86_insn_length(c);
		break;
	default:
		break;
	}
	return x86_emulate(c);
}

/* Emulate the input until it completes, fails or runs out of calls. */
static void run(u8 fill, unsigned int insn_len, struct outcome *out)
{
	struct x86_emu_ctxt *c;
	struct snapshot s;
	unsigned int call;
	int r;

	memset(st.calls, 0, sizeof(st.calls));
	st.all_calls = 0;
	st.nanswered = 0;
	memset(&st.out, 0, sizeof(st.out));
	st.fill = fill;
	c = ctxt_new(insn_len);
	for (call = 0; call < MAX_CALLS; call++) {
		snap(c, &s);
		st.failed_res = X86_EMU_OK;
		st.wrote = false;
		st.write_pieces = 0;
		r = call ? x86_emulate(c) : first_call(c);
		check_result(c, &s, r);
		st.out.results[st.out.calls++] = r;
		if (r == X86_EMU_OK)
			st.nanswered = 0;	/* MMIO answers last one insn */
		if (r == X86_EMU_RETRY)
			continue;
		if (r != X86_EMU_OK || c->rip != s.rip)
			break;
	}
	memcpy(st.out.gpr, c->gpr, sizeof(st.out.gpr));
	st.out.rip = c->rip;
	st.out.rflags = c->rflags;
	if (r == X86_EMU_EXCEPTION) {	/* not the padding: it is garbage */
		st.out.exception.vector = c->exception.vector;
		st.out.exception.has_error_code = c->exception.has_error_code;
		st.out.exception.error_code = c->exception.error_code;
		st.out.exception.cr2 = c->exception.cr2;
	}
	*out = st.out;
	ctxt_free(c);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static struct outcome first, second;
	unsigned int insn_len;
	u8 fill;

	memset(&st, 0, sizeof(st));
	memcpy(&st.in, data, size < FUZZ_HDR_SIZE ? size : FUZZ_HDR_SIZE);
	if (size > FUZZ_HDR_SIZE) {
		st.pool = data + FUZZ_HDR_SIZE;
		st.pool_len = size - FUZZ_HDR_SIZE;
	}
	st.fault_cb = st.in.fault & 7;
	st.fault_res = (st.in.fault >> 3) & 3;	/* X86_EMU_OK: none */
	st.fault_nth = st.in.fault >> 5;
	insn_len = st.in.insn_len % (X86_EMU_MAX_INSN_LEN + 1);
	fill = (u8)(0x11 * (st.in.options >> FUZZ_OPT_FILL_SHIFT));

	st.fill = fill;
	check_decode(insn_len);
	run(fill, insn_len, &first);
	run((u8)~fill, insn_len, &second);
	contract(!memcmp(&first, &second, sizeof(first)),
		 "result depends on what the context held before");
	return 0;
}
