/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The x86 layer: per-vCPU architectural state, and the one table through
 * which it reaches a vendor backend (SVM today, VMX later).
 *
 * Generic code (virt/vmm) calls the vmm_arch_*() functions declared at the
 * bottom; those live in arch/x86 and call the backend through vmm_ops.
 */
#ifndef _VMM_ARCH_H
#define _VMM_ARCH_H

#include <linux/types.h>
#include <linux/wait.h>
#include <linux/kvm.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>

#include <vmm/npt.h>

struct vmm_vm;
struct vmm_vcpu;
struct x86_emu_ctxt;
struct vmm_lapic;

/* Guest general-purpose registers, in hardware encoding order. */
enum vmm_gpr {
	VMM_RAX, VMM_RCX, VMM_RDX, VMM_RBX, VMM_RSP, VMM_RBP, VMM_RSI, VMM_RDI,
	VMM_R8, VMM_R9, VMM_R10, VMM_R11, VMM_R12, VMM_R13, VMM_R14, VMM_R15,
	VMM_NR_GPRS
};

#define VMM_MCE_BANKS		32

/* What an exit handler asks the run loop to do next. */
enum vmm_exit_action {
	VMM_RESUME_GUEST,	/* handled in the kernel: enter the guest again */
	VMM_EXIT_USER,		/* kvm_run is filled in: return to userspace */
};

/* Work userspace must finish before the guest may run again. */
enum vmm_pending_io {
	VMM_IO_NONE,
	VMM_IO_PIO,		/* IN/OUT: store IN data into AL/AX/EAX, skip */
	VMM_IO_PIO_STRING,	/* re-run INS/OUTS: the data is in the PIO page */
	VMM_IO_MMIO,		/* re-run the emulated instruction with run->mmio */
};

/*
 * A memory access the emulator forwarded to userspace.  Reads userspace
 * completed are kept until the instruction that needed them retires,
 * because an instruction is re-run from the start after every exit.
 */
struct vmm_mmio {
	u64 gpa;
	u32 len;
	u8 data[8];
};
#define VMM_MMIO_READS	4

/* A port I/O exit in flight. */
struct vmm_pio {
	u16 port;
	u8 size;
	bool in;
	bool done;		/* userspace has provided the IN data */
	u32 count;
	u64 next_rip;		/* RIP after a non-string IN/OUT */
};

/* An event to deliver on an entry (exception, NMI or interrupt). */
struct vmm_event {
	bool pending;
	u8 type;		/* VMM_EVENT_* */
	u8 vector;
	bool has_error_code;
	u32 error_code;
};

#define VMM_EVENT_INTR		0
#define VMM_EVENT_NMI		2
#define VMM_EVENT_EXCEPTION	3

/* KVM_GET/SET_VCPU_EVENTS interrupt.shadow bits */
#define VMM_SHADOW_STI		1
#define VMM_SHADOW_MOV_SS	2

/*
 * x86 state common to both vendors.  gpr[], rip and rflags are the
 * authoritative copy while the vCPU is outside the guest: the backend loads
 * them before entry and stores them after every exit.
 */
struct vmm_vcpu_x86 {
	u64 gpr[VMM_NR_GPRS];
	u64 rip;
	u64 rflags;

	u64 efer;		/* guest view, without EFER.SVME */
	s64 tsc_offset;		/* guest TSC = host TSC + tsc_offset */
	u64 apic_base;
	u64 mtrr[28];		/* fixed (11), default type, 8 variable pairs */
	u64 misc_enable;	/* IA32_MISC_ENABLE (0x1a0) */
	u64 mcg_cap;
	u64 mcg_ctl;
	u64 mcg_status;
	u64 mce_banks[4 * VMM_MCE_BANKS];	/* CTL, STATUS, ADDR, MISC */
	u64 kvm_wall_clock;	/* MSRs 0x11/0x12: stored, not acted on */
	u64 kvm_system_time;
	u64 xcr0;
	u64 dr[4];		/* emulated: guest breakpoints do not fire yet */
	u64 dr6;
	u64 dr7;

