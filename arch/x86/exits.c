// SPDX-License-Identifier: GPL-2.0
/*
 * Exit handlers shared by the vendor backends, and the glue between the
 * instruction emulator and guest memory / userspace.
 *
 * Every handler returns VMM_RESUME_GUEST, VMM_EXIT_USER (kvm_run filled
 * in) or a negative errno for KVM_RUN to return.
 *
 * An instruction that needs userspace (an MMIO read, the data of INS) is
 * re-run from the start on the next KVM_RUN, with the data userspace
 * returned; the emulator performs no write before all its reads succeeded,
 * so re-running is exact.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <asm/msr-index.h>

#include "emulate.h"
#include "x86.h"

/*
 * An intercepted or emulated instruction has completed: move RIP past it.
 * The STI/MOV SS shadow covered that instruction only, so it ends here
 * (SDM 6.8.3); left set, it would hold off an NMI or interrupt that is
 * already deliverable.
 */
void vmm_x86_retire(struct vmm_vcpu *vcpu, u64 next_rip)
{
	vcpu->arch.rip = next_rip;
	vmm_ops->set_interrupt_shadow(vcpu, 0);
}

/*
 * Fetch the bytes at CS:RIP, up to X86_EMU_MAX_INSN_LEN or to the first one
 * that cannot be read, a page at a time.  The usual case, an instruction
 * that does not reach the end of its page, is one translation and one
 * fixed-size copy (which skips the hardened-usercopy checks).
 */
static int vmm_x86_fetch_insn(struct vmm_vcpu *vcpu,
			      const struct kvm_segment *cs, u8 *insn,
			      unsigned int *len)
{
	u64 la, gpa;
	unsigned int n = 0;
	u32 err;

	la = vmm_x86_is_long_mode(vcpu) && cs->l ? vcpu->arch.rip :
		(u32)(cs->base + vcpu->arch.rip);
	while (n < X86_EMU_MAX_INSN_LEN) {
		unsigned int chunk = min_t(unsigned int, X86_EMU_MAX_INSN_LEN - n,
					   PAGE_SIZE - offset_in_page(la + n));

		if (vmm_x86_translate(vcpu, la + n, VMM_ACCESS_FETCH, &gpa, &err) ||
		    err)
			break;
		if (chunk == X86_EMU_MAX_INSN_LEN) {
			void __user *hva = vmm_gpa_to_hva(vcpu->vm, gpa);

			if (!hva || copy_from_user(insn, hva, X86_EMU_MAX_INSN_LEN))
				break;
		} else if (vmm_read_guest(vcpu->vm, gpa, insn + n, chunk)) {
			break;
		}
		n += chunk;
	}
	*len = n;
	return n ? 0 : -EFAULT;
}

static enum x86_emu_mode vmm_x86_emu_mode(struct vmm_vcpu *vcpu,
					  const struct kvm_segment *cs)
{
	if (!(vmm_ops->get_cr(vcpu, 0) & X86_CR0_PE))
		return X86_EMU_MODE_REAL;
	if (vcpu->arch.rflags & X86_EFLAGS_VM)
		return X86_EMU_MODE_VM86;
	if (vmm_x86_is_long_mode(vcpu) && cs->l)
		return X86_EMU_MODE_PROT64;
	return cs->db ? X86_EMU_MODE_PROT32 : X86_EMU_MODE_PROT16;
}

/* What decoding needs: the mode and the bytes at CS:RIP; false if none. */
static bool vmm_x86_emu_fetch(struct vmm_vcpu *vcpu,
			      const struct kvm_segment *cs)
{
	struct x86_emu_ctxt *ctxt = vcpu->arch.emu;

	ctxt->mode = vmm_x86_emu_mode(vcpu, cs);
	ctxt->rip = vcpu->arch.rip;
	ctxt->decoded = false;
	memset(&ctxt->exception, 0, sizeof(ctxt->exception));
	return !vmm_x86_fetch_insn(vcpu, cs, ctxt->insn, &ctxt->insn_len);
}

