// SPDX-License-Identifier: GPL-2.0
/*
 * The vCPU file descriptor: mmap of struct kvm_run, the ioctls, and the
 * KVM_RUN loop.
 *
 * A vCPU lives as long as its VM.  Closing the vCPU fd only drops the
 * reference the fd held on the VM; the vCPU itself is freed when the VM is,
 * so nobody can observe a half-destroyed vCPU through vm->vcpus[].
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/smp.h>

#include <vmm/vmm.h>

/*
 * The IPI does nothing: arriving while the target CPU runs the guest, it
 * forces a #VMEXIT, and the target looks at vcpu->requests before entering
 * again.  Waiting for it tells the sender the guest has left.
 */
static void vmm_kick_ipi(void *unused)
{
}

static void vmm_vcpu_kick(struct vmm_vcpu *vcpu, int this_cpu)
{
	int cpu;

	/* Pairs with smp_store_mb(vcpu->mode, VMM_IN_GUEST) on entry. */
	smp_mb__after_atomic();
	cpu = READ_ONCE(vcpu->cpu);
	if (READ_ONCE(vcpu->mode) == VMM_IN_GUEST && cpu != this_cpu &&
	    cpu >= 0)
		smp_call_function_single(cpu, vmm_kick_ipi, NULL, 1);
}

/* Safe from atomic context (the MMU notifier); never called with IRQs off. */
void vmm_vm_request_all(struct vmm_vm *vm, int req)
{
	int i, n = READ_ONCE(vm->nr_vcpus);
	int this_cpu;

	smp_rmb();	/* pairs with smp_wmb() in vmm_vcpu_create() */
	for (i = 0; i < n; i++)
		set_bit(req, &vm->vcpus[i]->requests);
	this_cpu = get_cpu();
	for (i = 0; i < n; i++)
		vmm_vcpu_kick(vm->vcpus[i], this_cpu);
	put_cpu();
}

