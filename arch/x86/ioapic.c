// SPDX-License-Identifier: GPL-2.0
/*
 * The I/O APIC: one Intel 82093AA with 24 pins at VMM_IOAPIC_BASE.  Section
 * names below are those of the 82093AA datasheet.
 *
 * Like KVM's, it reports version 0x11, which has no EOI register: a guest
 * ends a level-triggered interrupt only through its local APIC's EOI,
 * which lapic.c forwards to vmm_ioapic_eoi().  Pin polarity is not
 * emulated: the levels sources give are already the logical ones.
 *
 * Delivery to the local APICs happens under ioapic->lock (the order
 * ioapic->lock -> lapic->lock of irqchip.h): the remote IRR bit must be
 * set atomically with the delivery it records.
 */
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include <vmm/vmm.h>
#include "irqchip.h"

/* Direct registers ("Memory Mapped Registers"), offsets in the window. */
#define IOAPIC_IOREGSEL		0x00
#define IOAPIC_IOWIN		0x10

/* Indirect registers, selected by IOREGSEL. */
#define IOAPIC_REG_ID		0x00
#define IOAPIC_REG_VERSION	0x01
#define IOAPIC_REG_ARB		0x02
#define IOAPIC_REG_REDTBL	0x10	/* two registers per pin */

#define IOAPIC_VERSION		0x11
#define IOAPIC_MAX_REDIR	(VMM_IOAPIC_PINS - 1)

/* Redirection table entry ("IOREDTBL[23:0]") */
#define IOAPIC_VECTOR		GENMASK_ULL(7, 0)
#define IOAPIC_DM_SHIFT		8
#define IOAPIC_DM_MASK		7
#define IOAPIC_DEST_LOGICAL	BIT_ULL(11)
#define IOAPIC_DELIVERY_STATUS	BIT_ULL(12)	/* read-only */
#define IOAPIC_REMOTE_IRR	BIT_ULL(14)	/* read-only */
#define IOAPIC_LEVEL		BIT_ULL(15)
#define IOAPIC_MASKED		BIT_ULL(16)
#define IOAPIC_DEST_SHIFT	56
#define IOAPIC_READ_ONLY	(IOAPIC_DELIVERY_STATUS | IOAPIC_REMOTE_IRR)

/*
 * A guest whose handler never silences a level-triggered device would
 * otherwise have the interrupt re-delivered at every EOI forever, with
 * no chance to run anything else.  After this many successive EOIs that
 * find the pin still asserted, the next delivery is delayed a little,
 * as the APIC bus of real hardware would.
 */
#define IOAPIC_EOI_STORM	10000
#define IOAPIC_EOI_DELAY	(HZ / 100)

struct vmm_ioapic {
	spinlock_t lock;			/* guards the [lock] fields */
	struct vmm_vm *vm;
	u64 base_address;			/* [lock] */
	u32 ioregsel;				/* [lock] */
	u32 id;					/* [lock] */
	/*
	 * [lock] Bit n: pin n is asserted (the OR of its sources), or
	 * KVM_SET_IRQCHIP said so.  For an edge-triggered pin,
	 * irr_delivered says the last rising edge reached a LAPIC: the
	 * others are still pending (masked) and KVM_GET_IRQCHIP shows them.
	 */
	u32 irr;
	u32 irr_delivered;
	u64 redirtbl[VMM_IOAPIC_PINS];		/* [lock] */
	u8 src_levels[VMM_IOAPIC_PINS];		/* [lock] one bit per source */
	u32 eoi_count[VMM_IOAPIC_PINS];		/* [lock] successive EOI deliveries */
	struct delayed_work eoi_work;
};

static bool ioapic_level_triggered(u64 entry)
{
	return entry & IOAPIC_LEVEL;
}

/*
 * Send pin's interrupt message if the entry lets it go: unmasked and, when
 * level-triggered, not still waiting for the EOI of the previous one
 * (remote IRR, "IOREDTBL" bit 14).  Returns what vmm_lapic_deliver()
 * returned, or -1 if nothing was sent.
 */
