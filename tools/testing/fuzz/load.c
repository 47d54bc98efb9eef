// SPDX-License-Identifier: GPL-2.0
/*
 * load: many VMs with several vCPUs each, all running and exiting at once
 * for a bounded time. Every vCPU counts in its own word of its VM's memory
 * and reports each value by OUT, reads MMIO now and then and halts now and
 * then; the host checks that each report is the previous one plus one and
 * matches the memory, and at the end that every vCPU made progress. The
 * monitor checks for hangs and leaks.
 *
 * With -i every VM has an in-kernel irqchip and each vCPU's LAPIC timer
 * fires every TIMER_NS; a handler counts the ticks (checked at the end)
 * and HLT sleeps in the kernel until the next one.
 *
 * Usage: load [-i] [-s SEED] [-t SECONDS] [-a VMS] [-b VCPUS_PER_VM]
 * (defaults: -t 20 -a 64 -b 2)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

#define MMIO_GPA	0xc0000000u
#define MMIO_VALUE	0x5a5a1234u

/* RBX: this vCPU's counter. Every 16th value an MMIO read, every 64th HLT. */
FZ_GUEST_CODE(load_guest,
	".code64\n"
	"1:\n"
	"mov (%rbx), %eax\n"
	"inc %eax\n"
	"mov %eax, (%rbx)\n"
	"out %eax, $" FZ_S(FZ_PORT_REPORT) "\n"
	"test $15, %eax\n"
	"jnz 2f\n"
	"mov $" FZ_S(MMIO_GPA) ", %ecx\n"
	"mov (%rcx), %ecx\n"
	"cmp $" FZ_S(MMIO_VALUE) ", %ecx\n"
	"jne 3f\n"
	"2:\n"
	"test $63, %eax\n"
	"jnz 1b\n"
	"hlt\n"
	"jmp 1b\n"
	"3:\n"
	"out %eax, $" FZ_S(FZ_PORT_DONE) "\n"
	"jmp 3b\n");

/* The LAPIC timer: periodic, vector TIMER_VEC, divide by 1, at 1 GHz. */
#define TIMER_VEC	0x40
#define TIMER_NS	200000
#define IRQ_PROLOGUE	(FZ_CODE + 0x800)
#define IRQ_HANDLER	(FZ_CODE + 0xc00)

/* Enable the LAPIC, start its timer, enable interrupts, run load_guest. */
FZ_GUEST_CODE(load_irq_prologue,
	".code64\n"
	"mov $0xfee00000, %eax\n"
	"movl $0x1ff, 0xf0(%rax)\n"
	"movl $0xb, 0x3e0(%rax)\n"
	"movl $(0x20000 | " FZ_S(TIMER_VEC) "), 0x320(%rax)\n"
	"movl $" FZ_S(TIMER_NS) ", 0x380(%rax)\n"
	"sti\n"
	"mov $" FZ_S(FZ_CODE) ", %eax\n"
	"jmp *%rax\n");

/* Count a tick in the word after the counter, EOI. */
FZ_GUEST_CODE(load_irq_handler,
	".code64\n"
	"incl 4(%rbx)\n"
	"push %rax\n"
	"mov $0xfee000b0, %eax\n"
	"movl $0, (%rax)\n"
	"pop %rax\n"
	"iretq\n");

static bool irqchip;

struct load_vcpu {
	struct fz_vcpu vcpu;
	uint32_t *counter;
	uint32_t last;
	uint64_t exits;
	int index;
	pthread_t thread;
};

static volatile bool stop;

