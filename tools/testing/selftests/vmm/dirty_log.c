// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty logging: KVM_GET_DIRTY_LOG reports exactly the pages the guest
 * wrote since the previous call, and nothing for guest reads or for writes
 * by userspace; slots without KVM_MEM_LOG_DIRTY_PAGES have no log.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm_test.h"

#define LOG_SLOT	1
#define LOG_GPA		0x100000ull
#define LOG_PAGES	64
#define PAGE_SIZE	4096

static uint64_t get_log(struct vmm_vcpu *vcpu)
{
	uint64_t bitmap[LOG_PAGES / 64] = { 0 };
	struct kvm_dirty_log log = {
		.slot = LOG_SLOT,
		.dirty_bitmap = bitmap,
	};

	TEST_ASSERT_OK(ioctl(vcpu->vm->fd, KVM_GET_DIRTY_LOG, &log));
	return bitmap[0];
}

static uint64_t page_gpa(unsigned int page, unsigned int offset)
{
	return LOG_GPA + page * PAGE_SIZE + offset;
}

/* The accessor guest plus a logged slot of LOG_PAGES after it. */
static struct vmm_vcpu *logged_vcpu(void **hva)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();

	*hva = vmm_vm_add_slot(vcpu->vm, LOG_SLOT, LOG_GPA,
			       LOG_PAGES * PAGE_SIZE, KVM_MEM_LOG_DIRTY_PAGES);
	return vcpu;
}

static void write_pages(struct vmm_vcpu *vcpu, uint64_t mask)
{
	for (unsigned int i = 0; i < LOG_PAGES; i++)
		if (mask & (1ull << i))
			vmm_accessor_write(vcpu, page_gpa(i, 8 * i), 0x1000 + i);
}

TEST(initially_clean)
{
	void *hva;
	struct vmm_vcpu *vcpu = logged_vcpu(&hva);

	/* Touch a page outside the log so the VM has run. */
	vmm_accessor_write(vcpu, GUEST_DATA, 1);
	TEST_ASSERT_EQ(get_log(vcpu), 0);
}

TEST(exact)
{
	void *hva;
	struct vmm_vcpu *vcpu = logged_vcpu(&hva);
	const uint64_t first = 1ull << 0 | 1ull << 3 | 1ull << 17 | 1ull << 63;
	const uint64_t second = 1ull << 3 | 1ull << 5;

	get_log(vcpu);
	write_pages(vcpu, first);
	TEST_ASSERT_EQ(get_log(vcpu), first);
	/* Fetching the log resets it. */
	TEST_ASSERT_EQ(get_log(vcpu), 0);

	/* Pages written again after being reported are dirty again. */
	write_pages(vcpu, second);
	TEST_ASSERT_EQ(get_log(vcpu), second);

	/* The data really landed. */
	TEST_ASSERT_EQ(*(uint32_t *)((char *)hva + 5 * PAGE_SIZE + 40), 0x1005);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, page_gpa(63, 8 * 63)), 0x103f);
}

TEST(reads_and_host_writes)
{
	void *hva;
	struct vmm_vcpu *vcpu = logged_vcpu(&hva);

	memset((char *)hva + 20 * PAGE_SIZE, 0xaa, PAGE_SIZE);
	get_log(vcpu);
	/* Reading memory nobody wrote maps the zero page: not dirty. */
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, page_gpa(10, 0)), 0);
	TEST_ASSERT_EQ(get_log(vcpu), 0);
	/*
	 * A read of a page the host has written may count: KVM maps such
	 * a page writable on the read fault and logs it then. Not checked.
	 */
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, page_gpa(20, 0)), 0xaaaaaaaa);
	get_log(vcpu);
	/* Userspace writes, to a mapped and to an unmapped page. */
	memset((char *)hva + 20 * PAGE_SIZE, 0x55, 64);
	memset((char *)hva + 30 * PAGE_SIZE, 0x55, 64);
	TEST_ASSERT_EQ(get_log(vcpu), 0);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, page_gpa(20, 0)), 0x55555555);
	TEST_ASSERT_EQ(get_log(vcpu), 0);
	/* After being read, a write still counts. */
	write_pages(vcpu, 1ull << 10);
	TEST_ASSERT_EQ(get_log(vcpu), 1ull << 10);
}

TEST(no_log)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint64_t bitmap[4];
	struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = bitmap };

	/* Slot 0 exists but has no log. */
	TEST_ASSERT_ERRNO(ioctl(vcpu->vm->fd, KVM_GET_DIRTY_LOG, &log), ENOENT);
	/* No such slot. */
	log.slot = 5;
	TEST_ASSERT_ERRNO(ioctl(vcpu->vm->fd, KVM_GET_DIRTY_LOG, &log), ENOENT);
}

TEST(toggle)
{
	void *hva;
	struct vmm_vcpu *vcpu = logged_vcpu(&hva);
	uint64_t bitmap[1];
	struct kvm_dirty_log log = { .slot = LOG_SLOT, .dirty_bitmap = bitmap };

	write_pages(vcpu, 1ull << 1);
	TEST_ASSERT_EQ(get_log(vcpu), 1ull << 1);

	/* Off: no log, and writes go through without being tracked. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vcpu->vm, LOG_SLOT, 0, LOG_GPA,
				       LOG_PAGES * PAGE_SIZE, hva));
	TEST_ASSERT_ERRNO(ioctl(vcpu->vm->fd, KVM_GET_DIRTY_LOG, &log), ENOENT);
	write_pages(vcpu, 1ull << 2 | 1ull << 4);
	TEST_ASSERT_EQ(*(uint32_t *)((char *)hva + 4 * PAGE_SIZE + 32), 0x1004);

	/* On again: a fresh log that only sees writes from now on. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vcpu->vm, LOG_SLOT,
				       KVM_MEM_LOG_DIRTY_PAGES, LOG_GPA,
				       LOG_PAGES * PAGE_SIZE, hva));
	TEST_ASSERT_EQ(get_log(vcpu), 0);
	/* Page 4 was mapped writable while logging was off. */
	write_pages(vcpu, 1ull << 4 | 1ull << 6);
	TEST_ASSERT_EQ(get_log(vcpu), 1ull << 4 | 1ull << 6);
	TEST_ASSERT_EQ(get_log(vcpu), 0);
}

TEST_MAIN()
