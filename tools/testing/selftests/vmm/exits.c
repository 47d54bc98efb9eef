// SPDX-License-Identifier: GPL-2.0
/*
 * Exits to userspace: port I/O (single and string), MMIO reads and writes,
 * HLT, SHUTDOWN, failed VM entry, emulation failure, and CPUID staying in
 * the kernel.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>

#include "vmm_test.h"

/* ---- port I/O ---------------------------------------------------------- */

GUEST_CODE(io_out,
	".code64\n"
	"mov $0x5a, %al\n"
	"out %al, $0x10\n"
	"mov $0x1234, %ax\n"
	"out %ax, $0x10\n"
	"mov $0xdeadbeef, %eax\n"
	"out %eax, $0x10\n"
	/* A 16-bit port number needs DX. */
	"mov $0x3f8, %dx\n"
	"mov $0x77, %al\n"
	"out %al, %dx\n"
	GUEST_DONE);

TEST(io_out)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(io_out));

	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_assert_io(vcpu, KVM_EXIT_IO_OUT, 0x10, 1, 1);
	TEST_ASSERT_EQ(vmm_io_data(vcpu), 0x5a);
	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_assert_io(vcpu, KVM_EXIT_IO_OUT, 0x10, 2, 1);
	TEST_ASSERT_EQ(vmm_io_data(vcpu), 0x1234);
	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_assert_io(vcpu, KVM_EXIT_IO_OUT, 0x10, 4, 1);
	TEST_ASSERT_EQ(vmm_io_data(vcpu), 0xdeadbeef);
	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_assert_io(vcpu, KVM_EXIT_IO_OUT, 0x3f8, 1, 1);
	TEST_ASSERT_EQ(vmm_io_data(vcpu), 0x77);
	vmm_guest_done(vcpu);
}

/*
 * Each IN is completed by the next KVM_RUN from the data the host left in
 * kvm_run; the guest stops at DONE so the host can read RAX with GET_REGS.
 */
GUEST_CODE(io_in,
	".code64\n"
	"mov $-1, %rax\n"
	"in $0x11, %al\n"
	GUEST_DONE
	"mov $-1, %rax\n"
	"in $0x11, %ax\n"
	GUEST_DONE
	"mov $-1, %rax\n"
	"mov $0x1234, %dx\n"
	"in %dx, %eax\n"
	GUEST_DONE);

TEST(io_in)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(io_in));
	static const struct {
		uint16_t port;
		uint8_t size;
		uint64_t rax;
	} steps[] = {
		{ 0x11, 1, 0xffffffffffffff5aull },
		{ 0x11, 2, 0xffffffffffff5a5bull },
		/* A 32-bit result zero-extends into RAX in 64-bit mode. */
		{ 0x1234, 4, 0x00000000cafe5a5bull },
	};
	static const uint32_t data[] = { 0x5a, 0x5a5b, 0xcafe5a5b };
	struct kvm_regs regs;

	for (unsigned int i = 0; i < ARRAY_SIZE(steps); i++) {
		vmm_expect_exit(vcpu, KVM_EXIT_IO);
		vmm_assert_io(vcpu, KVM_EXIT_IO_IN, steps[i].port,
			      steps[i].size, 1);
		vmm_io_set_data(vcpu, data[i]);
		vmm_guest_done(vcpu);
		vmm_get_regs(vcpu, &regs);
		TEST_ASSERT_EQ(regs.rax, steps[i].rax);
	}
}

#define STR_SRC		GUEST_DATA
#define STR_SRC_W	(GUEST_DATA + 0x100)
#define STR_DST		(GUEST_DATA + 0x200)

GUEST_CODE(io_string,
	".code64\n"
	"cld\n"
	"mov $" S(STR_SRC) ", %rsi\n"
	"mov $8, %rcx\n"
	"mov $0x20, %dx\n"
	"rep outsb\n"
	"mov $" S(STR_SRC_W) ", %rsi\n"
	"mov $4, %rcx\n"
	"rep outsw\n"
	"mov $" S(STR_DST) ", %rdi\n"
	"mov $8, %rcx\n"
	"mov $0x21, %dx\n"
	"rep insb\n"
	GUEST_DONE);

