// SPDX-License-Identifier: GPL-2.0
/*
 * CPU modes set up purely through KVM_SET_SREGS/KVM_SET_REGS, register
 * state round trips, and which inconsistent states KVM_SET_SREGS rejects.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>

#include "vmm_test.h"

#define X86_CR0_PE	(1ull << 0)
#define X86_CR0_NW	(1ull << 29)
#define X86_CR0_CD	(1ull << 30)
#define X86_CR0_PG	(1ull << 31)
#define X86_CR4_PAE	(1ull << 5)
#define EFER_LME	(1ull << 8)
#define EFER_LMA	(1ull << 10)

/*
 * One program, assembled for each mode: arithmetic on 32-bit registers,
 * the stack, a memory round trip through GUEST_DATA, and CS to show the
 * mode it ran in. Real mode reaches GUEST_DATA through DS = 0x2000.
 */
#define MODE_PROGRAM(data_addr)						\
	"mov $0x12345678, %eax\n"					\
	"rol $8, %eax\n"						\
	"add $0x11111111, %eax\n"					\
	GUEST_REPORT_EAX						\
	"mov $0xcafe, %ecx\n"						\
	"push %cx\n"							\
	"push %cx\n"							\
	"pop %bx\n"							\
	"pop %dx\n"							\
	"shl $16, %ebx\n"						\
	"movzwl %dx, %edx\n"						\
	"or %edx, %ebx\n"						\
	"mov %ebx, %eax\n"						\
	GUEST_REPORT_EAX						\
	"movl $0x600dcafe, " data_addr "\n"				\
	"mov " data_addr ", %eax\n"					\
	"not %eax\n"							\
	GUEST_REPORT_EAX						\
	"xor %eax, %eax\n"						\
	"mov %cs, %ax\n"						\
	GUEST_REPORT_EAX						\
	GUEST_DONE

GUEST_CODE(prog_real,
	".code16\n"
	"mov $" S(GUEST_DATA) " >> 4, %ax\n"
	"mov %ax, %ds\n"
	MODE_PROGRAM("0x0"));

GUEST_CODE(prog_prot32,
	".code32\n"
	MODE_PROGRAM(S(GUEST_DATA)));

GUEST_CODE(prog_long64,
	".code64\n"
	MODE_PROGRAM(S(GUEST_DATA)));

static void run_mode_program(enum vmm_mode mode, const unsigned char *start,
			     const unsigned char *end, uint16_t cs)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(mode, start, end);
	struct kvm_sregs sregs;

	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x45678923);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0xcafecafe);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), (uint32_t)~0x600dcafe);
	TEST_ASSERT_EQ(*(uint32_t *)vmm_gpa_to_hva(vcpu->vm, GUEST_DATA),
		       0x600dcafe);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), cs);
	vmm_guest_done(vcpu);

	/* The mode survives running and reads back through GET_SREGS. */
	vmm_get_sregs(vcpu, &sregs);
	TEST_ASSERT_EQ(sregs.cs.selector, cs);
	TEST_ASSERT_EQ(!!(sregs.cr0 & X86_CR0_PE), mode != MODE_REAL);
	TEST_ASSERT_EQ(!!(sregs.cr0 & X86_CR0_PG), mode == MODE_LONG64);
	TEST_ASSERT_EQ(!!(sregs.efer & EFER_LMA), mode == MODE_LONG64);
	TEST_ASSERT_EQ(sregs.cs.l, mode == MODE_LONG64);
}

TEST(real_mode)
{
	run_mode_program(MODE_REAL, GUEST(prog_real), GUEST_CODE_GPA >> 4);
}

TEST(protected_mode)
{
	run_mode_program(MODE_PROT32, GUEST(prog_prot32), SEL_CODE32);
}

TEST(long_mode)
{
	run_mode_program(MODE_LONG64, GUEST(prog_long64), SEL_CODE64);
}

