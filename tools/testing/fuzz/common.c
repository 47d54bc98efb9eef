// SPDX-License-Identifier: GPL-2.0
/*
 * Shared helpers of the vmm robustness tools: PRNG, guest builder, bounded
 * KVM_RUN, and the monitor that runs the work in a child and checks for
 * hangs and leaks afterwards.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

struct fz_shared *fz;
uint64_t fz_seed;
const char *fz_name = "fuzz";
static uint64_t fz_start_ns;

/* ---- PRNG ------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	uint64_t x = seed;

	r->s = splitmix64(&x);
	if (!r->s)
		r->s = 1;
}

void rng_seed2(struct rng *r, uint64_t seed, uint64_t index)
{
	uint64_t x = seed;

	x = splitmix64(&x) ^ (index * 0xd1b54a32d192ed03ull);
	rng_seed(r, x);
}

uint64_t rng_next(struct rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

bool rng_chance(struct rng *r, unsigned int percent)
{
	return rng_below(r, 100) < percent;
}

uint64_t rng_interesting(struct rng *r)
{
	static const uint64_t table[] = {
		0, 1, 2, 3, 4, 7, 8, 0xf, 0x10, 0x3f, 0x40, 0x7f, 0x80, 0xff,
		0x100, 0xfff, 0x1000, 0x1001, 0x7fff, 0x8000, 0xffff, 0x10000,
		0x7fffffff, 0x80000000, 0xfffff000, 0xffffffff, 1ull << 32,
		1ull << 36, 1ull << 40, 1ull << 46, 1ull << 47, 0x7ffffffff000,
		1ull << 48, 1ull << 52, 1ull << 56, 1ull << 63, ~0ull - 0xfff,
		~0ull - 1, ~0ull,
	};
	uint64_t v;

	switch (rng_below(r, 5)) {
	case 0:
		return rng_next(r);
	case 1:
		v = 1ull << rng_below(r, 64);
		return v + rng_below(r, 3) - 1;
	default:
		return table[rng_below(r, ARRAY_SIZE(table))];
	}
}

void rng_fill(struct rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len >= 8) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, len);
	}
}

/* ---- device ---------------------------------------------------------------- */

const char *fz_dev_path(void)
{
	const char *path = getenv("VMM_DEV");

	return path && *path ? path : "/dev/kvm";
}

int fz_open_dev(void)
{
	return open(fz_dev_path(), O_RDWR | O_CLOEXEC);
}

bool fz_is_vmm(void)
{
	static int is_vmm = -1;
	struct stat st;

	if (is_vmm < 0) {
		/* The rig loads either vmm or kvm_amd, never both. */
		is_vmm = stat("/sys/module/vmm", &st) == 0 &&
			 stat("/sys/module/kvm_amd", &st) != 0;
	}
	return is_vmm;
}

bool fz_avoid_tcg_hangs(void)
{
	const char *hw = getenv("VMM_FUZZ_REAL_HW");

	return !(hw && *hw == '1');
}

void fz_defuse_cr8_writes(uint8_t *code, size_t len)
{
	for (size_t i = 1; i + 1 < len; i++) {
		uint8_t prev = code[i - 1];

		if (code[i] == 0x0f && code[i + 1] == 0x22 &&
		    (prev == 0xf0 || (prev & 0xf4) == 0x44))
			code[i + 1] = 0x20;
	}
}

/* ---- guests ------------------------------------------------------------------ */

const char *const fz_mode_name[] = {
	[FZ_REAL] = "real",
	[FZ_PROT16] = "prot16",
	[FZ_PROT32] = "prot32",
	[FZ_LONG64] = "long64",
};

struct kvm_cpuid2 *fz_supported_cpuid(int sys_fd)
{
	static struct kvm_cpuid2 *cached;
	int nent = 64;

	while (!__atomic_load_n(&cached, __ATOMIC_ACQUIRE)) {
		struct kvm_cpuid2 *c;

		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = nent;
		if (!ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c)) {
			struct kvm_cpuid2 *expected = NULL;

			if (!__atomic_compare_exchange_n(&cached, &expected, c,
							 false, __ATOMIC_ACQ_REL,
							 __ATOMIC_ACQUIRE))
				free(c);
			break;
		}
		free(c);
		if (errno != E2BIG || nent >= 4096)
			return NULL;
		nent *= 2;
	}
	return cached;
}

