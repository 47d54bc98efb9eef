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
	struct fz_vm *vm;
	uint32_t *counter;
	uint32_t last;
	uint64_t exits;
	int index;
	pthread_t thread;
};

static volatile bool stop;
/* All vCPU threads and the main thread: nobody runs until all exist. */
static pthread_barrier_t start;

/*
 * After a failure: tell "the guest's memory changed" from "its registers
 * did". The code, the GDT and the page tables must be as written (the CPU
 * may only have set accessed and dirty bits in the page tables).
 */
static void check_guest_memory(const struct load_vcpu *l)
{
	size_t code_len = load_guest_end - load_guest_start;
	const uint8_t *mem = l->vm->mem;
	struct fz_vm ref = { .mem = calloc(1, FZ_MEM_SIZE) };
	const uint64_t *pt, *ref_pt;
	unsigned int bad = 0;

	if (!ref.mem)
		return;
	fz_vm_write_tables(&ref);
	for (size_t i = 0; i < code_len; i++) {
		if (mem[FZ_CODE + i] != load_guest_start[i]) {
			fz_fail("vCPU %d: guest code byte %#zx is %#x, not %#x",
				l->index, i, mem[FZ_CODE + i], load_guest_start[i]);
			if (++bad >= 4)
				break;
		}
	}
	if (memcmp(mem + FZ_GDT, ref.mem + FZ_GDT, 0x100))
		fz_fail("vCPU %d: guest GDT changed", l->index);
	pt = (const uint64_t *)(mem + FZ_PML4);
	ref_pt = (const uint64_t *)(ref.mem + FZ_PML4);
	/* PML4, PDPT, 4 PDs: 6 pages of entries. */
	for (unsigned int i = 0; i < 6 * 512 && bad < 8; i++) {
		if ((pt[i] & ~0x60ull) != ref_pt[i]) {
			fz_fail("vCPU %d: guest page table entry at %#x is %#llx, not %#llx",
				l->index, FZ_PML4 + i * 8,
				(unsigned long long)pt[i],
				(unsigned long long)ref_pt[i]);
			bad++;
		}
	}
	free(ref.mem);
}

/* The registers, for an exit that should not have happened. */
static void report_state(const struct load_vcpu *l, const char *what)
{
	struct kvm_sregs sregs = { 0 };
	struct kvm_regs regs = { 0 };

	ioctl(l->vcpu.fd, KVM_GET_REGS, &regs);
	ioctl(l->vcpu.fd, KVM_GET_SREGS, &sregs);
	fz_fail("vCPU %d: %s; rip %#llx rsp %#llx rbx %#llx rcx %#llx "
		"cs %#x ss %#x cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx; "
		"last report %u", l->index, what,
		(unsigned long long)regs.rip, (unsigned long long)regs.rsp,
		(unsigned long long)regs.rbx, (unsigned long long)regs.rcx,
		sregs.cs.selector, sregs.ss.selector,
		(unsigned long long)sregs.cr0, (unsigned long long)sregs.cr3,
		(unsigned long long)sregs.cr4, (unsigned long long)sregs.efer,
		l->last);
	check_guest_memory(l);
}

static void *vcpu_thread(void *arg)
{
	struct load_vcpu *l = arg;
	struct kvm_run *run = l->vcpu.run;

	fz_timer_init();
	fz_doing(l->index, "vCPU %d waiting for the others", l->index);
	pthread_barrier_wait(&start);
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
					check_guest_memory(l);
					goto out;
				}
				__atomic_store_n(&l->last, v, __ATOMIC_RELAXED);
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
		case KVM_EXIT_INTERNAL_ERROR: {
			char what[96];

			snprintf(what, sizeof(what),
				 "internal error %u, data %#llx %#llx %#llx",
				 run->internal.suberror,
				 (unsigned long long)run->internal.data[0],
				 (unsigned long long)run->internal.data[1],
				 (unsigned long long)run->internal.data[2]);
			report_state(l, what);
			goto out;
		}
		case KVM_EXIT_SHUTDOWN:
			/*
			 * A triple fault. KVM and vmm both reset the vCPU
			 * before returning (the VMCB is undefined after a
			 * shutdown, APM 15.12), so the registers show the
			 * reset state; the memory check is what tells.
			 */
			report_state(l, "unexpected exit 8 (SHUTDOWN)");
			goto out;
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

static bool all_reported(const struct load_vcpu *l, unsigned int nr)
{
	for (unsigned int i = 0; i < nr; i++)
		if (!__atomic_load_n(&l[i].last, __ATOMIC_RELAXED))
			return false;
	return true;
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
	uint64_t t0, t_create;
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
			p->vm = &vms[v];
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
	/*
	 * The threads start together. Started as they were created, the
	 * busy early ones starved the creating thread (under the debug
	 * kernel the 65th thread came 31 s and the 128th 115 s after the
	 * first): the last ones came to life after -t had passed, saw `stop`
	 * before their first KVM_RUN and were reported as starved.
	 */
	if (pthread_barrier_init(&start, NULL, nr + 1))
		return 1;
	t_create = fz_now_ns();
	for (unsigned int i = 0; i < nr; i++) {
		if (pthread_create(&l[i].thread, NULL, vcpu_thread, &l[i])) {
			fz_fail("creating thread %u failed", i);
			return 1;
		}
		fz_progress();
	}
	pthread_barrier_wait(&start);
	t0 = fz_now_ns();
	printf("%s: %u vCPU threads created in %.1f s\n", fz_name, nr,
	       (t0 - t_create) / 1e9);
	/*
	 * -t is the time all of them run together; if some vCPU has not
	 * reported by then (128 threads share the test VM's two CPUs, and the
	 * debug kernel under TCG is slow), up to four times that, so that
	 * "starved" means starved.
	 */
	while (!fz->nr_fails) {
		uint64_t ran = fz_now_ns() - t0;

		if (ran >= 4 * o->seconds * 1000000000ull ||
		    (ran >= o->seconds * 1000000000ull && all_reported(l, nr)))
			break;
		usleep(100000);
	}
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
