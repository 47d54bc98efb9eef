// SPDX-License-Identifier: GPL-2.0
/*
 * Nested page tables (AMD NPT, Intel EPT): a radix tree of 4 KiB tables in
 * the x86 long-mode shape, 512 entries a level, 4 KiB leaves and, where the
 * process maps the memory with a 2 MiB page (THP, hugetlbfs), 2 MiB leaves
 * in level-2 entries (PS, bit 7, in both formats: AMD APM 15.25.3, Intel
 * SDM 29.3.2).  A 2 MiB leaf is only ever put in an empty level-2 entry,
 * so no table is freed to make room for it.
 *
 * All walks run under vm->mmu_lock.  Intermediate tables are never freed
 * before the VM dies, so a zap only clears leaves; that keeps the walker
 * free of use-after-free races and costs at most the tables of the ranges
 * the guest ever touched.
 */
#include <linux/err.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <asm/io.h>

#include <vmm/npt.h>

#define NPT_ENTRIES	512
#define NPT_ADDR_MASK	GENMASK_ULL(51, 12)
#define NPT_PS		BIT_ULL(7)	/* a leaf above level 1 */
#define NPT_HUGE_PAGES	512		/* 4 KiB pages in a 2 MiB leaf */

static inline bool npt_is_huge(u64 pte, int level)
{
	return level == 2 && (pte & NPT_PS);
}

static inline int npt_index(u64 gfn, int level)
{
	return (gfn >> (9 * (level - 1))) & (NPT_ENTRIES - 1);
}

static inline bool npt_present(const struct vmm_npt *npt, u64 pte)
{
	return pte & npt->fmt->present_mask;
}

static inline u64 *npt_table(u64 pte)
{
	return __va(pte & NPT_ADDR_MASK);
}

int vmm_npt_init(struct vmm_npt *npt, const struct vmm_npt_format *fmt)
{
	struct page *page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

	if (!page)
		return -ENOMEM;
	npt->fmt = fmt;
	npt->root = page_address(page);
	npt->root_pa = page_to_phys(page);
	return 0;
}

static void npt_free_table(struct vmm_npt *npt, u64 *table, int level)
{
	int i;

	if (level > 1) {
		for (i = 0; i < NPT_ENTRIES; i++)
			if (npt_present(npt, table[i]) &&
			    !npt_is_huge(table[i], level))
				npt_free_table(npt, npt_table(table[i]), level - 1);
	}
	free_page((unsigned long)table);
}

void vmm_npt_destroy(struct vmm_npt *npt)
{
	if (npt->root)
		npt_free_table(npt, npt->root, npt->fmt->levels);
	npt->root = NULL;
}

int vmm_npt_cache_topup(struct vmm_npt_cache *cache)
{
	while (cache->nr < VMM_NPT_CACHE_PAGES) {
		struct page *page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

		if (!page)
			return -ENOMEM;
		cache->pages[cache->nr++] = page;
	}
	return 0;
}

void vmm_npt_cache_free(struct vmm_npt_cache *cache)
{
	while (cache->nr)
		__free_page(cache->pages[--cache->nr]);
}

/*
 * Return the entry at leaf_level (1 or 2) for gfn, allocating tables from
 * cache if asked; NULL if the cache ran dry, ERR_PTR(-EAGAIN) if a 2 MiB
 * leaf was in the way of a 4 KiB one (it is zapped: the caller flushes the
 * TLBs and lets the guest fault again).
 */
static u64 *npt_walk(struct vmm_npt *npt, struct vmm_npt_cache *cache, u64 gfn,
		     int leaf_level)
{
	u64 *table = npt->root;
	int level;

	for (level = npt->fmt->levels; level > leaf_level; level--) {
		u64 *pte = &table[npt_index(gfn, level)];

		if (npt_is_huge(*pte, level)) {
			/* A 2 MiB leaf in the way: drop it, the caller flushes. */
			WRITE_ONCE(*pte, 0);
			return ERR_PTR(-EAGAIN);
		}
		if (!npt_present(npt, *pte)) {
			struct page *page;

			if (!cache || WARN_ON_ONCE(!cache->nr))
				return NULL;
			page = cache->pages[--cache->nr];
			*pte = page_to_phys(page) | npt->fmt->table_bits;
		}
		table = npt_table(*pte);
	}
	return &table[npt_index(gfn, leaf_level)];
}

/*
 * Map gpa to pfn; with huge, the 2 MiB-aligned range around gpa to the
 * 2 MiB-aligned pfn range starting at pfn.  A huge mapping falls back to
 * 4 KiB when a table of 4 KiB leaves already sits where it would go.
 */
