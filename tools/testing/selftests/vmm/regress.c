// SPDX-License-Identifier: GPL-2.0
/*
 * Reproducers of bugs the robustness tools (tools/testing/fuzz) found, one
 * case each, so that they stay fixed. Each case says which tool and seed
 * found it and what the symptom was. Like every selftest they must pass on
 * kvm_amd too.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm_test.h"

GUEST_CODE(done,
	".code64\n"
	"mov $1, %eax\n"
	GUEST_DONE);

/* MXCSR bits no CPU has (SDM 10.2.3: bits 31:16 are reserved). */
#define MXCSR_RESERVED	0xffc00000u

/*
 * ioctl-fuzz -s 1: KVM_SET_FPU accepted an MXCSR with reserved bits on a
 * fresh vCPU (vmm checked it against the MXCSR_MASK field of the guest's
 * FPU image, which is 0 until the hardware saves it, and which
 * KVM_SET_XSAVE takes from userspace) and the next KVM_RUN faulted in the
 * kernel's XRSTOR: "Bad FPU state detected", a WARN. KVM 6.1 ignores
 * kvm_fpu.mxcsr; vmm refuses reserved bits. Either way the FPU state the
 * guest gets must be loadable.
 */
static void check_mxcsr_refused_or_ignored(struct vmm_vcpu *vcpu)
{
	struct kvm_fpu fpu;
	int r;

	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_FPU, &fpu));
	fpu.mxcsr |= MXCSR_RESERVED;
	r = ioctl(vcpu->fd, KVM_SET_FPU, &fpu);
	TEST_ASSERT(r == 0 || errno == EINVAL, "KVM_SET_FPU: %s",
		    strerror(errno));
	vmm_guest_done(vcpu);
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_FPU, &fpu));
	TEST_ASSERT(!(fpu.mxcsr & MXCSR_RESERVED), "MXCSR %#x", fpu.mxcsr);
}

TEST(set_fpu_reserved_mxcsr_fresh_vcpu)
{
	check_mxcsr_refused_or_ignored(vmm_vm_with_vcpu(MODE_LONG64, GUEST(done)));
}

TEST(set_fpu_reserved_mxcsr_after_xsave)
{
	struct vmm_vcpu *vcpu;
	struct kvm_xsave *xs;
	int r;

	if (!vmm_check_cap(KVM_CAP_XSAVE))
		TEST_SKIP("no KVM_CAP_XSAVE");
	vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(done));
	xs = calloc(1, sizeof(*xs));
	TEST_ASSERT(xs, "out of memory");
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_XSAVE, xs));
	/* Bytes 28-31 of the legacy area: MXCSR_MASK, all ones. */
	xs->region[7] = 0xffffffff;
	/* XSTATE_BV (byte 512): x87 and SSE present. */
	xs->region[128] |= 3;
	r = ioctl(vcpu->fd, KVM_SET_XSAVE, xs);
	TEST_ASSERT(r == 0 || errno == EINVAL, "KVM_SET_XSAVE: %s",
		    strerror(errno));
	check_mxcsr_refused_or_ignored(vcpu);
	free(xs);
}

/*
 * guest-chaos -s 0x9999 (guests 4016-4018): OUTS with REX.W exited with
 * io.size 8. Port I/O has no 64-bit operand size: REX.W is ignored by
 * INS/OUTS (SDM Vol. 2B, OUTS: "64-bit operand size is not encodable"),
 * so the access is 32 bits wide.
 */
GUEST_CODE(outs_rexw,
	".code64\n"
	"mov $" S(GUEST_DATA) ", %rsi\n"
	"movl $0x11223344, (%rsi)\n"
	"mov $" S(PORT_REPORT) ", %dx\n"
	".byte 0x48, 0x6f\n"		/* rex.w outsl */
	"mov $" S(GUEST_DATA + 0x100) ", %rdi\n"
	".byte 0x48, 0x6d\n"		/* rex.w insl */
	"mov " S(GUEST_DATA + 0x100) ", %rax\n"
	GUEST_REPORT_RAX
	GUEST_DONE);