/* Load the emulator context from the vCPU; false if fetching failed. */
static bool vmm_x86_emu_setup(struct vmm_vcpu *vcpu)
{
	struct x86_emu_ctxt *ctxt = vcpu->arch.emu;
	struct kvm_segment seg, cs;
	int i;

	for (i = 0; i < X86_NR_SEGS; i++) {
		vmm_ops->get_segment(vcpu, &seg, i);
		ctxt->seg_base[i] = seg.base;
		if (i == X86_SEG_CS)
			cs = seg;
	}
	ctxt->la57 = vmm_ops->get_cr(vcpu, 4) & X86_CR4_LA57;
	memcpy(ctxt->gpr, vcpu->arch.gpr, sizeof(ctxt->gpr));
	ctxt->rflags = vcpu->arch.rflags;
	ctxt->max_rep_count = X86_EMU_BUF_SIZE;
	return vmm_x86_emu_fetch(vcpu, &cs);
}

static struct vmm_vcpu *emu_vcpu(struct x86_emu_ctxt *ctxt)
{
	return ctxt->priv;
}

/*
 * Whether the decoded instruction accesses memory only through its one
 * explicit operand (ModRM or moffs), so that the access the nested fault
 * reported is necessarily that operand's.  Not so for string instructions,
 * stack accesses (PUSH/POP/CALL r/m), and BT* with a register bit offset,
 * which may reach another page at the same page offset.
 */
static bool emu_one_mem_operand(const struct x86_emu_insn *d)
{
	if (d->opmap == 0 && d->opcode >= 0xa0 && d->opcode <= 0xa3)
		return true;			/* MOV moffs */
	if (!d->has_modrm || d->mod == 3)
		return false;
	if (d->opmap == 0)
		return d->opcode != 0x8f &&	/* POP r/m */
		       !(d->opcode == 0xff && (d->reg & 7) >= 2);
	if (d->opmap == 1)
		return d->opcode != 0xa3 && d->opcode != 0xab &&
		       d->opcode != 0xb3 && d->opcode != 0xbb;
	return false;
}

/*
 * The guest page walk the hardware just did need not be done again: when
 * the nested fault was on the final translation of the instruction's only
 * memory operand, its GPA is the answer (the guest's permission checks
 * passed, or it would have been a #PF).  The page offset must match too,
 * as a last check that this is the access the fault was about (KVM uses
 * the same shortcut).
 */
static bool emu_translate_npf(struct x86_emu_ctxt *ctxt, u64 la, u64 *gpa)
{
	struct vmm_vcpu_x86 *arch = &emu_vcpu(ctxt)->arch;

	if (!arch->npf_gpa_valid || !emu_one_mem_operand(&ctxt->d) ||
	    offset_in_page(la) != offset_in_page(arch->npf_gpa))
		return false;
	*gpa = arch->npf_gpa;
	return true;
}

static int emu_translate(struct x86_emu_ctxt *ctxt, u64 la, u32 access,
			 u64 *gpa)
{
	struct vmm_vcpu *vcpu = emu_vcpu(ctxt);
	u32 err;

	if (emu_translate_npf(ctxt, la, gpa))
		return X86_EMU_OK;
	if (vmm_ops->get_cpl(vcpu) == 3)
		access |= VMM_ACCESS_USER;
	if (vmm_x86_translate(vcpu, la, access, gpa, &err))
		return X86_EMU_UNHANDLED;
	if (err) {
		ctxt->exception.vector = PF_VECTOR;
		ctxt->exception.has_error_code = true;
		ctxt->exception.error_code = err;
		ctxt->exception.cr2 = la;
		return X86_EMU_EXCEPTION;
	}
	return X86_EMU_OK;
}

