// SPDX-License-Identifier: GPL-2.0
/*
 * The x86 layer: picks the vendor backend, owns the architectural state
 * both vendors share, and implements the vCPU ioctls on top of the backend.
 */
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/cpufeature.h>
#include <asm/fpu/xcr.h>
#include <asm/tsc.h>

#include "emulate.h"
#include "irqchip.h"
#include "x86.h"

const struct vmm_arch_ops *vmm_ops;
u64 vmm_host_xcr0;
u64 vmm_supported_xcr0;

extern const struct vmm_arch_ops svm_arch_ops;
extern const struct vmm_arch_ops vmx_arch_ops;

/* XSAVE components a guest may enable: x87, SSE, AVX (and nothing else yet). */
#define VMM_XCR0_OFFERED	(XFEATURE_MASK_FP | XFEATURE_MASK_SSE | \
				 XFEATURE_MASK_YMM)

int vmm_arch_init(void)
{
	int r;

	/*
	 * CPUID.1:ECX.VMX rather than X86_FEATURE_VMX, which the kernel clears
	 * when the firmware disabled VT-x: the backend says so clearly.
	 */
	if (boot_cpu_has(X86_FEATURE_SVM)) {
		vmm_ops = &svm_arch_ops;
	} else if (cpuid_ecx(1) & BIT(5)) {
		vmm_ops = &vmx_arch_ops;
	} else {
		vmm_err("no supported CPU: neither AMD-V (SVM) nor VT-x support is available\n");
		return -EOPNOTSUPP;
	}
	r = vmm_ops->probe();
	if (r)
		return r;
	if (boot_cpu_has(X86_FEATURE_XSAVE)) {
		vmm_host_xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK);
		vmm_supported_xcr0 = vmm_host_xcr0 & VMM_XCR0_OFFERED;
	}
	r = vmm_x86_fpu_init();
	if (!r)
		r = vmm_x86_cpuid_init();
	if (r)
		vmm_ops->remove();
	return r;
}

void vmm_arch_exit(void)
{
	vmm_x86_cpuid_exit();
	vmm_ops->remove();
}

int vmm_arch_enable_cpu(void)
{
	return vmm_ops->cpu_enable();
}

void vmm_arch_disable_cpu(void)
{
	vmm_ops->cpu_disable();
}

int vmm_arch_check_extension(long ext)
{
	switch (ext) {
	case KVM_CAP_EXT_CPUID:
	case KVM_CAP_SET_TSS_ADDR:
	case KVM_CAP_SET_IDENTITY_MAP_ADDR:
	case KVM_CAP_MP_STATE:
	case KVM_CAP_VCPU_EVENTS:
	case KVM_CAP_DEBUGREGS:
	case KVM_CAP_INTERNAL_ERROR_DATA:
	case KVM_CAP_GET_TSC_KHZ:
	case KVM_CAP_IRQCHIP:
	case KVM_CAP_IRQ_INJECT_STATUS:
	case KVM_CAP_SIGNAL_MSI:
	case KVM_CAP_PIT2:
	case KVM_CAP_PIT_STATE2:
		return 1;
	case KVM_CAP_XSAVE:
	case KVM_CAP_XCRS:
		return boot_cpu_has(X86_FEATURE_XSAVE);
	case KVM_CAP_IRQ_ROUTING:
		/* As in KVM: the number of routes (GSIs 0 to this minus one). */
		return VMM_MAX_IRQ_ROUTES;
	default:
		return 0;
	}
}

long vmm_arch_dev_ioctl(unsigned int ioctl, unsigned long arg)
{
	switch (ioctl) {
	case KVM_GET_SUPPORTED_CPUID:
		return vmm_x86_get_supported_cpuid((void __user *)arg);
	case KVM_GET_MSR_INDEX_LIST:
		return vmm_x86_get_msr_index_list((void __user *)arg);
	default:
		return -EINVAL;	/* what KVM answers on the system fd */
	}
}

