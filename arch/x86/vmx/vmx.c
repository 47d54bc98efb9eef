// SPDX-License-Identifier: GPL-2.0
/*
 * Intel VT-x backend with EPT and unrestricted guest.  Intel SDM Vol. 3C,
 * chapters 24-31 (chapter numbers of the 2023+ SDM).
 *
 * One VMCS per vCPU.  The guest owns CR3 and its page tables (EPT makes
 * them harmless) and runs real mode directly (unrestricted guest).  Every
 * port, every MSR whose state the VMCS or the MSR areas do not switch, and
 * every instruction that would reach the host (VMX itself, INVD, MONITOR/
 * MWAIT, RDTSCP's TSC_AUX) exits or raises #UD, as on SVM.
 *
 * A VMCS is used through VMREAD/VMWRITE on the CPU where it is current, so
 * every access goes through vmx_get()/vmx_put(): interrupts off, VMCS made
 * current here (cleared on its old CPU by IPI first).  Interrupts off also
 * keeps the reboot/hotplug IPI, which VMCLEARs and leaves VMX operation,
 * from running in the middle of an access.
 */
#include <linux/gfp.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <asm/cpu_entry_area.h>
#include <asm/debugreg.h>
#include <asm/desc.h>
#include <asm/fpu/xcr.h>
#include <asm/io.h>
#include <asm/msr.h>
#include <asm/nospec-branch.h>
#include <asm/pgtable.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#include <asm/traps.h>
#include <asm/tsc.h>

#include "../x86.h"
#include "vmcs.h"

int vmx_vmenter(u64 *gprs, bool launched);
void vmx_vmexit(void);
void vmx_host_nmi(void);

/*
 * MSRs the hardware does not switch but the guest reaches directly (as on
 * SVM, where VMLOAD/VMSAVE switch them): the VM-entry MSR-load area loads
 * the guest's values, the VM-exit MSR-store area (the same array) saves
 * them back, the VM-exit MSR-load area puts the host's back (SDM 25.7.2,
 * 25.8.2, 28.4).  KERNEL_GS_BASE must be saved because SWAPGS changes it.
 */
enum vmx_switched_msr {
	VMX_MSR_STAR, VMX_MSR_LSTAR, VMX_MSR_CSTAR, VMX_MSR_SFMASK,
	VMX_MSR_KERNEL_GS_BASE, VMX_NR_SWITCHED
};

static const u32 vmx_switched_index[VMX_NR_SWITCHED] = {
	[VMX_MSR_STAR]		= MSR_STAR,
	[VMX_MSR_LSTAR]		= MSR_LSTAR,
	[VMX_MSR_CSTAR]		= MSR_CSTAR,
	[VMX_MSR_SFMASK]	= MSR_SYSCALL_MASK,
	[VMX_MSR_KERNEL_GS_BASE] = MSR_KERNEL_GS_BASE,
};

/* Per physical CPU; touched on that CPU with interrupts off. */
struct vmx_cpu {
	void *vmxon_region;
	bool vmxon;			/* in VMX operation (VMXON done) */
	struct list_head loaded;	/* VMCSs active here, for VMCLEAR */
	struct vmx_vcpu *current_vmcs;	/* whose VMCS VMPTRLD made current */
};

struct vmx_vcpu {
	struct vmm_vcpu vcpu;
	void *vmcs;
	u64 vmcs_pa;
	struct vmx_msr_entry *msr_guest;	/* entry load, exit store */
	struct vmx_msr_entry *msr_host;		/* exit load */

	/*
	 * Where the VMCS is active (-1: clear, in memory).  Written on that
	 * CPU with interrupts off (load, VMCLEAR); read anywhere.
	 */
	int cpu;
	bool launched;			/* VMRESUME, not VMLAUNCH */
	struct list_head loaded_link;	/* on vmx_cpus[cpu].loaded */

	u16 vpid;			/* 0: no VPID, entries flush */
	u64 eptp;
	u32 pin_ctls;			/* copy of VMCS_PIN_CTLS */
	u32 proc_ctls;			/* copy of VMCS_PROC_CTLS */
	u32 entry_ctls;			/* copy of VMCS_ENTRY_CTLS */
	bool need_flush;		/* EPT and VPID contexts, next entry */
	bool need_vpid_flush;		/* linear mappings only */
	bool pdptes_dirty;		/* reload PAE PDPTEs from guest memory */

	u64 cr2;			/* not in the VMCS: live in CR2 */
	u8 cr8;				/* CR8 accesses exit: no TPR shadow */

	/* The last exit. */
	bool vmfail;			/* VMLAUNCH/VMRESUME failed */
	bool insn_exit;			/* VMCS_EXIT_INSN_LEN is valid */
	u32 exit_reason;
	u32 exit_intr_info;
	u32 insn_error;
	u64 exit_qual;

	/* Host state last written to the VMCS. */
	u64 host_cr3;
	u64 host_cr4;
	u64 host_fs_base;
};

/* Host segment state a VM exit does not restore (SDM 28.5.2). */
struct vmx_host_segs {
	u16 ds, es, fs, gs, ldt;
	u64 fs_base;
	u64 kernel_gs_base;
};

static struct {
	u32 revision;
	u32 pin, proc, proc2, exit, entry;
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	u64 ept_vpid_cap;
	u32 backstop;			/* VMX-preemption timer value, 0: none */
	bool vpid;
	bool ept_ad;
	u64 host_msr[VMX_NR_SWITCHED];
	u64 host_pat, host_efer;
} vmx_cfg;

static DEFINE_PER_CPU(struct vmx_cpu, vmx_cpus);
static unsigned long *vmx_msr_bitmap;
static DEFINE_SPINLOCK(vmx_vpid_lock);
static unsigned long *vmx_vpids;	/* [vmx_vpid_lock] 1 << 16 bits */

#define VMX_NR_VPIDS		(1 << 16)
#define VMX_PAT_RESET		0x0007040600070406ULL

/* CR0 bits the guest may not change on its own (see vmx_hw_cr0()). */
#define VMX_CR0_HOST_OWNED	(X86_CR0_PG | X86_CR0_NE | X86_CR0_CD | \
				 X86_CR0_NW)
#define VMX_CR0_VALID		(X86_CR0_PE | X86_CR0_MP | X86_CR0_EM | \
				 X86_CR0_TS | X86_CR0_ET | X86_CR0_NE | \
				 X86_CR0_WP | X86_CR0_AM | X86_CR0_NW | \
				 X86_CR0_CD | X86_CR0_PG)

static struct vmm_npt_format vmx_ept_format = {
	.table_bits = EPT_READ | EPT_WRITE | EPT_EXEC,
	.present_mask = EPT_READ | EPT_WRITE | EPT_EXEC,
	/*
	 * Guest memory is ordinary RAM: write-back, whatever the guest's PAT
	 * says (SDM 29.3.7.2: IPAT makes the EPT type the effective one).
	 * Guest MTRRs have no effect under EPT either.
	 */
	.read_bits = EPT_READ | EPT_MEMTYPE_WB | EPT_IGNORE_PAT,
	.write_bit = EPT_WRITE,
	.exec_bits = EPT_EXEC,
	.levels = 4,
};

static inline struct vmx_vcpu *to_vmx(struct vmm_vcpu *vcpu)
{
	return container_of(vcpu, struct vmx_vcpu, vcpu);
}

/* ---- VMX instructions (SDM Vol. 3C ch. 31) ---- */

/* VMfailInvalid sets CF, VMfailValid ZF: "not above" catches both. */
static void vmx_insn_failed(const char *insn, u64 arg)
{
	WARN_ONCE(1, "vmm: %s %#llx failed\n", insn, arg);
}

static __always_inline u64 vmcs_read(u32 field)
{
	u64 val;
	bool fail;

	asm volatile("vmread %[field], %[val]"
		     : [val] "=rm" (val), "=@ccna" (fail)
		     : [field] "r" ((u64)field));
	if (unlikely(fail)) {
		vmx_insn_failed("vmread", field);
		return 0;
	}
	return val;
}

static __always_inline void vmcs_write(u32 field, u64 val)
{
	bool fail;

	asm volatile("vmwrite %[val], %[field]"
		     : "=@ccna" (fail)
		     : [field] "r" ((u64)field), [val] "rm" (val)
		     : "memory");
	if (unlikely(fail))
		vmx_insn_failed("vmwrite", field);
}

static inline void vmcs_set_bits(u32 field, u64 bits)
{
	vmcs_write(field, vmcs_read(field) | bits);
}

static inline void vmcs_clear_bits(u32 field, u64 bits)
{
	vmcs_write(field, vmcs_read(field) & ~bits);
}

static bool vmx_vmclear(u64 pa)
{
	bool fail;

	asm volatile("vmclear %[pa]" : "=@ccna" (fail) : [pa] "m" (pa) : "memory");
	if (unlikely(fail))
		vmx_insn_failed("vmclear", pa);
	return !fail;
}

static bool vmx_vmptrld(u64 pa)
{
	bool fail;

	asm volatile("vmptrld %[pa]" : "=@ccna" (fail) : [pa] "m" (pa) : "memory");
	if (unlikely(fail))
		vmx_insn_failed("vmptrld", pa);
	return !fail;
}

static bool vmx_vmxon(u64 pa)
{
	bool fail;

	asm volatile("vmxon %[pa]" : "=@ccna" (fail) : [pa] "m" (pa) : "memory");
	return !fail;
}

static void vmx_vmxoff(void)
{
	asm volatile("vmxoff" ::: "cc", "memory");
}

static void vmx_invept(unsigned long type, u64 eptp)
{
	struct { u64 eptp, reserved; } desc = { eptp, 0 };
	bool fail;

	asm volatile("invept %[desc], %[type]"
		     : "=@ccna" (fail)
		     : [desc] "m" (desc), [type] "r" (type) : "memory");
	if (unlikely(fail))
		vmx_insn_failed("invept", type);
}

static void vmx_invvpid(unsigned long type, u16 vpid)
{
	struct { u64 vpid, gla; } desc = { vpid, 0 };
	bool fail;

	asm volatile("invvpid %[desc], %[type]"
		     : "=@ccna" (fail)
		     : [desc] "m" (desc), [type] "r" (type) : "memory");
	if (unlikely(fail))
		vmx_insn_failed("invvpid", type);
}

/* ---- module and CPU lifecycle ---- */

/*
 * A control word from its capability MSR: bits 31:0 are the settings that
 * must be 1, bits 63:32 those that may be 1 (SDM Appendix A.3-A.5).
 * Missing a required bit is a refusal; optional ones are dropped.
 */
static int vmx_adjust_ctls(u32 msr, u32 required, u32 optional, u32 *ctls)
{
	u32 must, may, c;

	rdmsr(msr, must, may);
	c = ((required | optional) & may) | must;
	if ((c & required) != required)
		return -EOPNOTSUPP;
	*ctls = c;
	return 0;
}