/*
 * Collects the bytes of a string OUT. KVM may split it over several exits,
 * each carrying count elements at data_offset in the kvm_run mapping.
 */
static void collect_outs(struct vmm_vcpu *vcpu, uint16_t port, uint8_t size,
			 uint8_t *buf, uint32_t elems)
{
	uint32_t got = 0;

	while (got < elems) {
		struct kvm_run *run = vcpu->run;

		vmm_expect_exit(vcpu, KVM_EXIT_IO);
		TEST_ASSERT(run->io.direction == KVM_EXIT_IO_OUT &&
			    run->io.port == port && run->io.size == size &&
			    run->io.count >= 1 &&
			    run->io.count <= elems - got,
			    "bad string out: %s", vmm_exit_describe(vcpu));
		TEST_ASSERT(run->io.data_offset >= sizeof(*run) &&
			    run->io.data_offset + run->io.count * size <=
			    vcpu->vm->run_size,
			    "data_offset %#llx outside the mapping",
			    (unsigned long long)run->io.data_offset);
		memcpy(buf + got * size, (char *)run + run->io.data_offset,
		       run->io.count * size);
		got += run->io.count;
	}
}

TEST(io_string)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(io_string));
	struct vmm_vm *vm = vcpu->vm;
	static const char in[] = "ZYXWVUTS";
	uint8_t buf[16] = { 0 };
	struct kvm_regs regs;
	uint32_t got = 0;

	memcpy(vmm_gpa_to_hva(vm, STR_SRC), "abcdefgh", 8);
	memcpy(vmm_gpa_to_hva(vm, STR_SRC_W), "\x01\x02\x03\x04\x05\x06\x07\x08",
	       8);

	collect_outs(vcpu, 0x20, 1, buf, 8);
	TEST_ASSERT(!memcmp(buf, "abcdefgh", 8), "outsb data '%.8s'", buf);
	collect_outs(vcpu, 0x20, 2, buf, 4);
	TEST_ASSERT(!memcmp(buf, "\x01\x02\x03\x04\x05\x06\x07\x08", 8),
		    "outsw data");

	while (got < 8) {
		struct kvm_run *run = vcpu->run;

		vmm_expect_exit(vcpu, KVM_EXIT_IO);
		TEST_ASSERT(run->io.direction == KVM_EXIT_IO_IN &&
			    run->io.port == 0x21 && run->io.size == 1 &&
			    run->io.count >= 1 && run->io.count <= 8 - got,
			    "bad string in: %s", vmm_exit_describe(vcpu));
		memcpy((char *)run + run->io.data_offset, in + got,
		       run->io.count);
		got += run->io.count;
	}
	vmm_guest_done(vcpu);
	TEST_ASSERT(!memcmp(vmm_gpa_to_hva(vm, STR_DST), in, 8),
		    "guest got '%.8s'", (char *)vmm_gpa_to_hva(vm, STR_DST));
	vmm_get_regs(vcpu, &regs);
	TEST_ASSERT_EQ(regs.rcx, 0);
	TEST_ASSERT_EQ(regs.rdi, STR_DST + 8);
	TEST_ASSERT_EQ(regs.rsi, STR_SRC_W + 8);
}

/* ---- MMIO -------------------------------------------------------------- */

struct mmio_step {
	bool is_write;
	uint32_t offset;	/* from the MMIO base */
	uint8_t len;
	uint64_t data;		/* written by the guest, or returned to it */
	uint64_t reported;	/* what the guest reports after a read */
};

