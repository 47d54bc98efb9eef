// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the i8259A pair, the IOAPIC and the i8254, built from
 * arch/x86/{pic,ioapic,pit}.c unchanged.  The callbacks the devices make
 * into the LAPIC and the GSI router are faked here: deliveries are
 * recorded, and GSI 0 is routed as QEMU does (PIC IR0, IOAPIC pin 2).
 *
 * Prints "ok <name>" or "FAIL <name>: <why>" per check, then
 * "N passed, N failed".
 */
#include "kshim.h"
#include "shim.h"
#include "irqchip.h"
#include <vmm/vmm.h>

static unsigned int n_pass, n_fail;

static void check(bool ok, const char *name, const char *expr, int line)
{
	if (ok) {
		n_pass++;
		printf("ok %s\n", name);
	} else {
		n_fail++;
		printf("FAIL %s: line %d: %s\n", name, line, expr);
	}
}

#define CHECK(name, cond)	check((cond), (name), #cond, __LINE__)
#define CHECK_EQ(name, a, b) do {					\
	long long __a = (a), __b = (b);					\
	if (__a == __b) {						\
		check(true, (name), "", __LINE__);			\
	} else {							\
		char __m[160];						\
		snprintf(__m, sizeof(__m), "%s = %#llx, want %#llx",	\
			 #a, __a, __b);					\
		check(false, (name), __m, __LINE__);			\
	}								\
} while (0)

/* ---- the fakes of lapic.c and irq.c ---- */

#define MAX_DELIVERIES 64
static struct vmm_apic_irq deliveries[MAX_DELIVERIES];
static int nr_deliveries;
static int deliver_ret = 1;
static int locks_at_deliver;
static int kicks;
static int locks_at_kick;
static int gsi_calls, gsi_raises;
static int locks_at_gsi;
static bool route_to_chips = true;

int vmm_lapic_deliver(struct vmm_vm *vm, struct vmm_vcpu *src,
		      const struct vmm_apic_irq *irq)
{
	if (nr_deliveries < MAX_DELIVERIES)
		deliveries[nr_deliveries] = *irq;
	nr_deliveries++;
	if (shim_locks_held > locks_at_deliver)
		locks_at_deliver = shim_locks_held;
	return deliver_ret;
}

void vmm_irq_pic_kick(struct vmm_vm *vm)
{
	kicks++;
	if (shim_locks_held > locks_at_kick)
		locks_at_kick = shim_locks_held;
}

int vmm_irq_set(struct vmm_vm *vm, u32 gsi, int src, int level)
{
	gsi_calls++;
	gsi_raises += level;
	if (shim_locks_held > locks_at_gsi)
		locks_at_gsi = shim_locks_held;
	if (!route_to_chips || gsi != 0)
		return 0;
	if (vm->arch.pic)
		vmm_pic_set_irq(vm, 0, src, level);
	if (vm->arch.ioapic)
		vmm_ioapic_set_irq(vm, 2, src, level);
	return 0;
}

static void reset_fakes(void)
{
	nr_deliveries = 0;
	deliver_ret = 1;
	locks_at_deliver = 0;
	kicks = 0;
	locks_at_kick = 0;
	gsi_calls = 0;
	gsi_raises = 0;
	locks_at_gsi = 0;
	route_to_chips = true;
}

/* ---- port I/O helpers ---- */

static void pic_out(struct vmm_vm *vm, u16 port, u8 val)
{
	u32 v = val;

	if (!vmm_pic_pio(vm, port, 1, false, &v))
		printf("note: PIC port %#x not handled\n", port);
}

static u8 pic_in(struct vmm_vm *vm, u16 port)
{
	u32 v = 0xdeadbeef;

	vmm_pic_pio(vm, port, 1, true, &v);
	return v;
}

static void pit_out(struct vmm_vm *vm, u16 port, u8 val)
{
	u32 v = val;

	vmm_pit_pio(vm, port, 1, false, &v);
}

static u8 pit_in(struct vmm_vm *vm, u16 port)
{
	u32 v = 0xdeadbeef;

	vmm_pit_pio(vm, port, 1, true, &v);
	return v;
}

static struct kvm_pic_state pic_state(struct vmm_vm *vm, int chip)
{
	struct kvm_pic_state s;

	vmm_pic_get_state(vm, chip, &s);
	return s;
}

/* Linux's init_8259A(0) and SeaBIOS's pic_setup(): the same sequence. */
static void pic_init(struct vmm_vm *vm, u8 master_base, u8 slave_base,
		     u8 icw4)
{
	pic_out(vm, 0x21, 0xff);
	pic_out(vm, 0xa1, 0xff);
	pic_out(vm, 0x20, 0x11);		/* ICW1: edge, cascade, ICW4 */
	pic_out(vm, 0x21, master_base);		/* ICW2 */
	pic_out(vm, 0x21, 0x04);		/* ICW3: slave on IR2 */
	pic_out(vm, 0x21, icw4);		/* ICW4: 8086 mode */
	pic_out(vm, 0xa0, 0x11);
	pic_out(vm, 0xa1, slave_base);
	pic_out(vm, 0xa1, 0x02);		/* ICW3: slave ID 2 */
	pic_out(vm, 0xa1, icw4);
	pic_out(vm, 0x21, 0xfb);		/* all masked but the cascade */
	pic_out(vm, 0xa1, 0xff);
}

static struct vmm_vm *new_vm(void)
{
	struct vmm_vm *vm = calloc(1, sizeof(*vm));

	reset_fakes();
	if (vmm_pic_create(vm) || vmm_ioapic_create(vm))
		abort();
	return vm;
}

static void free_vm(struct vmm_vm *vm)
{
	vmm_pit_destroy(vm);
	vmm_pic_destroy(vm);
	vmm_ioapic_destroy(vm);
	free(vm);
}

/* ================================ PIC ================================ */

