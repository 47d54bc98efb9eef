/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VMCB: AMD64 APM Vol. 2, Appendix B "Layout of VMCB".
 * Offsets are pinned with static_assert because the hardware reads them.
 */
#ifndef _VMM_SVM_VMCB_H
#define _VMM_SVM_VMCB_H

#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <linux/types.h>

/* Intercept vectors, APM Table B-1; VMCB_INTERCEPT(word, bit). */
enum svm_intercept_word {
	SVM_ICPT_CR, SVM_ICPT_DR, SVM_ICPT_EXC, SVM_ICPT_MISC1, SVM_ICPT_MISC2,
	SVM_ICPT_MISC3, SVM_NR_ICPT_WORDS
};

/* word SVM_ICPT_MISC1 */
#define SVM_MISC1_INTR		BIT(0)
#define SVM_MISC1_NMI		BIT(1)
#define SVM_MISC1_SMI		BIT(2)
#define SVM_MISC1_INIT		BIT(3)
#define SVM_MISC1_VINTR		BIT(4)
#define SVM_MISC1_CPUID		BIT(18)
#define SVM_MISC1_IRET		BIT(20)
#define SVM_MISC1_RSM		BIT(19)
#define SVM_MISC1_INVD		BIT(22)
#define SVM_MISC1_HLT		BIT(24)
#define SVM_MISC1_INVLPGA	BIT(26)
#define SVM_MISC1_IOIO		BIT(27)
#define SVM_MISC1_MSR		BIT(28)
#define SVM_MISC1_TASK_SWITCH	BIT(29)
#define SVM_MISC1_SHUTDOWN	BIT(31)

/* word SVM_ICPT_MISC2 */
#define SVM_MISC2_VMRUN		BIT(0)
#define SVM_MISC2_VMMCALL	BIT(1)
#define SVM_MISC2_VMLOAD	BIT(2)
#define SVM_MISC2_VMSAVE	BIT(3)
#define SVM_MISC2_STGI		BIT(4)
#define SVM_MISC2_CLGI		BIT(5)
#define SVM_MISC2_SKINIT	BIT(6)
#define SVM_MISC2_RDTSCP	BIT(7)
#define SVM_MISC2_MONITOR	BIT(10)
#define SVM_MISC2_MWAIT		BIT(11)
#define SVM_MISC2_MWAIT_COND	BIT(12)
#define SVM_MISC2_XSETBV	BIT(13)
#define SVM_MISC2_RDPRU		BIT(14)

/* int_ctl */
#define SVM_INT_V_TPR_MASK	0xff
#define SVM_INT_V_IRQ		BIT(8)
#define SVM_INT_V_INTR_PRIO_SHIFT 16
#define SVM_INT_V_IGN_TPR	BIT(20)
#define SVM_INT_V_INTR_MASKING	BIT(24)

/* int_state */
#define SVM_INT_SHADOW		BIT(0)

/* EVENTINJ and EXITINTINFO, APM 15.20 */
#define SVM_EVT_VECTOR_MASK	0xff
#define SVM_EVT_TYPE_SHIFT	8
#define SVM_EVT_TYPE_MASK	(7 << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_TYPE_INTR	(0 << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_TYPE_NMI	(2 << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_TYPE_EXC	(3 << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_TYPE_SOFT	(4 << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_EV		BIT(11)
#define SVM_EVT_VALID		BIT(31)

#define SVM_NP_ENABLE		BIT_ULL(0)

#define SVM_TLB_FLUSH_NONE	0
#define SVM_TLB_FLUSH_ALL	1	/* all ASIDs; needs no CPUID feature */

/* IOIO EXITINFO1, APM 15.10.2 */
#define SVM_IOIO_IN		BIT(0)
#define SVM_IOIO_STR		BIT(2)
#define SVM_IOIO_REP		BIT(3)
#define SVM_IOIO_SIZE_SHIFT	4
#define SVM_IOIO_SIZE_MASK	(7 << SVM_IOIO_SIZE_SHIFT)
#define SVM_IOIO_PORT_SHIFT	16