TEST(string_io_ignores_rex_w)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(outs_rexw));
	uint64_t poison = 0x8877665544332211ull;

	memcpy(vmm_gpa_to_hva(vcpu->vm, GUEST_DATA + 0x100), &poison, 8);
	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_assert_io(vcpu, KVM_EXIT_IO_OUT, PORT_REPORT, 4, 1);
	TEST_ASSERT_EQ(vmm_io_data(vcpu), 0x11223344);
	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_assert_io(vcpu, KVM_EXIT_IO_IN, PORT_REPORT, 4, 1);
	vmm_io_set_data(vcpu, 0xaabbccdd);
	/* Four bytes stored, the upper half of the quadword untouched. */
	TEST_ASSERT_EQ(vmm_guest_report64(vcpu), 0x88776655aabbccddull);
	vmm_guest_done(vcpu);
}

GUEST_CODE(prot32_done,
	".code32\n"
	"mov $1, %eax\n"
	GUEST_DONE
	".code64\n");

/*
 * guest-chaos -s 5: KVM_SET_SREGS took a CR3 with bits beyond the
 * physical address width while paging was off, and running such a vCPU
 * left the host CPU in guest mode under QEMU's SVM (an RCU stall).  KVM
 * takes the state and VMRUN refuses it (KVM_EXIT_FAIL_ENTRY); vmm refuses
 * it in KVM_SET_SREGS.  Either is fine; the host must survive.
 */
TEST(cr3_beyond_physical_width)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_PROT32,
						 GUEST(prot32_done));
	struct kvm_sregs sregs;

	vmm_get_sregs(vcpu, &sregs);
	sregs.cr3 = 0x8863d9adb8df5000ull;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs)) {
		TEST_ASSERT(errno == EINVAL, "KVM_SET_SREGS: %s",
			    strerror(errno));
		vmm_guest_done(vcpu);
		return;
	}
	vmm_expect_exit(vcpu, KVM_EXIT_FAIL_ENTRY);
}

/*
 * guest-chaos -s 0x78 (irqchip guests 684, 703, 1784): INS and OUTS to a
 * port of the in-kernel PIC (here the ELCR at 0x4d0) exited to userspace
 * as KVM_EXIT_IO instead of reaching the PIC, while IN and OUT went to
 * the PIC. KVM sends string I/O to its in-kernel devices too.
 */
GUEST_CODE(elcr_string_io,
	".code64\n"
	"mov $0x4d0, %edx\n"
	"lea 1f(%rip), %rsi\n"
	"outsb\n"			/* ELCR1 = 0x08: IR3 level-triggered */
	"xor %eax, %eax\n"
	"inb %dx, %al\n"
	GUEST_REPORT_EAX
	"mov $" S(GUEST_DATA) ", %edi\n"
	"movb $0x55, (%rdi)\n"
	"insb\n"
	"movzbl " S(GUEST_DATA) ", %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE
	"1: .byte 0x08\n");

TEST(string_io_reaches_in_kernel_pic)
{
	struct vmm_vcpu *vcpu;
	struct vmm_vm *vm;

	if (vmm_check_cap(KVM_CAP_IRQCHIP) <= 0)
		TEST_SKIP("KVM_CAP_IRQCHIP not advertised");
	vm = vmm_vm_create();
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0));
	vmm_vm_load_code(vm, 0, GUEST(elcr_string_io));
	vcpu = vmm_vcpu_create(vm, 0);
	vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);
	/* A KVM_EXIT_IO for port 0x4d0 fails vmm_guest_report(). */
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x08);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x08);
	vmm_guest_done(vcpu);
}

/*
 * Found reading KVM while modelling KVM_SET_GSI_ROUTING for ioctl-fuzz:
 * vmm took a GSI routed twice to one irqchip, or an MSI route next to
 * another route of its GSI; KVM refuses both (EINVAL).
 */
static int set_routes(int vm_fd, const struct kvm_irq_routing_entry *e,
		      unsigned int n)
{
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[2];
	} rt = { .hdr.nr = n };

	memcpy(rt.e, e, n * sizeof(*e));
	return ioctl(vm_fd, KVM_SET_GSI_ROUTING, &rt);
}

#define ROUTE_CHIP(g, c, p)						\
	{ .gsi = (g), .type = KVM_IRQ_ROUTING_IRQCHIP,			\
	  .u.irqchip = { .irqchip = (c), .pin = (p) } }
#define ROUTE_MSI(g, d)							\
	{ .gsi = (g), .type = KVM_IRQ_ROUTING_MSI,			\
	  .u.msi = { .address_lo = 0xfee00000, .data = (d) } }

