// SPDX-License-Identifier: GPL-2.0
/*
 * teardown: kill -9 a multi-vCPU VMM process at a random moment, many
 * times over. Each round forks a child that creates VMs in a loop, then
 * one VM whose vCPUs it creates one by one, each starting at once in a
 * thread that runs a guest touching memory and exiting, and finally churns
 * memslots (create, move, delete, toggle dirty logging, munmap/mmap behind
 * them) under the running guests; sometimes it also forks a grandchild
 * that keeps inherited fds open for a while. The parent picks a phase, waits
 * for the child to reach it, waits a random time more and sends SIGKILL;
 * the child must be gone within 5 seconds. Every 50 rounds, and at the end,
 * the device must still run a guest. The monitor then checks the module's
 * use count and the kernel memory the rounds were charged.
 *
 * Usage: teardown [-s SEED] [-n ROUNDS] [-t SECONDS] [-a VCPUS]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#define SLOT_GPA	0x40000000ull
#define SLOT_SIZE	0x100000ull
#define DEATH_NS	5000000000ull

enum phase {
	PH_START,
	PH_CREATE_VM,	/* KVM_CREATE_VM / close in a loop */
	PH_CREATE_VCPU,	/* vCPUs being created, the first ones running */
	PH_RUN,		/* all vCPUs in KVM_RUN */
	PH_SLOTS,	/* memslot churn under the running vCPUs */
	NR_PHASES
};

static const char *const phase_name[] = {
	"start", "VM creation", "vCPU creation", "KVM_RUN", "memslot churn",
};

/* Shared with the child: how far it got. */
static volatile int *child_phase;

FZ_GUEST_CODE(teardown_guest,
	".code64\n"
	"1:\n"
	"mov $" FZ_S(FZ_DATA) ", %rbx\n"
	"2:\n"
	"incl (%rbx)\n"
	"add $0x1000, %rbx\n"
	"cmp $0x60000, %rbx\n"
	"jb 2b\n"
	"mov $0x40000000, %rbx\n"
	"3:\n"
	"mov (%rbx), %eax\n"
	"mov %eax, 4(%rbx)\n"
	"add $0x4000, %rbx\n"
	"cmp $0x40100000, %rbx\n"
	"jb 3b\n"
	"out %al, $" FZ_S(FZ_PORT_REPORT) "\n"
	"jmp 1b\n");

static void *child_vcpu(void *arg)
{
	struct fz_vcpu *v = arg;
	uint8_t data[8] = { 0 };

	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0 && errno != EINTR && errno != EFAULT)
			pause();
		if (v->run->exit_reason == KVM_EXIT_MMIO && !v->run->mmio.is_write)
			memcpy(v->run->mmio.data, data, sizeof(data));
	}
	return NULL;
}

static void churn_slots(struct fz_vm *vm, struct rng *r)
{
	struct kvm_userspace_memory_region m = { .slot = 1 };
	uint8_t *mem = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct kvm_dirty_log log = { .slot = 1 };
	uint64_t bitmap[4];
	bool present = false;

	if (mem == MAP_FAILED)
		pause();
	log.dirty_bitmap = bitmap;
	for (;;) {
		switch (rng_below(r, 6)) {
		case 0:
		case 1:		/* create, or move */
			m.flags = rng_below(r, 2) * KVM_MEM_LOG_DIRTY_PAGES;
			m.guest_phys_addr = SLOT_GPA + (rng_below(r, 2) << 20);
			m.memory_size = SLOT_SIZE;
			m.userspace_addr = (uintptr_t)mem;
			present = !ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &m) || present;
			break;
		case 2:		/* delete */
			m.memory_size = 0;
			if (!ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &m))
				present = false;
			break;
		case 3:
			ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log);
			break;
		case 4:		/* new memory behind the slot */
			mmap(mem, SLOT_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
			     -1, 0);
			break;
		default:
			madvise(mem, SLOT_SIZE, MADV_DONTNEED);
			break;
		}
		(void)present;
	}
}

/* The VMM that gets killed. Never returns. */
static void __attribute__((noreturn)) child(uint64_t seed, unsigned int nr_vcpus)
{
	struct fz_vcpu *vcpus = calloc(nr_vcpus, sizeof(*vcpus));
	int sys_fd = fz_open_dev();
	struct fz_vm vm;
	pthread_t t;
	struct rng r;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	rng_seed(&r, seed);
	if (sys_fd < 0 || !vcpus)
		_exit(3);
	*child_phase = PH_CREATE_VM;
	for (unsigned int i = rng_below(&r, 4); i; i--) {
		if (!fz_vm_create(&vm, sys_fd))
			fz_vm_destroy(&vm);
	}
	if (fz_vm_create(&vm, sys_fd))
		_exit(3);
	memcpy(vm.mem + FZ_CODE, teardown_guest_start,
	       teardown_guest_end - teardown_guest_start);
	*child_phase = PH_CREATE_VCPU;
	for (unsigned int i = 0; i < nr_vcpus; i++) {
		if (fz_vcpu_create(&vm, i, &vcpus[i]))
			_exit(3);
		fz_vcpu_setup(vcpus[i].fd, FZ_LONG64, FZ_CODE,
			      FZ_STACK_TOP - i * 0x1000);
		pthread_create(&t, NULL, child_vcpu, &vcpus[i]);
	}
	/* Sometimes another process holds the fds when this one dies. */
	if (rng_chance(&r, 20) && fork() == 0) {
		usleep(rng_below(&r, 50000));
		_exit(0);
	}
	*child_phase = PH_RUN;
	usleep(rng_below(&r, 2000));
	*child_phase = PH_SLOTS;
	churn_slots(&vm, &r);
	_exit(0);
}