int vmm_npt_map(struct vmm_npt *npt, struct vmm_npt_cache *cache, u64 gpa,
		unsigned long pfn, bool writable, bool huge)
{
	const struct vmm_npt_format *fmt = npt->fmt;
	u64 gfn = gpa >> PAGE_SHIFT;
	u64 *pte = NULL;
	u64 val;

	if (huge && !fmt->huge_leaves) {
		huge = false;
		pfn += gfn & (NPT_HUGE_PAGES - 1);
	}
	if (huge) {
		pte = npt_walk(npt, cache, gfn, 2);
		if (pte && npt_present(npt, *pte) && !(*pte & NPT_PS))
			pte = NULL;
		if (!pte) {
			huge = false;
			pfn += gfn & (NPT_HUGE_PAGES - 1);
		}
	}
	if (!huge)
		pte = npt_walk(npt, cache, gfn, 1);
	if (IS_ERR(pte))
		return PTR_ERR(pte);
	if (!pte)
		return -ENOMEM;
	val = ((u64)pfn << PAGE_SHIFT) | fmt->read_bits | fmt->exec_bits |
	      fmt->accessed_bit;
	if (writable)
		val |= fmt->write_bit;
	if (huge)
		val |= NPT_PS;
	/*
	 * Replacing a present leaf with one for another page (or with fewer
	 * rights) needs a TLB flush, which the caller's notifier path does;
	 * the fault path only ever adds rights to an entry for the same pfn.
	 */
	WRITE_ONCE(*pte, val);
	return 0;
}

/*
 * Apply fn to every present leaf in [gfn, gfn + npages); skip empty
 * subtrees a whole table at a time.
 */
static bool npt_for_each_leaf(struct vmm_npt *npt, u64 gfn, u64 npages,
			      bool (*fn)(struct vmm_npt *, u64 *, bool),
			      bool arg)
{
	u64 end = gfn + npages;
	bool ret = false;

	while (gfn < end) {
		u64 *table = npt->root;
		int level;

		for (level = npt->fmt->levels; level > 1; level--) {
			u64 *pte = &table[npt_index(gfn, level)];

			if (!npt_present(npt, *pte))
				break;
			if (npt_is_huge(*pte, level)) {
				/* The whole 2 MiB leaf, even if only part is asked. */
				ret |= fn(npt, pte, arg);
				break;
			}
			table = npt_table(*pte);
		}
		if (level > 1) {
			/* No table below: skip everything it would map. */
			u64 span = 1ULL << (9 * (level - 1));

			gfn = (gfn + span) & ~(span - 1);
			continue;
		}
		for (; gfn < end; gfn++) {
			u64 *pte = &table[npt_index(gfn, 1)];

			if (npt_present(npt, *pte))
				ret |= fn(npt, pte, arg);
			if (npt_index(gfn, 1) == NPT_ENTRIES - 1) {
				gfn++;
				break;
			}
		}
	}
	return ret;
}

static bool npt_zap_leaf(struct vmm_npt *npt, u64 *pte, bool unused)
{
	WRITE_ONCE(*pte, 0);
	return true;
}

/* Returns true if anything was unmapped: the caller must flush TLBs. */
bool vmm_npt_zap(struct vmm_npt *npt, u64 gfn, u64 npages)
{
	return npt_for_each_leaf(npt, gfn, npages, npt_zap_leaf, false);
}

static bool npt_age_leaf(struct vmm_npt *npt, u64 *pte, bool clear)
{
	u64 a = npt->fmt->accessed_bit;
	bool young = !a || (*pte & a);

	if (clear && a && young)
		clear_bit(__ffs64(a), (unsigned long *)pte);
	return young;
}

/* Whether the guest touched any page of the range since the last clear. */
bool vmm_npt_age(struct vmm_npt *npt, u64 gfn, u64 npages, bool clear)
{
	return npt_for_each_leaf(npt, gfn, npages, npt_age_leaf, clear);
}

static bool npt_wrprot_leaf(struct vmm_npt *npt, u64 *pte, bool unused)
{
	u64 w = npt->fmt->write_bit;

	/*
	 * Dirty logging counts 4 KiB pages: drop a 2 MiB leaf instead (a
	 * logging slot is never mapped huge again), and the next faults map
	 * its pages one by one.  Level-1 entries never have bit 7 set (it is
	 * PAT in NPT, ignored in EPT, and vmm sets neither).
	 */
	if (*pte & NPT_PS) {
		WRITE_ONCE(*pte, 0);
		return true;
	}

	if (!(*pte & w))
		return false;
	WRITE_ONCE(*pte, *pte & ~w);
	return true;
}

bool vmm_npt_write_protect(struct vmm_npt *npt, u64 gfn, u64 npages)
{
	return npt_for_each_leaf(npt, gfn, npages, npt_wrprot_leaf, false);
}