/* Runs a guest through the steps: a write exit, or a read exit + report. */
static void run_mmio_steps(struct vmm_vcpu *vcpu, uint64_t base,
			   const struct mmio_step *steps, unsigned int n,
			   bool report64)
{
	struct kvm_run *run = vcpu->run;

	for (unsigned int i = 0; i < n; i++) {
		const struct mmio_step *s = &steps[i];
		uint64_t data = 0;

		vmm_expect_exit(vcpu, KVM_EXIT_MMIO);
		TEST_ASSERT(run->mmio.is_write == s->is_write &&
			    run->mmio.phys_addr == base + s->offset &&
			    run->mmio.len == s->len,
			    "step %u: expected %s gpa %#llx len %u, got %s", i,
			    s->is_write ? "write" : "read",
			    (unsigned long long)(base + s->offset), s->len,
			    vmm_exit_describe(vcpu));
		if (s->is_write) {
			memcpy(&data, run->mmio.data, s->len);
			TEST_ASSERT(data == s->data,
				    "step %u: wrote %#llx, expected %#llx", i,
				    (unsigned long long)data,
				    (unsigned long long)s->data);
			continue;
		}
		memcpy(run->mmio.data, &s->data, s->len);
		data = report64 ? vmm_guest_report64(vcpu) :
				  vmm_guest_report(vcpu);
		TEST_ASSERT(data == s->reported,
			    "step %u: guest read %#llx, expected %#llx", i,
			    (unsigned long long)data,
			    (unsigned long long)s->reported);
	}
	vmm_guest_done(vcpu);
}

GUEST_CODE(mmio_long,
	".code64\n"
	"mov $" S(GUEST_MMIO) ", %rbx\n"
	/* Loads of every size; narrow ones keep the rest of RAX. */
	"mov $-1, %rax\n"
	"mov 0x1(%rbx), %al\n"
	GUEST_REPORT_RAX
	"mov $-1, %rax\n"
	"mov 0x2(%rbx), %ax\n"
	GUEST_REPORT_RAX
	"mov $-1, %rax\n"
	"mov 0x4(%rbx), %eax\n"
	GUEST_REPORT_RAX
	"mov 0x8(%rbx), %rax\n"
	GUEST_REPORT_RAX
	"mov $-1, %rax\n"
	"movzbl 0x10(%rbx), %eax\n"
	GUEST_REPORT_RAX
	"movsbq 0x11(%rbx), %rax\n"
	GUEST_REPORT_RAX
	"mov $-1, %rax\n"
	"movzwl 0x12(%rbx), %eax\n"
	GUEST_REPORT_RAX
	/* Stores from registers and immediates. */
	"mov $0x11, %al\n"
	"mov %al, 0x20(%rbx)\n"
	"movw $0x2211, 0x22(%rbx)\n"
	"mov $0x44332211, %eax\n"
	"mov %eax, 0x24(%rbx)\n"
	"movabs $0x8877665544332211, %rax\n"
	"mov %rax, 0x28(%rbx)\n"
	"movq $-2, 0x30(%rbx)\n"
	"movl $0xcafef00d, 0x38(%rbx)\n"
	"movb $0x99, 0xfff(%rbx)\n"
	GUEST_DONE);

TEST(mmio_long)
{
	static const struct mmio_step steps[] = {
		{ false, 0x1, 1, 0x11, 0xffffffffffffff11ull },
		{ false, 0x2, 2, 0x2211, 0xffffffffffff2211ull },
		{ false, 0x4, 4, 0x44332211, 0x44332211 },
		{ false, 0x8, 8, 0x8877665544332211ull, 0x8877665544332211ull },
		{ false, 0x10, 1, 0xfe, 0xfe },
		{ false, 0x11, 1, 0x81, 0xffffffffffffff81ull },
		{ false, 0x12, 2, 0x8001, 0x8001 },
		{ true, 0x20, 1, 0x11, 0 },
		{ true, 0x22, 2, 0x2211, 0 },
		{ true, 0x24, 4, 0x44332211, 0 },
		{ true, 0x28, 8, 0x8877665544332211ull, 0 },
		{ true, 0x30, 8, 0xfffffffffffffffeull, 0 },
		{ true, 0x38, 4, 0xcafef00d, 0 },
		{ true, 0xfff, 1, 0x99, 0 },
	};
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(mmio_long));

	run_mmio_steps(vcpu, GUEST_MMIO, steps, ARRAY_SIZE(steps), true);
}

/*
 * MOVS between MMIO and RAM at the same page offset: the GPA of the nested
 * fault belongs to the MMIO access alone, and applying it to the RAM side
 * would turn that access into a second MMIO exit.
 */
#define SAME_OFF_RAM	(GUEST_DATA + 0x3000)