FZ_GUEST_CODE(alive_guest,
	".code64\n"
	"mov $0xa11e, %eax\n"
	"out %eax, $" FZ_S(FZ_PORT_REPORT) "\n"
	"hlt\n");

/* The device still creates and runs a VM: a guest reports and halts. */
static bool device_alive(void)
{
	struct fz_vcpu vcpu;
	struct fz_vm vm;
	int fd = fz_open_dev();
	bool ok = false;

	if (fd < 0 || fz_vm_create(&vm, fd))
		goto out;
	memcpy(vm.mem + FZ_CODE, alive_guest_start,
	       alive_guest_end - alive_guest_start);
	if (!fz_vcpu_create(&vm, 0, &vcpu)) {
		ok = !fz_vcpu_setup(vcpu.fd, FZ_LONG64, FZ_CODE, FZ_STACK_TOP) &&
		     !fz_run_bounded(vcpu.fd, 2000) &&
		     vcpu.run->exit_reason == KVM_EXIT_IO &&
		     *(uint32_t *)((char *)vcpu.run + vcpu.run->io.data_offset) == 0xa11e &&
		     !fz_run_bounded(vcpu.fd, 2000) &&
		     vcpu.run->exit_reason == KVM_EXIT_HLT;
		fz_vcpu_destroy(&vcpu);
	}
	fz_vm_destroy(&vm);
out:
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool wait_phase(int target)
{
	uint64_t t0 = fz_now_ns();

	while (*child_phase < target) {
		if (fz_now_ns() - t0 > 10000000000ull)
			return false;
		usleep(200);
	}
	return true;
}

static int work(const struct fz_options *o)
{
	unsigned int nr_vcpus = o->a_set ? o->a : 4;
	struct rng r;
	uint64_t round;

	rng_seed(&r, o->seed);
	fz_timer_init();
	child_phase = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (child_phase == MAP_FAILED)
		return 1;
	for (round = 0; fz_more(o, round); round++) {
		int target = 1 + rng_below(&r, NR_PHASES - 1), status, at;
		uint64_t seed = rng_next(&r), t0;
		pid_t pid;

		*child_phase = PH_START;
		fz_doing(0, "round %llu: forking", (unsigned long long)round);
		pid = fork();
		if (pid < 0) {
			fz_fail("fork: %s", strerror(errno));
			return 1;
		}
		if (pid == 0)
			child(seed, 1 + rng_below(&r, nr_vcpus));
		fz_doing(0, "round %llu: waiting for %s", (unsigned long long)round,
			 phase_name[target]);
		if (!wait_phase(target)) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			if (WIFEXITED(status))
				fz_fail("round %llu: child exited with %d before %s",
					(unsigned long long)round, WEXITSTATUS(status),
					phase_name[target]);
			else
				fz_fail("round %llu: child stuck before %s",
					(unsigned long long)round, phase_name[target]);
			continue;
		}
		usleep(rng_below(&r, target == PH_CREATE_VM ? 500 : 5000));
		at = *child_phase;
		fz_doing(0, "round %llu: killing the child in %s",
			 (unsigned long long)round, phase_name[at]);
		kill(pid, SIGKILL);
		fz_stat(FZ_STAT_KILLS, 1);
		fz_stat(FZ_STAT_X1 + (at - 1 < 4 ? at - 1 : 3), 1);
		t0 = fz_now_ns();
		for (;;) {
			pid_t w = waitpid(pid, &status, WNOHANG);

			if (w == pid)
				break;
			if (fz_now_ns() - t0 > DEATH_NS) {
				fz_fail("round %llu: child (killed in %s) still alive 5 s after SIGKILL",
					(unsigned long long)round, phase_name[at]);
				waitpid(pid, &status, 0);
				break;
			}
			usleep(1000);
		}
		/* Reap a grandchild that kept fds, if it is done already. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		fz_stat(FZ_STAT_ITER, 1);
		fz_progress();
		if (round % 50 == 49 && !device_alive())
			fz_fail("round %llu: the device no longer runs a guest",
				(unsigned long long)round);
	}
	fz_doing(0, "final check");
	while (waitpid(-1, NULL, 0) > 0)
		;
	if (!device_alive())
		fz_fail("after %llu rounds the device no longer runs a guest",
			(unsigned long long)round);
	return 0;
}

static void summary(const struct fz_options *o, char *s, size_t n)
{
	uint64_t *st = fz->stats;

	(void)o;
	snprintf(s, n,
		 "%llu kill -9 rounds (in VM creation %llu, vCPU creation %llu, KVM_RUN %llu, memslot churn %llu)",
		 (unsigned long long)st[FZ_STAT_ITER],
		 (unsigned long long)st[FZ_STAT_X1],
		 (unsigned long long)st[FZ_STAT_X2],
		 (unsigned long long)st[FZ_STAT_X3],
		 (unsigned long long)st[FZ_STAT_X4]);
}

int main(int argc, char **argv)
{
	struct fz_options o;

	fz_parse(argc, argv, &o, "[-a MAX_VCPUS]");
	return fz_main(&o, work, summary);
}
