// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel irqchip as QEMU uses it by default (KVM_CREATE_IRQCHIP):
 * the local APIC (timer, EOI, IPIs, INIT/SIPI, in-kernel HLT), the IOAPIC
 * and MSIs fed by KVM_IRQ_LINE_STATUS / KVM_SIGNAL_MSI, the PIC with the
 * PIT of KVM_CREATE_PIT2, and the state ioctls.  Guests are 64-bit and
 * reach the APIC at 0xfee00000 and the IOAPIC at 0xfec00000 through the
 * library's identity map.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm_test.h"

#define APIC_BASE	0xfee00000
#define IOAPIC_BASE	0xfec00000
#define FLAG		GUEST_DATA	/* the handlers write the vector here */

static void require_irqchip(void)
{
	if (vmm_check_cap(KVM_CAP_IRQCHIP) <= 0)
		TEST_SKIP("KVM_CAP_IRQCHIP not advertised");
}

/* A VM with the irqchip and one 64-bit vCPU running code at offset 0. */
static struct vmm_vcpu *irqchip_vcpu(const unsigned char *start,
				     const unsigned char *end)
{
	struct vmm_vm *vm;
	struct vmm_vcpu *vcpu;

	require_irqchip();
	vm = vmm_vm_create();
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0));
	vmm_vm_load_code(vm, 0, start, end);
	vcpu = vmm_vcpu_create(vm, 0);
	vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);
	return vcpu;
}

/*
 * Handler: record the vector, EOI through the APIC (RBX holds its base in
 * every guest below), return.
 */
#define HANDLER(label, vec)						\
	GUEST_LABEL(label)						\
	"movl $" S(vec) ", " S(FLAG) "\n"				\
	"movl $0, 0xb0(%rbx)\n"						\
	"iretq\n"

/* Sleep with interrupts on until a handler has run; report its vector. */
#define WAIT_AND_REPORT							\
	"sti\n"								\
	"1: hlt\n"							\
	"cmpl $0, " S(FLAG) "\n"					\
	"je 1b\n"							\
	"mov " S(FLAG) ", %eax\n"					\
	GUEST_REPORT_EAX						\
	GUEST_DONE

#define APIC_ENABLE							\
	"mov $" S(APIC_BASE) ", %rbx\n"					\
	"movl $0x1ff, 0xf0(%rbx)\n"	/* SVR: enabled, spurious 0xff */

TEST(create_errors)
{
	struct vmm_vm *vm;
	struct kvm_interrupt irq = { .irq = 0x30 };
	struct vmm_vcpu *vcpu;

	require_irqchip();
	vm = vmm_vm_create();
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0));
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0), EEXIST);
	vcpu = vmm_vcpu_create(vm, 0);
	/* Interrupts come from the in-kernel LAPIC now. */
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_INTERRUPT, &irq), ENXIO);

	/* Too late once a vCPU exists. */
	vm = vmm_vm_create();
	vmm_vcpu_create(vm, 0);
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0), EINVAL);
}

TEST(no_irqchip_errors)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct kvm_irq_level line = { .irq = 4, .level = 1 };
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	struct kvm_lapic_state lapic;
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);

	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_IRQ_LINE, &line), ENXIO);
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_GET_IRQCHIP, &chip), ENXIO);
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic), EINVAL);
}

GUEST_CODE(timer_guest,
	".code64\n"
	APIC_ENABLE
	"movl $0xb, 0x3e0(%rbx)\n"	/* divide by 1 */
	"movl $0x40, 0x320(%rbx)\n"	/* LVTT: one-shot, vector 0x40 */
	"movl $200000, 0x380(%rbx)\n"	/* initial count */
	WAIT_AND_REPORT
	HANDLER(timer_handler, 0x40));
GUEST_LABEL_DECL(timer_handler);

/* The LAPIC timer wakes a guest sleeping in HLT, inside KVM_RUN. */
TEST(lapic_timer_wakes_hlt)
{
	struct vmm_vcpu *vcpu = irqchip_vcpu(GUEST(timer_guest));

	vmm_vm_set_idt_gate(vcpu->vm, 0x40,
			    GUEST_LABEL_GPA(timer_guest, timer_handler));
	vmm_vcpu_load_idt(vcpu);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x40);
	vmm_guest_done(vcpu);
}

/*
 * IOAPIC pin 5 -> vector 0x50, edge, to APIC 0; then tell the host, which
 * raises GSI 5.
 */
