// SPDX-License-Identifier: GPL-2.0
/*
 * Model-specific registers: the guest's RDMSR/WRMSR of MSRs that are not
 * passed through, and KVM_GET/SET_MSRS from userspace.
 *
 * An MSR vmm does not know raises #GP in the guest, as on a CPU without
 * it, and fails KVM_GET/SET_MSRS at that entry.  "host" accesses (from
 * userspace) may set what the guest may not, e.g. MTRRcap-independent state
 * on restore.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/msr-index.h>
#include <asm/tsc.h>

#include "x86.h"

/* Each PAT entry is UC, WC, WT, WP, WB or UC- (SDM 13.12.2). */
bool vmm_x86_pat_valid(u64 pat)
{
	int i;

	for (i = 0; i < 8; i++) {
		u8 type = pat >> (i * 8);

		if (type > 7 || type == 2 || type == 3)
			return false;
	}
	return true;
}

/* KVM's paravirtual clock MSRs, which QEMU saves and restores always. */
#define VMM_MSR_KVM_WALL_CLOCK		0x11
#define VMM_MSR_KVM_SYSTEM_TIME		0x12

/* MTRRcap: 8 variable ranges, fixed ranges, write-combining (SDM 11.11.1). */
#define VMM_MTRR_CAP		(8 | BIT(8) | BIT(10))

/*
 * Machine-check banks: nothing ever reports an error in them, but they
 * exist, as in KVM, so that a guest and QEMU find the MSRs they expect.
 */
#define MCG_CTL_P		BIT_ULL(8)

/* The MSRs KVM_GET_MSR_INDEX_LIST reports: what migration must carry. */
static const u32 vmm_msrs_to_save[] = {
	MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
	MSR_STAR, MSR_CSTAR, MSR_KERNEL_GS_BASE, MSR_SYSCALL_MASK, MSR_LSTAR,
	MSR_IA32_TSC, MSR_IA32_CR_PAT, MSR_EFER, MSR_IA32_MISC_ENABLE,
};

/* IA32_MISC_ENABLE bits the guest may not change (they describe the PMU). */
#define VMM_MISC_ENABLE_RO	(MSR_IA32_MISC_ENABLE_PEBS_UNAVAIL | \
				 MSR_IA32_MISC_ENABLE_BTS_UNAVAIL)

static int vmm_x86_mtrr_index(u32 index)
{
	switch (index) {
	case MSR_MTRRfix64K_00000:
		return 0;
	case MSR_MTRRfix16K_80000:
	case MSR_MTRRfix16K_A0000:
		return 1 + index - MSR_MTRRfix16K_80000;
	case MSR_MTRRfix4K_C0000 ... MSR_MTRRfix4K_F8000:
		return 3 + index - MSR_MTRRfix4K_C0000;
	case MSR_MTRRdefType:
		return 11;
	case 0x200 ... 0x20f:	/* variable range base/mask pairs */
		return 12 + index - 0x200;
	default:
		return -1;
	}
}

static u64 vmm_x86_guest_tsc(struct vmm_vcpu *vcpu)
{
	return rdtsc() + vcpu->arch.tsc_offset;
}

