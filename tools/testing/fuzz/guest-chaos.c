// SPDX-License-Identifier: GPL-2.0
/*
 * guest-chaos: random instruction bytes as guest code in real, 16-bit,
 * 32-bit and 64-bit mode, with random registers, segments, descriptor
 * tables, IDT contents, pending events, MSRs and debug registers.
 *
 * The only allowed outcomes of a KVM_RUN are an exit KVM documents (I/O,
 * MMIO, HLT, shutdown, entry failure, internal error, interrupt window,
 * EINTR from the timer that bounds every run) or an errno KVM_RUN may
 * return; every other ioctl may only refuse with EINVAL. Never a report in
 * the host's log (the rig checks that) and never a hang (the monitor's
 * watchdog checks that).
 *
 * Guest number g is built from a PRNG seeded with (seed, g) alone, so one
 * guest can be replayed with -a g -n 1. -j threads run guests g = t, t+j...
 * each with its own VM.
 *
 * Usage: guest-chaos [-s SEED] [-n GUESTS] [-t SECONDS] [-j THREADS]
 *                    [-a FIRST_GUEST] [-b EXITS_PER_GUEST]
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

#define GUESTS_PER_VCPU	8
#define VCPUS_PER_VM	4
#define CODE_SIZE	0x2000
#define RUN_MS		10

struct snippet {
	uint8_t len;
	uint8_t bytes[7];
};

/* Instructions that leave the guest or reach vmm's emulator and checks. */
static const struct snippet snippets[] = {
	{ 2, { 0xe4, 0x80 } }, { 2, { 0xe6, 0x80 } }, { 1, { 0xec } },
	{ 1, { 0xee } }, { 1, { 0xed } }, { 1, { 0xef } }, { 1, { 0x6c } },
	{ 1, { 0x6e } }, { 2, { 0xf3, 0x6c } }, { 2, { 0xf3, 0x6e } },
	{ 2, { 0xf3, 0x6d } }, { 2, { 0xf3, 0x6f } }, { 3, { 0x66, 0xf3, 0x6f } },
	{ 1, { 0xf4 } }, { 1, { 0xfa } }, { 1, { 0xfb } }, { 1, { 0x9c } },
	{ 1, { 0x9d } }, { 1, { 0xcf } }, { 2, { 0x48, 0xcf } }, { 1, { 0xcc } },
	{ 2, { 0xcd, 0x80 } }, { 1, { 0xce } }, { 2, { 0x0f, 0x0b } },
	{ 2, { 0x0f, 0xa2 } }, { 2, { 0x0f, 0x32 } }, { 2, { 0x0f, 0x30 } },
	{ 2, { 0x0f, 0x31 } }, { 3, { 0x0f, 0x01, 0xf9 } }, { 2, { 0x0f, 0x33 } },
	{ 3, { 0x0f, 0x22, 0xc0 } }, { 3, { 0x0f, 0x20, 0xc0 } },
	{ 3, { 0x0f, 0x22, 0xd8 } }, { 3, { 0x0f, 0x22, 0xe0 } },
	{ 4, { 0x44, 0x0f, 0x22, 0xc0 } }, { 3, { 0x0f, 0x23, 0xf8 } },
	{ 3, { 0x0f, 0x21, 0xf0 } }, { 3, { 0x0f, 0x23, 0xe0 } },
	{ 3, { 0x0f, 0x01, 0x10 } }, { 3, { 0x0f, 0x01, 0x18 } },
	{ 3, { 0x0f, 0x01, 0x00 } }, { 3, { 0x0f, 0x00, 0xd8 } },
	{ 3, { 0x0f, 0x00, 0xd0 } }, { 3, { 0x0f, 0x01, 0xd1 } },
	{ 3, { 0x0f, 0x01, 0xd0 } }, { 3, { 0x0f, 0x01, 0xd8 } },
	{ 3, { 0x0f, 0x01, 0xd9 } }, { 3, { 0x0f, 0x01, 0xda } },
	{ 3, { 0x0f, 0x01, 0xdb } }, { 3, { 0x0f, 0x01, 0xdc } },
	{ 3, { 0x0f, 0x01, 0xdd } }, { 3, { 0x0f, 0x01, 0xde } },
	{ 3, { 0x0f, 0x01, 0xdf } }, { 3, { 0x0f, 0x01, 0x38 } },
	{ 3, { 0x0f, 0x01, 0xc8 } }, { 3, { 0x0f, 0x01, 0xc9 } },
	{ 2, { 0x0f, 0xaa } }, { 2, { 0x0f, 0x08 } }, { 2, { 0x0f, 0x09 } },
	{ 2, { 0x89, 0x00 } }, { 2, { 0x8b, 0x00 } }, { 3, { 0x48, 0x8b, 0x00 } },
	{ 2, { 0xf3, 0xa4 } }, { 2, { 0xf3, 0xaa } }, { 2, { 0xf3, 0xa5 } },
	{ 3, { 0xf3, 0x48, 0xab } }, { 2, { 0xf3, 0xa6 } }, { 2, { 0xf2, 0xae } },
	{ 4, { 0xf0, 0x0f, 0xb1, 0x08 } }, { 2, { 0x87, 0x00 } },
	{ 3, { 0x0f, 0xc1, 0x00 } }, { 3, { 0x0f, 0xab, 0x00 } },
	{ 2, { 0x8e, 0xd0 } }, { 2, { 0x8e, 0xd8 } }, { 2, { 0x8e, 0xe0 } },
	{ 1, { 0x17 } }, { 2, { 0x0f, 0x05 } }, { 2, { 0x0f, 0x07 } },
	{ 2, { 0x0f, 0x34 } }, { 2, { 0x0f, 0x35 } }, { 2, { 0xff, 0x28 } },
	{ 2, { 0xff, 0x18 } }, { 1, { 0xcb } }, { 2, { 0xf3, 0x90 } },
	{ 2, { 0xdb, 0xe3 } }, { 3, { 0x0f, 0xae, 0x00 } }, { 3, { 0x0f, 0xae, 0x08 } },
	{ 3, { 0x0f, 0xae, 0x20 } }, { 3, { 0x0f, 0xae, 0x28 } },
	{ 3, { 0x0f, 0xae, 0x10 } }, { 4, { 0x31, 0xc9, 0xf7, 0xf1 } },
	{ 2, { 0x0f, 0x06 } }, { 3, { 0x0f, 0x01, 0xf0 } }, { 3, { 0x0f, 0x01, 0xe0 } },
	{ 3, { 0x0f, 0x01, 0xf8 } }, { 2, { 0x0f, 0x01 } }, { 1, { 0xf1 } },
	{ 2, { 0x8f, 0x00 } }, { 2, { 0xa0, 0x00 } }, { 3, { 0x0f, 0x00, 0x00 } },
	{ 3, { 0x0f, 0x02, 0xc0 } }, { 3, { 0x0f, 0x03, 0xc0 } },
	{ 3, { 0x0f, 0x00, 0xe0 } }, { 2, { 0x0f, 0xa1 } }, { 2, { 0x0f, 0xa9 } },
};