int vmm_arch_vm_init(struct vmm_vm *vm)
{
	int r = vmm_npt_init(&vm->npt, vmm_ops->npt_format);

	if (r)
		return r;
	r = vmm_ops->vm_init(vm);
	if (r)
		vmm_npt_destroy(&vm->npt);
	return r;
}

/* The devices that can reach vCPUs stop before the vCPUs are freed. */
void vmm_arch_vm_stop(struct vmm_vm *vm)
{
	vmm_irqchip_vm_destroy(vm);
}

void vmm_arch_vm_destroy(struct vmm_vm *vm)
{
	vmm_ops->vm_destroy(vm);
	vmm_npt_destroy(&vm->npt);
}

/* Unmap a guest-physical range and make every vCPU forget it. */
void vmm_arch_zap_gfn_range(struct vmm_vm *vm, u64 gfn, u64 npages)
{
	bool flush;

	spin_lock(&vm->mmu_lock);
	flush = vmm_npt_zap(&vm->npt, gfn, npages);
	spin_unlock(&vm->mmu_lock);
	if (flush)
		vmm_vm_request_all(vm, VMM_REQ_TLB_FLUSH);
}

struct vmm_vcpu *vmm_arch_vcpu_alloc(void)
{
	return vmm_ops->vcpu_alloc();
}

int vmm_arch_vcpu_init(struct vmm_vcpu *vcpu)
{
	struct vmm_vcpu_x86 *arch = &vcpu->arch;
	int r = -ENOMEM;

	vcpu->run = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	arch->pio_page = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	arch->emu = kzalloc(sizeof(*arch->emu), GFP_KERNEL_ACCOUNT);
	if (!vcpu->run || !arch->pio_page || !arch->emu)
		return r;
	if (!fpu_alloc_guest_fpstate(&arch->fpu))
		return r;
	arch->xcr0 = XFEATURE_MASK_FP;
	arch->mcg_cap = VMM_MCE_BANKS | BIT_ULL(8);	/* MCG_CTL_P */
	/* No PEBS, no BTS: the guest has no PMU (SDM Vol. 4 Table 2-2). */
	arch->misc_enable = MSR_IA32_MISC_ENABLE_PEBS_UNAVAIL |
			    MSR_IA32_MISC_ENABLE_BTS_UNAVAIL;
	arch->apic_base = APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE |
			  (vcpu->id == 0 ? MSR_IA32_APICBASE_BSP : 0);
	arch->dr6 = VMM_DR6_RESET;
	arch->dr7 = VMM_DR7_RESET;
	arch->mp_state = KVM_MP_STATE_RUNNABLE;
	init_waitqueue_head(&arch->wq);
	r = vmm_ops->vcpu_init(vcpu);
	if (r)
		return r;
	/* vm->lock is held: the irqchip cannot appear under our feet. */
	if (vcpu->vm->arch.irqchip)
		r = vmm_lapic_create(vcpu);
	return r;
}

/*
 * The state INIT leaves (SDM Vol. 3A Table 9-1): as after power-on, except
 * that the FPU, MTRRs, PAT, MSRs and the APIC base are kept.  The backends
 * build their power-on state on it.
 */
