// SPDX-License-Identifier: GPL-2.0
/*
 * Event injection with a userspace interrupt controller: exceptions,
 * KVM_NMI and KVM_INTERRUPT, the interrupt window, and the state
 * KVM_GET/SET_VCPU_EVENTS exchange.  Vendor-neutral: the backends only
 * program what this decides.
 */
#include <linux/uaccess.h>

#include <asm/trapnr.h>

#include "x86.h"

static bool vmm_x86_interruptible(struct vmm_vcpu *vcpu)
{
	return (vcpu->arch.rflags & X86_EFLAGS_IF) &&
	       !vmm_ops->get_interrupt_shadow(vcpu);
}

/*
 * Called with interrupts off right before entry.  Priority: an exception
 * (SDM 6.9: it belongs to the current instruction), then NMI, then the
 * external interrupt; what cannot go now waits for a window exit.
 */
void vmm_x86_inject_pending(struct vmm_vcpu *vcpu)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;
	bool shadow = vmm_ops->get_interrupt_shadow(vcpu);
	bool irq_window = false, nmi_window = false;

	if (a->exception.pending) {
		vmm_ops->inject_event(vcpu, &a->exception);
		a->exception.pending = false;
	} else if (a->nmi_pending && !a->nmi_masked && !shadow) {
		struct vmm_event nmi = {
			.type = VMM_EVENT_NMI, .vector = X86_TRAP_NMI,
		};

		vmm_ops->inject_event(vcpu, &nmi);
		a->nmi_pending = false;
		/* Delivery blocks further NMIs until IRET (SDM 6.7.1). */
		a->nmi_masked = true;
		a->nmi_iret_seen = false;
	} else if (a->intr.pending && vmm_x86_interruptible(vcpu)) {
		vmm_ops->inject_event(vcpu, &a->intr);
		a->intr.pending = false;
	} else if (a->lapic && vmm_x86_interruptible(vcpu)) {
		/* The in-kernel LAPIC (or the PIC behind it) acknowledges now. */
		int vec = vmm_lapic_take_interrupt(vcpu);

		if (vec >= 0) {
			struct vmm_event ev = {
				.type = VMM_EVENT_INTR, .vector = vec,
			};

			vmm_ops->inject_event(vcpu, &ev);
		}
	}
	/*
	 * An interrupt that has to wait, or userspace asking when it may
	 * inject (which KVM ignores with its in-kernel PIC): exit as soon as
	 * the guest is interruptible, which may be right after entry.
	 */
	if (a->intr.pending || (vcpu->run->request_interrupt_window && !a->lapic))
		irq_window = true;
	/* An interrupt the in-kernel LAPIC holds goes at the next window. */
	if (a->lapic && vmm_lapic_has_interrupt(vcpu))
		irq_window = true;
	/* An NMI held off by a shadow goes as soon as the shadow ends. */
	if (a->nmi_pending && shadow && !a->nmi_masked)
		irq_window = true;
	if (a->nmi_masked)
		nmi_window = true;
	/*
	 * The handler's IRET was seen but has not run yet, and another NMI
	 * waits: single-step the IRET, so that the #DB right after it says
	 * NMIs are open again (SDM 17.3.1.4: the trap follows from TF at the
	 * start of the instruction, whatever IRET loads into RFLAGS).
	 */
	if (a->nmi_pending && a->nmi_masked && a->nmi_iret_seen &&
	    !a->nmi_singlestep) {
		a->nmi_singlestep = true;
		a->rflags |= X86_EFLAGS_TF | X86_EFLAGS_RF;
	}
	vmm_ops->set_irq_window(vcpu, irq_window);
	vmm_ops->set_nmi_window(vcpu, nmi_window && !a->nmi_iret_seen);
}

/* A #DB intercept: was it the single step over an NMI handler's IRET? */
bool vmm_x86_nmi_singlestep_done(struct vmm_vcpu *vcpu)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;

	if (!a->nmi_singlestep)
		return false;
	a->nmi_singlestep = false;
	a->nmi_iret_seen = false;
	a->nmi_masked = false;
	return true;
}

/*
 * The NMI handler's IRET was intercepted before it ran; NMIs are
 * unblocked once RIP has moved past it, seen at the next exit.
 */
void vmm_x86_nmi_iret(struct vmm_vcpu *vcpu)
{
	vcpu->arch.nmi_iret_seen = true;
	vcpu->arch.nmi_iret_rip = vcpu->arch.rip;
}

void vmm_x86_after_exit(struct vmm_vcpu *vcpu)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;

	if (a->nmi_iret_seen && a->rip != a->nmi_iret_rip) {
		a->nmi_iret_seen = false;
		a->nmi_masked = false;
	}
}