static int emu_read(struct x86_emu_ctxt *ctxt, u64 la, void *data,
		    unsigned int size)
{
	struct vmm_vcpu *vcpu = emu_vcpu(ctxt);
	struct vmm_vcpu_x86 *arch = &vcpu->arch;
	u64 gpa;
	int r, i;

	r = emu_translate(ctxt, la, 0, &gpa);
	if (r != X86_EMU_OK)
		return r;
	r = vmm_read_guest(vcpu->vm, gpa, data, size);
	if (r != -ENOENT)
		return r ? X86_EMU_UNHANDLED : X86_EMU_OK;
	if (size <= 8 && vmm_irqchip_mmio(vcpu, gpa, size, false, data))
		return X86_EMU_OK;

	/* MMIO: answered by userspace on an earlier exit, or ask it now. */
	for (i = 0; i < arch->nr_mmio_reads; i++) {
		if (arch->mmio_reads[i].gpa == gpa &&
		    arch->mmio_reads[i].len == size) {
			memcpy(data, arch->mmio_reads[i].data, size);
			return X86_EMU_OK;
		}
	}
	if (size > sizeof(arch->mmio.data) ||
	    arch->nr_mmio_reads >= VMM_MMIO_READS)
		return X86_EMU_UNHANDLED;
	arch->mmio.gpa = gpa;
	arch->mmio.len = size;
	arch->mmio_read_pending = true;
	return X86_EMU_RETRY;
}

static int emu_write(struct x86_emu_ctxt *ctxt, u64 la, const void *data,
		     unsigned int size)
{
	struct vmm_vcpu *vcpu = emu_vcpu(ctxt);
	struct vmm_vcpu_x86 *arch = &vcpu->arch;
	u64 gpa;
	int r;

	r = emu_translate(ctxt, la, VMM_ACCESS_WRITE, &gpa);
	if (r != X86_EMU_OK)
		return r;
	r = vmm_write_guest(vcpu->vm, gpa, data, size);
	if (r != -ENOENT)
		return r ? X86_EMU_UNHANDLED : X86_EMU_OK;
	if (size <= 8) {
		u8 buf[8];

		memcpy(buf, data, size);
		if (vmm_irqchip_mmio(vcpu, gpa, size, true, buf))
			return X86_EMU_OK;
	}

	/* One MMIO write per instruction: it is handed to userspace at exit. */
	if (arch->mmio_write_pending || size > sizeof(arch->mmio.data))
		return X86_EMU_UNHANDLED;
	arch->mmio.gpa = gpa;
	arch->mmio.len = size;
	memcpy(arch->mmio.data, data, size);
	arch->mmio_write_pending = true;
	return X86_EMU_OK;
}

/*
 * String I/O to the in-kernel PIC or PIT: every item goes to the device,
 * as KVM does.  False if the port is not theirs.
 */
static bool emu_pio_kernel(struct vmm_vcpu *vcpu, u16 port, unsigned int size,
			   unsigned int count, void *data, bool in)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		u32 val = 0;

		if (!in)
			memcpy(&val, data + i * size, size);
		/* The port is the devices' for every item or for none. */
		if (!vmm_irqchip_pio(vcpu, port, size, in, &val))
			return false;
		if (in)
			memcpy(data + i * size, &val, size);
	}
	return true;
}

static int emu_pio_in(struct x86_emu_ctxt *ctxt, u16 port, unsigned int size,
		      unsigned int count, void *data)
{
	struct vmm_pio *pio = &emu_vcpu(ctxt)->arch.pio;

	if (emu_pio_kernel(emu_vcpu(ctxt), port, size, count, data, true))
		return X86_EMU_OK;

	if (pio->done && pio->in && pio->port == port && pio->size == size &&
	    pio->count == count) {
		memcpy(data, emu_vcpu(ctxt)->arch.pio_page, size * count);
		pio->done = false;
		return X86_EMU_OK;
	}
	pio->port = port;
	pio->size = size;
	pio->count = count;
	pio->in = true;
	pio->done = false;
	return X86_EMU_RETRY;
}

