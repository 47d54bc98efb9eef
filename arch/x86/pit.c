// SPDX-License-Identifier: GPL-2.0
/*
 * The i8254 programmable interval timer: three counters at ports
 * 0x40-0x42 and the control word register at 0x43, clocked at
 * 1.193182 MHz.  Counter 0 drives GSI 0; counter 2's gate and output are
 * bits 0 and 5 of port 0x61 (with KVM_PIT_SPEAKER_DUMMY; otherwise, as in
 * KVM, userspace owns port 0x61 and reaches the gate through
 * KVM_GET/SET_PIT2).  Section names below are those of the Intel 8254
 * datasheet.
 *
 * Counters are not stepped: a counter's value and OUT are computed from
 * the time elapsed since its count was loaded.  Counter 0's interrupts
 * come from an hrtimer whose callback pulses GSI 0 through vmm_irq_set().
 * Ticks the guest could not take are dropped, not re-injected.  BCD
 * counting is reported in the status but counts in binary, as in KVM.
 */
#include <linux/hrtimer.h>
#include <linux/math64.h>
#include <linux/slab.h>

#include <vmm/vmm.h>
#include "irqchip.h"

#define PIT_FREQ		1193182
#define PIT_NR_CHANNELS		3
#define PIT_SPEAKER_PORT	0x61

/*
 * The shortest period counter 0 may fire at, as KVM's min_timer_period_us
 * default: the host does not throttle hrtimers, the guest could.
 */
#define PIT_MIN_PERIOD_NS	(200 * NSEC_PER_USEC)

/* Read/write states ("Read Operations", "Write Operations"): RW values. */
#define PIT_RW_LATCH		0	/* RW = 00: counter latch command */
#define PIT_RW_LSB		1
#define PIT_RW_MSB		2
#define PIT_RW_WORD0		3	/* LSB then MSB: the LSB is next */
#define PIT_RW_WORD1		4	/* LSB then MSB: the MSB is next */

#define PIT_MODE_NONE		0xff	/* after reset, before programming */

/* Port 0x61 (the PC's "system control port B"). */
#define PIT_61_GATE2		BIT(0)
#define PIT_61_SPEAKER		BIT(1)
#define PIT_61_REFRESH		BIT(4)
#define PIT_61_OUT2		BIT(5)

struct pit_channel {
	u32 count;		/* initial count, 1 to 0x10000 */
	u16 latched_count;
	u8 count_latched;	/* PIT_RW_* state of the latched count, 0: none */
	bool status_latched;
	u8 status;
	u8 read_state;		/* PIT_RW_* */
	u8 write_state;		/* PIT_RW_* */
	u8 write_latch;		/* the LSB written first in LSB-then-MSB mode */
	u8 rw_mode;		/* PIT_RW_LSB, _MSB or _WORD0 */
	u8 mode;		/* 0-5, or PIT_MODE_NONE */
	u8 bcd;
	u8 gate;
	ktime_t count_load_time;
};

struct vmm_pit {
	spinlock_t lock;			/* guards the [lock] fields */
	struct vmm_vm *vm;
	bool speaker_port;			/* KVM_PIT_SPEAKER_DUMMY */
	struct pit_channel ch[PIT_NR_CHANNELS];	/* [lock] */
	u32 flags;				/* [lock] KVM_PIT_FLAGS_* */
	u8 refresh;				/* [lock] port 0x61 bit 4 */
	/*
	 * Counter 0's timer.  period_ns (0: one-shot) is written under lock
	 * while the timer is cancelled and only read by the callback, which
	 * takes no lock: hrtimer_cancel() under pit->lock would otherwise
	 * wait forever for a callback spinning on it.
	 */
	struct hrtimer timer;
	s64 period_ns;
};

#define PIT_KNOWN_FLAGS	(KVM_PIT_FLAGS_HPET_LEGACY | \
			 KVM_PIT_FLAGS_SPEAKER_DATA_ON)

/* Input clock pulses since the count was loaded. */
static u64 pit_elapsed_ticks(struct pit_channel *c)
{
	s64 ns = ktime_to_ns(ktime_sub(ktime_get(), c->count_load_time));

	if (ns <= 0)
		return 0;
	return mul_u64_u32_div(ns, PIT_FREQ, NSEC_PER_SEC);
}

static u32 pit_mod(u64 ticks, u32 count)
{
	u32 rem;

	div_u64_rem(ticks, count, &rem);
	return rem;
}

/*
 * The counting element ("Mode Definitions"): modes 0, 1, 4 and 5 wrap
 * around after terminal count; 2 and 3 reload the initial count, mode 3
 * counting down by two.
 */
