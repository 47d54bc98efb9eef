// SPDX-License-Identifier: GPL-2.0
/*
 * MSRs: the index list, KVM_GET/SET_MSRS and their count-of-processed
 * return value, host round trips of what QEMU saves and restores, the
 * guest's TSC after a host write, and guest RDMSR/WRMSR (known MSRs agree
 * with the host's view, unknown ones raise #GP in the guest).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm_test.h"

#define MSR_IA32_TSC		0x10
#define MSR_KVM_WALL_CLOCK	0x11
#define MSR_KVM_SYSTEM_TIME	0x12
#define MSR_SYSENTER_CS		0x174
#define MSR_SYSENTER_ESP	0x175
#define MSR_SYSENTER_EIP	0x176
#define MSR_MTRR_PHYSBASE0	0x200
#define MSR_MTRR_PHYSMASK0	0x201
#define MSR_MTRR_FIX64K		0x250
#define MSR_MTRR_FIX16K_80000	0x258
#define MSR_MTRR_FIX16K_A0000	0x259
#define MSR_MTRR_FIX4K_C0000	0x268	/* .. 0x26f */
#define MSR_PAT			0x277
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_BOGUS		0xdeadbeef

#define EFER_SCE	(1ull << 0)
#define EFER_LME	(1ull << 8)
#define EFER_LMA	(1ull << 10)

/* A kvm_msrs with room for n entries. */
struct msr_buf {
	struct kvm_msrs hdr;
	struct kvm_msr_entry entries[32];
};

static int msrs_ioctl(struct vmm_vcpu *vcpu, unsigned long req,
		      struct msr_buf *buf, const uint32_t *index,
		      const uint64_t *data, unsigned int n)
{
	TEST_ASSERT(n <= ARRAY_SIZE(buf->entries), "too many MSRs");
	memset(buf, 0, sizeof(*buf));
	buf->hdr.nmsrs = n;
	for (unsigned int i = 0; i < n; i++) {
		buf->entries[i].index = index[i];
		buf->entries[i].data = data ? data[i] : 0;
	}
	return ioctl(vcpu->fd, req, buf);
}

static uint64_t get_msr(struct vmm_vcpu *vcpu, uint32_t index)
{
	struct msr_buf buf;
	int r = msrs_ioctl(vcpu, KVM_GET_MSRS, &buf, &index, NULL, 1);

	TEST_ASSERT(r == 1, "KVM_GET_MSRS(%#x) = %d: %s", index, r,
		    strerror(errno));
	return buf.entries[0].data;
}

static void set_msr(struct vmm_vcpu *vcpu, uint32_t index, uint64_t value)
{
	struct msr_buf buf;
	int r = msrs_ioctl(vcpu, KVM_SET_MSRS, &buf, &index, &value, 1);

	TEST_ASSERT(r == 1, "KVM_SET_MSRS(%#x, %#llx) = %d: %s", index,
		    (unsigned long long)value, r, strerror(errno));
}

TEST(index_list)
{
	int fd = vmm_open_dev();
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *list;
	uint32_t n;

	/* Too small: E2BIG, with the needed count written back. */
	TEST_ASSERT_ERRNO(ioctl(fd, KVM_GET_MSR_INDEX_LIST, &probe), E2BIG);
	n = probe.nmsrs;
	TEST_ASSERT(n > 0 && n < 4096, "nmsrs %u", n);

	list = calloc(1, sizeof(*list) + n * sizeof(list->indices[0]));
	TEST_ASSERT(list, "out of memory");
	list->nmsrs = n;
	TEST_ASSERT_OK(ioctl(fd, KVM_GET_MSR_INDEX_LIST, list));
	TEST_ASSERT_EQ(list->nmsrs, n);

	/* One short is still too small. */
	list->nmsrs = n - 1;
	TEST_ASSERT_ERRNO(ioctl(fd, KVM_GET_MSR_INDEX_LIST, list), E2BIG);
	TEST_ASSERT_EQ(list->nmsrs, n);
	free(list);
	close(fd);
}

