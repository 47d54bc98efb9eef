/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the vmm robustness tools (ioctl-fuzz, guest-chaos,
 * teardown, load): a seeded PRNG, a minimal guest builder that reports
 * errors instead of asserting, KVM_RUN bounded by a per-thread timer, and a
 * monitor that runs the work in a child process (inside its own memory
 * cgroup when possible), kills it if it stops making progress, and checks
 * afterwards that the kernel got back every byte it charged.
 *
 * Like the selftests, the tools speak only <linux/kvm.h>: they run on
 * vmm.ko and on kvm_amd alike.
 */
#ifndef VMM_FUZZ_H
#define VMM_FUZZ_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/kvm.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define PAGE_SIZE	4096ul

/* ---- PRNG: xorshift64*, seeded through splitmix64 ---------------------- */

struct rng {
	uint64_t s;
};

void rng_seed(struct rng *r, uint64_t seed);
/* An independent stream for item `index` of the run seeded with `seed`. */
void rng_seed2(struct rng *r, uint64_t seed, uint64_t index);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n); 0 when n is 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
bool rng_chance(struct rng *r, unsigned int percent);
/* Mostly boundary values (0, 1, -1, powers of two and their neighbours). */
uint64_t rng_interesting(struct rng *r);
void rng_fill(struct rng *r, void *buf, size_t len);

/* ---- device and module ---------------------------------------------------- */

/* $VMM_DEV, else /dev/kvm. */
const char *fz_dev_path(void);
/* -1 with errno on failure. */
int fz_open_dev(void);
/* True when the device is vmm.ko (its documented errnos are then checked). */
bool fz_is_vmm(void);

/* ---- guests ---------------------------------------------------------------- */

/*
 * Slot 0 covers GPA 0 .. FZ_MEM_SIZE: GDT, TSS, identity page tables for
 * the low 4 GiB (2 MiB pages), an IDT area, code, data and stacks.
 */
#define FZ_MEM_SIZE	0x100000ul
#define FZ_GDT		0x1000
#define FZ_TSS		0x1800
#define FZ_PML4		0x2000	/* + PDPT + 4 PDs */
#define FZ_IDT		0x8000
#define FZ_CODE		0x10000
#define FZ_DATA		0x20000
#define FZ_STACK_TOP	0x90000
#define FZ_SEL_CODE64	0x08
#define FZ_SEL_DATA	0x10
#define FZ_SEL_CODE32	0x18
#define FZ_SEL_TSS	0x20
#define FZ_SEL_CODE16	0x30
#define FZ_SEL_DATA16	0x38

#define FZ_PORT_REPORT	0xe0
#define FZ_PORT_DONE	0xe1

enum fz_mode { FZ_REAL, FZ_PROT16, FZ_PROT32, FZ_LONG64, FZ_NR_MODES };
extern const char *const fz_mode_name[];

struct fz_vm {
	int sys_fd;
	int fd;
	size_t run_size;
	uint8_t *mem;		/* slot 0 */
	size_t mem_size;
};

struct fz_vcpu {
	struct fz_vm *vm;
	int fd;
	unsigned int id;
	struct kvm_run *run;
};

/* Guest code assembled as data, as in the selftests' GUEST_CODE(). */
#define FZ_GUEST_CODE(name, body)					\
	extern const unsigned char name##_start[], name##_end[];	\
	asm(".pushsection .rodata.guest." #name ",\"a\"\n"		\
	    ".globl " #name "_start\n"					\
	    ".globl " #name "_end\n"					\
	    #name "_start:\n"						\
	    body "\n"							\
	    #name "_end:\n"						\
	    ".code64\n"							\
	    ".popsection\n")
#define FZ_S_(x) #x
#define FZ_S(x) FZ_S_(x)

/* All return 0 or -errno and leave nothing behind on failure. */
int fz_vm_create(struct fz_vm *vm, int sys_fd);
void fz_vm_destroy(struct fz_vm *vm);
/* GDT, TSS and page tables into slot 0 (again, after a guest trashed them). */
void fz_vm_write_tables(struct fz_vm *vm);
int fz_vcpu_create(struct fz_vm *vm, unsigned int id, struct fz_vcpu *vcpu);
void fz_vcpu_destroy(struct fz_vcpu *vcpu);
/* Registers and segments for mode, RIP = rip, RSP = rsp. */
int fz_vcpu_setup(int vcpu_fd, enum fz_mode mode, uint64_t rip, uint64_t rsp);
void fz_mode_sregs(struct kvm_sregs *s, enum fz_mode mode, uint64_t rip);
/* The host's KVM_GET_SUPPORTED_CPUID (cached); NULL on error. */
struct kvm_cpuid2 *fz_supported_cpuid(int sys_fd);

/*
 * QEMU TCG (the rig) wedges the emulated CPU for good when it VMRUNs a
 * guest with EFER.LME set and CR0.PG clear (legal on hardware: LME only
 * takes effect with paging); kvm_amd and vmm alike then hang the test VM.
 * Unless VMM_FUZZ_REAL_HW=1, the tools never create that state.
 */