void fz_vm_write_tables(struct fz_vm *vm)
{
	uint64_t *gdt = (uint64_t *)(vm->mem + FZ_GDT);
	uint64_t *pml4 = (uint64_t *)(vm->mem + FZ_PML4);
	uint64_t *pdpt = (uint64_t *)(vm->mem + FZ_PML4 + 0x1000);
	uint64_t *pd = (uint64_t *)(vm->mem + FZ_PML4 + 0x2000);
	uint64_t tss = FZ_TSS;

	/* Flat descriptors (APM vol. 2, 4.7 and 4.8). */
	memset(gdt, 0, 0x100);
	gdt[FZ_SEL_CODE64 / 8] = 0x00af9b000000ffffull;
	gdt[FZ_SEL_DATA / 8] = 0x00cf93000000ffffull;
	gdt[FZ_SEL_CODE32 / 8] = 0x00cf9b000000ffffull;
	gdt[FZ_SEL_TSS / 8] = 0x67 | (tss & 0xffffff) << 16 | 0x8bull << 40;
	gdt[FZ_SEL_TSS / 8 + 1] = 0;
	gdt[FZ_SEL_CODE16 / 8] = 0x00009b000000ffffull;
	gdt[FZ_SEL_DATA16 / 8] = 0x000093000000ffffull;

	/* Identity map of 4 GiB with 2 MiB pages. */
	memset(pml4, 0, 0x1000);
	pml4[0] = (FZ_PML4 + 0x1000) | 0x3;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (FZ_PML4 + 0x2000 + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83;
}

int fz_vm_create(struct fz_vm *vm, int sys_fd)
{
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.memory_size = FZ_MEM_SIZE,
	};
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->sys_fd = sys_fd;
	r = ioctl(sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < (int)sizeof(struct kvm_run))
		return r < 0 ? -errno : -EINVAL;
	vm->run_size = r;
	vm->fd = ioctl(sys_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return -errno;
	fz_stat(FZ_STAT_VMS, 1);
	vm->mem_size = FZ_MEM_SIZE;
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		r = -errno;
		close(vm->fd);
		return r;
	}
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region)) {
		r = -errno;
		munmap(vm->mem, vm->mem_size);
		close(vm->fd);
		return r;
	}
	fz_vm_write_tables(vm);
	return 0;
}

void fz_vm_destroy(struct fz_vm *vm)
{
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->mem && vm->mem != MAP_FAILED)
		munmap(vm->mem, vm->mem_size);
	vm->fd = -1;
	vm->mem = NULL;
}

int fz_vcpu_create(struct fz_vm *vm, unsigned int id, struct fz_vcpu *vcpu)
{
	struct kvm_cpuid2 *cpuid = fz_supported_cpuid(vm->sys_fd);
	int r;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	if (vcpu->fd < 0)
		return -errno;
	fz_stat(FZ_STAT_VCPUS, 1);
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		r = -errno;
		close(vcpu->fd);
		return r;
	}
	if (cpuid && ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid)) {
		r = -errno;
		fz_vcpu_destroy(vcpu);
		return r;
	}
	return 0;
}

