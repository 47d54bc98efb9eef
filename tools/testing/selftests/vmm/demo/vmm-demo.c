// SPDX-License-Identifier: GPL-2.0
/*
 * vmm-demo: the smallest complete VMM, in the style of kvmtool.
 *
 *	vmm-demo [DEVICE]		(default /dev/kvm)
 *
 * It creates a VM with one memory slot, puts its only vCPU straight into
 * 64-bit long mode (no firmware, no boot loader), and runs a guest that
 * prints a greeting on the COM1 data port and halts. Each OUT to the port
 * arrives here as a KVM_EXIT_IO, and we copy the byte to stdout.
 *
 * It uses nothing but the KVM API of <linux/kvm.h>, so it runs on vmm.ko
 * and on KVM alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#define MEM_SIZE	0x200000	/* 2 MiB of guest RAM at GPA 0 */
#define GDT_GPA		0x1000
#define PML4_GPA	0x2000		/* then the PDPT, then one PD */
#define CODE_GPA	0x10000
#define STACK_TOP	0x80000
#define COM1		0x3f8

/*
 * The guest, assembled into this binary and copied into guest RAM. It is
 * position independent: LEA finds the message relative to RIP.
 */
extern const unsigned char guest_start[], guest_end[];
asm(".pushsection .rodata.guest, \"a\"\n"
    "guest_start:\n"
    ".code64\n"
    "	lea msg(%rip), %rsi\n"
    "	mov $0x3f8, %dx\n"
    "1:	lodsb\n"			/* AL = next byte, RSI++ */
    "	test %al, %al\n"
    "	jz 2f\n"
    "	out %al, %dx\n"			/* exits to the VMM */
    "	jmp 1b\n"
    "2:	hlt\n"				/* so does this: we're done */
    "	jmp 2b\n"
    "msg: .asciz \"Hello from a vmm guest!\\n\"\n"
    "guest_end:\n"
    ".popsection\n");

static void die(const char *what)
{
	fprintf(stderr, "vmm-demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Identity-map the first 1 GiB with 2 MiB pages: PML4 -> PDPT -> PD. */
static void build_page_tables(uint8_t *mem)
{
	uint64_t *pml4 = (uint64_t *)(mem + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(mem + PML4_GPA + 0x1000);
	uint64_t *pd = (uint64_t *)(mem + PML4_GPA + 0x2000);

	pml4[0] = (PML4_GPA + 0x1000) | 0x3;		/* present, writable */
	pdpt[0] = (PML4_GPA + 0x2000) | 0x3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83;		/* + 2 MiB page */
}

/*
 * Long mode needs a 64-bit code segment. KVM takes segment registers
 * whole from KVM_SET_SREGS, but the GDT is still written so the guest
 * would find the same descriptors if it reloaded a segment.
 */
static void setup_long_mode(int vcpu_fd, uint8_t *mem)
{
	uint64_t *gdt = (uint64_t *)(mem + GDT_GPA);
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8,
		.type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10,
		.type = 0x3, .present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = CODE_GPA,
		.rsp = STACK_TOP,
		.rflags = 0x2,			/* bit 1 is always set */
	};

	gdt[1] = 0x00af9b000000ffff;		/* 64-bit code */
	gdt[2] = 0x00cf93000000ffff;		/* data */
	build_page_tables(mem);

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = 1 << 5;			/* PAE */
	sregs.cr0 = 0x80000011;			/* PG, ET, PE */
	sregs.efer = (1 << 8) | (1 << 10);	/* LME, LMA */
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/kvm";
	int kvm, vm, vcpu, run_size;
	struct kvm_run *run;
	uint8_t *mem;

	kvm = open(path, O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die(path);
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "vmm-demo: unexpected KVM API version\n");
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");

	/* Guest RAM is ordinary anonymous memory of this process. */
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	memcpy(mem + CODE_GPA, guest_start, guest_end - guest_start);

	/* The vCPU, and the kvm_run area through which it reports exits. */
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(*run))
		die("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	setup_long_mode(vcpu, mem);

	while (1) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			die("KVM_RUN");
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			/* The data sits in the kvm_run mapping itself. */
			if (run->io.direction == KVM_EXIT_IO_OUT &&
			    run->io.port == COM1) {
				const char *p = (char *)run + run->io.data_offset;

				fwrite(p, run->io.size, run->io.count, stdout);
				fflush(stdout);
				break;
			}
			fprintf(stderr, "vmm-demo: unhandled I/O port %#x\n",
				run->io.port);
			return 1;
		case KVM_EXIT_HLT:
			return 0;
		default:
			fprintf(stderr, "vmm-demo: unexpected exit reason %u\n",
				run->exit_reason);
			return 1;
		}
	}
}