static void test_pic_create(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_pic_state m = pic_state(vm, 0), s = pic_state(vm, 1);
	struct kvm_pic_state bad;

	CHECK_EQ("pic: create twice is EEXIST", vmm_pic_create(vm), -EEXIST);
	CHECK_EQ("pic: reset master elcr_mask", m.elcr_mask, 0xf8);
	CHECK_EQ("pic: reset slave elcr_mask", s.elcr_mask, 0xde);
	CHECK("pic: reset imr/irr/isr 0", !m.imr && !m.irr && !m.isr && !s.imr);
	CHECK_EQ("pic: bad chip", vmm_pic_get_state(vm, 2, &bad), -EINVAL);
	CHECK("pic: unrelated port not handled",
	      !vmm_pic_pio(vm, 0x22, 1, true, &(u32){0}));
	free_vm(vm);

	vm = calloc(1, sizeof(*vm));
	vmm_pic_destroy(vm);		/* tolerates NULL */
	vmm_ioapic_destroy(vm);
	vmm_pit_destroy(vm);
	CHECK("pic: no PIC, no INTR", !vmm_pic_has_interrupt(vm));
	CHECK("pic: no PIC, port not handled",
	      !vmm_pic_pio(vm, 0x20, 1, true, &(u32){0}));
	free(vm);
}

static void test_pic_init_sequence(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_pic_state m, s;

	pic_init(vm, 0x30, 0x38, 0x01);
	m = pic_state(vm, 0);
	s = pic_state(vm, 1);
	CHECK_EQ("pic init: master vector base", m.irq_base, 0x30);
	CHECK_EQ("pic init: slave vector base", s.irq_base, 0x38);
	CHECK("pic init: both ready", m.init_state == 0 && s.init_state == 0);
	CHECK("pic init: ICW4 seen", m.init4 && s.init4 && !m.auto_eoi);
	CHECK_EQ("pic init: master IMR", pic_in(vm, 0x21), 0xfb);
	CHECK_EQ("pic init: slave IMR", pic_in(vm, 0xa1), 0xff);

	/* SeaBIOS's bases; ICW2 keeps T7-T3 only. */
	pic_init(vm, 0x0d, 0x70, 0x01);
	CHECK_EQ("pic init: ICW2 low bits ignored", pic_state(vm, 0).irq_base, 0x08);

	/* ICW1 without IC4 clears the ICW4 functions and skips ICW4. */
	pic_out(vm, 0x20, 0x11);
	pic_out(vm, 0x21, 0x08);
	pic_out(vm, 0x21, 0x04);
	pic_out(vm, 0x21, 0x03);		/* AEOI */
	CHECK("pic init: AEOI set by ICW4", pic_state(vm, 0).auto_eoi);
	pic_out(vm, 0x20, 0x10);
	pic_out(vm, 0x21, 0x08);
	pic_out(vm, 0x21, 0x04);
	m = pic_state(vm, 0);
	CHECK("pic init: no IC4 clears AEOI, no ICW4 awaited",
	      !m.auto_eoi && m.init_state == 0);
	pic_out(vm, 0x21, 0x5a);		/* now OCW1 */
	CHECK_EQ("pic init: OCW1 after ICW3", pic_in(vm, 0x21), 0x5a);
	free_vm(vm);
}

