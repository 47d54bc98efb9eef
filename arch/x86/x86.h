/* SPDX-License-Identifier: GPL-2.0 */
/* Internal interfaces of the x86 layer (arch/x86 and the vendor backends). */
#ifndef _VMM_X86_X86_H
#define _VMM_X86_X86_H

#include <vmm/vmm.h>

#define VMM_CR0_RESET	(X86_CR0_CD | X86_CR0_NW | X86_CR0_ET)
#define VMM_DR6_RESET	0xffff0ff0ULL	/* SDM 18.2.3: reserved bits read 1 */
#define VMM_DR7_RESET	0x400ULL

/* arch/x86/paging.c: guest linear -> guest physical */
#define VMM_ACCESS_WRITE	BIT(1)
#define VMM_ACCESS_USER		BIT(2)
#define VMM_ACCESS_FETCH	BIT(4)
int vmm_x86_translate(struct vmm_vcpu *vcpu, u64 la, u32 access, u64 *gpa,
		      u32 *pf_error);

/* arch/x86/cpuid.c */
int vmm_x86_get_supported_cpuid(struct kvm_cpuid2 __user *uc);
long vmm_x86_set_cpuid2(struct vmm_vcpu *vcpu, struct kvm_cpuid2 __user *uc);
long vmm_x86_get_cpuid2(struct vmm_vcpu *vcpu, struct kvm_cpuid2 __user *uc);
void vmm_x86_cpuid(struct vmm_vcpu *vcpu, u32 leaf, u32 subleaf, u32 *eax,
		   u32 *ebx, u32 *ecx, u32 *edx);
bool vmm_x86_guest_has(struct vmm_vcpu *vcpu, u32 leaf, int reg, int bit);
u64 vmm_x86_cr4_reserved(struct vmm_vcpu *vcpu);
void vmm_x86_cpuid_exit(void);
int vmm_x86_cpuid_init(void);

/* arch/x86/x86.c */
bool vmm_x86_efer_valid(u64 efer);

/* arch/x86/msr.c */
bool vmm_x86_pat_valid(u64 pat);
int vmm_x86_get_msr(struct vmm_vcpu *vcpu, u32 index, u64 *data, bool host);
int vmm_x86_set_msr(struct vmm_vcpu *vcpu, u32 index, u64 data, bool host);
long vmm_x86_get_msr_index_list(struct kvm_msr_list __user *ul);
long vmm_x86_vcpu_msrs(struct vmm_vcpu *vcpu, struct kvm_msrs __user *um,
		       bool set);

/* arch/x86/exits.c: handlers shared by the vendors */
int vmm_x86_exit_io(struct vmm_vcpu *vcpu, u16 port, unsigned int size,
		    bool in, bool string, u64 next_rip);
int vmm_x86_exit_npf(struct vmm_vcpu *vcpu, u64 gpa, bool write, bool fetch,
		     bool final);
int vmm_x86_exit_cpuid(struct vmm_vcpu *vcpu);
int vmm_x86_exit_hlt(struct vmm_vcpu *vcpu);
int vmm_x86_exit_rdmsr(struct vmm_vcpu *vcpu);
int vmm_x86_exit_wrmsr(struct vmm_vcpu *vcpu);
int vmm_x86_exit_shutdown(struct vmm_vcpu *vcpu);
int vmm_x86_exit_cr4_write(struct vmm_vcpu *vcpu, int gpr);
int vmm_x86_exit_dr(struct vmm_vcpu *vcpu, int dr, bool write, int gpr);
int vmm_x86_exit_fail_entry(struct vmm_vcpu *vcpu, u64 reason);
int vmm_x86_exit_internal_error(struct vmm_vcpu *vcpu, u32 suberror,
				u64 info1, u64 info2);
int vmm_x86_inject_ud(struct vmm_vcpu *vcpu);
int vmm_x86_inject_gp(struct vmm_vcpu *vcpu, u32 error_code);
void vmm_x86_queue_exception(struct vmm_vcpu *vcpu, u8 vector,
			     bool has_error_code, u32 error_code);