static bool vmx_may_set(u32 msr, u32 bits)
{
	u64 cap;

	rdmsrl(msr, cap);
	return ((cap >> 32) & bits) == bits;
}

/*
 * IA32_FEATURE_CONTROL must be locked with VMXON allowed outside SMX (SDM
 * 24.7).  Firmware that left it unlocked lets us lock it ourselves, as the
 * kernel does at boot; locked without VMX means the firmware disabled it.
 */
static int vmx_check_feature_control(void)
{
	u64 fc;

	rdmsrl(MSR_IA32_FEAT_CTL, fc);
	if (!(fc & FEAT_CTL_LOCKED)) {
		fc |= FEAT_CTL_LOCKED | FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX;
		wrmsrl(MSR_IA32_FEAT_CTL, fc);
	}
	if (!(fc & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX))
		return -EOPNOTSUPP;
	return 0;
}

static void vmx_msr_bitmap_allow(u32 msr)
{
	unsigned long bit;

	/* Read-low, read-high, write-low, write-high: 1 KiB each (SDM 25.6.9). */
	if (msr <= 0x1fff)
		bit = msr;
	else if (msr >= 0xc0000000 && msr <= 0xc0001fff)
		bit = 1024 * 8 + (msr - 0xc0000000);
	else
		return;
	__clear_bit(bit, vmx_msr_bitmap);
	__clear_bit(bit + 2048 * 8, vmx_msr_bitmap);
}

static void vmx_free_cpu_pages(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct vmx_cpu *vc = per_cpu_ptr(&vmx_cpus, cpu);

		free_page((unsigned long)vc->vmxon_region);
		vc->vmxon_region = NULL;
	}
}

static void vmx_remove(void)
{
	vmx_free_cpu_pages();
	free_page((unsigned long)vmx_msr_bitmap);
	bitmap_free(vmx_vpids);
	vmx_msr_bitmap = NULL;
	vmx_vpids = NULL;
}

/*
 * The VMX-preemption timer as a backstop for external-interrupt exiting,
 * armed only while the guest runs with RFLAGS.IF clear (see
 * vmx_arm_backstop()).  It counts down at the TSC rate divided by
 * 2^IA32_VMX_MISC[4:0] (SDM 26.5.1); one host tick's worth.  The "save
 * VMX-preemption timer value" exit control stays clear, so every VM entry
 * starts it again from the full value in the VMCS (SDM 27.7.4).
 */
static void vmx_probe_backstop(bool have_timer)
{
	u64 misc, ticks;

	vmx_cfg.backstop = 0;
	if (!have_timer || !tsc_khz)
		return;
	rdmsrl(MSR_IA32_VMX_MISC, misc);
	ticks = div_u64((u64)tsc_khz * (TICK_NSEC / NSEC_PER_USEC),
			USEC_PER_MSEC) >> VMX_MISC_TIMER_RATE(misc);
	vmx_cfg.backstop = clamp_t(u64, ticks, 1, U32_MAX);
}

static int vmx_probe_ctls(u64 basic)
{
	bool true_ctls = basic & VMX_BASIC_TRUE;
	u32 pin_msr = true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS :
				  MSR_IA32_VMX_PINBASED_CTLS;
	u32 proc_msr = true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS :
				   MSR_IA32_VMX_PROCBASED_CTLS;
	u32 exit_msr = true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS :
				   MSR_IA32_VMX_EXIT_CTLS;
	u32 entry_msr = true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS :
				    MSR_IA32_VMX_ENTRY_CTLS;

	if (vmx_adjust_ctls(pin_msr, PIN_EXTINT_EXITING | PIN_NMI_EXITING |
			    PIN_VIRTUAL_NMIS, 0, &vmx_cfg.pin) ||
	    vmx_adjust_ctls(proc_msr, PROC_TSC_OFFSETTING | PROC_HLT_EXITING |
			    PROC_MWAIT_EXITING | PROC_CR8_LOAD_EXITING |
			    PROC_CR8_STORE_EXITING | PROC_MOV_DR_EXITING |
			    PROC_UNCOND_IO_EXITING | PROC_MSR_BITMAPS |
			    PROC_MONITOR_EXITING | PROC_SECONDARY, 0,
			    &vmx_cfg.proc) ||
	    !vmx_may_set(proc_msr, PROC_INTR_WINDOW | PROC_NMI_WINDOW)) {
		vmm_err("VT-x lacks a required execution control (virtual NMIs, windows, MSR bitmaps...)\n");
		return -EOPNOTSUPP;
	}
	if (!vmx_may_set(MSR_IA32_VMX_PROCBASED_CTLS2, PROC2_EPT)) {
		vmm_err("the CPU has VT-x but no EPT\n");
		return -EOPNOTSUPP;
	}
	if (!vmx_may_set(MSR_IA32_VMX_PROCBASED_CTLS2, PROC2_UNRESTRICTED_GUEST)) {
		vmm_err("the CPU has VT-x but no unrestricted guest support, which vmm requires\n");
		return -EOPNOTSUPP;
	}
	if (vmx_adjust_ctls(MSR_IA32_VMX_PROCBASED_CTLS2, PROC2_EPT |
			    PROC2_UNRESTRICTED_GUEST, PROC2_VPID, &vmx_cfg.proc2) ||
	    vmx_adjust_ctls(exit_msr, EXIT_HOST_64BIT | EXIT_SAVE_PAT |
			    EXIT_LOAD_PAT | EXIT_SAVE_EFER | EXIT_LOAD_EFER,
			    EXIT_SAVE_DEBUG, &vmx_cfg.exit) ||
	    vmx_adjust_ctls(entry_msr, ENTRY_LOAD_DEBUG | ENTRY_LOAD_PAT |
			    ENTRY_LOAD_EFER, 0, &vmx_cfg.entry) ||
	    !vmx_may_set(entry_msr, ENTRY_IA32E_GUEST)) {
		vmm_err("VT-x lacks a required control (PAT/EFER switching, 64-bit host)\n");
		return -EOPNOTSUPP;
	}
	/* Not wanted, but "acknowledge interrupt on exit" must stay off. */
	vmx_cfg.entry &= ~ENTRY_IA32E_GUEST;
	if (WARN_ON(vmx_cfg.exit & EXIT_ACK_INTR))
		return -EOPNOTSUPP;
	vmx_probe_backstop(vmx_may_set(pin_msr, PIN_PREEMPTION_TIMER));
	return 0;
}

static int vmx_probe_ept(void)
{
	u64 cap;

	rdmsrl(MSR_IA32_VMX_EPT_VPID_CAP, cap);
	vmx_cfg.ept_vpid_cap = cap;
	/* As many levels as the host's paging, so every GPA fits. */
	vmx_ept_format.levels = 4;
	if (pgtable_l5_enabled() && (cap & EPT_CAP_WALK5))
		vmx_ept_format.levels = 5;
	if (!(cap & (vmx_ept_format.levels == 5 ? EPT_CAP_WALK5 : EPT_CAP_WALK4)) ||
	    !(cap & EPT_CAP_WB) || !(cap & EPT_CAP_INVEPT) ||
	    !(cap & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL))) {
		vmm_err("EPT lacks 4-level walks, write-back tables or INVEPT\n");
		return -EOPNOTSUPP;
	}
	/* PS in a PDE is a misconfiguration without it (SDM 29.3.2, A.10). */
	vmx_ept_format.huge_leaves = cap & EPT_CAP_2MB;
	vmx_cfg.ept_ad = cap & EPT_CAP_AD;
	if (vmx_cfg.ept_ad)
		vmx_ept_format.accessed_bit = EPT_ACCESSED;
	vmx_cfg.vpid = (vmx_cfg.proc2 & PROC2_VPID) &&
		(cap & VPID_CAP_INVVPID) &&
		(cap & (VPID_CAP_INVVPID_SINGLE | VPID_CAP_INVVPID_ALL));
	if (!vmx_cfg.vpid)
		vmx_cfg.proc2 &= ~PROC2_VPID;
	return 0;
}

static int vmx_probe(void)
{
	u64 basic;
	int cpu, i, r;

	if (vmx_check_feature_control()) {
		vmm_err("VT-x is disabled by the firmware (IA32_FEATURE_CONTROL locked without VMXON outside SMX)\n");
		return -EOPNOTSUPP;
	}
	if (__read_cr4() & X86_CR4_VMXE) {
		vmm_err("VT-x is in use by another hypervisor (kvm_intel?)\n");
		return -EBUSY;
	}
	rdmsrl(MSR_IA32_VMX_BASIC, basic);
	if (VMX_BASIC_SIZE(basic) > PAGE_SIZE || (basic & VMX_BASIC_32BIT_PA) ||
	    VMX_BASIC_MEMTYPE(basic) != VMX_MEMTYPE_WB) {
		vmm_err("unsupported VMCS format (IA32_VMX_BASIC %#llx)\n", basic);
		return -EOPNOTSUPP;
	}
	vmx_cfg.revision = VMX_BASIC_REVISION(basic);
	r = vmx_probe_ctls(basic);
	if (!r)
		r = vmx_probe_ept();
	if (r)
		return r;
	rdmsrl(MSR_IA32_VMX_CR0_FIXED0, vmx_cfg.cr0_fixed0);
	rdmsrl(MSR_IA32_VMX_CR0_FIXED1, vmx_cfg.cr0_fixed1);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED0, vmx_cfg.cr4_fixed0);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED1, vmx_cfg.cr4_fixed1);
	/* The same on every CPU (set up once by the kernel at boot). */
	for (i = 0; i < VMX_NR_SWITCHED; i++)
		rdmsrl(vmx_switched_index[i], vmx_cfg.host_msr[i]);
	rdmsrl(MSR_IA32_CR_PAT, vmx_cfg.host_pat);
	rdmsrl(MSR_EFER, vmx_cfg.host_efer);

	vmx_msr_bitmap = (void *)__get_free_page(GFP_KERNEL);
	vmx_vpids = bitmap_zalloc(VMX_NR_VPIDS, GFP_KERNEL);
	if (!vmx_msr_bitmap || !vmx_vpids)
		goto err;
	__set_bit(0, vmx_vpids);	/* VPID 0 is the host's */
	memset(vmx_msr_bitmap, 0xff, PAGE_SIZE);
	/* What the VMCS or the MSR areas switch; the rest exits. */
	for (i = 0; i < VMX_NR_SWITCHED; i++)
		vmx_msr_bitmap_allow(vmx_switched_index[i]);
	vmx_msr_bitmap_allow(MSR_FS_BASE);
	vmx_msr_bitmap_allow(MSR_GS_BASE);
	vmx_msr_bitmap_allow(MSR_IA32_SYSENTER_CS);
	vmx_msr_bitmap_allow(MSR_IA32_SYSENTER_ESP);
	vmx_msr_bitmap_allow(MSR_IA32_SYSENTER_EIP);

	for_each_possible_cpu(cpu) {
		struct vmx_cpu *vc = per_cpu_ptr(&vmx_cpus, cpu);
		struct page *page = alloc_pages_node(cpu_to_node(cpu),
						     GFP_KERNEL | __GFP_ZERO, 0);

		if (!page)
			goto err;
		vc->vmxon_region = page_address(page);
		*(u32 *)vc->vmxon_region = vmx_cfg.revision;
		INIT_LIST_HEAD(&vc->loaded);
	}
	return 0;