GUEST_CODE(ioapic_guest,
	".code64\n"
	APIC_ENABLE
	/* GSI 5 also reaches the PIC, and through ExtINT the BSP: mask it. */
	"mov $0xff, %al\n outb %al, $0x21\n outb %al, $0xa1\n"
	"mov $" S(IOAPIC_BASE) ", %rcx\n"
	"movl $0x01, (%rcx)\n"		/* IOREGSEL: the version register */
	"mov 0x10(%rcx), %eax\n"
	GUEST_REPORT_EAX
	"movl $0x1b, (%rcx)\n"		/* redirection entry 5, high half */
	"movl $0, 0x10(%rcx)\n"		/* destination APIC 0 */
	"movl $0x1a, (%rcx)\n"		/* entry 5, low half */
	"movl $0x50, 0x10(%rcx)\n"	/* fixed, physical, edge, unmasked */
	"mov $1, %eax\n"
	GUEST_REPORT_EAX
	WAIT_AND_REPORT
	HANDLER(ioapic_handler, 0x50));
GUEST_LABEL_DECL(ioapic_handler);

TEST(ioapic_irq_line)
{
	struct vmm_vcpu *vcpu = irqchip_vcpu(GUEST(ioapic_guest));
	struct kvm_irq_level line = { .irq = 5, .level = 1 };
	uint32_t version;

	vmm_vm_set_idt_gate(vcpu->vm, 0x50,
			    GUEST_LABEL_GPA(ioapic_guest, ioapic_handler));
	vmm_vcpu_load_idt(vcpu);
	/* Version 0x11 or 0x20, and 24 redirection entries (bits 23:16 = 23). */
	version = vmm_guest_report(vcpu);
	TEST_ASSERT_EQ((version >> 16) & 0xff, 23);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 1);
	TEST_ASSERT_OK(ioctl(vcpu->vm->fd, KVM_IRQ_LINE_STATUS, &line));
	TEST_ASSERT(line.status > 0, "status %d", line.status);
	line = (struct kvm_irq_level){ .irq = 5, .level = 0 };
	TEST_ASSERT_OK(ioctl(vcpu->vm->fd, KVM_IRQ_LINE_STATUS, &line));
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x50);
	vmm_guest_done(vcpu);
}

GUEST_CODE(msi_guest,
	".code64\n"
	APIC_ENABLE
	"mov $1, %eax\n"
	GUEST_REPORT_EAX
	WAIT_AND_REPORT
	HANDLER(msi_handler, 0x60));
GUEST_LABEL_DECL(msi_handler);

TEST(signal_msi)
{
	struct vmm_vcpu *vcpu = irqchip_vcpu(GUEST(msi_guest));
	struct kvm_msi msi = {
		.address_lo = APIC_BASE,	/* APIC 0, physical */
		.data = 0x60,			/* fixed, edge */
	};
	struct kvm_msi bad = msi;

	if (vmm_check_cap(KVM_CAP_SIGNAL_MSI) <= 0)
		TEST_SKIP("KVM_CAP_SIGNAL_MSI not advertised");
	vmm_vm_set_idt_gate(vcpu->vm, 0x60,
			    GUEST_LABEL_GPA(msi_guest, msi_handler));
	vmm_vcpu_load_idt(vcpu);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 1);
	bad.flags = 0x80;
	TEST_ASSERT_ERRNO(ioctl(vcpu->vm->fd, KVM_SIGNAL_MSI, &bad), EINVAL);
	TEST_ASSERT_EQ(ioctl(vcpu->vm->fd, KVM_SIGNAL_MSI, &msi), 1);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x60);
	vmm_guest_done(vcpu);
}

/*
 * The BSP starts the AP with INIT and SIPI (vector 0x11: the AP runs the
 * real-mode code at 0x11000), then sends itself a fixed IPI, vector 0x70.
 */
GUEST_CODE(bsp_guest,
	".code64\n"
	APIC_ENABLE
	"movl $0x01000000, 0x310(%rbx)\n"	/* ICR high: APIC 1 */
	"movl $0x00004500, 0x300(%rbx)\n"	/* INIT, assert */
	"movl $0x01000000, 0x310(%rbx)\n"
	"movl $0x00004611, 0x300(%rbx)\n"	/* SIPI, vector 0x11 */
	"movl $0x00044070, 0x300(%rbx)\n"	/* self, fixed, vector 0x70 */
	WAIT_AND_REPORT
	HANDLER(ipi_handler, 0x70));
GUEST_LABEL_DECL(ipi_handler);

GUEST_CODE(ap_guest,
	".code16\n"
	"mov $0x1234, %ax\n"
	"outw %ax, $" S(PORT_REPORT) "\n"
	"1: hlt\n"
	"jmp 1b\n"
	".code64\n");