int vmm_x86_skip_insn(struct vmm_vcpu *vcpu);
void vmm_x86_retire(struct vmm_vcpu *vcpu, u64 next_rip);
int vmm_x86_skip_or_fail(struct vmm_vcpu *vcpu);
int vmm_x86_complete_io(struct vmm_vcpu *vcpu);

/* arch/x86/events.c */
void vmm_x86_inject_pending(struct vmm_vcpu *vcpu);
void vmm_x86_nmi_iret(struct vmm_vcpu *vcpu);
bool vmm_x86_nmi_singlestep_done(struct vmm_vcpu *vcpu);
void vmm_x86_after_exit(struct vmm_vcpu *vcpu);
bool vmm_x86_ready_for_interrupt(struct vmm_vcpu *vcpu);
void vmm_x86_reinject(struct vmm_vcpu *vcpu, const struct vmm_event *ev);
long vmm_x86_ioctl_interrupt(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_ioctl_nmi(struct vmm_vcpu *vcpu);
long vmm_x86_get_vcpu_events(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_set_vcpu_events(struct vmm_vcpu *vcpu, void __user *argp);

/* arch/x86/state.c */
extern u32 vmm_mxcsr_mask;
int vmm_x86_fpu_init(void);
long vmm_x86_get_fpu(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_set_fpu(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_get_xsave(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_set_xsave(struct vmm_vcpu *vcpu, void __user *argp);
bool vmm_x86_xcr0_valid(struct vmm_vcpu *vcpu, u64 xcr0);
long vmm_x86_get_xcrs(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_set_xcrs(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_get_debugregs(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_set_debugregs(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_get_mp_state(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_x86_set_mp_state(struct vmm_vcpu *vcpu, void __user *argp);

/* arch/x86/lapic.c and irq.c: the in-kernel irqchip, seen from a vCPU */
void vmm_x86_kick(struct vmm_vcpu *vcpu);
bool vmm_lapic_mmio(struct vmm_vcpu *vcpu, u64 gpa, unsigned int len,
		    bool write, void *data);
bool vmm_lapic_has_interrupt(struct vmm_vcpu *vcpu);
int vmm_lapic_take_interrupt(struct vmm_vcpu *vcpu);
void vmm_lapic_process_events(struct vmm_vcpu *vcpu);
bool vmm_lapic_events_pending(struct vmm_lapic *apic);
void vmm_lapic_sync_tpr(struct vmm_vcpu *vcpu);
void vmm_lapic_resend_sipi(struct vmm_vcpu *vcpu);
long vmm_lapic_get_state(struct vmm_vcpu *vcpu, void __user *argp);
long vmm_lapic_set_state(struct vmm_vcpu *vcpu, void __user *argp);
bool vmm_irqchip_pio(struct vmm_vcpu *vcpu, u16 port, unsigned int size,
		     bool in, u32 *val);
bool vmm_irqchip_mmio(struct vmm_vcpu *vcpu, u64 gpa, unsigned int len,
		      bool write, void *data);
long vmm_irqchip_vm_ioctl(struct vmm_vm *vm, unsigned int ioctl,
			  void __user *argp);
void vmm_irqchip_vm_destroy(struct vmm_vm *vm);

static inline bool vmm_irqchip_in_kernel(struct vmm_vm *vm)
{
	return READ_ONCE(vm->arch.irqchip);
}

/* arch/x86/x86.c */
void vmm_x86_init_vcpu(struct vmm_vcpu *vcpu);
bool vmm_x86_vcpu_runnable(struct vmm_vcpu *vcpu);

/* Host state the backends need. */
extern u64 vmm_host_xcr0;
extern u64 vmm_supported_xcr0;

/* A canonical 48-bit linear address (SDM 3.3.7.1). */
static inline bool vmm_x86_canonical(u64 la)
{
	return (s64)la == ((s64)(la << 16) >> 16);
}

static inline bool vmm_x86_is_long_mode(struct vmm_vcpu *vcpu)
{
	return vcpu->arch.efer & EFER_LMA;
}

#endif /* _VMM_X86_X86_H */