static u16 pit_counter(struct pit_channel *c)
{
	u64 d = pit_elapsed_ticks(c);

	switch (c->mode) {
	case 0: case 1: case 4: case 5:
		return (c->count - d) & 0xffff;
	case 3:
		return c->count - pit_mod(2 * d, c->count);
	default:
		return c->count - pit_mod(d, c->count);
	}
}

/*
 * OUT ("Mode Definitions"): mode 0 goes high at terminal count; mode 1
 * is low until it; mode 2 is low for the one clock in which the counter
 * is 1; mode 3 is high for the first half of each period (the longer
 * half, for odd counts); modes 4 and 5 pulse low for one clock at
 * terminal count.
 */
static bool pit_out(struct pit_channel *c)
{
	u64 d = pit_elapsed_ticks(c);

	switch (c->mode) {
	case 1:
		return d < c->count;
	case 2:
		return pit_mod(d, c->count) != c->count - 1;
	case 3:
		return pit_mod(d, c->count) < (c->count + 1) / 2;
	case 4: case 5:
		return d != c->count;
	default:
		return d >= c->count;
	}
}

/* ("Counter Latch Command") A second latch before the read is ignored. */
static void pit_latch_count(struct pit_channel *c)
{
	if (c->count_latched)
		return;
	c->latched_count = pit_counter(c);
	c->count_latched = c->rw_mode;
}

/* ("Read-Back Command", status byte) NULL COUNT always reads 0. */
static void pit_latch_status(struct pit_channel *c)
{
	if (c->status_latched)
		return;
	c->status = pit_out(c) << 7 | (c->rw_mode & 3) << 4 |
		    (c->mode & 7) << 1 | (c->bcd & 1);
	c->status_latched = true;
}

static enum hrtimer_restart pit_timer_fn(struct hrtimer *timer)
{
	struct vmm_pit *pit = container_of(timer, struct vmm_pit, timer);

	vmm_irq_set(pit->vm, 0, VMM_IRQ_SRC_PIT, 1);
	vmm_irq_set(pit->vm, 0, VMM_IRQ_SRC_PIT, 0);
	if (!pit->period_ns)
		return HRTIMER_NORESTART;
	/* Skip the periods the host missed rather than fire them in a burst. */
	hrtimer_forward_now(timer, ns_to_ktime(pit->period_ns));
	return HRTIMER_RESTART;
}

/*
 * (Re)start counter 0's interrupts after its count or mode changed: a
 * one-shot for modes 0, 1 and 4, periodic for 2 and 3.  Nothing while the
 * HPET has taken over IRQ0 (legacy replacement) or without an IOAPIC.
 */
static void pit_arm_timer(struct vmm_pit *pit)
{
	struct pit_channel *c = &pit->ch[0];
	s64 interval;

	hrtimer_cancel(&pit->timer);
	pit->period_ns = 0;
	if ((pit->flags & KVM_PIT_FLAGS_HPET_LEGACY) ||
	    !READ_ONCE(pit->vm->arch.ioapic))
		return;

	interval = mul_u64_u32_div(c->count, NSEC_PER_SEC, PIT_FREQ);
	switch (c->mode) {
	case 0: case 1: case 4:
		break;
	case 2: case 3:
		pit->period_ns = max_t(s64, interval, PIT_MIN_PERIOD_NS);
		break;
	default:
		return;
	}
	hrtimer_start(&pit->timer, ktime_add_ns(ktime_get(), interval),
		      HRTIMER_MODE_ABS);
}

/* "Write Operations": the initial count 0 stands for 0x10000. */
static void pit_load_count(struct vmm_pit *pit, int channel, u32 val)
{
	struct pit_channel *c = &pit->ch[channel];

	c->count = val ? val : 0x10000;
	c->count_load_time = ktime_get();
	if (channel == 0)
		pit_arm_timer(pit);
}

/* ("Gate") Modes 1, 2, 3 and 5 restart counting on a rising edge. */
static void pit_set_gate(struct pit_channel *c, bool gate)
{
	switch (c->mode) {
	case 1: case 2: case 3: case 5:
		if (gate && !c->gate)
			c->count_load_time = ktime_get();
		break;
	}
	c->gate = gate;
}

/* The read-back command: bits 3-1 select counters 2-0, active low flags. */
static void pit_read_back(struct vmm_pit *pit, u8 val)
{
	int i;

	for (i = 0; i < PIT_NR_CHANNELS; i++) {
		if (!(val & (2 << i)))
			continue;
		if (!(val & 0x20))
			pit_latch_count(&pit->ch[i]);
		if (!(val & 0x10))
			pit_latch_status(&pit->ch[i]);
	}
}