static void test_pic_mask_and_eoi(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_pic_state m;

	pic_init(vm, 0x30, 0x38, 0x01);
	pic_out(vm, 0x21, 0xfb);
	kicks = 0;
	CHECK_EQ("pic: masked IR0 returns -1", vmm_pic_set_irq(vm, 0, 0, 1), -1);
	CHECK("pic: masked IR0 no INTR", !vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic: masked IR0 latched in IRR", pic_in(vm, 0x20) & 1, 1);
	CHECK_EQ("pic: no kick while masked", kicks, 0);
	pic_out(vm, 0x21, 0xfa);		/* unmask IR0 */
	CHECK("pic: unmask raises INTR", vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic: INTR rising edge kicks once", kicks, 1);
	CHECK_EQ("pic: kick without the PIC lock", locks_at_kick, 0);

	CHECK_EQ("pic: INTA vector", vmm_pic_read_irq(vm), 0x30);
	m = pic_state(vm, 0);
	CHECK("pic: INTA moves IRR to ISR", m.isr == 1 && !(m.irr & 1));
	CHECK("pic: INTR low after INTA", !vmm_pic_has_interrupt(vm));

	vmm_pic_set_irq(vm, 0, 0, 0);
	CHECK_EQ("pic: edge after INTA is new", vmm_pic_set_irq(vm, 0, 0, 1), 1);
	CHECK("pic: IR0 in service blocks IR0", !vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic: still-high edge is no new edge (1, as KVM)",
		 vmm_pic_set_irq(vm, 0, 0, 1), 1);	/* KVM: no edge, 1 */
	vmm_pic_set_irq(vm, 0, 0, 0);
	CHECK_EQ("pic: second edge before INTA is coalesced",
		 vmm_pic_set_irq(vm, 0, 0, 1), 0);

	pic_out(vm, 0x20, 0x20);		/* non-specific EOI */
	CHECK_EQ("pic: EOI clears ISR", pic_state(vm, 0).isr, 0);
	CHECK("pic: EOI lets the pending IR0 through", vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic: second IR0", vmm_pic_read_irq(vm), 0x30);

	pic_out(vm, 0x20, 0x60);		/* specific EOI, IR0 */
	CHECK_EQ("pic: specific EOI", pic_state(vm, 0).isr, 0);
	free_vm(vm);
}

static void test_pic_priority(void)
{
	struct vmm_vm *vm = new_vm();

	pic_init(vm, 0x30, 0x38, 0x01);
	pic_out(vm, 0x21, 0x00);
	vmm_pic_set_irq(vm, 3, 0, 1);
	vmm_pic_set_irq(vm, 1, 0, 1);
	CHECK_EQ("pic prio: IR1 before IR3", vmm_pic_read_irq(vm), 0x31);
	CHECK("pic prio: IR3 waits behind IR1", !vmm_pic_has_interrupt(vm));
	pic_out(vm, 0x20, 0x20);
	CHECK_EQ("pic prio: then IR3", vmm_pic_read_irq(vm), 0x33);
	vmm_pic_set_irq(vm, 1, 0, 0);
	vmm_pic_set_irq(vm, 1, 0, 1);
	CHECK("pic prio: IR1 preempts IR3 in service", vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic prio: nested IR1", vmm_pic_read_irq(vm), 0x31);
	CHECK_EQ("pic prio: both in service", pic_state(vm, 0).isr, 0x0a);
	pic_out(vm, 0x20, 0x20);
	CHECK_EQ("pic prio: non-specific EOI ends the highest", pic_state(vm, 0).isr, 0x08);
	pic_out(vm, 0x20, 0x20);

	/* Set priority: IR4 lowest, so IR5 is the highest. */
	pic_out(vm, 0x20, 0xc4);
	CHECK_EQ("pic prio: set priority", pic_state(vm, 0).priority_add, 5);
	vmm_pic_set_irq(vm, 1, 0, 0);
	vmm_pic_set_irq(vm, 1, 0, 1);
	vmm_pic_set_irq(vm, 6, 0, 1);
	CHECK_EQ("pic prio: rotated, IR6 before IR1", vmm_pic_read_irq(vm), 0x36);
	/* Rotate on non-specific EOI: IR6 becomes the lowest. */
	pic_out(vm, 0x20, 0xa0);
	CHECK_EQ("pic prio: rotate on EOI", pic_state(vm, 0).priority_add, 7);
	CHECK_EQ("pic prio: then IR1", vmm_pic_read_irq(vm), 0x31);
	pic_out(vm, 0x20, 0xe1);		/* rotate on specific EOI, IR1 */
	CHECK("pic prio: rotate on specific EOI",
	      pic_state(vm, 0).priority_add == 2 && pic_state(vm, 0).isr == 0);
	free_vm(vm);
}

static void test_pic_cascade(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_pic_state m, s;

	pic_init(vm, 0x30, 0x38, 0x01);
	pic_out(vm, 0xa1, 0xef);		/* unmask IR12 */
	CHECK_EQ("pic cascade: IR12 delivered", vmm_pic_set_irq(vm, 12, 0, 1), 1);
	CHECK("pic cascade: INTR via IR2", vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic cascade: slave vector", vmm_pic_read_irq(vm), 0x3c);
	m = pic_state(vm, 0);
	s = pic_state(vm, 1);
	CHECK("pic cascade: master IR2 and slave IR4 in service",
	      m.isr == 0x04 && s.isr == 0x10 && !(m.irr & 4) && !(s.irr & 0x10));
	pic_out(vm, 0xa0, 0x20);
	pic_out(vm, 0x20, 0x20);
	CHECK("pic cascade: EOI to both",
	      !pic_state(vm, 0).isr && !pic_state(vm, 1).isr);

	/* Slave masked: the request stays in the slave. */
	pic_out(vm, 0xa1, 0xff);
	vmm_pic_set_irq(vm, 12, 0, 0);
	CHECK_EQ("pic cascade: masked slave pin", vmm_pic_set_irq(vm, 12, 0, 1), -1);
	CHECK("pic cascade: no INTR", !vmm_pic_has_interrupt(vm));
	free_vm(vm);
}

static void test_pic_elcr(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_pic_state s;

	pic_init(vm, 0x30, 0x38, 0x01);
	pic_out(vm, 0x4d0, 0xff);
	pic_out(vm, 0x4d1, 0xff);
	CHECK_EQ("pic elcr: master mask", pic_in(vm, 0x4d0), 0xf8);
	CHECK_EQ("pic elcr: slave mask", pic_in(vm, 0x4d1), 0xde);
	pic_out(vm, 0x4d0, 0x00);
	pic_out(vm, 0x4d1, 0x0e);		/* IR9-11 level */
	CHECK_EQ("pic elcr: readback", pic_in(vm, 0x4d1), 0x0e);

	pic_out(vm, 0xa1, 0xfb);		/* unmask IR10 */
	CHECK_EQ("pic level: raise", vmm_pic_set_irq(vm, 10, 0, 1), 1);
	CHECK_EQ("pic level: raise again coalesced", vmm_pic_set_irq(vm, 10, 0, 1), 0);
	CHECK_EQ("pic level: INTA", vmm_pic_read_irq(vm), 0x3a);
	s = pic_state(vm, 1);
	CHECK("pic level: IRR stays while the pin is high",
	      (s.irr & 4) && (s.isr & 4));
	pic_out(vm, 0xa0, 0x20);
	pic_out(vm, 0x20, 0x20);
	CHECK("pic level: still asserted after EOI", vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic level: again", vmm_pic_read_irq(vm), 0x3a);
	pic_out(vm, 0xa0, 0x20);
	pic_out(vm, 0x20, 0x20);
	vmm_pic_set_irq(vm, 10, 0, 0);
	CHECK("pic level: lowered pin clears IRR", !(pic_state(vm, 1).irr & 4));

	/* Two sources on one pin: the pin is their OR. */
	vmm_pic_set_irq(vm, 10, VMM_IRQ_SRC_USER, 1);
	vmm_pic_set_irq(vm, 10, VMM_IRQ_SRC_PIT, 1);
	vmm_pic_set_irq(vm, 10, VMM_IRQ_SRC_USER, 0);
	CHECK("pic level: OR of sources keeps it high", pic_state(vm, 1).irr & 4);
	vmm_pic_set_irq(vm, 10, VMM_IRQ_SRC_PIT, 0);
	CHECK("pic level: all sources low", !(pic_state(vm, 1).irr & 4));
	free_vm(vm);
}

static void test_pic_edge_sources(void)
{
	struct vmm_vm *vm = new_vm();

	pic_init(vm, 0x30, 0x38, 0x01);
	pic_out(vm, 0x21, 0xfa);
	vmm_pic_set_irq(vm, 0, VMM_IRQ_SRC_USER, 1);
	vmm_pic_read_irq(vm);
	pic_out(vm, 0x20, 0x20);
	/* The PIT pulses while userspace holds the pin high: no new edge. */
	vmm_pic_set_irq(vm, 0, VMM_IRQ_SRC_PIT, 1);
	vmm_pic_set_irq(vm, 0, VMM_IRQ_SRC_PIT, 0);
	CHECK("pic edge: no edge while another source holds the pin",
	      !vmm_pic_has_interrupt(vm));
	vmm_pic_set_irq(vm, 0, VMM_IRQ_SRC_USER, 0);
	vmm_pic_set_irq(vm, 0, VMM_IRQ_SRC_PIT, 1);
	CHECK("pic edge: edge once all were low", vmm_pic_has_interrupt(vm));
	shim_warnings = 0;
	CHECK_EQ("pic edge: bad source", vmm_pic_set_irq(vm, 0, 7, 1), -EINVAL);
	CHECK_EQ("pic edge: bad pin", vmm_pic_set_irq(vm, 16, 0, 1), -EINVAL);
	CHECK_EQ("pic edge: both warned", shim_warnings, 2);
	shim_warnings = 0;
	free_vm(vm);
}

static void test_pic_spurious(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_pic_state m;

	pic_init(vm, 0x30, 0x38, 0x01);
	CHECK_EQ("pic spurious: nothing pending is IRQ7", vmm_pic_read_irq(vm), 0x37);
	CHECK_EQ("pic spurious: no ISR bit", pic_state(vm, 0).isr, 0);

	/* A level request that goes away before the INTA. */
	pic_out(vm, 0x4d0, 0x20);
	pic_out(vm, 0x21, 0xdb);
	vmm_pic_set_irq(vm, 5, 0, 1);
	CHECK("pic spurious: IR5 requested", vmm_pic_has_interrupt(vm));
	vmm_pic_set_irq(vm, 5, 0, 0);
	CHECK_EQ("pic spurious: withdrawn level is IRQ7", vmm_pic_read_irq(vm), 0x37);
	pic_in(vm, 0x20);
	pic_out(vm, 0x20, 0x0b);		/* OCW3: read ISR */
	CHECK_EQ("pic spurious: ISR7 clear", pic_in(vm, 0x20), 0);
	pic_out(vm, 0x20, 0x0a);		/* OCW3: read IRR */

	/* The slave withdraws a level request: IRQ15 from the slave. */
	pic_out(vm, 0x4d1, 0x04);
	pic_out(vm, 0xa1, 0xfb);
	vmm_pic_set_irq(vm, 10, 0, 1);
	vmm_pic_set_irq(vm, 10, 0, 0);
	CHECK("pic spurious: master IR2 latched", vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic spurious: slave IRQ15", vmm_pic_read_irq(vm), 0x3f);
	m = pic_state(vm, 0);
	CHECK("pic spurious: master IR2 in service, slave none",
	      m.isr == 4 && pic_state(vm, 1).isr == 0);
	free_vm(vm);
}

static void test_pic_modes(void)
{
	struct vmm_vm *vm = new_vm();

	/* Automatic EOI */
	pic_init(vm, 0x30, 0x38, 0x03);
	pic_out(vm, 0x21, 0xfe);
	vmm_pic_set_irq(vm, 0, 0, 1);
	CHECK_EQ("pic aeoi: vector", vmm_pic_read_irq(vm), 0x30);
	CHECK_EQ("pic aeoi: no ISR bit", pic_state(vm, 0).isr, 0);
	pic_out(vm, 0x20, 0x80);		/* rotate in AEOI: set */
	vmm_pic_set_irq(vm, 0, 0, 0);
	vmm_pic_set_irq(vm, 0, 0, 1);
	vmm_pic_read_irq(vm);
	CHECK_EQ("pic aeoi: rotate in AEOI", pic_state(vm, 0).priority_add, 1);

	/* OCW3 register reads */
	pic_init(vm, 0x30, 0x38, 0x01);
	pic_out(vm, 0x21, 0xf0);
	vmm_pic_set_irq(vm, 1, 0, 1);
	vmm_pic_set_irq(vm, 3, 0, 1);
	vmm_pic_read_irq(vm);
	CHECK_EQ("pic ocw3: IRR by default", pic_in(vm, 0x20), 0x08);
	pic_out(vm, 0x20, 0x0b);
	CHECK_EQ("pic ocw3: read ISR", pic_in(vm, 0x20), 0x02);
	CHECK_EQ("pic ocw3: A0=1 reads IMR", pic_in(vm, 0x21), 0xf0);

	/* Poll: the read is the acknowledge. */
	pic_out(vm, 0x20, 0x20);
	pic_out(vm, 0x20, 0x0c);
	CHECK_EQ("pic poll: 0x80 | IR", pic_in(vm, 0x20), 0x83);
	CHECK_EQ("pic poll: IR3 now in service", pic_state(vm, 0).isr, 0x08);
	pic_out(vm, 0x20, 0x0c);
	CHECK_EQ("pic poll: nothing", pic_in(vm, 0x20), 0x00);
	CHECK_EQ("pic poll: one read only", pic_in(vm, 0x20), 0x08);

	/* Special mask mode: a masked in-service level holds nothing off. */
	vmm_pic_set_irq(vm, 3, 0, 0);
	vmm_pic_set_irq(vm, 3, 0, 1);
	pic_out(vm, 0x21, 0x00);
	vmm_pic_set_irq(vm, 5, 0, 1);
	CHECK("pic smm: IR5 held off by IR3", !vmm_pic_has_interrupt(vm));
	pic_out(vm, 0x20, 0x68);		/* set special mask */
	pic_out(vm, 0x21, 0x08);		/* mask IR3 */
	CHECK("pic smm: IR5 goes", vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic smm: IR5 vector", vmm_pic_read_irq(vm), 0x35);
	pic_out(vm, 0x20, 0x48);		/* reset special mask */
	CHECK("pic smm: state off", !pic_state(vm, 0).special_mask);

	/* Special fully nested: the slave may interrupt its own service. */
	pic_init(vm, 0x30, 0x38, 0x11);
	pic_out(vm, 0x21, 0xfb);
	pic_out(vm, 0xa1, 0x00);
	vmm_pic_set_irq(vm, 12, 0, 1);
	CHECK_EQ("pic sfnm: IR12", vmm_pic_read_irq(vm), 0x3c);
	vmm_pic_set_irq(vm, 9, 0, 1);
	CHECK("pic sfnm: higher slave IR9 nests", vmm_pic_has_interrupt(vm));
	CHECK_EQ("pic sfnm: IR9", vmm_pic_read_irq(vm), 0x39);
	free_vm(vm);
}

static void test_pic_state(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_pic_state s, g;
	u32 v = 0x1234;

	pic_init(vm, 0x30, 0x38, 0x01);
	s = pic_state(vm, 1);
	s.imr = 0xf0;
	s.irr = 0x01;
	s.priority_add = 0xff;
	s.irq_base = 0xff;
	s.init_state = 9;
	kicks = 0;
	CHECK_EQ("pic state: set slave", vmm_pic_set_state(vm, 1, &s), 0);
	g = pic_state(vm, 1);
	CHECK("pic state: values kept", g.imr == 0xf0 && g.irr == 0x01);
	CHECK("pic state: numbers masked",
	      g.priority_add == 7 && g.irq_base == 0xf8 && g.init_state == 0);
	CHECK("pic state: update after set", vmm_pic_has_interrupt(vm) && kicks == 1);
	CHECK_EQ("pic state: bad chip", vmm_pic_set_state(vm, 5, &s), -EINVAL);

	CHECK("pic pio: word access handled", vmm_pic_pio(vm, 0x20, 2, true, &v));
	CHECK_EQ("pic pio: word access reads 0", v, 0);
	v = 0x11;
	vmm_pic_pio(vm, 0x20, 2, false, &v);
	CHECK_EQ("pic pio: word write ignored", pic_state(vm, 0).init_state, 0);
	free_vm(vm);
}

/* =============================== IOAPIC ============================== */

static u32 io_read(struct vmm_vm *vm, u32 reg)
{
	u32 v = reg, out = 0;

	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE, 4, true, &v);
	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE + 0x10, 4, false, &out);
	return out;
}

static void io_write(struct vmm_vm *vm, u32 reg, u32 val)
{
	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE, 4, true, &reg);
	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE + 0x10, 4, true, &val);
}

static void io_redir(struct vmm_vm *vm, int pin, u64 entry)
{
	io_write(vm, 0x10 + 2 * pin + 1, entry >> 32);
	io_write(vm, 0x10 + 2 * pin, (u32)entry);
}

static u64 io_entry(struct vmm_vm *vm, int pin)
{
	return (u64)io_read(vm, 0x11 + 2 * pin) << 32 | io_read(vm, 0x10 + 2 * pin);
}

#define RED_LEVEL	(1ULL << 15)
#define RED_MASKED	(1ULL << 16)
#define RED_RIRR	(1ULL << 14)
#define RED_LOGICAL	(1ULL << 11)

static void test_ioapic_registers(void)
{
	struct vmm_vm *vm = new_vm();
	u64 v8 = ~0ULL;
	u8 v1 = 0;
	u32 v = 0;
	int pin;
	bool all_masked = true;

	CHECK_EQ("ioapic: create twice", vmm_ioapic_create(vm), -EEXIST);
	CHECK_EQ("ioapic: version", io_read(vm, 1), 0x00170011);
	CHECK_EQ("ioapic: reset id", io_read(vm, 0), 0);
	io_write(vm, 0, 0x0f000000 | 0xffffff);
	CHECK_EQ("ioapic: id bits 27:24", io_read(vm, 0), 0x0f000000);
	CHECK_EQ("ioapic: arbitration reads the id", io_read(vm, 2), 0x0f000000);
	io_write(vm, 1, 0);
	CHECK_EQ("ioapic: version read-only", io_read(vm, 1), 0x00170011);
	for (pin = 0; pin < 24; pin++)
		all_masked &= io_entry(vm, pin) == RED_MASKED;
	CHECK("ioapic: reset entries masked", all_masked);
	CHECK_EQ("ioapic: past the table reads ones", io_read(vm, 0x40), 0xffffffff);
	CHECK_EQ("ioapic: unimplemented reg reads ones", io_read(vm, 0x05), 0xffffffff);
	io_write(vm, 0x40, 0);			/* ignored, no crash */

	/* IOREGSEL is 8 bits and reads back. */
	v = 0x1ff;
	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE, 4, true, &v);
	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE, 1, false, &v1);
	CHECK_EQ("ioapic: IOREGSEL 8 bits, byte read", v1, 0xff);
	v = 1;
	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE, 1, true, &v);
	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE + 0x10, 8, false, &v8);
	CHECK_EQ("ioapic: 8-byte read zero-extends", v8, 0x00170011);
	v8 = 0x12345678ULL << 32 | 0x0e000000;
	v = 0;
	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE, 4, true, &v);
	vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE + 0x10, 8, true, &v8);
	CHECK_EQ("ioapic: 8-byte write uses the low half", io_read(vm, 0), 0x0e000000);
	v = 0x55;
	CHECK("ioapic: other offsets handled",
	      vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE + 0x20, 4, false, &v));
	CHECK_EQ("ioapic: other offsets read 0", v, 0);
	v = 0x55;
	CHECK("ioapic: odd length handled",
	      vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE + 0x10, 3, false, &v));
	CHECK("ioapic: outside the window not handled",
	      !vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE + 0x100, 4, false, &v) &&
	      !vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE - 4, 4, false, &v));
	free_vm(vm);
}

