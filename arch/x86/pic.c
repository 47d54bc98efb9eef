// SPDX-License-Identifier: GPL-2.0
/*
 * The two cascaded i8259A interrupt controllers of a PC: the master at
 * ports 0x20/0x21 with the slave on its IR2, at 0xa0/0xa1, plus the
 * edge/level control registers (ELCR) of the PIIX south bridge at
 * 0x4d0/0x4d1.  Section names below are those of the Intel 8259A
 * datasheet and, for the ELCR, of the 82371AB (PIIX4) datasheet.
 *
 * Every input pin is fed by up to VMM_IRQ_NR_SRCS sources (KVM_IRQ_LINE,
 * the PIT); the pin's level is the OR of theirs.
 */
#include <linux/slab.h>

#include <vmm/vmm.h>
#include "irqchip.h"

#define PIC_MASTER	0
#define PIC_SLAVE	1
#define PIC_CASCADE_IR	2	/* the master input the slave's INT drives */
#define PIC_SPURIOUS_IR	7
#define PIC_NO_IRQ	(-1)
#define PIC_NR_PINS	16

/* Which initialization command word the chip expects next. */
enum pic_init_state {
	PIC_READY,		/* initialized: A0=1 writes are OCW1 */
	PIC_WANT_ICW2,
	PIC_WANT_ICW3,
	PIC_WANT_ICW4,
};

/* One 8259A.  All fields are under vmm_pic.lock. */
struct pic_chip {
	u8 irr;			/* interrupt request register */
	u8 isr;			/* in-service register */
	u8 imr;			/* interrupt mask register (OCW1) */
	u8 last_irr;		/* input levels as last seen, for edge sensing */
	u8 elcr;		/* 1 = level-triggered input (ELCR) */
	u8 elcr_mask;		/* the ELCR bits the chipset implements */
	u8 priority_add;	/* IR that has the highest priority (rotation) */
	u8 irq_base;		/* ICW2: T7-T3 of the vector */
	u8 init_state;		/* enum pic_init_state */
	bool init4;		/* ICW1 IC4: an ICW4 will follow */
	bool read_isr;		/* OCW3 RIS: A0=0 reads return ISR, not IRR */
	bool poll;		/* OCW3 P: the next read is a poll */
	bool special_mask;	/* OCW3 SMM */
	bool auto_eoi;		/* ICW4 AEOI */
	bool rotate_on_auto_eoi;	/* OCW2 "rotate in automatic EOI mode" */
	bool special_fully_nested;	/* ICW4 SFNM */
};

struct vmm_pic {
	spinlock_t lock;			/* guards the [lock] fields */
	struct vmm_vm *vm;
	struct pic_chip chip[2];		/* [lock] */
	u8 src_levels[PIC_NR_PINS];		/* [lock] one bit per source */
	bool output;				/* [lock] the master's INT pin */
};

static bool pic_is_master(struct vmm_pic *pic, struct pic_chip *c)
{
	return c == &pic->chip[PIC_MASTER];
}

/*
 * Priority of the most urgent IR in mask: 0 is the highest, 8 means none.
 * IR (priority_add + n) & 7 has priority n ("Automatic Rotation").
 */
static int pic_priority(const struct pic_chip *c, u8 mask)
{
	int prio;

	if (!mask)
		return 8;
	for (prio = 0; prio < 8; prio++)
		if (mask & BIT((prio + c->priority_add) & 7))
			break;
	return prio;
}

/*
 * The IR the chip would signal on INT now, or PIC_NO_IRQ: the most urgent
 * unmasked request that beats everything in service ("Fully Nested
 * Mode").  In Special Mask Mode a masked level does not hold the lower
 * ones off.  In Special Fully Nested Mode the master also lets the slave
 * interrupt while another slave request is in service: IR2 may then
 * preempt itself.
 */
