/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Enter a VMX guest and come back.  Only registers are switched here;
 * everything else is C.
 *
 * VM entry loads the guest's RSP, RIP and RFLAGS from the VMCS and VM exit
 * loads the host's RSP and RIP from it (Intel SDM Vol. 3C 28.3.2.3 and
 * 28.5.1); no other general-purpose register is touched by either, so they
 * are switched by hand.  The exit lands at vmx_vmexit (HOST_RIP) with the
 * stack pointer this function wrote into HOST_RSP, i.e. with its own frame.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/nospec-branch.h>
#include <asm/segment.h>
#include <asm/unwind_hints.h>

/* Offsets into u64 gprs[16], hardware order (enum vmm_gpr). */
#define GPR_RAX		(0 * 8)
#define GPR_RCX		(1 * 8)
#define GPR_RDX		(2 * 8)
#define GPR_RBX		(3 * 8)
#define GPR_RBP		(5 * 8)
#define GPR_RSI		(6 * 8)
#define GPR_RDI		(7 * 8)
#define GPR_R8		(8 * 8)
#define GPR_R9		(9 * 8)
#define GPR_R10		(10 * 8)
#define GPR_R11		(11 * 8)
#define GPR_R12		(12 * 8)
#define GPR_R13		(13 * 8)
#define GPR_R14		(14 * 8)
#define GPR_R15		(15 * 8)

#define VMCS_HOST_RSP	0x6c14

	.text

/*
 * int vmx_vmenter(u64 *gprs, bool launched)
 *
 * Called with interrupts off and the vCPU's VMCS current.  Returns 0 after
 * a VM exit (including a VM-entry failure, which is reported as an exit,
 * SDM 27.8), 1 if VMLAUNCH/VMRESUME itself failed (VMfailInvalid or
 * VMfailValid, SDM 31.2): then the caller reads VM_INSTRUCTION_ERROR.
 */
SYM_FUNC_START(vmx_vmenter)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdi			/* gprs, found again at 0(%rsp) on exit */

	mov	$VMCS_HOST_RSP, %eax
	vmwrite	%rsp, %rax
	jna	.Lvmfail

	/* Flush CPU buffers that may hold host data (MDS); clobbers ZF. */
	VM_CLEAR_CPU_BUFFERS

	/* The MOVs below leave ZF alone: it picks VMLAUNCH or VMRESUME. */
	test	%sil, %sil
	mov	GPR_RAX(%rdi), %rax
	mov	GPR_RCX(%rdi), %rcx
	mov	GPR_RDX(%rdi), %rdx
	mov	GPR_RBX(%rdi), %rbx
	mov	GPR_RBP(%rdi), %rbp
	mov	GPR_RSI(%rdi), %rsi
	mov	GPR_R8(%rdi), %r8
	mov	GPR_R9(%rdi), %r9
	mov	GPR_R10(%rdi), %r10
	mov	GPR_R11(%rdi), %r11
	mov	GPR_R12(%rdi), %r12
	mov	GPR_R13(%rdi), %r13
	mov	GPR_R14(%rdi), %r14
	mov	GPR_R15(%rdi), %r15
	mov	GPR_RDI(%rdi), %rdi
	jnz	.Lresume

	UNWIND_HINT_SAVE
	/* A VMCS in the clear state needs VMLAUNCH (SDM 25.11.3). */
	vmlaunch
	jmp	.Lvmfail
.Lresume:
	vmresume
	jmp	.Lvmfail

SYM_INNER_LABEL(vmx_vmexit, SYM_L_GLOBAL)
	UNWIND_HINT_RESTORE
	ENDBR
	/* Back from the guest: RSP is ours again, every other GPR the guest's. */
	push	%rax
	mov	8(%rsp), %rax
	pop	GPR_RAX(%rax)
	mov	%rcx, GPR_RCX(%rax)
	mov	%rdx, GPR_RDX(%rax)
	mov	%rbx, GPR_RBX(%rax)
	mov	%rbp, GPR_RBP(%rax)
	mov	%rsi, GPR_RSI(%rax)
	mov	%rdi, GPR_RDI(%rax)
	mov	%r8, GPR_R8(%rax)
	mov	%r9, GPR_R9(%rax)
	mov	%r10, GPR_R10(%rax)
	mov	%r11, GPR_R11(%rax)
	mov	%r12, GPR_R12(%rax)
	mov	%r13, GPR_R13(%rax)
	mov	%r14, GPR_R14(%rax)
	mov	%r15, GPR_R15(%rax)
	xor	%ebx, %ebx
	jmp	.Lout

.Lvmfail:
	mov	$1, %ebx

.Lout:
	/*
	 * The guest may have filled the return stack buffer with its own
	 * targets: overwrite it before the first host RET (or only the
	 * entry PBRSB leaves behind, on CPUs with enhanced IBRS).
	 */
	FILL_RETURN_BUFFER %rcx, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT, \
			   X86_FEATURE_RSB_VMEXIT_LITE

	/* Leave no guest value in a register the host may speculate on. */
	xor	%eax, %eax
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d

	/* Branch history the guest trained must not steer the host (BHI). */
	CLEAR_BRANCH_HISTORY_VMEXIT

	mov	%ebx, %eax
	add	$8, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(vmx_vmenter)

/*
 * void vmx_host_nmi(void)
 *
 * An NMI that arrived in the guest caused a VM exit instead of running the
 * host's handler (SDM 26.2, "NMI exiting"), so the host would lose it (a
 * perf sample, a watchdog, a backtrace request).  Run the kernel's NMI
 * handler as if the NMI had hit here: build the frame an interrupt in
 * kernel mode would push (SS, RSP, RFLAGS, CS, RIP) on a 16-byte aligned
 * stack and call the entry point the kernel exports for this purpose (the
 * IST one would break its nesting logic); its IRET returns below and ends
 * any NMI blocking.  Interrupts are off, and RFLAGS.IF=0 is what the frame
 * restores.
 */
SYM_FUNC_START(vmx_host_nmi)
	push	%rbp
	mov	%rsp, %rbp
	and	$-16, %rsp
	push	$__KERNEL_DS
	push	%rbp
	pushf
	push	$__KERNEL_CS
	call	asm_exc_nmi_noist
	/* IRET already put RSP back to RBP; say so for the unwinder too. */
	mov	%rbp, %rsp
	pop	%rbp
	RET
SYM_FUNC_END(vmx_host_nmi)
