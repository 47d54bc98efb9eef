// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_SET_USER_MEMORY_REGION: parameter checking, overlaps, the slot
 * limit, the rules for changing an existing slot, and read-only slots.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "vmm_test.h"

#define SLOT_GPA	0x40000000ull	/* 1 GiB: far from slot 0 */
#define SLOT_SIZE	0x200000ull

static void *anon(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TEST_ASSERT(p != MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

TEST(bad_parameters)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	char *mem = anon(SLOT_SIZE * 2);

	/* Everything must be page aligned. */
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA + 0x800,
					  SLOT_SIZE, mem), EINVAL);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA, SLOT_SIZE - 0x800,
					  mem), EINVAL);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA, SLOT_SIZE,
					  mem + 1), EINVAL);
	/* Unknown flags. */
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, 1u << 7, SLOT_GPA, SLOT_SIZE,
					  mem), EINVAL);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, 0x80000000u, SLOT_GPA,
					  SLOT_SIZE, mem), EINVAL);
	/* GPA + size wrapping around. */
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, 0, 0xfffffffffffff000ull,
					  0x2000, mem), EINVAL);
	/* Host memory that is not user memory. */
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA, SLOT_SIZE,
					  (void *)0xffff880000000000ull),
			  EINVAL);
	/* An address space id that x86 doesn't have (0 normal, 1 SMM). */
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 2u << 16 | 1, 0, SLOT_GPA,
					  SLOT_SIZE, mem), EINVAL);
	/* Deleting a slot that doesn't exist. */
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 5, 0, SLOT_GPA, 0, mem), EINVAL);

	/* None of that left a slot behind: the real one goes in. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA, SLOT_SIZE, mem));
}

TEST(nr_memslots)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	int nr = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	char *mem = anon(0x3000);

	/* KVM has always promised at least 32 slots. */
	TEST_ASSERT(nr >= 32, "KVM_CAP_NR_MEMSLOTS = %d", nr);
	TEST_ASSERT_EQ(ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS),
		       nr);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, nr, 0, 0, 0x1000, mem), EINVAL);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 0xffff, 0, 0, 0x1000, mem),
			  EINVAL);
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, nr - 1, 0, 0, 0x1000, mem));
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 0, 0, 0x1000, 0x1000, mem + 0x1000));
	/* Deleting frees the number for reuse. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, nr - 1, 0, 0, 0, mem));
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, nr - 1, 0, 0x2000, 0x1000,
				       mem + 0x2000));
}

TEST(many_slots)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	char *mem = anon(64 * 0x1000);

	/* 64 one-page slots side by side, each its own host page. */
	for (int i = 0; i < 64; i++)
		TEST_ASSERT_OK(vmm_vm_set_slot(vm, i, 0, SLOT_GPA + i * 0x1000,
					       0x1000, mem + i * 0x1000));
	for (int i = 0; i < 64; i += 2)
		TEST_ASSERT_OK(vmm_vm_set_slot(vm, i, 0, SLOT_GPA + i * 0x1000,
					       0, NULL));
}

TEST(overlap)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	char *mem = anon(SLOT_SIZE * 4);

	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA, SLOT_SIZE, mem));
	/* The same range, a range inside, and ranges over either edge. */
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 2, 0, SLOT_GPA, SLOT_SIZE,
					  mem + SLOT_SIZE), EEXIST);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 2, 0, SLOT_GPA + 0x1000, 0x1000,
					  mem + SLOT_SIZE), EEXIST);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 2, 0, SLOT_GPA - 0x1000, 0x2000,
					  mem + SLOT_SIZE), EEXIST);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 2, 0, SLOT_GPA + SLOT_SIZE - 0x1000,
					  SLOT_SIZE, mem + SLOT_SIZE), EEXIST);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 2, 0, SLOT_GPA - 0x1000,
					  SLOT_SIZE * 2, mem + SLOT_SIZE),
			  EEXIST);
	/* Adjacent on both sides is fine. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 2, 0, SLOT_GPA + SLOT_SIZE, 0x1000,
				       mem + SLOT_SIZE));
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 3, 0, SLOT_GPA - 0x1000, 0x1000,
				       mem + SLOT_SIZE * 2));
	/* Two slots may share host memory; only GPAs must not overlap. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 4, 0, SLOT_GPA * 2, SLOT_SIZE, mem));
	/* Moving a slot onto another one is an overlap too. */
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 4, 0, SLOT_GPA, SLOT_SIZE, mem),
			  EEXIST);
}

TEST(modify_slot)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	char *mem = anon(SLOT_SIZE * 2);

	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA, SLOT_SIZE, mem));
	/* A live slot may move or change flags, but not resize or rebase. */
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA, SLOT_SIZE * 2,
					  mem), EINVAL);
	TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA, SLOT_SIZE,
					  mem + SLOT_SIZE), EINVAL);
	if (vmm_check_cap(KVM_CAP_READONLY_MEM))
		TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, KVM_MEM_READONLY,
						  SLOT_GPA, SLOT_SIZE, mem),
				  EINVAL);
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA * 2, SLOT_SIZE, mem));
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 1, KVM_MEM_LOG_DIRTY_PAGES,
				       SLOT_GPA * 2, SLOT_SIZE, mem));
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA * 2, SLOT_SIZE, mem));
	/* The same call twice is a no-op, not an overlap with itself. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA * 2, SLOT_SIZE, mem));
	/* After a delete, the number may come back with any geometry. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA * 2, 0, mem));
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, 1, 0, SLOT_GPA, SLOT_SIZE * 2, mem));
}

TEST(readonly)
{
	struct vmm_vcpu *vcpu;
	uint32_t *host;

	if (!vmm_check_cap(KVM_CAP_READONLY_MEM))
		TEST_SKIP("KVM_CAP_READONLY_MEM not supported");
	vcpu = vmm_accessor_create();
	host = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE,
			       KVM_MEM_READONLY);
	host[0] = 0xabcd1234;
	host[0x1000 / 4] = 0x600df00d;

	/* Reads are served from memory, like any slot. */
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0xabcd1234);
	/* Writes exit as MMIO and do not reach memory. */
	vmm_accessor_write_mmio(vcpu, SLOT_GPA, 0x11111111);
	TEST_ASSERT_EQ(host[0], 0xabcd1234);
	vmm_accessor_write_mmio(vcpu, SLOT_GPA + 0x1000, 0x22222222);
	TEST_ASSERT_EQ(host[0x1000 / 4], 0x600df00d);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x1000), 0x600df00d);
	/* The host can still change what the guest reads. */
	host[0] = 0x5555aaaa;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0x5555aaaa);
}

TEST(fetch_from_mmio)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	struct vmm_vcpu *vcpu;
	struct kvm_run *run;
	uint32_t reason;

	/*
	 * Some memory, but none at the reset vector: the first fetch, at
	 * 0xfffffff0, hits MMIO and KVM cannot emulate an instruction fetch
	 * from a device. (With no memslot at all KVM 6.1 sizes its MMU to
	 * zero pages and KVM_RUN fails with ENOSPC instead; we don't test
	 * that accident.)
	 */
	vmm_vm_add_slot(vm, 0, 0, 0x10000, 0);
	vcpu = vmm_vcpu_create(vm, 0);
	run = vcpu->run;
	reason = vmm_vcpu_run(vcpu);
	TEST_ASSERT(reason == KVM_EXIT_INTERNAL_ERROR,
		    "expected INTERNAL_ERROR, got %s", vmm_exit_describe(vcpu));
	TEST_ASSERT_EQ(run->internal.suberror, KVM_INTERNAL_ERROR_EMULATION);
}

TEST_MAIN()
