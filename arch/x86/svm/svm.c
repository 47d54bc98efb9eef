// SPDX-License-Identifier: GPL-2.0
/*
 * AMD-V (SVM) backend with nested paging.  AMD64 APM Vol. 2, ch. 15.
 *
 * One VMCB per vCPU.  CR0 and CR3 belong to the guest (nested paging makes
 * its page tables harmless); every port, every MSR the VMSAVE/VMLOAD pair
 * does not cover, and every instruction that would reach the host (SVM
 * itself, INVD, RDTSCP's TSC_AUX, MONITOR/MWAIT) is intercepted.  The
 * hardware's decode assists and NRIP save are used only as an optimisation:
 * without them (as under QEMU TCG) instructions are decoded to be skipped.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <asm/debugreg.h>
#include <asm/io.h>
#include <asm/fpu/xcr.h>
#include <asm/msr.h>
#include <asm/pgtable.h>
#include <asm/traps.h>

#include "../x86.h"
#include "vmcb.h"

void svm_vmrun(u64 *gprs, u64 vmcb_pa, u64 host_save_pa);

/* Per physical CPU. */
struct svm_cpu {
	struct page *hsave;		/* MSR_VM_HSAVE_PA: VMRUN's host area */
	struct page *host_save;		/* VMSAVE/VMLOAD area for host state */
	u32 max_asid;
	u32 next_asid;
	u64 asid_generation;		/* bumped when ASIDs are recycled */
};

struct svm_vcpu {
	struct vmm_vcpu vcpu;
	struct vmcb *vmcb;
	u64 vmcb_pa;
	int asid_cpu;
	u64 asid_generation;		/* 0: needs a fresh ASID */
	bool state_lost;		/* the last #VMEXIT's save area: see below */
};

static DEFINE_PER_CPU(struct svm_cpu, svm_cpus);
static void *svm_iopm;
static void *svm_msrpm;
static bool svm_has_nrips;
static bool svm_has_decode_assists;

#define SVM_IOPM_ORDER		2	/* 12 KiB, APM 15.10.1 */
#define SVM_MSRPM_ORDER		1	/* 8 KiB, APM 15.11 */
#define SVM_PAT_RESET		0x0007040600070406ULL

static struct vmm_npt_format svm_npt_format = {
	.table_bits = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED,
	.present_mask = _PAGE_PRESENT,
	/* Guest accesses are user accesses in the nested walk (APM 15.25.5). */
	.read_bits = _PAGE_PRESENT | _PAGE_USER,
	.write_bit = _PAGE_RW,
	.accessed_bit = _PAGE_ACCESSED,
	.levels = 4,
	/* The nested walk is long-mode paging: PDEs may map 2 MiB (APM 15.25.3). */
	.huge_leaves = true,
};

static inline struct svm_vcpu *to_svm(struct vmm_vcpu *vcpu)
{
	return container_of(vcpu, struct svm_vcpu, vcpu);
}

static inline void svm_clgi(void)
{
	asm volatile("clgi" ::: "memory");
}

static inline void svm_stgi(void)
{
	asm volatile("stgi" ::: "memory");
}

/* ---- module and CPU lifecycle ---- */

static void svm_msrpm_allow(u32 msr)
{
	static const struct { u32 base; u32 offset; } ranges[] = {
		{ 0x00000000, 0x0000 },
		{ 0xc0000000, 0x0800 },
		{ 0xc0010000, 0x1000 },
	};
	int i;

	for (i = 0; i < ARRAY_SIZE(ranges); i++) {
		u32 bit;

		if (msr < ranges[i].base || msr >= ranges[i].base + 0x2000)
			continue;
		/* Two bits per MSR: read then write intercept (APM 15.11). */
		bit = ranges[i].offset * 8 + (msr - ranges[i].base) * 2;
		__clear_bit(bit, svm_msrpm);
		__clear_bit(bit + 1, svm_msrpm);
	}
}

static void svm_free_cpu_pages(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct svm_cpu *sd = per_cpu_ptr(&svm_cpus, cpu);

		if (sd->hsave)
			__free_page(sd->hsave);
		if (sd->host_save)
			__free_page(sd->host_save);
		sd->hsave = sd->host_save = NULL;
	}
}

static void svm_remove(void)
{
	svm_free_cpu_pages();
	if (svm_iopm)
		free_pages((unsigned long)svm_iopm, SVM_IOPM_ORDER);
	if (svm_msrpm)
		free_pages((unsigned long)svm_msrpm, SVM_MSRPM_ORDER);
	svm_iopm = svm_msrpm = NULL;
}

