// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory: memslots map guest-physical ranges onto the creating
 * process's virtual address space.  Nothing is pinned: a nested page fault
 * looks the page up with get_user_pages, maps it, and drops the reference
 * at once; the MMU notifier takes the mapping away again whenever the
 * process's own page tables change (munmap, MADV_DONTNEED, mprotect,
 * migration, swap, KSM, COW after fork).
 *
 * The race between a fault and an invalidation is closed by mmu_seq: a
 * fault samples it before looking the page up and installs the mapping only
 * if no invalidation ran or is running meanwhile (checked under mmu_lock).
 */
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include <vmm/vmm.h>

/* KVM's limit on the pages of one slot (the dirty bitmap is indexed by int). */
#define VMM_MEMSLOT_MAX_PAGES	((1ULL << 31) - 1)

/* The process address of gpa, which lies in slot. */
static unsigned long vmm_memslot_hva(const struct vmm_memslot *slot, u64 gpa)
{
	return slot->hva + (gpa - (slot->base_gfn << PAGE_SHIFT));
}

struct vmm_memslot *vmm_memslot_find(struct vmm_memslots *slots, u64 gfn)
{
	unsigned int i;

	for (i = 0; i < slots->nr; i++) {
		struct vmm_memslot *s = &slots->slot[i];

		if (gfn >= s->base_gfn && gfn - s->base_gfn < s->npages)
			return s;
	}
	return NULL;
}

static struct vmm_memslot *vmm_memslot_by_id(struct vmm_memslots *slots, u16 id)
{
	unsigned int i;

	for (i = 0; i < slots->nr; i++)
		if (slots->slot[i].id == id)
			return &slots->slot[i];
	return NULL;
}

static bool vmm_memslot_overlaps(struct vmm_memslots *slots, u16 id,
				 u64 gfn, u64 npages)
{
	unsigned int i;

	for (i = 0; i < slots->nr; i++) {
		struct vmm_memslot *s = &slots->slot[i];

		if (s->id != id && gfn < s->base_gfn + s->npages &&
		    s->base_gfn < gfn + npages)
			return true;
	}
	return false;
}

/* The checks KVM documents for KVM_SET_USER_MEMORY_REGION. */
static int vmm_memslot_validate(const struct kvm_userspace_memory_region *mem)
{
	u32 as_id = mem->slot >> 16, id = mem->slot & 0xffff;

	if (mem->flags & ~(KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES))
		return -EINVAL;
	if (as_id || id >= VMM_MAX_MEMSLOTS)
		return -EINVAL;
	if (!PAGE_ALIGNED(mem->memory_size) ||
	    !PAGE_ALIGNED(mem->guest_phys_addr) ||
	    !PAGE_ALIGNED(mem->userspace_addr))
		return -EINVAL;
	if (mem->memory_size &&
	    !access_ok((void __user *)(unsigned long)mem->userspace_addr,
		       mem->memory_size))
		return -EINVAL;
	if (mem->guest_phys_addr + mem->memory_size < mem->guest_phys_addr)
		return -EINVAL;
	if ((mem->memory_size >> PAGE_SHIFT) > VMM_MEMSLOT_MAX_PAGES)
		return -EINVAL;
	return 0;
}

/*
 * Publish a new slot array and retire the old one.  Once synchronize_srcu()
 * returns no fault can still be using a slot that is gone, so mappings of
 * the vacated range can be zapped and a retired dirty bitmap freed.
 */
static void vmm_memslots_replace(struct vmm_vm *vm, struct vmm_memslots *new,
				 const struct vmm_memslot *vacated,
				 unsigned long *retired_bitmap)
{
	struct vmm_memslots *old = vmm_memslots(vm);

	/*
	 * Not while an invalidation is in progress: its end must see the
	 * slots its start saw (vmm_mn_invalidate_range_end()).  New ones
	 * cannot start meanwhile: they take mmu_lock to begin.
	 */
	spin_lock(&vm->mmu_lock);
	while (vm->mmu_active_invalidations) {
		spin_unlock(&vm->mmu_lock);
		wait_event(vm->mmu_idle_wq,
			   !READ_ONCE(vm->mmu_active_invalidations));
		spin_lock(&vm->mmu_lock);
	}
	rcu_assign_pointer(vm->slots, new);
	spin_unlock(&vm->mmu_lock);
	synchronize_srcu(&vm->srcu);
	if (vacated)
		vmm_arch_zap_gfn_range(vm, vacated->base_gfn, vacated->npages);
	kvfree(retired_bitmap);
	kvfree(old);
}