err:
	vmx_remove();
	return -ENOMEM;
}

static bool vmx_cr_fixed_ok(u64 val, u64 fixed0, u64 fixed1)
{
	return (val & fixed0) == fixed0 && !(val & ~fixed1);
}

static int vmx_cpu_enable(void)
{
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);

	if (__read_cr4() & X86_CR4_VMXE)
		return -EBUSY;	/* someone else's guests run here */
	if (vmx_check_feature_control())
		return -EOPNOTSUPP;
	cr4_set_bits(X86_CR4_VMXE);
	/* VMXON requires CR0 and CR4 within the fixed bits (SDM 24.8). */
	if (!vmx_cr_fixed_ok(read_cr0(), vmx_cfg.cr0_fixed0, vmx_cfg.cr0_fixed1) ||
	    !vmx_cr_fixed_ok(__read_cr4(), vmx_cfg.cr4_fixed0, vmx_cfg.cr4_fixed1) ||
	    !vmx_vmxon(virt_to_phys(vc->vmxon_region))) {
		cr4_clear_bits(X86_CR4_VMXE);
		return -EBUSY;
	}
	vc->vmxon = true;
	vc->current_vmcs = NULL;
	/* Drop what an earlier user of VMX left cached (SDM 29.4.3.1). */
	if (vmx_cfg.ept_vpid_cap & EPT_CAP_INVEPT_ALL)
		vmx_invept(INVEPT_ALL, 0);
	if (vmx_cfg.vpid && (vmx_cfg.ept_vpid_cap & VPID_CAP_INVVPID_ALL))
		vmx_invvpid(INVVPID_ALL, 0);
	return 0;
}

/*
 * VMCLEAR a VMCS active on this CPU: its cached state goes to memory and
 * it may be made current elsewhere (SDM 25.11.1, 25.11.3).
 */
static void vmx_vmcs_clear_local(struct vmx_vcpu *vmx)
{
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);

	vmx_vmclear(vmx->vmcs_pa);
	if (vc->current_vmcs == vmx)
		vc->current_vmcs = NULL;
	list_del_rcu(&vmx->loaded_link);
	vmx->launched = false;
	smp_store_release(&vmx->cpu, -1);
}

/*
 * Also the emergency (crash, NMI) path: no locks, no allocation.  Every
 * VMCS active here is cleared first, so that a kdump kernel finds the
 * guests' state in memory and no CPU keeps stale VMCS data (SDM 25.11.1),
 * then VMXOFF lets INIT through again for kexec and reboot.  The list is
 * only ever changed with interrupts off on this CPU, with the RCU list
 * primitives, so an NMI that interrupts a change still walks it safely.
 */
static void vmx_cpu_disable(void)
{
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);
	struct vmx_vcpu *vmx, *tmp;

	if (!vc->vmxon)
		return;
	list_for_each_entry_safe(vmx, tmp, &vc->loaded, loaded_link)
		vmx_vmcs_clear_local(vmx);
	vc->current_vmcs = NULL;
	vmx_vmxoff();
	cr4_clear_bits(X86_CR4_VMXE);
	vc->vmxon = false;
}

static int vmx_vm_init(struct vmm_vm *vm)
{
	return 0;
}

static void vmx_vm_destroy(struct vmm_vm *vm)
{
}

/* ---- making a VMCS current ---- */

/* Host state that depends on the CPU (SDM 26.2.3, 28.5). */
static void vmx_set_host_cpu_state(int cpu)
{
	struct desc_ptr idt;
	u64 val;

	vmcs_write(VMCS_HOST_TR_BASE,
		   (unsigned long)&get_cpu_entry_area(cpu)->tss.x86_tss);
	vmcs_write(VMCS_HOST_GDTR_BASE, (unsigned long)get_current_gdt_ro());
	store_idt(&idt);
	vmcs_write(VMCS_HOST_IDTR_BASE, idt.address);
	rdmsrl(MSR_GS_BASE, val);
	vmcs_write(VMCS_HOST_GS_BASE, val);
	rdmsrl(MSR_IA32_SYSENTER_CS, val);
	vmcs_write(VMCS_HOST_SYSENTER_CS, (u32)val);
	rdmsrl(MSR_IA32_SYSENTER_ESP, val);
	vmcs_write(VMCS_HOST_SYSENTER_ESP, val);
	rdmsrl(MSR_IA32_SYSENTER_EIP, val);
	vmcs_write(VMCS_HOST_SYSENTER_EIP, val);
}

/* Activate a clear VMCS on this CPU (interrupts off). */
static bool vmx_vmcs_load(struct vmx_vcpu *vmx, struct vmx_cpu *vc, int cpu)
{
	if (!vmx_vmclear(vmx->vmcs_pa) || !vmx_vmptrld(vmx->vmcs_pa))
		return false;
	vc->current_vmcs = vmx;
	vmx->launched = false;
	list_add_rcu(&vmx->loaded_link, &vc->loaded);
	WRITE_ONCE(vmx->cpu, cpu);
	vmx_set_host_cpu_state(cpu);
	/*
	 * This CPU may still cache translations from an earlier stay of this
	 * vCPU, made stale since by a flush done elsewhere: drop them.
	 */
	vmx->need_flush = true;
	return true;
}

static void vmx_vmcs_clear_ipi(void *arg)
{
	struct vmx_vcpu *vmx = arg;

	if (READ_ONCE(vmx->cpu) == smp_processor_id())
		vmx_vmcs_clear_local(vmx);
}

/*
 * Make the VMCS current on this CPU and return with interrupts off, or
 * return false (interrupts as they were) if VMX is off here.  A VMCS may be
 * active on one CPU only, so it is first cleared where it was (SDM
 * 25.11.1), which takes an IPI with interrupts on.
 */
static bool vmx_get(struct vmx_vcpu *vmx, unsigned long *flags)
{
	for (;;) {
		struct vmx_cpu *vc;
		int cpu, old;

		local_irq_save(*flags);
		cpu = smp_processor_id();
		vc = per_cpu_ptr(&vmx_cpus, cpu);
		if (!vc->vmxon)
			break;
		old = READ_ONCE(vmx->cpu);
		if (old == cpu) {
			if (vc->current_vmcs == vmx)
				return true;
			if (!vmx_vmptrld(vmx->vmcs_pa))
				break;
			vc->current_vmcs = vmx;
			return true;
		}
		if (old < 0) {
			if (vmx_vmcs_load(vmx, vc, cpu))
				return true;
			break;
		}
		local_irq_restore(*flags);
		if (WARN_ON_ONCE(irqs_disabled()))
			return false;
		/* An offline CPU cleared its VMCSs when it went down. */
		smp_call_function_single(old, vmx_vmcs_clear_ipi, vmx, 1);
		if (WARN_ON_ONCE(smp_load_acquire(&vmx->cpu) == old))
			return false;
	}
	local_irq_restore(*flags);
	return false;
}

static void vmx_put(unsigned long flags)
{
	local_irq_restore(flags);
}

/* ---- register state ---- */

static bool vmx_long64(struct vmx_vcpu *vmx)
{
	return (vmx->vcpu.arch.efer & EFER_LMA) &&
	       (vmcs_read(VMCS_GUEST_AR(VMM_SEG_CS)) & BIT(13));
}

static void vmx_get_segment(struct vmm_vcpu *vcpu, struct kvm_segment *var,
			    int nr)
{
	unsigned long flags;
	u32 ar;

	memset(var, 0, sizeof(*var));
	if (!vmx_get(to_vmx(vcpu), &flags))
		return;
	var->base = vmcs_read(VMCS_GUEST_BASE(nr));
	var->limit = vmcs_read(VMCS_GUEST_LIMIT(nr));
	var->selector = vmcs_read(VMCS_GUEST_SEL(nr));
	ar = vmcs_read(VMCS_GUEST_AR(nr));
	vmx_put(flags);

	/*
	 * Access rights, SDM Table 25-2.  An unusable segment reads as all
	 * attributes clear, as on SVM; "present" is its inverse (a usable
	 * segment is always present, SDM 27.3.1.2).
	 */
	var->unusable = !!(ar & VMX_AR_UNUSABLE);
	var->present = !var->unusable;
	if (var->unusable)
		return;
	var->type = ar & 0xf;
	var->s = (ar >> 4) & 1;
	var->dpl = (ar >> 5) & 3;
	var->avl = (ar >> 12) & 1;
	var->l = (ar >> 13) & 1;
	var->db = (ar >> 14) & 1;
	var->g = (ar >> 15) & 1;
}

static void vmx_set_segment(struct vmm_vcpu *vcpu,
			    const struct kvm_segment *var, int nr)
{
	unsigned long flags;
	u32 ar, type = var->type & 0xf;

	if (var->unusable || !var->present) {
		/* SS.DPL is the CPL even when SS is unusable (SDM 25.4.1). */
		ar = VMX_AR_UNUSABLE | (nr == VMM_SEG_SS ? (var->dpl & 3) << 5 : 0);
	} else {
		/*
		 * Code and data segments are always "accessed" once loaded,
		 * and VM entry insists (SDM 27.3.1.2); userspace often
		 * leaves the bit clear (the reset state has it set).
		 */
		if (var->s)
			type |= 1;
		ar = type | (var->s & 1) << 4 | (var->dpl & 3) << 5 | BIT(7) |
		     (var->avl & 1) << 12 | (var->l & 1) << 13 |
		     (var->db & 1) << 14 | (var->g & 1) << 15;
	}
	if (!vmx_get(to_vmx(vcpu), &flags))
		return;
	vmcs_write(VMCS_GUEST_SEL(nr), var->selector);
	vmcs_write(VMCS_GUEST_BASE(nr), var->base);
	vmcs_write(VMCS_GUEST_LIMIT(nr), var->limit);
	vmcs_write(VMCS_GUEST_AR(nr), ar);
	vmx_put(flags);
}

static void vmx_get_dtable(struct vmm_vcpu *vcpu, struct kvm_dtable *dt,
			   bool idt)
{
	unsigned long flags;

	memset(dt, 0, sizeof(*dt));
	if (!vmx_get(to_vmx(vcpu), &flags))
		return;
	dt->base = vmcs_read(idt ? VMCS_GUEST_IDTR_BASE : VMCS_GUEST_GDTR_BASE);
	dt->limit = vmcs_read(idt ? VMCS_GUEST_IDTR_LIMIT : VMCS_GUEST_GDTR_LIMIT);
	vmx_put(flags);
}