/* Prefixes and immediates around the snippets, so operands vary too. */
static void gen_code(struct rng *r, uint8_t *code, size_t size)
{
	size_t at = 0;

	if (rng_chance(r, 30)) {
		rng_fill(r, code, size);
		return;
	}
	while (at + 16 < size) {
		const struct snippet *s;
		size_t n;
		bool wide;

		switch (rng_below(r, 8)) {
		case 0:		/* mov reg, imm32 (or imm64 with REX.W) */
			wide = rng_chance(r, 50);
			if (wide)
				code[at++] = 0x48 | rng_below(r, 2);
			code[at++] = 0xb8 + rng_below(r, 8);
			rng_fill(r, code + at, 8);
			at += wide ? 8 : 4;
			break;
		case 1:		/* a prefix */
			code[at++] = (const uint8_t[]){ 0x66, 0x67, 0xf0, 0xf2, 0xf3,
							0x2e, 0x3e, 0x26, 0x64, 0x65,
							0x36, 0x40, 0x48, 0x41 }[rng_below(r, 14)];
			break;
		case 2:		/* random bytes */
			n = 1 + rng_below(r, 4);
			rng_fill(r, code + at, n);
			at += n;
			break;
		case 3:		/* mov dx, port */
			code[at++] = 0x66;
			code[at++] = 0xba;
			code[at++] = rng_next(r);
			code[at++] = rng_chance(r, 50) ? 0 : rng_next(r);
			break;
		default:
			s = &snippets[rng_below(r, ARRAY_SIZE(snippets))];
			memcpy(code + at, s->bytes, s->len);
			at += s->len;
			break;
		}
	}
	while (at < size)
		code[at++] = 0xf4;	/* hlt */
}

static uint64_t rand_reg(struct rng *r)
{
	switch (rng_below(r, 6)) {
	case 0:
		return rng_interesting(r);
	case 1:
		return 0xc0000000 + rng_below(r, 0x1000);	/* MMIO */
	case 2:
		return rng_next(r);
	default:
		return rng_below(r, FZ_MEM_SIZE);
	}
}

static void rand_segment(struct rng *r, struct kvm_segment *s)
{
	switch (rng_below(r, 10)) {
	case 0:
		s->type = rng_below(r, 16);
		break;
	case 1:
		s->dpl = rng_below(r, 4);
		break;
	case 2:
		s->present = !s->present;
		break;
	case 3:
		s->db = !s->db;
		break;
	case 4:
		s->l = !s->l;
		break;
	case 5:
		s->g = !s->g;
		break;
	case 6:
		s->base = rng_interesting(r);
		break;
	case 7:
		s->limit = rng_interesting(r);
		break;
	case 8:
		s->selector = rng_next(r);
		break;
	default:
		s->unusable = !s->unusable;
		s->s = !s->s;
		break;
	}
}

static void rand_sregs(struct rng *r, struct kvm_sregs *s)
{
	static const uint64_t cr0_bits[] = {
		1u << 1, 1u << 2, 1u << 3, 1u << 5, 1u << 16, 1u << 18,
		1u << 29, 1u << 30, 1u << 31, 1u << 0,
	};
	static const uint64_t cr4_bits[] = {
		1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 7, 1 << 8,
		1 << 9, 1 << 10, 1 << 11, 1 << 16, 1 << 18, 1 << 20, 1 << 21,
		1 << 12, 1 << 22, 1 << 13,
	};
	struct kvm_segment *segs[] = {
		&s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->tr, &s->ldt,
	};

	for (unsigned int n = rng_below(r, 5); n; n--) {
		switch (rng_below(r, 8)) {
		case 0:
			s->cr0 ^= cr0_bits[rng_below(r, ARRAY_SIZE(cr0_bits))];
			break;
		case 1:
			s->cr4 ^= cr4_bits[rng_below(r, ARRAY_SIZE(cr4_bits))];
			break;
		case 2:
			s->efer ^= rng_chance(r, 50) ? 1 << 11 : 1;	/* NX, SCE */
			break;
		case 3:
			s->cr2 = rng_interesting(r);
			s->cr3 = rng_chance(r, 50) ? rng_interesting(r) :
						    rng_below(r, 0x100) << 12;
			break;
		case 4:
			if (rng_chance(r, 50)) {
				s->gdt.base = rand_reg(r);
				s->gdt.limit = rng_next(r);
			} else {
				s->idt.base = rand_reg(r);
				s->idt.limit = rng_next(r);
			}
			break;
		case 5:
			s->apic_base = rng_interesting(r);
			s->cr8 = rng_below(r, 16);
			break;
		case 6:
			s->interrupt_bitmap[rng_below(r, 4)] = 1ull << rng_below(r, 64);
			break;
		default:
			rand_segment(r, segs[rng_below(r, ARRAY_SIZE(segs))]);
			break;
		}
	}
	if (rng_chance(r, 3))
		rng_fill(r, s, sizeof(*s));
	if (fz_avoid_tcg_hangs() && !(s->cr0 & 0x80000000))
		s->efer &= ~FZ_EFER_LME;
}

static const uint32_t chaos_msrs[] = {
	0x10, 0x174, 0x175, 0x176, 0x277, 0xc0000080, 0xc0000081, 0xc0000082,
	0xc0000083, 0xc0000084, 0xc0000100, 0xc0000101, 0xc0000102, 0x1b,
	0x2ff, 0x200, 0x201,
};

static const struct fz_options *opts;

struct chaos {
	int index;
	struct rng r;
	struct fz_vm vm;
	struct fz_vcpu vcpu;
	bool have_vm, have_vcpu;
	bool irqchip, pit;	/* the current guest's VM has them */
	unsigned int vcpus_made, guests_on_vcpu;
	int sys_fd;
};

/* An ioctl of the setup: success or EINVAL (a state vmm refuses). */
static void setup_ioctl(struct chaos *c, uint64_t g, unsigned long nr,
			void *arg, const char *name)
{
	char what[96];

	long r;
	int err;

	snprintf(what, sizeof(what), "guest %llu: %s",
		 (unsigned long long)g, name);
	r = ioctl(c->vcpu.fd, nr, arg);
	err = errno;
	fz_expect(r, err, (const int[]){ EINVAL, E2BIG, EEXIST, ENXIO, 0 }, what);
}

