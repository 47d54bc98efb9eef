/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vmm: userspace ABI.
 *
 * The ABI of /dev/vmm is KVM's API version 12: every ioctl number, structure
 * and capability comes from <linux/kvm.h>, so unmodified KVM userspace works
 * against it.  This header holds only what vmm adds on top.
 */
#ifndef _UAPI_LINUX_VMM_H
#define _UAPI_LINUX_VMM_H

#include <linux/kvm.h>

/* The misc device the module registers (dynamic minor). */
#define VMM_DEVICE_NAME		"vmm"
#define VMM_DEVICE_PATH		"/dev/vmm"

/*
 * Size of the vCPU mapping: page 0 is struct kvm_run, page 1 holds the data
 * of string port I/O (kvm_run.io.data_offset points there), as in KVM.
 */
#define VMM_RUN_PAGES		2
#define VMM_PIO_PAGE_OFFSET	1

/* Limits reported through KVM_CHECK_EXTENSION. */
#define VMM_MAX_VCPUS		64
#define VMM_MAX_VCPU_ID		1024
#define VMM_MAX_MEMSLOTS	256
#define VMM_MAX_IRQ_ROUTES	4096

#endif /* _UAPI_LINUX_VMM_H */