GUEST_CODE(report_regs,
	".code64\n"
	/* RFLAGS first: the reports change the arithmetic flags. */
	"pushfq\n"
	"pop %rdx\n"
	"mov %r15, %rax\n"
	GUEST_REPORT_RAX
	"mov %rbp, %rax\n"
	GUEST_REPORT_RAX
	"mov %r8, %rax\n"
	GUEST_REPORT_RAX
	"mov %rdx, %rax\n"
	GUEST_REPORT_RAX
	GUEST_DONE);

TEST(regs_round_trip)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(report_regs));
	struct kvm_regs regs, back;
	uint64_t *r = (uint64_t *)&regs;

	vmm_get_regs(vcpu, &regs);
	/* Distinct values in every GPR (rip and rflags come after them). */
	for (unsigned int i = 0; i < offsetof(struct kvm_regs, rip) / 8; i++)
		r[i] = 0x0101010101010101ull * (i + 1) ^ 0x8000000000000000ull;
	regs.rsp = GUEST_STACK_TOP;
	regs.rflags = 0x2 | 0x1 | 0x40 | 0x800;	/* CF, ZF, OF */
	vmm_set_regs(vcpu, &regs);
	vmm_get_regs(vcpu, &back);
	TEST_ASSERT(!memcmp(&regs, &back, sizeof(regs)),
		    "GET_REGS differs from SET_REGS");

	/* The guest really runs with them. */
	TEST_ASSERT_EQ(vmm_guest_report64(vcpu), regs.r15);
	TEST_ASSERT_EQ(vmm_guest_report64(vcpu), regs.rbp);
	TEST_ASSERT_EQ(vmm_guest_report64(vcpu), regs.r8);
	TEST_ASSERT_EQ(vmm_guest_report64(vcpu) & 0x8c3, 0x843);
	vmm_guest_done(vcpu);
}

TEST(sregs_round_trip)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(report_regs));
	struct kvm_sregs sregs, back;

	vmm_get_sregs(vcpu, &sregs);
	sregs.cr2 = 0x123456789000ull;
	sregs.idt.base = 0x3000;
	sregs.idt.limit = 0xfff;
	sregs.fs.base = 0x7f0000001000ull;
	sregs.gs.base = 0xffff800000002000ull;
	sregs.fs.selector = sregs.gs.selector = SEL_DATA;
	vmm_set_sregs(vcpu, &sregs);
	vmm_get_sregs(vcpu, &back);
	TEST_ASSERT_EQ(back.cr0, sregs.cr0);
	TEST_ASSERT_EQ(back.cr2, sregs.cr2);
	TEST_ASSERT_EQ(back.cr3, sregs.cr3);
	TEST_ASSERT_EQ(back.cr4, sregs.cr4);
	TEST_ASSERT_EQ(back.efer, sregs.efer);
	TEST_ASSERT_EQ(back.idt.base, sregs.idt.base);
	TEST_ASSERT_EQ(back.idt.limit, sregs.idt.limit);
	TEST_ASSERT_EQ(back.gdt.base, sregs.gdt.base);
	TEST_ASSERT_EQ(back.gdt.limit, sregs.gdt.limit);
	TEST_ASSERT_EQ(back.fs.base, sregs.fs.base);
	TEST_ASSERT_EQ(back.gs.base, sregs.gs.base);
	TEST_ASSERT_EQ(back.cs.selector, SEL_CODE64);
	TEST_ASSERT_EQ(back.cs.l, 1);
	TEST_ASSERT_EQ(back.tr.selector, SEL_TSS);
	TEST_ASSERT_EQ(back.tr.type, 0xb);
	/* Whatever GET_SREGS returns, SET_SREGS takes back unchanged. */
	vmm_set_sregs(vcpu, &back);
	vmm_get_sregs(vcpu, &sregs);
	TEST_ASSERT(!memcmp(&sregs, &back, sizeof(sregs)),
		    "SREGS changed across GET/SET/GET");
}

