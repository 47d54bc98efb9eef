// SPDX-License-Identifier: GPL-2.0
/*
 * vmm-bench: micro-benchmarks of a KVM-API hypervisor.
 *
 *	vmm-bench [-d DEVICE] [-t SECONDS] FIGURE
 *
 * It speaks only the KVM API of <linux/kvm.h>, so the same binary measures
 * vmm.ko (/dev/vmm) and Debian's kvm_amd (/dev/kvm) in the same test-VM
 * boot. Every figure prints one line per result, machine-readable:
 *
 *	figure=pio value=20812.3 unit=exits/s better=higher
 *
 * and "value=n/a" (with a reason) when the figure cannot be measured on
 * this machine. Any other failure exits non-zero.
 *
 * Each figure runs its own tiny 64-bit guest. The guest RAM of slot 0 is
 * laid out as:
 *
 *	0x1000	GDT
 *	0x2000	PML4, PDPT, PD: the first 1 GiB identity-mapped, 2 MiB pages
 *	0x5000	mailbox: the iteration count the host asks for
 *	0x10000	the guest code
 *	0x80000	top of the stack
 *
 * The guests report with port I/O: an OUT to BENCH_PORT_START when the
 * timed part begins, an OUT to BENCH_PORT_END when it ends. Figures whose
 * exits go to userspace (pio, mmio) are timed by the host instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#define SLOT0_SIZE		0x200000UL
#define GDT_GPA			0x1000UL
#define PML4_GPA		0x2000UL
#define MAILBOX_GPA		0x5000UL
#define CODE_GPA		0x10000UL
#define STACK_TOP		0x80000UL

#define TOUCH_GPA		0x10000000UL	/* slot 1 of the touch figure */
#define TOUCH_SIZE		0x10000000UL	/* 256 MiB */
#define MMIO_GPA		0x30000000UL	/* in no memslot */

#define BENCH_PORT_LOOP		0x10	/* also the start marker */
#define BENCH_PORT_END		0x11

#define MEMORY_OBJECTS		32
#define MEMORY_SLOT_SIZE	0x10000UL	/* 64 KiB per idle VM */

#define HUGE_PAGE_SIZE		0x200000UL

static const char *bench_device = "/dev/kvm";
static double bench_seconds = 1.0;

/*
 * The guests. Each sits between NAME_start and NAME_end in .rodata and is
 * copied to CODE_GPA; all of them are position independent or use only
 * absolute guest-physical addresses from the layout above.
 */
#define GUEST(name, body)						\
	extern const unsigned char name##_start[], name##_end[];	\
	asm(".pushsection .rodata.guest, \"a\"\n"			\
	    #name "_start:\n"						\
	    ".code64\n"							\
	    body							\
	    #name "_end:\n"						\
	    ".popsection\n")

/* Every OUT is a round trip to userspace. */
GUEST(guest_pio,
      "1:	out %al, $0x10\n"
      "	jmp 1b\n");

/* Every write to a GPA in no memslot is an MMIO exit to userspace. */
GUEST(guest_mmio,
      "	mov $0x30000000, %edi\n"
      "1:	movl %eax, (%rdi)\n"
      "	jmp 1b\n");

/*
 * In-kernel exits: the host writes a count to the mailbox; the guest
 * announces the start, runs that many CPUID (or RDMSR) and announces
 * the end, then waits for the next count.
 */
GUEST(guest_cpuid,
      "2:	mov 0x5000, %r8\n"
      "	out %al, $0x10\n"
      "1:	xor %eax, %eax\n"
      "	xor %ecx, %ecx\n"
      "	cpuid\n"
      "	dec %r8\n"
      "	jnz 1b\n"
      "	out %al, $0x11\n"
      "	jmp 2b\n");

/* RDMSR of EFER: handled in the kernel by vmm and by KVM alike. */
GUEST(guest_msr,
      "2:	mov 0x5000, %r8\n"
      "	out %al, $0x10\n"
      "1:	mov $0xc0000080, %ecx\n"
      "	rdmsr\n"
      "	dec %r8\n"
      "	jnz 1b\n"
      "	out %al, $0x11\n"
      "	jmp 2b\n");