	struct fpu_guest fpu;

	struct kvm_cpuid_entry2 *cpuid;	/* KVM_SET_CPUID2 table, under vcpu->mutex */
	int cpuid_nent;

	/*
	 * Events not yet delivered: an exception (new, or interrupted in
	 * delivery and replayed), an NMI from KVM_NMI, an external interrupt
	 * from KVM_INTERRUPT.  At most one is injected per entry, in that
	 * order.  nmi_masked: the guest is in its NMI handler (until IRET).
	 */
	struct vmm_event exception;
	struct vmm_event intr;
	bool nmi_pending;
	bool nmi_masked;
	bool nmi_iret_seen;
	bool nmi_singlestep;	/* TF set by vmm to catch the end of IRET */
	u64 nmi_iret_rip;
	bool has_run;

	/*
	 * With an in-kernel irqchip: the local APIC, the MP state it drives
	 * (HALTED, wait-for-SIPI) and where the vCPU thread sleeps meanwhile.
	 * Without one, mp_state stays RUNNABLE and lapic NULL.
	 */
	struct vmm_lapic *lapic;
	u32 mp_state;			/* KVM_MP_STATE_*, vCPU thread only */
	wait_queue_head_t wq;

	enum vmm_pending_io pending_io;
	struct vmm_pio pio;
	void *pio_page;		/* port I/O data, mapped to userspace */

	/* Table pages for the next nested page faults, kept between them. */
	struct vmm_npt_cache npt_cache;

	/* The emulator's state for the instruction being emulated. */
	struct x86_emu_ctxt *emu;
	bool mmio_write_pending;
	bool mmio_read_pending;
	struct vmm_mmio mmio;		/* the access userspace is handling */
	int nr_mmio_reads;
	struct vmm_mmio mmio_reads[VMM_MMIO_READS];
	/*
	 * The GPA whose nested page fault led to this emulation, when the
	 * hardware faulted on the final translation of a data access rather
	 * than on a guest page-table entry (see emu_translate()).
	 */
	u64 npf_gpa;
	bool npf_gpa_valid;
};

struct vmm_pic;
struct vmm_ioapic;
struct vmm_pit;
struct vmm_irq_routing;

/*
 * Per-VM x86 state: the in-kernel interrupt controllers (arch/x86/irqchip.h).
 * Each pointer is set once, under vm->lock, before any vCPU exists (PIC,
 * IOAPIC) or at KVM_CREATE_PIT2, and freed with the VM; readers that may
 * race with creation use READ_ONCE.
 */
struct vmm_vm_x86 {
	bool irqchip;			/* KVM_CREATE_IRQCHIP done */
	struct vmm_pic *pic;
	struct vmm_ioapic *ioapic;
	struct vmm_pit *pit;
	struct vmm_irq_routing __rcu *routing;	/* [vm->lock] writers, RCU readers */
};

/*
 * The vendor backend.  Every member is mandatory.  "vcpu_run" enters the
 * guest once and leaves the raw exit in the backend's own state (0), or
 * gives up before entering because work is pending (-EAGAIN); "handle_exit"
 * dispatches the exit to a small named handler and returns a
 * vmm_exit_action or a negative errno.
 */
struct vmm_arch_ops {
	const char *name;

	int (*probe)(void);			/* at module load */
	void (*remove)(void);			/* at module unload */
	int (*cpu_enable)(void);		/* this CPU; preemption off */
	void (*cpu_disable)(void);

	int (*vm_init)(struct vmm_vm *vm);
	void (*vm_destroy)(struct vmm_vm *vm);

	struct vmm_vcpu *(*vcpu_alloc)(void);
	void (*vcpu_free)(struct vmm_vcpu *vcpu);
	int (*vcpu_init)(struct vmm_vcpu *vcpu);	/* power-on state */