static unsigned long vmm_dirty_bitmap_bytes(u64 npages)
{
	return ALIGN(npages, BITS_PER_LONG) / 8;
}

/*
 * Start logging: clear write access everywhere in the slot, so that the
 * next write to every page faults and is recorded.
 */
static void vmm_memslot_start_logging(struct vmm_vm *vm, struct vmm_memslot *s)
{
	bool flush;

	spin_lock(&vm->mmu_lock);
	flush = vmm_npt_write_protect(&vm->npt, s->base_gfn, s->npages);
	spin_unlock(&vm->mmu_lock);
	if (flush)
		vmm_vm_request_all(vm, VMM_REQ_TLB_FLUSH);
}

int vmm_memslot_set(struct vmm_vm *vm,
		    const struct kvm_userspace_memory_region *mem)
{
	struct vmm_memslots *slots = vmm_memslots(vm), *new;
	struct vmm_memslot *old, *s, vacated;
	u64 gfn = mem->guest_phys_addr >> PAGE_SHIFT;
	u64 npages = mem->memory_size >> PAGE_SHIFT;
	bool log = mem->flags & KVM_MEM_LOG_DIRTY_PAGES;
	unsigned long *bitmap = NULL, *retired = NULL;
	u16 id = mem->slot & 0xffff;
	bool start_logging;
	int r;

	lockdep_assert_held(&vm->lock);
	r = vmm_memslot_validate(mem);
	if (r)
		return r;

	old = vmm_memslot_by_id(slots, id);
	if (!npages && !old)
		return -EINVAL;
	if (npages && old) {
		/* Only moves and flag changes are allowed on a live slot. */
		if (mem->userspace_addr != old->hva || npages != old->npages ||
		    (mem->flags ^ old->flags) & KVM_MEM_READONLY)
			return -EINVAL;
		if (gfn == old->base_gfn && mem->flags == old->flags)
			return 0;
	}
	if (npages && vmm_memslot_overlaps(slots, id, gfn, npages))
		return -EEXIST;

	new = kvmalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		return -ENOMEM;
	if (log && !(old && old->dirty_bitmap)) {
		bitmap = kvzalloc(vmm_dirty_bitmap_bytes(npages), GFP_KERNEL_ACCOUNT);
		if (!bitmap) {
			kvfree(new);
			return -ENOMEM;
		}
	}
	memcpy(new, slots, sizeof(*new));

	if (old) {
		vacated = *old;
		s = &new->slot[old - slots->slot];
		if (!npages) {
			/* Delete: the last entry fills the hole. */
			*s = new->slot[--new->nr];
			vmm_memslots_replace(vm, new, &vacated, old->dirty_bitmap);
			return 0;
		}
		if (!log) {
			retired = old->dirty_bitmap;
			s->dirty_bitmap = NULL;
		}
	} else {
		s = &new->slot[new->nr++];
		s->dirty_bitmap = NULL;
	}
	if (bitmap)
		s->dirty_bitmap = bitmap;
	s->id = id;
	s->base_gfn = gfn;
	s->npages = npages;
	s->hva = mem->userspace_addr;
	s->flags = mem->flags;
	/* Decided now: replacing the array frees the one old points into. */
	start_logging = bitmap && old && old->base_gfn == gfn;
	vmm_memslots_replace(vm, new,
			     old && old->base_gfn != gfn ? &vacated : NULL,
			     retired);
	if (start_logging)
		vmm_memslot_start_logging(vm, s);
	return 0;
}

