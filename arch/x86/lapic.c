// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel local APIC (xAPIC mode; Intel SDM Vol. 3A ch. 10).
 *
 * The register page is kept in the layout KVM_GET/SET_LAPIC exchange (the
 * first 1 KiB of the APIC's 4 KiB MMIO page).  Interrupts arrive from any
 * context (the IOAPIC, MSIs, IPIs, the LAPIC timer's hrtimer) under
 * apic->lock and only set IRR bits or pending flags; the vCPU thread turns
 * them into injections right before entry (vmm_lapic_take_interrupt) and
 * handles INIT/SIPI between entries (vmm_lapic_process_events).
 *
 * The timer counts at 1 GHz (KVM's APIC bus frequency), one-shot or
 * periodic; TSC-deadline mode is not offered (CPUID.1:ECX.TSC_DEADLINE is 0).
 */
#include <linux/hrtimer.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <asm/apicdef.h>
#include <asm/msr-index.h>

#include "irqchip.h"
#include "x86.h"

#define LAPIC_VERSION		0x00050014	/* 6 LVT entries, version 0x14 */
#define LAPIC_LVT_MASKED	BIT(16)
#define LAPIC_LVT_TIMER_PERIODIC BIT(17)
#define LAPIC_SVR_ENABLED	BIT(8)
#define LAPIC_ICR_BUSY		BIT(12)
#define LAPIC_ICR_LEVEL		BIT(14)
#define LAPIC_ICR_TRIGGER	BIT(15)
#define LAPIC_NS_PER_TICK	1
#define LAPIC_MIN_PERIOD_NS	50000		/* bounds a periodic timer storm */

/* Writable bits of each LVT register (SDM Figure 10-8). */
static const u32 lapic_lvt_mask[] = {
	[0] = LAPIC_LVT_MASKED | LAPIC_LVT_TIMER_PERIODIC | 0xff,	/* timer */
	[1] = LAPIC_LVT_MASKED | 0x7ff,					/* thermal */
	[2] = LAPIC_LVT_MASKED | 0x7ff,					/* perf */
	[3] = LAPIC_LVT_MASKED | BIT(15) | BIT(13) | 0x7ff,		/* LINT0 */
	[4] = LAPIC_LVT_MASKED | BIT(15) | BIT(13) | 0x7ff,		/* LINT1 */
	[5] = LAPIC_LVT_MASKED | 0xff,					/* error */
};
#define LAPIC_NR_LVT	ARRAY_SIZE(lapic_lvt_mask)

struct vmm_lapic {
	struct vmm_vcpu *vcpu;
	spinlock_t lock;
	u8 *regs;			/* [lock] KVM_GET_LAPIC layout, one page */
	struct hrtimer timer;
	ktime_t timer_start;		/* [lock] when TMICT was last loaded */
	u64 timer_period;		/* [lock] ns; 0: the timer is stopped */
	bool timer_periodic;		/* [lock] */
	bool init_pending;		/* [lock] */
	bool sipi_pending;		/* [lock] */
	u8 sipi_vector;			/* [lock] */
	bool nmi_pending;		/* [lock] */
};

static u32 lapic_get(struct vmm_lapic *apic, u32 reg)
{
	return *(u32 *)(apic->regs + reg);
}

static void lapic_set(struct vmm_lapic *apic, u32 reg, u32 val)
{
	*(u32 *)(apic->regs + reg) = val;
}

/* IRR, ISR and TMR are 256-bit arrays spread over eight 16-byte rows. */
static u32 *lapic_vec_word(struct vmm_lapic *apic, u32 base, u8 vec)
{
	return (u32 *)(apic->regs + base + (vec / 32) * 0x10);
}

static bool lapic_test_vec(struct vmm_lapic *apic, u32 base, u8 vec)
{
	return *lapic_vec_word(apic, base, vec) & BIT(vec % 32);
}

static void lapic_assign_vec(struct vmm_lapic *apic, u32 base, u8 vec, bool on)
{
	u32 *w = lapic_vec_word(apic, base, vec);

	if (on)
		*w |= BIT(vec % 32);
	else
		*w &= ~BIT(vec % 32);
}

/* The highest vector set in IRR or ISR, or -1. */
static int lapic_highest(struct vmm_lapic *apic, u32 base)
{
	int i;

	for (i = 7; i >= 0; i--) {
		u32 w = *(u32 *)(apic->regs + base + i * 0x10);

		if (w)
			return i * 32 + fls(w) - 1;
	}
	return -1;
}

static bool lapic_hw_enabled(struct vmm_lapic *apic)
{
	return apic->vcpu->arch.apic_base & MSR_IA32_APICBASE_ENABLE;
}

static bool lapic_sw_enabled(struct vmm_lapic *apic)
{
	return lapic_get(apic, APIC_SPIV) & LAPIC_SVR_ENABLED;
}

static u8 lapic_id(struct vmm_lapic *apic)
{
	return lapic_get(apic, APIC_ID) >> 24;
}

/*
 * TPR is the guest's CR8 while it runs (SVM's V_TPR, or VMX's per-vCPU
 * CR8 behind CR8-load/store exiting);
 * vmm_lapic_sync_tpr() copies it here after every exit, so that other
 * CPUs and the halt path never need the backend (SDM 10.8.6.1).
 */
static u32 lapic_tpr(struct vmm_lapic *apic)
{
	return lapic_get(apic, APIC_TASKPRI) & 0xff;
}

void vmm_lapic_sync_tpr(struct vmm_vcpu *vcpu)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;
	u32 tpr = (vmm_ops->get_cr(vcpu, 8) & 0xf) << 4;
	unsigned long flags;

	if ((lapic_get(apic, APIC_TASKPRI) & 0xf0) == tpr)
		return;
	spin_lock_irqsave(&apic->lock, flags);
	lapic_set(apic, APIC_TASKPRI, tpr);
	spin_unlock_irqrestore(&apic->lock, flags);
}

/* SDM 10.8.3.1: PPR is TPR or the class of the highest in-service vector. */
static u32 lapic_ppr(struct vmm_lapic *apic)
{
	u32 tpr = lapic_tpr(apic);
	int isr = lapic_highest(apic, APIC_ISR);
	u32 isrv = isr < 0 ? 0 : isr;

	return (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : isrv & 0xf0;
}

/* The vector the processor would take now, or -1. */
static int lapic_deliverable(struct vmm_lapic *apic)
{
	int irr;

	if (!lapic_hw_enabled(apic))
		return -1;
	irr = lapic_highest(apic, APIC_IRR);
	if (irr < 0 || (irr & 0xf0) <= (lapic_ppr(apic) & 0xf0))
		return -1;
	return irr;
}

/* ---- waking the vCPU ---- */

/*
 * Make the vCPU notice new work: wake it if it sleeps in HLT, or force an
 * exit if it is in the guest.  Any context, including hardirq: the
 * reschedule IPI needs no completion.  Pairs with smp_store_mb(vcpu->mode)
 * on entry: either the vCPU sees the new state before it enters, or we see
 * it in guest mode and interrupt it.
 */
void vmm_x86_kick(struct vmm_vcpu *vcpu)
{
	int cpu, me;

	smp_mb();
	wake_up_interruptible(&vcpu->arch.wq);
	cpu = READ_ONCE(vcpu->cpu);
	me = get_cpu();
	if (READ_ONCE(vcpu->mode) == VMM_IN_GUEST && cpu != me && cpu >= 0 &&
	    cpu_online(cpu))
		smp_send_reschedule(cpu);
	put_cpu();
}

/* ---- accepting interrupts (apic->lock held) ---- */

static void lapic_accept_fixed(struct vmm_lapic *apic, u8 vec, bool level)
{
	/* Vectors 0-15 are illegal: "received illegal vector" (SDM 10.5.3). */
	if (vec < 16) {
		lapic_set(apic, APIC_ESR, lapic_get(apic, APIC_ESR) | BIT(6));
		return;
	}
	lapic_assign_vec(apic, APIC_IRR, vec, true);
	lapic_assign_vec(apic, APIC_TMR, vec, level);
}

/* Returns whether the vCPU must be kicked. */
static bool lapic_accept(struct vmm_lapic *apic, const struct vmm_apic_irq *irq)
{
	switch (irq->delivery_mode) {
	case VMM_DM_FIXED:
	case VMM_DM_LOWEST:
		/* A software-disabled APIC takes no fixed interrupts (SDM 10.4.7.2). */
		if (!lapic_sw_enabled(apic))
			return false;
		lapic_accept_fixed(apic, irq->vector, irq->level_trig);
		return true;
	case VMM_DM_NMI:
		apic->nmi_pending = true;
		return true;
	case VMM_DM_INIT:
		/* The level de-assert of the INIT IPI sequence does nothing. */
		if (!irq->assert)
			return false;
		apic->init_pending = true;
		return true;
	case VMM_DM_SIPI:
		apic->sipi_vector = irq->vector;
		apic->sipi_pending = true;
		return true;
	default:
		/* SMI (no SMM), ExtINT (comes from the PIC directly). */
		return false;
	}
}

/* SDM 10.6.2: does this APIC match the destination of the message? */
static bool lapic_match_dest(struct vmm_lapic *apic, struct vmm_vcpu *src,
			     const struct vmm_apic_irq *irq)
{
	u32 ldr, dfr;

	switch (irq->shorthand) {
	case VMM_SH_SELF:
		return apic->vcpu == src;
	case VMM_SH_ALL:
		return true;
	case VMM_SH_OTHERS:
		return apic->vcpu != src;
	}
	if (!irq->dest_logical)
		return irq->dest == 0xff || irq->dest == lapic_id(apic);
	if (irq->dest == 0xff)
		return true;
	ldr = lapic_get(apic, APIC_LDR) >> 24;
	dfr = lapic_get(apic, APIC_DFR) >> 28;
	if (dfr == 0xf)		/* flat model */
		return ldr & irq->dest;
	/* cluster model: cluster in the high nibble, members in the low */
	return (ldr >> 4) == (irq->dest >> 4) && (ldr & irq->dest & 0xf);
}

int vmm_lapic_deliver(struct vmm_vm *vm, struct vmm_vcpu *src,
		      const struct vmm_apic_irq *irq)
{
	int i, n = READ_ONCE(vm->nr_vcpus), delivered = 0;

	smp_rmb();	/* pairs with smp_wmb() in vmm_vcpu_create() */
	for (i = 0; i < n; i++) {
		struct vmm_vcpu *vcpu = vm->vcpus[i];
		struct vmm_lapic *apic = vcpu->arch.lapic;
		unsigned long flags;
		bool kick = false;

		if (!apic)
			continue;
		spin_lock_irqsave(&apic->lock, flags);
		if (lapic_hw_enabled(apic) && lapic_match_dest(apic, src, irq)) {
			kick = lapic_accept(apic, irq);
			delivered++;
		}
		spin_unlock_irqrestore(&apic->lock, flags);
		if (kick)
			vmm_x86_kick(vcpu);
		/* Lowest priority: the first APIC that matches takes it. */
		if (delivered && irq->delivery_mode == VMM_DM_LOWEST)
			break;
	}
	/* As KVM: the number of APICs reached, or -1 for none. */
	return delivered ? delivered : -1;
}

/* ---- timer ---- */

static u32 lapic_divide(struct vmm_lapic *apic)
{
	u32 dcr = lapic_get(apic, APIC_TDCR);
	u32 v = ((dcr & 3) | ((dcr & 8) >> 1)) + 1;

	return 1U << (v & 7);	/* SDM Figure 10-10: 0b1011 divides by 1 */
}

static enum hrtimer_restart lapic_timer_fire(struct hrtimer *t)
{
	struct vmm_lapic *apic = container_of(t, struct vmm_lapic, timer);
	enum hrtimer_restart ret = HRTIMER_NORESTART;
	unsigned long flags;
	bool kick = false;
	u32 lvtt;

	spin_lock_irqsave(&apic->lock, flags);
	lvtt = lapic_get(apic, APIC_LVTT);
	if (!(lvtt & LAPIC_LVT_MASKED) && lapic_sw_enabled(apic)) {
		lapic_accept_fixed(apic, lvtt & 0xff, false);
		kick = true;
	}
	if (apic->timer_periodic && apic->timer_period) {
		hrtimer_forward_now(t, ns_to_ktime(apic->timer_period));
		ret = HRTIMER_RESTART;
	} else {
		apic->timer_period = 0;
	}
	spin_unlock_irqrestore(&apic->lock, flags);
	if (kick)
		vmm_x86_kick(apic->vcpu);
	return ret;
}

/*
 * (Re)load the counter from TMICT.  Called without apic->lock, from the
 * vCPU thread only: hrtimer_cancel() waits for a running expiry, after
 * which nothing but this function can start the timer again.
 */
static void lapic_timer_restart(struct vmm_lapic *apic)
{
	unsigned long flags;
	u64 count;

	hrtimer_cancel(&apic->timer);
	spin_lock_irqsave(&apic->lock, flags);
	count = lapic_get(apic, APIC_TMICT);
	apic->timer_period = 0;
	if (count && lapic_hw_enabled(apic)) {
		apic->timer_periodic = lapic_get(apic, APIC_LVTT) &
				       LAPIC_LVT_TIMER_PERIODIC;
		apic->timer_period = count * lapic_divide(apic) *
				     LAPIC_NS_PER_TICK;
		if (apic->timer_periodic)
			apic->timer_period = max_t(u64, apic->timer_period,
						   LAPIC_MIN_PERIOD_NS);
		apic->timer_start = ktime_get();
		hrtimer_start(&apic->timer,
			      ktime_add_ns(apic->timer_start, apic->timer_period),
			      HRTIMER_MODE_ABS);
	}
	spin_unlock_irqrestore(&apic->lock, flags);
}

/* SDM 10.5.4: the current count, derived from the time since the load. */
static u32 lapic_timer_current(struct vmm_lapic *apic)
{
	u64 elapsed, left;

	if (!apic->timer_period)
		return 0;
	elapsed = ktime_to_ns(ktime_sub(ktime_get(), apic->timer_start));
	if (apic->timer_periodic)
		elapsed %= apic->timer_period;
	else if (elapsed >= apic->timer_period)
		return 0;
	left = apic->timer_period - elapsed;
	return div_u64(left, lapic_divide(apic) * LAPIC_NS_PER_TICK);
}

/* ---- register access ---- */

/* EOI: retire the highest in-service vector; returns it if level-triggered. */
static int lapic_eoi(struct vmm_lapic *apic)
{
	int vec = lapic_highest(apic, APIC_ISR);

	if (vec < 0)
		return -1;
	lapic_assign_vec(apic, APIC_ISR, vec, false);
	return lapic_test_vec(apic, APIC_TMR, vec) ? vec : -1;
}

static void lapic_send_ipi(struct vmm_lapic *apic, struct vmm_apic_irq *irq)
{
	u32 lo = lapic_get(apic, APIC_ICR), hi = lapic_get(apic, APIC_ICR2);

	*irq = (struct vmm_apic_irq) {
		.dest = hi >> 24,
		.vector = lo & 0xff,
		.delivery_mode = (lo >> 8) & 7,
		.dest_logical = lo & APIC_DEST_LOGICAL,
		.level_trig = lo & LAPIC_ICR_TRIGGER,
		.assert = lo & LAPIC_ICR_LEVEL,
		.shorthand = (lo >> 18) & 3,
	};
	/* Only INIT has a de-assert; every other IPI is an assert. */
	if (irq->delivery_mode != VMM_DM_INIT)
		irq->assert = true;
}

static u32 lapic_read(struct vmm_lapic *apic, u32 reg)
{
	switch (reg) {
	case APIC_TASKPRI:
		return lapic_tpr(apic);
	case APIC_PROCPRI:
		return lapic_ppr(apic);
	case APIC_ARBPRI:
		return 0;
	case APIC_TMCCT:
		return lapic_timer_current(apic);
	case APIC_EOI:
		return 0;
	default:
		if (reg >= 0x400)
			return 0;
		return lapic_get(apic, reg);
	}
}

/*
 * A guest write.  Returns what must happen once the lock is dropped: an
 * EOI to broadcast to the IOAPIC (*eoi_vec), an IPI to send (*ipi), or a
 * timer to reload.
 */
static void lapic_write(struct vmm_lapic *apic, u32 reg, u32 val, int *eoi_vec,
			struct vmm_apic_irq *ipi, bool *send_ipi,
			bool *restart_timer)
{
	int i;

	switch (reg) {
	case APIC_ID:
		lapic_set(apic, reg, val & 0xff000000);
		break;
	case APIC_TASKPRI:
		lapic_set(apic, reg, val & 0xff);
		vmm_ops->set_cr(apic->vcpu, 8, (val & 0xff) >> 4);
		break;
	case APIC_EOI:
		*eoi_vec = lapic_eoi(apic);
		break;
	case APIC_LDR:
		lapic_set(apic, reg, val & 0xff000000);
		break;
	case APIC_DFR:
		lapic_set(apic, reg, val | 0x0fffffff);
		break;
	case APIC_SPIV:
		lapic_set(apic, reg, val & 0x3ff);
		/* Software disable masks every LVT entry (SDM 10.4.7.2). */
		if (!(val & LAPIC_SVR_ENABLED))
			for (i = 0; i < LAPIC_NR_LVT; i++)
				lapic_set(apic, APIC_LVTT + i * 0x10,
					  lapic_get(apic, APIC_LVTT + i * 0x10) |
					  LAPIC_LVT_MASKED);
		break;
	case APIC_ESR:
		lapic_set(apic, reg, 0);
		break;
	case APIC_ICR:
		lapic_set(apic, reg, val & ~LAPIC_ICR_BUSY);
		lapic_send_ipi(apic, ipi);
		*send_ipi = true;
		break;
	case APIC_ICR2:
		lapic_set(apic, reg, val & 0xff000000);
		break;
	case APIC_LVTT:
	case APIC_LVTTHMR:
	case APIC_LVTPC:
	case APIC_LVT0:
	case APIC_LVT1:
	case APIC_LVTERR:
		val &= lapic_lvt_mask[(reg - APIC_LVTT) >> 4];
		if (!lapic_sw_enabled(apic))
			val |= LAPIC_LVT_MASKED;
		lapic_set(apic, reg, val);
		/* A mode change takes effect at the next expiry. */
		if (reg == APIC_LVTT)
			apic->timer_periodic = val & LAPIC_LVT_TIMER_PERIODIC;
		break;
	case APIC_TMICT:
		lapic_set(apic, reg, val);
		*restart_timer = true;
		break;
	case APIC_TDCR:
		lapic_set(apic, reg, val & 0xb);
		break;
	default:
		/* Read-only or reserved: ignored (the ESR is not reported). */
		break;
	}
}

static u64 lapic_base(struct vmm_vcpu *vcpu)
{
	return vcpu->arch.apic_base & ~(u64)(PAGE_SIZE - 1) & GENMASK_ULL(51, 12);
}

/*
 * A guest access to the APIC page.  Registers are 32 bits at 16-byte
 * aligned offsets; other accesses read what the aligned dword holds and
 * writes to them are dropped, as KVM does.
 */
bool vmm_lapic_mmio(struct vmm_vcpu *vcpu, u64 gpa, unsigned int len,
		    bool write, void *data)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;
	struct vmm_apic_irq ipi;
	bool send_ipi = false, restart_timer = false;
	unsigned long flags;
	int eoi_vec = -1;
	u32 off, val;

	if (!apic || !lapic_hw_enabled(apic) ||
	    gpa < lapic_base(vcpu) || gpa >= lapic_base(vcpu) + PAGE_SIZE)
		return false;
	off = gpa - lapic_base(vcpu);
	spin_lock_irqsave(&apic->lock, flags);
	if (write) {
		if (len == 4 && !(off & 0xf)) {
			memcpy(&val, data, 4);
			lapic_write(apic, off, val, &eoi_vec, &ipi, &send_ipi,
				    &restart_timer);
		}
	} else {
		u64 dword = lapic_read(apic, off & ~0xfU);

		dword >>= (off & 3) * 8;
		memset(data, 0, len);
		memcpy(data, &dword, min(len, 4U));
	}
	spin_unlock_irqrestore(&apic->lock, flags);
	if (restart_timer)
		lapic_timer_restart(apic);
	if (eoi_vec >= 0)
		vmm_ioapic_eoi(vcpu->vm, eoi_vec);
	if (send_ipi)
		vmm_lapic_deliver(vcpu->vm, vcpu, &ipi);
	return true;
}

/* ---- the vCPU side ---- */

bool vmm_lapic_accepts_pic(struct vmm_vcpu *vcpu)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;
	u32 lvt0;

	if (!apic || vcpu->id != 0)	/* the PIC is wired to the BSP */
		return false;
	if (!lapic_hw_enabled(apic))
		return true;
	lvt0 = lapic_get(apic, APIC_LVT0);
	return !(lvt0 & LAPIC_LVT_MASKED) && ((lvt0 >> 8) & 7) == VMM_DM_EXTINT;
}

/* Whether an interrupt waits that the guest would take once interruptible. */
bool vmm_lapic_has_interrupt(struct vmm_vcpu *vcpu)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;
	unsigned long flags;
	int vec;

	if (!apic)
		return false;
	if (vmm_lapic_accepts_pic(vcpu) && vmm_pic_has_interrupt(vcpu->vm))
		return true;
	spin_lock_irqsave(&apic->lock, flags);
	vec = lapic_deliverable(apic);
	spin_unlock_irqrestore(&apic->lock, flags);
	return vec >= 0;
}

