// SPDX-License-Identifier: GPL-2.0
/*
 * The capability list matches what is implemented: for each capability a
 * VMM may look for, if KVM_CHECK_EXTENSION says it is there, its ioctls
 * are called once in a valid way and must work. A capability that is not
 * advertised is skipped.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm_test.h"

static int require(long cap, const char *name)
{
	int r = vmm_check_cap(cap);

	if (r <= 0)
		TEST_SKIP("%s not advertised", name);
	vmm_test_info("%s = %d", name, r);
	return r;
}

#define REQUIRE(cap) require(KVM_CAP_##cap, "KVM_CAP_" #cap)

GUEST_CODE(caps_guest,
	".code64\n"
	"mov $0x55, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE);

TEST(user_memory)
{
	struct vmm_vm *vm;

	REQUIRE(USER_MEMORY);
	vm = vmm_vm_create_bare();
	vmm_vm_add_slot(vm, 0, 0, 0x10000, 0);
	vmm_vm_free(vm);
}

TEST(destroy_memory_region_works)
{
	struct vmm_vm *vm;

	REQUIRE(DESTROY_MEMORY_REGION_WORKS);
	vm = vmm_vm_create_bare();
	vmm_vm_add_slot(vm, 3, 0x100000, 0x10000, 0);
	vmm_vm_delete_slot(vm, 3);
	/* The GPA range and the slot number are both free again. */
	vmm_vm_add_slot(vm, 3, 0x100000, 0x10000, 0);
	vmm_vm_free(vm);
}

TEST(join_memory_regions_works)
{
	struct vmm_vcpu *vcpu;

	REQUIRE(JOIN_MEMORY_REGIONS_WORKS);
	/* Two back-to-back slots that the guest uses as one range. */
	vcpu = vmm_accessor_create();
	vmm_vm_add_slot(vcpu->vm, 1, 0x100000, 0x1000, 0);
	vmm_vm_add_slot(vcpu->vm, 2, 0x101000, 0x1000, 0);
	vmm_accessor_write(vcpu, 0x100ffc, 0x1111);
	vmm_accessor_write(vcpu, 0x101000, 0x2222);
	TEST_ASSERT_EQ(*(uint32_t *)vmm_gpa_to_hva(vcpu->vm, 0x101000), 0x2222);
}

TEST(immediate_exit)
{
	struct vmm_vcpu *vcpu;

	REQUIRE(IMMEDIATE_EXIT);
	vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(caps_guest));
	vcpu->run->immediate_exit = 1;
	/* KVM 6.1 leaves exit_reason alone here, so only errno counts. */
	TEST_ASSERT_ERRNO(vmm_vcpu_run_raw(vcpu), EINTR);
	vcpu->run->immediate_exit = 0;
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x55);
}

TEST(readonly_mem)
{
	struct vmm_vcpu *vcpu;
	uint32_t *p;

	REQUIRE(READONLY_MEM);
	vcpu = vmm_accessor_create();
	p = vmm_vm_add_slot(vcpu->vm, 1, 0x100000, 0x1000, KVM_MEM_READONLY);
	*p = 0x12345678;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, 0x100000), 0x12345678);
	/* Writes become MMIO exits and leave the memory alone. */
	vmm_accessor_write_mmio(vcpu, 0x100000, 0xdead);
	TEST_ASSERT_EQ(*p, 0x12345678);
}

TEST(sync_mmu)
{
	struct vmm_vcpu *vcpu;
	uint32_t *p;

	REQUIRE(SYNC_MMU);
	/* A host change to mapped memory is seen by the guest. */
	vcpu = vmm_accessor_create();
	p = vmm_gpa_to_hva(vcpu->vm, GUEST_DATA);
	vmm_accessor_write(vcpu, GUEST_DATA, 1);
	*p = 2;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, GUEST_DATA), 2);
}

TEST(vcpu_limits)
{
	int nr = REQUIRE(NR_VCPUS), max = REQUIRE(MAX_VCPUS);
	int max_id = vmm_check_cap(KVM_CAP_MAX_VCPU_ID);
	struct vmm_vm *vm = vmm_vm_create_bare();
	int fd;

	TEST_ASSERT(nr <= max, "NR_VCPUS %d > MAX_VCPUS %d", nr, max);
	/* 0 means "same as MAX_VCPUS" (Documentation/virt/kvm/api.rst). */
	if (max_id <= 0)
		max_id = max;
	TEST_ASSERT(max_id >= max, "MAX_VCPU_ID %d < MAX_VCPUS %d", max_id,
		    max);
	fd = ioctl(vm->fd, KVM_CREATE_VCPU, max_id - 1);
	TEST_ASSERT(fd >= 0, "KVM_CREATE_VCPU(%d): %s", max_id - 1,
		    strerror(errno));
	close(fd);
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_VCPU, max_id), EINVAL);
	vmm_vm_free(vm);
}