static int emu_pio_out(struct x86_emu_ctxt *ctxt, u16 port, unsigned int size,
		       unsigned int count, const void *data)
{
	struct vmm_vcpu *vcpu = emu_vcpu(ctxt);
	struct vmm_pio *pio = &vcpu->arch.pio;

	if (emu_pio_kernel(vcpu, port, size, count, (void *)data, false))
		return X86_EMU_OK;
	memcpy(vcpu->arch.pio_page, data, size * count);
	pio->port = port;
	pio->size = size;
	pio->count = count;
	pio->in = false;
	pio->done = true;	/* reported at exit, nothing to complete */
	return X86_EMU_OK;
}

/*
 * REP string ops may move a batch at once only through RAM: an MMIO exit
 * carries one item.
 */
static bool emu_batch_ok(struct x86_emu_ctxt *ctxt, u64 la)
{
	struct vmm_vcpu *vcpu = emu_vcpu(ctxt);
	u64 gpa;
	u32 err;

	if (vmm_x86_translate(vcpu, la, 0, &gpa, &err) || err)
		return true;	/* the access itself will fault */
	return vmm_memslot_find(vmm_memslots(vcpu->vm), gpa >> PAGE_SHIFT);
}

static const struct x86_emu_ops vmm_x86_emu_ops = {
	.batch_ok = emu_batch_ok,
	.read = emu_read,
	.write = emu_write,
	.pio_in = emu_pio_in,
	.pio_out = emu_pio_out,
};

static void vmm_x86_fill_io_exit(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vmm_pio *pio = &vcpu->arch.pio;

	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = pio->in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
	run->io.size = pio->size;
	run->io.port = pio->port;
	run->io.count = pio->count;
	run->io.data_offset = VMM_PIO_PAGE_OFFSET * PAGE_SIZE;
}

static void vmm_x86_fill_mmio_exit(struct vmm_vcpu *vcpu, bool write)
{
	struct kvm_run *run = vcpu->run;
	struct vmm_mmio *mmio = &vcpu->arch.mmio;

	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = mmio->gpa;
	run->mmio.len = mmio->len;
	run->mmio.is_write = write;
	memset(run->mmio.data, 0, sizeof(run->mmio.data));
	if (write)
		memcpy(run->mmio.data, mmio->data, mmio->len);
}

int vmm_x86_exit_internal_error(struct vmm_vcpu *vcpu, u32 suberror,
				u64 info1, u64 info2)
{
	struct kvm_run *run = vcpu->run;

	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = suberror;
	run->internal.ndata = 2;
	run->internal.data[0] = info1;
	run->internal.data[1] = info2;
	return VMM_EXIT_USER;
}

/* KVM_INTERNAL_ERROR_EMULATION, with the instruction bytes for the user. */
static int vmm_x86_emulation_failed(struct vmm_vcpu *vcpu)
{
	struct x86_emu_ctxt *ctxt = vcpu->arch.emu;
	struct kvm_run *run = vcpu->run;
	unsigned int n = min_t(unsigned int, ctxt->insn_len,
			       sizeof(run->emulation_failure.insn_bytes));

	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
	run->emulation_failure.flags =
		KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
	run->emulation_failure.insn_size = n;
	memset(run->emulation_failure.insn_bytes, 0,
	       sizeof(run->emulation_failure.insn_bytes));
	memcpy(run->emulation_failure.insn_bytes, ctxt->insn, n);
	/* flags and the 16 bytes of instruction: three u64 of data */
	run->emulation_failure.ndata = 3;
	vcpu->arch.nr_mmio_reads = 0;
	return VMM_EXIT_USER;
}