static void test_ioapic_edge(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_ioapic_state s;

	io_redir(vm, 4, 1ULL << 56 | 0x24);	/* edge, fixed, physical 1 */
	CHECK_EQ("ioapic edge: entry reads back", io_entry(vm, 4), 1ULL << 56 | 0x24);
	CHECK_EQ("ioapic edge: rising edge sent", vmm_ioapic_set_irq(vm, 4, 0, 1), 1);
	CHECK_EQ("ioapic edge: one message", nr_deliveries, 1);
	CHECK("ioapic edge: message fields",
	      deliveries[0].vector == 0x24 && deliveries[0].dest == 1 &&
	      deliveries[0].delivery_mode == VMM_DM_FIXED &&
	      !deliveries[0].dest_logical && !deliveries[0].level_trig &&
	      deliveries[0].assert && deliveries[0].shorthand == VMM_SH_NONE);
	CHECK_EQ("ioapic edge: deliver under the IOAPIC lock only", locks_at_deliver, 1);
	CHECK_EQ("ioapic edge: high again is coalesced", vmm_ioapic_set_irq(vm, 4, 0, 1), 0);
	CHECK_EQ("ioapic edge: no message for it", nr_deliveries, 1);
	vmm_ioapic_set_irq(vm, 4, 0, 0);
	vmm_ioapic_set_irq(vm, 4, 0, 1);
	CHECK_EQ("ioapic edge: next edge sent", nr_deliveries, 2);
	vmm_ioapic_set_irq(vm, 4, 0, 0);

	/* Masked: the edge stays pending (shown by KVM_GET_IRQCHIP). */
	io_redir(vm, 4, RED_MASKED | 0x24);
	CHECK_EQ("ioapic edge: masked", vmm_ioapic_set_irq(vm, 4, 0, 1), -1);
	vmm_ioapic_get_state(vm, &s);
	CHECK("ioapic edge: pending edge in irr", s.irr & BIT(4));
	vmm_ioapic_set_irq(vm, 4, 0, 0);

	/* NMI, logical destination, lowest priority: the fields go through. */
	io_redir(vm, 7, 0x0fULL << 56 | RED_LOGICAL | 1 << 8 | 0x41);
	vmm_ioapic_set_irq(vm, 7, 1, 1);
	CHECK("ioapic edge: logical lowest-priority",
	      deliveries[2].dest == 0x0f && deliveries[2].dest_logical &&
	      deliveries[2].delivery_mode == VMM_DM_LOWEST &&
	      deliveries[2].vector == 0x41);
	CHECK_EQ("ioapic: bad pin", vmm_ioapic_set_irq(vm, 24, 0, 1), -EINVAL);
	CHECK_EQ("ioapic: bad pin warned", shim_warnings, 1);
	shim_warnings = 0;
	free_vm(vm);
}