static int ioapic_send(struct vmm_ioapic *io, int pin)
{
	u64 *entry = &io->redirtbl[pin];
	struct vmm_apic_irq irq = {
		.dest = *entry >> IOAPIC_DEST_SHIFT,
		.vector = *entry & IOAPIC_VECTOR,
		.delivery_mode = (*entry >> IOAPIC_DM_SHIFT) & IOAPIC_DM_MASK,
		.shorthand = VMM_SH_NONE,
		.dest_logical = *entry & IOAPIC_DEST_LOGICAL,
		.level_trig = ioapic_level_triggered(*entry),
		.assert = true,
	};
	int ret;

	if (*entry & IOAPIC_MASKED)
		return -1;
	if (irq.level_trig && (*entry & IOAPIC_REMOTE_IRR))
		return -1;
	if (!irq.level_trig)
		io->irr_delivered |= BIT(pin);

	ret = vmm_lapic_deliver(io->vm, NULL, &irq);
	/* Like KVM: even a message no LAPIC accepted waits for an EOI. */
	if (ret && irq.level_trig)
		*entry |= IOAPIC_REMOTE_IRR;
	return ret;
}

/*
 * A new level on pin: an edge-triggered entry sends on the rising edge
 * only; a level-triggered one sends whenever it is asserted and not
 * waiting for an EOI.  Returns 1 (or more) if sent, 0 if coalesced with
 * a request not yet serviced, -1 if masked or still in service.
 */
static int ioapic_set_pin(struct vmm_ioapic *io, int pin, bool level)
{
	u32 bit = BIT(pin), old = io->irr;

	if (!level) {
		io->irr &= ~bit;
		return 1;
	}
	io->irr |= bit;
	if (!ioapic_level_triggered(io->redirtbl[pin])) {
		io->irr_delivered &= ~bit;
		if (old & bit)
			return 0;
	}
	return ioapic_send(io, pin);
}

int vmm_ioapic_set_irq(struct vmm_vm *vm, int pin, int src, int level)
{
	struct vmm_ioapic *io = READ_ONCE(vm->arch.ioapic);
	unsigned long flags;
	int ret;

	if (WARN_ON_ONCE(!io || pin < 0 || pin >= VMM_IOAPIC_PINS ||
			 src < 0 || src >= VMM_IRQ_NR_SRCS))
		return -EINVAL;

	spin_lock_irqsave(&io->lock, flags);
	if (level)
		io->src_levels[pin] |= BIT(src);
	else
		io->src_levels[pin] &= ~BIT(src);
	ret = ioapic_set_pin(io, pin, io->src_levels[pin] != 0);
	spin_unlock_irqrestore(&io->lock, flags);
	return ret;
}

/* Re-send the level-triggered interrupts an EOI storm held back. */
static void ioapic_eoi_work(struct work_struct *work)
{
	struct vmm_ioapic *io = container_of(to_delayed_work(work),
					     struct vmm_ioapic, eoi_work);
	unsigned long flags;
	int pin;

	spin_lock_irqsave(&io->lock, flags);
	for (pin = 0; pin < VMM_IOAPIC_PINS; pin++)
		if (ioapic_level_triggered(io->redirtbl[pin]) &&
		    (io->irr & BIT(pin)))
			ioapic_send(io, pin);
	spin_unlock_irqrestore(&io->lock, flags);
}

/* The EOI message ends one level-triggered interrupt of pin. */
static void ioapic_eoi_pin(struct vmm_ioapic *io, int pin)
{
	u64 *entry = &io->redirtbl[pin];

	*entry &= ~IOAPIC_REMOTE_IRR;
	if ((*entry & IOAPIC_MASKED) || !(io->irr & BIT(pin))) {
		io->eoi_count[pin] = 0;
		return;
	}
	if (++io->eoi_count[pin] >= IOAPIC_EOI_STORM) {
		io->eoi_count[pin] = 0;
		schedule_delayed_work(&io->eoi_work, IOAPIC_EOI_DELAY);
		return;
	}
	ioapic_send(io, pin);
}

void vmm_ioapic_eoi(struct vmm_vm *vm, int vector)
{
	struct vmm_ioapic *io = READ_ONCE(vm->arch.ioapic);
	unsigned long flags;
	int pin;

	if (!io)
		return;
	spin_lock_irqsave(&io->lock, flags);
	for (pin = 0; pin < VMM_IOAPIC_PINS; pin++) {
		u64 entry = io->redirtbl[pin];

		if ((entry & IOAPIC_VECTOR) == (vector & 0xff) &&
		    ioapic_level_triggered(entry))
			ioapic_eoi_pin(io, pin);
	}
	spin_unlock_irqrestore(&io->lock, flags);
}

