// SPDX-License-Identifier: GPL-2.0
/*
 * CPUID: KVM_GET_SUPPORTED_CPUID and its E2BIG protocol, the guest seeing
 * exactly the table given with KVM_SET_CPUID2 (plus the bits KVM keeps in
 * step with guest state), KVM_GET_CPUID2, and the rule that the table can
 * no longer change once the vCPU has run.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm_test.h"

#define CPUID1_ECX_OSXSAVE	(1u << 27)
#define CPUID1_ECX_XSAVE	(1u << 26)
#define CPUID1_EDX_APIC		(1u << 9)
#define CPUID7_ECX_OSPKE	(1u << 4)
#define CR4_OSXSAVE		(1ull << 18)

static struct kvm_cpuid2 *alloc_cpuid(uint32_t nent)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) +
				      nent * sizeof(c->entries[0]));

	TEST_ASSERT(c, "out of memory");
	c->nent = nent;
	return c;
}

/* The E2BIG protocol as QEMU runs it: start at 1, double until it fits. */
static struct kvm_cpuid2 *get_supported(int fd)
{
	for (uint32_t nent = 1; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = alloc_cpuid(nent);

		if (!ioctl(fd, KVM_GET_SUPPORTED_CPUID, c))
			return c;
		TEST_ASSERT(errno == E2BIG, "KVM_GET_SUPPORTED_CPUID: %s",
			    strerror(errno));
		free(c);
	}
	TEST_FAIL("KVM_GET_SUPPORTED_CPUID never fit");
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t function,
				     uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == function &&
		    c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

TEST(supported)
{
	int fd = vmm_open_dev();
	struct kvm_cpuid2 *one = alloc_cpuid(1), *c;
	struct kvm_cpuid_entry2 *e;

	TEST_ASSERT_ERRNO(ioctl(fd, KVM_GET_SUPPORTED_CPUID, one), E2BIG);
	c = get_supported(fd);
	TEST_ASSERT(c->nent > 4, "only %u entries", c->nent);
	vmm_test_info("%u entries", c->nent);

	e = find(c, 0, 0);
	TEST_ASSERT(e && e->eax >= 1, "leaf 0");
	TEST_ASSERT(find(c, 1, 0), "leaf 1");
	e = find(c, 0x80000000, 0);
	TEST_ASSERT(e && e->eax >= 0x80000008, "leaf 0x80000000");
	TEST_ASSERT(find(c, 0x80000008, 0), "leaf 0x80000008");
	/* Nothing beyond the maxima the table itself advertises. */
	for (uint32_t i = 0; i < c->nent; i++) {
		uint32_t f = c->entries[i].function;

		if (f < 0x40000000)
			TEST_ASSERT(f <= find(c, 0, 0)->eax,
				    "leaf %#x beyond the basic maximum", f);
		else if (f >= 0x80000000 && f < 0x80000100)
			TEST_ASSERT(f <= e->eax,
				    "leaf %#x beyond the extended maximum", f);
	}
	close(fd);
}

/* Leaves the guest queries: CPUID's EAX and ECX inputs. */
static const uint32_t probe[][2] = {
	{ 0, 0 }, { 1, 0 }, { 7, 0 }, { 0x80000000, 0 }, { 0x80000001, 0 },
	{ 0x80000002, 0 }, { 0x80000003, 0 }, { 0x80000004, 0 },
	{ 0x80000008, 0 },
};

/* CPUID for each (leaf, subleaf) pair the host feeds in; reports 4 regs. */
GUEST_CODE(cpuid_guest,
	".code64\n"
	"1:\n"
	"in $0xe4, %eax\n"
	"mov %eax, %esi\n"
	"in $0xe5, %eax\n"
	"mov %eax, %ecx\n"
	"mov %esi, %eax\n"
	"cpuid\n"
	GUEST_REPORT_EAX
	"mov %ebx, %eax\n"
	GUEST_REPORT_EAX
	"mov %ecx, %eax\n"
	GUEST_REPORT_EAX
	"mov %edx, %eax\n"
	GUEST_REPORT_EAX
	"jmp 1b\n");

static void guest_cpuid(struct vmm_vcpu *vcpu, uint32_t leaf, uint32_t sub,
			uint32_t regs[4])
{
	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_assert_io(vcpu, KVM_EXIT_IO_IN, 0xe4, 4, 1);
	vmm_io_set_data(vcpu, leaf);
	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_assert_io(vcpu, KVM_EXIT_IO_IN, 0xe5, 4, 1);
	vmm_io_set_data(vcpu, sub);
	for (int i = 0; i < 4; i++)
		regs[i] = vmm_guest_report(vcpu);
}

/* The supported table with a brand string of our own. */
static struct kvm_cpuid2 *test_table(void)
{
	int fd = vmm_open_dev();
	struct kvm_cpuid2 *c = get_supported(fd);
	static const char brand[48] = "vmm selftest CPU, not a real one";