static void test_ioapic_level(void)
{
	struct vmm_vm *vm = new_vm();
	int i;

	io_redir(vm, 10, RED_LEVEL | RED_MASKED | 0x3a);
	CHECK_EQ("ioapic level: masked", vmm_ioapic_set_irq(vm, 10, 0, 1), -1);
	CHECK_EQ("ioapic level: nothing sent", nr_deliveries, 0);
	io_redir(vm, 10, RED_LEVEL | 0x3a);
	CHECK_EQ("ioapic level: unmasking an asserted pin sends", nr_deliveries, 1);
	CHECK("ioapic level: level message", deliveries[0].level_trig);
	CHECK("ioapic level: remote IRR set", io_entry(vm, 10) & RED_RIRR);
	CHECK_EQ("ioapic level: in service, not re-sent",
		 vmm_ioapic_set_irq(vm, 10, 1, 1), -1);
	CHECK_EQ("ioapic level: still one message", nr_deliveries, 1);

	/* Remote IRR is read-only. */
	io_write(vm, 0x10 + 20, 0x3a | RED_LEVEL);
	CHECK("ioapic level: write keeps remote IRR", io_entry(vm, 10) & RED_RIRR);

	vmm_ioapic_eoi(vm, 0x3b);
	CHECK_EQ("ioapic level: other vector's EOI ignored", nr_deliveries, 1);
	vmm_ioapic_eoi(vm, 0x3a);
	CHECK_EQ("ioapic level: EOI with pin high re-sends", nr_deliveries, 2);
	CHECK("ioapic level: remote IRR set again", io_entry(vm, 10) & RED_RIRR);

	vmm_ioapic_set_irq(vm, 10, 0, 0);
	vmm_ioapic_set_irq(vm, 10, 1, 0);
	vmm_ioapic_eoi(vm, 0x3a);
	CHECK_EQ("ioapic level: EOI with pin low", nr_deliveries, 2);
	CHECK("ioapic level: remote IRR clear", !(io_entry(vm, 10) & RED_RIRR));

	/* Switching to edge clears a stuck remote IRR (Linux relies on it). */
	vmm_ioapic_set_irq(vm, 10, 0, 1);
	vmm_ioapic_set_irq(vm, 10, 0, 0);
	CHECK("ioapic level: remote IRR stuck", io_entry(vm, 10) & RED_RIRR);
	io_redir(vm, 10, RED_MASKED | 0x3a);
	CHECK("ioapic level: edge clears remote IRR", !(io_entry(vm, 10) & RED_RIRR));

	/* A guest that never quiets its device: bounded re-delivery. */
	io_redir(vm, 11, RED_LEVEL | 0x3b);
	nr_deliveries = 0;
	vmm_ioapic_set_irq(vm, 11, 0, 1);
	for (i = 0; i < 10000; i++)
		vmm_ioapic_eoi(vm, 0x3b);
	CHECK_EQ("ioapic storm: re-sent until the bound", nr_deliveries, 10000);
	CHECK("ioapic storm: then deferred", shim_work_pending());
	shim_run_work();
	CHECK_EQ("ioapic storm: deferred delivery", nr_deliveries, 10001);

	/* A message no LAPIC took still waits for an EOI, like KVM. */
	io_redir(vm, 12, RED_LEVEL | 0x3c);
	deliver_ret = -1;
	vmm_ioapic_set_irq(vm, 12, 0, 1);
	CHECK("ioapic level: unaccepted message sets remote IRR",
	      io_entry(vm, 12) & RED_RIRR);
	free_vm(vm);
}