TEST(nr_memslots)
{
	int n = REQUIRE(NR_MEMSLOTS);
	struct vmm_vm *vm = vmm_vm_create_bare();
	void *mem = malloc(0x2000);
	void *page = (void *)(((uintptr_t)mem + 0xfff) & ~0xfffull);

	TEST_ASSERT_OK(vmm_vm_set_slot(vm, n - 1, 0, 0x100000, 0x1000, page));
	errno = 0;
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, n, 0, 0x200000, 0x1000, page),
			  EINVAL);
	vmm_vm_free(vm);
}

TEST(ext_cpuid)
{
	struct vmm_vcpu *vcpu;

	REQUIRE(EXT_CPUID);
	/* vmm_vcpu_create does KVM_GET_SUPPORTED_CPUID + KVM_SET_CPUID2. */
	vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(caps_guest));
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x55);
}

TEST(set_tss_addr)
{
	struct vmm_vm *vm;

	REQUIRE(SET_TSS_ADDR);
	vm = vmm_vm_create_bare();
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000ul));
	vmm_vm_free(vm);
}

TEST(set_identity_map_addr)
{
	struct vmm_vm *vm;
	struct vmm_vcpu *vcpu;
	uint64_t addr = 0xfeffc000;

	REQUIRE(SET_IDENTITY_MAP_ADDR);
	vm = vmm_vm_create_bare();
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &addr));
	/* QEMU's order: the TSS goes right after the identity map. */
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_SET_TSS_ADDR, addr + 0x1000));
	vcpu = vmm_vcpu_create(vm, 0);
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &addr),
			  EINVAL);
	vmm_vcpu_free(vcpu);
	vmm_vm_free(vm);
}

TEST(mp_state)
{
	struct vmm_vm *vm;
	struct vmm_vcpu *vcpu;
	struct kvm_mp_state mp;

	REQUIRE(MP_STATE);
	vm = vmm_vm_create_bare();
	vcpu = vmm_vcpu_create(vm, 0);
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp));
	vmm_vm_free(vm);
}

/* GET, then SET of what GET returned, must both succeed. */
#define GET_SET(cap, type, get, set)					\
	TEST(cap)							\
	{								\
		struct vmm_vm *vm;					\
		struct vmm_vcpu *vcpu;					\
		type *s = calloc(1, sizeof(type));			\
									\
		REQUIRE(cap);						\
		vm = vmm_vm_create();					\
		vcpu = vmm_vcpu_create(vm, 0);				\
		TEST_ASSERT_OK(ioctl(vcpu->fd, get, s));		\
		TEST_ASSERT_OK(ioctl(vcpu->fd, set, s));		\
		/* And still after the vCPU has run. */			\
		vmm_vm_load_code(vm, 0, GUEST(caps_guest));		\
		vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);	\
		TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x55);		\
		TEST_ASSERT_OK(ioctl(vcpu->fd, get, s));		\
		TEST_ASSERT_OK(ioctl(vcpu->fd, set, s));		\
		vmm_guest_done(vcpu);					\
		free(s);						\
		vmm_vm_free(vm);					\
	}

GET_SET(VCPU_EVENTS, struct kvm_vcpu_events, KVM_GET_VCPU_EVENTS,
	KVM_SET_VCPU_EVENTS)
GET_SET(DEBUGREGS, struct kvm_debugregs, KVM_GET_DEBUGREGS,
	KVM_SET_DEBUGREGS)
GET_SET(XSAVE, struct kvm_xsave, KVM_GET_XSAVE, KVM_SET_XSAVE)
GET_SET(XCRS, struct kvm_xcrs, KVM_GET_XCRS, KVM_SET_XCRS)