void vmm_memslot_mark_dirty(struct vmm_memslot *slot, u64 gfn)
{
	if (slot->dirty_bitmap)
		set_bit(gfn - slot->base_gfn, slot->dirty_bitmap);
}

/*
 * KVM_GET_DIRTY_LOG: hand out and clear the pages written since the last
 * call, and write-protect them again.  Bits are taken and pages protected
 * under mmu_lock, the lock a fault holds while it maps a page writable and
 * records it, so no write is ever lost between two calls.
 */
int vmm_get_dirty_log(struct vmm_vm *vm, struct kvm_dirty_log *log)
{
	struct vmm_memslot *s;
	unsigned long *copy, i, nwords;
	bool flush = false;
	int r = 0;

	lockdep_assert_held(&vm->lock);
	if ((log->slot >> 16) || (log->slot & 0xffff) >= VMM_MAX_MEMSLOTS)
		return -EINVAL;
	s = vmm_memslot_by_id(vmm_memslots(vm), log->slot & 0xffff);
	if (!s || !s->dirty_bitmap)
		return -ENOENT;

	nwords = vmm_dirty_bitmap_bytes(s->npages) / sizeof(long);
	copy = kvmalloc_array(nwords, sizeof(long), GFP_KERNEL_ACCOUNT);
	if (!copy)
		return -ENOMEM;
	spin_lock(&vm->mmu_lock);
	for (i = 0; i < nwords; i++) {
		unsigned long bits = xchg(&s->dirty_bitmap[i], 0);
		unsigned long b;

		copy[i] = bits;
		for_each_set_bit(b, &bits, BITS_PER_LONG)
			flush |= vmm_npt_write_protect(&vm->npt,
					s->base_gfn + i * BITS_PER_LONG + b, 1);
	}
	spin_unlock(&vm->mmu_lock);
	if (flush)
		vmm_vm_request_all(vm, VMM_REQ_TLB_FLUSH);
	if (copy_to_user(log->dirty_bitmap, copy, nwords * sizeof(long)))
		r = -EFAULT;
	kvfree(copy);
	return r;
}

/*
 * Copy to/from guest memory through the process's mapping.  Runs in the
 * VM's own process (checked at every ioctl) under the SRCU read lock.
 * Returns -ENOENT if part of the range is not RAM (MMIO, or a write to a
 * read-only slot), -EFAULT if the process mapping is bad.
 */
static int vmm_access_guest(struct vmm_vm *vm, u64 gpa, void *data,
			    unsigned int len, bool write)
{
	while (len) {
		unsigned int n = min_t(unsigned int, len,
				       PAGE_SIZE - offset_in_page(gpa));
		struct vmm_memslot *slot;
		void __user *hva;
		unsigned long left;

		slot = vmm_memslot_find(vmm_memslots(vm), gpa >> PAGE_SHIFT);
		if (!slot || (write && (slot->flags & KVM_MEM_READONLY)))
			return -ENOENT;
		hva = (void __user *)vmm_memslot_hva(slot, gpa);
		/*
		 * Page-table entries, read on every guest walk the emulator
		 * does: get_user() costs less than the checked copy.
		 */
		if (!write && n == sizeof(u64))
			left = get_user(*(u64 *)data, (u64 __user *)hva);
		else if (!write && n == sizeof(u32))
			left = get_user(*(u32 *)data, (u32 __user *)hva);
		else if (write)
			left = copy_to_user(hva, data, n);
		else
			left = copy_from_user(data, hva, n);
		if (left)
			return -EFAULT;
		/* After the write, so that a dirty-log reader cannot miss it. */
		if (write)
			vmm_memslot_mark_dirty(slot, gpa >> PAGE_SHIFT);
		gpa += n;
		data += n;
		len -= n;
	}
	return 0;
}

/*
 * The process address behind gpa, for a read that stays within gpa's page;
 * NULL if gpa is not RAM.  For callers that copy a size known at compile
 * time: copy_from_user() then skips the hardened-usercopy checks on the
 * kernel buffer, which on an emulated CPU cost as much as the copy.  Under
 * the SRCU read lock.
 */