/* Run the emulator at RIP and act on the result. */
static int vmm_x86_emulate(struct vmm_vcpu *vcpu)
{
	struct vmm_vcpu_x86 *arch = &vcpu->arch;
	struct x86_emu_ctxt *ctxt = arch->emu;
	int r;

	arch->mmio_read_pending = false;
	arch->mmio_write_pending = false;
	arch->pio.done &= arch->pio.in;	/* keep completed IN data only */
	ctxt->ops = &vmm_x86_emu_ops;
	ctxt->priv = vcpu;
	if (!vmm_x86_emu_setup(vcpu)) {
		arch->npf_gpa_valid = false;
		return vmm_x86_emulation_failed(vcpu);
	}

	r = x86_emulate(ctxt);
	/* The hint belongs to this instruction: keep it only for its re-run. */
	if (r != X86_EMU_RETRY)
		arch->npf_gpa_valid = false;
	switch (r) {
	case X86_EMU_OK:
		memcpy(arch->gpr, ctxt->gpr, sizeof(arch->gpr));
		vmm_x86_retire(vcpu, ctxt->rip);
		arch->rflags = ctxt->rflags;
		arch->nr_mmio_reads = 0;
		if (arch->mmio_write_pending) {
			vmm_x86_fill_mmio_exit(vcpu, true);
			return VMM_EXIT_USER;
		}
		if (arch->pio.done && !arch->pio.in) {
			arch->pio.done = false;
			vmm_x86_fill_io_exit(vcpu);
			return VMM_EXIT_USER;
		}
		return VMM_RESUME_GUEST;
	case X86_EMU_RETRY:
		if (arch->mmio_read_pending) {
			arch->pending_io = VMM_IO_MMIO;
			vmm_x86_fill_mmio_exit(vcpu, false);
		} else {
			arch->pending_io = VMM_IO_PIO_STRING;
			vmm_x86_fill_io_exit(vcpu);
		}
		return VMM_EXIT_USER;
	case X86_EMU_EXCEPTION:
		arch->nr_mmio_reads = 0;
		if (ctxt->exception.vector == PF_VECTOR)
			vmm_ops->set_cr(vcpu, 2, ctxt->exception.cr2);
		vmm_x86_queue_exception(vcpu, ctxt->exception.vector,
					ctxt->exception.has_error_code,
					ctxt->exception.error_code);
		return VMM_RESUME_GUEST;
	default:
		return vmm_x86_emulation_failed(vcpu);
	}
}

/* Store what IN read: AL/AX merge, EAX zero-extends into RAX (SDM "IN"). */
static void vmm_x86_set_in_result(struct vmm_vcpu *vcpu, unsigned int size,
				  u64 val)
{
	u64 mask = GENMASK_ULL(size * 8 - 1, 0);
	u64 *rax = &vcpu->arch.gpr[VMM_RAX];

	if (size == 4)
		*rax = val & mask;
	else
		*rax = (*rax & ~mask) | (val & mask);
}

/* Finish what the previous exit to userspace left open (KVM_RUN entry). */
int vmm_x86_complete_io(struct vmm_vcpu *vcpu)
{
	struct vmm_vcpu_x86 *arch = &vcpu->arch;
	struct kvm_run *run = vcpu->run;
	enum vmm_pending_io pending = arch->pending_io;
	u64 val = 0;

	arch->pending_io = VMM_IO_NONE;
	switch (pending) {
	case VMM_IO_NONE:
		return VMM_RESUME_GUEST;
	case VMM_IO_PIO:
		if (arch->pio.in) {
			memcpy(&val, arch->pio_page, arch->pio.size);
			vmm_x86_set_in_result(vcpu, arch->pio.size, val);
		}
		vmm_x86_retire(vcpu, arch->pio.next_rip);
		return VMM_RESUME_GUEST;
	case VMM_IO_PIO_STRING:
		arch->pio.done = true;
		return vmm_x86_emulate(vcpu);
	case VMM_IO_MMIO:
		memcpy(arch->mmio.data, run->mmio.data, arch->mmio.len);
		arch->mmio_reads[arch->nr_mmio_reads++] = arch->mmio;
		return vmm_x86_emulate(vcpu);
	}
	return VMM_RESUME_GUEST;
}

