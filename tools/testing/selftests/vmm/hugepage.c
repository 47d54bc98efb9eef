// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory backed by 2 MiB transparent huge pages: every 4 KiB page
 * of it is the right host page whatever size the hypervisor maps it with,
 * a page dropped from the middle of a huge page is dropped for the guest
 * too, and dirty logging turned on over huge mappings still reports single
 * 4 KiB pages.  Skips when the test VM's kernel gives no THP.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm_test.h"

#define HUGE_SLOT	1
#define HUGE_GPA	0x40000000ull	/* 2 MiB aligned */
#define HUGE_SIZE	(4ull << 20)
#define HUGE_2M		(2ull << 20)
#define PAGE		4096ull

/* Anonymous host memory made of THPs, or skip. */
static uint32_t *huge_memory(void)
{
	char *raw, *mem;
	char line[256];
	long huge_kb = -1;
	FILE *f;

	raw = mmap(NULL, HUGE_SIZE + HUGE_2M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(raw != MAP_FAILED, "mmap: %s", strerror(errno));
	mem = (char *)(((uintptr_t)raw + HUGE_2M - 1) & ~(HUGE_2M - 1));
	if (madvise(mem, HUGE_SIZE, MADV_HUGEPAGE))
		TEST_SKIP("MADV_HUGEPAGE: %s", strerror(errno));
	memset(mem, 0x5a, HUGE_SIZE);

	f = fopen("/proc/self/smaps_rollup", "r");
	TEST_ASSERT(f, "smaps_rollup: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &huge_kb) == 1)
			break;
	fclose(f);
	if (huge_kb < (long)(HUGE_SIZE >> 10))
		TEST_SKIP("no THP backing (AnonHugePages %ld kB)", huge_kb);
	return (uint32_t *)mem;
}

static struct vmm_vcpu *huge_vcpu(uint32_t **mem, uint32_t flags)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();

	*mem = huge_memory();
	TEST_ASSERT_OK(vmm_vm_set_slot(vcpu->vm, HUGE_SLOT, flags, HUGE_GPA,
				       HUGE_SIZE, *mem));
	return vcpu;
}

static uint32_t *word(uint32_t *mem, uint64_t offset)
{
	return mem + offset / 4;
}

/* Each page of the slot is its own host page, in both directions. */
TEST(every_page_right)
{
	uint32_t *mem;
	struct vmm_vcpu *vcpu = huge_vcpu(&mem, 0);
	uint64_t off;

	for (off = 0; off < HUGE_SIZE; off += PAGE)
		vmm_accessor_write(vcpu, HUGE_GPA + off + 8, 0x10000000 + off);
	for (off = 0; off < HUGE_SIZE; off += PAGE) {
		TEST_ASSERT_EQ(*word(mem, off + 8), 0x10000000 + off);
		*word(mem, off + 12) = 0x20000000 + off;
	}
	for (off = 0; off < HUGE_SIZE; off += 17 * PAGE)
		TEST_ASSERT_EQ(vmm_accessor_read(vcpu, HUGE_GPA + off + 12),
			       0x20000000 + off);
	/* Never written by anyone: still what the host put there. */
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, HUGE_GPA + 0x1ffffc), 0x5a5a5a5a);
}

/* Dropping one 4 KiB page of a huge page drops it for the guest. */
TEST(dontneed_inside_huge_page)
{
	uint32_t *mem;
	struct vmm_vcpu *vcpu = huge_vcpu(&mem, 0);
	uint64_t hole = 0x123000;

	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, HUGE_GPA + hole), 0x5a5a5a5a);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, HUGE_GPA + hole + PAGE),
		       0x5a5a5a5a);
	TEST_ASSERT_OK(madvise(word(mem, hole), PAGE, MADV_DONTNEED));
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, HUGE_GPA + hole), 0);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, HUGE_GPA + hole + PAGE),
		       0x5a5a5a5a);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, HUGE_GPA + hole - PAGE),
		       0x5a5a5a5a);
	/* The new page is shared between host and guest. */
	vmm_accessor_write(vcpu, HUGE_GPA + hole, 0x4242);
	TEST_ASSERT_EQ(*word(mem, hole), 0x4242);
}

static uint64_t get_log(struct vmm_vcpu *vcpu, uint64_t *bitmap)
{
	struct kvm_dirty_log log = {
		.slot = HUGE_SLOT,
		.dirty_bitmap = bitmap,
	};
	uint64_t n = 0;
	unsigned int i;

	memset(bitmap, 0, HUGE_SIZE / PAGE / 8);
	TEST_ASSERT_OK(ioctl(vcpu->vm->fd, KVM_GET_DIRTY_LOG, &log));
	for (i = 0; i < HUGE_SIZE / PAGE / 64; i++)
		n += __builtin_popcountll(bitmap[i]);
	return n;
}

/* Logging switched on over huge mappings counts single pages. */
TEST(dirty_log_after_huge)
{
	uint64_t bitmap[HUGE_SIZE / PAGE / 64];
	uint64_t page = 0x1f7000 / PAGE;
	uint32_t *mem;
	struct vmm_vcpu *vcpu = huge_vcpu(&mem, 0);

	/* Map (huge, where the hypervisor can) and write everything. */
	vmm_accessor_write(vcpu, HUGE_GPA, 1);
	vmm_accessor_write(vcpu, HUGE_GPA + HUGE_2M, 2);
	TEST_ASSERT_OK(vmm_vm_set_slot(vcpu->vm, HUGE_SLOT,
				       KVM_MEM_LOG_DIRTY_PAGES, HUGE_GPA,
				       HUGE_SIZE, mem));
	get_log(vcpu, bitmap);
	vmm_accessor_write(vcpu, HUGE_GPA + page * PAGE + 4, 3);
	TEST_ASSERT_EQ(get_log(vcpu, bitmap), 1);
	TEST_ASSERT(bitmap[page / 64] & (1ull << (page % 64)),
		    "page %#llx not logged", (unsigned long long)page);
	TEST_ASSERT_EQ(*word(mem, page * PAGE + 4), 3);
	/* Reads are not writes. */
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, HUGE_GPA + HUGE_2M), 2);
	TEST_ASSERT_EQ(get_log(vcpu, bitmap), 0);
}

TEST_MAIN()
