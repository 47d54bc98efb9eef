/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VMCS: field encodings (Intel SDM Vol. 3D, Appendix B "Field Encoding
 * in VMCS"), execution/exit/entry control bits (Vol. 3C, ch. 25 "Virtual
 * Machine Control Structures"), exit reasons (Vol. 3D, Appendix C) and the
 * formats of the fields vmx.c decodes.  The VMCS layout itself is opaque:
 * it is reached only through VMREAD/VMWRITE.
 */
#ifndef _VMM_VMX_VMCS_H
#define _VMM_VMX_VMCS_H

#include <linux/bits.h>
#include <linux/types.h>

/* 16-bit fields */
#define VMCS_VPID			0x0000
#define VMCS_GUEST_SEL(seg)		(0x0800 + 2 * (seg))	/* ES..TR */
#define VMCS_HOST_ES_SEL		0x0c00
#define VMCS_HOST_CS_SEL		0x0c02
#define VMCS_HOST_SS_SEL		0x0c04
#define VMCS_HOST_DS_SEL		0x0c06
#define VMCS_HOST_FS_SEL		0x0c08
#define VMCS_HOST_GS_SEL		0x0c0a
#define VMCS_HOST_TR_SEL		0x0c0c

/* 64-bit fields */
#define VMCS_MSR_BITMAP			0x2004
#define VMCS_EXIT_MSR_STORE_ADDR	0x2006
#define VMCS_EXIT_MSR_LOAD_ADDR		0x2008
#define VMCS_ENTRY_MSR_LOAD_ADDR	0x200a
#define VMCS_TSC_OFFSET			0x2010
#define VMCS_EPT_POINTER		0x201a
#define VMCS_GUEST_PHYS_ADDR		0x2400
#define VMCS_LINK_POINTER		0x2800
#define VMCS_GUEST_DEBUGCTL		0x2802
#define VMCS_GUEST_PAT			0x2804
#define VMCS_GUEST_EFER			0x2806
#define VMCS_GUEST_PDPTE(n)		(0x280a + 2 * (n))
#define VMCS_HOST_PAT			0x2c00
#define VMCS_HOST_EFER			0x2c02

/* 32-bit fields */
#define VMCS_PIN_CTLS			0x4000
#define VMCS_PROC_CTLS			0x4002
#define VMCS_EXCEPTION_BITMAP		0x4004
#define VMCS_PF_ERROR_MASK		0x4006
#define VMCS_PF_ERROR_MATCH		0x4008
#define VMCS_CR3_TARGET_COUNT		0x400a
#define VMCS_EXIT_CTLS			0x400c
#define VMCS_EXIT_MSR_STORE_COUNT	0x400e
#define VMCS_EXIT_MSR_LOAD_COUNT	0x4010
#define VMCS_ENTRY_CTLS			0x4012
#define VMCS_ENTRY_MSR_LOAD_COUNT	0x4014
#define VMCS_ENTRY_INTR_INFO		0x4016
#define VMCS_ENTRY_EXCEPTION_ERROR	0x4018
#define VMCS_ENTRY_INSN_LEN		0x401a
#define VMCS_PROC_CTLS2			0x401e
#define VMCS_INSN_ERROR			0x4400
#define VMCS_EXIT_REASON		0x4402
#define VMCS_EXIT_INTR_INFO		0x4404
#define VMCS_EXIT_INTR_ERROR		0x4406
#define VMCS_IDT_VECTORING_INFO		0x4408
#define VMCS_IDT_VECTORING_ERROR	0x440a
#define VMCS_EXIT_INSN_LEN		0x440c
#define VMCS_GUEST_LIMIT(seg)		(0x4800 + 2 * (seg))	/* ES..TR */
#define VMCS_GUEST_GDTR_LIMIT		0x4810
#define VMCS_GUEST_IDTR_LIMIT		0x4812
#define VMCS_GUEST_AR(seg)		(0x4814 + 2 * (seg))	/* ES..TR */
#define VMCS_GUEST_INTERRUPTIBILITY	0x4824
#define VMCS_GUEST_ACTIVITY		0x4826
#define VMCS_GUEST_SYSENTER_CS		0x482a
#define VMCS_PREEMPTION_TIMER		0x482e
#define VMCS_HOST_SYSENTER_CS		0x4c00

/* Natural-width fields */
#define VMCS_CR0_MASK			0x6000
#define VMCS_CR4_MASK			0x6002
#define VMCS_CR0_SHADOW			0x6004
#define VMCS_CR4_SHADOW			0x6006
#define VMCS_EXIT_QUAL			0x6400
#define VMCS_GUEST_CR0			0x6800
#define VMCS_GUEST_CR3			0x6802
#define VMCS_GUEST_CR4			0x6804
#define VMCS_GUEST_BASE(seg)		(0x6806 + 2 * (seg))	/* ES..TR */
#define VMCS_GUEST_GDTR_BASE		0x6816
#define VMCS_GUEST_IDTR_BASE		0x6818
#define VMCS_GUEST_DR7			0x681a
#define VMCS_GUEST_RSP			0x681c
#define VMCS_GUEST_RIP			0x681e
#define VMCS_GUEST_RFLAGS		0x6820
#define VMCS_GUEST_PENDING_DBG		0x6822
#define VMCS_GUEST_SYSENTER_ESP		0x6824
#define VMCS_GUEST_SYSENTER_EIP		0x6826
#define VMCS_HOST_CR0			0x6c00
#define VMCS_HOST_CR3			0x6c02
#define VMCS_HOST_CR4			0x6c04
#define VMCS_HOST_FS_BASE		0x6c06
#define VMCS_HOST_GS_BASE		0x6c08
#define VMCS_HOST_TR_BASE		0x6c0a
#define VMCS_HOST_GDTR_BASE		0x6c0c
#define VMCS_HOST_IDTR_BASE		0x6c0e
#define VMCS_HOST_SYSENTER_ESP		0x6c10
#define VMCS_HOST_SYSENTER_EIP		0x6c12
#define VMCS_HOST_RSP			0x6c14
#define VMCS_HOST_RIP			0x6c16

/* Pin-based VM-execution controls (SDM 25.6.1) */
#define PIN_EXTINT_EXITING		BIT(0)
#define PIN_NMI_EXITING			BIT(3)
#define PIN_VIRTUAL_NMIS		BIT(5)
#define PIN_PREEMPTION_TIMER		BIT(6)

/* Primary processor-based VM-execution controls (SDM 25.6.2) */
#define PROC_INTR_WINDOW		BIT(2)
#define PROC_TSC_OFFSETTING		BIT(3)
#define PROC_HLT_EXITING		BIT(7)
#define PROC_INVLPG_EXITING		BIT(9)
#define PROC_MWAIT_EXITING		BIT(10)
#define PROC_RDPMC_EXITING		BIT(11)
#define PROC_RDTSC_EXITING		BIT(12)
#define PROC_CR3_LOAD_EXITING		BIT(15)
#define PROC_CR3_STORE_EXITING		BIT(16)
#define PROC_CR8_LOAD_EXITING		BIT(19)
#define PROC_CR8_STORE_EXITING		BIT(20)
#define PROC_TPR_SHADOW			BIT(21)
#define PROC_NMI_WINDOW			BIT(22)
#define PROC_MOV_DR_EXITING		BIT(23)
#define PROC_UNCOND_IO_EXITING		BIT(24)
#define PROC_IO_BITMAPS			BIT(25)
#define PROC_MSR_BITMAPS		BIT(28)
#define PROC_MONITOR_EXITING		BIT(29)
#define PROC_PAUSE_EXITING		BIT(30)
#define PROC_SECONDARY			BIT(31)

/* Secondary processor-based VM-execution controls (SDM 25.6.2) */
#define PROC2_EPT			BIT(1)
#define PROC2_DESC_TABLE_EXITING	BIT(2)
#define PROC2_RDTSCP			BIT(3)
#define PROC2_VPID			BIT(5)
#define PROC2_WBINVD_EXITING		BIT(6)
#define PROC2_UNRESTRICTED_GUEST	BIT(7)
#define PROC2_INVPCID			BIT(12)
#define PROC2_XSAVES			BIT(20)

/* VM-exit controls (SDM 25.7.1) */
#define EXIT_SAVE_DEBUG			BIT(2)
#define EXIT_HOST_64BIT			BIT(9)
#define EXIT_ACK_INTR			BIT(15)
#define EXIT_SAVE_PAT			BIT(18)
#define EXIT_LOAD_PAT			BIT(19)
#define EXIT_SAVE_EFER			BIT(20)
#define EXIT_LOAD_EFER			BIT(21)

/* VM-entry controls (SDM 25.8.1) */
#define ENTRY_LOAD_DEBUG		BIT(2)
#define ENTRY_IA32E_GUEST		BIT(9)
#define ENTRY_LOAD_PAT			BIT(14)
#define ENTRY_LOAD_EFER			BIT(15)

/* IA32_VMX_BASIC (SDM Appendix A.1) */
#define VMX_BASIC_REVISION(b)		((u32)(b) & 0x7fffffff)
#define VMX_BASIC_SIZE(b)		(((b) >> 32) & 0x1fff)
#define VMX_BASIC_32BIT_PA		BIT_ULL(48)
#define VMX_BASIC_MEMTYPE(b)		(((b) >> 50) & 0xf)
#define VMX_BASIC_TRUE			BIT_ULL(55)
#define VMX_MEMTYPE_WB			6

/* IA32_VMX_MISC (SDM Appendix A.6) */
#define VMX_MISC_TIMER_RATE(m)		((m) & 0x1f)

/* IA32_VMX_EPT_VPID_CAP (SDM Appendix A.10) */
#define EPT_CAP_WALK4			BIT_ULL(6)
#define EPT_CAP_WALK5			BIT_ULL(7)
#define EPT_CAP_WB			BIT_ULL(14)
#define EPT_CAP_2MB			BIT_ULL(16)	/* 2 MiB pages in PDEs */
#define EPT_CAP_INVEPT			BIT_ULL(20)
#define EPT_CAP_AD			BIT_ULL(21)
#define EPT_CAP_INVEPT_SINGLE		BIT_ULL(25)
#define EPT_CAP_INVEPT_ALL		BIT_ULL(26)
#define VPID_CAP_INVVPID		BIT_ULL(32)
#define VPID_CAP_INVVPID_SINGLE		BIT_ULL(41)
#define VPID_CAP_INVVPID_ALL		BIT_ULL(42)

/* INVEPT / INVVPID types (SDM Vol. 3C 30.3, "INVEPT", "INVVPID") */
#define INVEPT_SINGLE			1
#define INVEPT_ALL			2
#define INVVPID_SINGLE			1
#define INVVPID_ALL			2

/* EPT entries and the EPTP (SDM 29.3.2, 25.6.11) */
#define EPT_READ			BIT_ULL(0)
#define EPT_WRITE			BIT_ULL(1)
#define EPT_EXEC			BIT_ULL(2)
#define EPT_MEMTYPE_WB			(6ULL << 3)
#define EPT_IGNORE_PAT			BIT_ULL(6)
#define EPT_ACCESSED			BIT_ULL(8)
#define EPTP_MEMTYPE_WB			6ULL
#define EPTP_WALK(levels)		((u64)((levels) - 1) << 3)
#define EPTP_AD				BIT_ULL(6)

/* EPT violation exit qualification (SDM Table 28-7) */
#define EPT_QUAL_READ			BIT_ULL(0)
#define EPT_QUAL_WRITE			BIT_ULL(1)
#define EPT_QUAL_FETCH			BIT_ULL(2)
#define EPT_QUAL_LA_VALID		BIT_ULL(7)
#define EPT_QUAL_FINAL			BIT_ULL(8)	/* with LA_VALID */
#define EPT_QUAL_NMI_UNBLOCKED		BIT_ULL(12)

/*
 * VM-entry interruption information, VM-exit interruption information and
 * IDT-vectoring information share one format (SDM 25.8.3, 25.9.2, 25.9.3).
 */
#define INTR_INFO_VECTOR_MASK		0xff
#define INTR_INFO_TYPE_SHIFT		8
#define INTR_INFO_TYPE_MASK		(7 << INTR_INFO_TYPE_SHIFT)
#define INTR_TYPE_EXT_INTR		0
#define INTR_TYPE_NMI			2
#define INTR_TYPE_HW_EXCEPTION		3
#define INTR_TYPE_SOFT_INTR		4
#define INTR_TYPE_PRIV_SOFT_EXCEPTION	5
#define INTR_TYPE_SOFT_EXCEPTION	6
#define INTR_INFO_ERROR_CODE		BIT(11)
#define INTR_INFO_NMI_UNBLOCKED		BIT(12)
#define INTR_INFO_VALID			BIT(31)

/* Guest interruptibility state (SDM Table 25-3) */
#define INTERRUPTIBILITY_STI		BIT(0)
#define INTERRUPTIBILITY_MOV_SS		BIT(1)
#define INTERRUPTIBILITY_NMI		BIT(3)

/* Pending debug exceptions: single step (SDM Table 25-4) */
#define PENDING_DBG_BS			BIT(14)

/* Segment access rights (SDM Table 25-2) */
#define VMX_AR_UNUSABLE			BIT(16)

/* Exit reasons (SDM Appendix C) */
#define EXIT_REASON_FAILED_ENTRY	BIT(31)
#define EXIT_REASON_BASIC(r)		((r) & 0xffff)

enum vmx_exit_reason {
	VMX_EXIT_EXCEPTION_NMI		= 0,
	VMX_EXIT_EXTERNAL_INTR		= 1,
	VMX_EXIT_TRIPLE_FAULT		= 2,
	VMX_EXIT_INIT			= 3,
	VMX_EXIT_SIPI			= 4,
	VMX_EXIT_IO_SMI			= 5,
	VMX_EXIT_OTHER_SMI		= 6,
	VMX_EXIT_INTR_WINDOW		= 7,
	VMX_EXIT_NMI_WINDOW		= 8,
	VMX_EXIT_TASK_SWITCH		= 9,
	VMX_EXIT_CPUID			= 10,
	VMX_EXIT_GETSEC			= 11,
	VMX_EXIT_HLT			= 12,
	VMX_EXIT_INVD			= 13,
	VMX_EXIT_RSM			= 17,
	VMX_EXIT_VMCALL			= 18,
	VMX_EXIT_VMCLEAR		= 19,
	VMX_EXIT_VMLAUNCH		= 20,
	VMX_EXIT_VMPTRLD		= 21,
	VMX_EXIT_VMPTRST		= 22,
	VMX_EXIT_VMREAD			= 23,
	VMX_EXIT_VMRESUME		= 24,
	VMX_EXIT_VMWRITE		= 25,
	VMX_EXIT_VMXOFF			= 26,
	VMX_EXIT_VMXON			= 27,
	VMX_EXIT_CR_ACCESS		= 28,
	VMX_EXIT_DR_ACCESS		= 29,
	VMX_EXIT_IO			= 30,
	VMX_EXIT_RDMSR			= 31,
	VMX_EXIT_WRMSR			= 32,
	VMX_EXIT_INVALID_STATE		= 33,
	VMX_EXIT_MSR_LOAD_FAIL		= 34,
	VMX_EXIT_MWAIT			= 36,
	VMX_EXIT_MONITOR		= 39,
	VMX_EXIT_MCE_DURING_ENTRY	= 41,
	VMX_EXIT_EPT_VIOLATION		= 48,
	VMX_EXIT_EPT_MISCONFIG		= 49,
	VMX_EXIT_INVEPT			= 50,
	VMX_EXIT_PREEMPTION_TIMER	= 52,
	VMX_EXIT_INVVPID		= 53,
	VMX_EXIT_XSETBV			= 55,
	VMX_EXIT_VMFUNC			= 59,
	VMX_NR_EXIT_REASONS
};

/* CR access exit qualification (SDM Table 28-3) */
#define CR_QUAL_CR(q)			((q) & 0xf)
#define CR_QUAL_TYPE(q)			(((q) >> 4) & 3)
#define CR_QUAL_GPR(q)			(((q) >> 8) & 0xf)
#define CR_QUAL_LMSW_DATA(q)		(((q) >> 16) & 0xffff)
#define CR_TYPE_MOV_TO			0
#define CR_TYPE_MOV_FROM		1
#define CR_TYPE_CLTS			2
#define CR_TYPE_LMSW			3

/* MOV DR exit qualification (SDM Table 28-4) */
#define DR_QUAL_DR(q)			((q) & 7)
#define DR_QUAL_FROM_DR			BIT(4)
#define DR_QUAL_GPR(q)			(((q) >> 8) & 0xf)

/* I/O instruction exit qualification (SDM Table 28-5) */
#define IO_QUAL_SIZE(q)			(((q) & 7) + 1)
#define IO_QUAL_IN			BIT(3)
#define IO_QUAL_STRING			BIT(4)
#define IO_QUAL_PORT(q)			(((q) >> 16) & 0xffff)

/* VM-entry/VM-exit MSR areas (SDM 25.7.2, 25.8.2): 16-byte entries. */
struct vmx_msr_entry {
	u32 index;
	u32 reserved;
	u64 value;
} __packed;

#endif /* _VMM_VMX_VMCS_H */