/* One byte per 4 KiB page of slot 1, each the first touch of its page. */
GUEST(guest_touch,
      "	mov $0x10000000, %rdi\n"
      "	mov $0x20000000, %rsi\n"
      "	out %al, $0x10\n"
      "1:	movb $1, (%rdi)\n"
      "	add $4096, %rdi\n"
      "	cmp %rsi, %rdi\n"
      "	jb 1b\n"
      "	out %al, $0x11\n"
      "2:	hlt\n"
      "	jmp 2b\n");

struct bench_vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
bench_die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	fprintf(stderr, "vmm-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
	exit(1);
}

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void bench_report(const char *figure, double value, const char *unit,
			 const char *better)
{
	printf("figure=%s value=%.1f unit=%s better=%s\n",
	       figure, value, unit, better);
	fflush(stdout);
}

static void bench_report_na(const char *figure, const char *unit,
			    const char *better, const char *why)
{
	printf("figure=%s value=n/a unit=%s better=%s reason=%s\n",
	       figure, unit, better, why);
	fflush(stdout);
}

static int bench_open_device(void)
{
	int fd = open(bench_device, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		bench_die("open %s", bench_device);
	errno = 0;
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		bench_die("%s: unexpected KVM API version", bench_device);
	return fd;
}

static void bench_set_region(int vm_fd, uint32_t slot, uint64_t gpa,
			     uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		bench_die("KVM_SET_USER_MEMORY_REGION slot %u", slot);
}

/* Give the vCPU the host's supported CPUID, as every real VMM does. */
static void bench_set_cpuid(int kvm_fd, int vcpu_fd)
{
	struct kvm_cpuid2 *cpuid;
	int nent = 64;

	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) +
			       nent * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			bench_die("calloc");
		cpuid->nent = nent;
		if (!ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid))
			break;
		if (errno != E2BIG || nent >= 4096)
			bench_die("KVM_GET_SUPPORTED_CPUID");
		free(cpuid);
		nent *= 2;
	}
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
		bench_die("KVM_SET_CPUID2");
	free(cpuid);
}