/* "Control Word Format": SC, RW, M and BCD.  Modes 6 and 7 are 2 and 3. */
static void pit_write_control(struct vmm_pit *pit, u8 val)
{
	struct pit_channel *c;
	u8 rw = (val >> 4) & 3;

	if ((val >> 6) == 3) {
		pit_read_back(pit, val);
		return;
	}
	c = &pit->ch[val >> 6];
	if (rw == PIT_RW_LATCH) {
		pit_latch_count(c);
		return;
	}
	c->rw_mode = rw;
	c->read_state = rw;
	c->write_state = rw;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4;
	c->bcd = val & 1;
}

static void pit_write_counter(struct vmm_pit *pit, int channel, u8 val)
{
	struct pit_channel *c = &pit->ch[channel];

	switch (c->write_state) {
	case PIT_RW_MSB:
		pit_load_count(pit, channel, val << 8);
		break;
	case PIT_RW_WORD0:
		c->write_latch = val;
		c->write_state = PIT_RW_WORD1;
		break;
	case PIT_RW_WORD1:
		pit_load_count(pit, channel, c->write_latch | val << 8);
		c->write_state = PIT_RW_WORD0;
		break;
	default:
		pit_load_count(pit, channel, val);
		break;
	}
}

/* A latched count, byte by byte as rw_mode said when it was latched. */
static u8 pit_read_latched(struct pit_channel *c)
{
	switch (c->count_latched) {
	case PIT_RW_MSB:
		c->count_latched = 0;
		return c->latched_count >> 8;
	case PIT_RW_WORD0:
		c->count_latched = PIT_RW_MSB;
		return c->latched_count & 0xff;
	default:
		c->count_latched = 0;
		return c->latched_count & 0xff;
	}
}

/* "Read Operations": latched status first, then a latched count, else live. */
static u8 pit_read_counter(struct pit_channel *c)
{
	u16 count;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->count_latched)
		return pit_read_latched(c);

	count = pit_counter(c);
	switch (c->read_state) {
	case PIT_RW_MSB:
		return count >> 8;
	case PIT_RW_WORD0:
		c->read_state = PIT_RW_WORD1;
		return count & 0xff;
	case PIT_RW_WORD1:
		c->read_state = PIT_RW_WORD0;
		return count >> 8;
	default:
		return count & 0xff;
	}
}

/*
 * Port 0x61: counter 2's gate and the speaker enable are stored; OUT2 is
 * computed; the DRAM refresh bit toggles at every read, enough for code
 * that waits for it to change.
 */
static u8 pit_read_speaker(struct vmm_pit *pit)
{
	struct pit_channel *c = &pit->ch[2];
	u8 val = pit->refresh ^= PIT_61_REFRESH;

	if (c->gate)
		val |= PIT_61_GATE2;
	if (pit->flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON)
		val |= PIT_61_SPEAKER;
	if (pit_out(c))
		val |= PIT_61_OUT2;
	return val;
}

static void pit_write_speaker(struct vmm_pit *pit, u8 val)
{
	if (val & PIT_61_SPEAKER)
		pit->flags |= KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	else
		pit->flags &= ~KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	pit_set_gate(&pit->ch[2], val & PIT_61_GATE2);
}

/* Called with the lock held.  The control word register reads 0, as in KVM. */
static void pit_access(struct vmm_pit *pit, u16 port, bool in, u32 *val)
{
	if (port == PIT_SPEAKER_PORT) {
		if (in)
			*val = pit_read_speaker(pit);
		else
			pit_write_speaker(pit, *val);
	} else if (port == 0x43) {
		if (in)
			*val = 0;
		else
			pit_write_control(pit, *val);
	} else if (in) {
		*val = pit_read_counter(&pit->ch[port - 0x40]);
	} else {
		pit_write_counter(pit, port - 0x40, *val);
	}
}

/* Any access size is taken as a byte access, as in KVM. */
bool vmm_pit_pio(struct vmm_vm *vm, u16 port, unsigned int size, bool in,
		 u32 *val)
{
	struct vmm_pit *pit = READ_ONCE(vm->arch.pit);
	unsigned long flags;

	if (!pit)
		return false;
	if ((port < 0x40 || port > 0x43) &&
	    (port != PIT_SPEAKER_PORT || !pit->speaker_port))
		return false;

	spin_lock_irqsave(&pit->lock, flags);
	pit_access(pit, port, in, val);
	spin_unlock_irqrestore(&pit->lock, flags);
	return true;
}