void __user *vmm_gpa_to_hva(struct vmm_vm *vm, u64 gpa)
{
	struct vmm_memslot *slot;

	slot = vmm_memslot_find(vmm_memslots(vm), gpa >> PAGE_SHIFT);
	if (!slot)
		return NULL;
	return (void __user *)vmm_memslot_hva(slot, gpa);
}

int vmm_read_guest(struct vmm_vm *vm, u64 gpa, void *data, unsigned int len)
{
	return vmm_access_guest(vm, gpa, data, len, false);
}

int vmm_write_guest(struct vmm_vm *vm, u64 gpa, const void *data,
		    unsigned int len)
{
	return vmm_access_guest(vm, gpa, (void *)data, len, true);
}

/*
 * Look up the host page behind gpa for a nested page fault.  On success the
 * caller holds a page reference it must drop once the mapping is installed
 * (or abandoned), and *seq is the mmu_seq sampled before the lookup.
 * Returns -ENOENT when gpa is not RAM the access may use (MMIO, or a write
 * to a read-only slot), -EFAULT when the process has no such page.
 */
int vmm_gpa_to_pfn(struct vmm_vcpu *vcpu, u64 gpa, bool write,
		   unsigned long *pfn, bool *writable, unsigned long *seq,
		   struct vmm_memslot **slotp)
{
	struct vmm_vm *vm = vcpu->vm;
	struct vmm_memslot *slot;
	struct page *page;
	unsigned long hva;
	long n;

	slot = vmm_memslot_find(vmm_memslots(vm), gpa >> PAGE_SHIFT);
	if (!slot)
		return -ENOENT;
	if (write && (slot->flags & KVM_MEM_READONLY))
		return -ENOENT;
	*slotp = slot;
	hva = vmm_memslot_hva(slot, gpa) & PAGE_MASK;

	*seq = READ_ONCE(vm->mmu_seq);
	smp_rmb();	/* sample the sequence before the page tables */

	/*
	 * Map writable when the process's page is already writable, so that a
	 * read fault followed by a write does not fault twice; the fast-only
	 * lookup neither faults pages in nor breaks copy-on-write.  Otherwise a
	 * read fault maps read-only what a read-only lookup finds (a COW page
	 * stays shared), and a write fault asks for a writable page.
	 */
	*writable = !(slot->flags & KVM_MEM_READONLY);
	/* While logging, only a write fault may map writable: it gets recorded. */
	if (slot->dirty_bitmap && !write)
		*writable = false;
	if (*writable && get_user_pages_fast_only(hva, 1, FOLL_WRITE, &page) == 1)
		goto found;
	*writable = write;
	n = get_user_pages_unlocked(hva, 1, &page, write ? FOLL_WRITE : 0);
	if (n != 1)
		return -EFAULT;
found:
	*pfn = page_to_pfn(page);
	return 0;
}

/*
 * Whether the process maps hva with a 2 MiB leaf (THP or hugetlbfs), and
 * its pfn.  Walked like GUP-fast: with interrupts off, no page table can
 * be freed under us.  A racing split or unmap is caught by the caller's
 * mmu_seq check, since it goes through the MMU notifier.
 */
static bool vmm_hva_pmd_leaf(struct mm_struct *mm, unsigned long hva,
			     bool writable, unsigned long *pfn)
{
	unsigned long flags;
	bool ret = false;
	pgd_t pgd;
	p4d_t p4d;
	pud_t pud;
	pmd_t pmd;

	local_irq_save(flags);
	pgd = READ_ONCE(*pgd_offset(mm, hva));
	if (!pgd_present(pgd))
		goto out;
	p4d = READ_ONCE(*p4d_offset(&pgd, hva));
	if (!p4d_present(p4d))
		goto out;
	pud = READ_ONCE(*pud_offset(&p4d, hva));
	if (!pud_present(pud) || pud_leaf(pud))
		goto out;
	pmd = READ_ONCE(*pmd_offset(&pud, hva));
	if (!pmd_present(pmd) || !pmd_leaf(pmd))
		goto out;
	if (writable && !pmd_write(pmd))
		goto out;
	*pfn = pmd_pfn(pmd);
	ret = true;
out:
	local_irq_restore(flags);
	return ret;
}