TEST(irq_routing)
{
	struct vmm_vm *vm;
	struct kvm_irq_routing *routing;

	REQUIRE(IRQ_ROUTING);
	vm = vmm_vm_create_bare();
	routing = calloc(1, sizeof(*routing) + sizeof(routing->entries[0]));
	TEST_ASSERT(routing, "out of memory");
	/*
	 * QEMU only checks the capability when it keeps the irqchip in
	 * userspace; without KVM_CREATE_IRQCHIP there is nothing to route,
	 * and KVM refuses any table, even an empty one.
	 */
	routing->nr = 0;
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_GSI_ROUTING, routing), EINVAL);
	routing->nr = 1;
	routing->entries[0] = (struct kvm_irq_routing_entry){
		.gsi = 0,
		.type = KVM_IRQ_ROUTING_IRQCHIP,
		.u.irqchip = { .irqchip = 0, .pin = 0 },
	};
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_GSI_ROUTING, routing), EINVAL);
	/* With the in-kernel irqchip the same table is taken. */
	if (vmm_check_cap(KVM_CAP_IRQCHIP) > 0) {
		TEST_ASSERT_OK(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0));
		TEST_ASSERT_OK(ioctl(vm->fd, KVM_SET_GSI_ROUTING, routing));
	}
	free(routing);
	vmm_vm_free(vm);
}

/* The irqchip capabilities; irqchip.c tests what they do. */
TEST(irqchip)
{
	struct kvm_irq_level line = { .irq = 4, .level = 0 };
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x40 };
	struct kvm_pit_config pit = { .flags = 0 };
	struct kvm_pit_state2 ps;
	struct vmm_vm *vm;

	REQUIRE(IRQCHIP);
	vm = vmm_vm_create_bare();
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0));
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_IRQ_LINE, &line));
	if (vmm_check_cap(KVM_CAP_IRQ_INJECT_STATUS) > 0)
		TEST_ASSERT_OK(ioctl(vm->fd, KVM_IRQ_LINE_STATUS, &line));
	/* No vCPU, no LAPIC: KVM answers -1, which reads as EPERM. */
	if (vmm_check_cap(KVM_CAP_SIGNAL_MSI) > 0)
		TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_SIGNAL_MSI, &msi), EPERM);
	if (vmm_check_cap(KVM_CAP_PIT2) > 0)
		TEST_ASSERT_OK(ioctl(vm->fd, KVM_CREATE_PIT2, &pit));
	if (vmm_check_cap(KVM_CAP_PIT_STATE2) > 0)
		TEST_ASSERT_OK(ioctl(vm->fd, KVM_GET_PIT2, &ps));
	vmm_vm_free(vm);
}

GUEST_CODE(internal_error_guest,
	".code64\n"
	/* An MMIO access with an instruction nobody emulates. */
	"mov $" S(GUEST_MMIO) ", %rbx\n"
	"crc32b (%rbx), %eax\n"
	GUEST_DONE);

/* With the data flag, an emulation failure carries ndata words. */
TEST(internal_error_data)
{
	struct vmm_vcpu *vcpu;
	struct kvm_run *run;

	REQUIRE(INTERNAL_ERROR_DATA);
	vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(internal_error_guest));
	run = vcpu->run;
	vmm_vcpu_run(vcpu);
	if (run->exit_reason == KVM_EXIT_MMIO)
		TEST_SKIP("the instruction was emulated: %s",
			  vmm_exit_describe(vcpu));
	TEST_ASSERT(run->exit_reason == KVM_EXIT_INTERNAL_ERROR,
		    "got %s", vmm_exit_describe(vcpu));
	TEST_ASSERT_EQ(run->internal.suberror, KVM_INTERNAL_ERROR_EMULATION);
	TEST_ASSERT(run->emulation_failure.ndata >= 1 &&
		    run->emulation_failure.ndata <= ARRAY_SIZE(run->internal.data),
		    "ndata %u", run->emulation_failure.ndata);
	vmm_test_info("flags %#llx ndata %u",
		      (unsigned long long)run->emulation_failure.flags,
		      run->emulation_failure.ndata);
}

/* The guest TSC's rate in kHz: the host's, as nothing scales it. */
TEST(get_tsc_khz)
{
	struct vmm_vcpu *vcpu;
	int khz;

	REQUIRE(GET_TSC_KHZ);
	vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(caps_guest));
	khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	TEST_ASSERT(khz > 0, "KVM_GET_TSC_KHZ: %d (%m)", khz);
	/* Any TSC an emulated or real x86 CPU has runs at 1 MHz..100 GHz. */
	TEST_ASSERT(khz >= 1000 && khz <= 100000000, "implausible %d kHz", khz);
	vmm_test_info("%d kHz", khz);
}

TEST_MAIN()
