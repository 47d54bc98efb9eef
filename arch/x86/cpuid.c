// SPDX-License-Identifier: GPL-2.0
/*
 * CPUID: what vmm can virtualize (KVM_GET_SUPPORTED_CPUID), the table a
 * vCPU was given (KVM_SET_CPUID2), and the in-kernel answer to the guest's
 * CPUID instruction.
 *
 * The supported table is built once from the host's CPUID, keeping only
 * features that either run natively under nested paging without help or
 * that vmm emulates.  Identity of the host beyond what a guest needs (APIC
 * ids, topology, serial numbers, PMU, SVM itself) is not passed on.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/cpufeature.h>
#include <asm/processor.h>

#include "x86.h"

#define VMM_MAX_CPUID_ENTRIES	256
#define SUPPORTED_MAX		32

static struct kvm_cpuid_entry2 supported[SUPPORTED_MAX];
static int nr_supported;

/* Features of leaf 1 and 0x80000001 passed through when the host has them. */
#define F(bit)		BIT(bit)
static const u32 leaf1_edx = F(0) | F(1) | F(2) | F(3) | F(4) | F(5) | F(6) |
	F(8) | F(9) | F(11) | F(13) | F(15) | F(16) | F(17) | F(19) | F(23) |
	F(24) | F(25) | F(26);
static const u32 leaf1_ecx = F(0) | F(1) | F(9) | F(12) | F(13) | F(17) |
	F(19) | F(20) | F(22) | F(23) | F(25) | F(26) | F(28) | F(29) | F(30);
static const u32 leaf7_ebx = F(0) | F(3) | F(5) | F(7) | F(8) | F(9) |
	F(18) | F(19) | F(20) | F(23) | F(24) | F(29);
static const u32 ext1_ecx = F(0) | F(5) | F(6) | F(7) | F(8);
/* SYSCALL, NX, MMXEXT, 1G pages, LM; not RDTSCP (TSC_AUX would leak). */
static const u32 ext1_edx = F(11) | F(20) | F(22) | F(26) | F(29);
#define LEAF1_ECX_XSAVE		F(26)
#define LEAF1_ECX_OSXSAVE	F(27)
#define LEAF1_ECX_HYPERVISOR	F(31)
#define LEAF7_ECX_OSPKE		F(4)

static struct kvm_cpuid_entry2 *add(u32 function, u32 index, u32 flags)
{
	struct kvm_cpuid_entry2 *e;

	if (WARN_ON_ONCE(nr_supported >= SUPPORTED_MAX))
		return NULL;
	e = &supported[nr_supported++];
	e->function = function;
	e->index = index;
	e->flags = flags;
	cpuid_count(function, index, &e->eax, &e->ebx, &e->ecx, &e->edx);
	return e;
}