/* The return value counts the entries processed before the first failure. */
TEST(partial_count)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	static const uint32_t index[] = {
		MSR_SYSENTER_CS, MSR_BOGUS, MSR_SYSENTER_EIP
	};
	static const uint64_t data[] = { 0x10, 0x1234, 0x5678 };
	struct msr_buf buf;

	TEST_ASSERT_EQ(msrs_ioctl(vcpu, KVM_SET_MSRS, &buf, index, data, 3), 1);
	TEST_ASSERT_EQ(get_msr(vcpu, MSR_SYSENTER_CS), 0x10);
	/* Processing stopped at the bad one: the third was not written. */
	TEST_ASSERT_EQ(get_msr(vcpu, MSR_SYSENTER_EIP), 0);

	TEST_ASSERT_EQ(msrs_ioctl(vcpu, KVM_GET_MSRS, &buf, index, NULL, 3), 1);
	TEST_ASSERT_EQ(buf.entries[0].data, 0x10);

	/* A bad one first: nothing processed. */
	TEST_ASSERT_EQ(msrs_ioctl(vcpu, KVM_SET_MSRS, &buf, index + 1,
				  data + 1, 2), 0);
	TEST_ASSERT_EQ(msrs_ioctl(vcpu, KVM_GET_MSRS, &buf, index + 1,
				  NULL, 2), 0);
	/* All good: all of them. */
	TEST_ASSERT_EQ(msrs_ioctl(vcpu, KVM_GET_MSRS, &buf, index, NULL, 1), 1);
	TEST_ASSERT_EQ(msrs_ioctl(vcpu, KVM_SET_MSRS, &buf, index, data, 1), 1);
	TEST_ASSERT_EQ(msrs_ioctl(vcpu, KVM_GET_MSRS, &buf, index, NULL, 0), 0);
	vmm_vm_free(vm);
}

/* The guest's physical-address width, for MTRR mask reserved bits. */
static unsigned int guest_maxphyaddr(void)
{
	return vmm_cpuid_entry(0x80000008, 0)->eax & 0xff;
}

