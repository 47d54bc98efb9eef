// SPDX-License-Identifier: GPL-2.0
/*
 * Building VMs and vCPUs through the KVM API, and running them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm_test.h"

const char *const vmm_mode_name[] = {
	[MODE_REAL] = "real",
	[MODE_PROT32] = "prot32",
	[MODE_LONG64] = "long64",
};

const char *vmm_dev_path(void)
{
	const char *path = getenv("VMM_DEV");

	return path && *path ? path : "/dev/kvm";
}

int vmm_open_dev(void)
{
	const char *path = vmm_dev_path();
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
			TEST_SKIP("%s: %s", path, strerror(errno));
		TEST_FAIL("open %s: %s", path, strerror(errno));
	}
	return fd;
}

int vmm_check_cap(long cap)
{
	int fd = vmm_open_dev();
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	TEST_ASSERT(r >= 0, "KVM_CHECK_EXTENSION(%ld): %s", cap,
		    strerror(errno));
	close(fd);
	return r;
}

static void *alloc_guest_memory(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	TEST_ASSERT(p != MAP_FAILED, "mmap %#llx bytes: %s",
		    (unsigned long long)size, strerror(errno));
	return p;
}

struct vmm_vm *vmm_vm_create_bare(void)
{
	struct vmm_vm *vm = calloc(1, sizeof(*vm));
	int r;

	TEST_ASSERT(vm, "out of memory");
	vm->kvm_fd = vmm_open_dev();
	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	TEST_ASSERT(r == KVM_API_VERSION, "KVM_GET_API_VERSION = %d", r);
	vm->fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm->fd >= 0, "KVM_CREATE_VM: %s", strerror(errno));
	r = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	TEST_ASSERT(r >= (int)sizeof(struct kvm_run),
		    "KVM_GET_VCPU_MMAP_SIZE = %d", r);
	vm->run_size = r;
	return vm;
}

/* Flat descriptors for the GDT (APM vol. 2, 4.7 and 4.8). */
static void write_gdt(struct vmm_vm *vm)
{
	uint64_t *gdt = vmm_gpa_to_hva(vm, GUEST_GDT);
	uint64_t tss = GUEST_TSS, limit = 0x67;

	gdt[SEL_CODE64 / 8] = 0x00af9b000000ffffull;	/* L=1, G, P, code */
	gdt[SEL_DATA / 8] = 0x00cf93000000ffffull;	/* D/B, G, P, data */
	gdt[SEL_CODE32 / 8] = 0x00cf9b000000ffffull;	/* D/B, G, P, code */
	/* Busy TSS (type 0xb); in long mode it spans two slots. */
	gdt[SEL_TSS / 8] = limit | (tss & 0xffffff) << 16 | 0x8bull << 40 |
			   ((tss >> 24) & 0xff) << 56;
	gdt[SEL_TSS / 8 + 1] = tss >> 32;
}