	close(fd);
	for (uint32_t leaf = 0x80000002; leaf <= 0x80000004; leaf++) {
		struct kvm_cpuid_entry2 *e = find(c, leaf, 0);

		TEST_ASSERT(e, "no brand leaf %#x", leaf);
		memcpy(&e->eax, brand + (leaf - 0x80000002) * 16, 16);
	}
	return c;
}

static void set_osxsave(struct vmm_vcpu *vcpu, bool on)
{
	struct kvm_sregs sregs;

	vmm_get_sregs(vcpu, &sregs);
	sregs.cr4 = on ? sregs.cr4 | CR4_OSXSAVE : sregs.cr4 & ~CR4_OSXSAVE;
	vmm_set_sregs(vcpu, &sregs);
}

/* Compares what the guest saw with the table, dynamic bits aside. */
static void check_guest_view(struct vmm_vcpu *vcpu, struct kvm_cpuid2 *c,
			     bool osxsave)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(probe); i++) {
		struct kvm_cpuid_entry2 *e = find(c, probe[i][0], probe[i][1]);
		uint32_t want[4], got[4];

		if (!e)
			continue;
		guest_cpuid(vcpu, probe[i][0], probe[i][1], got);
		memcpy(want, &e->eax, sizeof(want));
		if (probe[i][0] == 1) {
			TEST_ASSERT_EQ(!!(got[2] & CPUID1_ECX_OSXSAVE), osxsave);
			want[2] &= ~CPUID1_ECX_OSXSAVE;
			got[2] &= ~CPUID1_ECX_OSXSAVE;
			/* Follows APIC_BASE.EN, which userspace owns here. */
			want[3] &= ~CPUID1_EDX_APIC;
			got[3] &= ~CPUID1_EDX_APIC;
		}
		if (probe[i][0] == 7) {
			want[2] &= ~CPUID7_ECX_OSPKE;
			got[2] &= ~CPUID7_ECX_OSPKE;
		}
		for (int r = 0; r < 4; r++)
			TEST_ASSERT(got[r] == want[r],
				    "CPUID %#x.%u reg %d: guest %#x, table %#x",
				    probe[i][0], probe[i][1], r, got[r],
				    want[r]);
	}
}

TEST(guest_sees_table)
{
	struct kvm_cpuid2 *c = test_table();
	bool xsave = find(c, 1, 0)->ecx & CPUID1_ECX_XSAVE;
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	uint32_t regs[4];

	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_CPUID2, c));
	vmm_vm_load_code(vm, 0, GUEST(cpuid_guest));
	vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);
	check_guest_view(vcpu, c, false);

	/* CR4.OSXSAVE set from outside shows up in the guest's CPUID. */
	if (xsave) {
		set_osxsave(vcpu, true);
		check_guest_view(vcpu, c, true);
		set_osxsave(vcpu, false);
		guest_cpuid(vcpu, 1, 0, regs);
		TEST_ASSERT_EQ(regs[2] & CPUID1_ECX_OSXSAVE, 0);
	} else {
		vmm_test_info("no XSAVE: OSXSAVE not checked");
	}
	vmm_vm_free(vm);
}

TEST(get_cpuid2)
{
	struct kvm_cpuid2 *c = test_table();
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	struct kvm_cpuid2 *small = alloc_cpuid(c->nent - 1);
	struct kvm_cpuid2 *back = alloc_cpuid(c->nent);

	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_CPUID2, c));
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_CPUID2, small), E2BIG);
	/* KVM 6.1 writes nent back only on E2BIG, so ask for exactly it. */
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_CPUID2, back));
	TEST_ASSERT_EQ(back->nent, c->nent);
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *a = &c->entries[i], *b = &back->entries[i];

		TEST_ASSERT(a->function == b->function && a->index == b->index &&
			    a->flags == b->flags, "entry %u: %#x.%u/%#x vs "
			    "%#x.%u/%#x", i, a->function, a->index, a->flags,
			    b->function, b->index, b->flags);
		/* Leaves with bits that follow CR4, APIC_BASE or XCR0. */
		if (a->function == 1 || a->function == 7 || a->function == 0xd)
			continue;
		TEST_ASSERT(a->eax == b->eax && a->ebx == b->ebx &&
			    a->ecx == b->ecx && a->edx == b->edx,
			    "entry %#x.%u differs", a->function, a->index);
	}
	vmm_vm_free(vm);
}

GUEST_CODE(ran_guest,
	".code64\n"
	GUEST_DONE);

TEST(set_after_run)
{
	struct kvm_cpuid2 *c = test_table();
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(ran_guest));

	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_CPUID2, c));
	/* Before the first KVM_RUN the table may still change. */
	find(c, 0x80000002, 0)->eax ^= 1;
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_CPUID2, c));
	vmm_guest_done(vcpu);

	/* Afterwards only the same table is accepted (KVM since 5.16). */
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_CPUID2, c));
	find(c, 0x80000002, 0)->eax ^= 1;
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_CPUID2, c), EINVAL);
	c->nent--;
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_CPUID2, c), EINVAL);
}

TEST_MAIN()
