/* SPDX-License-Identifier: GPL-2.0 */
/* The part of struct vmm_vm the interrupt controllers use (include/vmm/arch.h). */
#ifndef _IRQCHIP_SHIM_VMM_H
#define _IRQCHIP_SHIM_VMM_H

#include "../kshim.h"

struct vmm_pic;
struct vmm_ioapic;
struct vmm_pit;

struct vmm_vm_x86 {
	bool irqchip;
	struct vmm_pic *pic;
	struct vmm_ioapic *ioapic;
	struct vmm_pit *pit;
};

struct vmm_vm {
	struct vmm_vm_x86 arch;
};

#endif