	int (*vcpu_run)(struct vmm_vcpu *vcpu);
	int (*handle_exit)(struct vmm_vcpu *vcpu);

	void (*get_segment)(struct vmm_vcpu *vcpu, struct kvm_segment *seg, int nr);
	void (*set_segment)(struct vmm_vcpu *vcpu, const struct kvm_segment *seg, int nr);
	void (*get_dtable)(struct vmm_vcpu *vcpu, struct kvm_dtable *dt, bool idt);
	void (*set_dtable)(struct vmm_vcpu *vcpu, const struct kvm_dtable *dt, bool idt);
	u64 (*get_cr)(struct vmm_vcpu *vcpu, int cr);
	void (*set_cr)(struct vmm_vcpu *vcpu, int cr, u64 val);
	void (*set_efer)(struct vmm_vcpu *vcpu, u64 efer);
	int (*get_cpl)(struct vmm_vcpu *vcpu);

	/* Next-instruction RIP reported by the hardware, or 0 if unknown. */
	u64 (*next_rip)(struct vmm_vcpu *vcpu);

	void (*inject_event)(struct vmm_vcpu *vcpu, const struct vmm_event *ev);
	u32 (*get_interrupt_shadow)(struct vmm_vcpu *vcpu);
	void (*set_interrupt_shadow)(struct vmm_vcpu *vcpu, u32 shadow);
	/* Exit when the guest can take an interrupt / has left its NMI handler. */
	void (*set_irq_window)(struct vmm_vcpu *vcpu, bool on);
	void (*set_nmi_window)(struct vmm_vcpu *vcpu, bool on);
	/* MSRs whose state lives in the VMCB/VMCS; -ENOENT if not one of them. */
	int (*get_msr)(struct vmm_vcpu *vcpu, u32 index, u64 *data);
	int (*set_msr)(struct vmm_vcpu *vcpu, u32 index, u64 data);

	/* Nested page table entry format (NPT or EPT). */
	const struct vmm_npt_format *npt_format;
};

extern const struct vmm_arch_ops *vmm_ops;

/* Segment numbers as in struct kvm_sregs (and the hardware encoding). */
enum vmm_seg {
	VMM_SEG_ES, VMM_SEG_CS, VMM_SEG_SS, VMM_SEG_DS, VMM_SEG_FS, VMM_SEG_GS,
	VMM_SEG_LDTR, VMM_SEG_TR, VMM_NR_SEGS
};

/* The x86 layer, called by the generic core. */
int vmm_arch_init(void);
void vmm_arch_exit(void);
int vmm_arch_enable_cpu(void);
void vmm_arch_disable_cpu(void);
long vmm_arch_dev_ioctl(unsigned int ioctl, unsigned long arg);
int vmm_arch_check_extension(long ext);
int vmm_arch_vm_init(struct vmm_vm *vm);
void vmm_arch_vm_stop(struct vmm_vm *vm);
void vmm_arch_vm_destroy(struct vmm_vm *vm);
struct vmm_vcpu *vmm_arch_vcpu_alloc(void);
int vmm_arch_vcpu_init(struct vmm_vcpu *vcpu);
void vmm_arch_vcpu_free(struct vmm_vcpu *vcpu);
long vmm_arch_vm_ioctl(struct vmm_vm *vm, unsigned int ioctl, void __user *argp);
long vmm_arch_vcpu_ioctl(struct vmm_vcpu *vcpu, unsigned int ioctl,
			 void __user *argp);
int vmm_arch_vcpu_run_begin(struct vmm_vcpu *vcpu);
int vmm_arch_vcpu_enter(struct vmm_vcpu *vcpu);
void vmm_arch_vcpu_run_end(struct vmm_vcpu *vcpu);
void vmm_arch_zap_gfn_range(struct vmm_vm *vm, u64 gfn, u64 npages);

#endif /* _VMM_ARCH_H */