int vmm_x86_get_msr(struct vmm_vcpu *vcpu, u32 index, u64 *data, bool host)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;
	int mtrr = vmm_x86_mtrr_index(index);
	int r;

	if (mtrr >= 0) {
		*data = a->mtrr[mtrr];
		return 0;
	}
	r = vmm_ops->get_msr(vcpu, index, data);
	if (r != -ENOENT)
		return r;

	switch (index) {
	case MSR_EFER:
		*data = a->efer;
		break;
	case MSR_IA32_TSC:
		*data = vmm_x86_guest_tsc(vcpu);
		break;
	case MSR_IA32_APICBASE:
		*data = a->apic_base;
		break;
	case MSR_MTRRcap:
		*data = VMM_MTRR_CAP;
		break;
	case MSR_IA32_MISC_ENABLE:
		*data = a->misc_enable;
		break;
	case VMM_MSR_KVM_WALL_CLOCK:
	case VMM_MSR_KVM_SYSTEM_TIME:
		*data = index == VMM_MSR_KVM_WALL_CLOCK ? a->kvm_wall_clock :
							  a->kvm_system_time;
		break;
	/*
	 * Read as zero: no microcode revision, AMD configuration registers in
	 * their reset
	 * state, and the legacy performance counters of a CPU whose CPUID
	 * advertises no PMU.  Linux probes these while booting.
	 */
	case MSR_IA32_MCG_CAP:
		*data = a->mcg_cap;
		break;
	case MSR_IA32_MCG_CTL:
		*data = a->mcg_ctl;
		break;
	case MSR_IA32_MCG_STATUS:
		*data = a->mcg_status;
		break;
	case MSR_IA32_MC0_CTL ... MSR_IA32_MC0_CTL + 4 * VMM_MCE_BANKS - 1:
		if (index - MSR_IA32_MC0_CTL >= 4 * (a->mcg_cap & 0xff))
			return -EINVAL;
		*data = a->mce_banks[index - MSR_IA32_MC0_CTL];
		break;
	case MSR_IA32_UCODE_REV:
	case MSR_K7_HWCR:
	case MSR_AMD64_SYSCFG:
	case MSR_AMD64_DE_CFG:
	case MSR_VM_CR:
	case MSR_AMD64_OSVW_ID_LENGTH:
	case MSR_AMD64_OSVW_STATUS:
	case MSR_K7_EVNTSEL0 ... MSR_K7_EVNTSEL3:
	case MSR_K7_PERFCTR0 ... MSR_K7_PERFCTR3:
		*data = 0;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/* Writable MTRR bits: memory types, enables and address bits. */
static bool vmm_x86_mtrr_valid(u32 index, u64 data)
{
	if (index == MSR_MTRRdefType)
		return !(data & ~0xcffULL);
	/* Variable ranges: no bits above the physical address width. */
	if (index >= 0x200 && index <= 0x20f)
		return !(data >> boot_cpu_data.x86_phys_bits);
	return true;
}

int vmm_x86_set_msr(struct vmm_vcpu *vcpu, u32 index, u64 data, bool host)
{
	struct vmm_vcpu_x86 *a = &vcpu->arch;
	int mtrr = vmm_x86_mtrr_index(index);
	int r;

	if (mtrr >= 0) {
		if (!vmm_x86_mtrr_valid(index, data))
			return -EINVAL;
		a->mtrr[mtrr] = data;
		return 0;
	}
	r = vmm_ops->set_msr(vcpu, index, data);
	if (r != -ENOENT)
		return r;

	switch (index) {
	case MSR_EFER:
		/*
		 * LMA is the processor's to set (AMD APM Vol. 2 14.6), whoever
		 * writes: KVM keeps it too; userspace sets it with KVM_SET_SREGS.
		 * With paging on, LME cannot change: #GP (APM 14.6.1; SDM Vol. 3A
		 * 9.8.5).  Userspace may, as in KVM.
		 */
		data = (data & ~EFER_LMA) | (a->efer & EFER_LMA);
		if (!host && (vmm_ops->get_cr(vcpu, 0) & X86_CR0_PG) &&
		    ((data ^ a->efer) & EFER_LME))
			return -EINVAL;
		if (!vmm_x86_efer_valid(data))
			return -EINVAL;
		vmm_ops->set_efer(vcpu, data);
		break;
	case MSR_IA32_TSC:
		/* The guest's TSC goes on counting from the value written. */
		a->tsc_offset = data - rdtsc();
		break;
	case MSR_IA32_APICBASE:
		/* Without an in-kernel APIC this is only remembered. */
		if (!host && ((data ^ a->apic_base) & MSR_IA32_APICBASE_BSP))
			return -EINVAL;
		a->apic_base = data;
		break;
	/*
	 * Linux's early boot on an Intel CPU reads it to clear XD Bit
	 * Disable, and takes the #GP of an unknown MSR with no IDT yet: a
	 * triple fault.  Stored as written, as KVM does, except that the
	 * guest cannot change the PMU bits and writes to EMON are ignored.
	 */
	case MSR_IA32_MISC_ENABLE:
		if (!host) {
			if ((data ^ a->misc_enable) & VMM_MISC_ENABLE_RO)
				return -EINVAL;
			data = (data & ~MSR_IA32_MISC_ENABLE_EMON) |
			       (a->misc_enable & MSR_IA32_MISC_ENABLE_EMON);
		}
		a->misc_enable = data;
		break;
	case VMM_MSR_KVM_WALL_CLOCK:
		a->kvm_wall_clock = data;
		break;
	case VMM_MSR_KVM_SYSTEM_TIME:
		a->kvm_system_time = data;
		break;
	case MSR_IA32_MCG_CAP:
		/* Userspace may shrink the bank count, never grow it. */
		if (!host || (data & 0xff) > VMM_MCE_BANKS ||
		    (data & ~0xffULL & ~MCG_CTL_P))
			return -EINVAL;
		a->mcg_cap = data;
		break;
	case MSR_IA32_MCG_CTL:
		if (data && data != ~0ULL)
			return -EINVAL;
		a->mcg_ctl = data;
		break;
	case MSR_IA32_MCG_STATUS:
		a->mcg_status = data;
		break;
	case MSR_IA32_MC0_CTL ... MSR_IA32_MC0_CTL + 4 * VMM_MCE_BANKS - 1:
		if (index - MSR_IA32_MC0_CTL >= 4 * (a->mcg_cap & 0xff))
			return -EINVAL;
		a->mce_banks[index - MSR_IA32_MC0_CTL] = data;
		break;
	case MSR_K7_HWCR:
	case MSR_AMD64_DE_CFG:
	case MSR_K7_EVNTSEL0 ... MSR_K7_EVNTSEL3:
	case MSR_K7_PERFCTR0 ... MSR_K7_PERFCTR3:
		/* Accepted and ignored while zero, as on a CPU at reset. */
		if (data)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

long vmm_x86_get_msr_index_list(struct kvm_msr_list __user *ul)
{
	struct kvm_msr_list list;
	u32 n = ARRAY_SIZE(vmm_msrs_to_save);

	u32 room;

	if (copy_from_user(&list, ul, sizeof(list)))
		return -EFAULT;
	room = list.nmsrs;
	list.nmsrs = n;
	if (copy_to_user(ul, &list, sizeof(list)))
		return -EFAULT;
	if (room < n)
		return -E2BIG;
	if (copy_to_user(ul->indices, vmm_msrs_to_save, sizeof(vmm_msrs_to_save)))
		return -EFAULT;
	return 0;
}

/*
 * KVM_GET/SET_MSRS: entries are processed in order up to the first that
 * fails; the return value is how many succeeded.
 */
long vmm_x86_vcpu_msrs(struct vmm_vcpu *vcpu, struct kvm_msrs __user *um,
		       bool set)
{
	struct kvm_msr_entry *e;
	struct kvm_msrs msrs;
	u32 i;
	long r;

	if (copy_from_user(&msrs, um, sizeof(msrs)))
		return -EFAULT;
	if (msrs.nmsrs >= 4096)		/* KVM's MAX_IO_MSRS bound */
		return -E2BIG;
	e = vmemdup_user(um->entries, msrs.nmsrs * sizeof(*e));
	if (IS_ERR(e))
		return PTR_ERR(e);
	for (i = 0; i < msrs.nmsrs; i++) {
		if (set ? vmm_x86_set_msr(vcpu, e[i].index, e[i].data, true) :
			  vmm_x86_get_msr(vcpu, e[i].index, &e[i].data, true))
			break;
	}
	r = i;
	if (!set && copy_to_user(um->entries, e, i * sizeof(*e)))
		r = -EFAULT;
	kvfree(e);
	return r;
}

int vmm_x86_exit_rdmsr(struct vmm_vcpu *vcpu)
{
	u64 *gpr = vcpu->arch.gpr;
	u64 data;

	if (vmm_x86_get_msr(vcpu, gpr[VMM_RCX], &data, false))
		return vmm_x86_inject_gp(vcpu, 0);
	gpr[VMM_RAX] = (u32)data;
	gpr[VMM_RDX] = data >> 32;
	return vmm_x86_skip_or_fail(vcpu);
}

int vmm_x86_exit_wrmsr(struct vmm_vcpu *vcpu)
{
	u64 *gpr = vcpu->arch.gpr;
	u64 data = (u32)gpr[VMM_RAX] | (gpr[VMM_RDX] << 32);

	if (vmm_x86_set_msr(vcpu, gpr[VMM_RCX], data, false))
		return vmm_x86_inject_gp(vcpu, 0);
	return vmm_x86_skip_or_fail(vcpu);
}