/* Everything QEMU writes at reset and reads back on every sync. */
TEST(roundtrip)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	uint64_t phys_mask = (1ull << guest_maxphyaddr()) - 1;
	struct {
		uint32_t index;
		uint64_t value;
	} v[] = {
		{ MSR_SYSENTER_CS, 0x0010 },
		/*
		 * 32 bits: for an AMD guest KVM keeps only the low half of
		 * SYSENTER_ESP/EIP, as AMD CPUs do (APM vol. 2, 6.1.1).
		 */
		{ MSR_SYSENTER_ESP, 0x81000000ull },
		{ MSR_SYSENTER_EIP, 0x81001000ull },
		{ MSR_STAR, 0x0023001000000000ull },
		{ MSR_LSTAR, 0xffffffff81002000ull },
		{ MSR_CSTAR, 0xffffffff81003000ull },
		{ MSR_SYSCALL_MASK, 0x47700 },
		{ MSR_KERNEL_GS_BASE, 0xffff888012345000ull },
		/* Types WB, WT, UC-, UC, WC, WP: all valid PAT encodings. */
		{ MSR_PAT, 0x0007050401000406ull },
		{ MSR_EFER, EFER_SCE | EFER_LME | EFER_LMA },
		{ MSR_MTRR_DEF_TYPE, 0xc06 },		/* E, FE, WB */
		{ MSR_MTRR_FIX64K, 0x0606060606060606ull },
		{ MSR_MTRR_FIX16K_80000, 0x0606060606060606ull },
		{ MSR_MTRR_FIX16K_A0000, 0x0000000000000000ull },
		{ MSR_MTRR_FIX4K_C0000, 0x0505050505050505ull },
		{ MSR_MTRR_FIX4K_C0000 + 7, 0x0504010006060606ull },
		{ MSR_MTRR_PHYSBASE0, 0x80000000ull | 0 },	/* UC */
		{ MSR_MTRR_PHYSMASK0, (phys_mask & ~0x7fffffffull) | 0x800 },
		{ MSR_MTRR_PHYSBASE0 + 14, 0x100000006ull },	/* pair 7, WB */
		{ MSR_MTRR_PHYSMASK0 + 14, (phys_mask & ~0xfffffffull) | 0x800 },
		/* The legacy kvmclock MSRs: 0 disables them, as QEMU writes. */
		{ MSR_KVM_WALL_CLOCK, 0 },
		{ MSR_KVM_SYSTEM_TIME, 0 },
	};
	uint32_t index[ARRAY_SIZE(v)];
	uint64_t data[ARRAY_SIZE(v)];
	struct msr_buf buf;
	int r;

	/* EFER.LMA follows the mode; put the vCPU in long mode first. */
	vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);
	for (unsigned int i = 0; i < ARRAY_SIZE(v); i++) {
		index[i] = v[i].index;
		data[i] = v[i].value;
	}
	r = msrs_ioctl(vcpu, KVM_SET_MSRS, &buf, index, data, ARRAY_SIZE(v));
	TEST_ASSERT(r == (int)ARRAY_SIZE(v), "KVM_SET_MSRS stopped at %d "
		    "(MSR %#x)", r, r >= 0 && r < (int)ARRAY_SIZE(v) ?
		    index[r] : 0);
	r = msrs_ioctl(vcpu, KVM_GET_MSRS, &buf, index, NULL, ARRAY_SIZE(v));
	TEST_ASSERT(r == (int)ARRAY_SIZE(v), "KVM_GET_MSRS stopped at %d", r);
	for (unsigned int i = 0; i < ARRAY_SIZE(v); i++)
		TEST_ASSERT(buf.entries[i].data == v[i].value,
			    "MSR %#x: wrote %#llx, read %#llx", v[i].index,
			    (unsigned long long)v[i].value,
			    (unsigned long long)buf.entries[i].data);
	vmm_vm_free(vm);
}

/* The wall-clock MSR takes a GPA and KVM writes the time there at once. */
TEST(kvmclock_wall_clock)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	uint32_t *wc = vmm_gpa_to_hva(vm, GUEST_DATA);

	set_msr(vcpu, MSR_KVM_WALL_CLOCK, GUEST_DATA);
	TEST_ASSERT_EQ(get_msr(vcpu, MSR_KVM_WALL_CLOCK), GUEST_DATA);
	set_msr(vcpu, MSR_KVM_SYSTEM_TIME, GUEST_DATA + 0x100);
	TEST_ASSERT_EQ(get_msr(vcpu, MSR_KVM_SYSTEM_TIME), GUEST_DATA + 0x100);
	vmm_test_info("wall clock: version %u sec %u nsec %u",
		      wc[0], wc[1], wc[2]);
	vmm_vm_free(vm);
}

#define TSC_WRITTEN (1ull << 40)

GUEST_CODE(tsc_guest,
	".code64\n"
	"rdtsc\n"
	"shl $32, %rdx\n"
	"or %rdx, %rax\n"
	GUEST_REPORT_RAX
	"mov $" S(MSR_IA32_TSC) ", %ecx\n"
	"rdmsr\n"
	"shl $32, %rdx\n"
	"or %rdx, %rax\n"
	GUEST_REPORT_RAX
	GUEST_DONE);