int vmm_x86_exit_io(struct vmm_vcpu *vcpu, u16 port, unsigned int size,
		    bool in, bool string, u64 next_rip)
{
	struct vmm_vcpu_x86 *arch = &vcpu->arch;

	if (string)
		return vmm_x86_emulate(vcpu);

	/* The PIC and the PIT answer in the kernel when they exist. */
	if (next_rip) {
		u32 val = arch->gpr[VMM_RAX];

		if (vmm_irqchip_pio(vcpu, port, size, in, &val)) {
			if (in)
				vmm_x86_set_in_result(vcpu, size, val);
			vmm_x86_retire(vcpu, next_rip);
			return VMM_RESUME_GUEST;
		}
	}

	arch->pio.port = port;
	arch->pio.size = size;
	arch->pio.in = in;
	arch->pio.count = 1;
	arch->pio.next_rip = next_rip;
	if (in)
		memset(arch->pio_page, 0, size);
	else
		memcpy(arch->pio_page, &arch->gpr[VMM_RAX], size);
	/* RIP moves past the instruction when userspace has completed it. */
	arch->pending_io = VMM_IO_PIO;
	vmm_x86_fill_io_exit(vcpu);
	return VMM_EXIT_USER;
}

/*
 * A nested page fault: map the page if gpa is RAM the access may use,
 * otherwise emulate the instruction as an MMIO access.
 */
int vmm_x86_exit_npf(struct vmm_vcpu *vcpu, u64 gpa, bool write, bool fetch,
		     bool final)
{
	struct vmm_npt_cache *cache = &vcpu->arch.npt_cache;
	struct vmm_vm *vm = vcpu->vm;
	struct vmm_memslot *slot;
	unsigned long pfn, seq, head;
	bool writable, huge;
	int r, idx;

	/* Refilled only as pages get used: an MMIO exit allocates nothing. */
	r = vmm_npt_cache_topup(cache);
	if (r)
		return r;

	idx = srcu_read_lock(&vm->srcu);
	r = vmm_gpa_to_pfn(vcpu, gpa, write, &pfn, &writable, &seq, &slot);
	if (r == -ENOENT) {
		srcu_read_unlock(&vm->srcu, idx);
		if (fetch)	/* executing from MMIO cannot be emulated */
			return vmm_x86_exit_internal_error(vcpu,
					KVM_INTERNAL_ERROR_EMULATION, gpa, 0);
		vcpu->arch.npf_gpa = gpa;
		vcpu->arch.npf_gpa_valid = final;
		return vmm_x86_emulate(vcpu);
	}
	if (r)
		goto out_unlock;

	huge = vmm_gpa_huge(slot, gpa, pfn, writable, &head);
	spin_lock(&vm->mmu_lock);
	/* An invalidation raced with the lookup: let the guest fault again. */
	if (!vm->mmu_invalidating && vm->mmu_seq == seq) {
		r = vmm_npt_map(&vm->npt, cache, gpa, huge ? head : pfn,
				writable, huge);
		if (!r && writable)
			vmm_memslot_mark_dirty(slot, gpa >> PAGE_SHIFT);
	}
	spin_unlock(&vm->mmu_lock);
	put_page(pfn_to_page(pfn));
	/* A 2 MiB leaf had to go: no vCPU may keep using it. */
	if (r == -EAGAIN) {
		vmm_vm_request_all(vm, VMM_REQ_TLB_FLUSH);
		r = 0;
	}
out_unlock:
	srcu_read_unlock(&vm->srcu, idx);
	return r ? r : VMM_RESUME_GUEST;
}

int vmm_x86_skip_insn(struct vmm_vcpu *vcpu)
{
	struct x86_emu_ctxt *ctxt = vcpu->arch.emu;
	u64 next = vmm_ops->next_rip(vcpu);
	struct kvm_segment cs;
	int len;

	if (next) {
		vmm_x86_retire(vcpu, next);
		return 0;
	}
	/* Only the length is wanted: no operand state to load. */
	vmm_ops->get_segment(vcpu, &cs, VMM_SEG_CS);
	if (!vmm_x86_emu_fetch(vcpu, &cs))
		return -EFAULT;
	len = x86_insn_length(ctxt);
	if (len <= 0)
		return -EFAULT;
	next = vcpu->arch.rip + len;
	if (ctxt->mode != X86_EMU_MODE_PROT64)
		next &= ctxt->mode == X86_EMU_MODE_PROT32 ? 0xffffffffULL : 0xffffULL;
	vmm_x86_retire(vcpu, next);
	return 0;
}

