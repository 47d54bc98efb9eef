// SPDX-License-Identifier: GPL-2.0
/*
 * Events with a userspace irqchip, the way QEMU drives them: KVM_INTERRUPT
 * when kvm_run says the guest can take one, the interrupt window exit,
 * KVM_NMI and NMI blocking until IRET, exceptions injected through
 * KVM_SET_VCPU_EVENTS, and run->if_flag on every exit.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm_test.h"

#define IRQ_VECTOR	0x30

/* Reports the vector, then returns; interrupts have no error code. */
#define IRQ_HANDLER(label)						\
	GUEST_LABEL(label)						\
	"push %rax\n"							\
	"mov $" S(IRQ_VECTOR) ", %eax\n"				\
	GUEST_REPORT_EAX						\
	"pop %rax\n"							\
	"iretq\n"

static void inject_irq(struct vmm_vcpu *vcpu, uint32_t vector)
{
	struct kvm_interrupt irq = { .irq = vector };

	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_INTERRUPT, &irq));
}

static struct vmm_vcpu *vcpu_with_idt(const unsigned char *start,
				      const unsigned char *end,
				      uint8_t vector, uint64_t handler)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, start, end);

	vmm_vm_set_idt_gate(vcpu->vm, vector, handler);
	vmm_vcpu_load_idt(vcpu);
	return vcpu;
}

/* A NOP after STI so the report is outside the STI shadow. */
GUEST_CODE(irq_guest,
	".code64\n"
	"sti\n"
	"nop\n"
	"mov $1, %eax\n"
	GUEST_REPORT_EAX
	"mov $2, %eax\n"
	GUEST_REPORT_EAX
	"hlt\n"
	"mov $3, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE
	IRQ_HANDLER(irq_handler));
GUEST_LABEL_DECL(irq_handler);

TEST(interrupt)
{
	struct vmm_vcpu *vcpu = vcpu_with_idt(GUEST(irq_guest), IRQ_VECTOR,
			GUEST_LABEL_GPA(irq_guest, irq_handler));
	struct kvm_run *run = vcpu->run;

	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 1);
	TEST_ASSERT_EQ(run->if_flag, 1);
	TEST_ASSERT_EQ(run->ready_for_interrupt_injection, 1);
	/* Delivered right after the OUT completes, before the next report. */
	inject_irq(vcpu, IRQ_VECTOR);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), IRQ_VECTOR);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 2);

	/* HLT exits to userspace, which wakes the guest with an interrupt. */
	vmm_expect_exit(vcpu, KVM_EXIT_HLT);
	TEST_ASSERT_EQ(run->if_flag, 1);
	TEST_ASSERT_EQ(run->ready_for_interrupt_injection, 1);
	inject_irq(vcpu, IRQ_VECTOR);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), IRQ_VECTOR);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 3);
	vmm_guest_done(vcpu);
}

GUEST_CODE(window_guest,
	".code64\n"
	"cli\n"
	"mov $1, %eax\n"
	GUEST_REPORT_EAX
	"mov $0x100, %ecx\n"
	"1: loop 1b\n"
	GUEST_LABEL(window_sti)
	"sti\n"
	"nop\n"
	"nop\n"
	"nop\n"
	GUEST_LABEL(window_report)
	"mov $2, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE
	IRQ_HANDLER(window_handler));
GUEST_LABEL_DECL(window_sti);
GUEST_LABEL_DECL(window_report);
GUEST_LABEL_DECL(window_handler);

TEST(interrupt_window)
{
	struct vmm_vcpu *vcpu = vcpu_with_idt(GUEST(window_guest), IRQ_VECTOR,
			GUEST_LABEL_GPA(window_guest, window_handler));
	struct kvm_run *run = vcpu->run;
	uint64_t sti = GUEST_LABEL_GPA(window_guest, window_sti);
	uint64_t report = GUEST_LABEL_GPA(window_guest, window_report);
	struct kvm_regs regs;

	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 1);
	TEST_ASSERT_EQ(run->if_flag, 0);
	TEST_ASSERT_EQ(run->ready_for_interrupt_injection, 0);

	run->request_interrupt_window = 1;
	vmm_expect_exit(vcpu, KVM_EXIT_IRQ_WINDOW_OPEN);
	vmm_get_regs(vcpu, &regs);
	/* Not before STI, nor before the instruction in its shadow. */
	TEST_ASSERT(regs.rip > sti + 1 && regs.rip <= report,
		    "window exit at %#llx, STI at %#llx",
		    (unsigned long long)regs.rip, (unsigned long long)sti);
	TEST_ASSERT(regs.rflags & (1 << 9), "IF clear at the window exit");
	TEST_ASSERT_EQ(run->if_flag, 1);
	TEST_ASSERT_EQ(run->ready_for_interrupt_injection, 1);

	run->request_interrupt_window = 0;
	inject_irq(vcpu, IRQ_VECTOR);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), IRQ_VECTOR);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 2);
	vmm_guest_done(vcpu);
}

/* The NMI handler reports 0x20 on entry and 0x21 just before IRET. */
GUEST_CODE(nmi_guest,
	".code64\n"
	"mov $1, %eax\n"
	GUEST_REPORT_EAX
	"mov $2, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE
	GUEST_LABEL(nmi_handler)
	"push %rax\n"
	"mov $0x20, %eax\n"
	GUEST_REPORT_EAX
	"mov $0x21, %eax\n"
	GUEST_REPORT_EAX
	"pop %rax\n"
	"iretq\n");
