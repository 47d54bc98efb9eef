/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small kvmtool-style library for the vmm selftests.
 *
 * The tests speak only the KVM API from <linux/kvm.h>, so every test binary
 * runs unchanged against our module and against the real kvm_amd/kvm_intel:
 * the latter is how we prove that a test encodes KVM's semantics.
 *
 * A test program is a list of TEST(name) cases. Each case runs in its own
 * forked child with a timeout, so a failed assertion (which exits the child)
 * or a crash only takes down that case, and the parent prints the TAP line.
 */
#ifndef VMM_TEST_H
#define VMM_TEST_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/kvm.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- test registration and TAP output ---------------------------------- */

struct vmm_test_case {
	const char *name;
	void (*fn)(void);
	unsigned int timeout;	/* seconds, 0 means the default */
	struct vmm_test_case *next;
};

void vmm_test_register(struct vmm_test_case *tc);
int vmm_test_main(int argc, char **argv);

#define VMM_TEST_DEFAULT_TIMEOUT 30

#define TEST_TIMEOUT(id, secs)					\
	static void test_##id(void);					\
	static struct vmm_test_case tc_##id = {			\
		.name = #id, .fn = test_##id, .timeout = (secs),	\
	};								\
	static void __attribute__((constructor)) reg_##id(void)	\
	{								\
		vmm_test_register(&tc_##id);				\
	}								\
	static void test_##id(void)

#define TEST(id) TEST_TIMEOUT(id, 0)

#define TEST_MAIN()							\
	int main(int argc, char **argv)					\
	{								\
		return vmm_test_main(argc, argv);			\
	}

/* Both end the current case (they exit the forked child). */
void __attribute__((noreturn, format(printf, 4, 5)))
vmm_test_fail(const char *file, int line, const char *expr,
	      const char *fmt, ...);
void __attribute__((noreturn, format(printf, 1, 2)))
vmm_test_skip(const char *fmt, ...);
void __attribute__((format(printf, 1, 2))) vmm_test_info(const char *fmt, ...);

#define TEST_FAIL(fmt, ...)						\
	vmm_test_fail(__FILE__, __LINE__, NULL, fmt, ##__VA_ARGS__)

#define TEST_ASSERT(cond, fmt, ...)					\
	do {								\
		if (!(cond))						\
			vmm_test_fail(__FILE__, __LINE__, #cond,	\
				      fmt, ##__VA_ARGS__);		\
	} while (0)

#define TEST_ASSERT_EQ(a, b)						\
	do {								\
		unsigned long long __a = (unsigned long long)(a);	\
		unsigned long long __b = (unsigned long long)(b);	\
		if (__a != __b)						\
			vmm_test_fail(__FILE__, __LINE__, #a " == " #b,	\
				      "0x%llx != 0x%llx", __a, __b);	\
	} while (0)

/* An ioctl (or any libc call) that must succeed. */
#define TEST_ASSERT_OK(expr)						\
	do {								\
		long __r = (long)(expr);				\
		if (__r < 0)						\
			vmm_test_fail(__FILE__, __LINE__, #expr,	\
				      "returned %ld, errno %d (%s)",	\
				      __r, errno, strerror(errno));	\
	} while (0)

/* A call that must fail with exactly -1 and the given errno. */
#define TEST_ASSERT_ERRNO(expr, err)					\
	do {								\
		errno = 0;						\
		long __r = (long)(expr);				\
		int __e = errno;					\
		if (__r != -1 || __e != (err))				\
			vmm_test_fail(__FILE__, __LINE__, #expr,	\
				      "returned %ld errno %d (%s), "	\
				      "expected -1 errno %d (%s)",	\
				      __r, __e, strerror(__e), (err),	\
				      strerror(err));			\
	} while (0)

#define TEST_SKIP(fmt, ...) vmm_test_skip(fmt, ##__VA_ARGS__)

/* ---- guest code ---------------------------------------------------------- */

/*
 * Guest code is assembled into the test binary as data between two symbols
 * and copied into guest memory, so it never depends on where the binary
 * itself is loaded. Snippets must be position independent apart from
 * absolute guest addresses, which they take from the GUEST_* constants
 * below (stringified with S()).
 *
 *	GUEST_CODE(hello,
 *		".code64\n"
 *		"mov $42, %eax\n"
 *		GUEST_REPORT_EAX
 *		GUEST_DONE);
 */
#define GUEST_CODE(name, body)						\
	extern const unsigned char name##_start[], name##_end[];	\
	asm(".pushsection .rodata.guest." #name ",\"a\"\n"		\
	    ".globl " #name "_start\n"					\
	    ".globl " #name "_end\n"					\
	    #name "_start:\n"						\
	    body "\n"							\
	    #name "_end:\n"						\
	    ".code64\n"							\
	    ".popsection\n")

/* A (start, end) pair for the loader. */
#define GUEST(name) name##_start, name##_end

#define S_(x) #x
#define S(x) S_(x)

/*
 * Ports the guest uses to talk to the test. They are free on a VM without
 * an in-kernel irqchip or PIT, so every access is a KVM_EXIT_IO.
 */
#define PORT_REPORT	0xe0	/* OUT of 1/2/4 bytes: a value for the test */
#define PORT_DONE	0xe1	/* the guest finished successfully */
#define PORT_FAIL	0xe2	/* OUT of 4 bytes: a guest-side check failed */

#define GUEST_REPORT_AL		"outb %al, $" S(PORT_REPORT) "\n"
#define GUEST_REPORT_AX		"outw %ax, $" S(PORT_REPORT) "\n"
#define GUEST_REPORT_EAX	"outl %eax, $" S(PORT_REPORT) "\n"
/* All of RAX, as two reports (low half first); clobbers RAX. */
#define GUEST_REPORT_RAX	GUEST_REPORT_EAX "shr $32, %rax\n" GUEST_REPORT_EAX
#define GUEST_DONE		"outb %al, $" S(PORT_DONE) "\n"
#define GUEST_FAIL_EAX		"outl %eax, $" S(PORT_FAIL) "\n"

/*
 * Layout of slot 0, which covers GPA 0 .. 640 KiB like a PC's low memory,
 * so 0xa0000 .. 0xfffff stays a hole reachable from real mode for MMIO.
 */
#define GUEST_MEM_SIZE		0xa0000
#define GUEST_GDT		0x1000	/* GDT, 8 entries */
#define GUEST_TSS		0x1800
#define GUEST_PML4		0x2000	/* + PDPT + 4 PDs: 4 GiB identity */
#define GUEST_CODE_GPA		0x10000	/* where guest code is loaded */
#define GUEST_CODE_MAX		0x10000
#define GUEST_DATA		0x20000	/* free for tests up to the stack */
#define GUEST_STACK_TOP		0x90000	/* each vCPU gets 4 KiB below it */
#define GUEST_MMIO		0xc0000000	/* no slot there by default */

/* GDT selectors built by the library. */
#define SEL_CODE64	0x08
#define SEL_DATA	0x10
#define SEL_CODE32	0x18
#define SEL_TSS		0x20

enum vmm_mode {
	MODE_REAL,	/* CS = GUEST_CODE_GPA >> 4, IP = 0 */
	MODE_PROT32,	/* flat 4 GiB segments, no paging */
	MODE_LONG64,	/* 4-level paging, identity map of the low 4 GiB */
};

extern const char *const vmm_mode_name[];

/* ---- VMs and vCPUs ------------------------------------------------------- */

#define VMM_MAX_SLOTS 128

struct vmm_slot {
	bool used;
	uint32_t slot;
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
	void *hva;
};

struct vmm_vm {
	int kvm_fd;		/* the system fd the VM came from */
	int fd;
	size_t run_size;
	struct vmm_slot slots[VMM_MAX_SLOTS];
};

struct vmm_vcpu {
	struct vmm_vm *vm;
	int fd;
	unsigned int id;
	struct kvm_run *run;
};

/* Path of the device: $VMM_DEV, else /dev/kvm. */
const char *vmm_dev_path(void);
/* Opens the device; SKIPs the case if it doesn't exist. */
int vmm_open_dev(void);
/* KVM_CHECK_EXTENSION on a fresh system fd. */
int vmm_check_cap(long cap);

/* A VM with slot 0 (GUEST_MEM_SIZE at GPA 0), page tables and a GDT. */
struct vmm_vm *vmm_vm_create(void);
/* A VM with no memory at all. */
struct vmm_vm *vmm_vm_create_bare(void);
void vmm_vm_free(struct vmm_vm *vm);

/* Adds (or, with an existing slot number, changes) a memslot; asserts. */
void *vmm_vm_add_slot(struct vmm_vm *vm, uint32_t slot, uint64_t gpa,
		      uint64_t size, uint32_t flags);
/* The raw ioctl, for error tests; updates the bookkeeping on success. */
int vmm_vm_set_slot(struct vmm_vm *vm, uint32_t slot, uint32_t flags,
		    uint64_t gpa, uint64_t size, void *hva);
void vmm_vm_move_slot(struct vmm_vm *vm, uint32_t slot, uint64_t new_gpa);
void vmm_vm_delete_slot(struct vmm_vm *vm, uint32_t slot);
/* Host address of guest memory; asserts the GPA is in a slot. */
void *vmm_gpa_to_hva(struct vmm_vm *vm, uint64_t gpa);

/* Copies code to GUEST_CODE_GPA + offset. */
void vmm_vm_load_code(struct vmm_vm *vm, uint64_t offset,
		      const unsigned char *start, const unsigned char *end);

/* Creates vCPU id, with the supported CPUID and its kvm_run mapped. */
struct vmm_vcpu *vmm_vcpu_create(struct vmm_vm *vm, unsigned int id);
/* Puts the vCPU in a mode with RIP at gpa, through SET_SREGS/SET_REGS. */
void vmm_vcpu_setup(struct vmm_vcpu *vcpu, enum vmm_mode mode, uint64_t gpa);
/* The common case: VM + one vCPU in mode running the code at offset 0. */
struct vmm_vcpu *vmm_vm_with_vcpu(enum vmm_mode mode,
				  const unsigned char *start,
				  const unsigned char *end);
void vmm_vcpu_free(struct vmm_vcpu *vcpu);

void vmm_get_regs(struct vmm_vcpu *vcpu, struct kvm_regs *regs);
void vmm_set_regs(struct vmm_vcpu *vcpu, const struct kvm_regs *regs);
void vmm_get_sregs(struct vmm_vcpu *vcpu, struct kvm_sregs *sregs);
void vmm_set_sregs(struct vmm_vcpu *vcpu, const struct kvm_sregs *sregs);

/* ---- running ------------------------------------------------------------- */

/* KVM_RUN: the raw return value, errno intact. */
int vmm_vcpu_run_raw(struct vmm_vcpu *vcpu);
/* KVM_RUN that must succeed; returns run->exit_reason. */
uint32_t vmm_vcpu_run(struct vmm_vcpu *vcpu);
/* Runs once and asserts the exit reason (printing the exit if not). */
void vmm_expect_exit(struct vmm_vcpu *vcpu, uint32_t reason);
/* Runs until the guest reports; fails on FAIL, DONE or other exits. */
uint64_t vmm_guest_report(struct vmm_vcpu *vcpu);
/* Two reports making up a GUEST_REPORT_RAX. */
uint64_t vmm_guest_report64(struct vmm_vcpu *vcpu);
/* Runs and expects the guest to signal DONE. */
void vmm_guest_done(struct vmm_vcpu *vcpu);
/* Checks that the last exit was an I/O exit with these properties. */
void vmm_assert_io(struct vmm_vcpu *vcpu, uint8_t direction, uint16_t port,
		   uint8_t size, uint32_t count);
/* Data of the last single (count 1) I/O exit, zero-extended. */
uint64_t vmm_io_data(struct vmm_vcpu *vcpu);
void vmm_io_set_data(struct vmm_vcpu *vcpu, uint64_t value);

/*
 * The "accessor" guest: a 64-bit loop that reads or writes one 32-bit word
 * of guest memory per command the host gives it through IN, and reports
 * the value (or an acknowledgement). It lets a test poke guest memory from
 * inside the guest at any GPA, between host-side changes.
 */
#define PORT_ACCESS_OP		0xe4
#define PORT_ACCESS_ADDR	0xe5
#define PORT_ACCESS_VALUE	0xe6
#define ACCESS_WRITE_ACK	0xacc

struct vmm_vcpu *vmm_accessor_create(void);
/* Sends one command; returns after the guest's IN for the address. */
void vmm_accessor_send(struct vmm_vcpu *vcpu, bool write, uint64_t gpa);
uint32_t vmm_accessor_read(struct vmm_vcpu *vcpu, uint64_t gpa);
void vmm_accessor_write(struct vmm_vcpu *vcpu, uint64_t gpa, uint32_t value);
/* A read of gpa that must exit as a 4-byte MMIO read, answered with data. */
void vmm_accessor_read_mmio(struct vmm_vcpu *vcpu, uint64_t gpa,
			    uint32_t data);
/* A write of gpa that must exit as a 4-byte MMIO write of value. */
void vmm_accessor_write_mmio(struct vmm_vcpu *vcpu, uint64_t gpa,
			     uint32_t value);

const char *vmm_exit_name(uint32_t reason);
/* A one-line description of the last exit, for messages. */
const char *vmm_exit_describe(struct vmm_vcpu *vcpu);

/* ---- interrupts and exceptions in 64-bit guests ------------------------- */

/*
 * A guest-code label the host can find: put GUEST_LABEL(x) in the snippet,
 * declare GUEST_LABEL_DECL(x) in C, and GUEST_LABEL_GPA(code, x) is its
 * guest-physical (= virtual) address once code is loaded at offset 0.
 */
#define GUEST_LABEL(label)	".globl " #label "\n" #label ":\n"
#define GUEST_LABEL_DECL(label)	extern const unsigned char label[]
#define GUEST_LABEL_GPA(code, label)					\
	(GUEST_CODE_GPA + (uint64_t)((label) - code##_start))

#define GUEST_IDT	0x8000	/* 256 16-byte gates, after the page tables */

/* Makes vector an interrupt gate (IF cleared on entry) to handler_gpa. */
void vmm_vm_set_idt_gate(struct vmm_vm *vm, uint8_t vector,
			 uint64_t handler_gpa);
/* Points the vCPU's IDTR at GUEST_IDT; call after vmm_vcpu_setup(). */
void vmm_vcpu_load_idt(struct vmm_vcpu *vcpu);

/* ---- misc ---------------------------------------------------------------- */

/* An entry of KVM_GET_SUPPORTED_CPUID (what every vCPU is given); asserts. */
const struct kvm_cpuid_entry2 *vmm_cpuid_entry(uint32_t function,
					       uint32_t index);
bool vmm_cpu_is_intel(void);
/*
 * Skips the case where the host cannot interrupt a guest that spins with
 * IF=0 and never exits (Bochs 2.7, the Intel test VM): call it before
 * running such a guest, which would otherwise wedge a host CPU.
 */
void vmm_require_kickable_guest(void);

uint64_t vmm_now_ns(void);

#endif /* VMM_TEST_H */