void vmm_x86_init_vcpu(struct vmm_vcpu *vcpu)
{
	const struct vmm_arch_ops *ops = vmm_ops;
	struct vmm_vcpu_x86 *a = &vcpu->arch;
	struct kvm_segment seg = {
		.limit = 0xffff, .type = 3, .s = 1, .present = 1,
	};
	struct kvm_dtable dt = { .limit = 0xffff };
	int i;

	for (i = VMM_SEG_ES; i <= VMM_SEG_GS; i++)
		ops->set_segment(vcpu, &seg, i);
	seg.selector = 0xf000;
	seg.base = 0xffff0000;
	seg.type = 0xb;
	ops->set_segment(vcpu, &seg, VMM_SEG_CS);
	seg = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	ops->set_segment(vcpu, &seg, VMM_SEG_LDTR);
	seg.type = 0xb;
	ops->set_segment(vcpu, &seg, VMM_SEG_TR);
	ops->set_dtable(vcpu, &dt, false);
	ops->set_dtable(vcpu, &dt, true);
	ops->set_efer(vcpu, 0);
	ops->set_cr(vcpu, 0, VMM_CR0_RESET);
	ops->set_cr(vcpu, 2, 0);
	ops->set_cr(vcpu, 3, 0);
	ops->set_cr(vcpu, 4, 0);
	ops->set_cr(vcpu, 8, 0);
	ops->set_interrupt_shadow(vcpu, 0);
	memset(a->gpr, 0, sizeof(a->gpr));
	a->gpr[VMM_RDX] = cpuid_eax(1);
	a->rip = 0xfff0;
	a->rflags = X86_EFLAGS_FIXED;
	a->dr6 = VMM_DR6_RESET;
	a->dr7 = VMM_DR7_RESET;
	a->exception.pending = false;
	a->intr.pending = false;
	a->nmi_pending = false;
	a->nmi_masked = false;
	a->nmi_iret_seen = false;
	a->nmi_singlestep = false;
	a->pending_io = VMM_IO_NONE;
	a->npf_gpa_valid = false;
}

/*
 * Whether the vCPU may enter the guest now.  With an in-kernel irqchip a
 * halted vCPU waits for an interrupt it would take (SDM 8.4: HLT ends on an
 * unmasked interrupt, NMI, INIT or SMI), and an AP waits for INIT/SIPI.
 */
bool vmm_x86_vcpu_runnable(struct vmm_vcpu *vcpu)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;

	switch (a->mp_state) {
	case KVM_MP_STATE_RUNNABLE:
		return true;
	case KVM_MP_STATE_HALTED:
		if (a->nmi_pending || a->exception.pending ||
		    ((a->rflags & X86_EFLAGS_IF) && vmm_lapic_has_interrupt(vcpu))) {
			a->mp_state = KVM_MP_STATE_RUNNABLE;
			return true;
		}
		return false;
	default:
		return false;
	}
}

/* Sleep until an interrupt source kicks us, or a signal arrives. */
static void vmm_x86_block(struct vmm_vcpu *vcpu)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;

	/* Nothing in the condition sleeps; vmm_x86_kick() pairs with it. */
	wait_event_interruptible(vcpu->arch.wq,
		vmm_lapic_events_pending(apic) || vmm_x86_vcpu_runnable(vcpu));
}

/* Undoes vmm_arch_vcpu_alloc/init, including a partial init. */
void vmm_arch_vcpu_free(struct vmm_vcpu *vcpu)
{
	struct vmm_vcpu_x86 *arch = &vcpu->arch;

	vmm_lapic_free(vcpu);
	vmm_npt_cache_free(&arch->npt_cache);
	if (arch->fpu.fpstate)
		fpu_free_guest_fpstate(&arch->fpu);
	kvfree(arch->cpuid);
	kfree(arch->emu);
	free_page((unsigned long)arch->pio_page);
	free_page((unsigned long)vcpu->run);
	vmm_ops->vcpu_free(vcpu);
}

static long vmm_x86_get_regs(struct vmm_vcpu *vcpu, void __user *argp)
{
	u64 *gpr = vcpu->arch.gpr;
	struct kvm_regs regs = {
		.rax = gpr[VMM_RAX], .rbx = gpr[VMM_RBX], .rcx = gpr[VMM_RCX],
		.rdx = gpr[VMM_RDX], .rsi = gpr[VMM_RSI], .rdi = gpr[VMM_RDI],
		.rsp = gpr[VMM_RSP], .rbp = gpr[VMM_RBP],
		.r8 = gpr[VMM_R8], .r9 = gpr[VMM_R9], .r10 = gpr[VMM_R10],
		.r11 = gpr[VMM_R11], .r12 = gpr[VMM_R12], .r13 = gpr[VMM_R13],
		.r14 = gpr[VMM_R14], .r15 = gpr[VMM_R15],
		.rip = vcpu->arch.rip, .rflags = vcpu->arch.rflags,
	};

	return copy_to_user(argp, &regs, sizeof(regs)) ? -EFAULT : 0;
}