bool fz_avoid_tcg_hangs(void);
/*
 * QEMU 7.2's TCG also aborts (an assertion about its big lock in
 * tcg_handle_interrupt) when a nested guest writes CR8 while a virtual
 * interrupt is pending. fz_defuse_cr8_writes() turns MOV to CR8 (REX.R or
 * LOCK MOV CR0, AMD's alternative encoding) into MOV from CR.
 */
void fz_defuse_cr8_writes(uint8_t *code, size_t len);
#define FZ_EFER_LME	(1ull << 8)
#define FZ_MSR_EFER	0xc0000080u

/* ---- bounded KVM_RUN -------------------------------------------------------- */

/*
 * A per-thread interval timer sends SIGUSR2 to the calling thread every
 * `ms` milliseconds while fz_run_bounded() is in KVM_RUN, so a spinning
 * guest cannot keep a thread forever (a signal that comes before the entry
 * is followed by another one). The handler does nothing; KVM_RUN returns
 * EINTR. fz_timer_init() once per thread.
 */
#define FZ_TIMER_SIGNAL	SIGUSR2
int fz_timer_init(void);
void fz_timer_exit(void);
/* The raw ioctl result, errno intact. */
int fz_run_bounded(int vcpu_fd, unsigned int ms);
/* Answer a pending IN or MMIO read with random data, within the run page. */
void fz_complete_exit(struct kvm_run *run, size_t run_size, struct rng *r);
const char *fz_exit_name(uint32_t reason);
/* Sanity of the exit fields; NULL or what is wrong. */
const char *fz_check_exit(const struct kvm_run *run, size_t run_size);

/* ---- the monitor ---------------------------------------------------------- */

enum {
	FZ_STAT_ITER,		/* iterations / rounds / guests */
	FZ_STAT_IOCTL,		/* ioctl calls */
	FZ_STAT_IOCTL_ERR,	/* of which failed (as expected) */
	FZ_STAT_RUN,		/* KVM_RUN calls */
	FZ_STAT_EXIT,		/* exits handled */
	FZ_STAT_VMS,		/* VMs created */
	FZ_STAT_VCPUS,		/* vCPUs created */
	FZ_STAT_FORKS,
	FZ_STAT_KILLS,
	FZ_STAT_SLOT_OPS,
	FZ_STAT_CLOSES,
	FZ_STAT_MMAPS,
	FZ_STAT_X1,		/* tool-specific */
	FZ_STAT_X2,
	FZ_STAT_X3,
	FZ_STAT_X4,
	FZ_NR_STATS
};

#define FZ_MAX_THREADS	160
#define FZ_MAX_FAILS	16

/* Shared (MAP_SHARED) between the worker and the monitor. */
struct fz_shared {
	volatile uint64_t progress;
	uint64_t stats[FZ_NR_STATS];
	/* What each worker thread is doing, for a hang report. */
	char doing[FZ_MAX_THREADS][80];
	uint32_t nr_fails;
	char fails[FZ_MAX_FAILS][240];
	uint32_t distinct_ioctls;
};

extern struct fz_shared *fz;
extern uint64_t fz_seed;
extern const char *fz_name;

static inline void fz_stat(int which, uint64_t n)
{
	__atomic_add_fetch(&fz->stats[which], n, __ATOMIC_RELAXED);
}

static inline void fz_progress(void)
{
	__atomic_add_fetch(&fz->progress, 1, __ATOMIC_RELAXED);
}

/* Records what thread slot `t` is doing (shown if the run hangs). */
void fz_doing(int t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a failure (a finding); the run then fails. Thread-safe. */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An ioctl's result against the allowed errnos (0-terminated list). */
void fz_expect(long r, int err, const int *allowed, const char *what);

struct fz_options {
	uint64_t seed;
	uint64_t iterations;	/* 0: no limit */
	unsigned int seconds;	/* 0: no limit */
	unsigned int threads;
	unsigned int stall;	/* seconds without progress = hang */
	unsigned int verbose;
	/* Extra tool options: -a NUM and -b NUM. */
	uint64_t a, b;
	bool a_set, b_set;
};

/*
 * Parses -s SEED -n N -t SECONDS -j THREADS -a N -b N -v -h; prints usage
 * (with `extra` describing -a/-b) on -h or an error.
 */
void fz_parse(int argc, char **argv, struct fz_options *o, const char *usage);
/* True while the iteration and time limits allow another iteration. */
bool fz_more(const struct fz_options *o, uint64_t done);
uint64_t fz_now_ns(void);

/*
 * Runs work(o) in a child process with a progress watchdog, then checks
 * that the module's reference count and the kernel memory the child's
 * cgroup was charged came back, and prints the summary line. Returns the
 * process exit status: 0 pass, 1 fail, 4 skip (no device).
 */
int fz_main(const struct fz_options *o, int (*work)(const struct fz_options *),
	    void (*summary)(const struct fz_options *, char *, size_t));

#endif /* VMM_FUZZ_H */