TEST(reset_state)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	/* A new vCPU is in the architectural reset state (APM vol. 2, 14.1.3). */
	vmm_get_regs(vcpu, &regs);
	vmm_get_sregs(vcpu, &sregs);
	TEST_ASSERT_EQ(regs.rip, 0xfff0);
	TEST_ASSERT_EQ(regs.rflags, 0x2);
	TEST_ASSERT_EQ(sregs.cs.selector, 0xf000);
	TEST_ASSERT_EQ(sregs.cs.base, 0xffff0000);
	TEST_ASSERT_EQ(sregs.cr0, 0x60000010);
	TEST_ASSERT_EQ(sregs.efer, 0);
	TEST_ASSERT_EQ(sregs.idt.limit, 0xffff);
}

/* SET_SREGS must fail with EINVAL and leave the state as it was. */
static void expect_rejected(struct vmm_vcpu *vcpu, const struct kvm_sregs *bad,
			    const char *what)
{
	struct kvm_sregs before, after;

	vmm_get_sregs(vcpu, &before);
	errno = 0;
	TEST_ASSERT(ioctl(vcpu->fd, KVM_SET_SREGS, bad) == -1 &&
		    errno == EINVAL, "%s: accepted (errno %d)", what, errno);
	vmm_get_sregs(vcpu, &after);
	TEST_ASSERT(!memcmp(&before, &after, sizeof(before)),
		    "%s: state changed by a rejected SET_SREGS", what);
}

TEST(sregs_invalid)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_PROT32,
						 GUEST(prog_prot32));
	struct kvm_sregs good, bad;

	vmm_get_sregs(vcpu, &good);

	bad = good;
	bad.cr0 = (bad.cr0 | X86_CR0_PG) & ~X86_CR0_PE;
	expect_rejected(vcpu, &bad, "CR0.PG without CR0.PE");

	bad = good;
	bad.cr0 = (bad.cr0 | X86_CR0_NW) & ~X86_CR0_CD;
	expect_rejected(vcpu, &bad, "CR0.NW without CR0.CD");

	bad = good;
	bad.cr0 |= 1ull << 32;
	expect_rejected(vcpu, &bad, "CR0 bit 32");

	bad = good;
	bad.cr4 |= 1ull << 15;
	expect_rejected(vcpu, &bad, "CR4 reserved bit 15");

	bad = good;
	bad.cr4 |= 1ull << 40;
	expect_rejected(vcpu, &bad, "CR4 bit 40");

	bad = good;
	bad.efer |= EFER_LMA;
	expect_rejected(vcpu, &bad, "EFER.LMA without LME and PG");

	bad = good;
	bad.efer |= EFER_LMA | EFER_LME;
	expect_rejected(vcpu, &bad, "EFER.LMA without CR0.PG");

	bad = good;
	bad.efer |= EFER_LME | EFER_LMA;
	bad.cr0 |= X86_CR0_PG;
	bad.cr3 = GUEST_PML4;
	expect_rejected(vcpu, &bad, "long mode without CR4.PAE");

	bad = good;
	bad.efer |= EFER_LME;
	bad.cr0 |= X86_CR0_PG;
	bad.cr4 |= X86_CR4_PAE;
	bad.cr3 = GUEST_PML4;
	expect_rejected(vcpu, &bad, "EFER.LME and CR0.PG without EFER.LMA");

	bad = good;
	bad.cs.l = 1;
	bad.cs.db = 0;
	expect_rejected(vcpu, &bad, "CS.L outside long mode");

	/* The vCPU still runs the program it was set up for. */
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x45678923);
}

TEST(sregs_valid_odd)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_PROT32,
						 GUEST(prog_prot32));
	struct kvm_sregs sregs;

	/* Unusual but architecturally valid states are accepted. */
	vmm_get_sregs(vcpu, &sregs);
	sregs.efer |= EFER_LME;		/* LME armed, paging still off */
	vmm_set_sregs(vcpu, &sregs);
	sregs.cr0 |= X86_CR0_CD | X86_CR0_NW;
	vmm_set_sregs(vcpu, &sregs);
	sregs.cr0 &= ~(X86_CR0_CD | X86_CR0_NW);
	sregs.efer &= ~EFER_LME;
	vmm_set_sregs(vcpu, &sregs);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x45678923);
}

TEST_MAIN()