/* PML4 -> one PDPT -> four PDs of 2 MiB pages: identity map of 4 GiB. */
static void write_page_tables(struct vmm_vm *vm)
{
	uint64_t *pml4 = vmm_gpa_to_hva(vm, GUEST_PML4);
	uint64_t *pdpt = vmm_gpa_to_hva(vm, GUEST_PML4 + 0x1000);
	uint64_t *pd = vmm_gpa_to_hva(vm, GUEST_PML4 + 0x2000);

	pml4[0] = (GUEST_PML4 + 0x1000) | 0x3;		/* P | RW */
	for (int i = 0; i < 4; i++)
		pdpt[i] = (GUEST_PML4 + 0x2000 + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83;		/* P | RW | PS */
}

struct vmm_vm *vmm_vm_create(void)
{
	struct vmm_vm *vm = vmm_vm_create_bare();

	vmm_vm_add_slot(vm, 0, 0, GUEST_MEM_SIZE, 0);
	write_gdt(vm);
	write_page_tables(vm);
	return vm;
}

void vmm_vm_free(struct vmm_vm *vm)
{
	close(vm->fd);
	close(vm->kvm_fd);
	for (int i = 0; i < VMM_MAX_SLOTS; i++)
		if (vm->slots[i].used)
			munmap(vm->slots[i].hva, vm->slots[i].size);
	free(vm);
}

static struct vmm_slot *find_slot(struct vmm_vm *vm, uint32_t slot)
{
	for (int i = 0; i < VMM_MAX_SLOTS; i++)
		if (vm->slots[i].used && vm->slots[i].slot == slot)
			return &vm->slots[i];
	return NULL;
}

int vmm_vm_set_slot(struct vmm_vm *vm, uint32_t slot, uint32_t flags,
		    uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};
	struct vmm_slot *s;
	int r;

	r = ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
	if (r)
		return r;

	s = find_slot(vm, slot);
	if (!size) {
		if (s)
			s->used = false;
		return 0;
	}
	if (!s) {
		for (int i = 0; i < VMM_MAX_SLOTS && !s; i++)
			if (!vm->slots[i].used)
				s = &vm->slots[i];
		TEST_ASSERT(s, "too many slots for the library");
	}
	*s = (struct vmm_slot){ true, slot, flags, gpa, size, hva };
	return 0;
}

void *vmm_vm_add_slot(struct vmm_vm *vm, uint32_t slot, uint64_t gpa,
		      uint64_t size, uint32_t flags)
{
	void *hva = alloc_guest_memory(size);

	TEST_ASSERT(vmm_vm_set_slot(vm, slot, flags, gpa, size, hva) == 0,
		    "KVM_SET_USER_MEMORY_REGION slot %u gpa %#llx size %#llx: %s",
		    slot, (unsigned long long)gpa, (unsigned long long)size,
		    strerror(errno));
	return hva;
}

void vmm_vm_move_slot(struct vmm_vm *vm, uint32_t slot, uint64_t new_gpa)
{
	struct vmm_slot *s = find_slot(vm, slot);

	TEST_ASSERT(s, "no slot %u", slot);
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, slot, s->flags, new_gpa, s->size,
				       s->hva));
}

void vmm_vm_delete_slot(struct vmm_vm *vm, uint32_t slot)
{
	struct vmm_slot *s = find_slot(vm, slot);

	TEST_ASSERT(s, "no slot %u", slot);
	/* The memory stays mapped: the test may still look at it. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vm, slot, s->flags, s->gpa, 0, s->hva));
}

void *vmm_gpa_to_hva(struct vmm_vm *vm, uint64_t gpa)
{
	for (int i = 0; i < VMM_MAX_SLOTS; i++) {
		struct vmm_slot *s = &vm->slots[i];

		if (s->used && gpa >= s->gpa && gpa - s->gpa < s->size)
			return (char *)s->hva + (gpa - s->gpa);
	}
	TEST_FAIL("GPA %#llx is in no slot", (unsigned long long)gpa);
}

void vmm_vm_load_code(struct vmm_vm *vm, uint64_t offset,
		      const unsigned char *start, const unsigned char *end)
{
	size_t len = end - start;

	TEST_ASSERT(offset + len <= GUEST_CODE_MAX, "guest code too big");
	memcpy(vmm_gpa_to_hva(vm, GUEST_CODE_GPA + offset), start, len);
}

/*
 * The host's supported CPUID, read once. Like QEMU and the upstream
 * selftests we give it to every vCPU: without KVM_SET_CPUID2 the guest
 * sees an empty CPUID, which is not what any real VMM does.
 */
static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	static struct kvm_cpuid2 *cpuid;
	int nent = 64;

	while (!cpuid) {
		struct kvm_cpuid2 *c;

		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		TEST_ASSERT(c, "out of memory");
		c->nent = nent;
		if (!ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c)) {
			cpuid = c;
			break;
		}
		TEST_ASSERT(errno == E2BIG && nent < 4096,
			    "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		free(c);
		nent *= 2;
	}
	return cpuid;
}

