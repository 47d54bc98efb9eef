/* SPDX-License-Identifier: GPL-2.0 */
/*
 * "emulator_test --write-seeds DIR" writes the table-driven cases (cases.h,
 * lengths.h) as inputs of the fuzz target (fuzz_input.h): its seed corpus,
 * made at build time rather than kept in the tree. Part of emulator_test.c.
 */
#include <errno.h>
#include <sys/stat.h>

#include "fuzz_input.h"

static int seed_write(const char *dir, unsigned int n,
		      const struct fuzz_input *in, const u8 *pool,
		      size_t pool_len)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/seed-%04u", dir, n);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		return -1;
	}
	ok = fwrite(in, sizeof(*in), 1, f) == 1 &&
	     (!pool_len || fwrite(pool, pool_len, 1, f) == 1);
	if (fclose(f) || !ok) {
		perror(path);
		return -1;
	}
	return 0;
}

static void put_le_bytes(u8 *p, u64 val, unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes; i++)
		p[i] = (u8)(val >> (8 * i));
}

/* Batching as fake_batch_ok() does it, max_rep_count 64 (rep_counts[4]). */
#define SEED_OPTIONS	(FUZZ_OPT_BATCH_OK | FUZZ_OPT_BATCH_MMIO | \
			 (4 << FUZZ_OPT_REP_SHIFT))

static int seed_from_case(const char *dir, unsigned int n,
			  const struct tcase *t)
{
	struct fuzz_input in;
	u8 pool[ARRAY_SIZE(t->init) * 8];
	size_t pool_len = 0;
	unsigned int i;

	memset(&in, 0, sizeof(in));
	in.mode = (u8)t->mode;
	in.options = SEED_OPTIONS;
	in.insn_len = (u8)(t->fetched ? t->fetched : X86_EMU_MAX_INSN_LEN);
	memcpy(in.insn, t->insn, sizeof(in.insn));
	in.rip = t->rip;
	in.rflags = t->rflags ? t->rflags : FX;
	memcpy(in.gpr, t->regs, sizeof(in.gpr));
	memcpy(in.seg_base, t->seg, sizeof(in.seg_base));
	in.mmio_page = 0xfffff000;
	in.fault_page = 0xffffe000;
	for (i = 0; i < NR_PAGES; i++)
		if (t->pages[i].mmio)
			in.mmio_page = t->pages[i].la;
	for (i = 0; i < ARRAY_SIZE(t->init) && t->init[i].size; i++) {
		put_le_bytes(pool + pool_len, t->init[i].val, 8);
		pool_len += 8;
	}
	return seed_write(dir, n, &in, pool, pool_len);
}

static int seed_from_length(const char *dir, unsigned int n,
			    const struct len_case *t)
{
	struct fuzz_input in;

	memset(&in, 0, sizeof(in));
	in.mode = (u8)t->mode;
	in.options = SEED_OPTIONS;
	in.insn_len = (u8)t->n;
	memcpy(in.insn, t->bytes, sizeof(in.insn));
	in.mmio_page = 0xfffff000;
	in.fault_page = 0xffffe000;
	return seed_write(dir, n, &in, NULL, 0);
}

static int write_seeds(const char *dir)
{
	unsigned int i, n = 0;

	if (mkdir(dir, 0755) && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (seed_from_case(dir, n++, &cases[i]))
			return 1;
	for (i = 0; i < ARRAY_SIZE(len_cases); i++)
		if (seed_from_length(dir, n++, &len_cases[i]))
			return 1;
	printf("%u seeds written to %s\n", n, dir);
	return 0;
}