static void *vcpu_thread(void *arg)
{
	struct load_vcpu *l = arg;
	struct kvm_run *run = l->vcpu.run;

	fz_timer_init();
	fz_doing(l->index, "vCPU %d running", l->index);
	while (!stop) {
		int r = fz_run_bounded(l->vcpu.fd, 100);

		if (r < 0) {
			/* EAGAIN: an UNINITIALIZED vCPU took an INIT. */
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fz_fail("vCPU %d: KVM_RUN: %s", l->index, strerror(errno));
			break;
		}
		l->exits++;
		fz_stat(FZ_STAT_EXIT, 1);
		fz_progress();
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.port == FZ_PORT_REPORT) {
				uint32_t v = *(uint32_t *)((char *)run + run->io.data_offset);

				if (v != l->last + 1 || *l->counter != v) {
					fz_fail("vCPU %d: reported %u after %u, memory %u",
						l->index, v, l->last, *l->counter);
					goto out;
				}
				l->last = v;
				break;
			}
			fz_fail("vCPU %d: guest saw MMIO data wrong", l->index);
			goto out;
		case KVM_EXIT_MMIO:
			if (run->mmio.is_write || run->mmio.phys_addr != MMIO_GPA ||
			    run->mmio.len != 4) {
				fz_fail("vCPU %d: unexpected MMIO exit", l->index);
				goto out;
			}
			memcpy(run->mmio.data, &(uint32_t){ MMIO_VALUE }, 4);
			fz_stat(FZ_STAT_X1, 1);
			break;
		case KVM_EXIT_HLT:
			fz_stat(FZ_STAT_X2, 1);
			if (irqchip) {
				fz_fail("vCPU %d: HLT exit with an in-kernel irqchip",
					l->index);
				goto out;
			}
			break;
		default:
			fz_fail("vCPU %d: unexpected exit %u (%s)", l->index,
				run->exit_reason, fz_exit_name(run->exit_reason));
			goto out;
		}
	}
out:
	fz_doing(l->index, "vCPU %d stopped after %llu exits", l->index,
		 (unsigned long long)l->exits);
	fz_timer_exit();
	return NULL;
}

/* Vector TIMER_VEC's gate (64-bit interrupt gate) and the handler. */
static void irq_setup_vm(struct fz_vm *vm)
{
	uint8_t *gate = vm->mem + FZ_IDT + TIMER_VEC * 16;

	memcpy(vm->mem + IRQ_PROLOGUE, load_irq_prologue_start,
	       load_irq_prologue_end - load_irq_prologue_start);
	memcpy(vm->mem + IRQ_HANDLER, load_irq_handler_start,
	       load_irq_handler_end - load_irq_handler_start);
	memset(gate, 0, 16);
	gate[0] = IRQ_HANDLER & 0xff;
	gate[1] = (IRQ_HANDLER >> 8) & 0xff;
	gate[2] = FZ_SEL_CODE64;
	gate[5] = 0x8e;
	gate[6] = (IRQ_HANDLER >> 16) & 0xff;
	gate[7] = IRQ_HANDLER >> 24;
}

/* The IDT, and RUNNABLE for APs (which start UNINITIALIZED). */
static int irq_setup_vcpu(int fd)
{
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	struct kvm_sregs s;

	if (ioctl(fd, KVM_GET_SREGS, &s))
		return -errno;
	s.idt.base = FZ_IDT;
	s.idt.limit = 0xfff;
	if (ioctl(fd, KVM_SET_SREGS, &s) || ioctl(fd, KVM_SET_MP_STATE, &mp))
		return -errno;
	return 0;
}