/* NPF EXITINFO1: a #PF-style error code, APM 15.25.6 */
#define SVM_NPF_PRESENT		BIT_ULL(0)
#define SVM_NPF_WRITE		BIT_ULL(1)
#define SVM_NPF_FETCH		BIT_ULL(4)
#define SVM_NPF_FINAL		BIT_ULL(32)	/* at the final GPA, not a table */

/* CPUID Fn8000_000A EDX */
#define SVM_FEATURE_NPT		BIT(0)
#define SVM_FEATURE_NRIPS	BIT(3)
#define SVM_FEATURE_DECODE_ASSISTS BIT(7)

/* MSR VM_CR (APM 15.30.1) */
#define SVM_VM_CR_SVMDIS	BIT(4)

/* Exit codes, APM Appendix C */
#define SVM_EXIT_READ_CR0	0x000
#define SVM_EXIT_WRITE_CR0	0x010
#define SVM_EXIT_READ_DR0	0x020
#define SVM_EXIT_WRITE_DR0	0x030
#define SVM_EXIT_EXCP_BASE	0x040
#define SVM_EXIT_INTR		0x060
#define SVM_EXIT_NMI		0x061
#define SVM_EXIT_SMI		0x062
#define SVM_EXIT_INIT		0x063
#define SVM_EXIT_VINTR		0x064
#define SVM_EXIT_CPUID		0x072
#define SVM_EXIT_RSM		0x073
#define SVM_EXIT_IRET		0x074
#define SVM_EXIT_INVD		0x076
#define SVM_EXIT_PAUSE		0x077
#define SVM_EXIT_HLT		0x078
#define SVM_EXIT_INVLPGA	0x07a
#define SVM_EXIT_IOIO		0x07b
#define SVM_EXIT_MSR		0x07c
#define SVM_EXIT_TASK_SWITCH	0x07d
#define SVM_EXIT_SHUTDOWN	0x07f
#define SVM_EXIT_VMRUN		0x080
#define SVM_EXIT_VMMCALL	0x081
#define SVM_EXIT_VMLOAD		0x082
#define SVM_EXIT_VMSAVE		0x083
#define SVM_EXIT_STGI		0x084
#define SVM_EXIT_CLGI		0x085
#define SVM_EXIT_SKINIT		0x086
#define SVM_EXIT_RDTSCP		0x087
#define SVM_EXIT_MONITOR	0x08a
#define SVM_EXIT_MWAIT		0x08b
#define SVM_EXIT_MWAIT_COND	0x08c
#define SVM_EXIT_XSETBV		0x08d
#define SVM_EXIT_RDPRU		0x08e
#define SVM_EXIT_NPF		0x400
#define SVM_EXIT_INVALID	((u64)-1)

struct vmcb_control {
	u32 intercepts[SVM_NR_ICPT_WORDS];	/* 0x000 */
	u8 reserved_018[0x03c - 0x018];
	u16 pause_filter_threshold;		/* 0x03c */
	u16 pause_filter_count;			/* 0x03e */
	u64 iopm_base_pa;			/* 0x040 */
	u64 msrpm_base_pa;			/* 0x048 */
	u64 tsc_offset;				/* 0x050 */
	u32 asid;				/* 0x058 */
	u8 tlb_control;				/* 0x05c */
	u8 reserved_05d[3];
	u32 int_ctl;				/* 0x060 */
	u32 int_vector;				/* 0x064 */
	u32 int_state;				/* 0x068 */
	u8 reserved_06c[4];
	u64 exit_code;				/* 0x070 */
	u64 exit_info_1;			/* 0x078 */
	u64 exit_info_2;			/* 0x080 */
	u32 exit_int_info;			/* 0x088 */
	u32 exit_int_info_err;			/* 0x08c */
	u64 nested_ctl;				/* 0x090 */
	u64 avic_vapic_bar;			/* 0x098 */
	u64 ghcb_pa;				/* 0x0a0 */
	u32 event_inj;				/* 0x0a8 */
	u32 event_inj_err;			/* 0x0ac */
	u64 nested_cr3;				/* 0x0b0 */
	u64 virt_ext;				/* 0x0b8 */
	u32 clean;				/* 0x0c0 */
	u32 reserved_0c4;
	u64 next_rip;				/* 0x0c8 */
	u8 insn_len;				/* 0x0d0 */
	u8 insn_bytes[15];			/* 0x0d1 */
	u8 reserved_0e0[0x400 - 0x0e0];
} __packed;