static int svm_probe(void)
{
	u32 max_asid = cpuid_ebx(0x8000000a);
	u64 vm_cr, efer;
	int cpu;

	if (!boot_cpu_has(X86_FEATURE_NPT)) {
		vmm_err("the CPU has SVM but no nested paging (NPT)\n");
		return -EOPNOTSUPP;
	}
	rdmsrl(MSR_VM_CR, vm_cr);
	if (vm_cr & SVM_VM_CR_SVMDIS) {
		vmm_err("SVM is disabled by the firmware (VM_CR.SVMDIS)\n");
		return -EOPNOTSUPP;
	}
	rdmsrl(MSR_EFER, efer);
	if (efer & EFER_SVME) {
		vmm_err("SVM is in use by another hypervisor (kvm_amd?)\n");
		return -EBUSY;
	}
	if (max_asid < 2) {
		vmm_err("the CPU offers no ASID for guests\n");
		return -EOPNOTSUPP;
	}
	svm_has_nrips = cpuid_edx(0x8000000a) & SVM_FEATURE_NRIPS;
	svm_has_decode_assists = svm_has_nrips &&
		(cpuid_edx(0x8000000a) & SVM_FEATURE_DECODE_ASSISTS);
	/* The nested walk has as many levels as the host's (APM 15.25.3). */
	svm_npt_format.levels = pgtable_l5_enabled() ? 5 : 4;

	svm_iopm = (void *)__get_free_pages(GFP_KERNEL, SVM_IOPM_ORDER);
	svm_msrpm = (void *)__get_free_pages(GFP_KERNEL, SVM_MSRPM_ORDER);
	if (!svm_iopm || !svm_msrpm)
		goto err;
	memset(svm_iopm, 0xff, PAGE_SIZE << SVM_IOPM_ORDER);
	memset(svm_msrpm, 0xff, PAGE_SIZE << SVM_MSRPM_ORDER);
	/* State VMSAVE/VMLOAD switch anyway; the rest stays intercepted. */
	svm_msrpm_allow(MSR_FS_BASE);
	svm_msrpm_allow(MSR_GS_BASE);
	svm_msrpm_allow(MSR_KERNEL_GS_BASE);
	svm_msrpm_allow(MSR_STAR);
	svm_msrpm_allow(MSR_LSTAR);
	svm_msrpm_allow(MSR_CSTAR);
	svm_msrpm_allow(MSR_SYSCALL_MASK);
	svm_msrpm_allow(MSR_IA32_SYSENTER_CS);
	svm_msrpm_allow(MSR_IA32_SYSENTER_ESP);
	svm_msrpm_allow(MSR_IA32_SYSENTER_EIP);

	for_each_possible_cpu(cpu) {
		struct svm_cpu *sd = per_cpu_ptr(&svm_cpus, cpu);

		sd->hsave = alloc_pages_node(cpu_to_node(cpu),
					     GFP_KERNEL | __GFP_ZERO, 0);
		sd->host_save = alloc_pages_node(cpu_to_node(cpu),
						 GFP_KERNEL | __GFP_ZERO, 0);
		if (!sd->hsave || !sd->host_save)
			goto err;
		sd->max_asid = max_asid - 1;
	}
	return 0;
err:
	svm_remove();
	return -ENOMEM;
}

static int svm_cpu_enable(void)
{
	struct svm_cpu *sd = this_cpu_ptr(&svm_cpus);
	u64 efer;

	rdmsrl(MSR_EFER, efer);
	if (efer & EFER_SVME)
		return -EBUSY;	/* someone else's guests run here */
	wrmsrl(MSR_EFER, efer | EFER_SVME);
	wrmsrl(MSR_VM_HSAVE_PA, page_to_phys(sd->hsave));
	/*
	 * Whoever used SVM here before may have left TLB entries tagged with
	 * any ASID: start a new generation that begins with a full flush.
	 */
	sd->asid_generation++;
	sd->next_asid = sd->max_asid + 1;
	return 0;
}

/* Also the emergency (crash, NMI) path: no locks, no allocation. */
static void svm_cpu_disable(void)
{
	u64 efer;

	rdmsrl(MSR_EFER, efer);
	if (!(efer & EFER_SVME))
		return;
	/* A CPU left with GIF clear would ignore INIT and NMI (APM 15.17). */
	svm_stgi();
	wrmsrl(MSR_VM_HSAVE_PA, 0);
	wrmsrl(MSR_EFER, efer & ~EFER_SVME);
}

static int svm_vm_init(struct vmm_vm *vm)
{
	return 0;
}

static void svm_vm_destroy(struct vmm_vm *vm)
{
}

/* ---- register state ---- */

static struct vmcb_seg *svm_seg(struct vmcb *vmcb, int nr)
{
	struct vmcb_save *s = &vmcb->save;

	switch (nr) {
	case VMM_SEG_ES: return &s->es;
	case VMM_SEG_CS: return &s->cs;
	case VMM_SEG_SS: return &s->ss;
	case VMM_SEG_DS: return &s->ds;
	case VMM_SEG_FS: return &s->fs;
	case VMM_SEG_GS: return &s->gs;
	case VMM_SEG_LDTR: return &s->ldtr;
	default: return &s->tr;
	}
}

static void svm_get_segment(struct vmm_vcpu *vcpu, struct kvm_segment *var,
			    int nr)
{
	struct vmcb_seg *s = svm_seg(to_svm(vcpu)->vmcb, nr);

	memset(var, 0, sizeof(*var));
	var->base = s->base;
	var->limit = s->limit;
	var->selector = s->selector;
	var->type = s->attrib & 0xf;
	var->s = (s->attrib >> 4) & 1;
	var->dpl = (s->attrib >> 5) & 3;
	var->present = (s->attrib >> 7) & 1;
	var->avl = (s->attrib >> 8) & 1;
	var->l = (s->attrib >> 9) & 1;
	var->db = (s->attrib >> 10) & 1;
	var->g = (s->attrib >> 11) & 1;
	var->unusable = !var->present;
}