static long vmm_x86_set_regs(struct vmm_vcpu *vcpu, void __user *argp)
{
	u64 *gpr = vcpu->arch.gpr;
	struct kvm_regs regs;

	if (copy_from_user(&regs, argp, sizeof(regs)))
		return -EFAULT;
	gpr[VMM_RAX] = regs.rax; gpr[VMM_RBX] = regs.rbx;
	gpr[VMM_RCX] = regs.rcx; gpr[VMM_RDX] = regs.rdx;
	gpr[VMM_RSI] = regs.rsi; gpr[VMM_RDI] = regs.rdi;
	gpr[VMM_RSP] = regs.rsp; gpr[VMM_RBP] = regs.rbp;
	gpr[VMM_R8] = regs.r8; gpr[VMM_R9] = regs.r9;
	gpr[VMM_R10] = regs.r10; gpr[VMM_R11] = regs.r11;
	gpr[VMM_R12] = regs.r12; gpr[VMM_R13] = regs.r13;
	gpr[VMM_R14] = regs.r14; gpr[VMM_R15] = regs.r15;
	vcpu->arch.rip = regs.rip;
	/* Bit 1 always reads as one (SDM 3.4.3). */
	vcpu->arch.rflags = regs.rflags | X86_EFLAGS_FIXED;
	/* New registers supersede an exception raised by the old ones. */
	vcpu->arch.exception.pending = false;
	return 0;
}

static long vmm_x86_get_sregs(struct vmm_vcpu *vcpu, void __user *argp)
{
	const struct vmm_arch_ops *ops = vmm_ops;
	struct vmm_event *ev = &vcpu->arch.intr;
	struct kvm_sregs *s;
	long r = 0;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	ops->get_segment(vcpu, &s->es, VMM_SEG_ES);
	ops->get_segment(vcpu, &s->cs, VMM_SEG_CS);
	ops->get_segment(vcpu, &s->ss, VMM_SEG_SS);
	ops->get_segment(vcpu, &s->ds, VMM_SEG_DS);
	ops->get_segment(vcpu, &s->fs, VMM_SEG_FS);
	ops->get_segment(vcpu, &s->gs, VMM_SEG_GS);
	ops->get_segment(vcpu, &s->ldt, VMM_SEG_LDTR);
	ops->get_segment(vcpu, &s->tr, VMM_SEG_TR);
	ops->get_dtable(vcpu, &s->gdt, false);
	ops->get_dtable(vcpu, &s->idt, true);
	s->cr0 = ops->get_cr(vcpu, 0);
	s->cr2 = ops->get_cr(vcpu, 2);
	s->cr3 = ops->get_cr(vcpu, 3);
	s->cr4 = ops->get_cr(vcpu, 4);
	s->cr8 = ops->get_cr(vcpu, 8);
	s->efer = vcpu->arch.efer;
	s->apic_base = vcpu->arch.apic_base;
	if (ev->pending)
		set_bit(ev->vector, (unsigned long *)s->interrupt_bitmap);
	if (copy_to_user(argp, s, sizeof(*s)))
		r = -EFAULT;
	kfree(s);
	return r;
}

bool vmm_x86_efer_valid(u64 efer)
{
	u64 allowed = EFER_SCE | EFER_LME | EFER_LMA;

	if (boot_cpu_has(X86_FEATURE_NX))
		allowed |= EFER_NX;
	if (boot_cpu_has(X86_FEATURE_FXSR_OPT))
		allowed |= EFER_FFXSR;
	return !(efer & ~allowed);
}