GUEST_CODE(mmio_same_offset,
	".code64\n"
	"mov $" S(GUEST_MMIO) ", %rbx\n"
	"cld\n"
	/* MOVSQ from MMIO+0x80 to RAM+0x80. */
	"lea 0x80(%rbx), %rsi\n"
	"mov $" S(SAME_OFF_RAM) " + 0x80, %rdi\n"
	"movsq\n"
	"mov " S(SAME_OFF_RAM) " + 0x80, %rax\n"
	GUEST_REPORT_RAX
	/* MOVSL from RAM+0x100 to MMIO+0x100. */
	"movl $0x5a5aa5a5, " S(SAME_OFF_RAM) " + 0x100\n"
	"mov $" S(SAME_OFF_RAM) " + 0x100, %rsi\n"
	"lea 0x100(%rbx), %rdi\n"
	"movsl\n"
	GUEST_DONE);

TEST(mmio_same_offset)
{
	static const struct mmio_step steps[] = {
		{ false, 0x80, 8, 0x0123456789abcdefull, 0x0123456789abcdefull },
		{ true, 0x100, 4, 0x5a5aa5a5, 0 },
	};
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(mmio_same_offset));

	run_mmio_steps(vcpu, GUEST_MMIO, steps, ARRAY_SIZE(steps), true);
}

/* Real mode reaches the legacy hole at 0xa0000 through DS = 0xa000. */
GUEST_CODE(mmio_real,
	".code16\n"
	"mov $0xa000, %ax\n"
	"mov %ax, %ds\n"
	"movb $0x11, 0x10\n"
	"movw $0x2211, 0x12\n"
	"movl $0x44332211, 0x14\n"
	"mov $0x55, %al\n"
	"mov %al, 0x18\n"
	"mov $0xffffffff, %eax\n"
	"mov 0x20, %al\n"
	GUEST_REPORT_EAX
	"mov $0xffffffff, %eax\n"
	"mov 0x22, %ax\n"
	GUEST_REPORT_EAX
	"mov 0x24, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE);

TEST(mmio_real)
{
	static const struct mmio_step steps[] = {
		{ true, 0x10, 1, 0x11, 0 },
		{ true, 0x12, 2, 0x2211, 0 },
		{ true, 0x14, 4, 0x44332211, 0 },
		{ true, 0x18, 1, 0x55, 0 },
		{ false, 0x20, 1, 0x7f, 0xffffff7f },
		{ false, 0x22, 2, 0x1234, 0xffff1234 },
		{ false, 0x24, 4, 0xdeadbeef, 0xdeadbeef },
	};
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_REAL, GUEST(mmio_real));

	run_mmio_steps(vcpu, 0xa0000, steps, ARRAY_SIZE(steps), false);
}

/* ---- HLT, SHUTDOWN, entry and emulation failures ------------------------- */

GUEST_CODE(hlt,
	".code64\n"
	"mov $0x42, %eax\n"
	"hlt\n"
	".globl hlt_after\n"
	"hlt_after:\n"
	"add $1, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE);
extern const unsigned char hlt_after[];

TEST(hlt)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(hlt));
	struct kvm_regs regs;

	/* Without an in-kernel LAPIC, HLT goes to userspace. */
	vmm_expect_exit(vcpu, KVM_EXIT_HLT);
	vmm_get_regs(vcpu, &regs);
	TEST_ASSERT_EQ(regs.rip, GUEST_CODE_GPA + (hlt_after - hlt_start));
	TEST_ASSERT_EQ(regs.rax, 0x42);
	/* The next KVM_RUN simply continues after the HLT. */
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x43);
	vmm_guest_done(vcpu);
}

GUEST_CODE(triple_fault_long,
	".code64\n"
	"ud2\n"
	GUEST_DONE);

GUEST_CODE(triple_fault_prot32,
	".code32\n"
	"ud2\n"
	GUEST_DONE);

GUEST_CODE(triple_fault_real,
	".code16\n"
	/* An IDT limit of 0 makes even real mode's INT fault. */
	"lidt %cs:(idt_empty - triple_fault_real_start)\n"
	"int $0x80\n"
	GUEST_DONE
	"idt_empty: .word 0\n"
	".long 0\n");

/* Without an IDT every exception becomes #DF, then a triple fault. */
TEST(shutdown_long)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(triple_fault_long));

	vmm_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
}

TEST(shutdown_prot32)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_PROT32,
						 GUEST(triple_fault_prot32));

	vmm_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
}