TEST(gsi_routing_duplicates_refused)
{
	static const struct kvm_irq_routing_entry ok[] = {
		ROUTE_CHIP(3, KVM_IRQCHIP_PIC_MASTER, 3),
		ROUTE_CHIP(3, KVM_IRQCHIP_IOAPIC, 3),
	}, bad[][2] = {
		{ ROUTE_CHIP(3, KVM_IRQCHIP_IOAPIC, 3),
		  ROUTE_CHIP(3, KVM_IRQCHIP_IOAPIC, 4) },
		{ ROUTE_MSI(5, 0x30), ROUTE_MSI(5, 0x31) },
		{ ROUTE_CHIP(7, KVM_IRQCHIP_IOAPIC, 7), ROUTE_MSI(7, 0x30) },
		{ ROUTE_MSI(7, 0x30), ROUTE_CHIP(7, KVM_IRQCHIP_PIC_MASTER, 7) },
	};
	struct vmm_vm *vm;

	if (vmm_check_cap(KVM_CAP_IRQCHIP) <= 0)
		TEST_SKIP("KVM_CAP_IRQCHIP not advertised");
	vm = vmm_vm_create();
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0));
	TEST_ASSERT_OK(set_routes(vm->fd, ok, 2));
	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++)
		TEST_ASSERT(set_routes(vm->fd, bad[i], 2) == -1 && errno == EINVAL,
			    "table %u: %s", i, strerror(errno));
	vmm_vm_free(vm);
}

/*
 * ioctl-fuzz -s 0x1001 (iteration 15233, about one run in five): KVM_SET_SREGS
 * refused what KVM_GET_SREGS had just returned, after a KVM_EXIT_FAIL_ENTRY.
 * A guest's MOV to CR0 setting NW without CD must raise #GP (APM Vol. 2
 * 3.1.1); QEMU's TCG takes it, then refuses the next VMRUN and writes the
 * host's registers into the VMCB's save area, which vmm returned to
 * userspace: a host kernel RIP, stack, CR3 and CR4.  Now vmm notices and
 * puts the vCPU in its power-on state.  On hardware the guest takes #GP.
 */
GUEST_CODE(cr0_nw_without_cd,
	".code64\n"
	"mov %cr0, %rax\n"
	"bts $29, %rax\n"		/* NW */
	"btr $30, %rax\n"		/* CD */
	"mov %rax, %cr0\n"
	"mov $1, %eax\n"
	GUEST_DONE
	GUEST_LABEL(cr0_gp_handler)
	"mov $0xd, %eax\n"
	GUEST_DONE);
GUEST_LABEL_DECL(cr0_gp_handler);

TEST(refused_entry_returns_no_host_state)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(cr0_nw_without_cd));
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	vmm_vm_set_idt_gate(vcpu->vm, 13,
			    GUEST_LABEL_GPA(cr0_nw_without_cd, cr0_gp_handler));
	vmm_vcpu_load_idt(vcpu);
	TEST_ASSERT_OK(vmm_vcpu_run_raw(vcpu));
	if (vcpu->run->exit_reason == KVM_EXIT_IO) {
		TEST_ASSERT_EQ(vcpu->run->io.port, PORT_DONE);
		vmm_get_regs(vcpu, &regs);
		if ((uint32_t)regs.rax == 0xd) {
			vmm_test_info("the guest took #GP");
			return;
		}
		/* It kept NW without CD: the next entry is the test. */
		TEST_ASSERT_OK(vmm_vcpu_run_raw(vcpu));
		if (vcpu->run->exit_reason == KVM_EXIT_IO) {
			vmm_test_info("an entry with NW without CD worked");
			return;
		}
	}
	TEST_ASSERT_EQ(vcpu->run->exit_reason, KVM_EXIT_FAIL_ENTRY);
	vmm_get_regs(vcpu, &regs);
	vmm_get_sregs(vcpu, &sregs);
	if (access("/sys/module/kvm_amd", F_OK) == 0) {
		/* kvm_amd 6.1 returns what QEMU wrote; only logged. */
		vmm_test_info("after the refused entry: RIP %#llx CR3 %#llx",
			      (unsigned long long)regs.rip,
			      (unsigned long long)sregs.cr3);
		return;
	}
	TEST_ASSERT(regs.rip < (1ull << 47), "RIP %#llx after the refused entry",
		    (unsigned long long)regs.rip);
	TEST_ASSERT(regs.rsp < (1ull << 47), "RSP %#llx after the refused entry",
		    (unsigned long long)regs.rsp);
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_SREGS, &sregs));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_REGS, &regs));
}

TEST_MAIN()