/*
 * Refuse what KVM refuses, and also what VMRUN would refuse later (AMD APM
 * Vol. 2 15.5.1 "Basic Operation", canonicalization and consistency
 * checks), so that an inconsistent state is an -EINVAL here rather than a
 * KVM_EXIT_FAIL_ENTRY on the next KVM_RUN.
 */
static bool vmm_x86_sregs_valid(struct vmm_vcpu *vcpu, const struct kvm_sregs *s)
{
	bool lme = s->efer & EFER_LME, lma = s->efer & EFER_LMA;
	bool pg = s->cr0 & X86_CR0_PG;

	if (s->cr0 >> 32)
		return false;
	if ((s->cr0 & X86_CR0_NW) && !(s->cr0 & X86_CR0_CD))
		return false;
	if (pg && !(s->cr0 & X86_CR0_PE))
		return false;
	if (s->cr4 & vmm_x86_cr4_reserved(vcpu))
		return false;
	if (!vmm_x86_efer_valid(s->efer))
		return false;
	/*
	 * CR3 never holds more than a physical address and flags, in any
	 * mode: VMRUN refuses bits beyond the CPU's width (APM 15.5.1), and
	 * such a state, on QEMU's SVM at least, never got to its #VMEXIT.
	 */
	if (s->cr3 >> boot_cpu_data.x86_phys_bits)
		return false;
	if (lme && pg) {
		if (!(s->cr4 & X86_CR4_PAE) || !lma)
			return false;
		if (s->cs.l && s->cs.db)
			return false;
	} else if (lma || s->cs.l) {
		return false;
	}
	return true;
}

static long vmm_x86_set_sregs(struct vmm_vcpu *vcpu, void __user *argp)
{
	const struct vmm_arch_ops *ops = vmm_ops;
	struct kvm_sregs *s;
	long r = 0;
	int vector;

	s = memdup_user(argp, sizeof(*s));
	if (IS_ERR(s))
		return PTR_ERR(s);
	if (!vmm_x86_sregs_valid(vcpu, s)) {
		r = -EINVAL;
		goto out;
	}
	ops->set_dtable(vcpu, &s->gdt, false);
	ops->set_dtable(vcpu, &s->idt, true);
	ops->set_cr(vcpu, 2, s->cr2);
	ops->set_cr(vcpu, 3, s->cr3);
	ops->set_efer(vcpu, s->efer);
	ops->set_cr(vcpu, 0, s->cr0);
	ops->set_cr(vcpu, 4, s->cr4);
	ops->set_cr(vcpu, 8, s->cr8);
	vcpu->arch.apic_base = s->apic_base;
	ops->set_segment(vcpu, &s->es, VMM_SEG_ES);
	ops->set_segment(vcpu, &s->cs, VMM_SEG_CS);
	ops->set_segment(vcpu, &s->ss, VMM_SEG_SS);
	ops->set_segment(vcpu, &s->ds, VMM_SEG_DS);
	ops->set_segment(vcpu, &s->fs, VMM_SEG_FS);
	ops->set_segment(vcpu, &s->gs, VMM_SEG_GS);
	ops->set_segment(vcpu, &s->ldt, VMM_SEG_LDTR);
	ops->set_segment(vcpu, &s->tr, VMM_SEG_TR);

	vector = find_first_bit((unsigned long *)s->interrupt_bitmap,
				KVM_NR_INTERRUPTS);
	if (vector < KVM_NR_INTERRUPTS) {
		vcpu->arch.intr = (struct vmm_event) {
			.pending = true,
			.type = VMM_EVENT_INTR,
			.vector = vector,
		};
	}
out:
	kfree(s);
	return r;
}

/*
 * QEMU's in-kernel APIC model clears the TPR-patching page at every reset,
 * whether or not KVM_CAP_VAPIC (0 here) is offered: take "none" only.
 */
