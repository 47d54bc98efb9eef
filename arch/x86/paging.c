// SPDX-License-Identifier: GPL-2.0
/*
 * Guest page-table walker: turns a guest linear address into a guest
 * physical one, for the accesses the kernel performs on the guest's behalf
 * (instruction fetch for decoding, emulated memory operands, string I/O).
 * Intel SDM Vol. 3A ch. 4 / AMD APM Vol. 2 ch. 5.
 *
 * Only what decides whether the access reaches memory is checked: presence,
 * write permission (with CR0.WP), user permission, and NX for fetches.
 * Accessed/dirty bits are not updated: the hardware already walked the same
 * tables for the access that caused the exit.
 */
#include "x86.h"

#define PTE_P		BIT_ULL(0)
#define PTE_W		BIT_ULL(1)
#define PTE_U		BIT_ULL(2)
#define PTE_PS		BIT_ULL(7)
#define PTE_NX		BIT_ULL(63)
#define PTE_ADDR	GENMASK_ULL(51, 12)

#define PF_PRESENT	BIT(0)

struct walk {
	struct vmm_vcpu *vcpu;
	u32 access;
	bool nx_enabled;
	bool pse;
	bool wp;
	bool user_ok;
	bool write_ok;
	bool exec_ok;
};

static void walk_accumulate(struct walk *w, u64 pte)
{
	w->user_ok &= !!(pte & PTE_U);
	w->write_ok &= !!(pte & PTE_W);
	if (w->nx_enabled && (pte & PTE_NX))
		w->exec_ok = false;
}

static int walk_read(struct walk *w, u64 gpa, void *pte, unsigned int size)
{
	return vmm_read_guest(w->vcpu->vm, gpa, pte, size) ? -EFAULT : 0;
}

/* Permission check once the leaf is reached; returns a #PF error code. */
static u32 walk_fault(struct walk *w)
{
	u32 access = w->access;

	if ((access & VMM_ACCESS_USER) && !w->user_ok)
		return PF_PRESENT | access;
	if ((access & VMM_ACCESS_WRITE) && !w->write_ok &&
	    ((access & VMM_ACCESS_USER) || w->wp))
		return PF_PRESENT | access;
	if ((access & VMM_ACCESS_FETCH) && !w->exec_ok)
		return PF_PRESENT | access;
	return 0;
}

/* 32-bit paging, no PAE: two levels of 32-bit entries, 4 MiB pages with PSE. */
static int walk_32bit(struct walk *w, u64 cr3, u64 la, u64 *gpa, u32 *err)
{
	u32 pde, pte;

	if (walk_read(w, (cr3 & 0xfffff000) + ((la >> 22) & 0x3ff) * 4, &pde, 4))
		return -EFAULT;
	if (!(pde & PTE_P))
		goto not_present;
	walk_accumulate(w, pde);
	if ((pde & PTE_PS) && w->pse) {
		/* PSE-36: bits 20:13 of the PDE are address bits 39:32. */
		*gpa = ((u64)(pde & 0xffc00000) | ((u64)(pde & 0x1fe000) << 19)) |
		       (la & 0x3fffff);
		goto leaf;
	}
	if (walk_read(w, (pde & 0xfffff000) + ((la >> 12) & 0x3ff) * 4, &pte, 4))
		return -EFAULT;
	if (!(pte & PTE_P))
		goto not_present;
	walk_accumulate(w, pte);
	*gpa = (pte & 0xfffff000) | (la & 0xfff);
leaf:
	*err = walk_fault(w);
	return 0;
not_present:
	*err = w->access;
	return 0;
}

/* PAE and long-mode paging: 64-bit entries, 512 a table. */
static int walk_64bit(struct walk *w, u64 table, int levels, u64 la, u64 *gpa,
		      u32 *err)
{
	int level;
	u64 pte;

	for (level = levels; level >= 1; level--) {
		int shift = 12 + 9 * (level - 1);
		u64 index = (la >> shift) & 511;

		/* The PAE PDPT is 32-byte aligned, not page aligned (SDM 4.4.1). */
		u64 base = levels == 3 && level == 3 ? table & 0xffffffe0 :
			   table & PTE_ADDR;

		if (walk_read(w, base + index * 8, &pte, 8))
			return -EFAULT;
		if (!(pte & PTE_P))
			goto not_present;
		/* PAE PDPTEs carry no permission bits (SDM 4.4.1). */
		if (levels != 3 || level != 3)
			walk_accumulate(w, pte);
		if (level <= 3 && level > 1 && (pte & PTE_PS)) {
			u64 mask = (1ULL << shift) - 1;

			*gpa = (pte & PTE_ADDR & ~mask) | (la & mask);
			goto leaf;
		}
		table = pte;
	}
	*gpa = (pte & PTE_ADDR) | (la & 0xfff);
leaf:
	*err = walk_fault(w);
	return 0;
not_present:
	*err = w->access;
	return 0;
}

/*
 * Returns 0 and sets *gpa, or 0 with *pf_error non-zero when the guest must
 * take a #PF, or -EFAULT when a page-table page is not in guest RAM.
 */
int vmm_x86_translate(struct vmm_vcpu *vcpu, u64 la, u32 access, u64 *gpa,
		      u32 *pf_error)
{
	u64 cr0 = vmm_ops->get_cr(vcpu, 0);
	u64 cr3 = vmm_ops->get_cr(vcpu, 3);
	u64 cr4 = vmm_ops->get_cr(vcpu, 4);
	struct walk w = {
		.vcpu = vcpu,
		.access = access,
		.nx_enabled = vcpu->arch.efer & EFER_NX,
		.pse = cr4 & X86_CR4_PSE,
		.wp = cr0 & X86_CR0_WP,
		.user_ok = true,
		.write_ok = true,
		.exec_ok = true,
	};

	*pf_error = 0;
	if (!(cr0 & X86_CR0_PG)) {
		*gpa = vmm_x86_is_long_mode(vcpu) ? la : (u32)la;
		return 0;
	}
	if (vmm_x86_is_long_mode(vcpu))
		return walk_64bit(&w, cr3, (cr4 & X86_CR4_LA57) ? 5 : 4, la,
				  gpa, pf_error);
	if (cr4 & X86_CR4_PAE)
		return walk_64bit(&w, cr3, 3, (u32)la, gpa, pf_error);
	return walk_32bit(&w, cr3, (u32)la, gpa, pf_error);
}
