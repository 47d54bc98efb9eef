// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl-fuzz: random but reproducible sequences of every ioctl on the
 * system, VM and vCPU fds, with boundary and garbage arguments, while
 * runner threads keep vCPUs in guests that touch memory and exit.
 *
 * One fuzz thread draws operations from the seed: ioctls with good, bad
 * (NULL, unmapped, kernel, straddling a guard page, read-only) and garbage
 * arguments; memslot churn (misaligned, overlapping, unmapped or read-only
 * host memory, unknown flags, huge sizes); munmap/mprotect/MADV_DONTNEED of
 * the memory behind slots; mmap, scribbling and munmap of the run page;
 * closing fds that runner threads are using; fork, where the child must
 * get EIO from every VM and vCPU ioctl. Runner threads (-j) pick vCPUs and
 * run them with a per-thread timer bounding every KVM_RUN.
 *
 * Oracles: the errno of each ioctl must be one its API allows; with
 * vmm.ko, a model of the memslots and vCPU ids predicts the exact result
 * of KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU and KVM_GET_DIRTY_LOG,
 * unknown ioctls must get vmm's documented errno, a state read by a GET
 * must be accepted by the matching SET, and a run page offset beyond the
 * two vmm maps must raise SIGBUS. The monitor (common.c) adds the hang and
 * leak checks.
 *
 * Usage: ioctl-fuzz [-s SEED] [-n ITERATIONS] [-t SECONDS] [-j RUNNERS]
 * -j 0 makes a run fully reproducible from its seed.
 */
#define _GNU_SOURCE
#include <execinfo.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#define NR_SYS		3
#define NR_VMS		3
#define NR_VCPUS	4
#define NR_SLOT_IDS	256	/* vmm's KVM_CAP_NR_MEMSLOTS */
#define NR_VCPU_IDS	64	/* vmm's KVM_CAP_MAX_VCPUS */
#define ARENA_SIZE	(16ul << 20)
#define BUF_SIZE	(32 * PAGE_SIZE)	/* followed by a guard page */
#define NR_RUNMAPS	8
#define NR_CHILDREN	8
#define SLOT_AREA	0x40000000ull	/* GPAs the runner guest touches */
#define TASK_SIZE_MAX	0x7ffffffff000ull
#define RUN_MS		20

struct model_slot {
	bool used;
	uint32_t flags;
	uint64_t gpa, size, hva;
};

struct fvcpu {
	int fd;
	struct kvm_run *run;
	bool ran;		/* set up for the runner guest already */
	bool cpuid_garbage;	/* its CPUID table is not the supported one */
	/*
	 * KVM_SET_MSRS wrote its EFER: userspace may change LME under paging,
	 * in KVM too, which leaves a state KVM_SET_SREGS refuses.
	 */
	bool efer_host_written;
};

struct fvm {
	struct fz_vm base;	/* base.fd: -1 once the VM fd is closed */
	int refs;		/* the pool's and the runners' [pool_lock] */
	bool in_pool;
	bool model_ok;		/* the slot model is exact */
	bool irqchip;		/* KVM_CREATE_IRQCHIP succeeded */
	bool pit;		/* KVM_CREATE_PIT2 succeeded */
	struct model_slot slots[NR_SLOT_IDS];
	uint32_t ids[NR_VCPU_IDS];
	unsigned int nr_ids;
	struct fvcpu vcpus[NR_VCPUS];
};

struct runmap {
	void *addr;
	size_t len;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int sys_fds[NR_SYS];
static struct fvm *vms[NR_VMS];
static uint8_t *arena, *buf, *ro_page, *hole;
static size_t run_size;
static bool strict;
/*
 * Writes to kvm_run pages by the fuzz thread (garbage, or a KVM_RUN of its
 * own), counted twice each, before and after, as a seqlock: a runner
 * ignores an exit it checked while the count was odd or changed.
 */
static uint64_t scribbles;
static volatile bool stop;
static struct runmap runmaps[NR_RUNMAPS];
static pid_t children[NR_CHILDREN];
static unsigned int nr_children;
static struct rng rng;		/* the fuzz thread's */
static uint64_t iteration;
static char what[160];

/* Around each write to a kvm_run by the fuzz thread: see scribbles. */
static void scribble_mark(void)
{
	__atomic_add_fetch(&scribbles, 1, __ATOMIC_SEQ_CST);
}

/* ---- ioctl bookkeeping ------------------------------------------------------- */

static unsigned long seen[512];
static uint64_t seen_calls[512], seen_ok[512];	/* by the fuzz thread */
static unsigned int nr_seen;

static int note_ioctl(unsigned long nr)
{
	for (unsigned int i = 0; i < nr_seen; i++)
		if (seen[i] == nr)
			return i;
	if (nr_seen < ARRAY_SIZE(seen))
		seen[nr_seen++] = nr;
	return nr_seen - 1;
}

static long xioctl(int fd, unsigned long nr, unsigned long arg, int *err)
{
	int i = note_ioctl(nr);
	long r;

	errno = 0;
	r = ioctl(fd, nr, arg);
	*err = errno;
	seen_calls[i]++;
	seen_ok[i] += r >= 0;
	return r;
}

static const int E_NONE[] = { 0 };
static const int E_SET[] = { EINVAL, E2BIG, ENOMEM, 0 };
static const int E_SET_FAULT[] = { EINVAL, E2BIG, ENOMEM, EFAULT, 0 };
static const int E_FAULT[] = { EFAULT, 0 };

/* ---- pointers ---------------------------------------------------------------- */

enum ptr_kind { P_GOOD, P_NULL, P_UNMAPPED, P_KERNEL, P_STRADDLE, P_RDONLY };
static const char *const ptr_name[] = {
	"good", "NULL", "unmapped", "kernel", "straddling", "read-only",
};

/* An argument pointer for a structure of `size` bytes. */
static void *arg_ptr(size_t size, enum ptr_kind *kind)
{
	uint64_t off;

	*kind = rng_chance(&rng, 85) ? P_GOOD : 1 + rng_below(&rng, 5);
	if (*kind == P_STRADDLE && size < 2)
		*kind = P_UNMAPPED;
	if (*kind == P_RDONLY && size > PAGE_SIZE)
		*kind = P_GOOD;
	switch (*kind) {
	case P_NULL:
		return NULL;
	case P_UNMAPPED:
		return hole + rng_below(&rng, PAGE_SIZE);
	case P_KERNEL:
		return (void *)(0xffff888000000000ull + rng_below(&rng, 1 << 20) * 8);
	case P_STRADDLE:
		return buf + BUF_SIZE - 1 - rng_below(&rng, size - 1);
	case P_RDONLY:
		return ro_page;
	default:
		if (size > BUF_SIZE)
			size = BUF_SIZE;
		off = rng_below(&rng, BUF_SIZE - size + 1);
		if (rng_chance(&rng, 80))
			off &= ~7ull;
		return buf + off;
	}
}

/*
 * The result of an ioctl whose argument points to a structure: a pointer
 * the kernel cannot use at all must give EFAULT; one that straddles the
 * guard page may also hit another check first; a read-only one must fail
 * when the kernel writes through it.
 */
static void check_arg(long r, int err, enum ptr_kind kind, int writes,
		      const int *allowed, const char *name)
{
	snprintf(what, sizeof(what), "iter %llu %s (%s pointer)",
		 (unsigned long long)iteration, name, ptr_name[kind]);
	switch (kind) {
	case P_NULL:
	case P_UNMAPPED:
	case P_KERNEL:
		fz_expect(r, err, E_FAULT, what);
		if (r >= 0)
			fz_fail("%s: succeeded", what);
		break;
	case P_STRADDLE:
		fz_expect(r, err, E_SET_FAULT, what);
		break;
	case P_RDONLY:
		if (writes == 2 && r >= 0)
			fz_fail("%s: succeeded", what);
		fz_expect(r, err, writes ? E_SET_FAULT : allowed, what);
		break;
	default:
		fz_expect(r, err, allowed, what);
		break;
	}
}

/* ---- the pool ---------------------------------------------------------------- */

static void vm_put_locked(struct fvm *vm)
{
	if (--vm->refs)
		return;
	if (vm->base.mem)
		munmap(vm->base.mem, vm->base.mem_size);
	free(vm);
}

static struct fvm *pick_vm(bool need_fd)
{
	unsigned int start = rng_below(&rng, NR_VMS);

	for (unsigned int i = 0; i < NR_VMS; i++) {
		struct fvm *vm = vms[(start + i) % NR_VMS];

		if (vm && (!need_fd || vm->base.fd >= 0))
			return vm;
	}
	return NULL;
}

static struct fvcpu *pick_vcpu(struct fvm **vmp)
{
	unsigned int start = rng_below(&rng, NR_VMS * NR_VCPUS);