static long vmm_x86_set_vapic_addr(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_vapic_addr va;

	if (!vcpu->arch.lapic)
		return -EINVAL;
	if (copy_from_user(&va, argp, sizeof(va)))
		return -EFAULT;
	return va.vapic_addr ? -EINVAL : 0;
}

long vmm_arch_vcpu_ioctl(struct vmm_vcpu *vcpu, unsigned int ioctl,
			 void __user *argp)
{
	switch (ioctl) {
	case KVM_GET_REGS:
		return vmm_x86_get_regs(vcpu, argp);
	case KVM_SET_REGS:
		return vmm_x86_set_regs(vcpu, argp);
	case KVM_GET_SREGS:
		return vmm_x86_get_sregs(vcpu, argp);
	case KVM_SET_SREGS:
		return vmm_x86_set_sregs(vcpu, argp);
	case KVM_SET_CPUID2:
		return vmm_x86_set_cpuid2(vcpu, argp);
	case KVM_GET_CPUID2:
		return vmm_x86_get_cpuid2(vcpu, argp);
	case KVM_GET_MSRS:
		return vmm_x86_vcpu_msrs(vcpu, argp, false);
	case KVM_SET_MSRS:
		return vmm_x86_vcpu_msrs(vcpu, argp, true);
	case KVM_GET_FPU:
		return vmm_x86_get_fpu(vcpu, argp);
	case KVM_SET_FPU:
		return vmm_x86_set_fpu(vcpu, argp);
	case KVM_GET_XSAVE:
		return vmm_x86_get_xsave(vcpu, argp);
	case KVM_SET_XSAVE:
		return vmm_x86_set_xsave(vcpu, argp);
	case KVM_GET_XCRS:
		return vmm_x86_get_xcrs(vcpu, argp);
	case KVM_SET_XCRS:
		return vmm_x86_set_xcrs(vcpu, argp);
	case KVM_GET_DEBUGREGS:
		return vmm_x86_get_debugregs(vcpu, argp);
	case KVM_SET_DEBUGREGS:
		return vmm_x86_set_debugregs(vcpu, argp);
	case KVM_GET_MP_STATE:
		return vmm_x86_get_mp_state(vcpu, argp);
	case KVM_SET_MP_STATE:
		return vmm_x86_set_mp_state(vcpu, argp);
	case KVM_GET_VCPU_EVENTS:
		return vmm_x86_get_vcpu_events(vcpu, argp);
	case KVM_SET_VCPU_EVENTS:
		return vmm_x86_set_vcpu_events(vcpu, argp);
	case KVM_INTERRUPT:
		return vmm_x86_ioctl_interrupt(vcpu, argp);
	case KVM_SET_VAPIC_ADDR:
		return vmm_x86_set_vapic_addr(vcpu, argp);
	case KVM_GET_LAPIC:
		return vmm_lapic_get_state(vcpu, argp);
	case KVM_SET_LAPIC:
		return vmm_lapic_set_state(vcpu, argp);
	case KVM_NMI:
		return vmm_x86_ioctl_nmi(vcpu);
	case KVM_GET_TSC_KHZ:
		/* The guest's TSC runs at the host's rate (no scaling). */
		return tsc_khz ? tsc_khz : -EIO;
	default:
		return -EINVAL;	/* what KVM answers on a vCPU fd */
	}
}

/*
 * KVM_RUN brackets: the guest's FPU state is loaded for the whole ioctl
 * (the kernel's guest-fpstate API saves it on preemption), then whatever
 * userspace just completed is folded back in.
 */
