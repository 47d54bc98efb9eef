// SPDX-License-Identifier: GPL-2.0
/*
 * A 64-bit IDT at GUEST_IDT, so guests can take interrupts and exceptions
 * and report them instead of shutting down.
 */
#include "vmm_test.h"

/* A 16-byte long-mode interrupt gate (APM vol. 2, 4.8.4), DPL 0, no IST. */
void vmm_vm_set_idt_gate(struct vmm_vm *vm, uint8_t vector,
			 uint64_t handler_gpa)
{
	uint64_t *gate = vmm_gpa_to_hva(vm, GUEST_IDT + vector * 16ull);

	gate[0] = (handler_gpa & 0xffff) | (uint64_t)SEL_CODE64 << 16 |
		  0x8eull << 40 | ((handler_gpa >> 16) & 0xffff) << 48;
	gate[1] = handler_gpa >> 32;
}

void vmm_vcpu_load_idt(struct vmm_vcpu *vcpu)
{
	struct kvm_sregs sregs;

	vmm_get_sregs(vcpu, &sregs);
	sregs.idt.base = GUEST_IDT;
	sregs.idt.limit = 256 * 16 - 1;
	vmm_set_sregs(vcpu, &sregs);
}
