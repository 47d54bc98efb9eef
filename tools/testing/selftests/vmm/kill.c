// SPDX-License-Identifier: GPL-2.0
/*
 * A process killed while its vCPUs are in the guest must die promptly and
 * take its VM with it, leaving the device usable.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm_test.h"

#define DEATH_DEADLINE_NS 5000000000ull

GUEST_CODE(spinner,
	".code64\n"
	"1: jmp 1b\n");

GUEST_CODE(busy_io,
	".code64\n"
	"1: out %al, $0x80\n"
	"jmp 1b\n");

static void *run_forever(void *arg)
{
	struct vmm_vcpu *vcpu = arg;

	for (;;) {
		vmm_vcpu_run(vcpu);
		if (vcpu->run->exit_reason != KVM_EXIT_IO)
			TEST_FAIL("unexpected %s", vmm_exit_describe(vcpu));
	}
	return NULL;
}

/* Child: nr_vcpus threads in the guest; tells the parent when they run. */
static void __attribute__((noreturn))
child(int ready_fd, int nr_vcpus, const unsigned char *start,
      const unsigned char *end)
{
	struct vmm_vm *vm = vmm_vm_create();
	pthread_t thread;

	vmm_vm_load_code(vm, 0, start, end);
	for (int i = 0; i < nr_vcpus; i++) {
		struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, i);

		vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);
		TEST_ASSERT_OK(-pthread_create(&thread, NULL, run_forever,
					       vcpu));
	}
	/* Give the threads time to enter KVM_RUN before saying so. */
	usleep(50000);
	TEST_ASSERT_EQ(write(ready_fd, "r", 1), 1);
	for (;;)
		pause();
}

static void kill_child_in_guest(int nr_vcpus, const unsigned char *start,
				const unsigned char *end)
{
	int fds[2], status;
	uint64_t t0;
	char c;
	pid_t pid;

	TEST_ASSERT_OK(pipe(fds));
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		child(fds[1], nr_vcpus, start, end);
	}
	close(fds[1]);
	TEST_ASSERT(read(fds[0], &c, 1) == 1, "child died before running");
	close(fds[0]);
	usleep(100000);

	t0 = vmm_now_ns();
	TEST_ASSERT_OK(kill(pid, SIGKILL));
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		TEST_ASSERT(r >= 0, "waitpid: %s", strerror(errno));
		if (r == pid)
			break;
		TEST_ASSERT(vmm_now_ns() - t0 < DEATH_DEADLINE_NS,
			    "child still alive 5 s after SIGKILL");
		usleep(1000);
	}
	TEST_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		    "child status %#x", status);
}

GUEST_CODE(alive,
	".code64\n"
	"mov $0xa11e, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE);

/* The device still works after the killings. */
static void check_alive(void)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(alive));

	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0xa11e);
	vmm_guest_done(vcpu);
}

TEST(kill_spinning)
{
	vmm_require_kickable_guest();
	for (int i = 0; i < 4; i++)
		kill_child_in_guest(1, GUEST(spinner));
	check_alive();
}

TEST(kill_spinning_smp)
{
	vmm_require_kickable_guest();
	for (int i = 0; i < 3; i++)
		kill_child_in_guest(3, GUEST(spinner));
	check_alive();
}

TEST(kill_during_exits)
{
	/* The child bounces in and out of the guest on every OUT. */
	for (int i = 0; i < 3; i++)
		kill_child_in_guest(2, GUEST(busy_io));
	check_alive();
}

TEST_MAIN()