/*
 * Whether the fault at gpa, which found pfn, may be mapped with a 2 MiB
 * nested leaf: the whole aligned 2 MiB of guest memory lies in the slot,
 * the slot does not log dirty pages (the log counts 4 KiB pages), and the
 * process maps the matching 2 MiB of its memory with one leaf that holds
 * pfn.  *head is then the leaf's first pfn.
 */
bool vmm_gpa_huge(struct vmm_memslot *slot, u64 gpa, unsigned long pfn,
		  bool writable, unsigned long *head)
{
	u64 gfn = gpa >> PAGE_SHIFT;
	u64 gfn2m = gfn & ~(u64)(PTRS_PER_PMD - 1);
	unsigned long hva, leaf_pfn;

	if (slot->dirty_bitmap || gfn2m < slot->base_gfn ||
	    gfn2m + PTRS_PER_PMD > slot->base_gfn + slot->npages)
		return false;
	hva = slot->hva + ((gfn2m - slot->base_gfn) << PAGE_SHIFT);
	if (hva & ~PMD_MASK)
		return false;
	if (!vmm_hva_pmd_leaf(current->mm, hva, writable, &leaf_pfn) ||
	    leaf_pfn + (gfn - gfn2m) != pfn)
		return false;
	*head = leaf_pfn;
	return true;
}

static struct vmm_vm *mn_to_vm(struct mmu_notifier *mn)
{
	return container_of(mn, struct vmm_vm, mmu_notifier);
}

enum vmm_hva_op { VMM_HVA_NONE, VMM_HVA_ZAP, VMM_HVA_TEST_YOUNG, VMM_HVA_CLEAR_YOUNG };

/*
 * Apply op to the guest pages of every slot that maps part of the
 * process's range [start, end); true if any page was zapped / young.
 * *overlaps, if asked, says whether any slot maps part of it.
 * Called with mmu_lock held.
 */
static bool vmm_hva_range_op(struct vmm_vm *vm, unsigned long start,
			     unsigned long end, enum vmm_hva_op op,
			     bool *overlaps)
{
	struct vmm_memslots *slots;
	bool ret = false;
	unsigned int i;
	int idx;

	idx = srcu_read_lock(&vm->srcu);
	slots = srcu_dereference(vm->slots, &vm->srcu);
	for (i = 0; i < slots->nr; i++) {
		struct vmm_memslot *s = &slots->slot[i];
		unsigned long s_end = s->hva + (s->npages << PAGE_SHIFT);
		unsigned long a = max(start, s->hva), b = min(end, s_end);
		u64 gfn = s->base_gfn + ((a - s->hva) >> PAGE_SHIFT);
		u64 n = (b - a + PAGE_SIZE - 1) >> PAGE_SHIFT;

		if (a >= b)
			continue;
		if (overlaps)
			*overlaps = true;
		if (op == VMM_HVA_ZAP)
			ret |= vmm_npt_zap(&vm->npt, gfn, n);
		else if (op != VMM_HVA_NONE)
			ret |= vmm_npt_age(&vm->npt, gfn, n,
					   op == VMM_HVA_CLEAR_YOUNG);
	}
	srcu_read_unlock(&vm->srcu, idx);
	return ret;
}

/*
 * A nested page fault that looked a page up while an invalidation of it
 * ran must not map it (mmu_seq, mmu_invalidating).  Invalidations of
 * memory no slot maps do not count: with many VMs (or threads) in one
 * process, every munmap of a thread stack or of another VM's memory would
 * otherwise send every vCPU of every VM round its fault again (under load,
 * so often that some VMs never got a page mapped).
 */
