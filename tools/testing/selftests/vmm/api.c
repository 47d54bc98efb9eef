// SPDX-License-Identifier: GPL-2.0
/*
 * The file-descriptor API: versions, capabilities, error codes for bad
 * arguments, and the lifetime rules of the system, VM and vCPU fds.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm_test.h"

/* An ioctl number in KVM's range that no KVM version defines. */
#define KVM_BOGUS_IOCTL _IO(KVMIO, 0xff)
#define KVM_BOGUS_CAP 0x7fffffff

GUEST_CODE(api_guest,
	".code64\n"
	"mov $0x1234, %eax\n"
	GUEST_REPORT_EAX
	GUEST_DONE);

/* Runs the small guest to completion, proving the VM still works. */
static void run_guest_once(struct vmm_vcpu *vcpu)
{
	vmm_vm_load_code(vcpu->vm, 0, GUEST(api_guest));
	vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x1234);
	vmm_guest_done(vcpu);
}

TEST(api_version)
{
	int fd = vmm_open_dev();

	TEST_ASSERT_EQ(ioctl(fd, KVM_GET_API_VERSION, 0), KVM_API_VERSION);
	TEST_ASSERT_EQ(KVM_API_VERSION, 12);
	close(fd);
}

TEST(check_extension)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	int nr, max;

	/* Unknown capabilities are "not supported", not an error. */
	TEST_ASSERT_EQ(ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_BOGUS_CAP), 0);
	TEST_ASSERT_EQ(ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_BOGUS_CAP), 0);

	/* Capabilities every VMM (QEMU, kvmtool, the selftests) relies on. */
	TEST_ASSERT(ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) > 0,
		    "KVM_CAP_USER_MEMORY");
	TEST_ASSERT(ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) > 0,
		    "KVM_CAP_IMMEDIATE_EXIT");
	TEST_ASSERT(ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_EXT_CPUID) > 0,
		    "KVM_CAP_EXT_CPUID");

	nr = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	TEST_ASSERT(nr > 0 && max >= nr, "NR_VCPUS %d MAX_VCPUS %d", nr, max);
	/* The VM fd answers too, and agrees with the system fd here. */
	TEST_ASSERT_EQ(ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS),
		       max);
	vmm_vm_free(vm);
}

TEST(unknown_ioctl)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);

	/*
	 * KVM hands ioctls it doesn't know to the arch code, whose answer
	 * differs per fd: EINVAL on the system and vCPU fds, ENOTTY on the
	 * VM fd.
	 */
	TEST_ASSERT_ERRNO(ioctl(vm->kvm_fd, KVM_BOGUS_IOCTL, 0), EINVAL);
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_BOGUS_IOCTL, 0), ENOTTY);
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_BOGUS_IOCTL, 0), EINVAL);
	/* Not a KVM ioctl at all. */
	TEST_ASSERT_ERRNO(ioctl(vm->fd, _IO('T', 0x7f), 0), ENOTTY);
}

TEST(create_vm_bad_type)
{
	int fd = vmm_open_dev();

	TEST_ASSERT_ERRNO(ioctl(fd, KVM_CREATE_VM, 0xff), EINVAL);
	TEST_ASSERT_ERRNO(ioctl(fd, KVM_CREATE_VM, 0x80000000ul), EINVAL);
	/* A failed create leaves the system fd working. */
	int vm = ioctl(fd, KVM_CREATE_VM, 0);

	TEST_ASSERT(vm >= 0, "KVM_CREATE_VM(0): %s", strerror(errno));
	close(vm);
	close(fd);
}

TEST(bad_pointers)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	void *bad = (void *)1;

	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, bad),
			  EFAULT);
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_REGS, bad), EFAULT);
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_REGS, bad), EFAULT);
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_SREGS, bad), EFAULT);
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_SREGS, bad), EFAULT);
	TEST_ASSERT_ERRNO(ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, bad),
			  EFAULT);
	/* A kernel address is just as bad as an unmapped one. */
	TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_REGS,
				(void *)0xffffffff81000000ul), EFAULT);
}

TEST(vcpu_mmap_size)
{
	int fd = vmm_open_dev();
	int size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	long page = sysconf(_SC_PAGESIZE);

	TEST_ASSERT(size >= (int)sizeof(struct kvm_run),
		    "mmap size %d < sizeof(struct kvm_run) %zu", size,
		    sizeof(struct kvm_run));
	TEST_ASSERT(size % page == 0, "mmap size %d not page aligned", size);
	close(fd);
}

TEST(vcpu_mmap)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	void *p;

	/* A second mapping shows the same page. */
	p = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 vcpu->fd, 0);
	TEST_ASSERT(p != MAP_FAILED, "second mmap: %s", strerror(errno));
	vcpu->run->immediate_exit = 0x5a;
	TEST_ASSERT_EQ(((struct kvm_run *)p)->immediate_exit, 0x5a);
	vcpu->run->immediate_exit = 0;
	munmap(p, vm->run_size);
}