const struct kvm_cpuid_entry2 *vmm_cpuid_entry(uint32_t function,
					       uint32_t index)
{
	int fd = vmm_open_dev();
	struct kvm_cpuid2 *cpuid = supported_cpuid(fd);

	close(fd);
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     e->index == index))
			return e;
	}
	TEST_FAIL("CPUID leaf %#x.%u not supported", function, index);
}

bool vmm_cpu_is_intel(void)
{
	const struct kvm_cpuid_entry2 *e = vmm_cpuid_entry(0, 0);

	/* "GenuineIntel" */
	return e->ebx == 0x756e6547 && e->edx == 0x49656e69 &&
	       e->ecx == 0x6c65746e;
}

/* Whether the firmware's SMBIOS tables name Bochs (the Intel test VM). */
static bool host_is_bochs(void)
{
	static const char *const files[] = {
		"/sys/class/dmi/id/bios_vendor",
		"/sys/class/dmi/id/bios_version",
	};
	char buf[128];

	for (unsigned int i = 0; i < ARRAY_SIZE(files); i++) {
		FILE *f = fopen(files[i], "r");
		bool found;

		if (!f)
			continue;
		found = fgets(buf, sizeof(buf), f) && strstr(buf, "Bochs");
		fclose(f);
		if (found)
			return true;
	}
	return false;
}

/*
 * Bochs 2.7 decides whether external interrupts are masked from the
 * guest's RFLAGS.IF while VM entry loads the guest state, before it marks
 * the CPU as in VMX non-root operation, and does not decide again when it
 * gets there (VMenterLoadCheckGuestState() then VMLAUNCH() in its
 * cpu/vmx.cc). "External-interrupt exiting" is therefore ignored while the
 * guest runs with IF=0, as our guests do: one that spins without exiting
 * holds its host CPU for good, and no timer tick, IPI or signal reaches
 * the host again. Real CPUs exit on every external interrupt (SDM Vol. 3C,
 * "Other Causes of VM Exits").
 */
void vmm_require_kickable_guest(void)
{
	/*
	 * vmm's VT-x backend arms the VMX-preemption timer whenever the
	 * guest runs with IF=0 (vmx_arm_backstop() in arch/x86/vmx/vmx.c),
	 * so such a guest leaves the CPU within a tick even under Bochs:
	 * only kvm_intel needs the skip.
	 */
	if (access("/sys/module/vmm", F_OK) == 0 &&
	    access("/sys/module/kvm_intel", F_OK) != 0)
		return;
	if (vmm_cpu_is_intel() && host_is_bochs())
		TEST_SKIP("Bochs 2.7 VMX ignores external-interrupt exiting "
			  "while the guest has IF=0, so a spinning guest "
			  "cannot be kicked out");
}

struct vmm_vcpu *vmm_vcpu_create(struct vmm_vm *vm, unsigned int id)
{
	struct vmm_vcpu *vcpu = calloc(1, sizeof(*vcpu));

	TEST_ASSERT(vcpu, "out of memory");
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	TEST_ASSERT(vcpu->fd >= 0, "KVM_CREATE_VCPU(%u): %s", id,
		    strerror(errno));
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	TEST_ASSERT(vcpu->run != MAP_FAILED, "mmap kvm_run: %s",
		    strerror(errno));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_CPUID2,
			     supported_cpuid(vm->kvm_fd)));
	return vcpu;
}

void vmm_vcpu_free(struct vmm_vcpu *vcpu)
{
	munmap(vcpu->run, vcpu->vm->run_size);
	close(vcpu->fd);
	free(vcpu);
}

void vmm_get_regs(struct vmm_vcpu *vcpu, struct kvm_regs *regs)
{
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_REGS, regs));
}

void vmm_set_regs(struct vmm_vcpu *vcpu, const struct kvm_regs *regs)
{
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_REGS, regs));
}

void vmm_get_sregs(struct vmm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_SREGS, sregs));
}

void vmm_set_sregs(struct vmm_vcpu *vcpu, const struct kvm_sregs *sregs)
{
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_SET_SREGS, sregs));
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type,
				       bool code64)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = !code64,
		.s = 1,
		.l = code64,
		.g = 1,
	};
}