int vmm_arch_vcpu_run_begin(struct vmm_vcpu *vcpu)
{
	int r, idx;

	fpu_swap_kvm_fpstate(&vcpu->arch.fpu, true);
	/*
	 * As in KVM, KVM_RUN of a vCPU that has never been started waits for
	 * INIT, takes it, and returns EAGAIN; userspace calls again.
	 */
	if (vcpu->arch.lapic &&
	    vcpu->arch.mp_state == KVM_MP_STATE_UNINITIALIZED) {
		if (READ_ONCE(vcpu->run->immediate_exit))
			return -EINTR;
		vmm_x86_block(vcpu);
		vmm_lapic_process_events(vcpu);
		return signal_pending(current) ? -EINTR : -EAGAIN;
	}
	vcpu->arch.has_run = true;
	idx = srcu_read_lock(&vcpu->vm->srcu);
	r = vmm_x86_complete_io(vcpu);
	srcu_read_unlock(&vcpu->vm->srcu, idx);
	return r;
}

void vmm_arch_vcpu_run_end(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	fpu_swap_kvm_fpstate(&vcpu->arch.fpu, false);
	/* What every exit reports with a userspace irqchip. */
	run->if_flag = !!(vcpu->arch.rflags & X86_EFLAGS_IF);
	run->cr8 = vmm_ops->get_cr(vcpu, 8);
	run->apic_base = vcpu->arch.apic_base;
	/* As KVM: always 1 when the PIC is in the kernel. */
	run->ready_for_interrupt_injection = vcpu->arch.lapic ||
					     vmm_x86_ready_for_interrupt(vcpu);
	run->flags = 0;
}

/* Enter the guest once and handle the exit. */
int vmm_arch_vcpu_enter(struct vmm_vcpu *vcpu)
{
	int r, idx;

	if (vcpu->arch.lapic) {
		vmm_lapic_process_events(vcpu);
		if (!vmm_x86_vcpu_runnable(vcpu)) {
			vmm_x86_block(vcpu);
			return VMM_RESUME_GUEST;	/* the caller checks signals */
		}
	}
	r = vmm_ops->vcpu_run(vcpu);
	if (r == -EAGAIN)	/* entry abandoned: a request or signal came in */
		return VMM_RESUME_GUEST;
	if (vcpu->arch.lapic)
		vmm_lapic_sync_tpr(vcpu);
	if (r)
		return r;
	idx = srcu_read_lock(&vcpu->vm->srcu);
	r = vmm_ops->handle_exit(vcpu);
	srcu_read_unlock(&vcpu->vm->srcu, idx);
	/* Userspace asked to hear when it may inject an interrupt. */
	if (r == VMM_RESUME_GUEST && vcpu->run->request_interrupt_window &&
	    !vcpu->arch.lapic && vmm_x86_ready_for_interrupt(vcpu)) {
		vcpu->run->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
		return VMM_EXIT_USER;
	}
	return r;
}

/*
 * VM ioctls that exist for the benefit of VMX's real-mode emulation in
 * KVM: SVM needs neither a TSS nor an identity map, but QEMU insists that
 * setting them works, so they are validated and remembered.
 */
static long vmm_x86_set_identity_map_addr(struct vmm_vm *vm, void __user *argp)
{
	u64 addr;
	long r = -EINVAL;

	mutex_lock(&vm->lock);
	if (vm->nr_vcpus)
		goto out;
	r = -EFAULT;
	if (copy_from_user(&addr, argp, sizeof(addr)))
		goto out;
	vm->identity_map_addr = addr;
	r = 0;
out:
	mutex_unlock(&vm->lock);
	return r;
}

long vmm_arch_vm_ioctl(struct vmm_vm *vm, unsigned int ioctl, void __user *argp)
{
	switch (ioctl) {
	case KVM_SET_TSS_ADDR:
		if ((unsigned long)argp > (unsigned int)(-3 * PAGE_SIZE))
			return -EINVAL;
		mutex_lock(&vm->lock);
		vm->tss_addr = (unsigned long)argp;
		mutex_unlock(&vm->lock);
		return 0;
	case KVM_SET_IDENTITY_MAP_ADDR:
		return vmm_x86_set_identity_map_addr(vm, argp);
	default:
		return vmm_irqchip_vm_ioctl(vm, ioctl, argp);
	}
}