struct vmcb_seg {
	u16 selector;
	u16 attrib;	/* type:4 S:1 DPL:2 P:1 AVL:1 L:1 DB:1 G:1 */
	u32 limit;
	u64 base;
} __packed;

struct vmcb_save {
	struct vmcb_seg es;			/* 0x000 */
	struct vmcb_seg cs;
	struct vmcb_seg ss;
	struct vmcb_seg ds;
	struct vmcb_seg fs;
	struct vmcb_seg gs;
	struct vmcb_seg gdtr;
	struct vmcb_seg ldtr;
	struct vmcb_seg idtr;
	struct vmcb_seg tr;			/* 0x090 */
	u8 reserved_0a0[0x0cb - 0x0a0];
	u8 cpl;					/* 0x0cb */
	u32 reserved_0cc;
	u64 efer;				/* 0x0d0 */
	u8 reserved_0d8[0x148 - 0x0d8];
	u64 cr4;				/* 0x148 */
	u64 cr3;				/* 0x150 */
	u64 cr0;				/* 0x158 */
	u64 dr7;				/* 0x160 */
	u64 dr6;				/* 0x168 */
	u64 rflags;				/* 0x170 */
	u64 rip;				/* 0x178 */
	u8 reserved_180[0x1d8 - 0x180];
	u64 rsp;				/* 0x1d8 */
	u8 reserved_1e0[0x1f8 - 0x1e0];
	u64 rax;				/* 0x1f8 */
	u64 star;				/* 0x200 */
	u64 lstar;				/* 0x208 */
	u64 cstar;				/* 0x210 */
	u64 sfmask;				/* 0x218 */
	u64 kernel_gs_base;			/* 0x220 */
	u64 sysenter_cs;			/* 0x228 */
	u64 sysenter_esp;			/* 0x230 */
	u64 sysenter_eip;			/* 0x238 */
	u64 cr2;				/* 0x240 */
	u8 reserved_248[0x268 - 0x248];
	u64 g_pat;				/* 0x268 */
	u64 dbgctl;				/* 0x270 */
} __packed;

struct vmcb {
	struct vmcb_control control;
	struct vmcb_save save;
} __packed;

static_assert(offsetof(struct vmcb_control, iopm_base_pa) == 0x040);
static_assert(offsetof(struct vmcb_control, asid) == 0x058);
static_assert(offsetof(struct vmcb_control, int_ctl) == 0x060);
static_assert(offsetof(struct vmcb_control, exit_code) == 0x070);
static_assert(offsetof(struct vmcb_control, exit_int_info) == 0x088);
static_assert(offsetof(struct vmcb_control, event_inj) == 0x0a8);
static_assert(offsetof(struct vmcb_control, nested_cr3) == 0x0b0);
static_assert(offsetof(struct vmcb_control, next_rip) == 0x0c8);
static_assert(sizeof(struct vmcb_control) == 0x400);
static_assert(offsetof(struct vmcb_save, tr) == 0x090);
static_assert(offsetof(struct vmcb_save, cpl) == 0x0cb);
static_assert(offsetof(struct vmcb_save, efer) == 0x0d0);
static_assert(offsetof(struct vmcb_save, cr4) == 0x148);
static_assert(offsetof(struct vmcb_save, rip) == 0x178);
static_assert(offsetof(struct vmcb_save, rsp) == 0x1d8);
static_assert(offsetof(struct vmcb_save, rax) == 0x1f8);
static_assert(offsetof(struct vmcb_save, cr2) == 0x240);
static_assert(offsetof(struct vmcb_save, g_pat) == 0x268);
static_assert(sizeof(struct vmcb) <= 4096);

#endif /* _VMM_SVM_VMCB_H */
