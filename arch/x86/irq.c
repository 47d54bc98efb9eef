// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel irqchip, VM side: KVM_CREATE_IRQCHIP, the GSI routing
 * table that connects interrupt lines (KVM_IRQ_LINE, the PIT) to the PIC,
 * the IOAPIC or an MSI, KVM_SIGNAL_MSI, the irqchip and PIT state ioctls,
 * and the dispatch of port I/O and MMIO to the emulated devices.
 *
 * The routing table is an immutable array replaced under vm->lock and
 * read under RCU, so that interrupts can be raised from any context.
 */
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "irqchip.h"
#include "x86.h"

#define VMM_PIC_PINS		8	/* per chip */

struct vmm_irq_route {
	u32 gsi;
	u32 type;			/* KVM_IRQ_ROUTING_IRQCHIP or _MSI */
	u32 chip, pin;
	struct vmm_apic_irq msi;
};

struct vmm_irq_routing {
	struct rcu_head rcu;
	u32 nr;
	struct vmm_irq_route r[];
};

/* ---- MSI ---- */

/*
 * The MSI address/data format (SDM 10.11): destination ID in address bits
 * 19:12, logical mode in bit 2, lowest priority redirection in bit 3;
 * vector, delivery mode and trigger in the data word.
 */
static int vmm_msi_decode(u32 addr_lo, u32 addr_hi, u32 data,
			  struct vmm_apic_irq *irq)
{
	if ((addr_lo & 0xfff00000) != 0xfee00000 || addr_hi)
		return -EINVAL;
	*irq = (struct vmm_apic_irq) {
		.dest = (addr_lo >> 12) & 0xff,
		.dest_logical = addr_lo & BIT(2),
		.vector = data & 0xff,
		.delivery_mode = (data >> 8) & 7,
		.level_trig = data & BIT(15),
		.assert = true,
	};
	return 0;
}

/* ---- routing ---- */

static int vmm_route_set(struct vmm_vm *vm, const struct vmm_irq_route *e,
			 int src, int level)
{
	switch (e->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		if (e->chip == KVM_IRQCHIP_IOAPIC)
			return vmm_ioapic_set_irq(vm, e->pin, src, level);
		return vmm_pic_set_irq(vm, e->pin + e->chip * VMM_PIC_PINS,
				       src, level);
	case KVM_IRQ_ROUTING_MSI:
		/* An MSI is an edge: only the rising half sends it. */
		if (!level)
			return -1;
		return vmm_lapic_deliver(vm, NULL, &e->msi);
	}
	return -1;
}

/*
 * Returns, as KVM_IRQ_LINE_STATUS reports: > 0 delivered, 0 coalesced,
 * < 0 masked everywhere (or no route).
 */
int vmm_irq_set(struct vmm_vm *vm, u32 gsi, int src, int level)
{
	struct vmm_irq_routing *rt;
	int ret = -1;
	u32 i;

	rcu_read_lock();
	rt = rcu_dereference(vm->arch.routing);
	for (i = 0; rt && i < rt->nr; i++) {
		int r;

		if (rt->r[i].gsi != gsi)
			continue;
		r = vmm_route_set(vm, &rt->r[i], src, level);
		if (r >= 0)
			ret = r + (ret < 0 ? 0 : ret);
	}
	rcu_read_unlock();
	return ret;
}

void vmm_irq_pic_kick(struct vmm_vm *vm)
{
	/* The PIC's INTR reaches only the BSP (see vmm_lapic_accepts_pic). */
	if (READ_ONCE(vm->nr_vcpus) > 0) {
		smp_rmb();
		vmm_x86_kick(vm->vcpus[0]);
	}
}