static void bench_build_page_tables(uint8_t *mem)
{
	uint64_t *pml4 = (uint64_t *)(mem + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(mem + PML4_GPA + 0x1000);
	uint64_t *pd = (uint64_t *)(mem + PML4_GPA + 0x2000);

	pml4[0] = (PML4_GPA + 0x1000) | 0x3;		/* present, writable */
	pdpt[0] = (PML4_GPA + 0x2000) | 0x3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83;		/* + 2 MiB page */
}

/* Straight into 64-bit mode at CODE_GPA: no firmware, no boot code. */
static void bench_setup_long_mode(struct bench_vm *b)
{
	uint64_t *gdt = (uint64_t *)(b->mem + GDT_GPA);
	struct kvm_segment code = {
		.limit = 0xffffffff, .selector = 0x8,
		.type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.limit = 0xffffffff, .selector = 0x10,
		.type = 0x3, .present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct kvm_regs regs = {
		.rip = CODE_GPA,
		.rsp = STACK_TOP,
		.rflags = 0x2,
	};
	struct kvm_sregs sregs;

	gdt[1] = 0x00af9b000000ffff;
	gdt[2] = 0x00cf93000000ffff;
	bench_build_page_tables(b->mem);

	if (ioctl(b->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		bench_die("KVM_GET_SREGS");
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = 1 << 5;			/* PAE */
	sregs.cr0 = 0x80000011;			/* PG, ET, PE */
	sregs.efer = (1 << 8) | (1 << 10);	/* LME, LMA */
	if (ioctl(b->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		bench_die("KVM_SET_SREGS");
	if (ioctl(b->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		bench_die("KVM_SET_REGS");
}

static void bench_vm_create(struct bench_vm *b, const unsigned char *start,
			    const unsigned char *end)
{
	int size;

	b->kvm_fd = bench_open_device();
	b->vm_fd = ioctl(b->kvm_fd, KVM_CREATE_VM, 0);
	if (b->vm_fd < 0)
		bench_die("KVM_CREATE_VM");
	b->mem = mmap(NULL, SLOT0_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->mem == MAP_FAILED)
		bench_die("mmap guest RAM");
	bench_set_region(b->vm_fd, 0, 0, SLOT0_SIZE, b->mem);
	memcpy(b->mem + CODE_GPA, start, end - start);

	b->vcpu_fd = ioctl(b->vm_fd, KVM_CREATE_VCPU, 0);
	if (b->vcpu_fd < 0)
		bench_die("KVM_CREATE_VCPU");
	size = ioctl(b->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(*b->run))
		bench_die("KVM_GET_VCPU_MMAP_SIZE");
	b->run_size = size;
	b->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->vcpu_fd, 0);
	if (b->run == MAP_FAILED)
		bench_die("mmap kvm_run");
	bench_set_cpuid(b->kvm_fd, b->vcpu_fd);
	bench_setup_long_mode(b);
}

static void bench_vm_destroy(struct bench_vm *b)
{
	munmap(b->run, b->run_size);
	munmap(b->mem, SLOT0_SIZE);
	close(b->vcpu_fd);
	close(b->vm_fd);
	close(b->kvm_fd);
}

/* One KVM_RUN; returns the exit reason. */
static uint32_t bench_vm_run(struct bench_vm *b)
{
	while (ioctl(b->vcpu_fd, KVM_RUN, 0) < 0) {
		if (errno != EINTR)
			bench_die("KVM_RUN");
	}
	return b->run->exit_reason;
}

static void bench_expect_out(struct bench_vm *b, uint16_t port)
{
	uint32_t reason = bench_vm_run(b);

	errno = 0;
	if (reason != KVM_EXIT_IO)
		bench_die("expected an OUT to port %#x, got exit reason %u",
			  port, reason);
	if (b->run->io.direction != KVM_EXIT_IO_OUT || b->run->io.port != port)
		bench_die("expected an OUT to port %#x, got %s of port %#x",
			  port, b->run->io.direction ? "OUT" : "IN",
			  b->run->io.port);
}

static void bench_expect_mmio(struct bench_vm *b)
{
	uint32_t reason = bench_vm_run(b);

	errno = 0;
	if (reason != KVM_EXIT_MMIO)
		bench_die("expected an MMIO exit, got exit reason %u", reason);
	if (b->run->mmio.phys_addr != MMIO_GPA || !b->run->mmio.is_write ||
	    b->run->mmio.len != 4)
		bench_die("unexpected MMIO exit: %s of %u bytes at %#llx",
			  b->run->mmio.is_write ? "write" : "read",
			  b->run->mmio.len,
			  (unsigned long long)b->run->mmio.phys_addr);
}

static void bench_expect_loop_out(struct bench_vm *b)
{
	bench_expect_out(b, BENCH_PORT_LOOP);
}

/*
 * Exits to userspace, timed by the host: run for bench_seconds after a
 * short warm-up (which also lets TCG translate the guest loop).
 */
static double bench_user_exit_rate(struct bench_vm *b,
				   void (*expect)(struct bench_vm *))
{
	double start, elapsed;
	uint64_t exits = 0;

	for (int i = 0; i < 100; i++)
		expect(b);
	start = bench_now();
	do {
		for (int i = 0; i < 64; i++)
			expect(b);
		exits += 64;
		elapsed = bench_now() - start;
	} while (elapsed < bench_seconds);
	return exits / elapsed;
}

static int bench_pio(void)
{
	struct bench_vm b;

	bench_vm_create(&b, guest_pio_start, guest_pio_end);
	bench_report("pio", bench_user_exit_rate(&b, bench_expect_loop_out),
		     "exits/s", "higher");
	bench_vm_destroy(&b);
	return 0;
}

static int bench_mmio(void)
{
	struct bench_vm b;

	bench_vm_create(&b, guest_mmio_start, guest_mmio_end);
	bench_report("mmio", bench_user_exit_rate(&b, bench_expect_mmio),
		     "exits/s", "higher");
	bench_vm_destroy(&b);
	return 0;
}

/* Time @count guest iterations between the start and the end marker. */
static double bench_in_kernel_pass(struct bench_vm *b, uint64_t count)
{
	double start;

	*(volatile uint64_t *)(b->mem + MAILBOX_GPA) = count;
	bench_expect_out(b, BENCH_PORT_LOOP);
	start = bench_now();
	bench_expect_out(b, BENCH_PORT_END);
	return bench_now() - start;
}

/*
 * A short pass sizes the timed pass to last about bench_seconds, whatever
 * the speed of the hypervisor and of the emulated CPU.
 */
static double bench_in_kernel_rate(struct bench_vm *b)
{
	uint64_t count = 1000;
	double elapsed = bench_in_kernel_pass(b, count);

	if (elapsed > 0)
		count = count * bench_seconds / elapsed;
	if (count < 1000)
		count = 1000;
	if (count > 100000000)
		count = 100000000;
	return count / bench_in_kernel_pass(b, count);
}

static int bench_cpuid(void)
{
	struct bench_vm b;

	bench_vm_create(&b, guest_cpuid_start, guest_cpuid_end);
	bench_report("cpuid", bench_in_kernel_rate(&b), "exits/s", "higher");
	bench_vm_destroy(&b);
	return 0;
}

static int bench_msr(void)
{
	struct bench_vm b;

	bench_vm_create(&b, guest_msr_start, guest_msr_end);
	bench_report("msr", bench_in_kernel_rate(&b), "exits/s", "higher");
	bench_vm_destroy(&b);
	return 0;
}

/* Is THP available to MADV_HUGEPAGE mappings ("always" or "madvise")? */
static bool bench_thp_enabled(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}

/*
 * Fresh anonymous memory for slot 1. With @huge, 2 MiB-aligned (so that
 * GPA and HVA agree modulo 2 MiB) and MADV_HUGEPAGE; without, THP is
 * turned off for the range so that "always" does not blur the figure.
 */
static void *bench_touch_alloc(bool huge)
{
	size_t size = TOUCH_SIZE + (huge ? HUGE_PAGE_SIZE : 0);
	uintptr_t addr;
	void *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		bench_die("mmap %zu bytes", size);
	addr = (uintptr_t)p;
	if (huge)
		addr = (addr + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1);
	if (madvise((void *)addr, TOUCH_SIZE,
		    huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0)
		bench_die("madvise");
	return (void *)addr;
}

static int bench_touch(bool huge)
{
	const char *figure = huge ? "touch-thp" : "touch";
	struct bench_vm b;
	double start, elapsed;

	if (huge && !bench_thp_enabled()) {
		bench_report_na(figure, "MiB/s", "higher", "thp-disabled");
		return 0;
	}
	bench_vm_create(&b, guest_touch_start, guest_touch_end);
	bench_set_region(b.vm_fd, 1, TOUCH_GPA, TOUCH_SIZE,
			 bench_touch_alloc(huge));
	bench_expect_out(&b, BENCH_PORT_LOOP);
	start = bench_now();
	bench_expect_out(&b, BENCH_PORT_END);
	elapsed = bench_now() - start;
	bench_report(figure, TOUCH_SIZE / (1024.0 * 1024.0) / elapsed,
		     "MiB/s", "higher");
	/* The memory goes with the process. */
	bench_vm_destroy(&b);
	return 0;
}

/* VM + one vCPU + its kvm_run mapping, created and torn down. */
static void bench_create_one(int kvm_fd, int run_size)
{
	int vm_fd, vcpu_fd;
	void *run;

	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm_fd < 0)
		bench_die("KVM_CREATE_VM");
	vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
	if (vcpu_fd < 0)
		bench_die("KVM_CREATE_VCPU");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu_fd, 0);
	if (run == MAP_FAILED)
		bench_die("mmap kvm_run");
	munmap(run, run_size);
	close(vcpu_fd);
	close(vm_fd);
}

static int bench_create(void)
{
	int kvm_fd = bench_open_device();
	int run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	double start, elapsed;
	uint64_t n = 0;

	if (run_size <= 0)
		bench_die("KVM_GET_VCPU_MMAP_SIZE");
	for (int i = 0; i < 5; i++)
		bench_create_one(kvm_fd, run_size);
	start = bench_now();
	do {
		bench_create_one(kvm_fd, run_size);
		n++;
		elapsed = bench_now() - start;
	} while (elapsed < bench_seconds);
	bench_report("create", n / elapsed, "VMs/s", "higher");
	close(kvm_fd);
	return 0;
}

/* Where the kernel memory taken by VMs and vCPUs shows, in KiB. */
struct bench_meminfo {
	long free;		/* every free page, on per-CPU lists too */
	long slab;
	long kernel_stack;
	long page_tables;
	long vmalloc_used;
};

/*
 * MemFree leaves out the pages parked on per-CPU free lists, which come
 * and go in batches of a few hundred KiB: that alone would drown the
 * delta of 32 small objects. /proc/zoneinfo has both ("pages free" and
 * each pageset's "count:").
 */
static long bench_free_kib(void)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	long pages = 0, v;
	char line[256];

	if (!f)
		bench_die("/proc/zoneinfo");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " pages free %ld", &v) == 1 ||
		    sscanf(line, " count: %ld", &v) == 1)
			pages += v;
	}
	fclose(f);
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

static void bench_meminfo_read(struct bench_meminfo *m)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v;

	if (!f)
		bench_die("/proc/meminfo");
	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Slab: %ld", &v) == 1)
			m->slab = v;
		else if (sscanf(line, "KernelStack: %ld", &v) == 1)
			m->kernel_stack = v;
		else if (sscanf(line, "PageTables: %ld", &v) == 1)
			m->page_tables = v;
		else if (sscanf(line, "VmallocUsed: %ld", &v) == 1)
			m->vmalloc_used = v;
	}
	fclose(f);
	m->free = bench_free_kib();
}

/*
 * Deferred frees (RCU) and per-CPU counter deltas blur small figures:
 * give the former time and fold the latter (vm/stat_refresh, root only,
 * best effort) before each reading.
 */
static void bench_meminfo_settle(struct bench_meminfo *m)
{
	int fd;

	usleep(200000);
	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			errno = 0;
		close(fd);
	}
	bench_meminfo_read(m);
}