	for (unsigned int i = 0; i < NR_VMS * NR_VCPUS; i++) {
		unsigned int k = (start + i) % (NR_VMS * NR_VCPUS);
		struct fvm *vm = vms[k / NR_VCPUS];

		if (vm && vm->vcpus[k % NR_VCPUS].fd >= 0) {
			if (vmp)
				*vmp = vm;
			return &vm->vcpus[k % NR_VCPUS];
		}
	}
	return NULL;
}

static int any_sys_fd(void)
{
	for (int i = 0; i < NR_SYS; i++)
		if (sys_fds[i] >= 0)
			return sys_fds[i];
	sys_fds[0] = fz_open_dev();
	return sys_fds[0];
}

static void vcpu_close_locked(struct fvcpu *v)
{
	if (v->run)
		munmap(v->run, run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
	fz_stat(FZ_STAT_CLOSES, 1);
}

/* Drops the VM from the pool once no fd of it is left there. */
static void vm_maybe_retire_locked(struct fvm *vm)
{
	if (vm->base.fd >= 0)
		return;
	for (int i = 0; i < NR_VCPUS; i++)
		if (vm->vcpus[i].fd >= 0)
			return;
	for (int i = 0; i < NR_VMS; i++)
		if (vms[i] == vm)
			vms[i] = NULL;
	vm->in_pool = false;
	vm_put_locked(vm);
}

static void vm_destroy_locked(struct fvm *vm)
{
	for (int i = 0; i < NR_VCPUS; i++)
		if (vm->vcpus[i].fd >= 0)
			vcpu_close_locked(&vm->vcpus[i]);
	if (vm->base.fd >= 0) {
		close(vm->base.fd);
		vm->base.fd = -1;
	}
	vm_maybe_retire_locked(vm);
}

/* ---- the vCPU model ------------------------------------------------------------- */

static int predict_create_vcpu(struct fvm *vm, unsigned long arg)
{
	/* KVM 6.1 (and vmm) take the id as a u32: high bits are dropped. */
	uint32_t id = arg;

	if (id >= 1024)
		return EINVAL;
	if (vm->nr_ids >= NR_VCPU_IDS)
		return EINVAL;
	for (unsigned int i = 0; i < vm->nr_ids; i++)
		if (vm->ids[i] == id)
			return EEXIST;
	return 0;
}

static void keep_vcpu(struct fvm *vm, int fd)
{
	struct kvm_cpuid2 *cpuid = fz_supported_cpuid(any_sys_fd());
	struct fvcpu *v = NULL;

	for (int i = 0; i < NR_VCPUS && !v; i++)
		if (vm->vcpus[i].fd < 0)
			v = &vm->vcpus[i];
	if (!v) {
		close(fd);
		return;
	}
	if (cpuid)
		ioctl(fd, KVM_SET_CPUID2, cpuid);
	*v = (struct fvcpu){ .fd = fd };
	v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (v->run == MAP_FAILED) {
		fz_fail("iter %llu: mmap of a new vCPU's run page: %s",
			(unsigned long long)iteration, strerror(errno));
		v->run = NULL;
	}
}

static void op_create_vcpu(void)
{
	struct fvm *vm = pick_vm(true);
	unsigned long id;
	long r;
	int err, want;

	if (!vm)
		return;
	if (rng_chance(&rng, 80))
		id = rng_below(&rng, 8);
	else if (rng_chance(&rng, 50))
		id = rng_below(&rng, 1100);
	else
		id = rng_interesting(&rng);
	want = predict_create_vcpu(vm, id);
	r = xioctl(vm->base.fd, KVM_CREATE_VCPU, id, &err);
	snprintf(what, sizeof(what), "iter %llu KVM_CREATE_VCPU(%#lx)",
		 (unsigned long long)iteration, id);
	if (r >= 0) {
		fz_stat(FZ_STAT_VCPUS, 1);
		fz_stat(FZ_STAT_IOCTL, 1);
		if (want && strict)
			fz_fail("%s succeeded, expected errno %d", what, want);
		if (vm->nr_ids < NR_VCPU_IDS)
			vm->ids[vm->nr_ids++] = (uint32_t)id;
		pthread_mutex_lock(&pool_lock);
		keep_vcpu(vm, r);
		pthread_mutex_unlock(&pool_lock);
		return;
	}
	fz_expect(r, err, (const int[]){ EINVAL, EEXIST, ENOMEM, 0 }, what);
	if (strict && err != want && err != ENOMEM)
		fz_fail("%s: errno %d, the model expected %d", what, err, want);
}

/* ---- creating and destroying VMs ------------------------------------------------ */

static void op_create_vm(void)
{
	int slot = -1, sys = sys_fds[rng_below(&rng, NR_SYS)];
	struct fvm *vm;
	long r;
	int err;

	if (sys < 0)
		sys = any_sys_fd();
	if (sys < 0)
		return;
	if (rng_chance(&rng, 10)) {
		unsigned long type = rng_interesting(&rng) | 1;

		r = xioctl(sys, KVM_CREATE_VM, type, &err);
		snprintf(what, sizeof(what), "iter %llu KVM_CREATE_VM(%#lx)",
			 (unsigned long long)iteration, type);
		fz_expect(r, err, (const int[]){ EINVAL, 0 }, what);
		if (r >= 0) {
			fz_fail("%s succeeded", what);
			close(r);
		}
		return;
	}
	for (int i = 0; i < NR_VMS; i++)
		if (!vms[i])
			slot = i;
	if (slot < 0)
		return;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return;
	note_ioctl(KVM_CREATE_VM);
	r = fz_vm_create(&vm->base, sys);
	fz_stat(FZ_STAT_IOCTL, 1);
	if (r) {
		/* A timer signal may still be on its way to this thread. */
		if (r != -EINTR)
			fz_fail("iter %llu: creating a VM: %s",
				(unsigned long long)iteration, strerror(-r));
		free(vm);
		return;
	}
	for (int i = 0; i < NR_VCPUS; i++)
		vm->vcpus[i].fd = -1;
	vm->model_ok = true;
	vm->slots[0] = (struct model_slot){
		.used = true, .size = vm->base.mem_size,
		.hva = (uintptr_t)vm->base.mem,
	};
	vm->refs = 1;
	vm->in_pool = true;
	/* Half the VMs get an in-kernel irqchip (and some a PIT) first. */
	if (rng_chance(&rng, 50)) {
		r = xioctl(vm->base.fd, KVM_CREATE_IRQCHIP, 0, &err);
		fz_stat(FZ_STAT_IOCTL, 1);
		if (r)
			fz_fail("iter %llu: KVM_CREATE_IRQCHIP on a new VM: %s",
				(unsigned long long)iteration, strerror(err));
		vm->irqchip = !r;
		if (vm->irqchip && rng_chance(&rng, 50)) {
			struct kvm_pit_config cfg = { .flags = rng_below(&rng, 2) };

			r = xioctl(vm->base.fd, KVM_CREATE_PIT2, (unsigned long)&cfg, &err);
			fz_stat(FZ_STAT_IOCTL, 1);
			if (r)
				fz_fail("iter %llu: KVM_CREATE_PIT2 on a new VM: %s",
					(unsigned long long)iteration, strerror(err));
			vm->pit = !r;
			fz_stat(FZ_STAT_X4, vm->pit);
		}
		fz_stat(FZ_STAT_X3, vm->irqchip);
	}
	pthread_mutex_lock(&pool_lock);
	vms[slot] = vm;
	pthread_mutex_unlock(&pool_lock);
	for (unsigned int i = 0; i < 1 + rng_below(&rng, 2); i++) {
		r = ioctl(vm->base.fd, KVM_CREATE_VCPU, i);
		fz_stat(FZ_STAT_IOCTL, 1);
		if (r < 0) {
			fz_fail("iter %llu: KVM_CREATE_VCPU(%u) on a new VM: %s",
				(unsigned long long)iteration, i, strerror(errno));
			break;
		}
		fz_stat(FZ_STAT_VCPUS, 1);
		vm->ids[vm->nr_ids++] = i;
		pthread_mutex_lock(&pool_lock);
		keep_vcpu(vm, r);
		pthread_mutex_unlock(&pool_lock);
	}
}

static void op_close(void)
{
	struct fvm *vm;
	struct fvcpu *v;

	pthread_mutex_lock(&pool_lock);
	switch (rng_below(&rng, 4)) {
	case 0:
		vm = pick_vm(true);
		if (vm) {
			close(vm->base.fd);
			vm->base.fd = -1;
			fz_stat(FZ_STAT_CLOSES, 1);
			vm_maybe_retire_locked(vm);
		}
		break;
	case 1:
		v = pick_vcpu(&vm);
		if (v) {
			vcpu_close_locked(v);
			vm_maybe_retire_locked(vm);
		}
		break;
	case 2:
		vm = pick_vm(false);
		if (vm)
			vm_destroy_locked(vm);
		break;
	default: {
		int i = rng_below(&rng, NR_SYS);

		if (sys_fds[i] >= 0)
			close(sys_fds[i]);
		sys_fds[i] = fz_open_dev();
		fz_stat(FZ_STAT_CLOSES, 1);
		break;
	}
	}
	pthread_mutex_unlock(&pool_lock);
}

/* ---- system fd ------------------------------------------------------------------ */

static void op_sys_simple(void)
{
	int fd = sys_fds[rng_below(&rng, NR_SYS)], err;
	unsigned long arg = rng_chance(&rng, 70) ? 0 : rng_interesting(&rng);
	long r;

	if (fd < 0)
		return;
	switch (rng_below(&rng, 3)) {
	case 0:
		r = xioctl(fd, KVM_GET_API_VERSION, arg, &err);
		snprintf(what, sizeof(what), "iter %llu KVM_GET_API_VERSION(%#lx)",
			 (unsigned long long)iteration, arg);
		fz_expect(r, err, (const int[]){ EINVAL, 0 }, what);
		if ((arg == 0) != (r == KVM_API_VERSION))
			fz_fail("%s returned %ld", what, r);
		break;
	case 1:
		arg = rng_chance(&rng, 70) ? rng_below(&rng, 240) : arg;
		r = xioctl(fd, KVM_CHECK_EXTENSION, arg, &err);
		snprintf(what, sizeof(what), "iter %llu KVM_CHECK_EXTENSION(%#lx)",
			 (unsigned long long)iteration, arg);
		fz_expect(r, err, E_NONE, what);
		break;
	default:
		r = xioctl(fd, KVM_GET_VCPU_MMAP_SIZE, arg, &err);
		snprintf(what, sizeof(what), "iter %llu KVM_GET_VCPU_MMAP_SIZE(%#lx)",
			 (unsigned long long)iteration, arg);
		fz_expect(r, err, (const int[]){ EINVAL, 0 }, what);
		if (!arg && r != (long)run_size)
			fz_fail("%s returned %ld, before %zu", what, r, run_size);
		break;
	}
}

/* KVM_GET_SUPPORTED_CPUID and KVM_GET_CPUID2 share the structure. */
static void cpuid2_get(int fd, unsigned long nr, const char *name)
{
	uint32_t nent = rng_chance(&rng, 60) ? rng_below(&rng, 80) :
					      (uint32_t)rng_interesting(&rng);
	size_t size = sizeof(struct kvm_cpuid2) +
		      (nent < 1000 ? nent : 0) * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c;
	enum ptr_kind kind;
	long r;
	int err;

	c = arg_ptr(size, &kind);
	if (kind == P_GOOD) {
		memset(c, 0xa5, size);
		c->nent = nent;
		/* A huge nent must be refused before anything is written. */
		if (nent >= 1000 && (char *)c + size + 100 * 40 > (char *)buf + BUF_SIZE)
			c->nent = nent = 4;
	}
	r = xioctl(fd, nr, (unsigned long)c, &err);
	check_arg(r, err, kind, 1, (const int[]){ E2BIG, ENOMEM, 0 }, name);
	if (r == 0 && kind == P_GOOD && c->nent > nent)
		fz_fail("iter %llu %s: nent %u > room %u",
			(unsigned long long)iteration, name, c->nent, nent);
}

static void op_sys_tables(void)
{
	int fd = sys_fds[rng_below(&rng, NR_SYS)], err;
	struct kvm_msr_list *l;
	enum ptr_kind kind;
	uint32_t n;
	long r;

	if (fd < 0)
		return;
	if (rng_chance(&rng, 50)) {
		cpuid2_get(fd, KVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID");
		return;
	}
	n = rng_chance(&rng, 60) ? rng_below(&rng, 64) : rng_interesting(&rng);
	l = arg_ptr(sizeof(*l) + (n < 1024 ? n : 16) * 4, &kind);
	if (kind == P_GOOD)
		l->nmsrs = n < 1024 ? n : 16;
	r = xioctl(fd, KVM_GET_MSR_INDEX_LIST, (unsigned long)l, &err);
	check_arg(r, err, kind, 1, (const int[]){ E2BIG, 0 },
		  "KVM_GET_MSR_INDEX_LIST");
}

/* ---- unknown and unimplemented ioctls -------------------------------------------- */

static const unsigned long implemented[] = {
	KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_CHECK_EXTENSION,
	KVM_GET_VCPU_MMAP_SIZE, KVM_GET_SUPPORTED_CPUID, KVM_GET_MSR_INDEX_LIST,
	KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU, KVM_GET_DIRTY_LOG,
	KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR, KVM_SET_GSI_ROUTING,
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS,
	KVM_SET_CPUID2, KVM_GET_CPUID2, KVM_GET_MSRS, KVM_SET_MSRS,
	KVM_GET_FPU, KVM_SET_FPU, KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XCRS,
	KVM_SET_XCRS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KVM_GET_MP_STATE,
	KVM_SET_MP_STATE, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	KVM_INTERRUPT, KVM_NMI, KVM_SET_SIGNAL_MASK,
	KVM_CREATE_IRQCHIP, KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS,
	KVM_SIGNAL_MSI, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, KVM_CREATE_PIT2,
	KVM_GET_PIT2, KVM_SET_PIT2, KVM_GET_PIT, KVM_SET_PIT, KVM_GET_LAPIC,
	KVM_SET_LAPIC, KVM_SET_VAPIC_ADDR,
};

/* KVM ioctls vmm does not implement (api.rst, "Not supported yet"). */
static const unsigned long unimplemented[] = {
	KVM_GET_MSR_FEATURE_INDEX_LIST, KVM_GET_EMULATED_CPUID,
	KVM_X86_GET_MCE_CAP_SUPPORTED, KVM_GET_CLOCK, KVM_SET_CLOCK, KVM_IRQFD, KVM_IOEVENTFD, KVM_ENABLE_CAP,
	KVM_SET_BOOT_CPU_ID, KVM_REGISTER_COALESCED_MMIO, KVM_CLEAR_DIRTY_LOG,
	KVM_GET_STATS_FD, KVM_GET_TSC_KHZ, KVM_SET_TSC_KHZ,
	KVM_SET_GUEST_DEBUG, KVM_GET_XSAVE2,
	KVM_X86_SETUP_MCE, KVM_KVMCLOCK_CTRL, KVM_GET_NESTED_STATE, KVM_SMI,
	KVM_GET_ONE_REG, KVM_SET_ONE_REG, KVM_TPR_ACCESS_REPORTING,
	KVM_CREATE_DEVICE,
	KVM_SET_PMU_EVENT_FILTER, KVM_MEMORY_ENCRYPT_OP, KVM_SET_NR_MMU_PAGES,
	KVM_GET_NR_MMU_PAGES, KVM_RESET_DIRTY_RINGS, KVM_HAS_DEVICE_ATTR,
};

static bool in_table(unsigned long nr, const unsigned long *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] == nr)
			return true;
	return false;
}

/*
 * A KVM ioctl vmm did not implement when this was written (it may have
 * since: anything goes for those), or a KVM-type number KVM does not have.
 */
static unsigned long unknown_ioctl(bool *known)
{
	unsigned long nr;

	*known = rng_chance(&rng, 50);
	if (*known)
		return unimplemented[rng_below(&rng, ARRAY_SIZE(unimplemented))];
	do {
		nr = _IOC(rng_below(&rng, 4), KVMIO, rng_below(&rng, 256),
			  rng_below(&rng, 1 << 14));
	} while (in_table(nr, implemented, ARRAY_SIZE(implemented)) ||
		 in_table(nr, unimplemented, ARRAY_SIZE(unimplemented)));
	return nr;
}

/* fd kind: 0 system, 1 VM, 2 vCPU; the errno vmm documents for each. */
static void op_unknown(void)
{
	static const int vmm_errno[] = { EINVAL, ENOTTY, EINVAL };
	static const char *const kinds[] = { "system", "VM", "vCPU" };
	int kind = rng_below(&rng, 3), fd = -1, err;
	unsigned long nr, arg;
	bool known;
	struct fvcpu *v;
	struct fvm *vm;
	long r;

	nr = unknown_ioctl(&known);
	switch (kind) {
	case 0:
		fd = sys_fds[rng_below(&rng, NR_SYS)];
		break;
	case 1:
		vm = pick_vm(true);
		fd = vm ? vm->base.fd : -1;
		break;
	default:
		v = pick_vcpu(NULL);
		fd = v ? v->fd : -1;
		break;
	}
	if (fd < 0)
		return;
	/* A pointer into the scratch buffer: it may be read or written. */
	arg = rng_chance(&rng, 50) ? (unsigned long)(buf + 8 * rng_below(&rng, 512)) :
				     rng_interesting(&rng);
	r = xioctl(fd, nr, arg, &err);
	snprintf(what, sizeof(what), "iter %llu unknown ioctl %#lx on a %s fd",
		 (unsigned long long)iteration, nr, kinds[kind]);
	if (strict && !known) {
		if (r != -1 || err != vmm_errno[kind])
			fz_fail("%s: returned %ld errno %d, expected %d", what,
				r, err, vmm_errno[kind]);
		fz_stat(FZ_STAT_IOCTL, 1);
		fz_stat(FZ_STAT_IOCTL_ERR, 1);
	} else {
		/* Some exist (on kvm_amd, or by now on vmm): keep no fd. */
		fz_stat(FZ_STAT_IOCTL, 1);
		if (r > 2 && (nr == KVM_CREATE_DEVICE || nr == KVM_GET_STATS_FD))
			close(r);
	}
}

/* ---- VM fd ------------------------------------------------------------------------ */

static bool user_range_ok(uint64_t hva, uint64_t size)
{
	return hva + size >= hva && hva + size <= TASK_SIZE_MAX;
}

/* vmm's checks for KVM_SET_USER_MEMORY_REGION, in its order (api.rst). */
static int predict_slot(struct fvm *vm, const struct kvm_userspace_memory_region *m)
{
	uint32_t as_id = m->slot >> 16, id = m->slot & 0xffff;
	uint64_t npages = m->memory_size >> 12;
	struct model_slot *old;

	if (m->flags & ~(KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES))
		return EINVAL;
	if (as_id || id >= NR_SLOT_IDS)
		return EINVAL;
	if ((m->memory_size | m->guest_phys_addr | m->userspace_addr) & 0xfff)
		return EINVAL;
	if (m->memory_size && !user_range_ok(m->userspace_addr, m->memory_size))
		return EINVAL;
	if (m->guest_phys_addr + m->memory_size < m->guest_phys_addr)
		return EINVAL;
	if (npages > (1ull << 31) - 1)
		return EINVAL;
	old = vm->slots[id].used ? &vm->slots[id] : NULL;
	if (!npages)
		return old ? 0 : EINVAL;
	if (old) {
		if (m->userspace_addr != old->hva || m->memory_size != old->size ||
		    ((m->flags ^ old->flags) & KVM_MEM_READONLY))
			return EINVAL;
		if (m->guest_phys_addr == old->gpa && m->flags == old->flags)
			return 0;
	}
	for (unsigned int i = 0; i < NR_SLOT_IDS; i++) {
		struct model_slot *s = &vm->slots[i];

		if (i != id && s->used && m->guest_phys_addr < s->gpa + s->size &&
		    s->gpa < m->guest_phys_addr + m->memory_size)
			return EEXIST;
	}
	return 0;
}

static uint64_t pick_gpa(void)
{
	switch (rng_below(&rng, 8)) {
	case 0:
		return rng_below(&rng, FZ_MEM_SIZE >> 12) << 12;
	case 1:
		return rng_interesting(&rng);
	case 2:
		return (rng_interesting(&rng) & ~0xfffull) + rng_below(&rng, 2) * 0x800;
	default:
		return SLOT_AREA + (rng_below(&rng, 64) << 12);
	}
}

static uint64_t pick_size(void)
{
	switch (rng_below(&rng, 10)) {
	case 0:
		return 0;
	case 1:
		return rng_interesting(&rng);
	case 2:
		return (rng_below(&rng, 1 << 18) + 1) << 12;
	default:
		return (rng_below(&rng, 64) + 1) << 12;
	}
}

static uint64_t pick_hva(uint64_t size)
{
	static const uint64_t odd[] = {
		0, 0x1000, 1ull << 40, (1ull << 46) + 0x100000, TASK_SIZE_MAX,
		TASK_SIZE_MAX - 0x1000, 1ull << 47, ~0xfffull,
		0xffff888000000000ull,
	};

	switch (rng_below(&rng, 12)) {
	case 0:
		return (uintptr_t)hole;
	case 1:
		return (uintptr_t)ro_page;
	case 2:
		return odd[rng_below(&rng, ARRAY_SIZE(odd))];
	case 3:
		return TASK_SIZE_MAX - size;
	case 4:
		return (uintptr_t)arena + rng_below(&rng, ARENA_SIZE) + 1;
	default:
		/* May run past the arena's end into unmapped memory. */
		return (uintptr_t)arena + (rng_below(&rng, ARENA_SIZE >> 12) << 12);
	}
}

static void op_set_slot(void)
{
	struct fvm *vm = pick_vm(true);
	struct kvm_userspace_memory_region m, *p;
	enum ptr_kind kind;
	uint32_t id;
	long r;
	int err, want;

	if (!vm)
		return;
	id = rng_chance(&rng, 90) ? rng_below(&rng, 8) : rng_below(&rng, 256);
	m = (struct kvm_userspace_memory_region){
		.slot = id,
		.flags = rng_below(&rng, 4),
		.guest_phys_addr = pick_gpa(),
		.memory_size = pick_size(),
	};
	m.userspace_addr = pick_hva(m.memory_size);
	if (vm->slots[id].used && rng_chance(&rng, 50)) {
		/* A move or a flag change of a live slot, or its deletion. */
		m.userspace_addr = vm->slots[id].hva;
		m.memory_size = rng_chance(&rng, 80) ? vm->slots[id].size : 0;
		if (rng_chance(&rng, 60))
			m.flags = vm->slots[id].flags ^ KVM_MEM_LOG_DIRTY_PAGES;
	}
	if (rng_chance(&rng, 5))
		m.slot = rng_interesting(&rng);
	if (rng_chance(&rng, 5))
		m.flags = rng_interesting(&rng);
	/* Dirty bitmaps of huge slots cost real memory: keep them small. */
	if (m.memory_size > (1ull << 30))
		m.flags &= ~KVM_MEM_LOG_DIRTY_PAGES;
	want = predict_slot(vm, &m);

	p = arg_ptr(sizeof(m), &kind);
	if (kind == P_GOOD || kind == P_RDONLY) {
		if (kind == P_RDONLY)
			p = (void *)(ro_page + PAGE_SIZE);	/* the writable twin */
		memcpy(p, &m, sizeof(m));
		if (kind == P_RDONLY)
			p = (void *)ro_page;
	}
	fz_stat(FZ_STAT_SLOT_OPS, 1);
	r = xioctl(vm->base.fd, KVM_SET_USER_MEMORY_REGION, (unsigned long)p, &err);
	snprintf(what, sizeof(what),
		 "iter %llu KVM_SET_USER_MEMORY_REGION slot %#x flags %#x gpa %#llx size %#llx hva %#llx (%s pointer)",
		 (unsigned long long)iteration, m.slot, m.flags,
		 (unsigned long long)m.guest_phys_addr,
		 (unsigned long long)m.memory_size,
		 (unsigned long long)m.userspace_addr, ptr_name[kind]);
	if (kind != P_GOOD && kind != P_RDONLY) {
		check_arg(r, err, kind, 0, E_NONE, "KVM_SET_USER_MEMORY_REGION");
		return;
	}
	fz_expect(r, err, (const int[]){ EINVAL, EEXIST, ENOMEM, 0 }, what);
	if (strict && vm->model_ok && !(r < 0 && err == ENOMEM) &&
	    (r < 0 ? err : 0) != want)
		fz_fail("%s: got %s, the model expected %s", what,
			r < 0 ? strerror(err) : "success",
			want ? strerror(want) : "success");
	if (r < 0)
		return;
	id = m.slot & 0xffff;
	if (id >= NR_SLOT_IDS) {
		vm->model_ok = false;
		return;
	}
	if (!m.memory_size)
		vm->slots[id].used = false;
	else
		vm->slots[id] = (struct model_slot){
			.used = true, .flags = m.flags,
			.gpa = m.guest_phys_addr, .size = m.memory_size,
			.hva = m.userspace_addr,
		};
}

static void op_dirty_log(void)
{
	struct fvm *vm = pick_vm(true);
	struct kvm_dirty_log log = { 0 }, *p;
	enum ptr_kind kind, bkind = P_GOOD;
	struct model_slot *s = NULL;
	void *bitmap, *big = NULL;
	size_t bytes = 8, big_len = 0;
	uint32_t id;
	long r;
	int err, want;

	if (!vm)
		return;
	id = rng_chance(&rng, 90) ? rng_below(&rng, 8) : rng_interesting(&rng);
	if ((id & 0xffff) < NR_SLOT_IDS && !(id >> 16))
		s = vm->slots[id].used ? &vm->slots[id] : NULL;
	if (s)
		bytes = ((s->size >> 12) + 63) / 64 * 8;
	if (bytes <= BUF_SIZE) {
		bitmap = arg_ptr(bytes, &bkind);
	} else if (bytes <= (4u << 20) && rng_chance(&rng, 50)) {
		big_len = bytes;
		big = mmap(NULL, big_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		bitmap = big == MAP_FAILED ? NULL : big;
		bkind = big == MAP_FAILED ? P_NULL : P_GOOD;
	} else {
		bitmap = hole;
		bkind = P_UNMAPPED;
	}
	log.slot = id;
	log.dirty_bitmap = bitmap;
	if ((id >> 16) || (id & 0xffff) >= NR_SLOT_IDS)
		want = EINVAL;
	else if (!s || !(s->flags & KVM_MEM_LOG_DIRTY_PAGES))
		want = ENOENT;
	else if (bkind != P_GOOD)
		want = EFAULT;
	else
		want = 0;
	/* The structure itself goes in the read-only page when it may. */
	p = arg_ptr(sizeof(log), &kind);
	if (kind == P_GOOD)
		*p = log;
	if (kind == P_RDONLY) {
		memcpy(ro_page + PAGE_SIZE, &log, sizeof(log));
		p = (void *)ro_page;
	}
	r = xioctl(vm->base.fd, KVM_GET_DIRTY_LOG, (unsigned long)p, &err);
	snprintf(what, sizeof(what),
		 "iter %llu KVM_GET_DIRTY_LOG slot %#x (%s pointer, %s bitmap)",
		 (unsigned long long)iteration, id, ptr_name[kind],
		 ptr_name[bkind]);
	if (kind != P_GOOD && kind != P_RDONLY) {
		check_arg(r, err, kind, 0, E_NONE, "KVM_GET_DIRTY_LOG");
	} else {
		fz_expect(r, err,
			  (const int[]){ EINVAL, ENOENT, EFAULT, ENOMEM, 0 }, what);
		if (strict && vm->model_ok && !(r < 0 && err == ENOMEM) &&
		    (r < 0 ? err : 0) != want)
			fz_fail("%s: got %s, the model expected %s", what,
				r < 0 ? strerror(err) : "success",
				want ? strerror(want) : "success");
	}
	if (big && big != MAP_FAILED)
		munmap(big, big_len);
}

static void op_vm_misc(void)
{
	struct fvm *vm = pick_vm(true);
	unsigned long arg;
	enum ptr_kind kind;
	uint64_t *p;
	long r;
	int err;

	if (!vm)
		return;
	switch (rng_below(&rng, 4)) {
	case 0:
		arg = rng_chance(&rng, 50) ? 0xfffbd000 : rng_interesting(&rng);
		r = xioctl(vm->base.fd, KVM_SET_TSS_ADDR, arg, &err);
		snprintf(what, sizeof(what), "iter %llu KVM_SET_TSS_ADDR(%#lx)",
			 (unsigned long long)iteration, arg);
		fz_expect(r, err, (const int[]){ EINVAL, 0 }, what);
		if (strict && (r == 0) != (arg <= 0xffffd000ul))
			fz_fail("%s returned %ld", what, r);
		break;
	case 1:
		p = arg_ptr(8, &kind);
		if (kind == P_GOOD)
			*p = rng_interesting(&rng);
		r = xioctl(vm->base.fd, KVM_SET_IDENTITY_MAP_ADDR,
			   (unsigned long)p, &err);
		snprintf(what, sizeof(what), "iter %llu KVM_SET_IDENTITY_MAP_ADDR (%s pointer)",
			 (unsigned long long)iteration, ptr_name[kind]);
		/* EINVAL comes first once a vCPU exists, as in KVM. */
		fz_expect(r, err, (const int[]){ EINVAL, EFAULT, 0 }, what);
		if (strict && r == 0 && vm->nr_ids)
			fz_fail("%s succeeded with vCPUs", what);
		break;
	case 2:
		p = arg_ptr(64, &kind);
		r = xioctl(vm->base.fd, KVM_SET_GSI_ROUTING, (unsigned long)p, &err);
		snprintf(what, sizeof(what), "iter %llu KVM_SET_GSI_ROUTING",
			 (unsigned long long)iteration);
		fz_expect(r, err, (const int[]){ EINVAL, EFAULT, ENOMEM, 0 }, what);
		if (r >= 0 && !vm->irqchip)
			fz_fail("%s succeeded without an irqchip", what);
		break;
	default:
		arg = rng_chance(&rng, 70) ? rng_below(&rng, 240) : rng_interesting(&rng);
		r = xioctl(vm->base.fd, KVM_CHECK_EXTENSION, arg, &err);
		snprintf(what, sizeof(what), "iter %llu VM KVM_CHECK_EXTENSION(%#lx)",
			 (unsigned long long)iteration, arg);
		fz_expect(r, err, E_NONE, what);
		break;
	}
}

/* ---- vCPU fd ------------------------------------------------------------------------ */

struct vcpu_ioctl {
	const char *name;
	unsigned long nr;
	size_t size;
	bool writes;		/* GET: the kernel copies out */
	unsigned long get;	/* SET: the GET that reads the same state */
};

static const struct vcpu_ioctl vcpu_ioctls[] = {
	{ "KVM_GET_REGS", KVM_GET_REGS, sizeof(struct kvm_regs), true, 0 },
	{ "KVM_SET_REGS", KVM_SET_REGS, sizeof(struct kvm_regs), false, KVM_GET_REGS },
	{ "KVM_GET_SREGS", KVM_GET_SREGS, sizeof(struct kvm_sregs), true, 0 },
	{ "KVM_SET_SREGS", KVM_SET_SREGS, sizeof(struct kvm_sregs), false, KVM_GET_SREGS },
	{ "KVM_GET_FPU", KVM_GET_FPU, sizeof(struct kvm_fpu), true, 0 },
	{ "KVM_SET_FPU", KVM_SET_FPU, sizeof(struct kvm_fpu), false, KVM_GET_FPU },
	{ "KVM_GET_XSAVE", KVM_GET_XSAVE, sizeof(struct kvm_xsave), true, 0 },
	{ "KVM_SET_XSAVE", KVM_SET_XSAVE, sizeof(struct kvm_xsave), false, KVM_GET_XSAVE },
	{ "KVM_GET_XCRS", KVM_GET_XCRS, sizeof(struct kvm_xcrs), true, 0 },
	{ "KVM_SET_XCRS", KVM_SET_XCRS, sizeof(struct kvm_xcrs), false, KVM_GET_XCRS },
	{ "KVM_GET_DEBUGREGS", KVM_GET_DEBUGREGS, sizeof(struct kvm_debugregs), true, 0 },
	{ "KVM_SET_DEBUGREGS", KVM_SET_DEBUGREGS, sizeof(struct kvm_debugregs), false, KVM_GET_DEBUGREGS },
	{ "KVM_GET_MP_STATE", KVM_GET_MP_STATE, sizeof(struct kvm_mp_state), true, 0 },
	{ "KVM_SET_MP_STATE", KVM_SET_MP_STATE, sizeof(struct kvm_mp_state), false, KVM_GET_MP_STATE },
	{ "KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS, sizeof(struct kvm_vcpu_events), true, 0 },
	{ "KVM_SET_VCPU_EVENTS", KVM_SET_VCPU_EVENTS, sizeof(struct kvm_vcpu_events), false, KVM_GET_VCPU_EVENTS },
	{ "KVM_INTERRUPT", KVM_INTERRUPT, sizeof(struct kvm_interrupt), false, 0 },
};

static void mutate(void *p, size_t size)
{
	uint8_t *b = p;

	for (unsigned int n = 1 + rng_below(&rng, 4); n; n--) {
		size_t at = rng_below(&rng, size);

		switch (rng_below(&rng, 3)) {
		case 0:
			b[at] ^= 1 << rng_below(&rng, 8);
			break;
		case 1:
			b[at] = rng_next(&rng);
			break;
		default:
			if (size >= 8) {
				uint64_t v = rng_interesting(&rng);

				at = rng_below(&rng, size / 8) * 8;
				memcpy(b + at, &v, 8);
			}
			break;
		}
	}
}

static void op_vcpu_state(void)
{
	const struct vcpu_ioctl *io = &vcpu_ioctls[rng_below(&rng, ARRAY_SIZE(vcpu_ioctls))];
	struct fvm *vm = NULL;
	struct fvcpu *v = pick_vcpu(&vm);
	enum ptr_kind kind;
	int err, how = 0;
	void *p;
	long r;

	if (!v)
		return;
	p = arg_ptr(io->size, &kind);
	if (kind == P_GOOD) {
		memset(p, 0xa5, io->size);
		if (!io->writes) {
			how = rng_below(&rng, 3);	/* 0 round trip, 1 mutated, 2 garbage */
			if (how < 2 && io->get) {
				int e2;

				r = xioctl(v->fd, io->get, (unsigned long)p, &e2);
				fz_stat(FZ_STAT_IOCTL, 1);
				if (r) {
					fz_fail("iter %llu %s before %s: %s",
						(unsigned long long)iteration,
						"GET", io->name, strerror(e2));
					return;
				}
				if (how == 1)
					mutate(p, io->size);
			} else {
				rng_fill(&rng, p, io->size);
				how = 2;
			}
		}
	}
	if (kind == P_RDONLY && !io->writes)
		rng_fill(&rng, ro_page + PAGE_SIZE, io->size);
	/* See op_vcpu_apic(): kvm_amd WARNs on MP states it does not know. */
	if (io->nr == KVM_SET_MP_STATE && !strict && kind != P_NULL &&
	    kind != P_UNMAPPED && kind != P_KERNEL && kind != P_STRADDLE)
		((struct kvm_mp_state *)(kind == P_RDONLY ? ro_page + PAGE_SIZE :
					 (uint8_t *)p))->mp_state %= 5;
	if (io->nr == KVM_SET_SREGS && fz_avoid_tcg_hangs()) {
		struct kvm_sregs *s = kind == P_GOOD ? p :
				      kind == P_RDONLY ? (void *)(ro_page + PAGE_SIZE) : NULL;

		if (s && !(s->cr0 & 0x80000000))
			s->efer &= ~FZ_EFER_LME;
	}
	r = xioctl(v->fd, io->nr, (unsigned long)p, &err);
	/*
	 * Known difference: with an irqchip vmm answers KVM_INTERRUPT's
	 * ENXIO before it reads the argument; KVM reads it first (EFAULT).
	 */
	if (io->nr == KVM_INTERRUPT && vm->irqchip && r == -1 && err == ENXIO)
		kind = P_GOOD;
	check_arg(r, err, kind, io->writes ? 2 : 0,
		  io->nr == KVM_INTERRUPT ?
		  (const int[]){ EINVAL, EEXIST, ENXIO, 0 } : E_SET, io->name);
	/*
	 * What a GET returned, a SET must take back (that is what saving and
	 * restoring a vCPU relies on) - unless its CPUID table was replaced
	 * with garbage, which may make the current CR4 or XCR0 invalid.
	 */
	if (io->nr == KVM_SET_SREGS && r == 0)
		v->efer_host_written = false;
	if (strict && kind == P_GOOD && how == 0 && io->get && r < 0 &&
	    !v->cpuid_garbage && err != EINTR &&
	    !(io->nr == KVM_SET_SREGS && v->efer_host_written)) {
		fz_fail("iter %llu: %s of what its GET returned: %s",
			(unsigned long long)iteration, io->name, strerror(err));
		if (io->nr == KVM_SET_SREGS) {
			const struct kvm_sregs *sr = p;

			fz_fail("  refused: cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx apic_base %#llx; cs %#x base %#llx l %u db %u type %u; ss %#x dpl %u",
				(unsigned long long)sr->cr0, (unsigned long long)sr->cr3,
				(unsigned long long)sr->cr4, (unsigned long long)sr->efer,
				(unsigned long long)sr->apic_base, sr->cs.selector,
				(unsigned long long)sr->cs.base, sr->cs.l, sr->cs.db,
				sr->cs.type, sr->ss.selector, sr->ss.dpl);
		}
	}
}

static void op_vcpu_cpuid(void)
{
	struct fvcpu *v = pick_vcpu(NULL);
	struct kvm_cpuid2 *sup = fz_supported_cpuid(any_sys_fd()), *c;
	enum ptr_kind kind;
	uint32_t nent;
	size_t size;
	long r;
	int err, how;

	if (!v)
		return;
	if (rng_chance(&rng, 40)) {
		cpuid2_get(v->fd, KVM_GET_CPUID2, "KVM_GET_CPUID2");
		return;
	}
	how = rng_below(&rng, 4);	/* 0 supported, 1 mutated, 2 garbage, 3 count */
	nent = sup ? sup->nent : 0;
	if (how >= 2)
		nent = rng_below(&rng, 300);
	if (how == 3)
		nent = rng_interesting(&rng);
	size = sizeof(*c) + (nent <= 300 ? nent : 1) * sizeof(c->entries[0]);
	c = arg_ptr(size, &kind);
	if (kind == P_GOOD) {
		if (how < 2 && sup)
			memcpy(c, sup, size);
		else
			rng_fill(&rng, c, size);
		c->nent = nent;
		if (how == 1)
			mutate(c->entries, size - sizeof(*c));
	}
	r = xioctl(v->fd, KVM_SET_CPUID2, (unsigned long)c, &err);
	check_arg(r, err, kind, 0, E_SET, "KVM_SET_CPUID2");
	if (r == 0)
		v->cpuid_garbage = how != 0;
}

/* MSRs worth trying: the saved ones, the ones vmm emulates, and neighbours. */
static const uint32_t msr_list[] = {
	0x10, 0x11, 0x12, 0x1b, 0x3a, 0x48, 0x8b, 0xfe, 0x174, 0x175, 0x176,
	0x179, 0x17a, 0x17b, 0x1d9, 0x200, 0x201, 0x20f, 0x210, 0x250, 0x258,
	0x259, 0x268, 0x26f, 0x277, 0x2ff, 0x400, 0x401, 0x47f, 0x480, 0x6e0,
	0x800, 0x80f, 0xc0000080, 0xc0000081, 0xc0000082, 0xc0000083,
	0xc0000084, 0xc0000100, 0xc0000101, 0xc0000102, 0xc0000103,
	0xc0010000, 0xc0010004, 0xc0010007, 0xc0010010, 0xc0010015,
	0xc0010114, 0xc0010117, 0xc0010140, 0xc0010141, 0xc0011029,
	0x4b564d00, 0x4b564d01, 0x40000000, 0xffffffff,
};

static void op_vcpu_msrs(void)
{
	struct fvcpu *v = pick_vcpu(NULL);
	bool set = rng_chance(&rng, 50);
	struct kvm_msrs *m;
	enum ptr_kind kind;
	uint32_t n, room;
	size_t size;
	long r;
	int err;

	if (!v)
		return;
	n = rng_chance(&rng, 80) ? rng_below(&rng, 16) :
	    rng_chance(&rng, 50) ? 4095 + rng_below(&rng, 3) :
				   (uint32_t)rng_interesting(&rng);
	room = n < 4096 ? n : 1;
	size = sizeof(*m) + room * sizeof(m->entries[0]);
	m = arg_ptr(size, &kind);
	if (kind == P_GOOD) {
		m->nmsrs = n;
		m->pad = 0;
		for (uint32_t i = 0; i < room; i++) {
			m->entries[i].index = rng_chance(&rng, 90) ?
				msr_list[rng_below(&rng, ARRAY_SIZE(msr_list))] :
				(uint32_t)rng_interesting(&rng);
			m->entries[i].reserved = 0;
			m->entries[i].data = rng_chance(&rng, 30) ? 0 :
					     rng_interesting(&rng);
			if (m->entries[i].index == FZ_MSR_EFER && fz_avoid_tcg_hangs())
				m->entries[i].data &= ~FZ_EFER_LME;
			if (m->entries[i].index == FZ_MSR_EFER && set)
				v->efer_host_written = true;
		}
	}
	r = xioctl(v->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, (unsigned long)m, &err);
	check_arg(r, err, kind, !set, E_SET, set ? "KVM_SET_MSRS" : "KVM_GET_MSRS");
	if (r > 0 && kind == P_GOOD && (uint64_t)r > n)
		fz_fail("iter %llu %s: %ld entries done of %u",
			(unsigned long long)iteration,
			set ? "KVM_SET_MSRS" : "KVM_GET_MSRS", r, n);
}

static void op_vcpu_misc(void)
{
	struct fvcpu *v = pick_vcpu(NULL);
	struct kvm_signal_mask *sm;
	enum ptr_kind kind;
	long r;
	int err;

	if (!v)
		return;
	switch (rng_below(&rng, 3)) {
	case 0:
		r = xioctl(v->fd, KVM_NMI, 0, &err);
		snprintf(what, sizeof(what), "iter %llu KVM_NMI",
			 (unsigned long long)iteration);
		fz_expect(r, err, (const int[]){ ENXIO, 0 }, what);
		break;
	case 1:
		if (rng_chance(&rng, 30)) {
			r = xioctl(v->fd, KVM_SET_SIGNAL_MASK, 0, &err);
			snprintf(what, sizeof(what), "iter %llu KVM_SET_SIGNAL_MASK(NULL)",
				 (unsigned long long)iteration);
			fz_expect(r, err, E_NONE, what);
			break;
		}
		sm = arg_ptr(sizeof(*sm) + 8, &kind);
		if (kind == P_GOOD) {
			uint64_t set = rng_next(&rng);

			/* Never block the timer that bounds every KVM_RUN. */
			set &= ~(1ull << (FZ_TIMER_SIGNAL - 1));
			sm->len = rng_chance(&rng, 80) ? 8 : rng_interesting(&rng);
			memcpy(sm->sigset, &set, 8);
		}
		r = xioctl(v->fd, KVM_SET_SIGNAL_MASK, (unsigned long)sm, &err);
		/* NULL is not a bad pointer here: it removes the mask. */
		if (kind == P_NULL)
			kind = P_GOOD;
		check_arg(r, err, kind, 0, (const int[]){ EINVAL, 0 },
			  "KVM_SET_SIGNAL_MASK");
		break;
	default: {
		/* KVM_RUN from the fuzz thread, perhaps with immediate_exit. */
		unsigned long arg = rng_chance(&rng, 90) ? 0 : rng_interesting(&rng);

		/* A runner may share this kvm_run: its exit is not its own now. */
		scribble_mark();
		if (v->run && rng_chance(&rng, 20))
			v->run->immediate_exit = 1;
		note_ioctl(KVM_RUN);
		if (arg)
			r = xioctl(v->fd, KVM_RUN, arg, &err);
		else {
			r = fz_run_bounded(v->fd, RUN_MS);
			err = errno;
		}
		if (v->run)
			v->run->immediate_exit = 0;
		snprintf(what, sizeof(what), "iter %llu KVM_RUN(%#lx)",
			 (unsigned long long)iteration, arg);
		fz_expect(r, err, (const int[]){ EINTR, EAGAIN, EFAULT, ENOMEM, EINVAL, 0 },
			  what);
		if (strict && arg && r >= 0)
			fz_fail("%s succeeded", what);
		if (r == 0 && v->run) {
			const char *bad = fz_check_exit(v->run, run_size);

			if (bad)
				fz_fail("%s: exit %u: %s", what,
					v->run->exit_reason, bad);
			fz_complete_exit(v->run, run_size, &rng);
		}
		scribble_mark();
		break;
	}
	}
}

/* ---- in-kernel irqchip: VM fd ------------------------------------------------------- */

#define NR_GSI		4096	/* KVM_MAX_IRQ_ROUTES, and vmm's GSI limit */
#define ROUTE_BUF_SIZE	(sizeof(struct kvm_irq_routing) + \
			 (NR_GSI + 1) * sizeof(struct kvm_irq_routing_entry))

static uint8_t *route_buf;	/* room for a table of NR_GSI + 1 entries */

/*
 * The errnos vmm documents for the irqchip ioctls (api.rst, "In-kernel
 * irqchip") depend on checks made before the argument is read (`pre`, 0 if
 * none applies), on the pointer, and on the argument's content (`post`, 0
 * for success). kvm_amd differs in places (it does not check MSI addresses
 * or PIT flags, and takes any MP_STATE with a LAPIC): there only the set
 * of errnos is checked.
 */
static const int E_IRQ_LOOSE[] = { EINVAL, EFAULT, ENXIO, EEXIST, ENOENT,
				    ENOMEM, EPERM, E2BIG, 0 };

static void irq_expect(long r, int err, enum ptr_kind kind, bool writes,
		       int pre, int post, const char *name)
{
	int want;

	snprintf(what, sizeof(what), "iter %llu %s (%s pointer)",
		 (unsigned long long)iteration, name, ptr_name[kind]);
	fz_stat(FZ_STAT_IOCTL, 1);
	if (r < 0)
		fz_stat(FZ_STAT_IOCTL_ERR, 1);
	if (!strict) {
		fz_expect(r, err, E_IRQ_LOOSE, what);
		return;
	}
	if (r < 0 && err == ENOMEM)
		return;
	if (pre)
		want = pre;
	else if (kind == P_NULL || kind == P_UNMAPPED || kind == P_KERNEL)
		want = EFAULT;
	else if (kind == P_STRADDLE)
		want = r < 0 && err == post ? post : EFAULT;
	else if (kind == P_RDONLY && writes && !post)
		want = EFAULT;
	else
		want = post;
	if (want ? (r != -1 || err != want) : r < 0)
		fz_fail("%s: returned %ld errno %d (%s), vmm documents %d",
			what, r, r < 0 ? err : 0, r < 0 ? strerror(err) : "-", want);
}

/*
 * Where an argument of `size` bytes built in `src` goes: a good pointer
 * gets a copy, a read-only one a copy through its writable alias.
 */
static void *irq_arg(const void *src, size_t size, enum ptr_kind *kind)
{
	void *p = arg_ptr(size, kind);

	if (*kind == P_GOOD)
		memcpy(p, src, size);
	else if (*kind == P_RDONLY)
		memcpy(ro_page + PAGE_SIZE, src, size);
	else if (*kind == P_STRADDLE)	/* what fits before the guard page */
		memcpy(p, src, buf + BUF_SIZE - (uint8_t *)p);
	return p;
}

static uint32_t rand_gsi(void)
{
	switch (rng_below(&rng, 6)) {
	case 0:
	case 1:
	case 2:
		return rng_below(&rng, 24);
	case 3:
		return rng_below(&rng, NR_GSI);
	case 4:
		return NR_GSI - 2 + rng_below(&rng, 4);
	default:
		return rng_interesting(&rng);
	}
}

/* An MSI address: mostly 0xfeeDDxxx, as vmm takes them. */
static void rand_msi(uint32_t *lo, uint32_t *hi, uint32_t *data)
{
	*lo = 0xfee00000 | rng_below(&rng, 4) << 12 | (rng_next(&rng) & 0xffc);
	if (rng_chance(&rng, 20))
		*lo = 0xfee00000 | (rng_next(&rng) & 0xffffc);
	if (rng_chance(&rng, 10))
		*lo = rng_interesting(&rng);
	*hi = rng_chance(&rng, 90) ? 0 : rng_interesting(&rng);
	*data = rng_chance(&rng, 50) ? rng_below(&rng, 0x800) | 0x20 : rng_next(&rng);
}

/* vmm's check of one routing entry (irq.c, vmm_route_from_user). */
static bool route_ok(const struct kvm_irq_routing_entry *e)
{
	if (e->gsi >= NR_GSI || e->flags)
		return false;
	switch (e->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		if (e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC)
			return e->u.irqchip.pin < 24;
		return e->u.irqchip.irqchip <= KVM_IRQCHIP_PIC_SLAVE &&
		       e->u.irqchip.pin < 8;
	case KVM_IRQ_ROUTING_MSI:
		return (e->u.msi.address_lo & 0xfff00000) == 0xfee00000 &&
		       !e->u.msi.address_hi;
	}
	return false;
}

/* KVM's rule: a GSI once per irqchip, and an MSI GSI has one route. */
static bool routes_unique(const struct kvm_irq_routing_entry *e, uint32_t n)
{
	static uint8_t seen[NR_GSI];	/* BIT(chip), 0x80 for MSI */

	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 0; i < n; i++) {
		uint8_t bit = e[i].type == KVM_IRQ_ROUTING_IRQCHIP ?
			      1 << e[i].u.irqchip.irqchip : 0x80;
		uint8_t old = seen[e[i].gsi];

		if ((old & bit) || (old && ((old | bit) & 0x80)))
			return false;
		seen[e[i].gsi] = old | bit;
	}
	return true;
}

static void rand_route(struct kvm_irq_routing_entry *e, bool good)
{
	memset(e, 0, sizeof(*e));
	e->gsi = good ? rng_below(&rng, rng_chance(&rng, 80) ? 24 : NR_GSI) : rand_gsi();
	e->type = rng_chance(&rng, 60) ? KVM_IRQ_ROUTING_IRQCHIP : KVM_IRQ_ROUTING_MSI;
	if (e->type == KVM_IRQ_ROUTING_IRQCHIP) {
		e->u.irqchip.irqchip = rng_below(&rng, 3);
		e->u.irqchip.pin = rng_below(&rng, e->u.irqchip.irqchip == 2 ? 24 : 8);
	} else {
		rand_msi(&e->u.msi.address_lo, &e->u.msi.address_hi, &e->u.msi.data);
		if (good)
			e->u.msi.address_lo = 0xfee00000 | (e->u.msi.address_lo & 0xfffff);
		if (good)
			e->u.msi.address_hi = 0;
	}
	if (good)
		return;
	switch (rng_below(&rng, 5)) {
	case 0:
		e->type = rng_chance(&rng, 50) ? rng_below(&rng, 8) : rng_next(&rng);
		break;
	case 1:
		e->flags = rng_chance(&rng, 50) ? 1 : rng_next(&rng);
		break;
	case 2:
		e->u.irqchip.irqchip = rng_chance(&rng, 50) ? 3 : rng_next(&rng);
		break;
	case 3:
		e->u.irqchip.pin = rng_chance(&rng, 50) ? 24 : rng_interesting(&rng);
		break;
	default:
		rng_fill(&rng, &e->u, sizeof(e->u));
		break;
	}
}

static void irq_routing(struct fvm *vm)
{
	struct kvm_irq_routing *rt = (struct kvm_irq_routing *)route_buf;
	uint32_t nr, room, bad_pct = rng_chance(&rng, 60) ? 0 : rng_below(&rng, 30);
	enum ptr_kind kind;
	int err, post = 0;
	size_t size;
	void *p;
	long r;

	switch (rng_below(&rng, 10)) {
	case 0:
		nr = NR_GSI - 1 + rng_below(&rng, 3);
		break;
	case 1:
		nr = rng_below(&rng, NR_GSI + 1);
		break;
	case 2:
		nr = rng_interesting(&rng);
		break;
	default:
		nr = rng_below(&rng, 40);
		break;
	}
	room = nr <= NR_GSI ? nr : rng_below(&rng, 2);
	rt->nr = nr;
	rt->flags = rng_chance(&rng, 95) ? 0 : rng_interesting(&rng);
	for (uint32_t i = 0; i < room; i++) {
		rand_route(&rt->entries[i], !rng_chance(&rng, bad_pct));
		if (!route_ok(&rt->entries[i]))
			post = EINVAL;
	}
	if (!post && !routes_unique(rt->entries, room))
		post = EINVAL;
	if (nr > NR_GSI || rt->flags || !vm->irqchip)
		post = EINVAL;
	size = sizeof(*rt) + room * sizeof(rt->entries[0]);
	p = arg_ptr(size < BUF_SIZE ? size : BUF_SIZE, &kind);
	if (kind == P_GOOD)
		p = rt;		/* route_buf holds it already */
	else if (kind == P_RDONLY)
		memcpy(ro_page + PAGE_SIZE, rt, size);
	else if (kind == P_STRADDLE)
		memcpy(p, rt, buf + BUF_SIZE - (uint8_t *)p);
	r = xioctl(vm->base.fd, KVM_SET_GSI_ROUTING, (unsigned long)p, &err);
	/* vmm reads the entries before it looks for an irqchip. */
	irq_expect(r, err, kind, false, 0, post, "KVM_SET_GSI_ROUTING");
}

static void irq_line(struct fvm *vm)
{
	bool status = rng_chance(&rng, 50);
	struct kvm_irq_level l = {
		.irq = rand_gsi(),
		.level = rng_chance(&rng, 80) ? rng_below(&rng, 2) : rng_next(&rng),
	};
	struct kvm_irq_level *p;
	enum ptr_kind kind;
	long r;
	int err;

	p = irq_arg(&l, sizeof(l), &kind);
	r = xioctl(vm->base.fd, status ? KVM_IRQ_LINE_STATUS : KVM_IRQ_LINE,
		   (unsigned long)p, &err);
	irq_expect(r, err, kind, status, 0, vm->irqchip ? 0 : ENXIO,
		   status ? "KVM_IRQ_LINE_STATUS" : "KVM_IRQ_LINE");
	/* >0 delivered, 0 coalesced, -1 masked or unrouted. */
	if (strict && status && r == 0 && kind == P_GOOD && p->status < -1)
		fz_fail("%s: status %d", what, p->status);
}

static void irq_msi(struct fvm *vm)
{
	struct kvm_msi m = { 0 }, *p;
	enum ptr_kind kind;
	int err, post = 0;
	long r;

	rand_msi(&m.address_lo, &m.address_hi, &m.data);
	if (rng_chance(&rng, 5))
		m.flags = rng_interesting(&rng);
	if (rng_chance(&rng, 5))
		m.devid = rng_next(&rng);
	if (rng_chance(&rng, 5))
		m.pad[rng_below(&rng, sizeof(m.pad))] = 1 + rng_below(&rng, 255);
	if (!vm->irqchip || m.flags || m.address_hi ||
	    (m.address_lo & 0xfff00000) != 0xfee00000)
		post = EINVAL;
	for (size_t i = 0; i < sizeof(m.pad); i++)
		if (m.pad[i])
			post = EINVAL;
	p = irq_arg(&m, sizeof(m), &kind);
	r = xioctl(vm->base.fd, KVM_SIGNAL_MSI, (unsigned long)p, &err);
	/* Nobody took it: -1, i.e. EPERM, as in KVM. */
	if (!post && r == -1 && err == EPERM && kind != P_STRADDLE)
		r = 0;
	irq_expect(r, err, kind, false, 0, post, "KVM_SIGNAL_MSI");
	if (strict && r > (long)vm->nr_ids)
		fz_fail("%s: %ld LAPICs took it, the VM has %u vCPUs", what, r,
			vm->nr_ids);
}

static void irq_chip_state(struct fvm *vm)
{
	bool set = rng_chance(&rng, 50);
	struct kvm_irqchip c, *p;
	enum ptr_kind kind;
	int err, how = rng_below(&rng, 3);
	long r;

	memset(&c, 0, sizeof(c));
	c.chip_id = rng_chance(&rng, 85) ? rng_below(&rng, 3) :
		    rng_chance(&rng, 50) ? 3 : rng_next(&rng);
	if (set && how > 0) {
		/* 1: what GET says, mutated; 2: garbage. */
		if (how == 1 && vm->irqchip && c.chip_id < 3)
			ioctl(vm->base.fd, KVM_GET_IRQCHIP, &c);
		if (how == 1)
			mutate(&c.chip, sizeof(c.chip));
		else
			rng_fill(&rng, &c.chip, sizeof(c.chip));
	} else if (set && vm->irqchip && c.chip_id < 3) {
		ioctl(vm->base.fd, KVM_GET_IRQCHIP, &c);
	}
	p = irq_arg(&c, sizeof(c), &kind);
	r = xioctl(vm->base.fd, set ? KVM_SET_IRQCHIP : KVM_GET_IRQCHIP,
		   (unsigned long)p, &err);
	irq_expect(r, err, kind, !set, vm->irqchip ? 0 : ENXIO,
		   c.chip_id < 3 ? 0 : EINVAL,
		   set ? "KVM_SET_IRQCHIP" : "KVM_GET_IRQCHIP");
}

static void irq_pit(struct fvm *vm)
{
	static const struct {
		const char *name;
		unsigned long nr;
		size_t size;
		bool writes;
	} pit_ioctls[] = {
		{ "KVM_GET_PIT2", KVM_GET_PIT2, sizeof(struct kvm_pit_state2), true },
		{ "KVM_SET_PIT2", KVM_SET_PIT2, sizeof(struct kvm_pit_state2), false },
		{ "KVM_GET_PIT", KVM_GET_PIT, sizeof(struct kvm_pit_state), true },
		{ "KVM_SET_PIT", KVM_SET_PIT, sizeof(struct kvm_pit_state), false },
	};
	struct kvm_pit_state2 s;
	struct kvm_pit_config cfg = { 0 };
	enum ptr_kind kind;
	int err, k;
	void *p;
	long r;

	if (rng_chance(&rng, 20)) {
		cfg.flags = rng_chance(&rng, 70) ? rng_below(&rng, 2) : rng_interesting(&rng);
		p = irq_arg(&cfg, sizeof(cfg), &kind);
		r = xioctl(vm->base.fd, KVM_CREATE_PIT2, (unsigned long)p, &err);
		irq_expect(r, err, kind, false, 0,
			   cfg.flags & ~KVM_PIT_SPEAKER_DUMMY ? EINVAL :
			   vm->pit ? EEXIST : 0, "KVM_CREATE_PIT2");
		if (r == 0)
			vm->pit = true;
		return;
	}
	k = rng_below(&rng, ARRAY_SIZE(pit_ioctls));
	memset(&s, 0, sizeof(s));
	if (!pit_ioctls[k].writes) {
		if (vm->pit && rng_chance(&rng, 50))
			ioctl(vm->base.fd, KVM_GET_PIT2, &s);
		if (rng_chance(&rng, 50))
			rng_fill(&rng, &s, sizeof(s));
		else
			mutate(&s, sizeof(s));
	}
	p = irq_arg(&s, pit_ioctls[k].size, &kind);
	r = xioctl(vm->base.fd, pit_ioctls[k].nr, (unsigned long)p, &err);
	irq_expect(r, err, kind, pit_ioctls[k].writes, vm->pit ? 0 : ENXIO, 0,
		   pit_ioctls[k].name);
}

static void irq_create(struct fvm *vm)
{
	long r;
	int err;

	r = xioctl(vm->base.fd, KVM_CREATE_IRQCHIP, 0, &err);
	/* KVM's order: EEXIST, then EINVAL once a vCPU exists. */
	irq_expect(r, err, P_GOOD, false, 0,
		   vm->irqchip ? EEXIST : vm->nr_ids ? EINVAL : 0,
		   "KVM_CREATE_IRQCHIP");
	if (r == 0)
		vm->irqchip = true;
}

static void op_irqchip(void)
{
	struct fvm *vm = pick_vm(true);

	if (!vm)
		return;
	switch (rng_below(&rng, 8)) {
	case 0:
		irq_create(vm);
		break;
	case 1:
		irq_routing(vm);
		break;
	case 2:
	case 3:
		irq_line(vm);
		break;
	case 4:
		irq_msi(vm);
		break;
	case 5:
		irq_chip_state(vm);
		break;
	default:
		irq_pit(vm);
		break;
	}
}

/* ---- in-kernel irqchip: vCPU fd ----------------------------------------------------- */

static void vcpu_run_once(struct fvcpu *v, const char *after)
{
	long r;
	int err;

	scribble_mark();
	note_ioctl(KVM_RUN);
	r = fz_run_bounded(v->fd, RUN_MS);
	err = errno;
	snprintf(what, sizeof(what), "iter %llu KVM_RUN after %s",
		 (unsigned long long)iteration, after);
	/* EAGAIN: an UNINITIALIZED vCPU took an INIT. */
	fz_expect(r, err, (const int[]){ EINTR, EAGAIN, EFAULT, ENOMEM, EINVAL, 0 },
		  what);
	if (r == 0 && v->run) {
		const char *bad = fz_check_exit(v->run, run_size);

		if (bad && strict)
			fz_fail("%s: exit %u: %s", what, v->run->exit_reason, bad);
		fz_complete_exit(v->run, run_size, &rng);
	}
	scribble_mark();
}

static void op_vcpu_apic(void)
{
	struct kvm_lapic_state *ls;
	struct kvm_vapic_addr va;
	struct kvm_mp_state mp;
	enum ptr_kind kind;
	bool lapic, set;
	struct fvcpu *v;
	struct fvm *vm;
	void *p;
	long r;
	int err;

	v = pick_vcpu(&vm);
	if (!v)
		return;
	lapic = vm->irqchip;
	ls = malloc(sizeof(*ls));
	if (!ls)
		return;
	switch (rng_below(&rng, 4)) {
	case 0:
	case 1:
		set = rng_chance(&rng, 60);
		memset(ls, 0, sizeof(*ls));
		if (set) {
			/* Round trip, mutated, or all 1 KiB random. */
			int how = rng_below(&rng, 3);

			if (how < 2 && lapic)
				ioctl(v->fd, KVM_GET_LAPIC, ls);
			if (how == 1)
				mutate(ls, sizeof(*ls));
			else if (how == 2)
				rng_fill(&rng, ls, sizeof(*ls));
		}
		p = irq_arg(ls, sizeof(*ls), &kind);
		r = xioctl(v->fd, set ? KVM_SET_LAPIC : KVM_GET_LAPIC,
			   (unsigned long)p, &err);
		irq_expect(r, err, kind, !set, lapic ? 0 : EINVAL, 0,
			   set ? "KVM_SET_LAPIC" : "KVM_GET_LAPIC");
		if (set && r == 0 && rng_chance(&rng, 50))
			vcpu_run_once(v, "KVM_SET_LAPIC");
		break;
	case 2:
		va.vapic_addr = rng_chance(&rng, 60) ? 0 : rng_interesting(&rng);
		p = irq_arg(&va, sizeof(va), &kind);
		r = xioctl(v->fd, KVM_SET_VAPIC_ADDR, (unsigned long)p, &err);
		irq_expect(r, err, kind, false, lapic ? 0 : EINVAL,
			   va.vapic_addr ? EINVAL : 0, "KVM_SET_VAPIC_ADDR");
		break;
	default:
		mp.mp_state = rng_chance(&rng, 90) ? rng_below(&rng, 11) :
			      rng_interesting(&rng);
		/*
		 * kvm_amd takes any value with a LAPIC and WARNs when such a
		 * vCPU wakes up: give it only the states it knows.
		 */
		if (!strict)
			mp.mp_state %= 5;
		p = irq_arg(&mp, sizeof(mp), &kind);
		r = xioctl(v->fd, KVM_SET_MP_STATE, (unsigned long)p, &err);
		irq_expect(r, err, kind, false, 0,
			   mp.mp_state == KVM_MP_STATE_RUNNABLE ||
			   (lapic && mp.mp_state <= KVM_MP_STATE_SIPI_RECEIVED) ?
			   0 : EINVAL, "KVM_SET_MP_STATE");
		if (r == 0 && rng_chance(&rng, 50))
			vcpu_run_once(v, "KVM_SET_MP_STATE");
		break;
	}
	free(ls);
}

/* ---- memory behind slots, and the run page ------------------------------------------ */

static __thread sigjmp_buf probe_jmp;
static __thread volatile int probing;

static void probe_handler(int sig, siginfo_t *info, void *uc)
{
	char msg[96];
	int n;

	(void)uc;
	if (probing)
		siglongjmp(probe_jmp, sig);
	n = snprintf(msg, sizeof(msg), "ioctl-fuzz: signal %d at address %p\n",
		     sig, info->si_addr);
	if (write(2, msg, n) < 0)
		n = 0;
	{
		void *bt[32];

		n = backtrace(bt, 32);
		backtrace_symbols_fd(bt, n, 2);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* 0, or the signal the access raised. */
static int probe(volatile uint8_t *p, bool write)
{
	int sig;

	probing = 1;
	sig = sigsetjmp(probe_jmp, 1);
	if (!sig) {
		uint8_t v = *p;

		if (write)
			*p = v;
	}
	probing = 0;
	return sig;
}

static void op_arena(void)
{
	uint64_t pages = 1 + rng_below(&rng, 256);
	uint64_t first = rng_below(&rng, (ARENA_SIZE >> 12) - pages);
	uint8_t *p = arena + (first << 12);
	size_t len = pages << 12;

	switch (rng_below(&rng, 5)) {
	case 0:
		mmap(p, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		break;
	case 1:
		madvise(p, len, MADV_DONTNEED);
		break;
	case 2:
		mprotect(p, len, rng_chance(&rng, 50) ? PROT_READ : PROT_NONE);
		break;
	case 3:
		/*
		 * Not munmap: another mapping (a run page) could land in the
		 * gap and be clobbered by the next arena operation. A fresh
		 * PROT_NONE mapping has no pages and refuses every access,
		 * and truly unmapped memory is at `hole`.
		 */
		mmap(p, len, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		break;
	default:
		mprotect(p, len, PROT_READ | PROT_WRITE);
		break;
	}
}

static void op_runmap(void)
{
	int i = rng_below(&rng, NR_RUNMAPS);
	struct runmap *m = &runmaps[i];
	struct fvcpu *v;
	uint64_t pgoff;
	int prot, flags;

	if (m->addr) {
		munmap(m->addr, m->len);
		m->addr = NULL;
		return;
	}
	v = pick_vcpu(NULL);
	if (!v)
		return;
	pgoff = rng_chance(&rng, 80) ? rng_below(&rng, 4) : rng_interesting(&rng) >> 12;
	m->len = (1 + rng_below(&rng, 4)) * PAGE_SIZE;
	prot = rng_chance(&rng, 70) ? PROT_READ | PROT_WRITE :
	       rng_chance(&rng, 50) ? PROT_READ : PROT_READ | PROT_EXEC;
	flags = rng_chance(&rng, 80) ? MAP_SHARED : MAP_PRIVATE;
	fz_stat(FZ_STAT_MMAPS, 1);
	m->addr = mmap(NULL, m->len, prot, flags, v->fd, pgoff << 12);
	if (m->addr == MAP_FAILED) {
		m->addr = NULL;
		return;
	}
	for (size_t off = 0; off < m->len; off += PAGE_SIZE) {
		uint64_t page = pgoff + off / PAGE_SIZE;
		int sig = probe((uint8_t *)m->addr + off,
				(prot & PROT_WRITE) && rng_chance(&rng, 50));

		/* vmm maps the run page and the PIO page, nothing else. */
		if (strict && (page < 2) != !sig)
			fz_fail("iter %llu: run-page mmap at page %llu: %s",
				(unsigned long long)iteration,
				(unsigned long long)page,
				sig ? strsignal(sig) : "no SIGBUS");
	}
}

/* Garbage in the shared kvm_run: the kernel must not trust it. */
static void op_scribble(void)
{
	struct fvcpu *v = pick_vcpu(NULL);
	uint8_t *p;

	if (!v || !v->run)
		return;
	p = (uint8_t *)v->run;
	scribble_mark();
	for (unsigned int n = 1 + rng_below(&rng, 8); n; n--)
		p[rng_below(&rng, 256)] = rng_next(&rng);
	v->run->immediate_exit = 0;
	scribble_mark();
}

/* ---- fork ---------------------------------------------------------------------------- */

static const unsigned long child_ioctls[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_GET_FPU,
	KVM_GET_XSAVE, KVM_GET_VCPU_EVENTS, KVM_GET_MSRS, KVM_NMI,
	KVM_SET_SIGNAL_MASK, KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION,
	KVM_CHECK_EXTENSION, KVM_GET_DIRTY_LOG, KVM_SET_TSS_ADDR,
};

static void __attribute__((noreturn)) fork_child(uint64_t seed)
{
	struct rng r;
	struct fz_vm vm;
	int err;

	alarm(20);
	rng_seed(&r, seed);
	for (unsigned int n = 1 + rng_below(&r, 8); n; n--) {
		unsigned long nr = child_ioctls[rng_below(&r, ARRAY_SIZE(child_ioctls))];
		unsigned int k = rng_below(&r, NR_VMS * (NR_VCPUS + 1));
		struct fvm *fv = vms[k / (NR_VCPUS + 1)];
		int fd;
		long ret;

		if (!fv)
			continue;
		fd = k % (NR_VCPUS + 1) ? fv->vcpus[k % (NR_VCPUS + 1) - 1].fd :
					  fv->base.fd;
		if (fd < 0)
			continue;
		/* Arguments that would work in the parent. */
		memset(buf, 0, 4096);
		ret = xioctl(fd, nr, nr == KVM_CREATE_VCPU ? 100 :
			     nr == KVM_CHECK_EXTENSION ? KVM_CAP_USER_MEMORY :
			     nr == KVM_SET_TSS_ADDR || nr == KVM_RUN ||
			     nr == KVM_NMI ? 0 : (unsigned long)buf, &err);
		fz_stat(FZ_STAT_IOCTL, 1);
		if (ret != -1 || err != EIO)
			fz_fail("fork child (seed %#llx): ioctl %#lx on an inherited fd returned %ld errno %d, expected EIO",
				(unsigned long long)seed, nr, ret, err);
	}
	/* The system fd is not tied to an mm: it works, VMs included. */
	if (sys_fds[0] >= 0) {
		long ret = ioctl(sys_fds[0], KVM_GET_API_VERSION, 0);

		if (ret != KVM_API_VERSION)
			fz_fail("fork child: KVM_GET_API_VERSION on the inherited system fd returned %ld",
				ret);
		if (rng_chance(&r, 30)) {
			int e = fz_vm_create(&vm, sys_fds[0]);

			if (e)
				fz_fail("fork child: KVM_CREATE_VM on the inherited system fd: %s",
					strerror(-e));
			else
				fz_vm_destroy(&vm);
		}
	}
	/* Keep the inherited fds a while: the parent may drop its own. */
	if (rng_chance(&r, 50))
		usleep(rng_below(&r, 30000));
	_exit(0);
}

static void reap_children(bool block)
{
	for (unsigned int i = 0; i < nr_children;) {
		int status;
		pid_t r;

		do {
			r = waitpid(children[i], &status, block ? 0 : WNOHANG);
		} while (r < 0 && errno == EINTR);
		if (r == 0) {
			i++;
			continue;
		}
		if (r > 0 && WIFSIGNALED(status))
			fz_fail("fork child died of signal %d (%s)",
				WTERMSIG(status), strsignal(WTERMSIG(status)));
		children[i] = children[--nr_children];
	}
}

static void op_fork(void)
{
	uint64_t seed = rng_next(&rng);
	pid_t pid;

	if (nr_children == NR_CHILDREN)
		reap_children(true);
	fz_stat(FZ_STAT_FORKS, 1);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0)
		fork_child(seed);
	children[nr_children++] = pid;
}

/* ---- runner threads ------------------------------------------------------------------- */

/*
 * Touches slot 0 pages, then the area where the fuzz thread churns slots
 * (MMIO where no slot is), and leaves by OUT and HLT now and then.
 */
FZ_GUEST_CODE(runner_guest,
	".code64\n"
	"1:\n"
	"mov $" FZ_S(FZ_DATA) ", %rbx\n"
	"2:\n"
	"mov (%rbx), %eax\n"
	"inc %eax\n"
	"mov %eax, (%rbx)\n"
	"add $0x1000, %rbx\n"
	"cmp $0x80000, %rbx\n"
	"jb 2b\n"
	"out %al, $" FZ_S(FZ_PORT_REPORT) "\n"
	"mov $0x40000000, %rbx\n"
	"3:\n"
	"mov (%rbx), %eax\n"
	"mov %eax, 8(%rbx)\n"
	"add $0x1000, %rbx\n"
	"cmp $0x40040000, %rbx\n"
	"jb 3b\n"
	"in $" FZ_S(FZ_PORT_REPORT) ", %eax\n"
	"hlt\n"
	"jmp 1b\n");

struct runner {
	pthread_t thread;
	int index;
	struct rng rng;
};

static void runner_one(struct runner *me)
{
	struct fvm *vm = NULL;
	struct kvm_run *run;
	struct fvcpu *v;
	bool raw, setup;
	int fd, k, start;

	pthread_mutex_lock(&pool_lock);
	start = rng_below(&me->rng, NR_VMS * NR_VCPUS);
	v = NULL;
	for (k = 0; k < NR_VMS * NR_VCPUS && !v; k++) {
		int i = (start + k) % (NR_VMS * NR_VCPUS);

		vm = vms[i / NR_VCPUS];
		if (vm && vm->vcpus[i % NR_VCPUS].fd >= 0)
			v = &vm->vcpus[i % NR_VCPUS];
	}
	if (!v) {
		pthread_mutex_unlock(&pool_lock);
		usleep(1000);
		return;
	}
	/* Raw: use the pool's fd, which the fuzz thread may close meanwhile. */
	raw = rng_chance(&me->rng, 50);
	fd = raw ? v->fd : dup(v->fd);
	run = fd < 0 ? MAP_FAILED :
	      mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	setup = !v->ran || rng_chance(&me->rng, 5);
	v->ran = true;
	vm->refs++;
	pthread_mutex_unlock(&pool_lock);
	if (run == MAP_FAILED)
		goto out;

	if (setup) {
		memcpy(vm->base.mem + FZ_CODE, runner_guest_start,
		       runner_guest_end - runner_guest_start);
		fz_vm_write_tables(&vm->base);
		fz_vcpu_setup(fd, FZ_LONG64, FZ_CODE, FZ_STACK_TOP);
	}
	for (unsigned int n = 1 + rng_below(&me->rng, 16); n && !stop; n--) {
		uint64_t scribbled = __atomic_load_n(&scribbles, __ATOMIC_SEQ_CST);
		int r, err;

		fz_doing(me->index, "KVM_RUN on fd %d (%s)", fd, raw ? "raw" : "dup");
		run->immediate_exit = 0;
		r = fz_run_bounded(fd, RUN_MS);
		err = errno;
		fz_progress();
		if (r < 0) {
			/*
			 * kvm_amd has more reasons for EINVAL (e.g. a state a
			 * garbage KVM_SET_SREGS let in): checked on vmm only.
			 */
			if (!raw && strict && err != EINTR && err != EFAULT &&
			    err != ENOMEM && err != EAGAIN)
				fz_fail("runner: KVM_RUN: %s", strerror(err));
			/* EAGAIN: an UNINITIALIZED vCPU took an INIT. */
			if (err != EINTR && err != EAGAIN)
				break;
			continue;
		}
		fz_stat(FZ_STAT_EXIT, 1);
		if (!raw && strict) {
			const char *bad = fz_check_exit(run, run_size);

			if (bad && !(scribbled & 1) &&
			    scribbled == __atomic_load_n(&scribbles, __ATOMIC_SEQ_CST))
				fz_fail("runner: exit %u (%s): %s", run->exit_reason,
					fz_exit_name(run->exit_reason), bad);
		}
		fz_complete_exit(run, run_size, &me->rng);
		if (run->exit_reason == KVM_EXIT_SHUTDOWN ||
		    run->exit_reason == KVM_EXIT_INTERNAL_ERROR ||
		    run->exit_reason == KVM_EXIT_FAIL_ENTRY) {
			fz_vm_write_tables(&vm->base);
			fz_vcpu_setup(fd, FZ_LONG64, FZ_CODE, FZ_STACK_TOP);
		}
	}
	munmap(run, run_size);
out:
	if (!raw && fd >= 0)
		close(fd);
	fz_doing(me->index, "idle");
	pthread_mutex_lock(&pool_lock);
	vm_put_locked(vm);
	pthread_mutex_unlock(&pool_lock);
}

static void *runner_main(void *arg)
{
	struct runner *me = arg;

	fz_timer_init();
	while (!stop)
		runner_one(me);
	fz_timer_exit();
	return NULL;
}

/* ---- the fuzz loop --------------------------------------------------------------------- */

struct op {
	const char *name;
	void (*fn)(void);
	unsigned int weight;
};

static const struct op ops[] = {
	{ "sys_simple", op_sys_simple, 3 },
	{ "sys_tables", op_sys_tables, 3 },
	{ "create_vm", op_create_vm, 3 },
	{ "close", op_close, 3 },
	{ "create_vcpu", op_create_vcpu, 4 },
	{ "set_slot", op_set_slot, 14 },
	{ "dirty_log", op_dirty_log, 4 },
	{ "vm_misc", op_vm_misc, 3 },
	{ "unknown", op_unknown, 3 },
	{ "vcpu_state", op_vcpu_state, 24 },
	{ "vcpu_cpuid", op_vcpu_cpuid, 3 },
	{ "vcpu_msrs", op_vcpu_msrs, 6 },
	{ "vcpu_misc", op_vcpu_misc, 8 },
	{ "irqchip", op_irqchip, 10 },
	{ "vcpu_apic", op_vcpu_apic, 6 },
	{ "arena", op_arena, 4 },
	{ "runmap", op_runmap, 3 },
	{ "scribble", op_scribble, 2 },
	{ "fork", op_fork, 1 },
};

static const struct op *pick_op(void)
{
	unsigned int total = 0, x;

	for (unsigned int i = 0; i < ARRAY_SIZE(ops); i++)
		total += ops[i].weight;
	x = rng_below(&rng, total);
	for (unsigned int i = 0; i < ARRAY_SIZE(ops); i++) {
		if (x < ops[i].weight)
			return &ops[i];
		x -= ops[i].weight;
	}
	return &ops[0];
}

static int setup_memory(void)
{
	struct sigaction sa = { .sa_sigaction = probe_handler,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	buf = mmap(NULL, BUF_SIZE + PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* ro_page: a read-only page, then a writable one to fill it from. */
	ro_page = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	/*
	 * Never mapped: mmap() places mappings top-down from below the
	 * stack, nowhere near 64 TiB.
	 */
	hole = (uint8_t *)(1ull << 46);
	route_buf = mmap(NULL, ROUTE_BUF_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED || buf == MAP_FAILED || ro_page == MAP_FAILED ||
	    route_buf == MAP_FAILED)
		return -1;
	mprotect(buf + BUF_SIZE, PAGE_SIZE, PROT_NONE);
	return 0;
}

/*
 * ro_page is shared memory seen twice: read-only at ro_page and writable
 * right after it, so the fuzz thread can prepare a read-only argument.
 */
static int setup_ro_alias(void)
{
	void *alias = mremap(ro_page, 0, PAGE_SIZE, MREMAP_MAYMOVE);
	void *rw;

	if (alias == MAP_FAILED)
		return -1;
	rw = ro_page;
	/* ro_page becomes the read-only view, ro_page + 4096 stays writable. */
	if (mprotect(rw, PAGE_SIZE, PROT_READ))
		return -1;
	if (mremap(alias, PAGE_SIZE, PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED,
		   (uint8_t *)rw + PAGE_SIZE) == MAP_FAILED)
		return -1;
	return 0;
}

/* How often each irqchip ioctl was called, and succeeded. */
static void print_irq_counts(void)
{
	static const struct {
		const char *name;
		unsigned long nr;
	} t[] = {
		{ "CREATE_IRQCHIP", KVM_CREATE_IRQCHIP }, { "IRQ_LINE", KVM_IRQ_LINE },
		{ "IRQ_LINE_STATUS", KVM_IRQ_LINE_STATUS },
		{ "SET_GSI_ROUTING", KVM_SET_GSI_ROUTING },
		{ "SIGNAL_MSI", KVM_SIGNAL_MSI }, { "GET_IRQCHIP", KVM_GET_IRQCHIP },
		{ "SET_IRQCHIP", KVM_SET_IRQCHIP }, { "CREATE_PIT2", KVM_CREATE_PIT2 },
		{ "GET_PIT2", KVM_GET_PIT2 }, { "SET_PIT2", KVM_SET_PIT2 },
		{ "GET_PIT", KVM_GET_PIT }, { "SET_PIT", KVM_SET_PIT },
		{ "GET_LAPIC", KVM_GET_LAPIC }, { "SET_LAPIC", KVM_SET_LAPIC },
		{ "SET_VAPIC_ADDR", KVM_SET_VAPIC_ADDR },
		{ "SET_MP_STATE", KVM_SET_MP_STATE },
	};
	char line[1024];
	size_t at = 0;

	for (size_t k = 0; k < ARRAY_SIZE(t); k++)
		for (unsigned int i = 0; i < nr_seen; i++)
			if (seen[i] == t[k].nr && at < sizeof(line))
				at += snprintf(line + at, sizeof(line) - at, " %s %llu/%llu",
					       t[k].name,
					       (unsigned long long)seen_ok[i],
					       (unsigned long long)seen_calls[i]);
	printf("# %s: irqchip ioctls (succeeded/called):%s\n", fz_name,
	       at ? line : " none");
	fflush(stdout);
}

static int work(const struct fz_options *o)
{
	struct runner *runners = calloc(o->threads ? o->threads : 1, sizeof(*runners));
	const struct op *op;

	rng_seed(&rng, o->seed);
	strict = fz_is_vmm();
	if (!runners || setup_memory() || setup_ro_alias()) {
		fz_fail("setting up memory: %s", strerror(errno));
		return 1;
	}
	for (int i = 0; i < NR_SYS; i++)
		sys_fds[i] = fz_open_dev();
	run_size = ioctl(sys_fds[0], KVM_GET_VCPU_MMAP_SIZE, 0);
	fz_timer_init();
	op_create_vm();
	for (unsigned int i = 0; i < o->threads; i++) {
		runners[i].index = 1 + i;
		rng_seed2(&runners[i].rng, o->seed, 1000 + i);
		pthread_create(&runners[i].thread, NULL, runner_main, &runners[i]);
	}

	for (iteration = 0; fz_more(o, iteration); iteration++) {
		op = pick_op();
		fz_doing(0, "iteration %llu: %s", (unsigned long long)iteration,
			 op->name);
		if (o->verbose)
			printf("%llu %s\n", (unsigned long long)iteration, op->name);
		op->fn();
		fz_stat(FZ_STAT_ITER, 1);
		fz_progress();
		if (!(iteration % 32))
			reap_children(false);
	}
	fz_doing(0, "stopping runners");
	stop = true;
	for (unsigned int i = 0; i < o->threads; i++)
		pthread_join(runners[i].thread, NULL);
	fz_doing(0, "waiting for fork children");
	reap_children(true);
	fz_doing(0, "tearing down");
	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < NR_VMS; i++)
		if (vms[i])
			vm_destroy_locked(vms[i]);
	pthread_mutex_unlock(&pool_lock);
	for (int i = 0; i < NR_RUNMAPS; i++)
		if (runmaps[i].addr)
			munmap(runmaps[i].addr, runmaps[i].len);
	for (int i = 0; i < NR_SYS; i++)
		if (sys_fds[i] >= 0)
			close(sys_fds[i]);
	for (unsigned int i = 0; i < nr_seen; i++) {
		if (in_table(seen[i], implemented, ARRAY_SIZE(implemented)))
			fz->stats[FZ_STAT_X1]++;
		else if (in_table(seen[i], unimplemented, ARRAY_SIZE(unimplemented)))
			fz->stats[FZ_STAT_X2]++;
	}
	fz->distinct_ioctls = nr_seen;
	print_irq_counts();
	fz_timer_exit();
	return 0;
}

static void summary(const struct fz_options *o, char *s, size_t n)
{
	uint64_t *st = fz->stats;

	(void)o;
	snprintf(s, n,
		 "%llu iterations, %llu ioctls (%llu failed as allowed): %llu/%zu implemented ioctls, "
		 "%llu unimplemented KVM ioctls, random numbers; "
		 "%llu KVM_RUN, %llu exits, %llu VMs, %llu vCPUs, %llu memslot calls, "
		 "%llu forks, %llu closes, %llu run-page mmaps; "
		 "%llu VMs with an irqchip, %llu with a PIT",
		 (unsigned long long)st[FZ_STAT_ITER],
		 (unsigned long long)st[FZ_STAT_IOCTL] + st[FZ_STAT_RUN],
		 (unsigned long long)st[FZ_STAT_IOCTL_ERR],
		 (unsigned long long)st[FZ_STAT_X1], ARRAY_SIZE(implemented),
		 (unsigned long long)st[FZ_STAT_X2],
		 (unsigned long long)st[FZ_STAT_RUN],
		 (unsigned long long)st[FZ_STAT_EXIT],
		 (unsigned long long)st[FZ_STAT_VMS],
		 (unsigned long long)st[FZ_STAT_VCPUS],
		 (unsigned long long)st[FZ_STAT_SLOT_OPS],
		 (unsigned long long)st[FZ_STAT_FORKS],
		 (unsigned long long)st[FZ_STAT_CLOSES],
		 (unsigned long long)st[FZ_STAT_MMAPS],
		 (unsigned long long)st[FZ_STAT_X3],
		 (unsigned long long)st[FZ_STAT_X4]);
}

int main(int argc, char **argv)
{
	struct fz_options o;

	fz_parse(argc, argv, &o, "");
	return fz_main(&o, work, summary);
}