int vmm_x86_skip_or_fail(struct vmm_vcpu *vcpu)
{
	if (vmm_x86_skip_insn(vcpu))
		return vmm_x86_emulation_failed(vcpu);
	return VMM_RESUME_GUEST;
}

int vmm_x86_exit_cpuid(struct vmm_vcpu *vcpu)
{
	u64 *gpr = vcpu->arch.gpr;
	u32 eax, ebx, ecx, edx;

	vmm_x86_cpuid(vcpu, gpr[VMM_RAX], gpr[VMM_RCX], &eax, &ebx, &ecx, &edx);
	gpr[VMM_RAX] = eax;
	gpr[VMM_RBX] = ebx;
	gpr[VMM_RCX] = ecx;
	gpr[VMM_RDX] = edx;
	return vmm_x86_skip_or_fail(vcpu);
}

/* Without an in-kernel irqchip, HLT is userspace's business. */
int vmm_x86_exit_hlt(struct vmm_vcpu *vcpu)
{
	int r = vmm_x86_skip_or_fail(vcpu);

	if (r != VMM_RESUME_GUEST)
		return r;
	/* With the in-kernel LAPIC the vCPU sleeps in KVM_RUN instead. */
	if (vcpu->arch.lapic) {
		vcpu->arch.mp_state = KVM_MP_STATE_HALTED;
		return VMM_RESUME_GUEST;
	}
	vcpu->run->exit_reason = KVM_EXIT_HLT;
	return VMM_EXIT_USER;
}

int vmm_x86_exit_shutdown(struct vmm_vcpu *vcpu)
{
	vcpu->run->exit_reason = KVM_EXIT_SHUTDOWN;
	return VMM_EXIT_USER;
}

int vmm_x86_exit_fail_entry(struct vmm_vcpu *vcpu, u64 reason)
{
	vcpu->run->exit_reason = KVM_EXIT_FAIL_ENTRY;
	/* KVM reports the exit code truncated to 32 bits (VMEXIT_INVALID: ~0u). */
	vcpu->run->fail_entry.hardware_entry_failure_reason = (u32)reason;
	vcpu->run->fail_entry.cpu = vcpu->cpu;
	return VMM_EXIT_USER;
}

void vmm_x86_queue_exception(struct vmm_vcpu *vcpu, u8 vector,
			     bool has_error_code, u32 error_code)
{
	struct vmm_event *ev = &vcpu->arch.exception;

	ev->pending = true;
	ev->type = VMM_EVENT_EXCEPTION;
	ev->vector = vector;
	ev->has_error_code = has_error_code;
	ev->error_code = error_code;
}

int vmm_x86_inject_ud(struct vmm_vcpu *vcpu)
{
	vmm_x86_queue_exception(vcpu, UD_VECTOR, false, 0);
	return VMM_RESUME_GUEST;
}

int vmm_x86_inject_gp(struct vmm_vcpu *vcpu, u32 error_code)
{
	vmm_x86_queue_exception(vcpu, GP_VECTOR, true, error_code);
	return VMM_RESUME_GUEST;
}

/*
 * MOV to/from CRn and DRn: the GPR comes from the decode assist when the
 * CPU has one (gpr >= 0), otherwise from decoding the instruction.
 * Returns the GPR number and sets *len (0 when the hardware gave next RIP).
 */
static int vmm_x86_mov_gpr(struct vmm_vcpu *vcpu, u8 opcode, int reg, int gpr,
			   unsigned int *len)
{
	struct x86_emu_ctxt *ctxt = vcpu->arch.emu;

	*len = 0;
	if (gpr >= 0)
		return gpr;
	if (!vmm_x86_emu_setup(vcpu) || x86_decode(ctxt) != X86_EMU_OK ||
	    ctxt->d.opmap != 1 || ctxt->d.opcode != opcode ||
	    ctxt->d.cr_dr != reg)
		return -1;
	*len = ctxt->d.len;
	return ctxt->d.rm;
}