static void vmx_set_dtable(struct vmm_vcpu *vcpu, const struct kvm_dtable *dt,
			   bool idt)
{
	unsigned long flags;

	if (!vmx_get(to_vmx(vcpu), &flags))
		return;
	vmcs_write(idt ? VMCS_GUEST_IDTR_BASE : VMCS_GUEST_GDTR_BASE, dt->base);
	vmcs_write(idt ? VMCS_GUEST_IDTR_LIMIT : VMCS_GUEST_GDTR_LIMIT, dt->limit);
	vmx_put(flags);
}

/*
 * The CR0 the processor runs with: NE and whatever else VMX fixes to 1
 * (SDM 24.8, Appendix A.7; unrestricted guest exempts PE and PG), and CD/NW
 * clear so that the guest runs cached (its EPT memory type rules anyway).
 * The guest reads its own value from the read shadow (SDM 26.3).
 */
static u64 vmx_hw_cr0(u64 cr0)
{
	u64 fixed0 = vmx_cfg.cr0_fixed0 & ~(X86_CR0_PE | X86_CR0_PG);

	return ((cr0 | fixed0 | X86_CR0_NE) & ~(X86_CR0_CD | X86_CR0_NW)) &
	       (vmx_cfg.cr0_fixed1 | X86_CR0_PE | X86_CR0_PG);
}

static u64 vmx_cr0_host_owned(void)
{
	return VMX_CR0_HOST_OWNED | (vmx_cfg.cr0_fixed0 & ~(X86_CR0_PE | X86_CR0_PG));
}

static u64 vmx_get_cr(struct vmm_vcpu *vcpu, int cr)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	unsigned long flags;
	u64 val = 0, mask;

	if (cr == 2)
		return vmx->cr2;
	if (cr == 8)
		return vmx->cr8;
	if (!vmx_get(vmx, &flags))
		return 0;
	switch (cr) {
	case 0:
		mask = vmx_cr0_host_owned();
		val = (vmcs_read(VMCS_GUEST_CR0) & ~mask) |
		      (vmcs_read(VMCS_CR0_SHADOW) & mask);
		break;
	case 3:
		val = vmcs_read(VMCS_GUEST_CR3);
		break;
	case 4:
		/* CR4 is host-owned in full: the shadow is the guest's value. */
		val = vmcs_read(VMCS_CR4_SHADOW);
		break;
	}
	vmx_put(flags);
	return val;
}

static bool vmx_pae_paging(struct vmm_vcpu *vcpu)
{
	return (vmx_get_cr(vcpu, 0) & X86_CR0_PG) &&
	       (vmx_get_cr(vcpu, 4) & X86_CR4_PAE) &&
	       !(vcpu->arch.efer & EFER_LMA);
}

/*
 * A CR write made by vmm (emulation, or userspace) rather than by the
 * guest's own MOV: the processor did not flush the guest's linear
 * translations as MOV to CR would have (SDM 4.10.4.1), nor load the PAE
 * PDPTEs that VM entry takes from the VMCS under EPT (SDM 27.3.2.4).
 */
static void vmx_cr_changed(struct vmx_vcpu *vmx)
{
	vmx->need_vpid_flush = true;
	vmx->pdptes_dirty = vmx_pae_paging(&vmx->vcpu);
}

static void vmx_set_cr(struct vmm_vcpu *vcpu, int cr, u64 val)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	unsigned long flags;

	if (cr == 2) {
		vmx->cr2 = val;
		return;
	}
	if (cr == 8) {
		vmx->cr8 = val & 0xf;
		return;
	}
	if (!vmx_get(vmx, &flags))
		return;
	switch (cr) {
	case 0:
		vmcs_write(VMCS_CR0_SHADOW, val);
		vmcs_write(VMCS_GUEST_CR0, vmx_hw_cr0(val));
		break;
	case 3:
		vmcs_write(VMCS_GUEST_CR3, val);
		break;
	case 4:
		vmcs_write(VMCS_CR4_SHADOW, val);
		vmcs_write(VMCS_GUEST_CR4, (val | vmx_cfg.cr4_fixed0) &
					   (vmx_cfg.cr4_fixed1 | vmx_cfg.cr4_fixed0));
		break;
	}
	vmx_put(flags);
	vmx_cr_changed(vmx);
}

/*
 * VM entry checks EFER.LMA against the "IA-32e mode guest" entry control
 * (SDM 27.3.1.1), and loads the guest's EFER from the VMCS ("load
 * IA32_EFER", SDM 27.3.2.1): keep both in step with the guest's view.
 */
static void vmx_set_efer(struct vmm_vcpu *vcpu, u64 efer)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	unsigned long flags;

	vcpu->arch.efer = efer;
	if (efer & EFER_LMA)
		vmx->entry_ctls |= ENTRY_IA32E_GUEST;
	else
		vmx->entry_ctls &= ~ENTRY_IA32E_GUEST;
	if (!vmx_get(vmx, &flags))
		return;
	vmcs_write(VMCS_GUEST_EFER, efer);
	vmcs_write(VMCS_ENTRY_CTLS, vmx->entry_ctls);
	vmx_put(flags);
	vmx->pdptes_dirty = vmx_pae_paging(vcpu);
}

/* The CPL is SS.DPL (SDM 25.4.1). */
static int vmx_get_cpl(struct vmm_vcpu *vcpu)
{
	unsigned long flags;
	u32 ar;

	if (!vmx_get(to_vmx(vcpu), &flags))
		return 0;
	ar = vmcs_read(VMCS_GUEST_AR(VMM_SEG_SS));
	vmx_put(flags);
	return (ar >> 5) & 3;
}

/* Exits caused by an instruction report its length (SDM 28.2.5). */
static u64 vmx_next_rip(struct vmm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	unsigned long flags;
	u64 next;
	u32 cs_ar;
	bool l64;

	if (!vmx->insn_exit || !vmx_get(vmx, &flags))
		return 0;
	next = vcpu->arch.rip + vmcs_read(VMCS_EXIT_INSN_LEN);
	l64 = vmx_long64(vmx);
	cs_ar = vmcs_read(VMCS_GUEST_AR(VMM_SEG_CS));
	vmx_put(flags);
	if (l64)
		return next;
	return cs_ar & BIT(14) ? (u32)next : next & 0xffff;
}

/*
 * MSRs whose guest values live in the VMCS (SYSENTER, FS/GS base, PAT) or
 * in the MSR-switching area (SYSCALL MSRs, KERNEL_GS_BASE).
 */
static u32 vmx_msr_field(u32 index)
{
	switch (index) {
	case MSR_IA32_SYSENTER_CS:	return VMCS_GUEST_SYSENTER_CS;
	case MSR_IA32_SYSENTER_ESP:	return VMCS_GUEST_SYSENTER_ESP;
	case MSR_IA32_SYSENTER_EIP:	return VMCS_GUEST_SYSENTER_EIP;
	case MSR_FS_BASE:		return VMCS_GUEST_BASE(VMM_SEG_FS);
	case MSR_GS_BASE:		return VMCS_GUEST_BASE(VMM_SEG_GS);
	case MSR_IA32_CR_PAT:		return VMCS_GUEST_PAT;
	default:			return 0;
	}
}

static int vmx_switched_slot(u32 index)
{
	int i;

	for (i = 0; i < VMX_NR_SWITCHED; i++)
		if (vmx_switched_index[i] == index)
			return i;
	return -1;
}

static int vmx_get_msr(struct vmm_vcpu *vcpu, u32 index, u64 *data)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	int slot = vmx_switched_slot(index);
	u32 field = vmx_msr_field(index);
	unsigned long flags;

	if (slot >= 0) {
		*data = vmx->msr_guest[slot].value;
		return 0;
	}
	if (!field)
		return -ENOENT;
	*data = 0;
	if (vmx_get(vmx, &flags)) {
		*data = vmcs_read(field);
		vmx_put(flags);
	}
	return 0;
}

static int vmx_set_msr(struct vmm_vcpu *vcpu, u32 index, u64 data)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	int slot = vmx_switched_slot(index);
	u32 field = vmx_msr_field(index);
	unsigned long flags;

	if (slot < 0 && !field)
		return -ENOENT;
	if (index == MSR_IA32_CR_PAT && !vmm_x86_pat_valid(data))
		return -EINVAL;
	/* Non-canonical bases or targets would fail VM entry (SDM 27.3.1). */
	if ((index == MSR_LSTAR || index == MSR_CSTAR || index == MSR_FS_BASE ||
	     index == MSR_GS_BASE || index == MSR_KERNEL_GS_BASE ||
	     index == MSR_IA32_SYSENTER_ESP || index == MSR_IA32_SYSENTER_EIP) &&
	    !vmm_x86_canonical(data))
		return -EINVAL;
	if (slot >= 0) {
		vmx->msr_guest[slot].value = data;
		return 0;
	}
	if (index == MSR_IA32_SYSENTER_CS)
		data = (u32)data;
	if (vmx_get(vmx, &flags)) {
		vmcs_write(field, data);
		vmx_put(flags);
	}
	return 0;
}

/* ---- vCPU lifecycle ---- */

/* Host state that is the same on every CPU and for every entry. */
static void vmx_init_host_state(struct vmx_vcpu *vmx)
{
	vmcs_write(VMCS_HOST_CR0, read_cr0());
	vmcs_write(VMCS_HOST_CS_SEL, __KERNEL_CS);
	vmcs_write(VMCS_HOST_SS_SEL, __KERNEL_DS);
	/* RPL and TI must be 0 (SDM 27.2.3): null, restored after exit. */
	vmcs_write(VMCS_HOST_DS_SEL, 0);
	vmcs_write(VMCS_HOST_ES_SEL, 0);
	vmcs_write(VMCS_HOST_FS_SEL, 0);
	vmcs_write(VMCS_HOST_GS_SEL, 0);
	vmcs_write(VMCS_HOST_TR_SEL, GDT_ENTRY_TSS * 8);
	vmcs_write(VMCS_HOST_RIP, (unsigned long)vmx_vmexit);
	vmcs_write(VMCS_HOST_PAT, vmx_cfg.host_pat);
	vmcs_write(VMCS_HOST_EFER, vmx_cfg.host_efer);
	vmx->host_cr3 = __read_cr3();
	vmx->host_cr4 = __read_cr4();
	vmcs_write(VMCS_HOST_CR3, vmx->host_cr3);
	vmcs_write(VMCS_HOST_CR4, vmx->host_cr4);
	vmcs_write(VMCS_HOST_FS_BASE, 0);
}