static void dump_segment(const char *name, const struct kvm_segment *s)
{
	printf("  %s sel %#06x base %#llx limit %#x type %#x s%u dpl%u p%u db%u l%u g%u avl%u unusable%u\n",
	       name, s->selector, (unsigned long long)s->base, s->limit, s->type,
	       s->s, s->dpl, s->present, s->db, s->l, s->g, s->avl, s->unusable);
}

/* -v -v: the state a guest starts from, to turn a finding into a test. */
static void dump_guest(struct chaos *c, uint64_t g)
{
	struct kvm_vcpu_events ev;
	struct kvm_sregs s;
	struct kvm_regs r;
	uint64_t lin;

	if (ioctl(c->vcpu.fd, KVM_GET_REGS, &r) ||
	    ioctl(c->vcpu.fd, KVM_GET_SREGS, &s) ||
	    ioctl(c->vcpu.fd, KVM_GET_VCPU_EVENTS, &ev))
		return;
	printf("guest %llu: rip %#llx rsp %#llx rflags %#llx rax %#llx rbx %#llx rcx %#llx rdx %#llx rsi %#llx rdi %#llx\n",
	       (unsigned long long)g, r.rip, r.rsp, r.rflags, r.rax, r.rbx,
	       r.rcx, r.rdx, r.rsi, r.rdi);
	printf("  cr0 %#llx cr2 %#llx cr3 %#llx cr4 %#llx cr8 %#llx efer %#llx gdt %#llx/%#x idt %#llx/%#x\n",
	       s.cr0, s.cr2, s.cr3, s.cr4, s.cr8, s.efer, s.gdt.base,
	       s.gdt.limit, s.idt.base, s.idt.limit);
	dump_segment("cs", &s.cs);
	dump_segment("ss", &s.ss);
	dump_segment("ds", &s.ds);
	dump_segment("tr", &s.tr);
	printf("  events: exc %u/%u nr %u ec %u/%#x intr %u/%u nmi %u/%u shadow %u window %u\n",
	       ev.exception.injected, ev.exception.pending, ev.exception.nr,
	       ev.exception.has_error_code, ev.exception.error_code,
	       ev.interrupt.injected, ev.interrupt.nr, ev.nmi.pending,
	       ev.nmi.masked, ev.interrupt.shadow,
	       c->vcpu.run->request_interrupt_window);
	lin = s.cs.base + r.rip;
	if (lin < FZ_MEM_SIZE - 32) {
		printf("  code at %#llx:", (unsigned long long)lin);
		for (int i = 0; i < 32; i++)
			printf(" %02x", c->vm.mem[lin + i]);
		printf("\n");
	}
}