static void svm_set_segment(struct vmm_vcpu *vcpu,
			    const struct kvm_segment *var, int nr)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;
	struct vmcb_seg *s = svm_seg(vmcb, nr);

	s->base = var->base;
	s->limit = var->limit;
	s->selector = var->selector;
	s->attrib = 0;
	if (!var->unusable)
		s->attrib = (var->type & 0xf) | (var->s & 1) << 4 |
			    (var->dpl & 3) << 5 | (var->present & 1) << 7 |
			    (var->avl & 1) << 8 | (var->l & 1) << 9 |
			    (var->db & 1) << 10 | (var->g & 1) << 11;
	/* The VMCB's CPL field is what the guest runs at (APM 15.5.1). */
	if (nr == VMM_SEG_SS)
		vmcb->save.cpl = var->dpl & 3;
}

static void svm_get_dtable(struct vmm_vcpu *vcpu, struct kvm_dtable *dt,
			   bool idt)
{
	struct vmcb_save *s = &to_svm(vcpu)->vmcb->save;
	struct vmcb_seg *d = idt ? &s->idtr : &s->gdtr;

	memset(dt, 0, sizeof(*dt));
	dt->base = d->base;
	dt->limit = d->limit;
}

static void svm_set_dtable(struct vmm_vcpu *vcpu, const struct kvm_dtable *dt,
			   bool idt)
{
	struct vmcb_save *s = &to_svm(vcpu)->vmcb->save;
	struct vmcb_seg *d = idt ? &s->idtr : &s->gdtr;

	d->base = dt->base;
	d->limit = dt->limit;
}

static u64 svm_get_cr(struct vmm_vcpu *vcpu, int cr)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;

	switch (cr) {
	case 0: return vmcb->save.cr0;
	case 2: return vmcb->save.cr2;
	case 3: return vmcb->save.cr3;
	case 4: return vmcb->save.cr4;
	case 8: return vmcb->control.int_ctl & SVM_INT_V_TPR_MASK;
	default: return 0;
	}
}

static void svm_set_cr(struct vmm_vcpu *vcpu, int cr, u64 val)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;

	switch (cr) {
	case 0:
		vmcb->save.cr0 = val;
		break;
	case 2:
		vmcb->save.cr2 = val;
		break;
	case 3:
		vmcb->save.cr3 = val;
		break;
	case 4:
		vmcb->save.cr4 = val;
		break;
	case 8:
		vmcb->control.int_ctl &= ~SVM_INT_V_TPR_MASK;
		vmcb->control.int_ctl |= val & 0xf;
		break;
	}
}

/* The guest's EFER must have SVME set for VMRUN (APM 15.5.1). */
static void svm_set_efer(struct vmm_vcpu *vcpu, u64 efer)
{
	vcpu->arch.efer = efer;
	to_svm(vcpu)->vmcb->save.efer = efer | EFER_SVME;
}

static int svm_get_cpl(struct vmm_vcpu *vcpu)
{
	return to_svm(vcpu)->vmcb->save.cpl;
}

static u64 svm_next_rip(struct vmm_vcpu *vcpu)
{
	return svm_has_nrips ? to_svm(vcpu)->vmcb->control.next_rip : 0;
}

/*
 * MSRs whose guest values live in the VMCB: the VMSAVE/VMLOAD state,
 * segment bases and PAT.  The guest reaches most of them directly
 * (the MSR permission map lets them through).
 */
static u64 *svm_msr_field(struct vmcb *vmcb, u32 index)
{
	struct vmcb_save *s = &vmcb->save;

	switch (index) {
	case MSR_STAR:			return &s->star;
	case MSR_LSTAR:			return &s->lstar;
	case MSR_CSTAR:			return &s->cstar;
	case MSR_SYSCALL_MASK:		return &s->sfmask;
	case MSR_KERNEL_GS_BASE:	return &s->kernel_gs_base;
	case MSR_IA32_SYSENTER_CS:	return &s->sysenter_cs;
	case MSR_IA32_SYSENTER_ESP:	return &s->sysenter_esp;
	case MSR_IA32_SYSENTER_EIP:	return &s->sysenter_eip;
	case MSR_FS_BASE:		return &s->fs.base;
	case MSR_GS_BASE:		return &s->gs.base;
	case MSR_IA32_CR_PAT:		return &s->g_pat;
	default:			return NULL;
	}
}

static int svm_get_msr(struct vmm_vcpu *vcpu, u32 index, u64 *data)
{
	u64 *field = svm_msr_field(to_svm(vcpu)->vmcb, index);

	if (!field)
		return -ENOENT;
	*data = *field;
	return 0;
}

static int svm_set_msr(struct vmm_vcpu *vcpu, u32 index, u64 data)
{
	u64 *field = svm_msr_field(to_svm(vcpu)->vmcb, index);

	if (!field)
		return -ENOENT;
	if (index == MSR_IA32_CR_PAT && !vmm_x86_pat_valid(data))
		return -EINVAL;
	/* Addresses must be canonical, or VMLOAD would load garbage. */
	if ((index == MSR_LSTAR || index == MSR_CSTAR || index == MSR_FS_BASE ||
	     index == MSR_GS_BASE || index == MSR_KERNEL_GS_BASE ||
	     index == MSR_IA32_SYSENTER_ESP || index == MSR_IA32_SYSENTER_EIP) &&
	    !vmm_x86_canonical(data))
		return -EINVAL;
	*field = data;
	return 0;
}

