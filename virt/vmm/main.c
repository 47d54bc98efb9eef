// SPDX-License-Identifier: GPL-2.0
/*
 * vmm: module entry, the /dev/vmm system device, and the rule that
 * virtualization is switched on on every online CPU only while a VM exists.
 */
#include <linux/cpu.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/reboot.h>
#include <linux/syscore_ops.h>
#include <asm/reboot.h>

#include <vmm/vmm.h>

static bool kvm_node;
module_param(kvm_node, bool, 0444);
MODULE_PARM_DESC(kvm_node,
	"Also register the device as /dev/kvm (misc minor 232) when kvm.ko is not loaded");

/*
 * vmm_hw_lock serialises the users count against itself; the CPU hotplug
 * lock (cpus_read_lock) keeps the set of online CPUs stable while we switch
 * them, and the hotplug callbacks run with it held for write.
 */
static DEFINE_MUTEX(vmm_hw_lock);
static int vmm_hw_users;
static bool vmm_rebooting;
static DEFINE_PER_CPU(bool, vmm_hw_enabled);
static enum cpuhp_state vmm_cpuhp_state;

/* Whether this CPU may enter guests now (false after a reboot began). */
bool vmm_cpu_enabled(void)
{
	return __this_cpu_read(vmm_hw_enabled);
}

static int vmm_enable_this_cpu(void)
{
	int r;

	if (__this_cpu_read(vmm_hw_enabled))
		return 0;
	r = vmm_arch_enable_cpu();
	if (r) {
		vmm_err("cannot enable virtualization on CPU %d (%d)\n",
			smp_processor_id(), r);
		return r;
	}
	__this_cpu_write(vmm_hw_enabled, true);
	return 0;
}

static void vmm_disable_this_cpu(void)
{
	if (!__this_cpu_read(vmm_hw_enabled))
		return;
	vmm_arch_disable_cpu();
	__this_cpu_write(vmm_hw_enabled, false);
}

static void vmm_enable_ipi(void *failed)
{
	if (vmm_enable_this_cpu())
		atomic_inc(failed);
}

static void vmm_disable_ipi(void *unused)
{
	vmm_disable_this_cpu();
}

/* Called for every VM created: the first one turns SVM/VMX on. */
int vmm_hardware_get(void)
{
	atomic_t failed = ATOMIC_INIT(0);
	int r = 0;

	mutex_lock(&vmm_hw_lock);
	cpus_read_lock();
	if (vmm_rebooting) {
		r = -EBUSY;
		goto out;
	}
	if (vmm_hw_users++ == 0) {
		on_each_cpu(vmm_enable_ipi, &failed, 1);
		if (atomic_read(&failed)) {
			on_each_cpu(vmm_disable_ipi, NULL, 1);
			vmm_hw_users = 0;
			r = -EBUSY;
		}
	}
out:
	cpus_read_unlock();
	mutex_unlock(&vmm_hw_lock);
	return r;
}

void vmm_hardware_put(void)
{
	mutex_lock(&vmm_hw_lock);
	cpus_read_lock();
	if (!WARN_ON_ONCE(vmm_hw_users <= 0) && --vmm_hw_users == 0)
		on_each_cpu(vmm_disable_ipi, NULL, 1);
	cpus_read_unlock();
	mutex_unlock(&vmm_hw_lock);
}

/* Hotplug callbacks run on the CPU concerned, with the hotplug lock held. */
static int vmm_cpu_online(unsigned int cpu)
{
	int r = 0;

	if (vmm_hw_users && !vmm_rebooting) {
		preempt_disable();
		r = vmm_enable_this_cpu();
		preempt_enable();
	}
	return r;
}

static int vmm_cpu_offline(unsigned int cpu)
{
	preempt_disable();
	vmm_disable_this_cpu();
	preempt_enable();
	return 0;
}

/*
 * Reboot and kexec: leave no CPU in SVM/VMX operation, and refuse new VMs.
 * A vCPU still running will fail its next entry and return -EIO.
 */
static int vmm_reboot(struct notifier_block *nb, unsigned long action, void *p)
{
	vmm_rebooting = true;
	on_each_cpu(vmm_disable_ipi, NULL, 1);
	return NOTIFY_OK;
}

static struct notifier_block vmm_reboot_notifier = {
	.notifier_call = vmm_reboot,
	.priority = 0,
};

/*
 * Crash and emergency reboot run this in NMI context on every CPU: it must
 * not take locks, so it bypasses the bookkeeping.
 */
static void vmm_emergency_disable(void)
{
	if (__this_cpu_read(vmm_hw_enabled))
		vmm_arch_disable_cpu();
}