/* Short timeout: nested under some hypervisors this one never exits. */
TEST_TIMEOUT(shutdown_real, 10)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_REAL,
						 GUEST(triple_fault_real));

	vmm_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
}

GUEST_CODE(cpuid,
	".code64\n"
	"xor %eax, %eax\n"
	"xor %ecx, %ecx\n"
	"cpuid\n"
	"mov %ebx, %esi\n"
	"mov %ecx, %edi\n"
	GUEST_REPORT_EAX
	"mov %esi, %eax\n"
	GUEST_REPORT_EAX
	"mov %edx, %eax\n"
	GUEST_REPORT_EAX
	"mov %edi, %eax\n"
	GUEST_REPORT_EAX
	"mov $0x80000000, %eax\n"
	"cpuid\n"
	GUEST_REPORT_EAX
	GUEST_DONE);

TEST(cpuid)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(cpuid));
	const struct kvm_cpuid_entry2 *leaf0 = vmm_cpuid_entry(0, 0);
	const struct kvm_cpuid_entry2 *ext = vmm_cpuid_entry(0x80000000, 0);

	/* CPUID never leaves the kernel: the next exits are the reports. */
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), leaf0->eax);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), leaf0->ebx);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), leaf0->edx);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), leaf0->ecx);
	TEST_ASSERT(leaf0->eax >= 1 && leaf0->ebx, "leaf 0 is empty");
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), ext->eax);
	TEST_ASSERT(ext->eax >= 0x80000001, "no extended leaves");
	vmm_guest_done(vcpu);
}

/*
 * Instructions that cross a page boundary, to where the next virtual page
 * maps a guest-physical page that is not the next one: the kernel must
 * translate each page of the fetch (under QEMU's TCG, which has no NRIP,
 * it decodes every CPUID to skip it). The physical neighbours hold bytes
 * that would decode as another instruction: MOV %ecx instead of %eax, and
 * SETO (3 bytes) instead of CPUID (2).
 */
#define SPLIT_VA	0x40000000ull	/* PD 1, entry 0: 4 KiB pages */
#define SPLIT_PT	(GUEST_DATA + 0x10000)
#define SPLIT_A		(GUEST_DATA + 0x11000)	/* VA page 0 */
#define SPLIT_B		(GUEST_DATA + 0x15000)	/* VA page 1 */
#define SPLIT_C		(GUEST_DATA + 0x18000)	/* VA page 2 */

GUEST_CODE(split_insn,
	".code64\n"
	"mov $0xdeadbeef, %eax\n"
	"mov $0x12345678, %ecx\n"
	"mov $" S(GUEST_MMIO) ", %rbx\n"
	"movabs $" S(SPLIT_VA) " + 0xfff, %rdx\n"
	"jmp *%rdx\n");

GUEST_CODE(split_tail,
	".code64\n"
	"mov %ebx, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE);

TEST(insn_across_pages)
{
	static const uint8_t nops_cpuid_leaf0[] = { 0x31, 0xc0, 0x31, 0xc9 };
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(split_insn));
	const struct kvm_cpuid_entry2 *leaf0 = vmm_cpuid_entry(0, 0);
	struct vmm_vm *vm = vcpu->vm;
	uint64_t *pd1 = vmm_gpa_to_hva(vm, GUEST_PML4 + 0x3000);
	uint64_t *pt = vmm_gpa_to_hva(vm, SPLIT_PT);
	uint8_t *a = vmm_gpa_to_hva(vm, SPLIT_A);
	uint8_t *b = vmm_gpa_to_hva(vm, SPLIT_B);
	uint8_t *c = vmm_gpa_to_hva(vm, SPLIT_C);
	struct kvm_run *run = vcpu->run;
	size_t tail = split_tail_end - split_tail_start;
	uint32_t data = 0;

	pd1[0] = SPLIT_PT | 0x3;
	pt[0] = SPLIT_A | 0x3;
	pt[1] = SPLIT_B | 0x3;
	pt[2] = SPLIT_C | 0x3;
	/* MOV %eax, (%rbx) = 89 03 over pages 0 and 1; after it, NOPs. */
	a[0xfff] = 0x89;
	b[0] = 0x03;
	memset(b + 1, 0x90, 0xffe);
	/* XOR %eax, %eax; XOR %ecx, %ecx; CPUID = 0f a2 over pages 1 and 2. */
	memcpy(b + 0xffa, nops_cpuid_leaf0, sizeof(nops_cpuid_leaf0));
	b[0xffe] = 0x90;
	b[0xfff] = 0x0f;
	c[0] = 0xa2;
	memcpy(c + 1, split_tail_start, tail);
	/* The physical pages that follow A and B. */
	((uint8_t *)vmm_gpa_to_hva(vm, SPLIT_A + 0x1000))[0] = 0x0b;
	memset(vmm_gpa_to_hva(vm, SPLIT_B + 0x1000), 0x90, 16);

	vmm_expect_exit(vcpu, KVM_EXIT_MMIO);
	TEST_ASSERT(run->mmio.is_write && run->mmio.phys_addr == GUEST_MMIO &&
		    run->mmio.len == 4, "expected a 4-byte write at %#llx, got %s",
		    (unsigned long long)GUEST_MMIO, vmm_exit_describe(vcpu));
	memcpy(&data, run->mmio.data, 4);
	TEST_ASSERT_EQ(data, 0xdeadbeef);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), leaf0->ebx);
	vmm_guest_done(vcpu);
}