/* ---- vCPU lifecycle ---- */

static void svm_init_control(struct svm_vcpu *svm)
{
	struct vmcb_control *c = &svm->vmcb->control;

	/* CR4 writes are checked; all debug register accesses are emulated. */
	c->intercepts[SVM_ICPT_CR] = BIT(16 + 4);
	c->intercepts[SVM_ICPT_DR] = 0xffffffff;
	c->intercepts[SVM_ICPT_EXC] = BIT(DB_VECTOR) | BIT(AC_VECTOR);
	c->intercepts[SVM_ICPT_MISC1] = SVM_MISC1_INTR | SVM_MISC1_NMI |
		SVM_MISC1_SMI | SVM_MISC1_CPUID | SVM_MISC1_RSM |
		SVM_MISC1_INVD | SVM_MISC1_HLT | SVM_MISC1_INVLPGA |
		SVM_MISC1_IOIO | SVM_MISC1_MSR | SVM_MISC1_TASK_SWITCH |
		SVM_MISC1_SHUTDOWN;
	c->intercepts[SVM_ICPT_MISC2] = SVM_MISC2_VMRUN | SVM_MISC2_VMMCALL |
		SVM_MISC2_VMLOAD | SVM_MISC2_VMSAVE | SVM_MISC2_STGI |
		SVM_MISC2_CLGI | SVM_MISC2_SKINIT | SVM_MISC2_RDTSCP |
		SVM_MISC2_MONITOR | SVM_MISC2_MWAIT | SVM_MISC2_MWAIT_COND |
		SVM_MISC2_XSETBV | SVM_MISC2_RDPRU;
	c->iopm_base_pa = __pa(svm_iopm);
	c->msrpm_base_pa = __pa(svm_msrpm);
	/* Physical interrupts stay the host's whatever the guest's IF. */
	c->int_ctl = SVM_INT_V_INTR_MASKING;
	c->nested_ctl = SVM_NP_ENABLE;
	c->nested_cr3 = svm->vcpu.vm->npt.root_pa;
}

/*
 * The architectural power-on state (APM Vol. 2 14.1.3): what INIT also
 * sets, plus the debug registers the VMCB loads into the CPU and PAT.
 */
static void svm_reset_state(struct svm_vcpu *svm)
{
	vmm_x86_init_vcpu(&svm->vcpu);
	svm->vmcb->save.dr6 = VMM_DR6_RESET;
	svm->vmcb->save.dr7 = VMM_DR7_RESET;
	svm->vmcb->save.g_pat = SVM_PAT_RESET;
}

static struct vmm_vcpu *svm_vcpu_alloc(void)
{
	struct svm_vcpu *svm = kzalloc(sizeof(*svm), GFP_KERNEL_ACCOUNT);

	return svm ? &svm->vcpu : NULL;
}

static int svm_vcpu_init(struct vmm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct page *page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

	if (!page)
		return -ENOMEM;
	svm->vmcb = page_address(page);
	svm->vmcb_pa = page_to_phys(page);
	svm->asid_cpu = -1;
	svm_init_control(svm);
	svm_reset_state(svm);
	return 0;
}

static void svm_vcpu_free(struct vmm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	if (svm->vmcb)
		free_page((unsigned long)svm->vmcb);
	kfree(svm);
}

/* ---- entry ---- */

/*
 * Give the vCPU an ASID valid on this CPU.  ASIDs are handed out in
 * generations: running out flushes the whole TLB and starts again (APM
 * 15.16), which needs no flush-by-ASID support.  A fresh ASID is also how a
 * vCPU drops its own stale translations.
 */
static void svm_assign_asid(struct svm_vcpu *svm, struct svm_cpu *sd, int cpu)
{
	struct vmcb_control *c = &svm->vmcb->control;

	if (svm->asid_cpu == cpu && svm->asid_generation == sd->asid_generation)
		return;
	if (sd->next_asid > sd->max_asid) {
		sd->asid_generation++;
		sd->next_asid = 1;
		c->tlb_control = SVM_TLB_FLUSH_ALL;
	}
	c->asid = sd->next_asid++;
	svm->asid_cpu = cpu;
	svm->asid_generation = sd->asid_generation;
}

static void svm_inject_event(struct vmm_vcpu *vcpu, const struct vmm_event *ev)
{
	struct vmcb_control *c = &to_svm(vcpu)->vmcb->control;

	c->event_inj = ev->vector | (u32)ev->type << SVM_EVT_TYPE_SHIFT |
		       (ev->has_error_code ? SVM_EVT_EV : 0) | SVM_EVT_VALID;
	c->event_inj_err = ev->error_code;
}

/* SVM has one shadow bit for STI and MOV SS alike (APM 15.21.5). */
static u32 svm_get_interrupt_shadow(struct vmm_vcpu *vcpu)
{
	return to_svm(vcpu)->vmcb->control.int_state & SVM_INT_SHADOW ?
	       VMM_SHADOW_STI | VMM_SHADOW_MOV_SS : 0;
}