/* Suspend runs on the last online CPU with interrupts off. */
static int vmm_suspend(void)
{
	vmm_disable_this_cpu();
	return 0;
}

static void vmm_resume(void)
{
	if (vmm_hw_users)
		WARN_ON(vmm_enable_this_cpu());
}

static struct syscore_ops vmm_syscore_ops = {
	.suspend = vmm_suspend,
	.resume = vmm_resume,
};

long vmm_check_extension(long ext)
{
	switch (ext) {
	case KVM_CAP_USER_MEMORY:
	case KVM_CAP_DESTROY_MEMORY_REGION_WORKS:
	case KVM_CAP_JOIN_MEMORY_REGIONS_WORKS:
	case KVM_CAP_IMMEDIATE_EXIT:
	case KVM_CAP_READONLY_MEM:
	case KVM_CAP_SYNC_MMU:
		return 1;
	case KVM_CAP_NR_VCPUS:
		return min_t(int, num_online_cpus(), VMM_MAX_VCPUS);
	case KVM_CAP_MAX_VCPUS:
		return VMM_MAX_VCPUS;
	case KVM_CAP_MAX_VCPU_ID:
		return VMM_MAX_VCPU_ID;
	case KVM_CAP_NR_MEMSLOTS:
		return VMM_MAX_MEMSLOTS;
	default:
		return vmm_arch_check_extension(ext);
	}
}

static long vmm_dev_ioctl(struct file *file, unsigned int ioctl,
			  unsigned long arg)
{
	switch (ioctl) {
	case KVM_GET_API_VERSION:
		return arg ? -EINVAL : KVM_API_VERSION;
	case KVM_CHECK_EXTENSION:
		return vmm_check_extension(arg);
	case KVM_CREATE_VM:
		return vmm_vm_create(arg);
	case KVM_GET_VCPU_MMAP_SIZE:
		return arg ? -EINVAL : VMM_RUN_PAGES * PAGE_SIZE;
	default:
		return vmm_arch_dev_ioctl(ioctl, arg);
	}
}

static const struct file_operations vmm_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = vmm_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice vmm_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = VMM_DEVICE_NAME,
	.fops = &vmm_dev_fops,
	.mode = 0660,
};

/* QEMU, libvirt and the KVM selftests open the path /dev/kvm literally. */
static struct miscdevice vmm_kvm_dev = {
	.minor = KVM_MINOR,
	.name = "kvm",
	.fops = &vmm_dev_fops,
	.mode = 0660,
};
static bool vmm_kvm_dev_registered;

static int __init vmm_init(void)
{
	int r;

	r = vmm_arch_init();
	if (r)
		return r;

	r = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN, "vmm:online",
				      vmm_cpu_online, vmm_cpu_offline);
	if (r < 0)
		goto err_arch;
	vmm_cpuhp_state = r;

	register_reboot_notifier(&vmm_reboot_notifier);
	register_syscore_ops(&vmm_syscore_ops);
	cpu_emergency_register_virt_callback(vmm_emergency_disable);

	r = misc_register(&vmm_dev);
	if (r) {
		vmm_err("cannot register /dev/%s (%d)\n", VMM_DEVICE_NAME, r);
		goto err_notifiers;
	}
	if (kvm_node) {
		if (misc_register(&vmm_kvm_dev))
			vmm_info("/dev/kvm is taken (kvm.ko loaded?); only /dev/vmm is available\n");
		else
			vmm_kvm_dev_registered = true;
	}
	vmm_info("loaded, backend %s\n", vmm_ops->name);
	return 0;

err_notifiers:
	cpu_emergency_unregister_virt_callback(vmm_emergency_disable);
	unregister_syscore_ops(&vmm_syscore_ops);
	unregister_reboot_notifier(&vmm_reboot_notifier);
	cpuhp_remove_state_nocalls(vmm_cpuhp_state);
err_arch:
	vmm_arch_exit();
	return r;
}

static void __exit vmm_exit(void)
{
	if (vmm_kvm_dev_registered)
		misc_deregister(&vmm_kvm_dev);
	misc_deregister(&vmm_dev);
	cpu_emergency_unregister_virt_callback(vmm_emergency_disable);
	unregister_syscore_ops(&vmm_syscore_ops);
	unregister_reboot_notifier(&vmm_reboot_notifier);
	cpuhp_remove_state_nocalls(vmm_cpuhp_state);
	vmm_arch_exit();
}

module_init(vmm_init);
module_exit(vmm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmm: a KVM-compatible hypervisor (AMD-V with NPT)");
