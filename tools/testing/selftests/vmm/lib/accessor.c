// SPDX-License-Identifier: GPL-2.0
/*
 * A guest that reads and writes guest memory on the host's command, so a
 * test can change memslots or the memory behind them between accesses.
 */
#include "vmm_test.h"

#define OP_READ 0
#define OP_WRITE 1

GUEST_CODE(accessor,
	".code64\n"
	"1:\n"
	"in $" S(PORT_ACCESS_OP) ", %eax\n"
	"mov %eax, %ecx\n"
	"in $" S(PORT_ACCESS_ADDR) ", %eax\n"
	"mov %eax, %ebx\n"
	"test %ecx, %ecx\n"
	"jnz 2f\n"
	"mov (%rbx), %eax\n"
	GUEST_REPORT_EAX
	"jmp 1b\n"
	"2:\n"
	"in $" S(PORT_ACCESS_VALUE) ", %eax\n"
	"mov %eax, (%rbx)\n"
	"mov $" S(ACCESS_WRITE_ACK) ", %eax\n"
	GUEST_REPORT_EAX
	"jmp 1b\n");

struct vmm_vcpu *vmm_accessor_create(void)
{
	return vmm_vm_with_vcpu(MODE_LONG64, GUEST(accessor));
}

static void answer_in(struct vmm_vcpu *vcpu, uint16_t port, uint32_t value)
{
	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_assert_io(vcpu, KVM_EXIT_IO_IN, port, 4, 1);
	vmm_io_set_data(vcpu, value);
}

void vmm_accessor_send(struct vmm_vcpu *vcpu, bool write, uint64_t gpa)
{
	TEST_ASSERT(gpa < (1ull << 32), "the accessor maps only 4 GiB");
	answer_in(vcpu, PORT_ACCESS_OP, write ? OP_WRITE : OP_READ);
	answer_in(vcpu, PORT_ACCESS_ADDR, gpa);
}

uint32_t vmm_accessor_read(struct vmm_vcpu *vcpu, uint64_t gpa)
{
	vmm_accessor_send(vcpu, false, gpa);
	return vmm_guest_report(vcpu);
}

void vmm_accessor_write(struct vmm_vcpu *vcpu, uint64_t gpa, uint32_t value)
{
	vmm_accessor_send(vcpu, true, gpa);
	answer_in(vcpu, PORT_ACCESS_VALUE, value);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), ACCESS_WRITE_ACK);
}

void vmm_accessor_read_mmio(struct vmm_vcpu *vcpu, uint64_t gpa,
			    uint32_t data)
{
	struct kvm_run *run = vcpu->run;

	vmm_accessor_send(vcpu, false, gpa);
	vmm_expect_exit(vcpu, KVM_EXIT_MMIO);
	TEST_ASSERT(!run->mmio.is_write && run->mmio.phys_addr == gpa &&
		    run->mmio.len == 4,
		    "expected a 4-byte MMIO read of %#llx, got %s",
		    (unsigned long long)gpa, vmm_exit_describe(vcpu));
	memcpy(run->mmio.data, &data, 4);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), data);
}

void vmm_accessor_write_mmio(struct vmm_vcpu *vcpu, uint64_t gpa,
			     uint32_t value)
{
	struct kvm_run *run = vcpu->run;
	uint32_t data;

	vmm_accessor_send(vcpu, true, gpa);
	answer_in(vcpu, PORT_ACCESS_VALUE, value);
	vmm_expect_exit(vcpu, KVM_EXIT_MMIO);
	TEST_ASSERT(run->mmio.is_write && run->mmio.phys_addr == gpa &&
		    run->mmio.len == 4,
		    "expected a 4-byte MMIO write of %#llx, got %s",
		    (unsigned long long)gpa, vmm_exit_describe(vcpu));
	memcpy(&data, run->mmio.data, 4);
	TEST_ASSERT_EQ(data, value);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), ACCESS_WRITE_ACK);
}