static void svm_set_interrupt_shadow(struct vmm_vcpu *vcpu, u32 shadow)
{
	struct vmcb_control *c = &to_svm(vcpu)->vmcb->control;

	if (shadow)
		c->int_state |= SVM_INT_SHADOW;
	else
		c->int_state &= ~SVM_INT_SHADOW;
}

/*
 * The interrupt window: a virtual interrupt the guest can never take
 * (V_IGN_TPR, highest priority), whose delivery is intercepted, so the
 * #VMEXIT(VINTR) comes exactly when the guest becomes interruptible
 * (APM 15.21.4).
 */
static void svm_set_irq_window(struct vmm_vcpu *vcpu, bool on)
{
	struct vmcb_control *c = &to_svm(vcpu)->vmcb->control;
	u32 bits = SVM_INT_V_IRQ | SVM_INT_V_IGN_TPR |
		   (0xf << SVM_INT_V_INTR_PRIO_SHIFT);

	if (on) {
		c->int_ctl |= bits;
		c->intercepts[SVM_ICPT_MISC1] |= SVM_MISC1_VINTR;
	} else {
		c->int_ctl &= ~bits;
		c->intercepts[SVM_ICPT_MISC1] &= ~SVM_MISC1_VINTR;
	}
}

/* The end of an NMI handler is its IRET: intercept it while it matters. */
static void svm_set_nmi_window(struct vmm_vcpu *vcpu, bool on)
{
	struct vmcb_control *c = &to_svm(vcpu)->vmcb->control;

	if (on)
		c->intercepts[SVM_ICPT_MISC1] |= SVM_MISC1_IRET;
	else
		c->intercepts[SVM_ICPT_MISC1] &= ~SVM_MISC1_IRET;
}

/*
 * An exit in the middle of delivering an event (e.g. a nested page fault
 * on the IDT) leaves it in EXITINTINFO: deliver it again (APM 15.7.2);
 * vmm_x86_reinject() decides what is replayed.
 */
static void svm_save_exit_int_info(struct svm_vcpu *svm)
{
	struct vmcb_control *c = &svm->vmcb->control;
	u32 info = c->exit_int_info;
	u32 type = info & SVM_EVT_TYPE_MASK;
	u8 vector = info & SVM_EVT_VECTOR_MASK;
	struct vmm_event ev;

	c->event_inj = 0;
	if (!(info & SVM_EVT_VALID))
		return;
	ev = (struct vmm_event) {
		.pending = true,
		.type = type >> SVM_EVT_TYPE_SHIFT,
		.vector = vector,
		.has_error_code = info & SVM_EVT_EV,
		.error_code = c->exit_int_info_err,
	};
	vmm_x86_reinject(&svm->vcpu, &ev);
}

static void svm_load_guest_regs(struct svm_vcpu *svm)
{
	struct vmm_vcpu_x86 *arch = &svm->vcpu.arch;
	struct vmcb_save *s = &svm->vmcb->save;

	s->rax = arch->gpr[VMM_RAX];
	s->rsp = arch->gpr[VMM_RSP];
	s->rip = arch->rip;
	s->rflags = arch->rflags;
	svm->vmcb->control.tsc_offset = arch->tsc_offset;
}

static void svm_store_guest_regs(struct svm_vcpu *svm)
{
	struct vmm_vcpu_x86 *arch = &svm->vcpu.arch;
	struct vmcb_save *s = &svm->vmcb->save;

	arch->gpr[VMM_RAX] = s->rax;
	arch->gpr[VMM_RSP] = s->rsp;
	arch->rip = s->rip;
	arch->rflags = s->rflags;
	/* The processor sets EFER.LMA when the guest enables paging. */
	arch->efer = s->efer & ~EFER_SVME;
}

/*
 * VMEXIT_INVALID is -1 in the 64-bit EXITCODE (APM Vol. 2 15.5.1), but
 * QEMU's TCG stores it as a 32-bit -1: compare the low half, as KVM does,
 * so that a refused VMRUN is an entry failure either way.
 */
static bool svm_vmrun_refused(const struct vmcb *vmcb)
{
	return (u32)vmcb->control.exit_code == (u32)SVM_EXIT_INVALID;
}

/*
 * A VMRUN that fails its consistency checks (APM Vol. 2 15.5.1) leaves the
 * VMCB as vmm wrote it.  QEMU's TCG instead performs a full #VMEXIT from
 * wherever its checks stopped: it writes 0 over int_ctl and, for the early
 * checks (CR0, CR3, CR4, the permission maps), stores the host's own
 * registers in the save area.  Puts V_INTR_MASKING back, without which the
 * guest's IF would mask the host's interrupts (APM Vol. 2 15.21.1), and
 * returns whether the save area is lost: vmm wrote RIP, RSP and RAX just
 * before the VMRUN, so any of them changed means it is not the guest's.
 */
static bool svm_undo_refused_vmrun(struct svm_vcpu *svm)
{
	const struct vmm_vcpu_x86 *arch = &svm->vcpu.arch;
	const struct vmcb_save *s = &svm->vmcb->save;

	svm->vmcb->control.int_ctl |= SVM_INT_V_INTR_MASKING;
	return s->rip != arch->rip || s->rsp != arch->gpr[VMM_RSP] ||
	       s->rax != arch->gpr[VMM_RAX];
}