/*
 * The headline is the drop of free memory per object: every page
 * the kernel took (slab, vmalloc, whole pages such as VMCBs and kvm_run);
 * the breakdown is printed alongside, per object too.
 */
static void bench_memory_report(const char *figure,
				const struct bench_meminfo *before,
				const struct bench_meminfo *after, int n)
{
	printf("figure=%s value=%.1f unit=KiB better=lower slab=%.1f kernel_stack=%.1f page_tables=%.1f vmalloc=%.1f\n",
	       figure, (double)(before->free - after->free) / n,
	       (double)(after->slab - before->slab) / n,
	       (double)(after->kernel_stack - before->kernel_stack) / n,
	       (double)(after->page_tables - before->page_tables) / n,
	       (double)(after->vmalloc_used - before->vmalloc_used) / n);
	fflush(stdout);
}

static int bench_max_vcpus(int kvm_fd)
{
	int max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	if (max <= 0)
		max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max <= 0)
		max = 4;	/* what the API promises without the caps */
	return max < MEMORY_OBJECTS ? max : MEMORY_OBJECTS;
}

static int bench_memory(void)
{
	int kvm_fd = bench_open_device();
	int vm_fds[MEMORY_OBJECTS], vcpu_fds[MEMORY_OBJECTS];
	struct bench_meminfo before, after;
	int nr_vcpus = bench_max_vcpus(kvm_fd);
	void *slot;
	int vm_fd;

	/* One untouched buffer backs the slot of every VM: no user pages. */
	slot = mmap(NULL, MEMORY_SLOT_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (slot == MAP_FAILED)
		bench_die("mmap");

	bench_meminfo_settle(&before);
	for (int i = 0; i < MEMORY_OBJECTS; i++) {
		vm_fds[i] = ioctl(kvm_fd, KVM_CREATE_VM, 0);
		if (vm_fds[i] < 0)
			bench_die("KVM_CREATE_VM %d", i);
		bench_set_region(vm_fds[i], 0, 0, MEMORY_SLOT_SIZE, slot);
	}
	bench_meminfo_settle(&after);
	bench_memory_report("memory-vm", &before, &after, MEMORY_OBJECTS);
	for (int i = 0; i < MEMORY_OBJECTS; i++)
		close(vm_fds[i]);

	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm_fd < 0)
		bench_die("KVM_CREATE_VM");
	bench_set_region(vm_fd, 0, 0, MEMORY_SLOT_SIZE, slot);
	bench_meminfo_settle(&before);
	for (int i = 0; i < nr_vcpus; i++) {
		vcpu_fds[i] = ioctl(vm_fd, KVM_CREATE_VCPU, i);
		if (vcpu_fds[i] < 0)
			bench_die("KVM_CREATE_VCPU %d", i);
	}
	bench_meminfo_settle(&after);
	bench_memory_report("memory-vcpu", &before, &after, nr_vcpus);
	for (int i = 0; i < nr_vcpus; i++)
		close(vcpu_fds[i]);
	close(vm_fd);
	close(kvm_fd);
	return 0;
}