TEST(init_sipi_ipi)
{
	struct vmm_vcpu *bsp = irqchip_vcpu(GUEST(bsp_guest));
	struct kvm_mp_state mp;
	struct kvm_sregs sregs;
	struct vmm_vcpu *ap;

	vmm_vm_set_idt_gate(bsp->vm, 0x70,
			    GUEST_LABEL_GPA(bsp_guest, ipi_handler));
	vmm_vcpu_load_idt(bsp);
	vmm_vm_load_code(bsp->vm, 0x1000, GUEST(ap_guest));
	ap = vmm_vcpu_create(bsp->vm, 1);
	mp.mp_state = KVM_MP_STATE_UNINITIALIZED;
	TEST_ASSERT_OK(ioctl(ap->fd, KVM_SET_MP_STATE, &mp));

	TEST_ASSERT_EQ(vmm_guest_report(bsp), 0x70);
	vmm_guest_done(bsp);

	/*
	 * The AP took INIT and SIPI inside KVM_RUN and runs in real mode.  As
	 * in KVM, the first KVM_RUN of an UNINITIALIZED vCPU only waits for
	 * and takes INIT, and returns EAGAIN.
	 */
	while (vmm_vcpu_run_raw(ap) < 0)
		TEST_ASSERT(errno == EAGAIN, "KVM_RUN: %m");
	vmm_assert_io(ap, KVM_EXIT_IO_OUT, PORT_REPORT, 2, 1);
	TEST_ASSERT_EQ(vmm_io_data(ap), 0x1234);
	vmm_get_sregs(ap, &sregs);
	TEST_ASSERT_EQ(sregs.cs.selector, 0x1100);
	TEST_ASSERT_EQ(sregs.cs.base, 0x11000);
	TEST_ASSERT_OK(ioctl(ap->fd, KVM_GET_MP_STATE, &mp));
	TEST_ASSERT_EQ(mp.mp_state, KVM_MP_STATE_RUNNABLE);
}

TEST(lapic_state)
{
	struct vmm_vcpu *vcpu = irqchip_vcpu(GUEST(timer_guest));
	struct vmm_vcpu *vcpu1 = vmm_vcpu_create(vcpu->vm, 1);
	struct kvm_lapic_state s;
	uint32_t *reg = (uint32_t *)s.regs;

	TEST_ASSERT_OK(ioctl(vcpu1->fd, KVM_GET_LAPIC, &s));
	TEST_ASSERT_EQ(reg[0x20 / 4] >> 24, 1);		/* APIC ID */
	TEST_ASSERT_EQ(reg[0x30 / 4] & 0xff, 0x14);	/* version */
	TEST_ASSERT_EQ(reg[0xf0 / 4], 0xff);		/* SVR after reset */
	TEST_ASSERT(reg[0x320 / 4] & (1 << 16), "LVTT masked at reset");
	/* The BSP's LINT0 is ExtINT at reset, the AP's masked. */
	TEST_ASSERT_EQ(reg[0x350 / 4], 0x10000);
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_LAPIC, &s));
	TEST_ASSERT_EQ(reg[0x350 / 4], 0x700);

	reg[0x80 / 4] = 0x50;				/* TPR */
	reg[0xf0 / 4] = 0x1ff;
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_LAPIC, &s));
	memset(&s, 0, sizeof(s));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_LAPIC, &s));
	TEST_ASSERT_EQ(reg[0x80 / 4], 0x50);
	TEST_ASSERT_EQ(reg[0xf0 / 4], 0x1ff);
	{
		struct kvm_sregs sregs;

		/* CR8 is TPR[7:4] (SDM 10.8.6.1). */
		vmm_get_sregs(vcpu, &sregs);
		TEST_ASSERT_EQ(sregs.cr8, 5);
	}
}

