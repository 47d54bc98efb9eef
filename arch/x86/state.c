// SPDX-License-Identifier: GPL-2.0
/*
 * Saving and restoring the rest of a vCPU's architectural state from
 * userspace: FPU/XSAVE, XCR0, debug registers, MP state.
 *
 * Outside KVM_RUN the guest's FPU registers are in its fpstate in memory
 * (the kernel's guest-fpstate API put them there), so these ioctls work on
 * that buffer directly.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>
#include <asm/fpu/xcr.h>

#include "x86.h"

static struct fxregs_state *vmm_x86_fxsave(struct vmm_vcpu *vcpu)
{
	return &vcpu->arch.fpu.fpstate->regs.fxsave;
}

long vmm_x86_get_fpu(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct fxregs_state *fx = vmm_x86_fxsave(vcpu);
	struct kvm_fpu *fpu;
	long r = 0;

	fpu = kzalloc(sizeof(*fpu), GFP_KERNEL);
	if (!fpu)
		return -ENOMEM;
	memcpy(fpu->fpr, fx->st_space, sizeof(fpu->fpr));
	fpu->fcw = fx->cwd;
	fpu->fsw = fx->swd;
	fpu->ftwx = fx->twd;
	fpu->last_opcode = fx->fop;
	fpu->last_ip = fx->rip;
	fpu->last_dp = fx->rdp;
	memcpy(fpu->xmm, fx->xmm_space, sizeof(fpu->xmm));
	fpu->mxcsr = fx->mxcsr;
	if (copy_to_user(argp, fpu, sizeof(*fpu)))
		r = -EFAULT;
	kfree(fpu);
	return r;
}

u32 vmm_mxcsr_mask;

/*
 * The MXCSR bits this CPU supports: FXSAVE's MXCSR_MASK field, or 0xffbf
 * when the CPU leaves it 0 (SDM 10.5.1.2 "MXCSR_MASK").
 */
int vmm_x86_fpu_init(void)
{
	struct fxregs_state *fx;

	vmm_mxcsr_mask = 0xffbf;
	if (!boot_cpu_has(X86_FEATURE_FXSR))
		return 0;
	/* kmalloc's 512-byte objects are 512-byte aligned: FXSAVE wants 16. */
	fx = kzalloc(sizeof(*fx), GFP_KERNEL);
	if (!fx)
		return -ENOMEM;
	kernel_fpu_begin();
	asm volatile("fxsaveq %0" : "=m" (*fx));
	kernel_fpu_end();
	if (fx->mxcsr_mask)
		vmm_mxcsr_mask = fx->mxcsr_mask;
	kfree(fx);
	return 0;
}

long vmm_x86_set_fpu(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct fxregs_state *fx = vmm_x86_fxsave(vcpu);
	struct kvm_fpu *fpu;

	fpu = memdup_user(argp, sizeof(*fpu));
	if (IS_ERR(fpu))
		return PTR_ERR(fpu);
	/*
	 * A reserved MXCSR bit would make the restore fault (SDM 10.2.3):
	 * check against the host CPU's mask, not the image's own field,
	 * which is 0 on a fresh vCPU and userspace's to set.
	 */
	if (fpu->mxcsr & ~vmm_mxcsr_mask) {
		kfree(fpu);
		return -EINVAL;
	}
	memcpy(fx->st_space, fpu->fpr, sizeof(fpu->fpr));
	fx->cwd = fpu->fcw;
	fx->swd = fpu->fsw;
	fx->twd = fpu->ftwx;
	fx->fop = fpu->last_opcode;
	fx->rip = fpu->last_ip;
	fx->rdp = fpu->last_dp;
	memcpy(fx->xmm_space, fpu->xmm, sizeof(fpu->xmm));
	fx->mxcsr = fpu->mxcsr;
	/* In XSAVE format, mark x87 and SSE as holding data, not init state. */
	if (boot_cpu_has(X86_FEATURE_XSAVE))
		vcpu->arch.fpu.fpstate->regs.xsave.header.xfeatures |=
			XFEATURE_MASK_FPSSE;
	kfree(fpu);
	return 0;
}

long vmm_x86_get_xsave(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_xsave *xs;
	long r = 0;

	xs = kzalloc(sizeof(*xs), GFP_KERNEL);
	if (!xs)
		return -ENOMEM;
	fpu_copy_guest_fpstate_to_uabi(&vcpu->arch.fpu, xs->region,
				       sizeof(xs->region), vmm_supported_xcr0, 0);
	if (copy_to_user(argp, xs, sizeof(*xs)))
		r = -EFAULT;
	kfree(xs);
	return r;
}

long vmm_x86_set_xsave(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_xsave *xs;
	u32 pkru = 0;
	long r;

	xs = memdup_user(argp, sizeof(*xs));
	if (IS_ERR(xs))
		return PTR_ERR(xs);
	r = fpu_copy_uabi_to_guest_fpstate(&vcpu->arch.fpu, xs->region,
					   vmm_supported_xcr0, &pkru);
	kfree(xs);
	return r;
}