void fz_vcpu_destroy(struct fz_vcpu *vcpu)
{
	if (vcpu->run && vcpu->run != MAP_FAILED)
		munmap(vcpu->run, vcpu->vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static struct kvm_segment fz_segment(uint16_t sel, uint8_t type, bool code64,
				     bool big)
{
	return (struct kvm_segment){
		.limit = big ? 0xffffffff : 0xffff,
		.selector = sel,
		.type = type,
		.present = 1,
		.s = 1,
		.db = big && !code64,
		.l = code64,
		.g = big,
	};
}

/* Only the state that defines the mode; the rest is left as it is. */
void fz_mode_sregs(struct kvm_sregs *s, enum fz_mode mode, uint64_t rip)
{
	struct kvm_segment data;

	s->efer = 0;
	s->cr4 = 0;
	s->gdt.base = FZ_GDT;
	s->gdt.limit = 0xff;
	s->idt.base = 0;
	s->idt.limit = 0;
	s->ldt = (struct kvm_segment){ .type = 0x2, .unusable = 1 };
	s->tr = (struct kvm_segment){
		.base = FZ_TSS, .limit = 0x67, .selector = FZ_SEL_TSS,
		.type = 0xb, .present = 1,
	};
	switch (mode) {
	case FZ_REAL:
		data = fz_segment(0, 0x3, false, false);
		s->ds = s->es = s->fs = s->gs = s->ss = data;
		s->cs = fz_segment((rip & ~0xffffull) >> 4, 0xb, false, false);
		s->cs.base = rip & 0xf0000;
		s->cr0 = 0x10;		/* ET */
		s->idt.limit = 0x3ff;	/* the real-mode IVT at 0 */
		break;
	case FZ_PROT16:
		data = fz_segment(FZ_SEL_DATA16, 0x3, false, false);
		s->ds = s->es = s->fs = s->gs = s->ss = data;
		s->cs = fz_segment(FZ_SEL_CODE16, 0xb, false, false);
		s->cs.base = rip & 0xf0000;
		s->cr0 = 0x33;		/* PE MP ET NE */
		break;
	case FZ_PROT32:
	case FZ_LONG64:
		data = fz_segment(FZ_SEL_DATA, 0x3, false, true);
		s->ds = s->es = s->fs = s->gs = s->ss = data;
		s->cs = mode == FZ_LONG64 ?
			fz_segment(FZ_SEL_CODE64, 0xb, true, true) :
			fz_segment(FZ_SEL_CODE32, 0xb, false, true);
		s->cr0 = 0x33;
		s->cr4 = (1 << 9) | (1 << 10);	/* OSFXSR OSXMMEXCPT */
		if (mode == FZ_LONG64) {
			s->cr0 |= 0x80000000;
			s->cr4 |= 1 << 5;
			s->cr3 = FZ_PML4;
			s->efer = (1 << 8) | (1 << 10);
		}
		break;
	default:
		break;
	}
}

int fz_vcpu_setup(int vcpu_fd, enum fz_mode mode, uint64_t rip, uint64_t rsp)
{
	struct kvm_regs regs = { .rflags = 0x2, .rip = rip, .rsp = rsp };
	struct kvm_sregs sregs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs))
		return -errno;
	fz_mode_sregs(&sregs, mode, rip);
	if (mode == FZ_REAL || mode == FZ_PROT16) {
		regs.rip = rip & 0xffff;
		regs.rsp = rsp & 0xffff;
	}
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs))
		return -errno;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs))
		return -errno;
	return 0;
}

/* ---- bounded KVM_RUN ---------------------------------------------------------- */

static __thread timer_t fz_timer;
static __thread bool fz_timer_ok;

static void fz_timer_handler(int sig)
{
	(void)sig;
}

int fz_timer_init(void)
{
	struct sigaction sa = { .sa_handler = fz_timer_handler };
	struct sigevent sev = {
		.sigev_notify = SIGEV_THREAD_ID,
		.sigev_signo = FZ_TIMER_SIGNAL,
	};
	sigset_t set;

	/* No SA_RESTART: the ioctl must come back with EINTR. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(FZ_TIMER_SIGNAL, &sa, NULL))
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, FZ_TIMER_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	sev._sigev_un._tid = gettid();	/* sigev_notify_thread_id */
	if (timer_create(CLOCK_MONOTONIC, &sev, &fz_timer))
		return -errno;
	fz_timer_ok = true;
	return 0;
}

void fz_timer_exit(void)
{
	if (fz_timer_ok)
		timer_delete(fz_timer);
	fz_timer_ok = false;
}

int fz_run_bounded(int vcpu_fd, unsigned int ms)
{
	struct itimerspec on = {
		.it_value = { ms / 1000, (ms % 1000) * 1000000L },
		.it_interval = { ms / 1000, (ms % 1000) * 1000000L },
	};
	struct itimerspec off = { 0 };
	int r, e;

	if (fz_timer_ok)
		timer_settime(fz_timer, 0, &on, NULL);
	fz_stat(FZ_STAT_RUN, 1);
	r = ioctl(vcpu_fd, KVM_RUN, 0);
	e = errno;
	if (fz_timer_ok)
		timer_settime(fz_timer, 0, &off, NULL);
	errno = e;
	return r;
}

void fz_complete_exit(struct kvm_run *run, size_t run_size, struct rng *r)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint64_t len = (uint64_t)run->io.size * run->io.count;

		if (run->io.direction == KVM_EXIT_IO_IN &&
		    run->io.data_offset < run_size &&
		    len <= run_size - run->io.data_offset)
			rng_fill(r, (char *)run + run->io.data_offset, len);
		break;
	}
	case KVM_EXIT_MMIO:
		if (!run->mmio.is_write && run->mmio.len <= 8)
			rng_fill(r, run->mmio.data, run->mmio.len);
		break;
	}
}