static int vmm_mn_invalidate_range_start(struct mmu_notifier *mn,
					 const struct mmu_notifier_range *range)
{
	struct vmm_vm *vm = mn_to_vm(mn);
	bool flush, overlaps = false;

	spin_lock(&vm->mmu_lock);
	vm->mmu_active_invalidations++;
	flush = vmm_hva_range_op(vm, range->start, range->end, VMM_HVA_ZAP,
				 &overlaps);
	if (overlaps)
		vm->mmu_invalidating++;
	spin_unlock(&vm->mmu_lock);
	/* The pages may be freed as soon as we return. */
	if (flush)
		vmm_vm_request_all(vm, VMM_REQ_TLB_FLUSH);
	return 0;
}

static void vmm_mn_invalidate_range_end(struct mmu_notifier *mn,
					const struct mmu_notifier_range *range)
{
	struct vmm_vm *vm = mn_to_vm(mn);
	bool overlaps = false, idle;

	spin_lock(&vm->mmu_lock);
	/* The same slots as at the start: see vmm_memslots_replace(). */
	vmm_hva_range_op(vm, range->start, range->end, VMM_HVA_NONE,
			 &overlaps);
	if (overlaps) {
		vm->mmu_seq++;
		smp_wmb();	/* a faulting vCPU reads seq before invalidating */
		vm->mmu_invalidating--;
		WARN_ON_ONCE(vm->mmu_invalidating < 0);
	}
	idle = !--vm->mmu_active_invalidations;
	WARN_ON_ONCE(vm->mmu_active_invalidations < 0);
	spin_unlock(&vm->mmu_lock);
	if (idle)
		wake_up(&vm->mmu_idle_wq);
}

static int vmm_mn_age(struct mmu_notifier *mn, unsigned long start,
		      unsigned long end, bool clear)
{
	struct vmm_vm *vm = mn_to_vm(mn);
	bool young;

	spin_lock(&vm->mmu_lock);
	young = vmm_hva_range_op(vm, start, end, clear ? VMM_HVA_CLEAR_YOUNG :
							 VMM_HVA_TEST_YOUNG, NULL);
	spin_unlock(&vm->mmu_lock);
	return young;
}

/*
 * Clearing the accessed bit without a TLB flush is what the primary MMU
 * does for clear_young too: at worst a page looks old a little longer.
 */
static int vmm_mn_clear_flush_young(struct mmu_notifier *mn,
				    struct mm_struct *mm, unsigned long start,
				    unsigned long end)
{
	return vmm_mn_age(mn, start, end, true);
}

static int vmm_mn_clear_young(struct mmu_notifier *mn, struct mm_struct *mm,
			      unsigned long start, unsigned long end)
{
	return vmm_mn_age(mn, start, end, true);
}

static int vmm_mn_test_young(struct mmu_notifier *mn, struct mm_struct *mm,
			     unsigned long address)
{
	return vmm_mn_age(mn, address, address + PAGE_SIZE, false);
}

/* The process is exiting (or gone): no guest memory remains. */
static void vmm_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct vmm_vm *vm = mn_to_vm(mn);
	bool flush;

	spin_lock(&vm->mmu_lock);
	flush = vmm_npt_zap(&vm->npt, 0, 1ULL << (52 - PAGE_SHIFT));
	spin_unlock(&vm->mmu_lock);
	if (flush)
		vmm_vm_request_all(vm, VMM_REQ_TLB_FLUSH);
}

static const struct mmu_notifier_ops vmm_mmu_notifier_ops = {
	.invalidate_range_start = vmm_mn_invalidate_range_start,
	.invalidate_range_end = vmm_mn_invalidate_range_end,
	.clear_flush_young = vmm_mn_clear_flush_young,
	.clear_young = vmm_mn_clear_young,
	.test_young = vmm_mn_test_young,
	.release = vmm_mn_release,
};

int vmm_mmu_notifier_register(struct vmm_vm *vm)
{
	vm->mmu_notifier.ops = &vmm_mmu_notifier_ops;
	return mmu_notifier_register(&vm->mmu_notifier, vm->mm);
}

void vmm_mmu_notifier_unregister(struct vmm_vm *vm)
{
	mmu_notifier_unregister(&vm->mmu_notifier, vm->mm);
}