static void setup_real(struct kvm_sregs *sregs, uint64_t gpa, uint64_t stack,
		       struct kvm_regs *regs)
{
	/* Keep the reset state's attributes; only move CS and SS. */
	sregs->cs.selector = gpa >> 4;
	sregs->cs.base = gpa & ~0xfull;
	sregs->ss.selector = (stack - 0x1000) >> 4;
	sregs->ss.base = stack - 0x1000;
	regs->rip = gpa & 0xf;
	regs->rsp = 0x1000;
}

static void setup_protected(struct kvm_sregs *sregs, bool long_mode)
{
	struct kvm_segment data = flat_segment(SEL_DATA, 0x3, false);

	sregs->cs = long_mode ? flat_segment(SEL_CODE64, 0xb, true) :
				flat_segment(SEL_CODE32, 0xb, false);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;

	sregs->tr = (struct kvm_segment){
		.base = GUEST_TSS, .limit = 0x67, .selector = SEL_TSS,
		.type = 0xb, .present = 1,
	};
	sregs->ldt = (struct kvm_segment){ .type = 0x2, .unusable = 1 };
	sregs->gdt.base = GUEST_GDT;
	sregs->gdt.limit = 8 * 8 - 1;
	/* No IDT: any exception escalates to a triple fault (shutdown). */
	sregs->idt.base = 0;
	sregs->idt.limit = 0;

	/* PE, MP, ET, NE; SSE enabled so tests may use it. */
	sregs->cr0 = 0x00000033;
	sregs->cr4 = (1 << 9) | (1 << 10);	/* OSFXSR | OSXMMEXCPT */
	sregs->efer = 0;
	if (long_mode) {
		sregs->cr0 |= 0x80000000;	/* PG */
		sregs->cr4 |= 1 << 5;		/* PAE */
		sregs->cr3 = GUEST_PML4;
		sregs->efer = (1 << 8) | (1 << 10);	/* LME | LMA */
	}
}

void vmm_vcpu_setup(struct vmm_vcpu *vcpu, enum vmm_mode mode, uint64_t gpa)
{
	uint64_t stack = GUEST_STACK_TOP - vcpu->id * 0x1000ull;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 0x2 };

	TEST_ASSERT(vcpu->id < 64, "stack layout allows 64 vCPUs");
	vmm_get_sregs(vcpu, &sregs);
	switch (mode) {
	case MODE_REAL:
		setup_real(&sregs, gpa, stack, &regs);
		break;
	case MODE_PROT32:
	case MODE_LONG64:
		setup_protected(&sregs, mode == MODE_LONG64);
		regs.rip = gpa;
		regs.rsp = stack;
		break;
	}
	vmm_set_sregs(vcpu, &sregs);
	vmm_set_regs(vcpu, &regs);
}

struct vmm_vcpu *vmm_vm_with_vcpu(enum vmm_mode mode,
				  const unsigned char *start,
				  const unsigned char *end)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);

	vmm_vm_load_code(vm, 0, start, end);
	vmm_vcpu_setup(vcpu, mode, GUEST_CODE_GPA);
	return vcpu;
}

int vmm_vcpu_run_raw(struct vmm_vcpu *vcpu)
{
	return ioctl(vcpu->fd, KVM_RUN, 0);
}

uint32_t vmm_vcpu_run(struct vmm_vcpu *vcpu)
{
	TEST_ASSERT(vmm_vcpu_run_raw(vcpu) == 0, "KVM_RUN: %s",
		    strerror(errno));
	return vcpu->run->exit_reason;
}