static void vmx_init_controls(struct vmx_vcpu *vmx)
{
	vmx->pin_ctls = vmx_cfg.pin;
	vmx->proc_ctls = vmx_cfg.proc;
	vmx->entry_ctls = vmx_cfg.entry;
	vmcs_write(VMCS_LINK_POINTER, ~0ULL);
	vmcs_write(VMCS_PIN_CTLS, vmx->pin_ctls);
	/* The field exists only with the timer (SDM Appendix B.3.3). */
	if (vmx_cfg.backstop)
		vmcs_write(VMCS_PREEMPTION_TIMER, vmx_cfg.backstop);
	vmcs_write(VMCS_PROC_CTLS, vmx->proc_ctls);
	/* VPID 0 would fail VM entry with "enable VPID" set (SDM 27.2.1.1). */
	vmcs_write(VMCS_PROC_CTLS2, vmx->vpid ? vmx_cfg.proc2 :
					       vmx_cfg.proc2 & ~PROC2_VPID);
	vmcs_write(VMCS_EXIT_CTLS, vmx_cfg.exit);
	vmcs_write(VMCS_ENTRY_CTLS, vmx->entry_ctls);
	/*
	 * #DB and #AC exit only so that a guest cannot wedge the CPU in an
	 * endless chain of them, during which no host interrupt would be
	 * taken (CVE-2015-5307, CVE-2015-8104).
	 */
	vmcs_write(VMCS_EXCEPTION_BITMAP, BIT(DB_VECTOR) | BIT(AC_VECTOR));
	vmcs_write(VMCS_PF_ERROR_MASK, 0);
	vmcs_write(VMCS_PF_ERROR_MATCH, 0);
	vmcs_write(VMCS_CR3_TARGET_COUNT, 0);
	vmcs_write(VMCS_MSR_BITMAP, __pa(vmx_msr_bitmap));
	vmcs_write(VMCS_ENTRY_MSR_LOAD_ADDR, __pa(vmx->msr_guest));
	vmcs_write(VMCS_ENTRY_MSR_LOAD_COUNT, VMX_NR_SWITCHED);
	vmcs_write(VMCS_EXIT_MSR_STORE_ADDR, __pa(vmx->msr_guest));
	vmcs_write(VMCS_EXIT_MSR_STORE_COUNT, VMX_NR_SWITCHED);
	vmcs_write(VMCS_EXIT_MSR_LOAD_ADDR, __pa(vmx->msr_host));
	vmcs_write(VMCS_EXIT_MSR_LOAD_COUNT, VMX_NR_SWITCHED);
	vmcs_write(VMCS_CR0_MASK, vmx_cr0_host_owned());
	vmcs_write(VMCS_CR4_MASK, ~0UL);
	vmcs_write(VMCS_EPT_POINTER, vmx->eptp);
	if (vmx->vpid)
		vmcs_write(VMCS_VPID, vmx->vpid);
	vmcs_write(VMCS_ENTRY_INTR_INFO, 0);
	vmcs_write(VMCS_GUEST_ACTIVITY, 0);
	vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, 0);
	vmcs_write(VMCS_GUEST_PENDING_DBG, 0);
	vmcs_write(VMCS_GUEST_DEBUGCTL, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_CS, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_ESP, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_EIP, 0);
	vmx_init_host_state(vmx);
}

/*
 * The architectural power-on state (SDM 11.1.1): what INIT also sets, plus
 * what the VMCS holds besides the registers the ops reach (DR7, PAT,
 * pending debug exceptions and events, PDPTEs).
 */
static void vmx_reset_state(struct vmx_vcpu *vmx)
{
	unsigned long flags;
	int i;

	vmm_x86_init_vcpu(&vmx->vcpu);
	if (vmx_get(vmx, &flags)) {
		vmcs_write(VMCS_GUEST_DR7, VMM_DR7_RESET);
		vmcs_write(VMCS_GUEST_PAT, VMX_PAT_RESET);
		vmcs_write(VMCS_GUEST_PENDING_DBG, 0);
		vmcs_write(VMCS_ENTRY_INTR_INFO, 0);
		for (i = 0; i < 4; i++)
			vmcs_write(VMCS_GUEST_PDPTE(i), 0);
		vmx_put(flags);
	}
	vmx->pdptes_dirty = false;
}

static struct vmm_vcpu *vmx_vcpu_alloc(void)
{
	struct vmx_vcpu *vmx = kzalloc(sizeof(*vmx), GFP_KERNEL_ACCOUNT);

	if (!vmx)
		return NULL;
	vmx->cpu = -1;
	INIT_LIST_HEAD(&vmx->loaded_link);
	return &vmx->vcpu;
}

static u16 vmx_alloc_vpid(void)
{
	unsigned long vpid;

	if (!vmx_cfg.vpid)
		return 0;
	spin_lock(&vmx_vpid_lock);
	vpid = find_first_zero_bit(vmx_vpids, VMX_NR_VPIDS);
	if (vpid < VMX_NR_VPIDS)
		__set_bit(vpid, vmx_vpids);
	else
		vpid = 0;	/* none left: flush at every entry and exit */
	spin_unlock(&vmx_vpid_lock);
	return vpid;
}

static void vmx_free_vpid(u16 vpid)
{
	if (!vpid)
		return;
	spin_lock(&vmx_vpid_lock);
	__clear_bit(vpid, vmx_vpids);
	spin_unlock(&vmx_vpid_lock);
}

static int vmx_vcpu_init(struct vmm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	unsigned long flags;
	int i;

	vmx->vmcs = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	vmx->msr_guest = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!vmx->vmcs || !vmx->msr_guest)
		return -ENOMEM;
	/* The host area shares the page; both need 16-byte alignment. */
	vmx->msr_host = vmx->msr_guest + VMX_NR_SWITCHED;
	for (i = 0; i < VMX_NR_SWITCHED; i++) {
		vmx->msr_guest[i].index = vmx_switched_index[i];
		vmx->msr_host[i].index = vmx_switched_index[i];
		vmx->msr_host[i].value = vmx_cfg.host_msr[i];
	}
	*(u32 *)vmx->vmcs = vmx_cfg.revision;
	vmx->vmcs_pa = virt_to_phys(vmx->vmcs);
	vmx->vpid = vmx_alloc_vpid();
	vmx->eptp = vcpu->vm->npt.root_pa | EPTP_MEMTYPE_WB |
		    EPTP_WALK(vmx_ept_format.levels) |
		    (vmx_cfg.ept_ad ? EPTP_AD : 0);

	if (!vmx_get(vmx, &flags))
		return -EIO;
	vmx_init_controls(vmx);
	vmx_put(flags);
	vmx_reset_state(vmx);
	return 0;
}

static void vmx_vcpu_free(struct vmm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	int cpu = READ_ONCE(vmx->cpu);

	/* The CPU must forget the VMCS before its memory goes (SDM 25.11.1). */
	if (cpu >= 0)
		smp_call_function_single(cpu, vmx_vmcs_clear_ipi, vmx, 1);
	WARN_ON_ONCE(READ_ONCE(vmx->cpu) >= 0);
	vmx_free_vpid(vmx->vpid);
	free_page((unsigned long)vmx->msr_guest);
	free_page((unsigned long)vmx->vmcs);
	kfree(vmx);
}

/* ---- events ---- */

/* Vectors that push an error code in protected mode (SDM 7.3). */
static bool vmx_exception_has_error_code(u8 vector)
{
	switch (vector) {
	case DF_VECTOR: case TS_VECTOR: case NP_VECTOR: case SS_VECTOR:
	case GP_VECTOR: case PF_VECTOR: case AC_VECTOR:
		return true;
	default:
		return false;
	}
}

/*
 * VM_ENTRY_INTR_INFO has SVM's EVENTINJ type numbers.  VM entry refuses an
 * error code that the vector does not take or that real mode would not
 * push (SDM 27.2.1.3), so drop it where the hardware would.
 */
static void vmx_inject_event(struct vmm_vcpu *vcpu, const struct vmm_event *ev)
{
	u32 info = ev->vector | (u32)ev->type << INTR_INFO_TYPE_SHIFT |
		   INTR_INFO_VALID;
	unsigned long flags;

	if (!vmx_get(to_vmx(vcpu), &flags))
		return;
	if (ev->type == VMM_EVENT_EXCEPTION && ev->has_error_code &&
	    vmx_exception_has_error_code(ev->vector) &&
	    (vmcs_read(VMCS_GUEST_CR0) & X86_CR0_PE)) {
		info |= INTR_INFO_ERROR_CODE;
		vmcs_write(VMCS_ENTRY_EXCEPTION_ERROR, ev->error_code);
	}
	vmcs_write(VMCS_ENTRY_INTR_INFO, info);
	vmx_put(flags);
}

static u32 vmx_get_interrupt_shadow(struct vmm_vcpu *vcpu)
{
	unsigned long flags;
	u32 state, shadow = 0;

	if (!vmx_get(to_vmx(vcpu), &flags))
		return 0;
	state = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);
	vmx_put(flags);
	if (state & INTERRUPTIBILITY_STI)
		shadow |= VMM_SHADOW_STI;
	if (state & INTERRUPTIBILITY_MOV_SS)
		shadow |= VMM_SHADOW_MOV_SS;
	return shadow;
}

/* One of the two at most (SDM 27.3.1.5); MOV SS blocks more. */
static void vmx_set_interrupt_shadow(struct vmm_vcpu *vcpu, u32 shadow)
{
	unsigned long flags;
	u32 state, new;

	if (!vmx_get(to_vmx(vcpu), &flags))
		return;
	state = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);
	new = state & ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS);
	if (shadow & VMM_SHADOW_MOV_SS)
		new |= INTERRUPTIBILITY_MOV_SS;
	else if (shadow & VMM_SHADOW_STI)
		new |= INTERRUPTIBILITY_STI;
	if (new != state)
		vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, new);
	vmx_put(flags);
}

static void vmx_set_proc_ctl(struct vmx_vcpu *vmx, u32 bit, bool on)
{
	u32 ctls = on ? vmx->proc_ctls | bit : vmx->proc_ctls & ~bit;
	unsigned long flags;

	if (ctls == vmx->proc_ctls || !vmx_get(vmx, &flags))
		return;
	vmx->proc_ctls = ctls;
	vmcs_write(VMCS_PROC_CTLS, ctls);
	vmx_put(flags);
}

/* Exits as soon as RFLAGS.IF=1 and no STI/MOV SS blocking (SDM 26.7.5). */
static void vmx_set_irq_window(struct vmm_vcpu *vcpu, bool on)
{
	vmx_set_proc_ctl(to_vmx(vcpu), PROC_INTR_WINDOW, on);
}

/*
 * With virtual NMIs the processor itself tracks NMI blocking: delivering
 * an injected NMI blocks, the handler's IRET unblocks (SDM 26.3, 27.6.1.2),
 * and vmx.c keeps arch.nmi_masked equal to that bit around every entry.
 * So nothing has to watch for the IRET; what matters is an NMI that waits,
 * whatever holds it (blocking, a shadow, an exception injected first): the
 * NMI-window exit comes exactly when it can go (SDM 26.7.6).  The
 * generic code's IRET tracking and single-step are never armed on VMX.
 */
static void vmx_set_nmi_window(struct vmm_vcpu *vcpu, bool on)
{
	vmx_set_proc_ctl(to_vmx(vcpu), PROC_NMI_WINDOW, vcpu->arch.nmi_pending);
}

/* ---- entry ---- */