/*
 * Whether the #VMEXIT just taken stored the host's registers in the save
 * area, which hardware never does.  QEMU 7.2's TCG does, on CPU 0 only: an
 * FXRSTOR or XRSTOR on any other CPU clears IGNNE in CPU 0's hidden flags
 * by an unlocked read-modify-write (cpu_clear_ignne()), which can undo
 * CPU 0's #VMEXIT clearing its nested-paging flag.  CPU 0 then fetches the
 * host's next instruction through the guest's nested page tables, and the
 * nested page fault stores a second #VMEXIT, with the host's registers,
 * over the first: the guest's state and its exit are gone.  The host's RAX
 * at VMRUN is the VMCB's address and its CR3 the host's; a guest's are not.
 */
static bool svm_saved_host_state(const struct svm_vcpu *svm)
{
	const struct vmcb_save *s = &svm->vmcb->save;

	return unlikely(s->rax == svm->vmcb_pa) && s->cr3 == __read_cr3();
}

static bool svm_guest_xcr0_differs(struct vmm_vcpu *vcpu)
{
	return (to_svm(vcpu)->vmcb->save.cr4 & X86_CR4_OSXSAVE) &&
	       vcpu->arch.xcr0 != vmm_host_xcr0;
}

static int svm_vcpu_run(struct vmm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	bool switch_xcr0;
	struct svm_cpu *sd;
	int cpu;

	preempt_disable();
	local_irq_disable();
	cpu = smp_processor_id();
	sd = per_cpu_ptr(&svm_cpus, cpu);
	WRITE_ONCE(vcpu->cpu, cpu);
	/* Pairs with the barrier in vmm_vcpu_kick(): see the request or get the IPI. */
	smp_store_mb(vcpu->mode, VMM_IN_GUEST);
	if (test_and_clear_bit(VMM_REQ_TLB_FLUSH, &vcpu->requests))
		svm->asid_generation = 0;
	if (need_resched() || !vmm_cpu_enabled()) {
		/*
		 * Decided before preempt_enable(): on a preemptible kernel it
		 * schedules and clears the flag, and the retry would become
		 * an -EIO.
		 */
		int r = vmm_cpu_enabled() ? -EAGAIN : -EIO;

		WRITE_ONCE(vcpu->mode, VMM_OUTSIDE_GUEST);
		local_irq_enable();
		preempt_enable();
		return r;
	}

	svm_assign_asid(svm, sd, cpu);
	vmm_x86_inject_pending(vcpu);	/* may set RFLAGS.TF: before the load */
	svm_load_guest_regs(svm);
	switch_xcr0 = svm_guest_xcr0_differs(vcpu);
	if (switch_xcr0)
		xsetbv(XCR_XFEATURE_ENABLED_MASK, vcpu->arch.xcr0);

	vmm_guest_enter_irqoff();
	svm_clgi();
	/*
	 * With V_INTR_MASKING the guest's IF masks only virtual interrupts;
	 * physical ones are masked by the host's IF as it was at VMRUN (APM
	 * 15.21.1).  Set it, so that a host interrupt forces a #VMEXIT; GIF,
	 * clear until stgi below, keeps the interrupt from being taken here.
	 */
	raw_local_irq_enable();
	svm_vmrun(vcpu->arch.gpr, svm->vmcb_pa, page_to_phys(sd->host_save));
	raw_local_irq_disable();
	vmm_guest_exit_irqoff();

	if (switch_xcr0)
		xsetbv(XCR_XFEATURE_ENABLED_MASK, vmm_host_xcr0);
	/* The guest's DR7 was live; put back the host's breakpoints. */
	if (hw_breakpoint_active())
		hw_breakpoint_restore();
	svm_stgi();

	WRITE_ONCE(vcpu->mode, VMM_OUTSIDE_GUEST);
	svm->vmcb->control.tlb_control = SVM_TLB_FLUSH_NONE;
	if (unlikely(svm_vmrun_refused(svm->vmcb)))
		svm->state_lost = svm_undo_refused_vmrun(svm);
	else
		svm->state_lost = svm_saved_host_state(svm);
	svm_store_guest_regs(svm);
	svm_save_exit_int_info(svm);
	/* Nothing of the host's may reach userspace, nor run again. */
	if (unlikely(svm->state_lost))
		svm_reset_state(svm);
	vmm_x86_after_exit(vcpu);
	local_irq_enable();
	preempt_enable();
	return 0;
}

/* ---- exits: one small handler per reason ---- */

static int svm_exit_resume(struct svm_vcpu *svm)
{
	return VMM_RESUME_GUEST;
}

static int svm_exit_ud(struct svm_vcpu *svm)
{
	return vmm_x86_inject_ud(&svm->vcpu);
}

/*
 * #DB and #AC are intercepted only so that a guest cannot wedge the CPU in
 * an endless chain of them, during which no host interrupt would be taken
 * (CVE-2015-5307, CVE-2015-8104); they go straight back to the guest.
 */