static const char *const exit_names[] = {
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
	[KVM_EXIT_SET_TPR] = "SET_TPR",
	[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	[KVM_EXIT_NMI] = "NMI",
	[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	[KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
	[KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
};

const char *vmm_exit_name(uint32_t reason)
{
	if (reason < ARRAY_SIZE(exit_names) && exit_names[reason])
		return exit_names[reason];
	return "?";
}

const char *vmm_exit_describe(struct vmm_vcpu *vcpu)
{
	static char buf[256];
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;
	int n;

	n = snprintf(buf, sizeof(buf), "exit %u (%s)", run->exit_reason,
		     vmm_exit_name(run->exit_reason));
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		n += snprintf(buf + n, sizeof(buf) - n,
			      " %s port %#x size %u count %u data %#llx",
			      run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			      run->io.port, run->io.size, run->io.count,
			      (unsigned long long)vmm_io_data(vcpu));
		break;
	case KVM_EXIT_MMIO:
		n += snprintf(buf + n, sizeof(buf) - n,
			      " %s gpa %#llx len %u",
			      run->mmio.is_write ? "write" : "read",
			      (unsigned long long)run->mmio.phys_addr,
			      run->mmio.len);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		n += snprintf(buf + n, sizeof(buf) - n, " suberror %u",
			      run->internal.suberror);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		n += snprintf(buf + n, sizeof(buf) - n, " reason %#llx",
			      (unsigned long long)
			      run->fail_entry.hardware_entry_failure_reason);
		break;
	}
	if (!ioctl(vcpu->fd, KVM_GET_REGS, &regs))
		snprintf(buf + n, sizeof(buf) - n, " rip %#llx",
			 (unsigned long long)regs.rip);
	return buf;
}

void vmm_expect_exit(struct vmm_vcpu *vcpu, uint32_t reason)
{
	uint32_t got = vmm_vcpu_run(vcpu);

	TEST_ASSERT(got == reason, "expected exit %s, got %s",
		    vmm_exit_name(reason), vmm_exit_describe(vcpu));
}

uint64_t vmm_io_data(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint64_t value = 0;

	if (run->io.size <= sizeof(value))
		memcpy(&value, (char *)run + run->io.data_offset,
		       run->io.size);
	return value;
}

void vmm_io_set_data(struct vmm_vcpu *vcpu, uint64_t value)
{
	struct kvm_run *run = vcpu->run;

	memcpy((char *)run + run->io.data_offset, &value, run->io.size);
}

void vmm_assert_io(struct vmm_vcpu *vcpu, uint8_t direction, uint16_t port,
		   uint8_t size, uint32_t count)
{
	struct kvm_run *run = vcpu->run;

	TEST_ASSERT(run->exit_reason == KVM_EXIT_IO &&
		    run->io.direction == direction && run->io.port == port &&
		    run->io.size == size && run->io.count == count,
		    "expected %s port %#x size %u count %u, got %s",
		    direction == KVM_EXIT_IO_OUT ? "out" : "in", port, size,
		    count, vmm_exit_describe(vcpu));
}

uint64_t vmm_guest_report(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	vmm_vcpu_run(vcpu);
	if (run->exit_reason == KVM_EXIT_IO &&
	    run->io.direction == KVM_EXIT_IO_OUT && run->io.count == 1) {
		if (run->io.port == PORT_REPORT)
			return vmm_io_data(vcpu);
		if (run->io.port == PORT_FAIL)
			TEST_FAIL("guest reported failure %#llx",
				  (unsigned long long)vmm_io_data(vcpu));
	}
	TEST_FAIL("expected a guest report, got %s", vmm_exit_describe(vcpu));
}

uint64_t vmm_guest_report64(struct vmm_vcpu *vcpu)
{
	uint64_t low = vmm_guest_report(vcpu);

	return low | vmm_guest_report(vcpu) << 32;
}

void vmm_guest_done(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	vmm_vcpu_run(vcpu);
	if (run->exit_reason == KVM_EXIT_IO &&
	    run->io.direction == KVM_EXIT_IO_OUT && run->io.count == 1) {
		if (run->io.port == PORT_DONE)
			return;
		if (run->io.port == PORT_FAIL)
			TEST_FAIL("guest reported failure %#llx",
				  (unsigned long long)vmm_io_data(vcpu));
	}
	TEST_FAIL("expected the guest to be done, got %s",
		  vmm_exit_describe(vcpu));
}
