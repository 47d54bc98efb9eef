/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmm core objects: the VM, its vCPUs and its memory slots.
 *
 * Lifetimes are reference counts tied to file descriptors: the VM file holds
 * one reference on struct vmm_vm and every vCPU file holds another, so the
 * VM outlives the last of its fds whatever the order of close().
 *
 * Locking (Documentation/locking.rst has the order):
 *   vm->lock        mutex: vCPU creation, memslot updates, VM-wide ioctls
 *   vcpu->mutex     mutex: every vCPU ioctl, including KVM_RUN
 *   vm->srcu        SRCU: readers of vm->slots (fault path, notifier)
 *   vm->mmu_lock    spinlock: the nested page tables, mmu_seq, mmu_invalidating
 */
#ifndef _VMM_VMM_H
#define _VMM_VMM_H

#include <linux/context_tracking.h>
#include <linux/kref.h>
#include <linux/rcupdate.h>
#include <linux/signal.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/srcu.h>
#include <linux/wait.h>
#include <linux/kvm.h>

#include <uapi/linux/vmm.h>
#include <vmm/arch.h>
#include <vmm/npt.h>

struct vmm_memslot {
	u64 base_gfn;
	u64 npages;
	unsigned long hva;
	u32 flags;			/* KVM_MEM_* */
	u16 id;
	unsigned long *dirty_bitmap;	/* with KVM_MEM_LOG_DIRTY_PAGES; atomic bits */
};

/* An immutable snapshot, replaced wholesale under vm->lock, read under SRCU. */
struct vmm_memslots {
	unsigned int nr;
	struct vmm_memslot slot[VMM_MAX_MEMSLOTS];
};

struct vmm_vm {
	struct kref ref;
	struct mm_struct *mm;		/* the creating process's mm (mmgrab) */

	struct mutex lock;
	struct vmm_vcpu *vcpus[VMM_MAX_VCPUS];	/* [vm->lock] writers */
	int nr_vcpus;			/* [vm->lock] writes; READ_ONCE readers */

	struct srcu_struct srcu;
	struct vmm_memslots __rcu *slots;

	spinlock_t mmu_lock;
	/*
	 * Only invalidations of the process's memory that overlap a memslot
	 * count: the process may unmap its thread stacks, or another VM's
	 * memory, without holding up this VM's nested page faults.
	 */
	unsigned long mmu_seq;		/* [mmu_lock] bumped when an invalidation ends */
	long mmu_invalidating;		/* [mmu_lock] invalidations in progress */
	/*
	 * All invalidations in progress, overlapping or not: vm->slots is
	 * replaced only while there are none, so the start and the end of an
	 * invalidation see the same slots and agree on whether it counts.
	 */
	long mmu_active_invalidations;	/* [mmu_lock] */
	wait_queue_head_t mmu_idle_wq;	/* woken when that drops to 0 */
	struct mmu_notifier mmu_notifier;
	struct vmm_npt npt;		/* [mmu_lock] */

	unsigned long tss_addr;		/* [vm->lock] KVM_SET_TSS_ADDR, unused on SVM */
	u64 identity_map_addr;		/* [vm->lock] KVM_SET_IDENTITY_MAP_ADDR */

	struct vmm_vm_x86 arch;
};

/* vcpu->mode: whether an IPI is needed to make the vCPU see a request. */
enum vmm_vcpu_mode {
	VMM_OUTSIDE_GUEST,
	VMM_IN_GUEST,
};

/* vcpu->requests bits */
#define VMM_REQ_TLB_FLUSH	0

struct vmm_vcpu {
	struct vmm_vm *vm;
	u32 id;
	struct kvm_run *run;		/* shared with userspace by mmap */
	struct mutex mutex;

	int cpu;			/* physical CPU of the last entry, or -1 */
	int mode;			/* enum vmm_vcpu_mode, smp_store_release */
	unsigned long requests;

	bool sigmask_active;		/* KVM_SET_SIGNAL_MASK */
	sigset_t sigmask;

	struct vmm_vcpu_x86 arch;
};

/* virt/vmm/main.c */
long vmm_check_extension(long ext);
bool vmm_cpu_enabled(void);
int vmm_hardware_get(void);
void vmm_hardware_put(void);

/* virt/vmm/vm.c */
int vmm_vm_create(unsigned long type);
void vmm_vm_put(struct vmm_vm *vm);

/* virt/vmm/vcpu.c */
int vmm_vcpu_create(struct vmm_vm *vm, u32 id);
void vmm_vm_request_all(struct vmm_vm *vm, int req);

/* virt/vmm/memslot.c */
int vmm_memslot_set(struct vmm_vm *vm,
		    const struct kvm_userspace_memory_region *mem);
struct vmm_memslot *vmm_memslot_find(struct vmm_memslots *slots, u64 gfn);
int vmm_mmu_notifier_register(struct vmm_vm *vm);
void vmm_mmu_notifier_unregister(struct vmm_vm *vm);
int vmm_gpa_to_pfn(struct vmm_vcpu *vcpu, u64 gpa, bool write,
		   unsigned long *pfn, bool *writable, unsigned long *seq,
		   struct vmm_memslot **slotp);
bool vmm_gpa_huge(struct vmm_memslot *slot, u64 gpa, unsigned long pfn,
		  bool writable, unsigned long *head);
void vmm_memslot_mark_dirty(struct vmm_memslot *slot, u64 gfn);
int vmm_get_dirty_log(struct vmm_vm *vm, struct kvm_dirty_log *log);
int vmm_read_guest(struct vmm_vm *vm, u64 gpa, void *data, unsigned int len);
void __user *vmm_gpa_to_hva(struct vmm_vm *vm, u64 gpa);
int vmm_write_guest(struct vmm_vm *vm, u64 gpa, const void *data,
		    unsigned int len);

/*
 * Guest mode is, for RCU and context tracking, like user mode: note it,
 * or a vCPU spinning in the guest stalls grace periods.
 */
static __always_inline void vmm_guest_enter_irqoff(void)
{
	if (!context_tracking_guest_enter())
		rcu_note_context_switch(false);
}

static __always_inline void vmm_guest_exit_irqoff(void)
{
	context_tracking_guest_exit();
}

static inline struct vmm_memslots *vmm_memslots(struct vmm_vm *vm)
{
	return srcu_dereference_check(vm->slots, &vm->srcu,
				      lockdep_is_held(&vm->lock));
}

#define vmm_err(fmt, ...)	pr_err("vmm: " fmt, ##__VA_ARGS__)
#define vmm_info(fmt, ...)	pr_info("vmm: " fmt, ##__VA_ARGS__)

#endif /* _VMM_VMM_H */