const char *fz_exit_name(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN",
		[KVM_EXIT_EXCEPTION] = "EXCEPTION",
		[KVM_EXIT_IO] = "IO",
		[KVM_EXIT_HYPERCALL] = "HYPERCALL",
		[KVM_EXIT_DEBUG] = "DEBUG",
		[KVM_EXIT_HLT] = "HLT",
		[KVM_EXIT_MMIO] = "MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
		[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[KVM_EXIT_INTR] = "INTR",
		[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	};

	if (reason < ARRAY_SIZE(names) && names[reason])
		return names[reason];
	return "?";
}

const char *fz_check_exit(const struct kvm_run *run, size_t run_size)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (run->io.direction > KVM_EXIT_IO_OUT)
			return "io.direction";
		if (run->io.size != 1 && run->io.size != 2 && run->io.size != 4)
			return "io.size";
		if (!run->io.count)
			return "io.count";
		if (run->io.data_offset < PAGE_SIZE ||
		    run->io.data_offset >= run_size ||
		    (uint64_t)run->io.size * run->io.count >
		    run_size - run->io.data_offset)
			return "io.data_offset";
		return NULL;
	case KVM_EXIT_MMIO:
		if (!run->mmio.len || run->mmio.len > 8)
			return "mmio.len";
		if (run->mmio.is_write > 1)
			return "mmio.is_write";
		return NULL;
	case KVM_EXIT_INTERNAL_ERROR:
		if (run->internal.ndata > ARRAY_SIZE(run->internal.data))
			return "internal.ndata";
		return NULL;
	case KVM_EXIT_HLT:
	case KVM_EXIT_SHUTDOWN:
	case KVM_EXIT_FAIL_ENTRY:
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return NULL;
	default:
		return "unexpected exit reason";
	}
}

/* ---- failures and bookkeeping ------------------------------------------------ */

void fz_doing(int t, const char *fmt, ...)
{
	va_list ap;

	if (t < 0 || t >= FZ_MAX_THREADS)
		return;
	va_start(ap, fmt);
	vsnprintf(fz->doing[t], sizeof(fz->doing[t]), fmt, ap);
	va_end(ap);
}

void fz_fail(const char *fmt, ...)
{
	uint32_t n = __atomic_fetch_add(&fz->nr_fails, 1, __ATOMIC_RELAXED);
	char buf[sizeof(fz->fails[0])];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < FZ_MAX_FAILS)
		memcpy(fz->fails[n], buf, sizeof(buf));
	fprintf(stderr, "%s: FAIL (seed %#llx): %s\n", fz_name,
		(unsigned long long)fz_seed, buf);
}

void fz_expect(long r, int err, const int *allowed, const char *what)
{
	fz_stat(FZ_STAT_IOCTL, 1);
	if (r >= 0)
		return;
	fz_stat(FZ_STAT_IOCTL_ERR, 1);
	if (r != -1) {
		fz_fail("%s: returned %ld", what, r);
		return;
	}
	for (; *allowed; allowed++)
		if (*allowed == err)
			return;
	fz_fail("%s: unexpected errno %d (%s)", what, err, strerror(err));
}

uint64_t fz_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

bool fz_more(const struct fz_options *o, uint64_t done)
{
	if (o->iterations && done >= o->iterations)
		return false;
	if (o->seconds && fz_now_ns() - fz_start_ns >= o->seconds * 1000000000ull)
		return false;
	return true;
}

void fz_parse(int argc, char **argv, struct fz_options *o, const char *usage)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->seed = (uint64_t)time(NULL) * 1000003u ^ getpid();
	o->threads = 2;
	o->stall = 60;
	fz_name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	while ((c = getopt(argc, argv, "s:n:t:j:a:b:S:vh")) != -1) {
		switch (c) {
		case 's':
			o->seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o->iterations = strtoull(optarg, NULL, 0);
			break;
		case 't':
			o->seconds = strtoul(optarg, NULL, 0);
			break;
		case 'j':
			o->threads = strtoul(optarg, NULL, 0);
			break;
		case 'a':
			o->a = strtoull(optarg, NULL, 0);
			o->a_set = true;
			break;
		case 'b':
			o->b = strtoull(optarg, NULL, 0);
			o->b_set = true;
			break;
		case 'S':
			o->stall = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			o->verbose++;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-s SEED] [-n ITERATIONS] [-t SECONDS] [-j THREADS]\n"
				"          [-S STALL_SECONDS] [-v] %s\n"
				"Without -n and -t: -t 10.\n", fz_name, usage);
			exit(c == 'h' ? 0 : 2);
		}
	}
	if (!o->iterations && !o->seconds)
		o->seconds = 10;
	if (o->threads > 64)
		o->threads = 64;
	fz_seed = o->seed;
}