static int pic_pending_irq(struct vmm_pic *pic, struct pic_chip *c)
{
	u8 in_service = c->isr;
	int prio, cur, irq;

	prio = pic_priority(c, c->irr & ~c->imr);
	if (prio == 8)
		return PIC_NO_IRQ;
	irq = (prio + c->priority_add) & 7;

	if (c->special_mask)
		in_service &= ~c->imr;
	cur = pic_priority(c, in_service);
	if (prio < cur)
		return irq;
	if (prio == cur && irq == PIC_CASCADE_IR && c->special_fully_nested &&
	    pic_is_master(pic, c))
		return irq;
	return PIC_NO_IRQ;
}

/*
 * Recompute the cascade and the INT output after any change.  Returns true
 * when INT rose: the caller kicks the vCPUs once the lock is dropped.
 *
 * The slave's INT is latched into the master's IR2 request, which is an
 * edge input ("Cascading"); like KVM, every update that finds the slave
 * requesting re-latches it.
 */
static bool pic_update(struct vmm_pic *pic)
{
	bool was = pic->output;

	struct pic_chip *master = &pic->chip[PIC_MASTER];

	if (pic_pending_irq(pic, &pic->chip[PIC_SLAVE]) != PIC_NO_IRQ)
		master->irr |= BIT(PIC_CASCADE_IR);

	pic->output = pic_pending_irq(pic, master) != PIC_NO_IRQ;
	return pic->output && !was;
}

static void pic_unlock(struct vmm_pic *pic, unsigned long flags, bool kick)
{
	spin_unlock_irqrestore(&pic->lock, flags);
	if (kick)
		vmm_irq_pic_kick(pic->vm);
}

/*
 * Feed a new input level to one IR ("Edge and Level Triggered Modes"):
 * a level-triggered request follows the pin, an edge-triggered one is
 * latched on a low-to-high transition and cleared by the acknowledge.
 * Returns 1 if the request is new, 0 if it was already pending, -1 if the
 * IR is masked.
 */
static int pic_set_input(struct pic_chip *c, int ir, bool level)
{
	u8 bit = BIT(ir);
	int ret = 1;

	if (c->elcr & bit) {
		if (level) {
			ret = !(c->irr & bit);
			c->irr |= bit;
			c->last_irr |= bit;
		} else {
			c->irr &= ~bit;
			c->last_irr &= ~bit;
		}
	} else if (level) {
		if (!(c->last_irr & bit)) {
			ret = !(c->irr & bit);
			c->irr |= bit;
		}
		c->last_irr |= bit;
	} else {
		c->last_irr &= ~bit;
	}
	return (c->imr & bit) ? -1 : ret;
}

int vmm_pic_set_irq(struct vmm_vm *vm, int irq, int src, int level)
{
	struct vmm_pic *pic = READ_ONCE(vm->arch.pic);
	unsigned long flags;
	bool kick;
	int ret;

	if (WARN_ON_ONCE(!pic || irq < 0 || irq >= PIC_NR_PINS ||
			 src < 0 || src >= VMM_IRQ_NR_SRCS))
		return -EINVAL;

	spin_lock_irqsave(&pic->lock, flags);
	if (level)
		pic->src_levels[irq] |= BIT(src);
	else
		pic->src_levels[irq] &= ~BIT(src);
	ret = pic_set_input(&pic->chip[irq >> 3], irq & 7,
			    pic->src_levels[irq] != 0);
	kick = pic_update(pic);
	pic_unlock(pic, flags, kick);
	return ret;
}

/* The INTA cycle for one chip ("Interrupt Sequence", AEOI mode). */
static void pic_acknowledge(struct pic_chip *c, int ir)
{
	c->isr |= BIT(ir);
	/* A level-triggered request stays while its pin is high. */
	if (!(c->elcr & BIT(ir)))
		c->irr &= ~BIT(ir);
	if (c->auto_eoi) {
		if (c->rotate_on_auto_eoi)
			c->priority_add = (ir + 1) & 7;
		c->isr &= ~BIT(ir);
	}
}

/*
 * Returns the vector; with no request left at the first INTA pulse, the
 * chip answers IR7 without setting its ISR bit (a spurious interrupt),
 * the slave likewise when the master's IR2 request came from a slave
 * request that has gone away.
 */