static void test_ioapic_state(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_ioapic_state s, g;
	u32 v;

	vmm_ioapic_get_state(vm, &s);
	CHECK_EQ("ioapic state: base", s.base_address, VMM_IOAPIC_BASE);
	CHECK_EQ("ioapic state: entry masked", s.redirtbl[3].fields.mask, 1);
	s.id = 3;
	s.redirtbl[5].bits = RED_LEVEL | 0x45;
	s.redirtbl[6].bits = 0x46;
	s.irr = BIT(5) | BIT(6) | 0xff000000;
	s.ioregsel = 0x1234;
	CHECK_EQ("ioapic state: set", vmm_ioapic_set_state(vm, &s), 0);
	CHECK_EQ("ioapic state: pending pins sent on restore", nr_deliveries, 2);
	vmm_ioapic_get_state(vm, &g);
	CHECK("ioapic state: round trip",
	      g.id == 3 && g.redirtbl[6].bits == 0x46 && g.ioregsel == 0x34);
	CHECK("ioapic state: level pin remote IRR after restore",
	      g.redirtbl[5].fields.remote_irr);
	CHECK_EQ("ioapic state: delivered edge not pending", g.irr, BIT(5));

	/* Moving the base: KVM answers only where both windows overlap. */
	s.base_address = VMM_IOAPIC_BASE + 0x1000;
	vmm_ioapic_set_state(vm, &s);
	CHECK("ioapic state: moved base leaves the window",
	      !vmm_ioapic_mmio(vm, VMM_IOAPIC_BASE, 4, false, &v));
	free_vm(vm);
}

/* ================================ PIT ================================ */

#define PIT_HZ 1193182LL