/* ---- leak accounting ------------------------------------------------------------ */

static const char *const fz_modules[] = { "vmm", "kvm", "kvm_amd" };

static long read_long_file(const char *path)
{
	char buf[64];
	long v = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		v = strtol(buf, NULL, 10);
	}
	close(fd);
	return v;
}

static void module_refcnts(long *cnt)
{
	char path[96];

	for (unsigned int i = 0; i < ARRAY_SIZE(fz_modules); i++) {
		snprintf(path, sizeof(path), "/sys/module/%s/refcnt",
			 fz_modules[i]);
		cnt[i] = read_long_file(path);
	}
}

/* A field of a "name value" file (/proc/meminfo, memory.stat); -1 if none. */
static long long read_field(const char *path, const char *name)
{
	size_t len = strlen(name);
	long long v = -1;
	char line[256];
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, len) &&
		    (line[len] == ' ' || line[len] == ':')) {
			v = strtoll(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static long long sunreclaim_kb(void)
{
	return read_field("/proc/meminfo", "SUnreclaim");
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/*
 * A memory cgroup for the worker: everything the kernel allocates with
 * __GFP_ACCOUNT on its behalf (vmm's VMs, vCPUs, nested page tables, file
 * structs...) is charged there, and must be uncharged once the worker and
 * its children are gone. Empty string if cgroup v2 is not available.
 */
static char fz_cgroup[128];

static void cgroup_setup(void)
{
	const char *root = "/sys/fs/cgroup";
	char path[160];
	struct stat st;

	fz_cgroup[0] = '\0';
	if (getenv("VMM_FUZZ_NO_CGROUP"))
		return;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	if (stat(path, &st) && mount("none", root, "cgroup2", 0, NULL))
		return;
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
	if (write_str(path, "+memory"))
		return;
	snprintf(fz_cgroup, sizeof(fz_cgroup), "%s/vmm-fuzz.%d", root,
		 getpid());
	if (mkdir(fz_cgroup, 0755)) {
		fz_cgroup[0] = '\0';
		return;
	}
}

static long long cgroup_kmem(void)
{
	char path[192];
	long long kernel, percpu;

	snprintf(path, sizeof(path), "%s/memory.stat", fz_cgroup);
	kernel = read_field(path, "kernel");
	percpu = read_field(path, "percpu");
	if (kernel < 0)
		return -1;
	return kernel + (percpu > 0 ? percpu : 0);
}

static bool cgroup_empty(void)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/cgroup.events", fz_cgroup);
	return read_field(path, "populated") == 0;
}

static void cgroup_kill(void)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/cgroup.kill", fz_cgroup);
	write_str(path, "1");
}

static void print_hang(const struct fz_options *o)
{
	printf("%s: HANG: no progress for %u s (seed %#llx); threads were:\n",
	       fz_name, o->stall, (unsigned long long)o->seed);
	for (int i = 0; i < FZ_MAX_THREADS; i++)
		if (fz->doing[i][0])
			printf("%s:   [%d] %s\n", fz_name, i, fz->doing[i]);
	fflush(stdout);
}

/* Waits for the worker; false if it hung (it is killed then). */
static bool wait_worker(const struct fz_options *o, pid_t pid, int *status)
{
	uint64_t last = fz->progress, last_ns = fz_now_ns();
	uint64_t limit_ns = o->seconds ?
		(o->seconds + 4ull * o->stall + 60) * 1000000000ull : 0;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		uint64_t now = fz_now_ns();

		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR) {
			perror("waitpid");
			return false;
		}
		if (fz->progress != last) {
			last = fz->progress;
			last_ns = now;
		}
		if (now - last_ns > o->stall * 1000000000ull ||
		    (limit_ns && now - fz_start_ns > limit_ns)) {
			print_hang(o);
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			if (fz_cgroup[0])
				cgroup_kill();
			waitpid(pid, status, 0);
			return false;
		}
		usleep(20000);
	}
}