GUEST_CODE(fail_entry,
	".code64\n"
	GUEST_DONE);

TEST(fail_entry)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(fail_entry));
	struct kvm_sregs sregs;
	uint64_t reason;

	/*
	 * A reserved EFER bit: the hardware refuses it at VMRUN (APM vol. 2,
	 * 15.5.1, VMEXIT_INVALID) or VM entry (SDM vol. 3, 27.3.1.1).  KVM
	 * 6.1 takes it in KVM_SET_SREGS and reports KVM_EXIT_FAIL_ENTRY;
	 * vmm refuses it up front with EINVAL (Documentation/api.rst).  One
	 * of the two must happen, and the guest must never run.
	 */
	vmm_get_sregs(vcpu, &sregs);
	sregs.efer |= 1ull << 63;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs)) {
		TEST_ASSERT_EQ(errno, EINVAL);
		vmm_get_sregs(vcpu, &sregs);
		TEST_ASSERT(!(sregs.efer & (1ull << 63)),
			    "refused EFER was stored: %llx", sregs.efer);
		return;
	}
	vmm_expect_exit(vcpu, KVM_EXIT_FAIL_ENTRY);
	reason = vcpu->run->fail_entry.hardware_entry_failure_reason;
	if (vmm_cpu_is_intel())
		/* Basic exit reason 33 with bit 31: invalid guest state. */
		TEST_ASSERT_EQ(reason, 0x80000021);
	else
		/* SVM_EXIT_ERR, truncated to the 32 bits KVM 6.1 reports. */
		TEST_ASSERT_EQ(reason, 0xffffffff);
}

GUEST_CODE(emulation_failure,
	".code64\n"
	"mov $" S(GUEST_MMIO) ", %rbx\n"
	".globl crc32_insn\n"
	"crc32_insn:\n"
	"crc32b (%rbx), %eax\n"
	GUEST_DONE);
extern const unsigned char crc32_insn[];

TEST(emulation_failure)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(emulation_failure));
	struct kvm_run *run = vcpu->run;

	/*
	 * An MMIO access must be emulated, and KVM's emulator has no CRC32:
	 * at CPL 0 that is an internal error exit, not an MMIO exit.
	 */
	vmm_expect_exit(vcpu, KVM_EXIT_INTERNAL_ERROR);
	TEST_ASSERT_EQ(run->internal.suberror, KVM_INTERNAL_ERROR_EMULATION);
	/* If the instruction bytes are reported, they must be the CRC32's. */
	if (run->emulation_failure.ndata >= 2 &&
	    (run->emulation_failure.flags &
	     KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		TEST_ASSERT(run->emulation_failure.insn_size >= 5,
			    "insn_size %u", run->emulation_failure.insn_size);
		TEST_ASSERT(!memcmp(run->emulation_failure.insn_bytes,
				    crc32_insn, 5),
			    "wrong instruction bytes");
	}
}

TEST_MAIN()