/* Nanoseconds after which exactly ticks input clocks have elapsed. */
static s64 ticks_ns(s64 ticks)
{
	return (ticks * 1000000000LL + PIT_HZ - 1) / PIT_HZ;
}

static struct vmm_vm *new_pit_vm(u32 flags)
{
	struct vmm_vm *vm = new_vm();

	if (vmm_pit_create(vm, flags))
		abort();
	return vm;
}

static u16 pit_read16(struct vmm_vm *vm, int ch)
{
	u8 lo = pit_in(vm, 0x40 + ch);

	return lo | pit_in(vm, 0x40 + ch) << 8;
}

static void test_pit_create(void)
{
	struct vmm_vm *vm = new_vm();
	struct kvm_pit_state2 s;
	u32 v;

	CHECK_EQ("pit: unknown flag", vmm_pit_create(vm, 2), -EINVAL);
	CHECK_EQ("pit: create", vmm_pit_create(vm, 0), 0);
	CHECK_EQ("pit: create twice", vmm_pit_create(vm, 0), -EEXIST);
	vmm_pit_get_state(vm, &s);
	CHECK("pit: reset state",
	      s.channels[0].mode == 0xff && s.channels[0].count == 0x10000 &&
	      s.channels[0].gate == 1 && s.channels[1].gate == 1 &&
	      s.channels[2].gate == 0 && s.flags == 0);
	CHECK_EQ("pit: no timer after reset", shim_active_timers(), 0);
	CHECK("pit: port 0x61 is userspace's without SPEAKER_DUMMY",
	      !vmm_pit_pio(vm, 0x61, 1, true, &v));
	CHECK("pit: port 0x44 not ours", !vmm_pit_pio(vm, 0x44, 1, true, &v));
	free_vm(vm);
}

static void test_pit_periodic(void)
{
	struct vmm_vm *vm = new_pit_vm(0);
	s64 start = shim_now_ns;
	u8 status;

	pic_init(vm, 0x30, 0x38, 0x01);
	pic_out(vm, 0x21, 0xfa);
	io_redir(vm, 2, 0x30);
	reset_fakes();

	/* Linux's setup_pit_timer(): mode 2, LATCH for HZ=100. */
	pit_out(vm, 0x43, 0x34);
	pit_out(vm, 0x40, 11932 & 0xff);
	pit_out(vm, 0x40, 11932 >> 8);
	CHECK_EQ("pit mode 2: timer armed", shim_active_timers(), 1);
	CHECK_EQ("pit mode 2: first expiry",
		 shim_timer_expiry(0) - start, 11932LL * 1000000000 / PIT_HZ);

	shim_advance(35 * 1000000LL);
	CHECK_EQ("pit mode 2: three ticks in 35 ms", gsi_raises, 3);
	CHECK_EQ("pit mode 2: pulses are raise+lower", gsi_calls, 6);
	CHECK_EQ("pit mode 2: GSI set without PIT lock", locks_at_gsi, 0);
	CHECK_EQ("pit mode 2: IOAPIC got them", nr_deliveries, 3);
	CHECK("pit mode 2: PIC INTR", vmm_pic_has_interrupt(vm));
	CHECK_EQ("pit mode 2: PIC IRQ0", vmm_pic_read_irq(vm), 0x30);

	/* Counter read back (live, LSB then MSB) and latched. */
	pit_out(vm, 0x43, 0x34);
	pit_out(vm, 0x40, 11932 & 0xff);
	pit_out(vm, 0x40, 11932 >> 8);
	shim_advance(ticks_ns(5000));
	CHECK_EQ("pit mode 2: live count", pit_read16(vm, 0), 11932 - 5000);
	pit_out(vm, 0x43, 0x00);		/* counter latch, counter 0 */
	shim_advance(ticks_ns(100));
	pit_out(vm, 0x43, 0x00);		/* a second latch is ignored */
	CHECK_EQ("pit latch: holds the latched value", pit_read16(vm, 0), 11932 - 5000);
	CHECK_EQ("pit latch: then live again", pit_read16(vm, 0), 11932 - 5100);
	shim_advance(ticks_ns(11932 - 5100));
	CHECK_EQ("pit mode 2: reload after terminal count", pit_read16(vm, 0), 11932);

	/* Read-back: status only, then status and count. */
	pit_out(vm, 0x43, 0xe2);
	status = pit_in(vm, 0x40);
	CHECK_EQ("pit read-back: status", status, 0x80 | 0x34);
	shim_advance(ticks_ns(10));
	pit_out(vm, 0x43, 0xc2);
	CHECK_EQ("pit read-back: status first", pit_in(vm, 0x40), 0xb4);
	CHECK_EQ("pit read-back: then the count", pit_read16(vm, 0), 11932 - 10);

	/* Mode 3 (square wave), with the minimum period enforced. */
	reset_fakes();
	pit_out(vm, 0x43, 0x36);
	pit_out(vm, 0x40, 2);
	pit_out(vm, 0x40, 0);
	shim_advance(1000000);
	CHECK_EQ("pit mode 3: period clamped to 200 us", gsi_raises, 5);

	/* HPET legacy replacement takes IRQ0 away. */
	{
		struct kvm_pit_state2 s;

		vmm_pit_get_state(vm, &s);
		s.flags |= KVM_PIT_FLAGS_HPET_LEGACY;
		vmm_pit_set_state(vm, &s);
		CHECK_EQ("pit hpet legacy: no timer", shim_active_timers(), 0);
		s.flags = 0;
		vmm_pit_set_state(vm, &s);
		CHECK_EQ("pit hpet legacy off: timer back", shim_active_timers(), 1);
	}

	/* Mode 0 on counter 0: one interrupt. */
	reset_fakes();
	pit_out(vm, 0x43, 0x30);
	pit_out(vm, 0x40, 0x00);
	pit_out(vm, 0x40, 0x10);
	shim_advance(100 * 1000000LL);
	CHECK_EQ("pit mode 0: one-shot", gsi_raises, 1);
	CHECK_EQ("pit mode 0: timer done", shim_active_timers(), 0);

	vmm_pit_destroy(vm);
	CHECK_EQ("pit: destroyed", vm->arch.pit == NULL, 1);
	free_vm(vm);
}