static void vmx_flush(struct vmx_vcpu *vmx)
{
	u64 cap = vmx_cfg.ept_vpid_cap;

	if (vmx->need_flush) {
		/* Guest-physical and combined mappings (SDM 29.4.3.1). */
		if (cap & EPT_CAP_INVEPT_SINGLE)
			vmx_invept(INVEPT_SINGLE, vmx->eptp);
		else
			vmx_invept(INVEPT_ALL, 0);
	}
	if ((vmx->need_flush || vmx->need_vpid_flush) && vmx->vpid) {
		if (cap & VPID_CAP_INVVPID_SINGLE)
			vmx_invvpid(INVVPID_SINGLE, vmx->vpid);
		else
			vmx_invvpid(INVVPID_ALL, 0);
	}
	vmx->need_flush = false;
	vmx->need_vpid_flush = false;
}

/* Called before vmx_get(): may read guest memory. */
static void vmx_load_pdptes(struct vmx_vcpu *vmx)
{
	struct vmm_vcpu *vcpu = &vmx->vcpu;
	u64 pdpte[4] = {};
	unsigned long flags;
	int i, idx;

	vmx->pdptes_dirty = false;
	if (!vmx_pae_paging(vcpu))
		return;
	idx = srcu_read_lock(&vcpu->vm->srcu);
	if (vmm_read_guest(vcpu->vm, vmx_get_cr(vcpu, 3) & ~0x1fULL, pdpte,
			   sizeof(pdpte)))
		memset(pdpte, 0, sizeof(pdpte));
	srcu_read_unlock(&vcpu->vm->srcu, idx);
	if (!vmx_get(vmx, &flags))
		return;
	for (i = 0; i < 4; i++)
		vmcs_write(VMCS_GUEST_PDPTE(i), pdpte[i]);
	vmx_put(flags);
}

/*
 * NMI blocking is arch.nmi_masked: write it before vmm_x86_inject_pending()
 * decides, since an injected NMI needs it clear in the VMCS (SDM 27.3.1.5)
 * while the generic code marks the NMI masked as it injects.
 */
static void vmx_load_nmi_blocking(struct vmx_vcpu *vmx)
{
	u32 state = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY), new;

	new = state & ~INTERRUPTIBILITY_NMI;
	if (vmx->vcpu.arch.nmi_masked)
		new |= INTERRUPTIBILITY_NMI;
	if (new != state)
		vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, new);
}

/*
 * The shadow as VM entry accepts it (SDM 27.3.1.5): no STI blocking with
 * IF clear, and the single-step trap pending (BS) exactly when TF is set
 * inside a shadow.
 */
static void vmx_load_shadow(struct vmx_vcpu *vmx)
{
	u64 rflags = vmx->vcpu.arch.rflags, dbg;
	u32 state = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);

	if (!(state & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)))
		return;
	if (!(rflags & X86_EFLAGS_IF) && (state & INTERRUPTIBILITY_STI)) {
		state &= ~INTERRUPTIBILITY_STI;
		vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, state);
	}
	dbg = vmcs_read(VMCS_GUEST_PENDING_DBG) & ~PENDING_DBG_BS;
	if ((state & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)) &&
	    (rflags & X86_EFLAGS_TF))
		dbg |= PENDING_DBG_BS;
	vmcs_write(VMCS_GUEST_PENDING_DBG, dbg);
}

/*
 * External-interrupt exiting alone must end the guest's run when a host
 * interrupt arrives, whatever the guest's RFLAGS.IF (SDM 26.2).  Bochs 2.7
 * re-evaluates pending interrupts only when IF changes: entering a guest
 * whose IF is clear from a host whose IF is clear, it never notices the
 * host's timer or IPIs, and a guest spinning with interrupts off keeps the
 * CPU forever (no tick, no signal, no reschedule; kvm_intel hangs there
 * too).  So while the guest's IF is clear the preemption timer bounds its
 * stay to one tick: on hardware that costs at most the exit the tick
 * itself causes, and a guest running with IF set never sees it.
 */
static void vmx_arm_backstop(struct vmx_vcpu *vmx)
{
	bool on = vmx_cfg.backstop && !(vmx->vcpu.arch.rflags & X86_EFLAGS_IF);
	u32 pin = on ? vmx->pin_ctls | PIN_PREEMPTION_TIMER :
		       vmx->pin_ctls & ~PIN_PREEMPTION_TIMER;

	if (pin != vmx->pin_ctls) {
		vmx->pin_ctls = pin;
		vmcs_write(VMCS_PIN_CTLS, pin);
	}
}

static void vmx_load_guest_regs(struct vmx_vcpu *vmx)
{
	struct vmm_vcpu_x86 *arch = &vmx->vcpu.arch;

	vmcs_write(VMCS_GUEST_RIP, arch->rip);
	vmcs_write(VMCS_GUEST_RSP, arch->gpr[VMM_RSP]);
	vmcs_write(VMCS_GUEST_RFLAGS, arch->rflags);
	vmcs_write(VMCS_TSC_OFFSET, arch->tsc_offset);
	vmx_load_shadow(vmx);
	vmx_arm_backstop(vmx);
}

/*
 * Host state that changes between entries: CR3 (per process and PCID),
 * CR4, the FS base, and what VM exit destroys (SDM 28.5.1, 28.5.2): the
 * data segment selectors, LDTR, the user's KERNEL_GS_BASE.
 */
static void vmx_save_host(struct vmx_vcpu *vmx, struct vmx_host_segs *hs)
{
	u64 cr3 = __read_cr3(), cr4 = __read_cr4();

	savesegment(ds, hs->ds);
	savesegment(es, hs->es);
	savesegment(fs, hs->fs);
	savesegment(gs, hs->gs);
	asm volatile("sldt %0" : "=g" (hs->ldt));
	rdmsrl(MSR_FS_BASE, hs->fs_base);
	rdmsrl(MSR_KERNEL_GS_BASE, hs->kernel_gs_base);
	vmx->msr_host[VMX_MSR_KERNEL_GS_BASE].value = hs->kernel_gs_base;
	if (cr3 != vmx->host_cr3) {
		vmx->host_cr3 = cr3;
		vmcs_write(VMCS_HOST_CR3, cr3);
	}
	if (cr4 != vmx->host_cr4) {
		vmx->host_cr4 = cr4;
		vmcs_write(VMCS_HOST_CR4, cr4);
	}
	if (hs->fs_base != vmx->host_fs_base) {
		vmx->host_fs_base = hs->fs_base;
		vmcs_write(VMCS_HOST_FS_BASE, hs->fs_base);
	}
}

/*
 * VM exit loads null DS/ES/FS/GS selectors (the host fields cannot hold a
 * user RPL), an unusable LDTR, a 0x67 TR limit and 0xffff GDTR/IDTR
 * limits (SDM 28.5.2, 28.5.3).  Put back what the kernel relies on; the
 * IDT limit only grows, which no vector can reach.
 */
static void vmx_restore_host(const struct vmx_host_segs *hs)
{
	if (hs->ldt)
		asm volatile("lldt %0" :: "g" (hs->ldt));
	if (hs->ds)
		loadsegment(ds, hs->ds);
	if (hs->es)
		loadsegment(es, hs->es);
	if (hs->fs) {
		loadsegment(fs, hs->fs);
		wrmsrl(MSR_FS_BASE, hs->fs_base);
	}
	if (hs->gs) {
		load_gs_index(hs->gs);
		wrmsrl(MSR_KERNEL_GS_BASE, hs->kernel_gs_base);
	}
	invalidate_tss_limit();
	load_fixmap_gdt(raw_smp_processor_id());
}

static bool vmx_guest_xcr0_differs(struct vmm_vcpu *vcpu)
{
	return (vmcs_read(VMCS_CR4_SHADOW) & X86_CR4_OSXSAVE) &&
	       vcpu->arch.xcr0 != vmm_host_xcr0;
}

/*
 * An exit in the middle of delivering an event leaves it in the
 * IDT-vectoring information: deliver it again (SDM 28.2.4);
 * vmm_x86_reinject() decides what is replayed.
 */
static void vmx_save_idt_vectoring(struct vmx_vcpu *vmx, u32 info)
{
	u32 type = (info & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT;
	u8 vector = info & INTR_INFO_VECTOR_MASK;
	struct vmm_event ev;

	if (!(info & INTR_INFO_VALID))
		return;
	ev = (struct vmm_event) {
		.pending = true,
		.type = type,
		.vector = vector,
		.has_error_code = info & INTR_INFO_ERROR_CODE,
	};
	if (ev.has_error_code)
		ev.error_code = vmcs_read(VMCS_IDT_VECTORING_ERROR);
	vmm_x86_reinject(&vmx->vcpu, &ev);
}

/* Record the exit; interrupts are still off and the VMCS current. */
static void vmx_after_exit(struct vmx_vcpu *vmx, int fail)
{
	struct vmm_vcpu_x86 *a = &vmx->vcpu.arch;
	u32 basic, idt, state;
	bool unblocked;

	vmx->vmfail = fail;
	vmx->insn_exit = false;
	if (fail) {
		vmx->insn_error = vmcs_read(VMCS_INSN_ERROR);
		vmcs_write(VMCS_ENTRY_INTR_INFO, 0);
		return;
	}
	vmx->exit_reason = vmcs_read(VMCS_EXIT_REASON);
	if (vmx->exit_reason & EXIT_REASON_FAILED_ENTRY) {
		/* Nothing ran; the event to inject is still in the VMCS. */
		vmcs_write(VMCS_ENTRY_INTR_INFO, 0);
		return;
	}
	vmx->launched = true;
	basic = EXIT_REASON_BASIC(vmx->exit_reason);
	vmx->exit_qual = vmcs_read(VMCS_EXIT_QUAL);
	vmx->exit_intr_info = basic == VMX_EXIT_EXCEPTION_NMI ?
			      vmcs_read(VMCS_EXIT_INTR_INFO) : 0;
	idt = vmcs_read(VMCS_IDT_VECTORING_INFO);

	a->rip = vmcs_read(VMCS_GUEST_RIP);
	a->gpr[VMM_RSP] = vmcs_read(VMCS_GUEST_RSP);
	a->rflags = vmcs_read(VMCS_GUEST_RFLAGS);

	/*
	 * The processor's virtual-NMI blocking is the truth.  An IRET that
	 * faulted (or hit an EPT violation) has unblocked NMIs already but
	 * will run again: block them again (SDM 28.2.3).
	 */
	state = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);
	a->nmi_masked = state & INTERRUPTIBILITY_NMI;
	unblocked = (vmx->exit_intr_info & INTR_INFO_NMI_UNBLOCKED) ||
		    (basic == VMX_EXIT_EPT_VIOLATION &&
		     (vmx->exit_qual & EPT_QUAL_NMI_UNBLOCKED));
	if (unblocked && !(idt & INTR_INFO_VALID))
		a->nmi_masked = true;
	vmx_save_idt_vectoring(vmx, idt);
}