/* A host write of IA32_TSC moves the guest's TSC, which then keeps counting. */
TEST(tsc)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(tsc_guest));
	uint64_t t1, t2, t3;

	set_msr(vcpu, MSR_IA32_TSC, TSC_WRITTEN);
	t1 = vmm_guest_report64(vcpu);
	t2 = vmm_guest_report64(vcpu);
	vmm_guest_done(vcpu);
	t3 = get_msr(vcpu, MSR_IA32_TSC);
	vmm_test_info("wrote %#llx, rdtsc %#llx, rdmsr %#llx, host %#llx",
		      TSC_WRITTEN, (unsigned long long)t1,
		      (unsigned long long)t2, (unsigned long long)t3);
	/* 2^36 cycles is tens of seconds: far more than this takes. */
	TEST_ASSERT(t1 >= TSC_WRITTEN && t1 - TSC_WRITTEN < (1ull << 36),
		    "rdtsc %#llx after writing %#llx", (unsigned long long)t1,
		    TSC_WRITTEN);
	TEST_ASSERT(t2 >= t1 && t2 - t1 < (1ull << 36), "rdmsr %#llx", 
		    (unsigned long long)t2);
	TEST_ASSERT(t3 >= t2 && t3 - t2 < (1ull << 36), "host %#llx",
		    (unsigned long long)t3);
}

GUEST_CODE(guest_msr,
	".code64\n"
	"mov $" S(MSR_LSTAR) ", %ecx\n"
	"rdmsr\n"
	"shl $32, %rdx\n"
	"or %rdx, %rax\n"
	GUEST_REPORT_RAX
	/* STAR = 0x0013000800001234 */
	"mov $" S(MSR_STAR) ", %ecx\n"
	"mov $0x00130008, %edx\n"
	"mov $0x1234, %eax\n"
	"wrmsr\n"
	"mov $" S(MSR_SYSENTER_ESP) ", %ecx\n"
	"xor %edx, %edx\n"
	"mov $0x81234000, %eax\n"
	"wrmsr\n"
	GUEST_DONE);

/* MSRs the guest reads and writes agree with KVM_GET/SET_MSRS. */
TEST(guest_known)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(guest_msr));

	set_msr(vcpu, MSR_LSTAR, 0xffffffff8abcd000ull);
	TEST_ASSERT_EQ(vmm_guest_report64(vcpu), 0xffffffff8abcd000ull);
	vmm_guest_done(vcpu);
	TEST_ASSERT_EQ(get_msr(vcpu, MSR_STAR), 0x0013000800001234ull);
	TEST_ASSERT_EQ(get_msr(vcpu, MSR_SYSENTER_ESP), 0x81234000ull);
}

/*
 * #GP handler: reports the error code and the vector, then skips the
 * two-byte RDMSR/WRMSR that faulted.
 */
GUEST_CODE(guest_bogus,
	".code64\n"
	"mov $" S(MSR_BOGUS) ", %ecx\n"
	"rdmsr\n"
	"mov $0x1111, %eax\n"
	GUEST_REPORT_EAX
	"mov $" S(MSR_BOGUS) ", %ecx\n"
	"xor %eax, %eax\n"
	"xor %edx, %edx\n"
	"wrmsr\n"
	"mov $0x2222, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE
	GUEST_LABEL(msr_gp_handler)
	"pop %rax\n"
	GUEST_REPORT_EAX
	"mov $13, %eax\n"
	GUEST_REPORT_EAX
	"addq $2, (%rsp)\n"
	"iretq\n");
GUEST_LABEL_DECL(msr_gp_handler);

TEST(guest_unknown_gp)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(guest_bogus));

	vmm_vm_set_idt_gate(vcpu->vm, 13,
			    GUEST_LABEL_GPA(guest_bogus, msr_gp_handler));
	vmm_vcpu_load_idt(vcpu);
	for (int i = 0; i < 2; i++) {
		TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0);	/* error code */
		TEST_ASSERT_EQ(vmm_guest_report(vcpu), 13);
		TEST_ASSERT_EQ(vmm_guest_report(vcpu), i ? 0x2222 : 0x1111);
	}
	vmm_guest_done(vcpu);
}

/*
 * EFER.LMA is the processor's: a host write keeps it as it is, as KVM
 * does (the mode itself is KVM_SET_SREGS's business).
 */
TEST(efer_host_write_keeps_lma)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);

	set_msr(vcpu, MSR_EFER, EFER_SCE | EFER_LME | EFER_LMA);
	TEST_ASSERT_EQ(get_msr(vcpu, MSR_EFER), EFER_SCE | EFER_LME);
	vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);
	set_msr(vcpu, MSR_EFER, EFER_SCE);
	TEST_ASSERT_EQ(get_msr(vcpu, MSR_EFER), EFER_SCE | EFER_LMA);
	vmm_vm_free(vm);
}