int vmm_pit_get_state(struct vmm_vm *vm, struct kvm_pit_state2 *s)
{
	struct vmm_pit *pit = READ_ONCE(vm->arch.pit);
	struct kvm_pit_channel_state *uc;
	struct pit_channel *c;
	unsigned long flags;
	int i;

	if (!pit)
		return -ENXIO;
	memset(s, 0, sizeof(*s));
	spin_lock_irqsave(&pit->lock, flags);
	for (i = 0; i < PIT_NR_CHANNELS; i++) {
		c = &pit->ch[i];
		uc = &s->channels[i];
		uc->count = c->count;
		uc->latched_count = c->latched_count;
		uc->count_latched = c->count_latched;
		uc->status_latched = c->status_latched;
		uc->status = c->status;
		uc->read_state = c->read_state;
		uc->write_state = c->write_state;
		uc->write_latch = c->write_latch;
		uc->rw_mode = c->rw_mode;
		uc->mode = c->mode;
		uc->bcd = c->bcd;
		uc->gate = c->gate;
		uc->count_load_time = ktime_to_ns(c->count_load_time);
	}
	s->flags = pit->flags;
	spin_unlock_irqrestore(&pit->lock, flags);
	return 0;
}

/*
 * As in KVM, restoring reloads every count now (count_load_time is not
 * taken from userspace) and restarts counter 0's timer from its new
 * state.  Counts are limited to what a guest can load (1 to 0x10000).
 */
int vmm_pit_set_state(struct vmm_vm *vm, const struct kvm_pit_state2 *s)
{
	struct vmm_pit *pit = READ_ONCE(vm->arch.pit);
	const struct kvm_pit_channel_state *uc;
	struct pit_channel *c;
	unsigned long flags;
	int i;

	if (!pit)
		return -ENXIO;
	spin_lock_irqsave(&pit->lock, flags);
	pit->flags = s->flags & PIT_KNOWN_FLAGS;
	for (i = 0; i < PIT_NR_CHANNELS; i++) {
		c = &pit->ch[i];
		uc = &s->channels[i];
		c->latched_count = uc->latched_count;
		c->count_latched = uc->count_latched;
		c->status_latched = uc->status_latched;
		c->status = uc->status;
		c->read_state = uc->read_state;
		c->write_state = uc->write_state;
		c->write_latch = uc->write_latch;
		c->rw_mode = uc->rw_mode;
		c->mode = uc->mode;
		c->bcd = uc->bcd;
		c->gate = uc->gate;
		pit_load_count(pit, i, min_t(u32, uc->count, 0x10000));
	}
	spin_unlock_irqrestore(&pit->lock, flags);
	return 0;
}

/* KVM's reset state: no mode, count 0x10000, gates 0 and 1 high. */
static void pit_reset(struct vmm_pit *pit)
{
	int i;

	pit->flags = 0;
	for (i = 0; i < PIT_NR_CHANNELS; i++) {
		pit->ch[i].mode = PIT_MODE_NONE;
		pit->ch[i].gate = i != 2;
		pit_load_count(pit, i, 0);
	}
}

/* KVM_CREATE_PIT2: KVM_PIT_SPEAKER_DUMMY puts port 0x61 in the kernel. */
int vmm_pit_create(struct vmm_vm *vm, u32 flags)
{
	struct vmm_pit *pit;
	unsigned long irqflags;

	if (flags & ~KVM_PIT_SPEAKER_DUMMY)
		return -EINVAL;
	if (vm->arch.pit)
		return -EEXIST;
	pit = kzalloc(sizeof(*pit), GFP_KERNEL_ACCOUNT);
	if (!pit)
		return -ENOMEM;
	spin_lock_init(&pit->lock);
	pit->vm = vm;
	pit->speaker_port = flags & KVM_PIT_SPEAKER_DUMMY;
	hrtimer_init(&pit->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	pit->timer.function = pit_timer_fn;

	spin_lock_irqsave(&pit->lock, irqflags);
	pit_reset(pit);
	spin_unlock_irqrestore(&pit->lock, irqflags);
	/* Readers use READ_ONCE: publish the initialized object. */
	smp_store_release(&vm->arch.pit, pit);
	return 0;
}

/* The timer is stopped before the PIT goes: its callback uses pit->vm. */
void vmm_pit_destroy(struct vmm_vm *vm)
{
	struct vmm_pit *pit = vm->arch.pit;

	if (!pit)
		return;
	hrtimer_cancel(&pit->timer);
	vm->arch.pit = NULL;
	kfree(pit);
}