/* KVM's definition: the vCPU could take an interrupt now. */
bool vmm_x86_ready_for_interrupt(struct vmm_vcpu *vcpu)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;

	return vmm_x86_interruptible(vcpu) && !a->intr.pending &&
	       !a->exception.pending;
}

/* Re-deliver an event the hardware was delivering when it exited. */
void vmm_x86_reinject(struct vmm_vcpu *vcpu, const struct vmm_event *ev)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;

	/*
	 * Software interrupts and exceptions (INT n, INT3, INTO, INT1) are
	 * not replayed, whatever type the vendor reports them with: RIP still
	 * points at the instruction, which raises them again (APM 15.7.2,
	 * SDM 28.2.4).
	 */
	if (ev->type == VMM_EVENT_EXCEPTION &&
	    (ev->vector == BP_VECTOR || ev->vector == OF_VECTOR))
		return;
	switch (ev->type) {
	case VMM_EVENT_EXCEPTION:
		a->exception = *ev;
		a->exception.pending = true;
		break;
	case VMM_EVENT_NMI:
		a->nmi_pending = true;
		a->nmi_masked = false;
		break;
	case VMM_EVENT_INTR:
		a->intr = *ev;
		a->intr.pending = true;
		break;
	}
}

long vmm_x86_ioctl_interrupt(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct kvm_interrupt irq;

	if (copy_from_user(&irq, argp, sizeof(irq)))
		return -EFAULT;
	/* With the in-kernel irqchip, interrupts come from its LAPIC. */
	if (vcpu->arch.lapic)
		return -ENXIO;
	if (irq.irq >= KVM_NR_INTERRUPTS)
		return -EINVAL;
	vcpu->arch.intr = (struct vmm_event) {
		.pending = true, .type = VMM_EVENT_INTR, .vector = irq.irq,
	};
	return 0;
}

long vmm_x86_ioctl_nmi(struct vmm_vcpu *vcpu)
{
	vcpu->arch.nmi_pending = true;
	return 0;
}

long vmm_x86_get_vcpu_events(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;
	struct kvm_vcpu_events ev;

	memset(&ev, 0, sizeof(ev));
	ev.exception.injected = a->exception.pending;
	ev.exception.nr = a->exception.vector;
	ev.exception.has_error_code = a->exception.has_error_code;
	ev.exception.error_code = a->exception.error_code;
	ev.interrupt.injected = a->intr.pending;
	ev.interrupt.nr = a->intr.vector;
	ev.interrupt.shadow = vmm_ops->get_interrupt_shadow(vcpu);
	ev.nmi.pending = a->nmi_pending;
	ev.nmi.masked = a->nmi_masked;
	ev.flags = KVM_VCPUEVENT_VALID_SHADOW;
	return copy_to_user(argp, &ev, sizeof(ev)) ? -EFAULT : 0;
}

long vmm_x86_set_vcpu_events(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;
	struct kvm_vcpu_events ev;

	if (copy_from_user(&ev, argp, sizeof(ev)))
		return -EFAULT;
	if (ev.flags & ~(KVM_VCPUEVENT_VALID_NMI_PENDING |
			 KVM_VCPUEVENT_VALID_SIPI_VECTOR |
			 KVM_VCPUEVENT_VALID_SHADOW))
		return -EINVAL;
	/* Both "pending" and "injected" mean: deliver on the next entry. */
	/* As KVM: only an exception vector, and NMI is not one (SDM 6.3.1). */
	if ((ev.exception.injected || ev.exception.pending) &&
	    (ev.exception.nr >= 32 || ev.exception.nr == X86_TRAP_NMI))
		return -EINVAL;

	a->exception = (struct vmm_event) {
		.pending = ev.exception.injected || ev.exception.pending,
		.type = VMM_EVENT_EXCEPTION,
		.vector = ev.exception.nr,
		.has_error_code = ev.exception.has_error_code,
		.error_code = ev.exception.error_code,
	};
	a->intr = (struct vmm_event) {
		.pending = ev.interrupt.injected,
		.type = VMM_EVENT_INTR,
		.vector = ev.interrupt.nr,
	};
	if (ev.flags & KVM_VCPUEVENT_VALID_SHADOW)
		vmm_ops->set_interrupt_shadow(vcpu, ev.interrupt.shadow);
	if (ev.flags & KVM_VCPUEVENT_VALID_NMI_PENDING)
		a->nmi_pending = ev.nmi.pending;
	a->nmi_masked = ev.nmi.masked;
	a->nmi_iret_seen = false;
	return 0;
}