/*
 * With paging on, a guest's WRMSR that changes EFER.LME takes #GP (APM
 * Vol. 2 14.6.1); one that keeps it (here: SCE toggled) is taken.
 */
GUEST_CODE(guest_efer,
	".code64\n"
	"mov $" S(MSR_EFER) ", %ecx\n"
	"rdmsr\n"
	"mov %eax, %esi\n"
	"and $~0x100, %eax\n"	/* LME */
	"wrmsr\n"
	"mov $0x1111, %eax\n"
	GUEST_REPORT_EAX
	"mov %esi, %eax\n"
	"xor $0x1, %eax\n"	/* SCE */
	"wrmsr\n"
	"rdmsr\n"
	GUEST_REPORT_EAX
	GUEST_DONE
	GUEST_LABEL(efer_gp_handler)
	"pop %rax\n"
	"mov $13, %eax\n"
	GUEST_REPORT_EAX
	"addq $2, (%rsp)\n"
	"iretq\n");
GUEST_LABEL_DECL(efer_gp_handler);

TEST(guest_efer_lme_with_paging_gp)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(guest_efer));
	uint64_t efer = get_msr(vcpu, MSR_EFER);

	vmm_vm_set_idt_gate(vcpu->vm, 13,
			    GUEST_LABEL_GPA(guest_efer, efer_gp_handler));
	vmm_vcpu_load_idt(vcpu);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 13);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x1111);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), (uint32_t)(efer ^ EFER_SCE));
	vmm_guest_done(vcpu);
	TEST_ASSERT_EQ(get_msr(vcpu, MSR_EFER), efer ^ EFER_SCE);
}

/*
 * IA32_MISC_ENABLE: Linux reads it early on an Intel CPU (verify_cpu) with
 * no IDT yet. The PMU bits are read-only to the guest (#GP on a change),
 * the rest is stored as written.
 */
#define MISC_ENABLE		0x1a0
#define MISC_PMU_BITS		((1u << 11) | (1u << 12))	/* BTS, PEBS unavail */

GUEST_CODE(guest_misc_enable,
	".code64\n"
	"mov $" S(MISC_ENABLE) ", %ecx\n"
	"rdmsr\n"
	GUEST_REPORT_EAX
	"or $1, %eax\n"			/* fast strings */
	"wrmsr\n"
	"rdmsr\n"
	GUEST_REPORT_EAX
	"xor $" S(MISC_PMU_BITS) ", %eax\n"	/* faults */
	"wrmsr\n"
	"rdmsr\n"
	GUEST_REPORT_EAX
	GUEST_DONE
	GUEST_LABEL(misc_gp_handler)
	"pop %rax\n"
	"mov $13, %eax\n"
	GUEST_REPORT_EAX
	"addq $2, (%rsp)\n"
	"iretq\n");
GUEST_LABEL_DECL(misc_gp_handler);

TEST(misc_enable)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(guest_misc_enable));
	uint32_t v;

	vmm_vm_set_idt_gate(vcpu->vm, 13,
			    GUEST_LABEL_GPA(guest_misc_enable, misc_gp_handler));
	vmm_vcpu_load_idt(vcpu);
	v = vmm_guest_report(vcpu);
	TEST_ASSERT(v & MISC_PMU_BITS, "MISC_ENABLE %#x: no PMU bits", v);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), v | 1);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 13);	/* the #GP */
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), v | 1);
	vmm_guest_done(vcpu);
	TEST_ASSERT_EQ(get_msr(vcpu, MISC_ENABLE), (uint64_t)(v | 1));
	/* Userspace restores any value (QEMU does at reset). */
	set_msr(vcpu, MISC_ENABLE, 1);
	TEST_ASSERT_EQ(get_msr(vcpu, MISC_ENABLE), 1);
}

TEST_MAIN()