/* The INTA cycle: the vector to inject now (IRR -> ISR), or -1. */
int vmm_lapic_take_interrupt(struct vmm_vcpu *vcpu)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;
	unsigned long flags;
	int vec;

	if (!apic)
		return -1;
	/* ExtINT first, as the PIC's INTR pin does not queue (SDM 10.5.1). */
	if (vmm_lapic_accepts_pic(vcpu) && vmm_pic_has_interrupt(vcpu->vm))
		return vmm_pic_read_irq(vcpu->vm);
	spin_lock_irqsave(&apic->lock, flags);
	vec = lapic_deliverable(apic);
	if (vec >= 0) {
		lapic_assign_vec(apic, APIC_IRR, vec, false);
		lapic_assign_vec(apic, APIC_ISR, vec, true);
	}
	spin_unlock_irqrestore(&apic->lock, flags);
	return vec;
}

/* Power-on or INIT state of the registers (SDM 10.4.7.1). */
static void lapic_reset_regs(struct vmm_lapic *apic, bool power_on)
{
	u32 id = power_on ? apic->vcpu->id << 24 : lapic_get(apic, APIC_ID);
	int i;

	apic->timer_period = 0;	/* the caller has cancelled the timer */
	memset(apic->regs, 0, PAGE_SIZE);
	lapic_set(apic, APIC_ID, id);
	lapic_set(apic, APIC_LVR, LAPIC_VERSION);
	lapic_set(apic, APIC_DFR, 0xffffffff);
	lapic_set(apic, APIC_SPIV, 0xff);
	for (i = 0; i < LAPIC_NR_LVT; i++)
		lapic_set(apic, APIC_LVTT + i * 0x10, LAPIC_LVT_MASKED);
	/* Firmware wires the BSP's LINT0 as ExtINT; start that way, as KVM. */
	if (apic->vcpu->id == 0)
		lapic_set(apic, APIC_LVT0, VMM_DM_EXTINT << 8);
	apic->nmi_pending = false;
	apic->sipi_pending = false;
}