int vmm_pic_read_irq(struct vmm_vm *vm)
{
	struct vmm_pic *pic = READ_ONCE(vm->arch.pic);
	struct pic_chip *master, *slave;
	unsigned long flags;
	int ir, slave_ir, vector;
	bool kick;

	if (WARN_ON_ONCE(!pic))
		return -ENODEV;
	master = &pic->chip[PIC_MASTER];
	slave = &pic->chip[PIC_SLAVE];

	spin_lock_irqsave(&pic->lock, flags);
	pic->output = false;
	ir = pic_pending_irq(pic, master);
	if (ir == PIC_NO_IRQ) {
		vector = master->irq_base + PIC_SPURIOUS_IR;
	} else if (ir != PIC_CASCADE_IR) {
		pic_acknowledge(master, ir);
		vector = master->irq_base + ir;
	} else {
		pic_acknowledge(master, ir);
		slave_ir = pic_pending_irq(pic, slave);
		if (slave_ir == PIC_NO_IRQ)
			slave_ir = PIC_SPURIOUS_IR;
		else
			pic_acknowledge(slave, slave_ir);
		vector = slave->irq_base + slave_ir;
	}
	kick = pic_update(pic);
	pic_unlock(pic, flags, kick);
	return vector;
}

bool vmm_pic_has_interrupt(struct vmm_vm *vm)
{
	struct vmm_pic *pic = READ_ONCE(vm->arch.pic);
	unsigned long flags;
	bool out;

	if (!pic)
		return false;
	spin_lock_irqsave(&pic->lock, flags);
	out = pic->output;
	spin_unlock_irqrestore(&pic->lock, flags);
	return out;
}

/*
 * ICW1 ("Initialization Command Words"): the edge sense circuit is reset,
 * the IMR cleared, IR7 gets the lowest priority, special mask mode is
 * cleared and status reads return the IRR; without IC4, the ICW4
 * functions are zero.  Single mode and level-triggered mode (LTIM) are not
 * emulated: a PC has a cascade and the ELCR selects the trigger mode.
 */
static void pic_write_icw1(struct pic_chip *c, u8 val)
{
	c->init4 = val & 0x01;
	c->last_irr = 0;
	c->irr &= c->elcr;
	c->imr = 0;
	c->priority_add = 0;
	c->special_mask = false;
	c->read_isr = false;
	if (!c->init4) {
		c->special_fully_nested = false;
		c->auto_eoi = false;
	}
	c->init_state = PIC_WANT_ICW2;
}

/* OCW3: poll, status read select, special mask mode. */
static void pic_write_ocw3(struct pic_chip *c, u8 val)
{
	if (val & 0x04)
		c->poll = true;
	if (val & 0x02)			/* RR: RIS is valid */
		c->read_isr = val & 0x01;
	if (val & 0x40)			/* ESMM: SMM is valid */
		c->special_mask = val & 0x20;
}

/* The IR a non-specific EOI ends: the most urgent one in service. */
static int pic_highest_in_service(struct pic_chip *c)
{
	int prio = pic_priority(c, c->isr);

	return prio == 8 ? PIC_NO_IRQ : (prio + c->priority_add) & 7;
}

/*
 * OCW2, by its R, SL and EOI bits ("End of Interrupt", "Automatic
 * Rotation", "Specific Rotation"): priority_add names the IR with the
 * highest priority, so making IR n the lowest sets it to n + 1.
 */
static void pic_write_ocw2(struct pic_chip *c, u8 val)
{
	int ir = val & 7;

	switch (val >> 5) {
	case 0:				/* rotate in AEOI mode: clear */
	case 4:				/* rotate in AEOI mode: set */
		c->rotate_on_auto_eoi = val >> 7;
		break;
	case 1:				/* non-specific EOI */
	case 5:				/* rotate on non-specific EOI */
		ir = pic_highest_in_service(c);
		if (ir == PIC_NO_IRQ)
			break;
		c->isr &= ~BIT(ir);
		if (val >> 7)
			c->priority_add = (ir + 1) & 7;
		break;
	case 3:				/* specific EOI */
		c->isr &= ~BIT(ir);
		break;
	case 6:				/* set priority */
		c->priority_add = (ir + 1) & 7;
		break;
	case 7:				/* rotate on specific EOI */
		c->isr &= ~BIT(ir);
		c->priority_add = (ir + 1) & 7;
		break;
	default:			/* 2: no operation */
		break;
	}
}