static int vmm_route_from_user(struct vmm_irq_route *e,
			       const struct kvm_irq_routing_entry *ue)
{
	if (ue->gsi >= VMM_MAX_IRQ_ROUTES || ue->flags)
		return -EINVAL;
	e->gsi = ue->gsi;
	e->type = ue->type;
	switch (ue->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		e->chip = ue->u.irqchip.irqchip;
		e->pin = ue->u.irqchip.pin;
		switch (e->chip) {
		case KVM_IRQCHIP_PIC_MASTER:
		case KVM_IRQCHIP_PIC_SLAVE:
			return e->pin < VMM_PIC_PINS ? 0 : -EINVAL;
		case KVM_IRQCHIP_IOAPIC:
			return e->pin < VMM_IOAPIC_PINS ? 0 : -EINVAL;
		}
		return -EINVAL;
	case KVM_IRQ_ROUTING_MSI:
		return vmm_msi_decode(ue->u.msi.address_lo, ue->u.msi.address_hi,
				      ue->u.msi.data, &e->msi);
	}
	return -EINVAL;
}

/*
 * KVM's rule (setup_routing_entry()): a GSI goes to each irqchip at most
 * once, and a GSI with an MSI route has no other route.
 */
static int vmm_routes_check_unique(const struct vmm_irq_routing *rt)
{
	u8 *seen;	/* per GSI: BIT(chip) for irqchip routes, 0x80 for MSI */
	int r = 0;
	u32 i;

	seen = kzalloc(VMM_MAX_IRQ_ROUTES, GFP_KERNEL);
	if (!seen)
		return -ENOMEM;
	for (i = 0; i < rt->nr && !r; i++) {
		const struct vmm_irq_route *e = &rt->r[i];
		u8 bit = e->type == KVM_IRQ_ROUTING_IRQCHIP ? BIT(e->chip) : 0x80;
		u8 old = seen[e->gsi];

		if ((old & bit) || (old && ((old | bit) & 0x80)))
			r = -EINVAL;
		seen[e->gsi] = old | bit;
	}
	kfree(seen);
	return r;
}

/* Install rt (may be NULL) under vm->lock and free the old table later. */
static void vmm_routing_replace(struct vmm_vm *vm, struct vmm_irq_routing *rt)
{
	struct vmm_irq_routing *old;

	old = rcu_replace_pointer(vm->arch.routing, rt,
				  lockdep_is_held(&vm->lock));
	if (old)
		kfree_rcu(old, rcu);
}

