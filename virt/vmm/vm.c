// SPDX-License-Identifier: GPL-2.0
/*
 * The VM file descriptor.
 *
 * A VM belongs to the process that created it: guest memory is that
 * process's address space, so an ioctl from any other mm (a forked child,
 * a process the fd was passed to) gets -EIO, as in KVM.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include <vmm/vmm.h>

static void vmm_vm_free(struct kref *ref)
{
	struct vmm_vm *vm = container_of(ref, struct vmm_vm, ref);
	struct vmm_memslots *slots;
	int i;

	vmm_mmu_notifier_unregister(vm);
	/* Interrupt sources that reach into vCPUs go first. */
	vmm_arch_vm_stop(vm);
	for (i = 0; i < vm->nr_vcpus; i++)
		vmm_arch_vcpu_free(vm->vcpus[i]);
	vmm_arch_vm_destroy(vm);
	slots = rcu_dereference_protected(vm->slots, true);
	for (i = 0; i < slots->nr; i++)
		kvfree(slots->slot[i].dirty_bitmap);
	kvfree(slots);
	cleanup_srcu_struct(&vm->srcu);
	mmdrop(vm->mm);
	kfree(vm);
	vmm_hardware_put();
}

void vmm_vm_put(struct vmm_vm *vm)
{
	kref_put(&vm->ref, vmm_vm_free);
}

static int vmm_vm_ioctl_set_memory_region(struct vmm_vm *vm, void __user *argp)
{
	struct kvm_userspace_memory_region mem;
	int r;

	if (copy_from_user(&mem, argp, sizeof(mem)))
		return -EFAULT;
	mutex_lock(&vm->lock);
	r = vmm_memslot_set(vm, &mem);
	mutex_unlock(&vm->lock);
	return r;
}

static int vmm_vm_ioctl_get_dirty_log(struct vmm_vm *vm, void __user *argp)
{
	struct kvm_dirty_log log;
	int r;

	if (copy_from_user(&log, argp, sizeof(log)))
		return -EFAULT;
	mutex_lock(&vm->lock);
	r = vmm_get_dirty_log(vm, &log);
	mutex_unlock(&vm->lock);
	return r;
}

static long vmm_vm_ioctl(struct file *file, unsigned int ioctl,
			 unsigned long arg)
{
	struct vmm_vm *vm = file->private_data;
	void __user *argp = (void __user *)arg;

	if (vm->mm != current->mm)
		return -EIO;

	switch (ioctl) {
	case KVM_CHECK_EXTENSION:
		return vmm_check_extension(arg);
	case KVM_SET_USER_MEMORY_REGION:
		return vmm_vm_ioctl_set_memory_region(vm, argp);
	case KVM_CREATE_VCPU:
		return vmm_vcpu_create(vm, arg);
	case KVM_GET_DIRTY_LOG:
		return vmm_vm_ioctl_get_dirty_log(vm, argp);
	default:
		return vmm_arch_vm_ioctl(vm, ioctl, argp);
	}
}

static int vmm_vm_release(struct inode *inode, struct file *file)
{
	vmm_vm_put(file->private_data);
	return 0;
}

static const struct file_operations vmm_vm_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = vmm_vm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = vmm_vm_release,
	.llseek = noop_llseek,
};

static struct vmm_vm *vmm_vm_alloc(void)
{
	struct vmm_memslots *slots;
	struct vmm_vm *vm;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return NULL;
	slots = kvzalloc(sizeof(*slots), GFP_KERNEL_ACCOUNT);
	if (!slots) {
		kfree(vm);
		return NULL;
	}
	if (init_srcu_struct(&vm->srcu)) {
		kvfree(slots);
		kfree(vm);
		return NULL;
	}
	kref_init(&vm->ref);
	mutex_init(&vm->lock);
	spin_lock_init(&vm->mmu_lock);
	init_waitqueue_head(&vm->mmu_idle_wq);
	RCU_INIT_POINTER(vm->slots, slots);
	vm->mm = current->mm;
	mmgrab(vm->mm);
	return vm;
}

static void vmm_vm_free_early(struct vmm_vm *vm)
{
	mmdrop(vm->mm);
	cleanup_srcu_struct(&vm->srcu);
	kvfree(rcu_dereference_protected(vm->slots, true));
	kfree(vm);
}

int vmm_vm_create(unsigned long type)
{
	struct vmm_vm *vm;
	int r;

	if (type)
		return -EINVAL;

	r = vmm_hardware_get();
	if (r)
		return r;

	vm = vmm_vm_alloc();
	if (!vm) {
		r = -ENOMEM;
		goto err_hardware;
	}
	r = vmm_arch_vm_init(vm);
	if (r)
		goto err_free;
	r = vmm_mmu_notifier_register(vm);
	if (r)
		goto err_arch;

	/* From here on, the last vmm_vm_put() undoes everything above. */
	r = anon_inode_getfd("vmm-vm", &vmm_vm_fops, vm, O_RDWR | O_CLOEXEC);
	if (r < 0)
		vmm_vm_put(vm);
	return r;

err_arch:
	vmm_arch_vm_destroy(vm);
err_free:
	vmm_vm_free_early(vm);
err_hardware:
	vmm_hardware_put();
	return r;
}