static bool vmx_exit_is_nmi(struct vmx_vcpu *vmx)
{
	u32 info = vmx->exit_intr_info;

	return !vmx->vmfail &&
	       EXIT_REASON_BASIC(vmx->exit_reason) == VMX_EXIT_EXCEPTION_NMI &&
	       (info & INTR_INFO_VALID) &&
	       ((info & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT) == INTR_TYPE_NMI;
}

static int vmx_vcpu_run(struct vmm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	struct vmx_host_segs hs;
	unsigned long flags;
	bool switch_xcr0;
	u64 debugctl;
	int cpu, fail;

	vmx->insn_exit = false;
	if (vmx->pdptes_dirty)
		vmx_load_pdptes(vmx);
	if (!vmx_get(vmx, &flags))
		return -EIO;	/* VMX is off here: a reboot began */
	cpu = smp_processor_id();
	WRITE_ONCE(vcpu->cpu, cpu);
	/* Pairs with the barrier in vmm_vcpu_kick(): see the request or get the IPI. */
	smp_store_mb(vcpu->mode, VMM_IN_GUEST);
	if (test_and_clear_bit(VMM_REQ_TLB_FLUSH, &vcpu->requests))
		vmx->need_flush = true;
	if (need_resched() || !vmm_cpu_enabled()) {
		/* Decided before vmx_put(): see svm_vcpu_run(). */
		int r = vmm_cpu_enabled() ? -EAGAIN : -EIO;

		WRITE_ONCE(vcpu->mode, VMM_OUTSIDE_GUEST);
		vmx_put(flags);
		return r;
	}

	vmx_flush(vmx);
	vmx_load_nmi_blocking(vmx);
	vmm_x86_inject_pending(vcpu);
	vmx_load_guest_regs(vmx);
	vmx_save_host(vmx, &hs);
	switch_xcr0 = vmx_guest_xcr0_differs(vcpu);
	if (switch_xcr0)
		xsetbv(XCR_XFEATURE_ENABLED_MASK, vcpu->arch.xcr0);
	/* CR2 is not in the VMCS: the guest's lives in the register. */
	if (native_read_cr2() != vmx->cr2)
		native_write_cr2(vmx->cr2);
	/* Safe read: some emulated CPUs (Bochs) lack DEBUGCTL. */
	if (rdmsrl_safe(MSR_IA32_DEBUGCTLMSR, &debugctl))
		debugctl = 0;

	vmm_guest_enter_irqoff();
	fail = vmx_vmenter(vcpu->arch.gpr, vmx->launched);
	vmm_guest_exit_irqoff();

	vmx->cr2 = native_read_cr2();
	vmx_restore_host(&hs);
	/* Legacy IBRS must be set again after the guest ran (as KVM does). */
	if (cpu_feature_enabled(X86_FEATURE_KERNEL_IBRS))
		native_wrmsrl(MSR_IA32_SPEC_CTRL, this_cpu_read(x86_spec_ctrl_current));
	if (switch_xcr0)
		xsetbv(XCR_XFEATURE_ENABLED_MASK, vmm_host_xcr0);
	/* VM exit cleared DR7 and DEBUGCTL (SDM 28.5.1). */
	if (hw_breakpoint_active())
		hw_breakpoint_restore();
	if (debugctl)
		update_debugctlmsr(debugctl);

	WRITE_ONCE(vcpu->mode, VMM_OUTSIDE_GUEST);
	vmx_after_exit(vmx, fail);
	/* The host's NMI handler has not run: run it before anything else. */
	if (vmx_exit_is_nmi(vmx))
		vmx_host_nmi();
	vmm_x86_after_exit(vcpu);
	/* An external interrupt stays pending until now (no ack on exit). */
	vmx_put(flags);
	return 0;
}

/* ---- exits: one small handler per reason ---- */

static int vmx_exit_resume(struct vmx_vcpu *vmx)
{
	return VMM_RESUME_GUEST;
}

static int vmx_exit_ud(struct vmx_vcpu *vmx)
{
	return vmm_x86_inject_ud(&vmx->vcpu);
}

static int vmx_exit_unexpected(struct vmx_vcpu *vmx)
{
	return vmm_x86_exit_internal_error(&vmx->vcpu,
			KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
			vmx->exit_reason, vmx->exit_qual);
}

/* #DB: as svm_exit_db(); ICEBP (INT1) is a trap past the instruction. */
static int vmx_exit_db(struct vmx_vcpu *vmx)
{
	u32 type = (vmx->exit_intr_info & INTR_INFO_TYPE_MASK) >>
		   INTR_INFO_TYPE_SHIFT;

	if (vmm_x86_nmi_singlestep_done(&vmx->vcpu))
		return VMM_RESUME_GUEST;
	if (type == INTR_TYPE_PRIV_SOFT_EXCEPTION && vmm_x86_skip_insn(&vmx->vcpu))
		return vmx_exit_unexpected(vmx);
	vmm_x86_queue_exception(&vmx->vcpu, DB_VECTOR, false, 0);
	return VMM_RESUME_GUEST;
}

static int vmx_exit_ac(struct vmx_vcpu *vmx)
{
	unsigned long flags;
	u32 err = 0;

	if (vmx_get(vmx, &flags)) {
		err = vmcs_read(VMCS_EXIT_INTR_ERROR);
		vmx_put(flags);
	}
	vmm_x86_queue_exception(&vmx->vcpu, AC_VECTOR, true, err);
	return VMM_RESUME_GUEST;
}

/* Exception or NMI: the NMI went to the host already, in vmx_vcpu_run(). */
static int vmx_exit_exception_nmi(struct vmx_vcpu *vmx)
{
	u32 info = vmx->exit_intr_info;

	if (vmx_exit_is_nmi(vmx))
		return VMM_RESUME_GUEST;
	switch (info & INTR_INFO_VECTOR_MASK) {
	case DB_VECTOR:
		return vmx_exit_db(vmx);
	case AC_VECTOR:
		return vmx_exit_ac(vmx);
	default:
		return vmx_exit_unexpected(vmx);
	}
}

/* The window opened: the run loop decides whether userspace wants to know. */
static int vmx_exit_intr_window(struct vmx_vcpu *vmx)
{
	vmx_set_irq_window(&vmx->vcpu, false);
	return VMM_RESUME_GUEST;
}

/* NMIs are unblocked: the next entry injects the waiting one. */
static int vmx_exit_nmi_window(struct vmx_vcpu *vmx)
{
	vmx_set_proc_ctl(vmx, PROC_NMI_WINDOW, false);
	return VMM_RESUME_GUEST;
}

/*
 * A triple fault: as after svm_exit_shutdown(), start again from power-on
 * state; userspace resets the registers it cares about.
 */
static int vmx_exit_triple_fault(struct vmx_vcpu *vmx)
{
	vmx_reset_state(vmx);
	return vmm_x86_exit_shutdown(&vmx->vcpu);
}

static int vmx_exit_task_switch(struct vmx_vcpu *vmx)
{
	return vmm_x86_exit_internal_error(&vmx->vcpu,
			KVM_INTERNAL_ERROR_EMULATION, VMX_EXIT_TASK_SWITCH,
			vmx->exit_qual);
}

static int vmx_exit_cpuid(struct vmx_vcpu *vmx)
{
	return vmm_x86_exit_cpuid(&vmx->vcpu);
}

static int vmx_exit_hlt(struct vmx_vcpu *vmx)
{
	return vmm_x86_exit_hlt(&vmx->vcpu);
}

/* INVD would drop dirty lines that may belong to the host: act as NOP. */
static int vmx_exit_invd(struct vmx_vcpu *vmx)
{
	return vmm_x86_skip_or_fail(&vmx->vcpu);
}

static u64 vmx_gpr_operand(struct vmx_vcpu *vmx, int gpr)
{
	unsigned long flags;
	u64 val = vmx->vcpu.arch.gpr[gpr];
	bool l64 = false;

	if (vmx_get(vmx, &flags)) {
		l64 = vmx_long64(vmx);
		vmx_put(flags);
	}
	/* Outside 64-bit mode MOV CR uses 32-bit operands (SDM "MOV"). */
	return l64 ? val : (u32)val;
}

/*
 * MOV to CR0 that changes a host-owned bit (PG, NE, CD, NW).  Paging on
 * with EFER.LME set activates IA-32e mode, paging off deactivates it (SDM
 * Vol. 3A 10.8.5): the processor would set or clear EFER.LMA, but with
 * the MOV emulated here it is vmm that updates LMA and the "IA-32e mode
 * guest" entry control, which VM entry checks against each other (SDM
 * 27.3.1.1).  That is why PG is host-owned even with unrestricted guest.
 */
static int vmx_write_cr0(struct vmx_vcpu *vmx, u64 val)
{
	struct vmm_vcpu *vcpu = &vmx->vcpu;
	u64 old = vmx_get_cr(vcpu, 0), efer = vcpu->arch.efer;
	struct kvm_segment cs;

	if (val >> 32)
		return vmm_x86_inject_gp(vcpu, 0);
	val = (val & VMX_CR0_VALID) | X86_CR0_ET;
	if (((val & X86_CR0_NW) && !(val & X86_CR0_CD)) ||
	    ((val & X86_CR0_PG) && !(val & X86_CR0_PE)))
		return vmm_x86_inject_gp(vcpu, 0);
	vmx_get_segment(vcpu, &cs, VMM_SEG_CS);
	if (!(old & X86_CR0_PG) && (val & X86_CR0_PG) && (efer & EFER_LME)) {
		if (!(vmx_get_cr(vcpu, 4) & X86_CR4_PAE) || cs.l)
			return vmm_x86_inject_gp(vcpu, 0);
		vmx_set_efer(vcpu, efer | EFER_LMA);
	} else if ((old & X86_CR0_PG) && !(val & X86_CR0_PG) &&
		   (efer & EFER_LMA)) {
		/* Only from compatibility mode. */
		if (cs.l)
			return vmm_x86_inject_gp(vcpu, 0);
		vmx_set_efer(vcpu, efer & ~EFER_LMA);
	}
	vmx_set_cr(vcpu, 0, val);
	return vmm_x86_skip_or_fail(vcpu);
}

/* MOV to/from CR3 exits only where the CPU cannot turn that off. */
static int vmx_exit_cr3_cr8(struct vmx_vcpu *vmx, int cr, int gpr, bool to)
{
	struct vmm_vcpu *vcpu = &vmx->vcpu;
	u64 val;

	if (to) {
		val = vmx_gpr_operand(vmx, gpr);
		/* CR8 bits 63:4 are reserved (SDM 11.8.6.1). */
		if (cr == 8 && (val >> 4))
			return vmm_x86_inject_gp(vcpu, 0);
		vmx_set_cr(vcpu, cr, val);
	} else {
		vcpu->arch.gpr[gpr] = vmx_get_cr(vcpu, cr);
	}
	return vmm_x86_skip_or_fail(vcpu);
}

/* The exit qualification gives the CR, the access and the GPR (SDM 28.2.1). */
static int vmx_exit_cr(struct vmx_vcpu *vmx)
{
	u64 q = vmx->exit_qual;
	int cr = CR_QUAL_CR(q), gpr = CR_QUAL_GPR(q);
	u64 cr0;

	switch (CR_QUAL_TYPE(q)) {
	case CR_TYPE_MOV_TO:
		if (cr == 0)
			return vmx_write_cr0(vmx, vmx_gpr_operand(vmx, gpr));
		if (cr == 4)
			return vmm_x86_exit_cr4_write(&vmx->vcpu, gpr);
		if (cr == 3 || cr == 8)
			return vmx_exit_cr3_cr8(vmx, cr, gpr, true);
		break;
	case CR_TYPE_MOV_FROM:
		if (cr == 3 || cr == 8)
			return vmx_exit_cr3_cr8(vmx, cr, gpr, false);
		break;
	case CR_TYPE_CLTS:
		return vmx_write_cr0(vmx, vmx_get_cr(&vmx->vcpu, 0) & ~X86_CR0_TS);
	case CR_TYPE_LMSW:
		/* LMSW sets PE but never clears it (SDM "LMSW"). */
		cr0 = vmx_get_cr(&vmx->vcpu, 0);
		return vmx_write_cr0(vmx, (cr0 & ~0xeULL) |
				     (CR_QUAL_LMSW_DATA(q) & 0xf));
	}
	return vmx_exit_unexpected(vmx);
}

static int vmx_exit_dr(struct vmx_vcpu *vmx)
{
	u64 q = vmx->exit_qual;

	return vmm_x86_exit_dr(&vmx->vcpu, DR_QUAL_DR(q),
			       !(q & DR_QUAL_FROM_DR), DR_QUAL_GPR(q));
}

/* The qualification describes the access, the length gives next RIP. */
static int vmx_exit_io(struct vmx_vcpu *vmx)
{
	u64 q = vmx->exit_qual;

	return vmm_x86_exit_io(&vmx->vcpu, IO_QUAL_PORT(q), IO_QUAL_SIZE(q),
			       q & IO_QUAL_IN, q & IO_QUAL_STRING,
			       vmx_next_rip(&vmx->vcpu));
}

static int vmx_exit_rdmsr(struct vmx_vcpu *vmx)
{
	return vmm_x86_exit_rdmsr(&vmx->vcpu);
}

static int vmx_exit_wrmsr(struct vmx_vcpu *vmx)
{
	return vmm_x86_exit_wrmsr(&vmx->vcpu);
}

static int vmx_exit_xsetbv(struct vmx_vcpu *vmx)
{
	struct vmm_vcpu *vcpu = &vmx->vcpu;
	u64 *gpr = vcpu->arch.gpr;
	u64 xcr0 = (u32)gpr[VMM_RAX] | (gpr[VMM_RDX] << 32);

	if ((u32)gpr[VMM_RCX] != 0 || vmx_get_cpl(vcpu) != 0 ||
	    !vmm_x86_xcr0_valid(vcpu, xcr0))
		return vmm_x86_inject_gp(vcpu, 0);
	vcpu->arch.xcr0 = xcr0;
	return vmm_x86_skip_or_fail(vcpu);
}

/*
 * The GPA comes from the VMCS, the access from the qualification (SDM Vol.
 * 3C 28.2.1, Table 28-7): bit 8, meaningful only with bit 7 (a linear
 * address exists), says the access was to the final translation rather
 * than to a guest paging-structure entry.
 */
static int vmx_exit_ept_violation(struct vmx_vcpu *vmx)
{
	unsigned long flags;
	u64 q = vmx->exit_qual, gpa = 0;
	u64 final = EPT_QUAL_LA_VALID | EPT_QUAL_FINAL;

	if (vmx_get(vmx, &flags)) {
		gpa = vmcs_read(VMCS_GUEST_PHYS_ADDR);
		vmx_put(flags);
	}
	return vmm_x86_exit_npf(&vmx->vcpu, gpa, q & EPT_QUAL_WRITE,
				q & EPT_QUAL_FETCH, (q & final) == final);
}

/* vmm never writes a misconfigured entry: the guest must not go on. */
static int vmx_exit_ept_misconfig(struct vmx_vcpu *vmx)
{
	unsigned long flags;
	u64 gpa = 0;

	if (vmx_get(vmx, &flags)) {
		gpa = vmcs_read(VMCS_GUEST_PHYS_ADDR);
		vmx_put(flags);
	}
	return vmm_x86_exit_internal_error(&vmx->vcpu,
			KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
			VMX_EXIT_EPT_MISCONFIG, gpa);
}

typedef int (*vmx_exit_handler)(struct vmx_vcpu *vmx);

static const vmx_exit_handler vmx_exit_handlers[VMX_NR_EXIT_REASONS] = {
	[VMX_EXIT_EXCEPTION_NMI]	= vmx_exit_exception_nmi,
	[VMX_EXIT_EXTERNAL_INTR]	= vmx_exit_resume,
	[VMX_EXIT_TRIPLE_FAULT]		= vmx_exit_triple_fault,
	[VMX_EXIT_INIT]			= vmx_exit_resume,
	[VMX_EXIT_SIPI]			= vmx_exit_resume,
	[VMX_EXIT_IO_SMI]		= vmx_exit_resume,
	[VMX_EXIT_OTHER_SMI]		= vmx_exit_resume,
	[VMX_EXIT_INTR_WINDOW]		= vmx_exit_intr_window,
	[VMX_EXIT_NMI_WINDOW]		= vmx_exit_nmi_window,
	[VMX_EXIT_TASK_SWITCH]		= vmx_exit_task_switch,
	[VMX_EXIT_CPUID]		= vmx_exit_cpuid,
	[VMX_EXIT_GETSEC]		= vmx_exit_ud,
	[VMX_EXIT_HLT]			= vmx_exit_hlt,
	[VMX_EXIT_INVD]			= vmx_exit_invd,
	[VMX_EXIT_RSM]			= vmx_exit_ud,
	[VMX_EXIT_VMCALL ... VMX_EXIT_VMXON] = vmx_exit_ud,
	[VMX_EXIT_CR_ACCESS]		= vmx_exit_cr,
	[VMX_EXIT_DR_ACCESS]		= vmx_exit_dr,
	[VMX_EXIT_IO]			= vmx_exit_io,
	[VMX_EXIT_RDMSR]		= vmx_exit_rdmsr,
	[VMX_EXIT_WRMSR]		= vmx_exit_wrmsr,
	[VMX_EXIT_MWAIT]		= vmx_exit_ud,
	[VMX_EXIT_MONITOR]		= vmx_exit_ud,
	[VMX_EXIT_EPT_VIOLATION]	= vmx_exit_ept_violation,
	[VMX_EXIT_EPT_MISCONFIG]	= vmx_exit_ept_misconfig,
	[VMX_EXIT_INVEPT]		= vmx_exit_ud,
	/* The backstop fired: host interrupts are taken on the way out. */
	[VMX_EXIT_PREEMPTION_TIMER]	= vmx_exit_resume,
	[VMX_EXIT_INVVPID]		= vmx_exit_ud,
	[VMX_EXIT_XSETBV]		= vmx_exit_xsetbv,
	[VMX_EXIT_VMFUNC]		= vmx_exit_ud,
};

/* Exits caused by executing an instruction: VM_EXIT_INSN_LEN is valid. */
static bool vmx_exit_has_insn_len(u32 basic)
{
	switch (basic) {
	case VMX_EXIT_CPUID: case VMX_EXIT_GETSEC: case VMX_EXIT_HLT:
	case VMX_EXIT_INVD: case VMX_EXIT_RSM:
	case VMX_EXIT_VMCALL ... VMX_EXIT_VMXON:
	case VMX_EXIT_CR_ACCESS: case VMX_EXIT_DR_ACCESS: case VMX_EXIT_IO:
	case VMX_EXIT_RDMSR: case VMX_EXIT_WRMSR: case VMX_EXIT_MWAIT:
	case VMX_EXIT_MONITOR: case VMX_EXIT_INVEPT: case VMX_EXIT_INVVPID:
	case VMX_EXIT_XSETBV: case VMX_EXIT_VMFUNC:
		return true;
	default:
		return false;
	}
}

static int vmx_handle_exit(struct vmm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u32 basic = EXIT_REASON_BASIC(vmx->exit_reason);
	u32 type;

	/* VMfailValid/Invalid: the VM-instruction error number (SDM 31.4). */
	if (vmx->vmfail)
		return vmm_x86_exit_fail_entry(vcpu, vmx->insn_error);
	/* Invalid guest state, MSR loading, machine check (SDM 27.8). */
	if (vmx->exit_reason & EXIT_REASON_FAILED_ENTRY)
		return vmm_x86_exit_fail_entry(vcpu, vmx->exit_reason);
	type = (vmx->exit_intr_info & INTR_INFO_TYPE_MASK) >> INTR_INFO_TYPE_SHIFT;
	vmx->insn_exit = vmx_exit_has_insn_len(basic) ||
			 (basic == VMX_EXIT_EXCEPTION_NMI &&
			  type == INTR_TYPE_PRIV_SOFT_EXCEPTION);
	if (basic < ARRAY_SIZE(vmx_exit_handlers) && vmx_exit_handlers[basic])
		return vmx_exit_handlers[basic](vmx);
	/* An exit we never asked for: the guest must not go on. */
	return vmx_exit_unexpected(vmx);
}

const struct vmm_arch_ops vmx_arch_ops = {
	.name		= "vmx",
	.probe		= vmx_probe,
	.remove		= vmx_remove,
	.cpu_enable	= vmx_cpu_enable,
	.cpu_disable	= vmx_cpu_disable,
	.vm_init	= vmx_vm_init,
	.vm_destroy	= vmx_vm_destroy,
	.vcpu_alloc	= vmx_vcpu_alloc,
	.vcpu_free	= vmx_vcpu_free,
	.vcpu_init	= vmx_vcpu_init,
	.vcpu_run	= vmx_vcpu_run,
	.handle_exit	= vmx_handle_exit,
	.get_segment	= vmx_get_segment,
	.set_segment	= vmx_set_segment,
	.get_dtable	= vmx_get_dtable,
	.set_dtable	= vmx_set_dtable,
	.get_cr		= vmx_get_cr,
	.set_cr		= vmx_set_cr,
	.set_efer	= vmx_set_efer,
	.get_cpl	= vmx_get_cpl,
	.next_rip	= vmx_next_rip,
	.inject_event	= vmx_inject_event,
	.get_interrupt_shadow = vmx_get_interrupt_shadow,
	.set_interrupt_shadow = vmx_set_interrupt_shadow,
	.set_irq_window	= vmx_set_irq_window,
	.set_nmi_window	= vmx_set_nmi_window,
	.get_msr	= vmx_get_msr,
	.set_msr	= vmx_set_msr,
	.npt_format	= &vmx_ept_format,
};
