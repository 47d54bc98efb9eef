// SPDX-License-Identifier: GPL-2.0
/*
 * Several VMs and vCPUs at once, each vCPU in its own thread: independent
 * guests must not see each other, vCPUs of one VM must see each other's
 * memory, and one thread must be able to kick another out of the guest.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmm_test.h"

#define COUNT 200

/*
 * Each vCPU counts to COUNT in the word RBX points to (its own), and
 * reports every value; RSI is a tag the host gave it, reported last.
 */
GUEST_CODE(counter,
	".code64\n"
	"xor %eax, %eax\n"
	"1:\n"
	"add $1, %eax\n"
	"mov %eax, (%rbx)\n"
	GUEST_REPORT_EAX
	"cmp $" S(COUNT) ", %eax\n"
	"jb 1b\n"
	"mov %esi, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE);

struct counter_vcpu {
	struct vmm_vcpu *vcpu;
	uint32_t *word;
	uint32_t tag;
};

static void *run_counter(void *arg)
{
	struct counter_vcpu *c = arg;

	for (uint32_t i = 1; i <= COUNT; i++) {
		TEST_ASSERT_EQ(vmm_guest_report(c->vcpu), i);
		TEST_ASSERT_EQ(*c->word, i);
	}
	TEST_ASSERT_EQ(vmm_guest_report(c->vcpu), c->tag);
	vmm_guest_done(c->vcpu);
	return NULL;
}

static void setup_counter(struct counter_vcpu *c, struct vmm_vm *vm,
			  unsigned int id, uint32_t tag)
{
	uint64_t gpa = GUEST_DATA + id * 64;
	struct kvm_regs regs;

	c->vcpu = vmm_vcpu_create(vm, id);
	vmm_vcpu_setup(c->vcpu, MODE_LONG64, GUEST_CODE_GPA);
	vmm_get_regs(c->vcpu, &regs);
	regs.rbx = gpa;
	regs.rsi = tag;
	vmm_set_regs(c->vcpu, &regs);
	c->word = vmm_gpa_to_hva(vm, gpa);
	c->tag = tag;
}

TEST(vms_and_vcpus)
{
	enum { NR_VMS = 2, NR_VCPUS = 2 };
	struct counter_vcpu c[NR_VMS * NR_VCPUS];
	pthread_t threads[NR_VMS * NR_VCPUS];

	for (int v = 0; v < NR_VMS; v++) {
		struct vmm_vm *vm = vmm_vm_create();

		vmm_vm_load_code(vm, 0, GUEST(counter));
		for (int i = 0; i < NR_VCPUS; i++)
			setup_counter(&c[v * NR_VCPUS + i], vm, i,
				      0x1000 * (v + 1) + i);
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(c); i++)
		TEST_ASSERT_OK(-pthread_create(&threads[i], NULL, run_counter,
					       &c[i]));
	for (unsigned int i = 0; i < ARRAY_SIZE(c); i++)
		pthread_join(threads[i], NULL);
	/* Each VM's memory holds only its own vCPUs' words. */
	for (unsigned int i = 0; i < ARRAY_SIZE(c); i++)
		TEST_ASSERT_EQ(*c[i].word, COUNT);
}

/*
 * vCPU 1 spins until vCPU 0 stores a flag, then reports the value vCPU 0
 * stored before the flag: memory written by one vCPU is seen by another,
 * in order (x86 stores are not reordered with other stores).
 */
#define FLAG_GPA (GUEST_DATA + 0x100)
#define VALUE_GPA (GUEST_DATA + 0x200)

GUEST_CODE(producer,
	".code64\n"
	"movl $0x5eed, " S(VALUE_GPA) "\n"
	"movl $1, " S(FLAG_GPA) "\n"
	GUEST_DONE);

GUEST_CODE(consumer,
	".code64\n"
	"1:\n"
	"pause\n"
	"cmpl $1, " S(FLAG_GPA) "\n"
	"jne 1b\n"
	"mov " S(VALUE_GPA) ", %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE);

static void *run_consumer(void *arg)
{
	struct vmm_vcpu *vcpu = arg;

	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x5eed);
	vmm_guest_done(vcpu);
	return NULL;
}

TEST(vcpus_share_memory)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *prod = vmm_vcpu_create(vm, 0);
	struct vmm_vcpu *cons = vmm_vcpu_create(vm, 1);
	pthread_t thread;

	vmm_vm_load_code(vm, 0, GUEST(producer));
	vmm_vm_load_code(vm, 0x1000, GUEST(consumer));
	vmm_vcpu_setup(prod, MODE_LONG64, GUEST_CODE_GPA);
	vmm_vcpu_setup(cons, MODE_LONG64, GUEST_CODE_GPA + 0x1000);
	/* Start the consumer first so it really waits in the guest. */
	TEST_ASSERT_OK(-pthread_create(&thread, NULL, run_consumer, cons));
	usleep(100000);
	vmm_guest_done(prod);
	pthread_join(thread, NULL);
}

GUEST_CODE(spinner,
	".code64\n"
	"1: jmp 1b\n");

static void on_signal(int sig)
{
	(void)sig;
}

struct spin_vcpu {
	struct vmm_vcpu *vcpu;
	int kicks;
	volatile bool stop;
};

/* Re-enters the spinning guest after every kick, until told to stop. */
static void *run_spinner(void *arg)
{
	struct spin_vcpu *s = arg;

	while (!s->stop) {
		TEST_ASSERT_ERRNO(vmm_vcpu_run_raw(s->vcpu), EINTR);
		TEST_ASSERT_EQ(s->vcpu->run->exit_reason, KVM_EXIT_INTR);
		__atomic_add_fetch(&s->kicks, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

TEST(kick_other_thread)
{
	enum { NR = 2, ROUNDS = 5 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct vmm_vm *vm = vmm_vm_create();
	struct spin_vcpu s[NR];
	pthread_t threads[NR];

	vmm_require_kickable_guest();
	sigemptyset(&sa.sa_mask);
	TEST_ASSERT_OK(sigaction(SIGUSR1, &sa, NULL));
	vmm_vm_load_code(vm, 0, GUEST(spinner));
	for (int i = 0; i < NR; i++) {
		s[i] = (struct spin_vcpu){ .vcpu = vmm_vcpu_create(vm, i) };
		vmm_vcpu_setup(s[i].vcpu, MODE_LONG64, GUEST_CODE_GPA);
		TEST_ASSERT_OK(-pthread_create(&threads[i], NULL, run_spinner,
					       &s[i]));
	}
	for (int r = 1; r <= ROUNDS; r++) {
		for (int i = 0; i < NR; i++) {
			uint64_t start = vmm_now_ns();

			if (r == ROUNDS)
				s[i].stop = true;
			/* Let the thread get back into the guest. */
			usleep(50000);
			pthread_kill(threads[i], SIGUSR1);
			while (__atomic_load_n(&s[i].kicks, __ATOMIC_SEQ_CST) < r) {
				TEST_ASSERT(vmm_now_ns() - start < 5000000000ull,
					    "vCPU %d not kicked out in 5 s", i);
				usleep(1000);
			}
		}
	}
	for (int i = 0; i < NR; i++) {
		pthread_join(threads[i], NULL);
		TEST_ASSERT_EQ(s[i].kicks, ROUNDS);
	}
}

TEST_MAIN()