TEST(irqchip_state)
{
	struct vmm_vcpu *vcpu = irqchip_vcpu(GUEST(timer_guest));
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	struct kvm_irqchip pic = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	struct kvm_irqchip bad = { .chip_id = 3 };
	int fd = vcpu->vm->fd;
	int i;

	TEST_ASSERT_OK(ioctl(fd, KVM_GET_IRQCHIP, &chip));
	/* Every redirection entry starts masked. */
	for (i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		TEST_ASSERT(chip.chip.ioapic.redirtbl[i].fields.mask,
			    "entry %d unmasked", i);
	TEST_ASSERT_EQ(chip.chip.ioapic.base_address, IOAPIC_BASE);
	chip.chip.ioapic.redirtbl[3].bits = 0x2000000000000033ULL;
	TEST_ASSERT_OK(ioctl(fd, KVM_SET_IRQCHIP, &chip));
	memset(&chip.chip, 0, sizeof(chip.chip));
	TEST_ASSERT_OK(ioctl(fd, KVM_GET_IRQCHIP, &chip));
	TEST_ASSERT_EQ(chip.chip.ioapic.redirtbl[3].bits, 0x2000000000000033ULL);

	TEST_ASSERT_OK(ioctl(fd, KVM_GET_IRQCHIP, &pic));
	pic.chip.pic.imr = 0xfb;
	pic.chip.pic.irq_base = 0x20;
	TEST_ASSERT_OK(ioctl(fd, KVM_SET_IRQCHIP, &pic));
	memset(&pic.chip, 0, sizeof(pic.chip));
	TEST_ASSERT_OK(ioctl(fd, KVM_GET_IRQCHIP, &pic));
	TEST_ASSERT_EQ(pic.chip.pic.imr, 0xfb);
	TEST_ASSERT_EQ(pic.chip.pic.irq_base, 0x20);

	TEST_ASSERT_ERRNO(ioctl(fd, KVM_GET_IRQCHIP, &bad), EINVAL);
}

TEST(gsi_routing)
{
	struct vmm_vcpu *vcpu = irqchip_vcpu(GUEST(timer_guest));
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[2];
	} rt = {
		.hdr.nr = 2,
		.e[0] = { .gsi = 0, .type = KVM_IRQ_ROUTING_IRQCHIP,
			  .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = 2 } },
		.e[1] = { .gsi = 30, .type = KVM_IRQ_ROUTING_MSI,
			  .u.msi = { .address_lo = APIC_BASE, .data = 0x41 } },
	};
	int fd = vcpu->vm->fd;

	TEST_ASSERT_OK(ioctl(fd, KVM_SET_GSI_ROUTING, &rt));
	rt.e[0].u.irqchip.pin = KVM_IOAPIC_NUM_PINS;
	TEST_ASSERT_ERRNO(ioctl(fd, KVM_SET_GSI_ROUTING, &rt), EINVAL);
	rt.e[0].u.irqchip.pin = 2;
	rt.e[0].type = 99;
	TEST_ASSERT_ERRNO(ioctl(fd, KVM_SET_GSI_ROUTING, &rt), EINVAL);
}

TEST(mp_state)
{
	struct vmm_vcpu *vcpu = irqchip_vcpu(GUEST(timer_guest));
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_HALTED };

	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp));
	mp.mp_state = 0;
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp));
	TEST_ASSERT_EQ(mp.mp_state, KVM_MP_STATE_HALTED);
	mp.mp_state = 99;
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp), EINVAL);
}

/*
 * The PIC, initialised as a PC BIOS does (IRQ0 -> vector 0x20), and the PIT
 * in mode 2: IRQ 0 through the PIC's ExtINT path to the BSP.
 */
GUEST_CODE(pit_guest,
	".code64\n"
	"mov $" S(APIC_BASE) ", %rbx\n"
	"mov $0x11, %al\n outb %al, $0x20\n"	/* ICW1: edge, cascade, ICW4 */
	"mov $0x20, %al\n outb %al, $0x21\n"	/* ICW2: vectors 0x20-0x27 */
	"mov $0x04, %al\n outb %al, $0x21\n"	/* ICW3: slave on IR2 */
	"mov $0x01, %al\n outb %al, $0x21\n"	/* ICW4: 8086 mode */
	"mov $0xfe, %al\n outb %al, $0x21\n"	/* OCW1: only IRQ0 */
	"mov $0x34, %al\n outb %al, $0x43\n"	/* channel 0, lo/hi, mode 2 */
	"mov $0x00, %al\n outb %al, $0x40\n"
	"mov $0x10, %al\n outb %al, $0x40\n"	/* 0x1000 ticks: ~3.4 ms */
	WAIT_AND_REPORT
	GUEST_LABEL(pit_handler)
	"movl $0x20, " S(FLAG) "\n"
	"mov $0x20, %al\n outb %al, $0x20\n"	/* OCW2: non-specific EOI */
	"iretq\n");
GUEST_LABEL_DECL(pit_handler);

TEST(pit_through_pic)
{
	struct vmm_vcpu *vcpu = irqchip_vcpu(GUEST(pit_guest));
	struct kvm_pit_config cfg = { .flags = 0 };
	struct kvm_pit_state2 ps;
	int fd = vcpu->vm->fd;

	if (vmm_check_cap(KVM_CAP_PIT2) <= 0)
		TEST_SKIP("KVM_CAP_PIT2 not advertised");
	TEST_ASSERT_OK(ioctl(fd, KVM_CREATE_PIT2, &cfg));
	TEST_ASSERT_ERRNO(ioctl(fd, KVM_CREATE_PIT2, &cfg), EEXIST);
	vmm_vm_set_idt_gate(vcpu->vm, 0x20,
			    GUEST_LABEL_GPA(pit_guest, pit_handler));
	vmm_vcpu_load_idt(vcpu);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x20);
	vmm_guest_done(vcpu);

	/* What the guest programmed is in the PIT's state. */
	TEST_ASSERT_OK(ioctl(fd, KVM_GET_PIT2, &ps));
	TEST_ASSERT_EQ(ps.channels[0].mode, 2);
	TEST_ASSERT_EQ(ps.channels[0].count, 0x1000);
	TEST_ASSERT_OK(ioctl(fd, KVM_SET_PIT2, &ps));
}

TEST_MAIN()