static int work(const struct fz_options *o)
{
	unsigned int nr_vms = o->a_set ? o->a : 64;
	unsigned int per_vm = o->b_set ? o->b : 2;
	unsigned int nr = nr_vms * per_vm;
	struct fz_vm *vms = calloc(nr_vms, sizeof(*vms));
	struct load_vcpu *l = calloc(nr, sizeof(*l));
	int fd = fz_open_dev();
	uint64_t t0;
	int err;

	if (!vms || !l || fd < 0 || nr > FZ_MAX_THREADS || per_vm > 64)
		return 1;
	for (unsigned int v = 0; v < nr_vms; v++) {
		fz_doing(0, "creating VM %u", v);
		err = fz_vm_create(&vms[v], fd);
		if (!err && irqchip && ioctl(vms[v].fd, KVM_CREATE_IRQCHIP, 0))
			err = -errno;
		if (err) {
			fz_fail("creating VM %u: %s", v, strerror(-err));
			return 1;
		}
		memcpy(vms[v].mem + FZ_CODE, load_guest_start,
		       load_guest_end - load_guest_start);
		if (irqchip)
			irq_setup_vm(&vms[v]);
		for (unsigned int i = 0; i < per_vm; i++) {
			struct load_vcpu *p = &l[v * per_vm + i];
			struct kvm_regs regs;
			uint64_t gpa = FZ_DATA + i * 64;

			p->index = v * per_vm + i;
			err = fz_vcpu_create(&vms[v], i, &p->vcpu);
			if (!err)
				err = fz_vcpu_setup(p->vcpu.fd, FZ_LONG64,
						    irqchip ? IRQ_PROLOGUE : FZ_CODE,
						    FZ_STACK_TOP - i * 0x1000);
			if (!err && irqchip)
				err = irq_setup_vcpu(p->vcpu.fd);
			if (!err && ioctl(p->vcpu.fd, KVM_GET_REGS, &regs))
				err = -errno;
			regs.rbx = gpa;
			if (!err && ioctl(p->vcpu.fd, KVM_SET_REGS, &regs))
				err = -errno;
			if (err) {
				fz_fail("VM %u vCPU %u: %s", v, i, strerror(-err));
				return 1;
			}
			p->counter = (uint32_t *)(vms[v].mem + gpa);
		}
	}
	fz_progress();
	t0 = fz_now_ns();
	for (unsigned int i = 0; i < nr; i++)
		pthread_create(&l[i].thread, NULL, vcpu_thread, &l[i]);
	while (fz_more(o, 0) && !fz->nr_fails)
		usleep(100000);
	stop = true;
	for (unsigned int i = 0; i < nr; i++)
		pthread_join(l[i].thread, NULL);
	fz_stat(FZ_STAT_X3, (fz_now_ns() - t0) / 1000000);
	fz_stat(FZ_STAT_VCPUS, 0);
	for (unsigned int i = 0; i < nr; i++) {
		if (!l[i].last)
			fz_fail("vCPU %u (VM %u) never reported: starved", i,
				i / per_vm);
		if (irqchip && !l[i].counter[1])
			fz_fail("vCPU %u (VM %u): its LAPIC timer never fired", i,
				i / per_vm);
		/* FZ_STAT_KILLS, unused otherwise, counts the timer ticks. */
		fz_stat(FZ_STAT_KILLS, irqchip ? l[i].counter[1] : 0);
		fz_stat(FZ_STAT_ITER, l[i].last);
		fz_vcpu_destroy(&l[i].vcpu);
	}
	fz->stats[FZ_STAT_X4] = nr;
	for (unsigned int v = 0; v < nr_vms; v++)
		fz_vm_destroy(&vms[v]);
	close(fd);
	return 0;
}

static void summary(const struct fz_options *o, char *s, size_t n)
{
	uint64_t *st = fz->stats;

	(void)o;
	snprintf(s, n,
		 "%llu VMs%s, %llu vCPUs running at once for %.1f s: %llu exits (%llu MMIO, %llu HLT), "
		 "%llu guest iterations checked, %llu LAPIC timer interrupts",
		 (unsigned long long)st[FZ_STAT_VMS], irqchip ? " with an irqchip" : "",
		 (unsigned long long)st[FZ_STAT_X4],
		 st[FZ_STAT_X3] / 1000.0,
		 (unsigned long long)st[FZ_STAT_EXIT],
		 (unsigned long long)st[FZ_STAT_X1],
		 (unsigned long long)st[FZ_STAT_X2],
		 (unsigned long long)st[FZ_STAT_ITER],
		 (unsigned long long)st[FZ_STAT_KILLS]);
}

int main(int argc, char **argv)
{
	struct fz_options o;
	int n = 1;

	/* -i is load's own: take it out before the common options. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-i"))
			irqchip = true;
		else
			argv[n++] = argv[i];
	}
	argc = n;
	argv[argc] = NULL;
	fz_parse(argc, argv, &o, "[-i] [-a VMS] [-b VCPUS_PER_VM]");
	if (!o.seconds && !o.iterations)
		o.seconds = 20;
	/* -n makes no sense here: the run is timed. */
	if (!o.seconds)
		o.seconds = 20;
	o.iterations = 0;
	return fz_main(&o, work, summary);
}
