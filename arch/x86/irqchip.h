/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-kernel interrupt controllers KVM_CREATE_IRQCHIP creates: a local
 * APIC per vCPU (lapic.c), an i8259A master/slave pair (pic.c), one
 * 24-pin IOAPIC (ioapic.c), plus the i8254 PIT of KVM_CREATE_PIT2 (pit.c)
 * and the GSI routing table that connects interrupt sources to them
 * (irq.c).
 *
 * Locks (Documentation/locking.rst): each device has one spinlock, always
 * taken with interrupts saved (the LAPIC and PIT timers fire in hardirq
 * context).  Order: pit->lock -> (pic->lock | ioapic->lock) -> lapic->lock.
 * A device never calls back into a device above it while holding its lock:
 * the LAPIC reports EOIs to the IOAPIC after dropping its own lock.
 */
#ifndef _VMM_X86_IRQCHIP_H
#define _VMM_X86_IRQCHIP_H

#include <linux/hrtimer.h>
#include <linux/spinlock.h>
#include <linux/kvm.h>

struct vmm_vm;
struct vmm_vcpu;

/* Interrupt sources that share a pin; a pin's level is the OR of theirs. */
#define VMM_IRQ_SRC_USER	0	/* KVM_IRQ_LINE */
#define VMM_IRQ_SRC_PIT		1
#define VMM_IRQ_NR_SRCS		2

#define VMM_IOAPIC_PINS		24
#define VMM_IOAPIC_BASE		0xfec00000ULL
#define VMM_IOAPIC_SIZE		0x100

/* APIC delivery modes (ICR, LVT, IOAPIC redirection and MSI data bits 10:8). */
#define VMM_DM_FIXED		0
#define VMM_DM_LOWEST		1
#define VMM_DM_SMI		2
#define VMM_DM_NMI		4
#define VMM_DM_INIT		5
#define VMM_DM_SIPI		6
#define VMM_DM_EXTINT		7

/* ICR destination shorthands (SDM 10.6.1). */
#define VMM_SH_NONE		0
#define VMM_SH_SELF		1
#define VMM_SH_ALL		2
#define VMM_SH_OTHERS		3

/* An interrupt message on the APIC bus: from the IOAPIC, an MSI or an IPI. */
struct vmm_apic_irq {
	u32 dest;		/* physical APIC ID or logical MDA; 0xff: broadcast */
	u8 vector;
	u8 delivery_mode;	/* VMM_DM_* */
	u8 shorthand;		/* VMM_SH_*; only IPIs use anything but NONE */
	bool dest_logical;
	bool level_trig;	/* level-triggered: the EOI goes back to the IOAPIC */
	bool assert;		/* false only for an INIT level de-assert */
};

/* ---- arch/x86/lapic.c ---- */
int vmm_lapic_create(struct vmm_vcpu *vcpu);
void vmm_lapic_free(struct vmm_vcpu *vcpu);
/*
 * Deliver to every matching LAPIC; src is the sender of an IPI, else NULL.
 * Returns how many took it, or -1 if none matched (KVM's convention).
 */
int vmm_lapic_deliver(struct vmm_vm *vm, struct vmm_vcpu *src,
		      const struct vmm_apic_irq *irq);
/* Whether the PIC's INTR output reaches this vCPU (LVT LINT0 = ExtINT). */
bool vmm_lapic_accepts_pic(struct vmm_vcpu *vcpu);

/* ---- arch/x86/pic.c: i8259A pair, ports 0x20/0x21, 0xa0/0xa1, ELCR 0x4d0/0x4d1 ---- */
struct vmm_pic;
int vmm_pic_create(struct vmm_vm *vm);
void vmm_pic_destroy(struct vmm_vm *vm);
/* Set pin irq (0-15) for one source; returns 1 delivered, 0 coalesced, -1 masked. */
int vmm_pic_set_irq(struct vmm_vm *vm, int irq, int src, int level);
/* Port I/O in the PIC's range: true if handled (*val in/out). */
bool vmm_pic_pio(struct vmm_vm *vm, u16 port, unsigned int size, bool in,
		 u32 *val);
/* The INTR output line. */
bool vmm_pic_has_interrupt(struct vmm_vm *vm);
/* The INTA cycle: the vector to deliver (IRR -> ISR); spurious if none. */
int vmm_pic_read_irq(struct vmm_vm *vm);
int vmm_pic_get_state(struct vmm_vm *vm, int chip, struct kvm_pic_state *s);
int vmm_pic_set_state(struct vmm_vm *vm, int chip, const struct kvm_pic_state *s);

/* ---- arch/x86/ioapic.c: 24-pin 82093AA at 0xfec00000 ---- */
struct vmm_ioapic;
int vmm_ioapic_create(struct vmm_vm *vm);
void vmm_ioapic_destroy(struct vmm_vm *vm);
int vmm_ioapic_set_irq(struct vmm_vm *vm, int pin, int src, int level);
/* A LAPIC EOI of a level-triggered vector (called without LAPIC locks). */
void vmm_ioapic_eoi(struct vmm_vm *vm, int vector);
/* MMIO in the IOAPIC window: true if handled. len is 1, 2, 4 or 8. */
bool vmm_ioapic_mmio(struct vmm_vm *vm, u64 gpa, unsigned int len, bool write,
		     void *data);
int vmm_ioapic_get_state(struct vmm_vm *vm, struct kvm_ioapic_state *s);
int vmm_ioapic_set_state(struct vmm_vm *vm, const struct kvm_ioapic_state *s);

/* ---- arch/x86/pit.c: i8254, ports 0x40-0x43 and port 0x61 bits 0,1,5 ---- */
struct vmm_pit;
int vmm_pit_create(struct vmm_vm *vm, u32 flags);
void vmm_pit_destroy(struct vmm_vm *vm);
bool vmm_pit_pio(struct vmm_vm *vm, u16 port, unsigned int size, bool in,
		 u32 *val);
int vmm_pit_get_state(struct vmm_vm *vm, struct kvm_pit_state2 *s);
int vmm_pit_set_state(struct vmm_vm *vm, const struct kvm_pit_state2 *s);

/* ---- arch/x86/irq.c: routing and the VM ioctls ---- */
/* Raise or lower a GSI for one source through the routing table. */
int vmm_irq_set(struct vmm_vm *vm, u32 gsi, int src, int level);
/* The PIC's output rose: wake the vCPUs that take ExtINT. */
void vmm_irq_pic_kick(struct vmm_vm *vm);

#endif /* _VMM_X86_IRQCHIP_H */