static vm_fault_t vmm_vcpu_fault(struct vm_fault *vmf)
{
	struct vmm_vcpu *vcpu = vmf->vma->vm_file->private_data;
	struct page *page;

	switch (vmf->pgoff) {
	case 0:
		page = virt_to_page(vcpu->run);
		break;
	case VMM_PIO_PAGE_OFFSET:
		page = virt_to_page(vcpu->arch.pio_page);
		break;
	default:
		return VM_FAULT_SIGBUS;
	}
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct vmm_vcpu_vm_ops = {
	.fault = vmm_vcpu_fault,
};

static int vmm_vcpu_mmap(struct file *file, struct vm_area_struct *vma)
{
	vma->vm_ops = &vmm_vcpu_vm_ops;
	return 0;
}

/*
 * KVM_RUN.  Userspace I/O left pending by the previous exit is completed
 * first, even with immediate_exit set, so that an IN instruction is never
 * lost (the selftests rely on that to finish a port-I/O exit).
 */
static long vmm_vcpu_ioctl_run(struct vmm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_run *run = vcpu->run;
	int r;

	if (arg)
		return -EINVAL;

	/* The mask userspace asked for applies only while inside KVM_RUN. */
	if (vcpu->sigmask_active)
		sigprocmask(SIG_SETMASK, &vcpu->sigmask, &current->real_blocked);
	r = vmm_arch_vcpu_run_begin(vcpu);
	if (r != VMM_RESUME_GUEST)
		goto out;
	if (READ_ONCE(run->immediate_exit)) {
		r = -EINTR;
		goto out;
	}
	for (;;) {
		if (signal_pending(current)) {
			r = -EINTR;
			break;
		}
		cond_resched();
		r = vmm_arch_vcpu_enter(vcpu);
		if (r != VMM_RESUME_GUEST)
			break;
	}
out:
	if (r == -EINTR)
		run->exit_reason = KVM_EXIT_INTR;
	vmm_arch_vcpu_run_end(vcpu);
	if (vcpu->sigmask_active) {
		sigprocmask(SIG_SETMASK, &current->real_blocked, NULL);
		sigemptyset(&current->real_blocked);
	}
	return r < 0 ? r : 0;
}

static long vmm_vcpu_ioctl_set_signal_mask(struct vmm_vcpu *vcpu,
					   void __user *argp)
{
	struct kvm_signal_mask __user *um = argp;
	struct kvm_signal_mask m;
	sigset_t set;

	if (!argp) {
		vcpu->sigmask_active = false;
		return 0;
	}
	if (copy_from_user(&m, um, sizeof(m)))
		return -EFAULT;
	if (m.len != sizeof(set))
		return -EINVAL;
	if (copy_from_user(&set, um->sigset, sizeof(set)))
		return -EFAULT;
	sigdelsetmask(&set, sigmask(SIGKILL) | sigmask(SIGSTOP));
	vcpu->sigmask = set;
	vcpu->sigmask_active = true;
	return 0;
}

static long vmm_vcpu_ioctl(struct file *file, unsigned int ioctl,
			   unsigned long arg)
{
	struct vmm_vcpu *vcpu = file->private_data;
	long r;

	if (vcpu->vm->mm != current->mm)
		return -EIO;
	if (mutex_lock_killable(&vcpu->mutex))
		return -EINTR;
	switch (ioctl) {
	case KVM_RUN:
		r = vmm_vcpu_ioctl_run(vcpu, arg);
		break;
	case KVM_SET_SIGNAL_MASK:
		r = vmm_vcpu_ioctl_set_signal_mask(vcpu, (void __user *)arg);
		break;
	default:
		r = vmm_arch_vcpu_ioctl(vcpu, ioctl, (void __user *)arg);
		break;
	}
	mutex_unlock(&vcpu->mutex);
	return r;
}

static int vmm_vcpu_release(struct inode *inode, struct file *file)
{
	struct vmm_vcpu *vcpu = file->private_data;

	vmm_vm_put(vcpu->vm);
	return 0;
}

static const struct file_operations vmm_vcpu_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = vmm_vcpu_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = vmm_vcpu_mmap,
	.release = vmm_vcpu_release,
	.llseek = noop_llseek,
};

static bool vmm_vcpu_id_taken(struct vmm_vm *vm, u32 id)
{
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i]->id == id)
			return true;
	return false;
}

int vmm_vcpu_create(struct vmm_vm *vm, u32 id)
{
	struct vmm_vcpu *vcpu;
	int r;

	if (id >= VMM_MAX_VCPU_ID)
		return -EINVAL;

	vcpu = vmm_arch_vcpu_alloc();
	if (!vcpu)
		return -ENOMEM;
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->cpu = -1;
	mutex_init(&vcpu->mutex);
	r = vmm_arch_vcpu_init(vcpu);
	if (r)
		goto err_free;

	mutex_lock(&vm->lock);
	if (vm->nr_vcpus >= VMM_MAX_VCPUS) {
		r = -EINVAL;
		goto err_unlock;
	}
	if (vmm_vcpu_id_taken(vm, id)) {
		r = -EEXIST;
		goto err_unlock;
	}
	kref_get(&vm->ref);
	r = anon_inode_getfd("vmm-vcpu", &vmm_vcpu_fops, vcpu,
			     O_RDWR | O_CLOEXEC);
	if (r < 0) {
		/* Not the last reference: the caller holds the VM fd. */
		vmm_vm_put(vm);
		goto err_unlock;
	}
	vm->vcpus[vm->nr_vcpus] = vcpu;
	smp_wmb();	/* publish the vCPU before the count that exposes it */
	WRITE_ONCE(vm->nr_vcpus, vm->nr_vcpus + 1);
	mutex_unlock(&vm->lock);
	return r;

err_unlock:
	mutex_unlock(&vm->lock);
err_free:
	vmm_arch_vcpu_free(vcpu);
	return r;
}