static void test_pit_speaker(void)
{
	struct vmm_vm *vm = new_pit_vm(KVM_PIT_SPEAKER_DUMMY);
	struct kvm_pit_state2 s;
	u8 a, b;
	int polls = 0;

	CHECK_EQ("pit 0x61: gate 2 low, out low", pit_in(vm, 0x61) & 0x23, 0);
	a = pit_in(vm, 0x61);
	b = pit_in(vm, 0x61);
	CHECK_EQ("pit 0x61: refresh toggles", (a ^ b) & 0x10, 0x10);

	/* Linux's pit_calibrate_tsc(): gate on, speaker off, mode 0. */
	pit_out(vm, 0x61, (pit_in(vm, 0x61) & ~0x02) | 0x01);
	pit_out(vm, 0x43, 0xb0);
	pit_out(vm, 0x42, 0xffff & 0xff);
	pit_out(vm, 0x42, 0xffff >> 8);
	CHECK_EQ("pit 0x61: gate reads back", pit_in(vm, 0x61) & 0x03, 0x01);
	CHECK_EQ("pit 0x61: OUT2 low while counting", pit_in(vm, 0x61) & 0x20, 0);
	while (!(pit_in(vm, 0x61) & 0x20) && polls < 1000) {
		shim_advance(100000);
		polls++;
	}
	CHECK("pit 0x61: OUT2 high after 65535 ticks (~54.9 ms)",
	      polls >= 549 && polls <= 551);
	CHECK_EQ("pit: counter 2 has no timer", shim_active_timers(), 0);

	pit_out(vm, 0x61, 0x03);
	CHECK_EQ("pit 0x61: speaker data", pit_in(vm, 0x61) & 0x02, 0x02);
	vmm_pit_get_state(vm, &s);
	CHECK("pit 0x61: SPEAKER_DATA_ON", s.flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON);

	/* Mode 2 on counter 2: a rising gate restarts the count. */
	pit_out(vm, 0x61, 0x00);
	pit_out(vm, 0x43, 0xb4);
	pit_out(vm, 0x42, 100);
	pit_out(vm, 0x42, 0);
	shim_advance(ticks_ns(30));
	CHECK_EQ("pit gate: counting", pit_read16(vm, 2), 70);
	pit_out(vm, 0x61, 0x01);
	CHECK_EQ("pit gate: rising edge reloads", pit_read16(vm, 2), 100);
	shim_advance(ticks_ns(99));
	CHECK_EQ("pit mode 2: OUT low for the last clock", pit_in(vm, 0x61) & 0x20, 0);
	shim_advance(ticks_ns(1));
	CHECK_EQ("pit mode 2: OUT high again", pit_in(vm, 0x61) & 0x20, 0x20);

	/* Mode 3 OUT: high for the first half. */
	pit_out(vm, 0x43, 0xb6);
	pit_out(vm, 0x42, 100);
	pit_out(vm, 0x42, 0);
	shim_advance(ticks_ns(49));
	CHECK_EQ("pit mode 3: first half high", pit_in(vm, 0x61) & 0x20, 0x20);
	shim_advance(ticks_ns(2));
	CHECK_EQ("pit mode 3: second half low", pit_in(vm, 0x61) & 0x20, 0);

	/* LSB-only and MSB-only access modes. */
	pit_out(vm, 0x43, 0x94);		/* counter 2, LSB only, mode 2 */
	pit_out(vm, 0x42, 0x50);
	CHECK_EQ("pit lsb: count", pit_in(vm, 0x42), 0x50);
	pit_out(vm, 0x43, 0xa4);		/* MSB only */
	pit_out(vm, 0x42, 0x02);
	CHECK_EQ("pit msb: count", pit_in(vm, 0x42), 0x02);
	vmm_pit_get_state(vm, &s);
	CHECK_EQ("pit msb: loaded value", s.channels[2].count, 0x200);
	free_vm(vm);
}

static void test_pit_state(void)
{
	struct vmm_vm *vm = new_pit_vm(0);
	struct kvm_pit_state2 s, g;

	vmm_pit_get_state(vm, &s);
	s.channels[0].mode = 2;
	s.channels[0].count = 1193;
	s.channels[0].rw_mode = 3;
	s.channels[0].read_state = 3;
	s.channels[0].write_state = 3;
	s.channels[0].count_load_time = 12345;
	s.channels[1].count = 0;
	s.channels[2].count = 0x7fffffff;
	s.flags = 0xffff;
	reset_fakes();
	CHECK_EQ("pit state: set", vmm_pit_set_state(vm, &s), 0);
	vmm_pit_get_state(vm, &g);
	CHECK_EQ("pit state: unknown flags dropped", g.flags,
		 KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON);
	CHECK_EQ("pit state: HPET legacy, no timer", shim_active_timers(), 0);
	CHECK("pit state: counts limited",
	      g.channels[1].count == 0x10000 && g.channels[2].count == 0x10000);
	CHECK_EQ("pit state: load time is now", g.channels[0].count_load_time, shim_now_ns);

	s.flags = 0;
	vmm_pit_set_state(vm, &s);
	CHECK_EQ("pit state: counter 0 timer re-armed", shim_active_timers(), 1);
	shim_advance(10 * 1000000LL);
	CHECK_EQ("pit state: 1 ms period after restore", gsi_raises, 10);
	/* Restoring twice does not double the timer. */
	vmm_pit_set_state(vm, &s);
	vmm_pit_set_state(vm, &s);
	CHECK_EQ("pit state: one timer", shim_active_timers(), 1);
	free_vm(vm);
	CHECK_EQ("pit: destroy cancels the timer", shim_active_timers(), 0);
}

int main(void)
{
	test_pic_create();
	test_pic_init_sequence();
	test_pic_mask_and_eoi();
	test_pic_priority();
	test_pic_cascade();
	test_pic_elcr();
	test_pic_edge_sources();
	test_pic_spurious();
	test_pic_modes();
	test_pic_state();

	test_ioapic_registers();
	test_ioapic_edge();
	test_ioapic_level();
	test_ioapic_state();

	test_pit_create();
	test_pit_periodic();
	test_pit_speaker();
	test_pit_state();

	CHECK_EQ("no lock left held", shim_locks_held, 0);
	CHECK_EQ("no unexpected warning", shim_warnings, 0);
	printf("%u passed, %u failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