/* A0=1: ICW2-4 while initializing, else OCW1 (the IMR). */
static void pic_write_data(struct pic_chip *c, u8 val)
{
	switch (c->init_state) {
	case PIC_WANT_ICW2:
		c->irq_base = val & 0xf8;
		c->init_state = PIC_WANT_ICW3;
		break;
	case PIC_WANT_ICW3:
		/* The cascade wiring is fixed: nothing to record. */
		c->init_state = c->init4 ? PIC_WANT_ICW4 : PIC_READY;
		break;
	case PIC_WANT_ICW4:
		c->special_fully_nested = val & 0x10;
		c->auto_eoi = val & 0x02;
		c->init_state = PIC_READY;
		break;
	default:
		c->imr = val;
		break;
	}
}

static void pic_write(struct pic_chip *c, bool a0, u8 val)
{
	if (a0)
		pic_write_data(c, val);
	else if (val & 0x10)
		pic_write_icw1(c, val);
	else if (val & 0x08)
		pic_write_ocw3(c, val);
	else
		pic_write_ocw2(c, val);
}

/*
 * "Poll Command": the read acts as an interrupt acknowledge and returns
 * 1000 0www with the IR, or 0 when nothing is requesting.
 */
static u8 pic_poll(struct pic_chip *c, int ir)
{
	if (ir == PIC_NO_IRQ)
		return 0;
	pic_acknowledge(c, ir);
	return 0x80 | ir;
}