static void add_xsave_leaves(void)
{
	struct kvm_cpuid_entry2 *e;
	int i;

	e = add(0xd, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	e->eax = vmm_supported_xcr0;
	e->edx = vmm_supported_xcr0 >> 32;
	e->ebx = e->ecx;	/* the guest starts with every component off */
	e = add(0xd, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	e->eax &= F(0) | F(1) | F(2);	/* XSAVEOPT, XSAVEC, XGETBV1; no XSAVES */
	e->ebx = e->ecx = e->edx = 0;
	for (i = 2; i < 64; i++)
		if (vmm_supported_xcr0 & BIT_ULL(i))
			add(0xd, i, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
}

int vmm_x86_cpuid_init(void)
{
	struct kvm_cpuid_entry2 *e;
	u32 max_basic = min_t(u32, cpuid_eax(0), 0xd);
	u32 max_ext = min_t(u32, cpuid_eax(0x80000000), 0x80000008);
	u32 f;

	e = add(0, 0, 0);
	e->eax = max_basic;
	e = add(1, 0, 0);
	e->ebx &= 0xffff;	/* no host APIC id or logical CPU count */
	e->ecx = (e->ecx & leaf1_ecx) | LEAF1_ECX_HYPERVISOR;
	if (!vmm_supported_xcr0)
		e->ecx &= ~LEAF1_ECX_XSAVE;
	e->edx &= leaf1_edx;
	if (max_basic >= 7) {
		e = add(7, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
		e->eax = 0;
		e->ebx &= leaf7_ebx;
		e->ecx = e->edx = 0;
	}
	if (max_basic >= 0xd && vmm_supported_xcr0)
		add_xsave_leaves();

	e = add(0x80000000, 0, 0);
	e->eax = max_ext;
	e = add(0x80000001, 0, 0);
	e->ebx = 0;
	e->ecx &= ext1_ecx;
	e->edx &= ext1_edx | (leaf1_edx & 0x0183f3ff);
	for (f = 0x80000002; f <= min_t(u32, max_ext, 0x80000004); f++)
		add(f, 0, 0);
	if (max_ext >= 0x80000008) {
		e = add(0x80000008, 0, 0);
		e->eax &= 0xffff;	/* physical and linear address widths */
		e->ebx = e->ecx = e->edx = 0;
	}

	/* The hypervisor leaves: KVM's signature, no paravirtual features. */
	e = add(0x40000000, 0, 0);
	e->eax = 0x40000001;
	memcpy(&e->ebx, "KVMK", 4);
	memcpy(&e->ecx, "VMKV", 4);
	memcpy(&e->edx, "M\0\0\0", 4);
	e = add(0x40000001, 0, 0);
	e->eax = e->ebx = e->ecx = e->edx = 0;
	return 0;
}

void vmm_x86_cpuid_exit(void)
{
	nr_supported = 0;
}

int vmm_x86_get_supported_cpuid(struct kvm_cpuid2 __user *uc)
{
	struct kvm_cpuid2 c;

	if (copy_from_user(&c, uc, sizeof(c)))
		return -EFAULT;
	if (c.nent < nr_supported)
		return -E2BIG;
	if (copy_to_user(uc->entries, supported,
			 nr_supported * sizeof(supported[0])))
		return -EFAULT;
	c.nent = nr_supported;
	if (copy_to_user(uc, &c, sizeof(c)))
		return -EFAULT;
	return 0;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid_entry2 *e, int n,
				     u32 leaf, u32 subleaf)
{
	for (; n > 0; n--, e++)
		if (e->function == leaf &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     e->index == subleaf))
			return e;
	return NULL;
}

long vmm_x86_set_cpuid2(struct vmm_vcpu *vcpu, struct kvm_cpuid2 __user *uc)
{
	struct kvm_cpuid_entry2 *e;
	struct kvm_cpuid2 c;
	size_t size;

	if (copy_from_user(&c, uc, sizeof(c)))
		return -EFAULT;
	if (c.nent > VMM_MAX_CPUID_ENTRIES)
		return -E2BIG;
	size = c.nent * sizeof(*e);
	e = size ? vmemdup_user(uc->entries, size) : NULL;
	if (IS_ERR(e))
		return PTR_ERR(e);
	/*
	 * Once the vCPU has run, the table may only be set again unchanged
	 * (KVM 6.1): the guest may already have acted on what it saw.
	 */
	if (vcpu->arch.has_run &&
	    (c.nent != vcpu->arch.cpuid_nent ||
	     (size && memcmp(e, vcpu->arch.cpuid, size)))) {
		kvfree(e);
		return -EINVAL;
	}
	kvfree(vcpu->arch.cpuid);
	vcpu->arch.cpuid = e;
	vcpu->arch.cpuid_nent = c.nent;
	return 0;
}

long vmm_x86_get_cpuid2(struct vmm_vcpu *vcpu, struct kvm_cpuid2 __user *uc)
{
	struct kvm_cpuid2 c;

	if (copy_from_user(&c, uc, sizeof(c)))
		return -EFAULT;
	if (c.nent < vcpu->arch.cpuid_nent)
		return -E2BIG;
	if (vcpu->arch.cpuid_nent &&
	    copy_to_user(uc->entries, vcpu->arch.cpuid,
			 vcpu->arch.cpuid_nent * sizeof(*vcpu->arch.cpuid)))
		return -EFAULT;
	c.nent = vcpu->arch.cpuid_nent;
	if (copy_to_user(uc, &c, sizeof(c)))
		return -EFAULT;
	return 0;
}

/* Does the vCPU's CPUID table advertise a feature bit? */
bool vmm_x86_guest_has(struct vmm_vcpu *vcpu, u32 leaf, int reg, int bit)
{
	struct kvm_cpuid_entry2 *e = find(vcpu->arch.cpuid,
					  vcpu->arch.cpuid_nent, leaf, 0);
	u32 regs[4];

	if (!e)
		return false;
	regs[0] = e->eax;
	regs[1] = e->ebx;
	regs[2] = e->ecx;
	regs[3] = e->edx;
	return regs[reg] & BIT(bit);
}

/* Size of the XSAVE area for the components enabled in xcr0. */
static u32 xstate_size(u64 xcr0)
{
	u32 size = 512 + 64, eax, ebx, ecx, edx;
	int i;

	for (i = 2; i < 64; i++) {
		if (!(xcr0 & BIT_ULL(i)))
			continue;
		cpuid_count(0xd, i, &eax, &ebx, &ecx, &edx);
		size = max(size, eax + ebx);
	}
	return size;
}

/*
 * The guest's CPUID: the vCPU's table, with the bits that follow guest
 * state (CR4.OSXSAVE, CR4.PKE, XCR0) filled in now.  A leaf the table
 * lacks reads as zeros, as on AMD hardware past the maximum leaf.
 */
void vmm_x86_cpuid(struct vmm_vcpu *vcpu, u32 leaf, u32 subleaf, u32 *eax,
		   u32 *ebx, u32 *ecx, u32 *edx)
{
	struct kvm_cpuid_entry2 *e = find(vcpu->arch.cpuid,
					  vcpu->arch.cpuid_nent, leaf, subleaf);
	u64 cr4;

	if (!e) {
		*eax = *ebx = *ecx = *edx = 0;
		return;
	}
	*eax = e->eax;
	*ebx = e->ebx;
	*ecx = e->ecx;
	*edx = e->edx;
	cr4 = vmm_ops->get_cr(vcpu, 4);
	if (leaf == 1) {
		*ecx &= ~LEAF1_ECX_OSXSAVE;
		if ((*ecx & LEAF1_ECX_XSAVE) && (cr4 & X86_CR4_OSXSAVE))
			*ecx |= LEAF1_ECX_OSXSAVE;
	} else if (leaf == 7 && subleaf == 0) {
		*ecx &= ~LEAF7_ECX_OSPKE;
		if (cr4 & X86_CR4_PKE)
			*ecx |= LEAF7_ECX_OSPKE;
	} else if (leaf == 0xd && subleaf == 0) {
		*ebx = xstate_size(vcpu->arch.xcr0);
	}
}

/*
 * CR4 bits the guest may not set: those for features its CPUID does not
 * advertise, those the host CPU lacks (VMRUN would refuse them), and the
 * ones vmm never offers (VMX, SMX, CET, PKS).
 */
u64 vmm_x86_cr4_reserved(struct vmm_vcpu *vcpu)
{
	u64 allowed = X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE |
		      X86_CR4_PSE | X86_CR4_PAE | X86_CR4_MCE | X86_CR4_PGE |
		      X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;

#define CR4_IF(bit, leaf, reg, b, hostfeat)				\
	do {								\
		if (vmm_x86_guest_has(vcpu, leaf, reg, b) &&		\
		    boot_cpu_has(hostfeat))				\
			allowed |= (bit);				\
	} while (0)
	CR4_IF(X86_CR4_FSGSBASE, 7, 1, 0, X86_FEATURE_FSGSBASE);
	CR4_IF(X86_CR4_PCIDE, 1, 2, 17, X86_FEATURE_PCID);
	CR4_IF(X86_CR4_OSXSAVE, 1, 2, 26, X86_FEATURE_XSAVE);
	CR4_IF(X86_CR4_SMEP, 7, 1, 7, X86_FEATURE_SMEP);
	CR4_IF(X86_CR4_SMAP, 7, 1, 20, X86_FEATURE_SMAP);
	CR4_IF(X86_CR4_PKE, 7, 2, 3, X86_FEATURE_PKU);
	CR4_IF(X86_CR4_LA57, 7, 2, 16, X86_FEATURE_LA57);
	CR4_IF(X86_CR4_UMIP, 7, 2, 2, X86_FEATURE_UMIP);
#undef CR4_IF
	return ~allowed;
}