GUEST_LABEL_DECL(nmi_handler);

static void get_events(struct vmm_vcpu *vcpu, struct kvm_vcpu_events *ev)
{
	memset(ev, 0, sizeof(*ev));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, ev));
}

TEST(nmi)
{
	struct vmm_vcpu *vcpu = vcpu_with_idt(GUEST(nmi_guest), 2,
			GUEST_LABEL_GPA(nmi_guest, nmi_handler));
	struct kvm_vcpu_events ev;

	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 1);
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_NMI));
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x20);

	/* In the handler NMIs are blocked: the next one waits for IRET. */
	get_events(vcpu, &ev);
	TEST_ASSERT_EQ(ev.nmi.masked, 1);
	TEST_ASSERT_EQ(ev.nmi.pending, 0);
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_NMI));
	get_events(vcpu, &ev);
	TEST_ASSERT_EQ(ev.nmi.pending, 1);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x21);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x20);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x21);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 2);
	get_events(vcpu, &ev);
	TEST_ASSERT_EQ(ev.nmi.masked, 0);
	TEST_ASSERT_EQ(ev.nmi.pending, 0);
	vmm_guest_done(vcpu);
}

/* #GP handler: reports the error code and 13, returns to the same RIP. */
GUEST_CODE(exc_guest,
	".code64\n"
	"mov $0x77, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE
	GUEST_LABEL(exc_gp_handler)
	"pop %rax\n"
	GUEST_REPORT_EAX
	"mov $13, %eax\n"
	GUEST_REPORT_EAX
	"iretq\n");
GUEST_LABEL_DECL(exc_gp_handler);

TEST(vcpu_events)
{
	struct vmm_vcpu *vcpu = vcpu_with_idt(GUEST(exc_guest), 13,
			GUEST_LABEL_GPA(exc_guest, exc_gp_handler));
	struct kvm_vcpu_events ev, back;

	if (vmm_check_cap(KVM_CAP_VCPU_EVENTS) <= 0)
		TEST_SKIP("no KVM_CAP_VCPU_EVENTS");
	get_events(vcpu, &ev);
	TEST_ASSERT_EQ(ev.exception.injected, 0);
	TEST_ASSERT_EQ(ev.interrupt.injected, 0);
	TEST_ASSERT_EQ(ev.nmi.injected, 0);
	TEST_ASSERT_EQ(ev.nmi.masked, 0);

	/* Round trip of NMI blocking and the interrupt shadow. */
	ev.flags = KVM_VCPUEVENT_VALID_SHADOW;
	ev.nmi.masked = 1;
	ev.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS;
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev));
	get_events(vcpu, &back);
	TEST_ASSERT_EQ(back.nmi.masked, 1);
	TEST_ASSERT(back.interrupt.shadow != 0, "interrupt shadow lost");
	TEST_ASSERT(back.flags & KVM_VCPUEVENT_VALID_SHADOW, "flags %#x",
		    back.flags);
	ev.nmi.masked = 0;
	ev.interrupt.shadow = 0;
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev));

	/* An exception with an error code, delivered on the next entry. */
	ev.flags = 0;
	ev.exception.injected = 1;
	ev.exception.nr = 13;
	ev.exception.has_error_code = 1;
	ev.exception.error_code = 0x18;
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev));
	get_events(vcpu, &back);
	TEST_ASSERT_EQ(back.exception.injected, 1);
	TEST_ASSERT_EQ(back.exception.nr, 13);
	TEST_ASSERT_EQ(back.exception.has_error_code, 1);
	TEST_ASSERT_EQ(back.exception.error_code, 0x18);
	TEST_ASSERT_EQ(back.nmi.masked, 0);

	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x18);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 13);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x77);
	vmm_guest_done(vcpu);
	get_events(vcpu, &back);
	TEST_ASSERT_EQ(back.exception.injected, 0);

	/* NMI (vector 2) and vectors above 31 are not exceptions. */
	ev.exception.nr = 2;
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev), EINVAL);
	ev.exception.nr = 32;
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev), EINVAL);
	/* Unknown flags. */
	ev.exception.nr = 13;
	ev.flags = 1u << 31;
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev), EINVAL);
}

GUEST_CODE(ifflag_guest,
	".code64\n"
	"cli\n"
	"mov $1, %eax\n"
	GUEST_REPORT_EAX
	"sti\n"
	"nop\n"
	"mov $2, %eax\n"
	GUEST_REPORT_EAX
	"cli\n"
	"hlt\n"
	GUEST_DONE);

/* if_flag mirrors RFLAGS.IF on I/O and HLT exits alike. */
TEST(if_flag)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64,
						 GUEST(ifflag_guest));
	struct kvm_run *run = vcpu->run;

	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 1);
	TEST_ASSERT_EQ(run->if_flag, 0);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 2);
	TEST_ASSERT_EQ(run->if_flag, 1);
	vmm_expect_exit(vcpu, KVM_EXIT_HLT);
	TEST_ASSERT_EQ(run->if_flag, 0);
	TEST_ASSERT_EQ(run->ready_for_interrupt_injection, 0);
	vmm_guest_done(vcpu);
}

TEST_MAIN()