/*
 * INIT and SIPI, between entries (vcpu->mutex held).  SDM 8.4: INIT puts
 * an AP into wait-for-SIPI; the BSP, as in KVM, starts over at the reset
 * vector.  A SIPI is taken only in wait-for-SIPI.
 */
void vmm_lapic_process_events(struct vmm_vcpu *vcpu)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;
	struct vmm_vcpu_x86 *a = &vcpu->arch;
	bool init, sipi, nmi;
	unsigned long flags;
	u8 vector;

	if (!apic)
		return;
	spin_lock_irqsave(&apic->lock, flags);
	init = apic->init_pending;
	sipi = apic->sipi_pending;
	nmi = apic->nmi_pending;
	vector = apic->sipi_vector;
	apic->init_pending = apic->sipi_pending = apic->nmi_pending = false;
	spin_unlock_irqrestore(&apic->lock, flags);
	if (init) {
		hrtimer_cancel(&apic->timer);
		spin_lock_irqsave(&apic->lock, flags);
		lapic_reset_regs(apic, false);
		spin_unlock_irqrestore(&apic->lock, flags);
	}

	if (init) {
		vmm_x86_init_vcpu(vcpu);
		a->mp_state = vcpu->id == 0 ? KVM_MP_STATE_RUNNABLE :
					      KVM_MP_STATE_INIT_RECEIVED;
	}
	if (sipi && a->mp_state == KVM_MP_STATE_INIT_RECEIVED) {
		struct kvm_segment cs;

		vmm_ops->get_segment(vcpu, &cs, VMM_SEG_CS);
		cs.selector = vector << 8;
		cs.base = (u64)vector << 12;
		vmm_ops->set_segment(vcpu, &cs, VMM_SEG_CS);
		a->rip = 0;
		a->mp_state = KVM_MP_STATE_RUNNABLE;
	}
	if (nmi && a->mp_state != KVM_MP_STATE_INIT_RECEIVED &&
	    a->mp_state != KVM_MP_STATE_UNINITIALIZED)
		a->nmi_pending = true;
}