TEST(vcpu_id_range)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	int max_id = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	int fd;

	/* An old KVM without the cap limits ids to KVM_CAP_MAX_VCPUS. */
	if (max_id <= 0)
		max_id = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	TEST_ASSERT(max_id > 0, "no vCPU id limit reported");

	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_VCPU, max_id), EINVAL);
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_VCPU, 0x7fffffff), EINVAL);
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_VCPU, -1), EINVAL);
	/* The largest id allowed works. */
	fd = ioctl(vm->fd, KVM_CREATE_VCPU, max_id - 1);
	TEST_ASSERT(fd >= 0, "KVM_CREATE_VCPU(%d): %s", max_id - 1,
		    strerror(errno));
	close(fd);
}

TEST(duplicate_vcpu_id)
{
	struct vmm_vm *vm = vmm_vm_create_bare();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 3);

	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_VCPU, 3), EEXIST);
	/* Other ids still work. */
	vmm_vcpu_create(vm, 4);
	/* Closing the vCPU fd does not free the id: vCPUs live as long as the VM. */
	vmm_vcpu_free(vcpu);
	TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_VCPU, 3), EEXIST);
}

TEST(close_system_fd_first)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu;

	/* The VM does not need the fd it was created from. */
	close(vm->kvm_fd);
	vm->kvm_fd = vmm_open_dev();
	vcpu = vmm_vcpu_create(vm, 0);
	close(vm->kvm_fd);
	run_guest_once(vcpu);
}

TEST(close_vm_fd_before_vcpu)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);

	/* The vCPU keeps the VM, its memslots included, alive. */
	vmm_vm_load_code(vm, 0, GUEST(api_guest));
	vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);
	close(vm->fd);
	close(vm->kvm_fd);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x1234);
	vmm_guest_done(vcpu);
	vmm_vcpu_free(vcpu);
}

TEST(close_vcpu_fd_while_mapped)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	struct kvm_run *run = vcpu->run;

	run_guest_once(vcpu);
	/* The mapping holds the file: the page stays readable and writable. */
	close(vcpu->fd);
	TEST_ASSERT_EQ(run->exit_reason, KVM_EXIT_IO);
	TEST_ASSERT_EQ(run->io.port, PORT_DONE);
	run->immediate_exit = 1;
	close(vm->fd);
	close(vm->kvm_fd);
	TEST_ASSERT_EQ(run->io.port, PORT_DONE);
	TEST_ASSERT_OK(munmap(run, vm->run_size));
}

TEST(close_all_orders)
{
	/* Every order of closing the three fds, each with a guest run first. */
	static const int orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
		{ 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(orders); i++) {
		struct vmm_vm *vm = vmm_vm_create();
		struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
		int fds[3] = { vm->kvm_fd, vm->fd, vcpu->fd };

		run_guest_once(vcpu);
		for (int j = 0; j < 3; j++)
			TEST_ASSERT_OK(close(fds[orders[i][j]]));
		TEST_ASSERT_OK(munmap(vcpu->run, vm->run_size));
	}
	/* And the device still works afterwards. */
	struct vmm_vm *vm = vmm_vm_create();

	run_guest_once(vmm_vcpu_create(vm, 0));
}

TEST(many_vms)
{
	struct vmm_vm *vms[16];

	/* VMs are independent: create many, free in a mixed order. */
	for (unsigned int i = 0; i < ARRAY_SIZE(vms); i++)
		vms[i] = vmm_vm_create();
	for (unsigned int i = 0; i < ARRAY_SIZE(vms); i += 2)
		vmm_vm_free(vms[i]);
	for (unsigned int i = 1; i < ARRAY_SIZE(vms); i += 2)
		run_guest_once(vmm_vcpu_create(vms[i], 0));
}

TEST(fork_child_gets_eio)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu = vmm_vcpu_create(vm, 0);
	struct kvm_regs regs;
	int status;
	pid_t pid;

	vmm_vm_load_code(vm, 0, GUEST(api_guest));
	vmm_vcpu_setup(vcpu, MODE_LONG64, GUEST_CODE_GPA);

	pid = fork();
	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* A VM belongs to the mm that created it. */
		TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_VCPU, 1), EIO);
		TEST_ASSERT_ERRNO(ioctl(vm->fd, KVM_CHECK_EXTENSION,
					KVM_CAP_USER_MEMORY), EIO);
		TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_REGS, &regs), EIO);
		TEST_ASSERT_ERRNO(ioctl(vcpu->fd, KVM_RUN, 0), EIO);
		/* The system fd has no owner: it keeps working. */
		TEST_ASSERT_EQ(ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0), 12);
		int fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);

		TEST_ASSERT(fd >= 0, "KVM_CREATE_VM in child: %s",
			    strerror(errno));
		_exit(0);
	}
	TEST_ASSERT_EQ(waitpid(pid, &status, 0), pid);
	TEST_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child failed (status %#x)", status);
	/* The parent still owns a working VM. */
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), 0x1234);
	vmm_guest_done(vcpu);
}

TEST_MAIN()