static int svm_exit_db(struct svm_vcpu *svm)
{
	/* vmm's own single step over an IRET is not the guest's business. */
	if (vmm_x86_nmi_singlestep_done(&svm->vcpu))
		return VMM_RESUME_GUEST;
	vmm_x86_queue_exception(&svm->vcpu, DB_VECTOR, false, 0);
	return VMM_RESUME_GUEST;
}

static int svm_exit_ac(struct svm_vcpu *svm)
{
	vmm_x86_queue_exception(&svm->vcpu, AC_VECTOR, true,
				svm->vmcb->control.exit_info_1);
	return VMM_RESUME_GUEST;
}

/* The window opened: the run loop decides whether userspace wants to know. */
static int svm_exit_vintr(struct svm_vcpu *svm)
{
	svm_set_irq_window(&svm->vcpu, false);
	return VMM_RESUME_GUEST;
}

static int svm_exit_iret(struct svm_vcpu *svm)
{
	svm_set_nmi_window(&svm->vcpu, false);
	vmm_x86_nmi_iret(&svm->vcpu);
	return VMM_RESUME_GUEST;
}

static int svm_exit_cpuid(struct svm_vcpu *svm)
{
	return vmm_x86_exit_cpuid(&svm->vcpu);
}

static int svm_exit_hlt(struct svm_vcpu *svm)
{
	return vmm_x86_exit_hlt(&svm->vcpu);
}

/* INVD would drop dirty lines that may belong to the host: act as NOP. */
static int svm_exit_invd(struct svm_vcpu *svm)
{
	if (vmm_x86_skip_insn(&svm->vcpu))
		return vmm_x86_exit_internal_error(&svm->vcpu,
				KVM_INTERNAL_ERROR_EMULATION, SVM_EXIT_INVD, 0);
	return VMM_RESUME_GUEST;
}

/* With decode assists, EXITINFO1 names the GPR (APM 15.33.1). */
static int svm_decoded_gpr(struct svm_vcpu *svm)
{
	u64 info = svm->vmcb->control.exit_info_1;

	return svm_has_decode_assists && (info & BIT_ULL(63)) ? info & 0xf : -1;
}

static int svm_exit_cr4_write(struct svm_vcpu *svm)
{
	return vmm_x86_exit_cr4_write(&svm->vcpu, svm_decoded_gpr(svm));
}

static int svm_exit_dr(struct svm_vcpu *svm)
{
	u64 code = svm->vmcb->control.exit_code;

	return vmm_x86_exit_dr(&svm->vcpu, code & 0xf,
			       code >= SVM_EXIT_WRITE_DR0, svm_decoded_gpr(svm));
}

/* EXITINFO1 describes the access, EXITINFO2 is the next RIP (APM 15.10.2). */
static int svm_exit_ioio(struct svm_vcpu *svm)
{
	u64 info = svm->vmcb->control.exit_info_1;
	unsigned int size = (info & SVM_IOIO_SIZE_MASK) >> SVM_IOIO_SIZE_SHIFT;

	return vmm_x86_exit_io(&svm->vcpu, info >> SVM_IOIO_PORT_SHIFT, size,
			       info & SVM_IOIO_IN, info & SVM_IOIO_STR,
			       svm->vmcb->control.exit_info_2);
}

/* EXITINFO1 is 0 for RDMSR and 1 for WRMSR (APM 15.11). */
static int svm_exit_msr(struct svm_vcpu *svm)
{
	if (svm->vmcb->control.exit_info_1)
		return vmm_x86_exit_wrmsr(&svm->vcpu);
	return vmm_x86_exit_rdmsr(&svm->vcpu);
}

static int svm_exit_xsetbv(struct svm_vcpu *svm)
{
	struct vmm_vcpu *vcpu = &svm->vcpu;
	u64 *gpr = vcpu->arch.gpr;
	u64 xcr0 = (u32)gpr[VMM_RAX] | (gpr[VMM_RDX] << 32);

	if ((u32)gpr[VMM_RCX] != 0 || svm->vmcb->save.cpl != 0 ||
	    !vmm_x86_xcr0_valid(vcpu, xcr0))
		return vmm_x86_inject_gp(vcpu, 0);
	vcpu->arch.xcr0 = xcr0;
	return vmm_x86_skip_or_fail(vcpu);
}

/*
 * After a shutdown the VMCB holds no usable state (APM 15.12): start
 * again from power-on state; userspace resets the registers it cares about.
 */
static int svm_exit_shutdown(struct svm_vcpu *svm)
{
	svm_reset_state(svm);
	return vmm_x86_exit_shutdown(&svm->vcpu);
}

static int svm_exit_task_switch(struct svm_vcpu *svm)
{
	return vmm_x86_exit_internal_error(&svm->vcpu,
			KVM_INTERNAL_ERROR_EMULATION, SVM_EXIT_TASK_SWITCH,
			svm->vmcb->control.exit_info_1);
}

/*
 * EXITINFO1 is a #PF-style error code, EXITINFO2 the GPA (APM 15.25.6);
 * bit 32 of EXITINFO1 says the fault hit the final guest-physical address,
 * bit 33 that it hit a guest page-table entry during the walk.
 */
static int svm_exit_npf(struct svm_vcpu *svm)
{
	u64 err = svm->vmcb->control.exit_info_1;

	return vmm_x86_exit_npf(&svm->vcpu, svm->vmcb->control.exit_info_2,
				err & SVM_NPF_WRITE, err & SVM_NPF_FETCH,
				err & SVM_NPF_FINAL);
}