bool vmm_lapic_events_pending(struct vmm_lapic *apic)
{
	return READ_ONCE(apic->init_pending) || READ_ONCE(apic->sipi_pending) ||
	       READ_ONCE(apic->nmi_pending);
}

/* KVM_SET_MP_STATE(SIPI_RECEIVED): the last SIPI's vector applies again. */
void vmm_lapic_resend_sipi(struct vmm_vcpu *vcpu)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;
	unsigned long flags;

	spin_lock_irqsave(&apic->lock, flags);
	apic->sipi_pending = true;
	spin_unlock_irqrestore(&apic->lock, flags);
}

/* ---- KVM_GET/SET_LAPIC ---- */

long vmm_lapic_get_state(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;
	struct kvm_lapic_state *s;
	unsigned long flags;
	long r = 0;

	if (!apic)
		return -EINVAL;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	spin_lock_irqsave(&apic->lock, flags);
	memcpy(s->regs, apic->regs, sizeof(s->regs));
	*(u32 *)(s->regs + APIC_PROCPRI) = lapic_ppr(apic);
	*(u32 *)(s->regs + APIC_TMCCT) = lapic_timer_current(apic);
	spin_unlock_irqrestore(&apic->lock, flags);
	if (copy_to_user(argp, s, sizeof(*s)))
		r = -EFAULT;
	kfree(s);
	return r;
}