int fz_main(const struct fz_options *o, int (*work)(const struct fz_options *),
	    void (*summary)(const struct fz_options *, char *, size_t))
{
	long long slab0, slab1, kmem = -1;
	long ref0[ARRAY_SIZE(fz_modules)], ref1[ARRAY_SIZE(fz_modules)];
	bool ok = true, refs_ok = false;
	char text[512] = "";
	int status = 0, fd;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	fz = mmap(NULL, sizeof(*fz), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fz == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	fd = fz_open_dev();
	if (fd < 0) {
		printf("%s: SKIP: %s: %s\n", fz_name, fz_dev_path(),
		       strerror(errno));
		return 4;
	}
	close(fd);
	printf("%s: seed %#llx (reproduce with -s %#llx), %s%s\n", fz_name,
	       (unsigned long long)o->seed, (unsigned long long)o->seed,
	       fz_is_vmm() ? "vmm" : "not vmm",
	       fz_is_vmm() ? ", vmm errno checks on" : "");

	/* For debugging the tool itself under gdb: no monitor, no checks. */
	if (getenv("VMM_FUZZ_INLINE"))
		return work(o);

	module_refcnts(ref0);
	slab0 = sunreclaim_kb();
	cgroup_setup();
	fz_start_ns = fz_now_ns();

	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		char me[32];

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fz_cgroup[0]) {
			char path[192];

			snprintf(path, sizeof(path), "%s/cgroup.procs",
				 fz_cgroup);
			snprintf(me, sizeof(me), "%d", getpid());
			if (write_str(path, me))
				fz_cgroup[0] = '\0';
		}
		_exit(work(o));
	}

	if (!wait_worker(o, pid, &status)) {
		fz_fail("the run hung");
		ok = false;
	} else if (WIFSIGNALED(status)) {
		fz_fail("worker killed by signal %d (%s)", WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	} else if (WEXITSTATUS(status)) {
		fz_fail("worker exited with status %d", WEXITSTATUS(status));
	}

	/* Stragglers (forked children the worker left behind). */
	kill(-pid, SIGKILL);
	if (fz_cgroup[0]) {
		uint64_t t0 = fz_now_ns();

		cgroup_kill();
		while (!cgroup_empty()) {
			if (fz_now_ns() - t0 > 20000000000ull) {
				fz_fail("processes of the run cannot be killed (stuck in the kernel?)");
				break;
			}
			usleep(20000);
		}
	}

	/*
	 * Give deferred frees (RCU, the memcg statistics flush that runs every
	 * two seconds) time to happen before calling anything a leak.
	 */
	for (int i = 0; i < 100; i++) {
		module_refcnts(ref1);
		refs_ok = !memcmp(ref0, ref1, sizeof(ref0));
		kmem = fz_cgroup[0] ? cgroup_kmem() : -1;
		if (refs_ok && kmem <= 64 * 1024)
			break;
		usleep(100000);
	}
	slab1 = sunreclaim_kb();
	if (!refs_ok)
		for (unsigned int i = 0; i < ARRAY_SIZE(fz_modules); i++)
			if (ref0[i] != ref1[i])
				fz_fail("module %s use count %ld before, %ld after",
					fz_modules[i], ref0[i], ref1[i]);
	if (kmem > 64 * 1024)
		fz_fail("%lld KiB of kernel memory still charged to the run's cgroup",
			kmem / 1024);
	{
		const char *tol = getenv("VMM_FUZZ_SLAB_TOLERANCE_KB");
		long long max = tol ? atoll(tol) : 8192;

		if (slab0 >= 0 && slab1 - slab0 > max)
			fz_fail("SUnreclaim grew by %lld KiB (tolerance %lld KiB)",
				slab1 - slab0, max);
	}
	if (fz_cgroup[0])
		rmdir(fz_cgroup);

	if (summary)
		summary(o, text, sizeof(text));
	ok = ok && !fz->nr_fails;
	printf("%s: %s seed %#llx: %s; %.1f s; kmem left %s%lld KiB, SUnreclaim %+lld KiB, module refs %s\n",
	       fz_name, ok ? "PASS" : "FAIL", (unsigned long long)o->seed,
	       text, (fz_now_ns() - fz_start_ns) / 1e9,
	       kmem < 0 ? "n/a " : "", kmem < 0 ? 0 : kmem / 1024,
	       slab1 - slab0, refs_ok ? "back to start" : "LEAKED");
	for (uint32_t i = 0; i < fz->nr_fails && i < FZ_MAX_FAILS; i++)
		printf("%s:   failure: %s\n", fz_name, fz->fails[i]);
	return ok ? 0 : 1;
}