static long vmm_set_gsi_routing(struct vmm_vm *vm, void __user *argp)
{
	struct kvm_irq_routing __user *ur = argp;
	struct kvm_irq_routing_entry *ue;
	struct vmm_irq_routing *rt;
	struct kvm_irq_routing hdr;
	long r;
	u32 i;

	if (copy_from_user(&hdr, ur, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nr > VMM_MAX_IRQ_ROUTES || hdr.flags)
		return -EINVAL;
	ue = vmemdup_user(ur->entries, array_size(sizeof(*ue), hdr.nr));
	if (IS_ERR(ue))
		return PTR_ERR(ue);
	rt = kvzalloc(struct_size(rt, r, hdr.nr), GFP_KERNEL_ACCOUNT);
	r = -ENOMEM;
	if (!rt)
		goto out;
	rt->nr = hdr.nr;
	for (i = 0; i < hdr.nr; i++) {
		r = vmm_route_from_user(&rt->r[i], &ue[i]);
		if (r)
			goto out;
	}
	r = vmm_routes_check_unique(rt);
	if (r)
		goto out;
	mutex_lock(&vm->lock);
	r = -EINVAL;	/* as KVM: routes need the in-kernel irqchip */
	if (vmm_irqchip_in_kernel(vm)) {
		vmm_routing_replace(vm, rt);
		rt = NULL;
		r = 0;
	}
	mutex_unlock(&vm->lock);
out:
	kvfree(rt);
	kvfree(ue);
	return r;
}

/* KVM's default table: GSIs 0-15 to both the PIC and the IOAPIC, 16-23 IOAPIC. */
static struct vmm_irq_routing *vmm_default_routing(void)
{
	struct vmm_irq_routing *rt;
	u32 gsi, n = 0;

	rt = kzalloc(struct_size(rt, r, 16 + VMM_IOAPIC_PINS), GFP_KERNEL_ACCOUNT);
	if (!rt)
		return NULL;
	for (gsi = 0; gsi < VMM_IOAPIC_PINS; gsi++) {
		if (gsi < 16)
			rt->r[n++] = (struct vmm_irq_route) {
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.chip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
						  KVM_IRQCHIP_PIC_SLAVE,
				.pin = gsi % 8,
			};
		rt->r[n++] = (struct vmm_irq_route) {
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.chip = KVM_IRQCHIP_IOAPIC, .pin = gsi,
		};
	}
	rt->nr = n;
	return rt;
}

/* ---- VM ioctls ---- */

static long vmm_create_irqchip(struct vmm_vm *vm)
{
	struct vmm_irq_routing *rt;
	long r;

	mutex_lock(&vm->lock);
	r = -EEXIST;
	if (vm->arch.irqchip)
		goto out;
	r = -EINVAL;	/* the LAPICs are created with the vCPUs */
	if (vm->nr_vcpus)
		goto out;
	r = -ENOMEM;
	rt = vmm_default_routing();
	if (!rt)
		goto out;
	r = vmm_pic_create(vm);
	if (!r)
		r = vmm_ioapic_create(vm);
	if (r) {
		vmm_ioapic_destroy(vm);
		vmm_pic_destroy(vm);
		kfree(rt);
		goto out;
	}
	vmm_routing_replace(vm, rt);
	WRITE_ONCE(vm->arch.irqchip, true);
out:
	mutex_unlock(&vm->lock);
	return r;
}

static long vmm_irq_line(struct vmm_vm *vm, void __user *argp, bool status)
{
	struct kvm_irq_level l;

	if (copy_from_user(&l, argp, sizeof(l)))
		return -EFAULT;
	if (!vmm_irqchip_in_kernel(vm))
		return -ENXIO;
	l.status = vmm_irq_set(vm, l.irq, VMM_IRQ_SRC_USER, !!l.level);
	if (status && copy_to_user(argp, &l, sizeof(l)))
		return -EFAULT;
	return 0;
}

static long vmm_signal_msi(struct vmm_vm *vm, void __user *argp)
{
	struct vmm_apic_irq irq;
	struct kvm_msi msi;

	if (copy_from_user(&msi, argp, sizeof(msi)))
		return -EFAULT;
	if (!vmm_irqchip_in_kernel(vm))
		return -EINVAL;
	if (msi.flags || memchr_inv(msi.pad, 0, sizeof(msi.pad)))
		return -EINVAL;
	if (vmm_msi_decode(msi.address_lo, msi.address_hi, msi.data, &irq))
		return -EINVAL;
	/* KVM's answer, -1 (EPERM to userspace) included when nobody matched. */
	return vmm_lapic_deliver(vm, NULL, &irq);
}

static long vmm_irqchip_state(struct vmm_vm *vm, void __user *argp, bool set)
{
	struct kvm_irqchip *chip;
	long r;

	if (!vmm_irqchip_in_kernel(vm))
		return -ENXIO;
	chip = memdup_user(argp, sizeof(*chip));
	if (IS_ERR(chip))
		return PTR_ERR(chip);
	switch (chip->chip_id) {
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		if (set)
			r = vmm_pic_set_state(vm, chip->chip_id, &chip->chip.pic);
		else
			r = vmm_pic_get_state(vm, chip->chip_id, &chip->chip.pic);
		break;
	case KVM_IRQCHIP_IOAPIC:
		if (set)
			r = vmm_ioapic_set_state(vm, &chip->chip.ioapic);
		else
			r = vmm_ioapic_get_state(vm, &chip->chip.ioapic);
		break;
	default:
		r = -EINVAL;
	}
	if (!r && !set && copy_to_user(argp, chip, sizeof(*chip)))
		r = -EFAULT;
	kfree(chip);
	return r;
}

static long vmm_create_pit2(struct vmm_vm *vm, void __user *argp)
{
	struct kvm_pit_config cfg;
	long r;

	if (copy_from_user(&cfg, argp, sizeof(cfg)))
		return -EFAULT;
	mutex_lock(&vm->lock);
	r = vmm_pit_create(vm, cfg.flags);
	mutex_unlock(&vm->lock);
	return r;
}

static long vmm_pit_state(struct vmm_vm *vm, void __user *argp, bool set,
			  bool v2)
{
	struct kvm_pit_state2 s = {};
	size_t size = v2 ? sizeof(struct kvm_pit_state2) :
			   sizeof(struct kvm_pit_state);
	long r;

	if (!READ_ONCE(vm->arch.pit))
		return -ENXIO;
	if (set) {
		mutex_lock(&vm->lock);
		/* kvm_pit_state is kvm_pit_state2 without the flags: keep them. */
		r = vmm_pit_get_state(vm, &s);
		if (!r && copy_from_user(&s, argp, size))
			r = -EFAULT;
		if (!r)
			r = vmm_pit_set_state(vm, &s);
		mutex_unlock(&vm->lock);
		return r;
	}
	mutex_lock(&vm->lock);
	r = vmm_pit_get_state(vm, &s);
	mutex_unlock(&vm->lock);
	if (!r && copy_to_user(argp, &s, size))
		r = -EFAULT;
	return r;
}

long vmm_irqchip_vm_ioctl(struct vmm_vm *vm, unsigned int ioctl,
			  void __user *argp)
{
	switch (ioctl) {
	case KVM_CREATE_IRQCHIP:
		return vmm_create_irqchip(vm);
	case KVM_IRQ_LINE:
		return vmm_irq_line(vm, argp, false);
	case KVM_IRQ_LINE_STATUS:
		return vmm_irq_line(vm, argp, true);
	case KVM_SET_GSI_ROUTING:
		return vmm_set_gsi_routing(vm, argp);
	case KVM_SIGNAL_MSI:
		return vmm_signal_msi(vm, argp);
	case KVM_GET_IRQCHIP:
		return vmm_irqchip_state(vm, argp, false);
	case KVM_SET_IRQCHIP:
		return vmm_irqchip_state(vm, argp, true);
	case KVM_CREATE_PIT2:
		return vmm_create_pit2(vm, argp);
	case KVM_GET_PIT2:
		return vmm_pit_state(vm, argp, false, true);
	case KVM_SET_PIT2:
		return vmm_pit_state(vm, argp, true, true);
	case KVM_GET_PIT:
		return vmm_pit_state(vm, argp, false, false);
	case KVM_SET_PIT:
		return vmm_pit_state(vm, argp, true, false);
	default:
		return -ENOTTY;
	}
}

/* Before the vCPUs go: the PIT's timer must not deliver to freed LAPICs. */
void vmm_irqchip_vm_destroy(struct vmm_vm *vm)
{
	vmm_pit_destroy(vm);
	vmm_ioapic_destroy(vm);
	vmm_pic_destroy(vm);
	kfree(rcu_dereference_protected(vm->arch.routing, true));
	RCU_INIT_POINTER(vm->arch.routing, NULL);
}

/* ---- I/O dispatch, from the vCPU's exit handlers ---- */

bool vmm_irqchip_pio(struct vmm_vcpu *vcpu, u16 port, unsigned int size,
		     bool in, u32 *val)
{
	struct vmm_vm *vm = vcpu->vm;

	if (READ_ONCE(vm->arch.pit) && vmm_pit_pio(vm, port, size, in, val))
		return true;
	return vmm_irqchip_in_kernel(vm) &&
	       vmm_pic_pio(vm, port, size, in, val);
}

bool vmm_irqchip_mmio(struct vmm_vcpu *vcpu, u64 gpa, unsigned int len,
		      bool write, void *data)
{
	if (!vmm_irqchip_in_kernel(vcpu->vm))
		return false;
	if (vmm_lapic_mmio(vcpu, gpa, len, write, data))
		return true;
	return gpa >= VMM_IOAPIC_BASE &&
	       gpa < VMM_IOAPIC_BASE + VMM_IOAPIC_SIZE &&
	       vmm_ioapic_mmio(vcpu->vm, gpa, len, write, data);
}