/* The pin an IOREGSEL value selects a half of, or -1. */
static int ioapic_redir_pin(u32 ioregsel)
{
	u32 pin;

	if (ioregsel < IOAPIC_REG_REDTBL)
		return -1;
	pin = (ioregsel - IOAPIC_REG_REDTBL) >> 1;
	if (pin >= VMM_IOAPIC_PINS)
		return -1;
	return array_index_nospec(pin, VMM_IOAPIC_PINS);
}

/*
 * "IOAPICID", "IOAPICVER", "IOAPICARB"; the arbitration ID is the APIC
 * ID after reset, and vmm never runs an arbitration.  Unimplemented
 * registers read all ones.
 */
static u32 ioapic_read_indirect(struct vmm_ioapic *io)
{
	int pin;

	switch (io->ioregsel) {
	case IOAPIC_REG_ID:
	case IOAPIC_REG_ARB:
		return (io->id & 0xf) << 24;
	case IOAPIC_REG_VERSION:
		return IOAPIC_MAX_REDIR << 16 | IOAPIC_VERSION;
	}
	pin = ioapic_redir_pin(io->ioregsel);
	if (pin < 0)
		return ~0U;
	if (io->ioregsel & 1)
		return io->redirtbl[pin] >> 32;
	return (u32)io->redirtbl[pin];
}

static void ioapic_write_redir(struct vmm_ioapic *io, int pin, u32 val)
{
	u64 *entry = &io->redirtbl[pin];
	u64 old = *entry, new;

	if (io->ioregsel & 1)
		new = (old & 0xffffffffULL) | (u64)val << 32;
	else
		new = (old & ~0xffffffffULL) | val;
	new = (new & ~IOAPIC_READ_ONLY) | (old & IOAPIC_READ_ONLY);
	/*
	 * Linux (and Xen) switch an entry to edge and back to clear a stuck
	 * remote IRR, as on IOAPICs without an EOI register: let them.
	 */
	if (!ioapic_level_triggered(new))
		new &= ~IOAPIC_REMOTE_IRR;
	*entry = new;

	/* An asserted level-triggered pin sends as soon as it may. */
	if (ioapic_level_triggered(new) && (io->irr & BIT(pin)))
		ioapic_send(io, pin);
}

static void ioapic_write_indirect(struct vmm_ioapic *io, u32 val)
{
	int pin;

	switch (io->ioregsel) {
	case IOAPIC_REG_ID:
		io->id = (val >> 24) & 0xf;
		return;
	case IOAPIC_REG_VERSION:
	case IOAPIC_REG_ARB:
		return;
	}
	pin = ioapic_redir_pin(io->ioregsel);
	if (pin >= 0)
		ioapic_write_redir(io, pin, val);
}

/* Reads of the window; offsets other than IOREGSEL and IOWIN read 0. */
static u32 ioapic_mmio_read(struct vmm_ioapic *io, unsigned int offset)
{
	switch (offset) {
	case IOAPIC_IOREGSEL:
		return io->ioregsel;
	case IOAPIC_IOWIN:
		return ioapic_read_indirect(io);
	default:
		return 0;
	}
}

static void ioapic_mmio_write(struct vmm_ioapic *io, unsigned int offset,
			      u32 val)
{
	switch (offset) {
	case IOAPIC_IOREGSEL:
		io->ioregsel = val & 0xff;	/* an 8-bit register */
		break;
	case IOAPIC_IOWIN:
		ioapic_write_indirect(io, val);
		break;
	}
}

/*
 * The datasheet allows only aligned 32-bit accesses; like KVM, smaller
 * ones use the low bytes of the register, an 8-byte read returns it
 * zero-extended and an 8-byte write uses its low half.
 */
static u32 ioapic_write_data(unsigned int len, const void *data)
{
	u32 val32 = 0;
	u16 val16;
	u8 val8;

	switch (len) {
	case 1:
		memcpy(&val8, data, 1);
		return val8;
	case 2:
		memcpy(&val16, data, 2);
		return val16;
	default:
		memcpy(&val32, data, 4);
		return val32;
	}
}