long vmm_lapic_set_state(struct vmm_vcpu *vcpu, void __user *argp)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;
	struct kvm_lapic_state *s;
	unsigned long flags;
	int i;

	if (!apic)
		return -EINVAL;
	s = memdup_user(argp, sizeof(*s));
	if (IS_ERR(s))
		return PTR_ERR(s);
	hrtimer_cancel(&apic->timer);
	spin_lock_irqsave(&apic->lock, flags);
	memcpy(apic->regs, s->regs, sizeof(s->regs));
	/* Keep what the guest could not have written itself consistent. */
	lapic_set(apic, APIC_LVR, LAPIC_VERSION);
	lapic_set(apic, APIC_ID, lapic_get(apic, APIC_ID) & 0xff000000);
	lapic_set(apic, APIC_DFR, lapic_get(apic, APIC_DFR) | 0x0fffffff);
	lapic_set(apic, APIC_ICR, lapic_get(apic, APIC_ICR) & ~LAPIC_ICR_BUSY);
	lapic_set(apic, APIC_TDCR, lapic_get(apic, APIC_TDCR) & 0xb);
	for (i = 0; i < LAPIC_NR_LVT; i++) {
		u32 reg = APIC_LVTT + i * 0x10;

		lapic_set(apic, reg, lapic_get(apic, reg) & lapic_lvt_mask[i]);
	}
	vmm_ops->set_cr(vcpu, 8, (lapic_get(apic, APIC_TASKPRI) & 0xff) >> 4);
	spin_unlock_irqrestore(&apic->lock, flags);
	lapic_timer_restart(apic);
	kfree(s);
	vmm_x86_kick(vcpu);
	return 0;
}

/* ---- lifetime ---- */

int vmm_lapic_create(struct vmm_vcpu *vcpu)
{
	struct vmm_lapic *apic = kzalloc(sizeof(*apic), GFP_KERNEL_ACCOUNT);

	if (!apic)
		return -ENOMEM;
	apic->regs = (u8 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!apic->regs) {
		kfree(apic);
		return -ENOMEM;
	}
	apic->vcpu = vcpu;
	spin_lock_init(&apic->lock);
	hrtimer_init(&apic->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	apic->timer.function = lapic_timer_fire;
	lapic_reset_regs(apic, true);
	vcpu->arch.lapic = apic;
	return 0;
}

void vmm_lapic_free(struct vmm_vcpu *vcpu)
{
	struct vmm_lapic *apic = vcpu->arch.lapic;

	if (!apic)
		return;
	hrtimer_cancel(&apic->timer);
	free_page((unsigned long)apic->regs);
	kfree(apic);
	vcpu->arch.lapic = NULL;
}