static void randomize_state(struct chaos *c, uint64_t g, enum fz_mode mode)
{
	struct rng *r = &c->r;
	uint8_t *mem = c->vm.mem;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t rip;

	/* Memory: tables, code, data, IDT and real-mode IVT. */
	fz_vm_write_tables(&c->vm);
	gen_code(r, mem + FZ_CODE, CODE_SIZE);
	if (fz_avoid_tcg_hangs())
		fz_defuse_cr8_writes(mem + FZ_CODE, CODE_SIZE);
	rng_fill(r, mem + FZ_DATA, 0x4000);
	rng_fill(r, mem + FZ_IDT, 0x1000);
	if (mode == FZ_REAL || rng_chance(r, 10))
		rng_fill(r, mem, 0x400);
	if (rng_chance(r, 5))
		rng_fill(r, mem + FZ_PML4 + rng_below(r, 0x6000), 8);
	if (rng_chance(r, 5))
		rng_fill(r, mem + FZ_GDT + 8 * rng_below(r, 8), 8);

	rip = FZ_CODE + rng_below(r, 0x100);
	if (ioctl(c->vcpu.fd, KVM_GET_SREGS, &sregs)) {
		fz_fail("guest %llu: KVM_GET_SREGS: %s",
			(unsigned long long)g, strerror(errno));
		return;
	}
	fz_mode_sregs(&sregs, mode, rip);
	if (rng_chance(r, 50)) {
		sregs.idt.base = FZ_IDT;
		sregs.idt.limit = mode == FZ_LONG64 ? 0xfff : 0x7ff;
	}
	if (rng_chance(r, 40)) {
		struct kvm_segment tr = sregs.tr;

		rand_sregs(r, &sregs);
		/*
		 * QEMU's TCG aborts ("invalid tss type") when the nested guest
		 * takes an interrupt or exception that switches stacks with a
		 * TR that is not a present TSS: keep the good TR there.
		 */
		if (fz_avoid_tcg_hangs())
			sregs.tr = tr;
	}
	setup_ioctl(c, g, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

	for (__u64 *p = &regs.rax; p <= &regs.r15; p++)
		*p = rand_reg(r);
	regs.rsp = rng_chance(r, 80) ? FZ_STACK_TOP - rng_below(r, 0x100) * 8 :
				       rand_reg(r);
	regs.rip = mode == FZ_REAL || mode == FZ_PROT16 ? rip & 0xffff : rip;
	if (rng_chance(r, 5))
		regs.rip = rand_reg(r);
	regs.rflags = 0x2 | (rng_chance(r, 30) ? rng_next(r) & 0x3f7fd5 :
						 rng_below(r, 2) << 9);
	setup_ioctl(c, g, KVM_SET_REGS, &regs, "KVM_SET_REGS");

	if (rng_chance(r, 10)) {
		struct kvm_vcpu_events ev = { 0 };

		ev.exception.injected = rng_chance(r, 50);
		ev.exception.nr = rng_below(r, 32);
		ev.exception.has_error_code = rng_chance(r, 50);
		ev.exception.error_code = rng_next(r);
		ev.interrupt.injected = rng_chance(r, 30);
		ev.interrupt.nr = rng_next(r);
		ev.nmi.pending = rng_chance(r, 30);
		ev.nmi.masked = rng_chance(r, 30);
		ev.interrupt.shadow = rng_below(r, 4);
		ev.flags = rng_below(r, 8) & (KVM_VCPUEVENT_VALID_NMI_PENDING |
					      KVM_VCPUEVENT_VALID_SHADOW);
		setup_ioctl(c, g, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS");
	}
	if (rng_chance(r, 10)) {
		struct kvm_interrupt irq = { .irq = rng_below(r, 256) };

		setup_ioctl(c, g, KVM_INTERRUPT, &irq, "KVM_INTERRUPT");
	}
	if (rng_chance(r, 10)) {
		if (opts->verbose > 1)
			printf("  KVM_NMI\n");
		setup_ioctl(c, g, KVM_NMI, NULL, "KVM_NMI");
	}
	if (rng_chance(r, 15)) {
		struct {
			struct kvm_msrs hdr;
			struct kvm_msr_entry e[4];
		} m = { .hdr.nmsrs = 1 + rng_below(r, 4) };

		for (unsigned int i = 0; i < m.hdr.nmsrs; i++) {
			m.e[i].index = chaos_msrs[rng_below(r, ARRAY_SIZE(chaos_msrs))];
			m.e[i].data = rng_interesting(r);
			if (m.e[i].index == FZ_MSR_EFER && fz_avoid_tcg_hangs())
				m.e[i].data &= ~FZ_EFER_LME;
		}
		if (opts->verbose > 1)
			for (unsigned int i = 0; i < m.hdr.nmsrs; i++)
				printf("  set MSR %#x = %#llx\n", m.e[i].index,
				       (unsigned long long)m.e[i].data);
		if (ioctl(c->vcpu.fd, KVM_SET_MSRS, &m) < 0)
			fz_fail("guest %llu: KVM_SET_MSRS: %s",
				(unsigned long long)g, strerror(errno));
	}
	if (rng_chance(r, 10)) {
		struct kvm_debugregs dbg = { 0 };

		for (int i = 0; i < 4; i++)
			dbg.db[i] = FZ_CODE + rng_below(r, CODE_SIZE);
		dbg.dr7 = rng_next(r) & 0xffff2bff;
		dbg.dr6 = rng_next(r) & 0xffffffff;
		if (opts->verbose > 1)
			printf("  set DR0-3 %#llx %#llx %#llx %#llx DR6 %#llx DR7 %#llx\n",
			       dbg.db[0], dbg.db[1], dbg.db[2], dbg.db[3],
			       dbg.dr6, dbg.dr7);
		setup_ioctl(c, g, KVM_SET_DEBUGREGS, &dbg, "KVM_SET_DEBUGREGS");
	}
	if (rng_chance(r, 5)) {
		struct kvm_xcrs xcrs = { .nr_xcrs = 1 };

		xcrs.xcrs[0].value = (const uint64_t[]){ 1, 3, 7, 5, 2 }[rng_below(r, 5)];
		if (opts->verbose > 1)
			printf("  set XCR0 %#llx\n", xcrs.xcrs[0].value);
		setup_ioctl(c, g, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS");
	}
	c->vcpu.run->request_interrupt_window = rng_chance(r, 10);
}

/*
 * With an in-kernel irqchip HLT sleeps in the kernel, and a byte access to
 * a PIC port (or a PIT port, with a PIT) never reaches userspace.
 */
static const char *irqchip_exit_wrong(const struct chaos *c, const struct kvm_run *run)
{
	uint16_t port = run->io.port;

	if (run->exit_reason == KVM_EXIT_HLT)
		return "HLT exit with an in-kernel irqchip";
	if (run->exit_reason != KVM_EXIT_IO || run->io.size != 1)
		return NULL;
	if (port == 0x20 || port == 0x21 || port == 0xa0 || port == 0xa1 ||
	    port == 0x4d0 || port == 0x4d1)
		return "PIC port access exited to userspace";
	if (c->pit && port >= 0x40 && port <= 0x43)
		return "PIT port access exited to userspace";
	return NULL;
}

static uint64_t rip_of(struct chaos *c)
{
	struct kvm_regs regs;

	return ioctl(c->vcpu.fd, KVM_GET_REGS, &regs) ? 0 : regs.rip;
}

/* Runs guest g until it stops, for at most `exits` exits. */
static void run_guest(struct chaos *c, uint64_t g, unsigned int exits)
{
	struct kvm_run *run = c->vcpu.run;
	char what[96];

	for (unsigned int n = 0; n < exits; n++) {
		const char *bad;
		int r, err;

		if (opts->verbose > 1 && n) {
			printf("guest %llu: exit %s\n", (unsigned long long)g,
			       fz_exit_name(run->exit_reason));
			dump_guest(c, g);
		}

		fz_doing(c->index, "guest %llu exit %u", (unsigned long long)g, n);
		r = fz_run_bounded(c->vcpu.fd, RUN_MS);
		err = errno;
		fz_progress();
		if (r < 0) {
			snprintf(what, sizeof(what), "guest %llu: KVM_RUN",
				 (unsigned long long)g);
			fz_expect(r, err, (const int[]){ EINTR, EFAULT, ENOMEM, 0 },
				  what);
			if (err == EINTR)
				fz_stat(FZ_STAT_X4, 1);
			return;
		}
		fz_stat(FZ_STAT_EXIT, 1);
		bad = fz_check_exit(run, c->vm.run_size);
		if (!bad && c->irqchip && irqchip_exit_wrong(c, run)) {
			fz_fail("guest %llu (seed %#llx): %s (port %#x size %u count %u %s, rip %#llx)",
				(unsigned long long)g, (unsigned long long)fz_seed,
				irqchip_exit_wrong(c, run), run->io.port, run->io.size,
				run->io.count, run->io.direction ? "out" : "in",
				(unsigned long long)rip_of(c));
			return;
		}
		if (bad) {
			fz_fail("guest %llu (seed %#llx): exit %u (%s): %s",
				(unsigned long long)g, (unsigned long long)fz_seed,
				run->exit_reason, fz_exit_name(run->exit_reason), bad);
			return;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_SHUTDOWN:
			fz_stat(FZ_STAT_X1, 1);
			return;
		case KVM_EXIT_INTERNAL_ERROR:
			fz_stat(FZ_STAT_X2, 1);
			return;
		case KVM_EXIT_FAIL_ENTRY:
			fz_stat(FZ_STAT_X3, 1);
			return;
		case KVM_EXIT_INTR:
			fz_stat(FZ_STAT_X4, 1);
			return;
		case KVM_EXIT_IRQ_WINDOW_OPEN:
			run->request_interrupt_window = 0;
			ioctl(c->vcpu.fd, KVM_INTERRUPT,
			      &(struct kvm_interrupt){ .irq = rng_below(&c->r, 256) });
			break;
		case KVM_EXIT_HLT:
			if (rng_chance(&c->r, 30))
				ioctl(c->vcpu.fd, KVM_INTERRUPT,
				      &(struct kvm_interrupt){ .irq = 32 + rng_below(&c->r, 224) });
			break;
		default:
			fz_complete_exit(run, c->vm.run_size, &c->r);
			break;
		}
	}
}

static int chaos_prepare(struct chaos *c, uint64_t g)
{
	int r;

	if (c->have_vcpu && c->guests_on_vcpu >= GUESTS_PER_VCPU) {
		fz_vcpu_destroy(&c->vcpu);
		c->have_vcpu = false;
	}
	if (c->have_vm && !c->have_vcpu && c->vcpus_made >= VCPUS_PER_VM) {
		fz_vm_destroy(&c->vm);
		c->have_vm = false;
	}
	if (!c->have_vm) {
		r = fz_vm_create(&c->vm, c->sys_fd);
		if (r) {
			fz_fail("guest %llu: creating a VM: %s",
				(unsigned long long)g, strerror(-r));
			return r;
		}
		c->have_vm = true;
		c->vcpus_made = 0;
	}
	if (!c->have_vcpu) {
		r = fz_vcpu_create(&c->vm, c->vcpus_made++, &c->vcpu);
		if (r) {
			fz_fail("guest %llu: creating a vCPU: %s",
				(unsigned long long)g, strerror(-r));
			return r;
		}
		c->have_vcpu = true;
		c->guests_on_vcpu = 0;
	}
	c->guests_on_vcpu++;
	return 0;
}

/* ---- guests with an in-kernel irqchip ------------------------------------------- */

#define APIC_BASE	0xfee00000u
#define IOAPIC_BASE	0xfec00000u
#define HANDLER		(FZ_CODE + CODE_SIZE)	/* the interrupt handler */

/* Percentage of guests with an irqchip: $VMM_FUZZ_IRQCHIP, default 25. */
static unsigned int irqchip_pct = 25;

struct emit {
	uint8_t *code;
	size_t at, size;
	bool op16;		/* 16-bit code: 32-bit operands need 0x66 */
};

static void put(struct emit *e, const void *bytes, size_t n)
{
	memcpy(e->code + e->at, bytes, n);
	e->at += n;
}

static void put8(struct emit *e, uint8_t b)
{
	e->code[e->at++] = b;
}

static void put32(struct emit *e, uint32_t v)
{
	put(e, &v, 4);
}

/* mov eax, imm32 (zero-extended into RAX in 64-bit mode) */
static void mov_eax(struct emit *e, uint32_t v)
{
	if (e->op16)
		put8(e, 0x66);
	put8(e, 0xb8);
	put32(e, v);
}

/* A store of `len` bytes to the address in EAX/RAX, or a load. */
static void mmio(struct emit *e, struct rng *r, uint32_t addr, uint32_t v,
		 bool write, unsigned int len)
{
	mov_eax(e, addr);
	if (e->op16)
		put8(e, 0x67);
	if (!write) {
		if (len == 4 && e->op16)
			put8(e, 0x66);
		put(e, len == 1 ? "\x8a\x00" : "\x8b\x00", 2);
		return;
	}
	switch (len) {
	case 1:
		put(e, "\xc6\x00", 2);
		put8(e, v);
		break;
	case 2:
		if (!e->op16)
			put8(e, 0x66);
		put(e, "\xc7\x00", 2);
		put(e, &v, 2);
		break;
	default:
		if (e->op16)
			put8(e, 0x66);
		else if (len == 8 && rng_chance(r, 50))
			put8(e, 0x48);	/* REX.W in 64-bit mode, DEC EAX otherwise */
		put(e, "\xc7\x00", 2);
		put32(e, v);
		break;
	}
}

static void apic_write(struct emit *e, struct rng *r, uint32_t reg, uint32_t v)
{
	mmio(e, r, APIC_BASE + reg, v, true, rng_chance(r, 95) ? 4 : 1 << rng_below(r, 4));
}

/* out port, al (or out dx, al for ports above 0xff) with al = v */
static void port_out(struct emit *e, uint16_t port, uint8_t v, bool in)
{
	put8(e, 0xb0);
	put8(e, v);
	if (port < 0x100) {
		put8(e, in ? 0xe4 : 0xe6);
		put8(e, port);
		return;
	}
	if (!e->op16)
		put8(e, 0x66);
	put8(e, 0xba);
	put(e, &port, 2);
	put8(e, in ? 0xec : 0xee);
}

static uint32_t rand_icr(struct rng *r)
{
	static const uint32_t modes[] = { 0, 0, 0, 1, 2, 4, 4, 5, 5, 6, 6, 7 };
	uint32_t vec = rng_chance(r, 30) ? 0x10 : rng_below(r, 256);

	return vec | modes[rng_below(r, ARRAY_SIZE(modes))] << 8 |
	       rng_below(r, 2) << 11 | rng_below(r, 2) << 14 |
	       (rng_chance(r, 20) ? 1u << 15 : 0) | rng_below(r, 4) << 18;
}

static void gen_apic(struct emit *e, struct rng *r)
{
	switch (rng_below(r, 12)) {
	case 0:
	case 1:		/* an IPI: destination, then the command */
		apic_write(e, r, 0x310, (rng_chance(r, 70) ? rng_below(r, 3) :
					 rng_next(r) & 0xff) << 24);
		apic_write(e, r, 0x300, rand_icr(r));
		break;
	case 2:		/* the timer, with a tiny count */
		apic_write(e, r, 0x3e0, rng_below(r, 16));
		apic_write(e, r, 0x320, (0x20 + rng_below(r, 224)) |
			   rng_below(r, 4) << 17 | (rng_chance(r, 20) ? 1u << 16 : 0));
		apic_write(e, r, 0x380, rng_chance(r, 80) ? 1 + rng_below(r, 2000) :
							    rng_next(r));
		break;
	case 3:		/* SVR: mostly enabled */
		apic_write(e, r, 0xf0, rng_chance(r, 80) ? 0x100 | rng_below(r, 256) :
							   rng_next(r));
		break;
	case 4:		/* an LVT entry */
		apic_write(e, r, 0x320 + 0x10 * rng_below(r, 6),
			   rng_chance(r, 50) ? rng_below(r, 8) << 8 | rng_below(r, 256) :
			   rng_next(r));
		break;
	case 5:
		apic_write(e, r, 0xb0, 0);		/* EOI */
		break;
	case 6:
		apic_write(e, r, 0x80, rng_below(r, 256));	/* TPR */
		break;
	case 7:
		apic_write(e, r, rng_chance(r, 50) ? 0xd0 : 0xe0, rng_next(r));
		break;
	case 8:		/* a read */
		mmio(e, r, APIC_BASE + (rng_below(r, 0x40) << 4), 0, false,
		     rng_chance(r, 90) ? 4 : 1);
		break;
	default:	/* anywhere in the page, any width */
		mmio(e, r, APIC_BASE + (rng_chance(r, 80) ? rng_below(r, 0x100) << 4 :
					 rng_below(r, 0x1000)),
		     rng_next(r), rng_chance(r, 70), 1 << rng_below(r, 4));
		break;
	}
}

static void gen_ioapic(struct emit *e, struct rng *r)
{
	uint32_t pin = rng_below(r, 26), reg;

	reg = rng_chance(r, 70) ? 0x10 + 2 * pin + rng_below(r, 2) :
	      rng_chance(r, 50) ? rng_below(r, 3) : rng_below(r, 256);
	mmio(e, r, IOAPIC_BASE, reg, true, 4);
	if (rng_chance(r, 30)) {
		mmio(e, r, IOAPIC_BASE + 0x10, 0, false, 4);
		return;
	}
	mmio(e, r, IOAPIC_BASE + 0x10,
	     rng_chance(r, 60) ? (0x20 + rng_below(r, 224)) | rng_below(r, 8) << 8 |
				 rng_below(r, 2) << 11 | rng_below(r, 2) << 13 |
				 rng_below(r, 2) << 15 | (rng_chance(r, 30) ? 1u << 16 : 0) :
				 rng_next(r), true, 4);
	if (rng_chance(r, 10))	/* anywhere in its window */
		mmio(e, r, IOAPIC_BASE + rng_below(r, 0x100), rng_next(r),
		     rng_chance(r, 60), 1 << rng_below(r, 3));
}

static void gen_pic(struct emit *e, struct rng *r)
{
	static const uint16_t ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 };
	bool slave = rng_chance(r, 40);
	uint16_t base = slave ? 0xa0 : 0x20;

	switch (rng_below(r, 4)) {
	case 0:		/* the initialization sequence, ICW1-4, then a mask */
		port_out(e, base, 0x10 | rng_below(r, 16), false);
		port_out(e, base + 1, rng_chance(r, 80) ? 0x20 + 8 * rng_below(r, 28) :
							   rng_below(r, 256), false);
		port_out(e, base + 1, slave ? 2 : 4, false);
		port_out(e, base + 1, rng_chance(r, 70) ? 1 : rng_below(r, 32), false);
		port_out(e, base + 1, rng_chance(r, 50) ? 0 : rng_below(r, 256), false);
		break;
	case 1:		/* OCW2 (EOIs, rotation) and OCW3 (read, poll, special mask) */
		port_out(e, base, rng_chance(r, 50) ? rng_below(r, 8) << 5 | rng_below(r, 8) :
			 (const uint8_t[]){ 0x0a, 0x0b, 0x0c, 0x68, 0x48 }[rng_below(r, 5)],
			 false);
		if (rng_chance(r, 50))
			port_out(e, base, 0, true);
		break;
	default:
		port_out(e, ports[rng_below(r, ARRAY_SIZE(ports))], rng_next(r),
			 rng_chance(r, 30));
		break;
	}
}

static void gen_pit(struct emit *e, struct rng *r)
{
	unsigned int ch = rng_below(r, 3);

	if (rng_chance(r, 20)) {
		port_out(e, 0x40 + rng_below(r, 4), rng_next(r), rng_chance(r, 40));
		return;
	}
	if (rng_chance(r, 15)) {	/* read-back, or port 0x61 */
		port_out(e, rng_chance(r, 50) ? 0x43 : 0x61, 0xc0 | rng_below(r, 64),
			 rng_chance(r, 30));
		port_out(e, 0x40 + ch, 0, true);
		return;
	}
	/* Control word, then a count (LSB, MSB), small to fire often. */
	port_out(e, 0x43, ch << 6 | (1 + rng_below(r, 3)) << 4 | rng_below(r, 6) << 1 |
		 (rng_chance(r, 10) ? 1 : 0), false);
	port_out(e, 0x40 + ch, rng_below(r, 256), false);
	port_out(e, 0x40 + ch, rng_chance(r, 70) ? 0 : rng_below(r, 256), false);
}

/*
 * Random code biased towards the LAPIC, IOAPIC, PIC and PIT. A calm guest
 * starts at the first byte and has nothing else, so it gets far.
 */
static void gen_irq_code(struct rng *r, uint8_t *code, size_t size,
			 enum fz_mode mode, bool calm)
{
	struct emit e = { .code = code, .size = size,
			  .op16 = mode == FZ_REAL || mode == FZ_PROT16 };

	gen_code(r, code, size);
	e.at = calm ? 0 : rng_below(r, 0x40);
	while (e.at + 64 < size) {
		switch (rng_below(r, 16)) {
		case 0: case 1: case 2: case 3:
			gen_apic(&e, r);
			break;
		case 4: case 5:
			gen_ioapic(&e, r);
			break;
		case 6: case 7:
			gen_pic(&e, r);
			break;
		case 8: case 9:
			gen_pit(&e, r);
			break;
		case 10:	/* sti; hlt  or  sti; nop */
			put(&e, rng_chance(r, 70) ? "\xfb\xf4" : "\xfb\x90", 2);
			break;
		case 11:	/* cli; hlt: only an NMI, INIT or the timer signal wakes it */
			put(&e, rng_chance(r, 20) ? "\xfa\xf4" : "\xf4", rng_chance(r, 50) ? 2 : 1);
			break;
		case 12:	/* a short spin: pause; loop */
			put(&e, "\xb9\x00\x01\x00\x00\xf3\x90\xe2\xfc", 9);
			break;
		default: {	/* one of the other snippets */
			const struct snippet *sn = &snippets[rng_below(r, ARRAY_SIZE(snippets))];

			if (calm)
				put8(&e, 0x90);
			else
				put(&e, sn->bytes, sn->len);
			break;
		}
		}
	}
	if (calm) {	/* jmp back to the start (rel16 in 16-bit code) */
		int32_t rel = -(int32_t)(e.at + (e.op16 ? 3 : 5));

		put8(&e, 0xe9);
		put(&e, &rel, e.op16 ? 2 : 4);
	}
}

/*
 * An IDT whose every gate leads to HANDLER: EOI to both PICs and the
 * LAPIC, then IRET, so interrupts are taken and acknowledged over and over.
 */
static void write_irq_idt(struct chaos *c, enum fz_mode mode, struct kvm_sregs *s)
{
	static const uint8_t handler[] = {
		0x50, 0xb0, 0x20, 0xe6, 0xa0, 0xe6, 0x20,	/* push; EOI to the PICs */
		0xb8, 0xb0, 0x00, 0xe0, 0xfe,			/* mov eax, APIC EOI */
		0xc7, 0x00, 0x00, 0x00, 0x00, 0x00,		/* mov dword [eax], 0 */
		0x58, 0x48, 0xcf,				/* pop; iretq */
	};
	uint8_t *idt = c->vm.mem + FZ_IDT, *h = c->vm.mem + HANDLER;
	bool long64 = mode == FZ_LONG64;

	memcpy(h, handler, sizeof(handler));
	if (!long64)	/* iret, without REX.W */
		memcpy(h + sizeof(handler) - 2, "\xcf\xcf", 2);
	for (unsigned int v = 0; v < 256; v++) {
		uint8_t *g = idt + v * (long64 ? 16 : 8);
		uint16_t sel = long64 ? FZ_SEL_CODE64 : FZ_SEL_CODE32;

		memset(g, 0, long64 ? 16 : 8);
		g[0] = HANDLER & 0xff;
		g[1] = (HANDLER >> 8) & 0xff;
		memcpy(g + 2, &sel, 2);
		g[5] = 0x8e;
		g[6] = (HANDLER >> 16) & 0xff;
		g[7] = HANDLER >> 24;
	}
	s->idt.base = FZ_IDT;
	s->idt.limit = long64 ? 0xfff : 0x7ff;
}

/* Counters guest-chaos does not otherwise use. */
#define ST_IRQ_GUESTS	FZ_STAT_FORKS
#define ST_PIT_GUESTS	FZ_STAT_SLOT_OPS
#define ST_SMP_GUESTS	FZ_STAT_CLOSES
#define ST_AP_EXITS	FZ_STAT_MMAPS
#define ST_APIC_USED	FZ_STAT_KILLS	/* guests that wrote ICR, timer or SVR */

/* The second vCPU of a two-vCPU irqchip guest, run by its own thread. */
struct ap {
	struct chaos *c;
	struct fz_vcpu vcpu;
	struct rng r;
	uint64_t g;
	volatile bool stop;
};

static void *ap_thread(void *arg)
{
	struct ap *ap = arg;
	struct kvm_run *run = ap->vcpu.run;
	int slot = opts->threads + ap->c->index;
	char what[96];

	fz_timer_init();
	snprintf(what, sizeof(what), "guest %llu: KVM_RUN of vCPU 1",
		 (unsigned long long)ap->g);
	for (unsigned int n = 0; n < 400 && !ap->stop; n++) {
		const char *bad;
		int r, err;

		fz_doing(slot, "guest %llu vCPU 1 run %u", (unsigned long long)ap->g, n);
		r = fz_run_bounded(ap->vcpu.fd, RUN_MS);
		err = errno;
		fz_progress();
		if (r < 0) {
			/* EAGAIN: it was UNINITIALIZED and took an INIT. */
			fz_expect(r, err, (const int[]){ EINTR, EAGAIN, EFAULT, ENOMEM, 0 },
				  what);
			if (err != EINTR && err != EAGAIN)
				break;
			continue;
		}
		fz_stat(ST_AP_EXITS, 1);
		bad = fz_check_exit(run, ap->c->vm.run_size);
		if (bad) {
			fz_fail("guest %llu (seed %#llx) vCPU 1: exit %u (%s): %s",
				(unsigned long long)ap->g, (unsigned long long)fz_seed,
				run->exit_reason, fz_exit_name(run->exit_reason), bad);
			break;
		}
		if (run->exit_reason == KVM_EXIT_SHUTDOWN ||
		    run->exit_reason == KVM_EXIT_INTERNAL_ERROR ||
		    run->exit_reason == KVM_EXIT_FAIL_ENTRY)
			break;
		fz_complete_exit(run, ap->c->vm.run_size, &ap->r);
	}
	fz_doing(slot, "idle");
	fz_timer_exit();
	return NULL;
}

/* Whether vCPU 0's LAPIC is no longer in its reset state. */
static bool apic_used(struct chaos *c)
{
	struct kvm_lapic_state *ls = calloc(1, sizeof(*ls));
	uint32_t svr, icr, tmict;
	bool used = false;

	if (ls && !ioctl(c->vcpu.fd, KVM_GET_LAPIC, ls)) {
		memcpy(&svr, ls->regs + 0xf0, 4);
		memcpy(&icr, ls->regs + 0x300, 4);
		memcpy(&tmict, ls->regs + 0x380, 4);
		used = svr != 0xff || icr || tmict;
	}
	free(ls);
	return used;
}

static void chaos_drop(struct chaos *c)
{
	if (c->have_vcpu)
		fz_vcpu_destroy(&c->vcpu);
	if (c->have_vm)
		fz_vm_destroy(&c->vm);
	c->have_vcpu = c->have_vm = false;
}

/*
 * Guest g with a fresh VM that has an in-kernel irqchip (and perhaps a PIT
 * and a second vCPU), code biased towards the interrupt controllers.
 */
static void irq_guest(struct chaos *c, uint64_t g, unsigned int exits)
{
	struct rng *r = &c->r;
	struct kvm_pit_config pit = { 0 };
	struct kvm_sregs s;
	struct ap ap = { .c = c, .g = g };
	pthread_t t;
	enum fz_mode mode;
	bool smp, calm;
	int e;

	chaos_drop(c);
	e = fz_vm_create(&c->vm, c->sys_fd);
	if (e) {
		fz_fail("guest %llu: creating a VM: %s", (unsigned long long)g,
			strerror(-e));
		return;
	}
	c->have_vm = true;
	c->irqchip = true;
	fz_stat(ST_IRQ_GUESTS, 1);
	if (ioctl(c->vm.fd, KVM_CREATE_IRQCHIP, 0))
		fz_fail("guest %llu: KVM_CREATE_IRQCHIP: %s", (unsigned long long)g,
			strerror(errno));
	c->pit = rng_chance(r, 50);
	if (c->pit) {
		pit.flags = rng_below(r, 2);
		fz_stat(ST_PIT_GUESTS, 1);
		if (ioctl(c->vm.fd, KVM_CREATE_PIT2, &pit))
			fz_fail("guest %llu: KVM_CREATE_PIT2: %s",
				(unsigned long long)g, strerror(errno));
	}
	e = fz_vcpu_create(&c->vm, 0, &c->vcpu);
	if (e) {
		fz_fail("guest %llu: creating vCPU 0: %s", (unsigned long long)g,
			strerror(-e));
		goto out;
	}
	c->have_vcpu = true;
	smp = rng_chance(r, 30);
	if (smp && fz_vcpu_create(&c->vm, 1, &ap.vcpu)) {
		fz_fail("guest %llu: creating vCPU 1: %s", (unsigned long long)g,
			strerror(errno));
		smp = false;
	}

	/* Mostly modes that reach the LAPIC and IOAPIC pages with flat segments. */
	mode = rng_chance(r, 80) ? (rng_chance(r, 50) ? FZ_PROT32 : FZ_LONG64) :
				   rng_below(r, FZ_NR_MODES);
	fz_doing(c->index, "guest %llu (%s, irqchip%s%s): setup",
		 (unsigned long long)g, fz_mode_name[mode], c->pit ? ", PIT" : "",
		 smp ? ", 2 vCPUs" : "");
	if (opts->verbose)
		printf("guest %llu %s irqchip%s%s\n", (unsigned long long)g,
		       fz_mode_name[mode], c->pit ? " PIT" : "", smp ? " 2 vCPUs" : "");
	randomize_state(c, g, mode);
	calm = rng_chance(r, 50);
	gen_irq_code(r, c->vm.mem + FZ_CODE, CODE_SIZE, mode, calm);
	if (fz_avoid_tcg_hangs())
		fz_defuse_cr8_writes(c->vm.mem + FZ_CODE, CODE_SIZE);
	if (calm) {	/* a clean mode, RIP at the first byte */
		fz_vcpu_setup(c->vcpu.fd, mode, FZ_CODE, FZ_STACK_TOP);
	} else if (fz_avoid_tcg_hangs() && !ioctl(c->vcpu.fd, KVM_GET_SREGS, &s)) {
		/*
		 * QEMU's TCG aborts ("invalid tss type") when such a guest,
		 * with random segments, takes interrupts: clean segments.
		 */
		fz_mode_sregs(&s, mode, FZ_CODE);
		setup_ioctl(c, g, KVM_SET_SREGS, &s, "KVM_SET_SREGS");
	}
	if ((mode == FZ_PROT32 || mode == FZ_LONG64) && (calm || rng_chance(r, 60)) &&
	    !ioctl(c->vcpu.fd, KVM_GET_SREGS, &s)) {
		write_irq_idt(c, mode, &s);
		setup_ioctl(c, g, KVM_SET_SREGS, &s, "KVM_SET_SREGS");
	}
	if (opts->verbose > 1)
		dump_guest(c, g);
	if (smp) {
		fz_stat(ST_SMP_GUESTS, 1);
		rng_seed2(&ap.r, opts->seed, g + (1ull << 40));
		/* Running at once, or UNINITIALIZED until vCPU 0 sends INIT-SIPI. */
		if (rng_chance(r, 50)) {
			struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };

			ioctl(ap.vcpu.fd, KVM_SET_MP_STATE, &mp);
			fz_vcpu_setup(ap.vcpu.fd, mode, FZ_CODE + rng_below(r, 0x100),
				      FZ_STACK_TOP - 0x8000);
		}
		if (pthread_create(&t, NULL, ap_thread, &ap))
			smp = false;
	}
	run_guest(c, g, exits);
	if (apic_used(c))
		fz_stat(ST_APIC_USED, 1);
	if (smp) {
		ap.stop = true;
		pthread_join(t, NULL);
	}
	if (ap.vcpu.fd > 0)
		fz_vcpu_destroy(&ap.vcpu);
out:
	chaos_drop(c);
	c->irqchip = c->pit = false;
}

static uint64_t next_guest;

/* VMM_FUZZ_SKIP=G,G,...: leave guests out, to find which ones matter. */
static bool skipped(uint64_t g)
{
	const char *list = getenv("VMM_FUZZ_SKIP");

	while (list && *list) {
		char *end;

		if (strtoull(list, &end, 0) == g)
			return true;
		list = *end ? end + 1 : end;
	}
	return false;
}

static void *chaos_thread(void *arg)
{
	struct chaos *c = arg;
	uint64_t first = opts->a, g;
	unsigned int exits = opts->b_set ? opts->b : 8;

	fz_timer_init();
	for (;;) {
		enum fz_mode mode;

		g = __atomic_fetch_add(&next_guest, 1, __ATOMIC_RELAXED);
		if (!fz_more(opts, g))
			break;
		g += first;
		if (skipped(g))
			continue;
		/* A stream of its own, so that other guests replay as before. */
		rng_seed2(&c->r, opts->seed, g + (1ull << 41));
		if (rng_chance(&c->r, irqchip_pct)) {
			rng_seed2(&c->r, opts->seed, g);
			irq_guest(c, g, exits);
			fz_stat(FZ_STAT_ITER, 1);
			fz_progress();
			continue;
		}
		if (chaos_prepare(c, g))
			break;
		rng_seed2(&c->r, opts->seed, g);
		mode = rng_below(&c->r, FZ_NR_MODES);
		fz_doing(c->index, "guest %llu (%s): setup",
			 (unsigned long long)g, fz_mode_name[mode]);
		if (opts->verbose)
			printf("guest %llu %s\n", (unsigned long long)g,
			       fz_mode_name[mode]);
		randomize_state(c, g, mode);
		if (opts->verbose > 1)
			dump_guest(c, g);
		run_guest(c, g, exits);
		fz_stat(FZ_STAT_ITER, 1);
		fz_progress();
	}
	if (c->have_vcpu)
		fz_vcpu_destroy(&c->vcpu);
	if (c->have_vm)
		fz_vm_destroy(&c->vm);
	fz_doing(c->index, "done");
	fz_timer_exit();
	return NULL;
}

static int work(const struct fz_options *o)
{
	unsigned int n = o->threads ? o->threads : 1;
	struct chaos *c = calloc(n, sizeof(*c));
	pthread_t *t = calloc(n, sizeof(*t));
	int fd = fz_open_dev();

	opts = o;
	if (getenv("VMM_FUZZ_IRQCHIP"))
		irqchip_pct = atoi(getenv("VMM_FUZZ_IRQCHIP"));
	if (!c || !t || fd < 0)
		return 1;
	fz_supported_cpuid(fd);
	for (unsigned int i = 0; i < n; i++) {
		c[i].index = i;
		c[i].sys_fd = fd;
		pthread_create(&t[i], NULL, chaos_thread, &c[i]);
	}
	for (unsigned int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	close(fd);
	return 0;
}

static void summary(const struct fz_options *o, char *s, size_t n)
{
	uint64_t *st = fz->stats;

	(void)o;
	snprintf(s, n,
		 "%llu random guests, %llu KVM_RUN, %llu exits (%llu shutdown, %llu internal error, "
		 "%llu entry failure, %llu still running at the timer), %llu VMs, %llu vCPUs, "
		 "%llu setup ioctls (%llu refused); %llu guests with an irqchip "
		 "(%llu with a PIT, %llu with 2 vCPUs, %llu exits of vCPU 1, "
		 "%llu programmed their LAPIC)",
		 (unsigned long long)st[FZ_STAT_ITER],
		 (unsigned long long)st[FZ_STAT_RUN],
		 (unsigned long long)st[FZ_STAT_EXIT],
		 (unsigned long long)st[FZ_STAT_X1],
		 (unsigned long long)st[FZ_STAT_X2],
		 (unsigned long long)st[FZ_STAT_X3],
		 (unsigned long long)st[FZ_STAT_X4],
		 (unsigned long long)st[FZ_STAT_VMS],
		 (unsigned long long)st[FZ_STAT_VCPUS],
		 (unsigned long long)st[FZ_STAT_IOCTL],
		 (unsigned long long)st[FZ_STAT_IOCTL_ERR],
		 (unsigned long long)st[ST_IRQ_GUESTS],
		 (unsigned long long)st[ST_PIT_GUESTS],
		 (unsigned long long)st[ST_SMP_GUESTS],
		 (unsigned long long)st[ST_AP_EXITS],
		 (unsigned long long)st[ST_APIC_USED]);
}

int main(int argc, char **argv)
{
	struct fz_options o;

	fz_parse(argc, argv, &o,
		 "[-a FIRST_GUEST] [-b EXITS_PER_GUEST]\n"
		 "Replay guest G alone: -s SEED -a G -n 1 -j 1 -v");
	return fz_main(&o, work, summary);
}