bool vmm_ioapic_mmio(struct vmm_vm *vm, u64 gpa, unsigned int len, bool write,
		     void *data)
{
	struct vmm_ioapic *io = READ_ONCE(vm->arch.ioapic);
	unsigned long flags;
	u64 val = 0;

	if (!io || gpa < VMM_IOAPIC_BASE ||
	    gpa >= VMM_IOAPIC_BASE + VMM_IOAPIC_SIZE)
		return false;
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return true;			/* dropped, like KVM */

	spin_lock_irqsave(&io->lock, flags);
	/* KVM_SET_IRQCHIP may move the base; KVM still decodes only here. */
	if (gpa < io->base_address ||
	    gpa - io->base_address >= VMM_IOAPIC_SIZE) {
		spin_unlock_irqrestore(&io->lock, flags);
		return false;
	}
	if (write)
		ioapic_mmio_write(io, gpa & 0xff,
				  ioapic_write_data(len, data));
	else
		val = ioapic_mmio_read(io, gpa & 0xff);
	spin_unlock_irqrestore(&io->lock, flags);

	if (!write)
		memcpy(data, &val, len);	/* little-endian: the low bytes */
	return true;
}

int vmm_ioapic_get_state(struct vmm_vm *vm, struct kvm_ioapic_state *s)
{
	struct vmm_ioapic *io = READ_ONCE(vm->arch.ioapic);
	unsigned long flags;
	int pin;

	if (!io)
		return -ENXIO;
	memset(s, 0, sizeof(*s));
	spin_lock_irqsave(&io->lock, flags);
	s->base_address = io->base_address;
	s->ioregsel = io->ioregsel;
	s->id = io->id;
	s->irr = io->irr & ~io->irr_delivered;
	for (pin = 0; pin < VMM_IOAPIC_PINS; pin++)
		s->redirtbl[pin].bits = io->redirtbl[pin];
	spin_unlock_irqrestore(&io->lock, flags);
	return 0;
}

/*
 * As in KVM, the pins set in irr are asserted again through the normal
 * path, so what was pending is sent once restored; the per-source levels
 * are left alone.
 */
int vmm_ioapic_set_state(struct vmm_vm *vm, const struct kvm_ioapic_state *s)
{
	struct vmm_ioapic *io = READ_ONCE(vm->arch.ioapic);
	unsigned long flags;
	int pin;

	if (!io)
		return -ENXIO;
	spin_lock_irqsave(&io->lock, flags);
	io->base_address = s->base_address;
	io->ioregsel = s->ioregsel & 0xff;
	io->id = s->id;
	for (pin = 0; pin < VMM_IOAPIC_PINS; pin++) {
		io->redirtbl[pin] = s->redirtbl[pin].bits;
		io->eoi_count[pin] = 0;
	}
	io->irr = 0;
	io->irr_delivered = 0;
	for (pin = 0; pin < VMM_IOAPIC_PINS; pin++)
		if (s->irr & BIT(pin))
			ioapic_set_pin(io, pin, true);
	spin_unlock_irqrestore(&io->lock, flags);
	return 0;
}

/* "Register Reset Values": every entry masked, ID 0. */
int vmm_ioapic_create(struct vmm_vm *vm)
{
	struct vmm_ioapic *io;
	int pin;

	if (vm->arch.ioapic)
		return -EEXIST;
	io = kzalloc(sizeof(*io), GFP_KERNEL_ACCOUNT);
	if (!io)
		return -ENOMEM;
	spin_lock_init(&io->lock);
	INIT_DELAYED_WORK(&io->eoi_work, ioapic_eoi_work);
	io->vm = vm;
	io->base_address = VMM_IOAPIC_BASE;
	for (pin = 0; pin < VMM_IOAPIC_PINS; pin++)
		io->redirtbl[pin] = IOAPIC_MASKED;
	/* Readers use READ_ONCE: publish the initialized object. */
	smp_store_release(&vm->arch.ioapic, io);
	return 0;
}

void vmm_ioapic_destroy(struct vmm_vm *vm)
{
	struct vmm_ioapic *io = vm->arch.ioapic;

	if (!io)
		return;
	cancel_delayed_work_sync(&io->eoi_work);
	vm->arch.ioapic = NULL;
	kfree(io);
}