/* "Reading the 8259A Status": IRR or ISR at A0=0, the IMR at A0=1. */
static u8 pic_read(struct vmm_pic *pic, struct pic_chip *c, bool a0)
{
	int ir;

	if (c->poll) {
		c->poll = false;
		ir = pic_pending_irq(pic, c);
		/* The slave's answer consumes the request it made on IR2. */
		if (ir != PIC_NO_IRQ && !pic_is_master(pic, c))
			pic->chip[PIC_MASTER].irr &= ~BIT(PIC_CASCADE_IR);
		return pic_poll(c, ir);
	}
	if (a0)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

static bool pic_port(u16 port)
{
	switch (port) {
	case 0x20: case 0x21: case 0xa0: case 0xa1: case 0x4d0: case 0x4d1:
		return true;
	default:
		return false;
	}
}

/* Called with the lock held; returns true when INT rose. */
static bool pic_access(struct vmm_pic *pic, u16 port, bool in, u32 *val)
{
	struct pic_chip *c;

	if (port == 0x4d0 || port == 0x4d1) {
		/* ELCR1/ELCR2: bits a PIIX hardwires to edge read as 0. */
		c = &pic->chip[port & 1];
		if (in)
			*val = c->elcr;
		else
			c->elcr = *val & c->elcr_mask;
		return false;
	}

	c = &pic->chip[port >= 0xa0 ? PIC_SLAVE : PIC_MASTER];
	if (in)
		*val = pic_read(pic, c, port & 1);
	else
		pic_write(c, port & 1, *val);
	return pic_update(pic);
}

/* Like KVM, accesses other than single bytes are ignored (and read 0). */
bool vmm_pic_pio(struct vmm_vm *vm, u16 port, unsigned int size, bool in,
		 u32 *val)
{
	struct vmm_pic *pic = READ_ONCE(vm->arch.pic);
	unsigned long flags;
	bool kick;

	if (!pic || !pic_port(port))
		return false;
	if (size != 1) {
		if (in)
			*val = 0;
		return true;
	}

	spin_lock_irqsave(&pic->lock, flags);
	kick = pic_access(pic, port, in, val);
	pic_unlock(pic, flags, kick);
	return true;
}

int vmm_pic_get_state(struct vmm_vm *vm, int chip, struct kvm_pic_state *s)
{
	struct vmm_pic *pic = READ_ONCE(vm->arch.pic);
	unsigned long flags;
	struct pic_chip *c;

	if (!pic)
		return -ENXIO;
	if (chip != KVM_IRQCHIP_PIC_MASTER && chip != KVM_IRQCHIP_PIC_SLAVE)
		return -EINVAL;
	c = &pic->chip[chip];

	memset(s, 0, sizeof(*s));
	spin_lock_irqsave(&pic->lock, flags);
	s->last_irr = c->last_irr;
	s->irr = c->irr;
	s->imr = c->imr;
	s->isr = c->isr;
	s->priority_add = c->priority_add;
	s->irq_base = c->irq_base;
	s->read_reg_select = c->read_isr;
	s->poll = c->poll;
	s->special_mask = c->special_mask;
	s->init_state = c->init_state;
	s->auto_eoi = c->auto_eoi;
	s->rotate_on_auto_eoi = c->rotate_on_auto_eoi;
	s->special_fully_nested_mode = c->special_fully_nested;
	s->init4 = c->init4;
	s->elcr = c->elcr;
	s->elcr_mask = c->elcr_mask;
	spin_unlock_irqrestore(&pic->lock, flags);
	return 0;
}

/*
 * Userspace state is taken as is, except that the fields used as numbers
 * are reduced to the range the chip can hold (KVM copies them verbatim).
 */
int vmm_pic_set_state(struct vmm_vm *vm, int chip,
		      const struct kvm_pic_state *s)
{
	struct vmm_pic *pic = READ_ONCE(vm->arch.pic);
	unsigned long flags;
	struct pic_chip *c;
	bool kick;

	if (!pic)
		return -ENXIO;
	if (chip != KVM_IRQCHIP_PIC_MASTER && chip != KVM_IRQCHIP_PIC_SLAVE)
		return -EINVAL;
	c = &pic->chip[chip];

	spin_lock_irqsave(&pic->lock, flags);
	c->last_irr = s->last_irr;
	c->irr = s->irr;
	c->imr = s->imr;
	c->isr = s->isr;
	c->priority_add = s->priority_add & 7;
	c->irq_base = s->irq_base & 0xf8;
	c->read_isr = s->read_reg_select;
	c->poll = s->poll;
	c->special_mask = s->special_mask;
	c->init_state = s->init_state;
	if (c->init_state > PIC_WANT_ICW4)
		c->init_state = PIC_READY;
	c->auto_eoi = s->auto_eoi;
	c->rotate_on_auto_eoi = s->rotate_on_auto_eoi;
	c->special_fully_nested = s->special_fully_nested_mode;
	c->init4 = s->init4;
	c->elcr = s->elcr;
	c->elcr_mask = s->elcr_mask;
	kick = pic_update(pic);
	pic_unlock(pic, flags, kick);
	return 0;
}

/*
 * The state KVM starts from: everything zero (IMR included: until the
 * guest programs them, both chips pass every request on at vector 0+IR),
 * ELCR all edge, and only the inputs a PIIX can make level-triggered
 * settable: IR3-7 on the master, IR9-12, 14 and 15 on the slave (ELCR1,
 * ELCR2).
 */
int vmm_pic_create(struct vmm_vm *vm)
{
	struct vmm_pic *pic;

	if (vm->arch.pic)
		return -EEXIST;
	pic = kzalloc(sizeof(*pic), GFP_KERNEL_ACCOUNT);
	if (!pic)
		return -ENOMEM;
	spin_lock_init(&pic->lock);
	pic->vm = vm;
	pic->chip[PIC_MASTER].elcr_mask = 0xf8;
	pic->chip[PIC_SLAVE].elcr_mask = 0xde;
	/* Readers use READ_ONCE: publish the initialized object. */
	smp_store_release(&vm->arch.pic, pic);
	return 0;
}

void vmm_pic_destroy(struct vmm_vm *vm)
{
	struct vmm_pic *pic = vm->arch.pic;

	if (!pic)
		return;
	vm->arch.pic = NULL;
	kfree(pic);
}
