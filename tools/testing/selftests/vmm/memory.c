// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory as the guest sees it: host and guest writes visible to the
 * other side, changes to the host mapping behind a slot (munmap + remap,
 * MADV_DONTNEED), and slots moved or deleted under a running guest.
 * The accessor guest reads or writes one word per host command, so every
 * guest access happens after the host-side change before it.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "vmm_test.h"

#define SLOT_GPA	0x40000000ull
#define SLOT_GPA2	0x80000000ull
#define SLOT_SIZE	0x200000ull

TEST(host_to_guest)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *low = vmm_gpa_to_hva(vcpu->vm, GUEST_DATA);
	uint32_t *high = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, 0);

	low[0] = 0x11223344;
	high[0] = 0x55667788;
	high[SLOT_SIZE / 4 - 1] = 0x99aabbcc;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, GUEST_DATA), 0x11223344);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0x55667788);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + SLOT_SIZE - 4),
		       0x99aabbcc);
	/* A page the host never touched reads as zero. */
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x10000), 0);
	/* The host changes a page the guest has already mapped. */
	high[0] = 0xfeedface;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0xfeedface);
}

TEST(guest_to_host)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *high = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, 0);
	uint32_t *low = vmm_gpa_to_hva(vcpu->vm, GUEST_DATA);

	vmm_accessor_write(vcpu, GUEST_DATA + 8, 0xa5a5a5a5);
	TEST_ASSERT_EQ(low[2], 0xa5a5a5a5);
	vmm_accessor_write(vcpu, SLOT_GPA + 0x1234, 0xc0ffee);
	TEST_ASSERT_EQ(high[0x1234 / 4], 0xc0ffee);
	/* And the guest reads back its own write. */
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x1234), 0xc0ffee);
}

TEST(many_pages)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *high = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, 0);

	/* One write per 4 KiB page, each landing on its own host page. */
	for (uint64_t off = 0; off < SLOT_SIZE; off += 0x4000)
		vmm_accessor_write(vcpu, SLOT_GPA + off + 4, off ^ 0x5a5a);
	for (uint64_t off = 0; off < SLOT_SIZE; off += 0x1000)
		TEST_ASSERT_EQ(high[off / 4 + 1],
			       off % 0x4000 ? 0 : off ^ 0x5a5a);
}

TEST(remap)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *high = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, 0);
	void *p;

	high[0] = 0x1111;
	high[0x1000 / 4] = 0x2222;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0x1111);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x1000), 0x2222);

	/* New anonymous memory at the same address: the guest must see it. */
	p = mmap(high, SLOT_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	TEST_ASSERT(p == high, "mmap MAP_FIXED: %s", strerror(errno));
	high[0] = 0x3333;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0x3333);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x1000), 0);

	/* munmap first, then map again: same expectations. */
	TEST_ASSERT_OK(munmap(high, SLOT_SIZE));
	p = mmap(high, SLOT_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	TEST_ASSERT(p == high, "mmap MAP_FIXED: %s", strerror(errno));
	high[0x1000 / 4] = 0x4444;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x1000), 0x4444);
	/* The guest's writes land in the new memory. */
	vmm_accessor_write(vcpu, SLOT_GPA + 8, 0x5555);
	TEST_ASSERT_EQ(high[2], 0x5555);
}

TEST(madv_dontneed)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *high = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, 0);

	vmm_accessor_write(vcpu, SLOT_GPA, 0x7777);
	high[0x1000 / 4] = 0x8888;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x1000), 0x8888);
	/* Private anonymous memory reads as zero after DONTNEED. */
	TEST_ASSERT_OK(madvise(high, SLOT_SIZE, MADV_DONTNEED));
	TEST_ASSERT_EQ(high[0], 0);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x1000), 0);
	/* The new pages are shared between host and guest again. */
	vmm_accessor_write(vcpu, SLOT_GPA, 0x9999);
	TEST_ASSERT_EQ(high[0], 0x9999);
	high[0x1000 / 4] = 0xaaaa;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x1000), 0xaaaa);
}

TEST(shared_mapping)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *shm, *alias;

	/* A MAP_SHARED region seen through two host mappings. */
	shm = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(shm != MAP_FAILED, "mmap: %s", strerror(errno));
	alias = mremap(shm, 0, SLOT_SIZE, MREMAP_MAYMOVE);
	TEST_ASSERT(alias != MAP_FAILED, "mremap: %s", strerror(errno));
	TEST_ASSERT_OK(vmm_vm_set_slot(vcpu->vm, 1, 0, SLOT_GPA, SLOT_SIZE,
				       shm));

	alias[4] = 0x12121212;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 16), 0x12121212);
	vmm_accessor_write(vcpu, SLOT_GPA + 20, 0x34343434);
	TEST_ASSERT_EQ(alias[5], 0x34343434);
}

TEST(slot_move)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *high = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, 0);

	high[1] = 0xabcdef01;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 4), 0xabcdef01);
	vmm_vm_move_slot(vcpu->vm, 1, SLOT_GPA2);
	/* Same memory at the new GPA... */
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA2 + 4), 0xabcdef01);
	/* ...and nothing left at the old one. */
	vmm_accessor_read_mmio(vcpu, SLOT_GPA + 4, 0x10101010);
	vmm_accessor_write_mmio(vcpu, SLOT_GPA + 8, 0x20202020);
	TEST_ASSERT_EQ(high[2], 0);
	vmm_accessor_write(vcpu, SLOT_GPA2 + 8, 0x30303030);
	TEST_ASSERT_EQ(high[2], 0x30303030);
	/* And back. */
	vmm_vm_move_slot(vcpu->vm, 1, SLOT_GPA);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 8), 0x30303030);
	vmm_accessor_read_mmio(vcpu, SLOT_GPA2 + 8, 0x40404040);
}

TEST(slot_delete)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *high = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, 0);

	high[0] = 0x13579bdf;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0x13579bdf);
	vmm_vm_delete_slot(vcpu->vm, 1);
	vmm_accessor_read_mmio(vcpu, SLOT_GPA, 0x2468ace0);
	vmm_accessor_write_mmio(vcpu, SLOT_GPA + 0x1000, 0x11112222);
	TEST_ASSERT_EQ(high[0x1000 / 4], 0);
	/* A new slot with other memory in the same place. */
	high = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, 0);
	high[0] = 0x31415926;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0x31415926);
}

TEST_MAIN()