/* The XCR0 values XSETBV would accept from this guest (SDM "XSETBV"). */
bool vmm_x86_xcr0_valid(struct vmm_vcpu *vcpu, u64 xcr0)
{
	u32 eax, ebx, ecx, edx;
	u64 allowed;

	vmm_x86_cpuid(vcpu, 0xd, 0, &eax, &ebx, &ecx, &edx);
	/* x87 is always valid, even for a guest whose CPUID has no XSAVE. */
	allowed = (((u64)edx << 32 | eax) & vmm_supported_xcr0) |
		  XFEATURE_MASK_FP;
	if (!(xcr0 & XFEATURE_MASK_FP) || (xcr0 & ~allowed))
		return false;
	return !((xcr0 & XFEATURE_MASK_YMM) && !(xcr0 & XFEATURE_MASK_SSE));
}

long vmm_x86_get_xcrs(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_xcrs xcrs;

	memset(&xcrs, 0, sizeof(xcrs));
	if (boot_cpu_has(X86_FEATURE_XSAVE)) {
		xcrs.nr_xcrs = 1;
		xcrs.xcrs[0].xcr = XCR_XFEATURE_ENABLED_MASK;
		xcrs.xcrs[0].value = vcpu->arch.xcr0;
	}
	return copy_to_user(argp, &xcrs, sizeof(xcrs)) ? -EFAULT : 0;
}

long vmm_x86_set_xcrs(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_xcrs *xcrs;
	long r = 0;
	u32 i;

	if (!boot_cpu_has(X86_FEATURE_XSAVE))
		return -EINVAL;
	xcrs = memdup_user(argp, sizeof(*xcrs));
	if (IS_ERR(xcrs))
		return PTR_ERR(xcrs);
	if (xcrs->nr_xcrs > KVM_MAX_XCRS || xcrs->flags) {
		r = -EINVAL;
		goto out;
	}
	for (i = 0; i < xcrs->nr_xcrs; i++) {
		if (xcrs->xcrs[i].xcr != XCR_XFEATURE_ENABLED_MASK ||
		    !vmm_x86_xcr0_valid(vcpu, xcrs->xcrs[i].value)) {
			r = -EINVAL;
			goto out;
		}
		vcpu->arch.xcr0 = xcrs->xcrs[i].value;
	}
out:
	kfree(xcrs);
	return r;
}

long vmm_x86_get_debugregs(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_debugregs dbg;

	memset(&dbg, 0, sizeof(dbg));
	memcpy(dbg.db, vcpu->arch.dr, sizeof(dbg.db));
	dbg.dr6 = vcpu->arch.dr6;
	dbg.dr7 = vcpu->arch.dr7;
	return copy_to_user(argp, &dbg, sizeof(dbg)) ? -EFAULT : 0;
}

long vmm_x86_set_debugregs(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_debugregs dbg;

	if (copy_from_user(&dbg, argp, sizeof(dbg)))
		return -EFAULT;
	/* The upper halves of DR6/DR7 are reserved (SDM 18.2). */
	if (dbg.flags || (dbg.dr6 >> 32) || (dbg.dr7 >> 32))
		return -EINVAL;
	memcpy(vcpu->arch.dr, dbg.db, sizeof(dbg.db));
	vcpu->arch.dr6 = dbg.dr6 | VMM_DR6_RESET;
	vcpu->arch.dr7 = (dbg.dr7 & ~BIT(12)) | VMM_DR7_RESET;
	return 0;
}

/*
 * With the interrupt controller in userspace a vCPU is always RUNNABLE:
 * halting, INIT and SIPI are userspace's to model (as in KVM).
 */
long vmm_x86_get_mp_state(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_mp_state mp = { .mp_state = vcpu->arch.mp_state };

	return copy_to_user(argp, &mp, sizeof(mp)) ? -EFAULT : 0;
}

/*
 * Without an in-kernel LAPIC userspace runs INIT/SIPI and halt itself, so
 * only RUNNABLE exists (as in KVM).  With one, the states KVM accepts;
 * SIPI_RECEIVED is taken as wait-for-SIPI with the last SIPI vector.
 */
long vmm_x86_set_mp_state(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_mp_state mp;

	if (copy_from_user(&mp, argp, sizeof(mp)))
		return -EFAULT;
	if (!vcpu->arch.lapic)
		return mp.mp_state == KVM_MP_STATE_RUNNABLE ? 0 : -EINVAL;
	switch (mp.mp_state) {
	case KVM_MP_STATE_RUNNABLE:
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_INIT_RECEIVED:
	case KVM_MP_STATE_HALTED:
		vcpu->arch.mp_state = mp.mp_state;
		return 0;
	case KVM_MP_STATE_SIPI_RECEIVED:
		vcpu->arch.mp_state = KVM_MP_STATE_INIT_RECEIVED;
		vmm_lapic_resend_sipi(vcpu);
		return 0;
	default:
		return -EINVAL;
	}
}