typedef int (*svm_exit_handler)(struct svm_vcpu *svm);

static const svm_exit_handler svm_exit_handlers[] = {
	[SVM_EXIT_WRITE_CR0 + 4]		= svm_exit_cr4_write,
	[SVM_EXIT_READ_DR0 ... SVM_EXIT_WRITE_DR0 + 15] = svm_exit_dr,
	[SVM_EXIT_EXCP_BASE + DB_VECTOR]	= svm_exit_db,
	[SVM_EXIT_EXCP_BASE + AC_VECTOR]	= svm_exit_ac,
	[SVM_EXIT_INTR]				= svm_exit_resume,
	[SVM_EXIT_NMI]				= svm_exit_resume,
	[SVM_EXIT_SMI]				= svm_exit_resume,
	[SVM_EXIT_VINTR]			= svm_exit_vintr,
	[SVM_EXIT_IRET]				= svm_exit_iret,
	[SVM_EXIT_CPUID]			= svm_exit_cpuid,
	[SVM_EXIT_RSM]				= svm_exit_ud,
	[SVM_EXIT_INVD]				= svm_exit_invd,
	[SVM_EXIT_HLT]				= svm_exit_hlt,
	[SVM_EXIT_INVLPGA]			= svm_exit_ud,
	[SVM_EXIT_IOIO]				= svm_exit_ioio,
	[SVM_EXIT_MSR]				= svm_exit_msr,
	[SVM_EXIT_TASK_SWITCH]			= svm_exit_task_switch,
	[SVM_EXIT_SHUTDOWN]			= svm_exit_shutdown,
	[SVM_EXIT_VMRUN]			= svm_exit_ud,
	[SVM_EXIT_VMMCALL]			= svm_exit_ud,
	[SVM_EXIT_VMLOAD]			= svm_exit_ud,
	[SVM_EXIT_VMSAVE]			= svm_exit_ud,
	[SVM_EXIT_STGI]				= svm_exit_ud,
	[SVM_EXIT_CLGI]				= svm_exit_ud,
	[SVM_EXIT_SKINIT]			= svm_exit_ud,
	[SVM_EXIT_RDTSCP]			= svm_exit_ud,
	[SVM_EXIT_MONITOR]			= svm_exit_ud,
	[SVM_EXIT_MWAIT]			= svm_exit_ud,
	[SVM_EXIT_MWAIT_COND]			= svm_exit_ud,
	[SVM_EXIT_XSETBV]			= svm_exit_xsetbv,
	[SVM_EXIT_RDPRU]			= svm_exit_ud,
};

static int svm_handle_exit(struct vmm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	u64 code = svm->vmcb->control.exit_code;

	if (svm_vmrun_refused(svm->vmcb))
		return vmm_x86_exit_fail_entry(vcpu, SVM_EXIT_INVALID);
	/* The state is already reset; the exit that was lost cannot be had. */
	if (unlikely(svm->state_lost)) {
		pr_err_ratelimited("vmm: a #VMEXIT stored the host's registers as the guest's (QEMU TCG's race on CPU 0?): the vCPU's state is lost\n");
		return vmm_x86_exit_internal_error(vcpu,
				KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, code,
				svm->vmcb->control.exit_info_1);
	}
	if (code == SVM_EXIT_NPF)
		return svm_exit_npf(svm);
	if (code < ARRAY_SIZE(svm_exit_handlers) && svm_exit_handlers[code])
		return svm_exit_handlers[code](svm);
	/* An intercept we never asked for: the guest must not go on. */
	return vmm_x86_exit_internal_error(vcpu,
			KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, code,
			svm->vmcb->control.exit_info_1);
}

const struct vmm_arch_ops svm_arch_ops = {
	.name		= "svm",
	.probe		= svm_probe,
	.remove		= svm_remove,
	.cpu_enable	= svm_cpu_enable,
	.cpu_disable	= svm_cpu_disable,
	.vm_init	= svm_vm_init,
	.vm_destroy	= svm_vm_destroy,
	.vcpu_alloc	= svm_vcpu_alloc,
	.vcpu_free	= svm_vcpu_free,
	.vcpu_init	= svm_vcpu_init,
	.vcpu_run	= svm_vcpu_run,
	.handle_exit	= svm_handle_exit,
	.get_segment	= svm_get_segment,
	.set_segment	= svm_set_segment,
	.get_dtable	= svm_get_dtable,
	.set_dtable	= svm_set_dtable,
	.get_cr		= svm_get_cr,
	.set_cr		= svm_set_cr,
	.set_efer	= svm_set_efer,
	.get_cpl	= svm_get_cpl,
	.next_rip	= svm_next_rip,
	.inject_event	= svm_inject_event,
	.get_interrupt_shadow = svm_get_interrupt_shadow,
	.set_interrupt_shadow = svm_set_interrupt_shadow,
	.set_irq_window	= svm_set_irq_window,
	.set_nmi_window	= svm_set_nmi_window,
	.get_msr	= svm_get_msr,
	.set_msr	= svm_set_msr,
	.npt_format	= &svm_npt_format,
};
