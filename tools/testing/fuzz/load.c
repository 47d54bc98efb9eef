// SPDX-License-Identifier: GPL-2.0
/*
 * load: many VMs with several vCPUs each, all running and exiting at once
 * for a bounded time. Every vCPU counts in its own word of its VM's memory
 * and reports each value by OUT, reads MMIO now and then and halts now and
 * then; the host checks that each report is the previous one plus one and
 * matches the memory, and at the end that every vCPU made progress. The
 * monitor checks for hangs and leaks.
 *
 * Usage: load [-s SEED] [-t SECONDS] [-a VMS] [-b VCPUS_PER_VM]
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
			if (errno == EINTR)
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
		if (err) {
			fz_fail("creating VM %u: %s", v, strerror(-err));
			return 1;
		}
		memcpy(vms[v].mem + FZ_CODE, load_guest_start,
		       load_guest_end - load_guest_start);
		for (unsigned int i = 0; i < per_vm; i++) {
			struct load_vcpu *p = &l[v * per_vm + i];
			struct kvm_regs regs;
			uint64_t gpa = FZ_DATA + i * 64;

			p->index = v * per_vm + i;
			err = fz_vcpu_create(&vms[v], i, &p->vcpu);
			if (!err)
				err = fz_vcpu_setup(p->vcpu.fd, FZ_LONG64, FZ_CODE,
						    FZ_STACK_TOP - i * 0x1000);
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
		 "%llu VMs, %llu vCPUs running at once for %.1f s: %llu exits (%llu MMIO, %llu HLT), %llu guest iterations checked",
		 (unsigned long long)st[FZ_STAT_VMS],
		 (unsigned long long)st[FZ_STAT_X4],
		 st[FZ_STAT_X3] / 1000.0,
		 (unsigned long long)st[FZ_STAT_EXIT],
		 (unsigned long long)st[FZ_STAT_X1],
		 (unsigned long long)st[FZ_STAT_X2],
		 (unsigned long long)st[FZ_STAT_ITER]);
}

int main(int argc, char **argv)
{
	struct fz_options o;

	fz_parse(argc, argv, &o, "[-a VMS] [-b VCPUS_PER_VM]");
	if (!o.seconds && !o.iterations)
		o.seconds = 20;
	/* -n makes no sense here: the run is timed. */
	if (!o.seconds)
		o.seconds = 20;
	o.iterations = 0;
	return fz_main(&o, work, summary);
}