static int vmm_x86_finish_mov(struct vmm_vcpu *vcpu, unsigned int len)
{
	if (!len)
		return vmm_x86_skip_or_fail(vcpu);
	if (vcpu->arch.emu->mode == X86_EMU_MODE_PROT64)
		vmm_x86_retire(vcpu, vcpu->arch.rip + len);
	else
		vmm_x86_retire(vcpu, (u32)(vcpu->arch.rip + len));
	return VMM_RESUME_GUEST;
}

/*
 * Outside 64-bit mode MOV CR/DR uses 32-bit operands (SDM "MOV").  Asked
 * of the vCPU, not of the emulator context: when the hardware named the
 * GPR, nothing was decoded and the context describes an older instruction.
 */
static u64 vmm_x86_gpr_operand(struct vmm_vcpu *vcpu, int gpr)
{
	u64 val = vcpu->arch.gpr[gpr];
	struct kvm_segment cs;

	if (!vmm_x86_is_long_mode(vcpu))
		return (u32)val;
	vmm_ops->get_segment(vcpu, &cs, VMM_SEG_CS);
	return cs.l ? val : (u32)val;
}

/*
 * CR4 writes are intercepted so that the guest can enable only what its
 * CPUID advertises and vmm handles (SDM 2.5: reserved bits raise #GP).
 */
int vmm_x86_exit_cr4_write(struct vmm_vcpu *vcpu, int gpr)
{
	u64 old = vmm_ops->get_cr(vcpu, 4), val;
	unsigned int len;

	gpr = vmm_x86_mov_gpr(vcpu, 0x22, 4, gpr, &len);
	if (gpr < 0)
		return vmm_x86_emulation_failed(vcpu);
	val = vmm_x86_gpr_operand(vcpu, gpr);
	if (val & vmm_x86_cr4_reserved(vcpu))
		return vmm_x86_inject_gp(vcpu, 0);
	if (vmm_x86_is_long_mode(vcpu) &&
	    (!(val & X86_CR4_PAE) || ((val ^ old) & X86_CR4_LA57)))
		return vmm_x86_inject_gp(vcpu, 0);
	vmm_ops->set_cr(vcpu, 4, val);
	return vmm_x86_finish_mov(vcpu, len);
}

/*
 * Debug registers are emulated: the guest reads back what it wrote, but its
 * breakpoints are not armed in the hardware (the VMCB's DR7 stays 0x400),
 * so nothing the guest writes can fire in the host.
 */
int vmm_x86_exit_dr(struct vmm_vcpu *vcpu, int dr, bool write, int gpr)
{
	struct vmm_vcpu_x86 *arch = &vcpu->arch;
	unsigned int len;
	u64 val;

	gpr = vmm_x86_mov_gpr(vcpu, write ? 0x23 : 0x21, dr, gpr, &len);
	if (gpr < 0)
		return vmm_x86_emulation_failed(vcpu);
	if (dr == 4 || dr == 5) {
		/* Aliases of DR6/DR7 unless CR4.DE (SDM 18.2.2). */
		if (vmm_ops->get_cr(vcpu, 4) & X86_CR4_DE)
			return vmm_x86_inject_ud(vcpu);
		dr += 2;
	}
	if (write) {
		val = vmm_x86_gpr_operand(vcpu, gpr);
		if (dr < 4)
			arch->dr[dr] = val;
		else if (dr == 6)
			arch->dr6 = (val & 0xffffffffULL) | VMM_DR6_RESET;
		else if (dr == 7)
			arch->dr7 = ((val & 0xffffffffULL) & ~BIT(12)) | VMM_DR7_RESET;
	} else {
		val = dr < 4 ? arch->dr[dr] : dr == 6 ? arch->dr6 : arch->dr7;
		arch->gpr[gpr] = val;
	}
	return vmm_x86_finish_mov(vcpu, len);
}
