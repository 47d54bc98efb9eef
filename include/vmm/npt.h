/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Nested page tables: guest-physical to host-physical, built on demand.
 * One walker serves AMD NPT and Intel EPT; the entry format is data.
 */
#ifndef _VMM_NPT_H
#define _VMM_NPT_H

#include <linux/types.h>

struct page;

struct vmm_npt_format {
	u64 table_bits;		/* bits of a non-leaf entry */
	u64 present_mask;	/* an entry with any of these bits is present */
	u64 read_bits;		/* bits of every leaf */
	u64 write_bit;
	u64 exec_bits;		/* set to allow execution (EPT) */
	u64 nx_bit;		/* set to forbid execution (NPT) */
	u64 accessed_bit;	/* 0 if the format has none */
	int levels;		/* 4 or 5 */
	bool huge_leaves;	/* 2 MiB leaves in level-2 entries allowed */
};

struct vmm_npt {
	const struct vmm_npt_format *fmt;
	u64 *root;
	phys_addr_t root_pa;
};

/* Table pages allocated before mmu_lock is taken (mapping cannot sleep). */
#define VMM_NPT_CACHE_PAGES	5
struct vmm_npt_cache {
	int nr;
	struct page *pages[VMM_NPT_CACHE_PAGES];
};

int vmm_npt_init(struct vmm_npt *npt, const struct vmm_npt_format *fmt);
void vmm_npt_destroy(struct vmm_npt *npt);
int vmm_npt_cache_topup(struct vmm_npt_cache *cache);
void vmm_npt_cache_free(struct vmm_npt_cache *cache);
int vmm_npt_map(struct vmm_npt *npt, struct vmm_npt_cache *cache, u64 gpa,
		unsigned long pfn, bool writable, bool huge);
bool vmm_npt_zap(struct vmm_npt *npt, u64 gfn, u64 npages);
bool vmm_npt_age(struct vmm_npt *npt, u64 gfn, u64 npages, bool clear);
bool vmm_npt_write_protect(struct vmm_npt *npt, u64 gfn, u64 npages);

#endif /* _VMM_NPT_H */