static int bench_touch_4k(void)
{
	return bench_touch(false);
}

static int bench_touch_huge(void)
{
	return bench_touch(true);
}

static const struct bench_figure {
	const char *name;
	int (*run)(void);
	const char *help;
} bench_figures[] = {
	{ "pio",	bench_pio,	  "port-I/O exit to userspace, exits/s" },
	{ "cpuid",	bench_cpuid,	  "CPUID handled in the kernel, exits/s" },
	{ "msr",	bench_msr,	  "RDMSR EFER handled in the kernel, exits/s" },
	{ "mmio",	bench_mmio,	  "MMIO write exit to userspace, exits/s" },
	{ "touch",	bench_touch_4k,	  "first touch of 256 MiB, 4 KiB pages, MiB/s" },
	{ "touch-thp",	bench_touch_huge, "first touch of 256 MiB, THP backing, MiB/s" },
	{ "create",	bench_create,	  "VM + vCPU create and destroy, VMs/s" },
	{ "memory",	bench_memory,	  "kernel memory per idle VM and per vCPU, KiB" },
};

static void bench_usage(FILE *f)
{
	fprintf(f, "usage: vmm-bench [-d DEVICE] [-t SECONDS] FIGURE|list\n\n");
	for (size_t i = 0; i < sizeof(bench_figures) / sizeof(bench_figures[0]); i++)
		fprintf(f, "  %-10s %s\n", bench_figures[i].name,
			bench_figures[i].help);
}

int main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "d:t:h")) != -1) {
		switch (opt) {
		case 'd':
			bench_device = optarg;
			break;
		case 't':
			bench_seconds = strtod(optarg, NULL);
			if (bench_seconds <= 0) {
				fprintf(stderr, "vmm-bench: bad -t %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		bench_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "list")) {
		for (size_t i = 0; i < sizeof(bench_figures) / sizeof(bench_figures[0]); i++)
			printf("%s\n", bench_figures[i].name);
		return 0;
	}
	for (size_t i = 0; i < sizeof(bench_figures) / sizeof(bench_figures[0]); i++) {
		if (!strcmp(argv[optind], bench_figures[i].name))
			return bench_figures[i].run();
	}
	fprintf(stderr, "vmm-bench: unknown figure '%s'\n", argv[optind]);
	bench_usage(stderr);
	return 2;
}
