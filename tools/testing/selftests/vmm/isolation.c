// SPDX-License-Identifier: GPL-2.0
/*
 * Isolation: a guest reaches only the memory its slots give it, nothing of
 * the host and nothing of another VM or process; a VM is useless to any
 * process but its creator; read-only stays read-only; and what the kernel
 * copies out to userspace carries no uninitialised kernel memory (every
 * padding and reserved field comes back zero).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm_test.h"

#define SLOT_GPA	0x40000000ull
#define SLOT_SIZE	0x10000ull
#define POISON		0xa5

static void *anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TEST_ASSERT(p != MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

/*
 * An MMIO read the guest makes at gpa: the exit must name exactly that
 * address, and the data field userspace answers in must not arrive with
 * anything but zeros or what userspace left there (KVM leaves it alone,
 * vmm clears it) - never host data.
 */
static void read_unbacked(struct vmm_vcpu *vcpu, uint64_t gpa, uint32_t answer)
{
	struct kvm_run *run = vcpu->run;

	vmm_accessor_send(vcpu, false, gpa);
	memset(run->mmio.data, POISON, sizeof(run->mmio.data));
	vmm_expect_exit(vcpu, KVM_EXIT_MMIO);
	TEST_ASSERT(!run->mmio.is_write && run->mmio.phys_addr == gpa &&
		    run->mmio.len == 4, "expected a 4-byte MMIO read of %#llx, got %s",
		    (unsigned long long)gpa, vmm_exit_describe(vcpu));
	for (unsigned int i = 0; i < sizeof(run->mmio.data); i++)
		TEST_ASSERT(run->mmio.data[i] == 0 || run->mmio.data[i] == POISON,
			    "mmio.data[%u] = %#x before userspace answered", i,
			    run->mmio.data[i]);
	memcpy(run->mmio.data, &answer, 4);
	TEST_ASSERT_EQ(vmm_guest_report(vcpu), answer);
}

TEST(unbacked_gpa_is_mmio)
{
	static const uint64_t gpas[] = {
		GUEST_MEM_SIZE, GUEST_MEM_SIZE + 0x1000, 0xfffff000,
		0xfee00000, 0xc0000000, SLOT_GPA, 0x80000000, 0x100000,
	};
	struct vmm_vcpu *vcpu = vmm_accessor_create();

	for (unsigned int i = 0; i < ARRAY_SIZE(gpas); i++) {
		read_unbacked(vcpu, gpas[i], 0x11110000 + i);
		vmm_accessor_write_mmio(vcpu, gpas[i], 0x22220000 + i);
	}
}

TEST(hole_between_slots)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *a, *b;

	/* Two slots with one page between them. */
	a = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, 0x1000, 0);
	b = vmm_vm_add_slot(vcpu->vm, 2, SLOT_GPA + 0x2000, 0x1000, 0);
	a[1023] = 0xaaaa0001;
	b[0] = 0xbbbb0002;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0xffc), 0xaaaa0001);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA + 0x2000), 0xbbbb0002);
	read_unbacked(vcpu, SLOT_GPA + 0x1000, 0x33333333);
	read_unbacked(vcpu, SLOT_GPA + 0x1ffc, 0x44444444);
	vmm_accessor_write_mmio(vcpu, SLOT_GPA + 0x1800, 0x55555555);
	TEST_ASSERT_EQ(a[1023], 0xaaaa0001);
	TEST_ASSERT_EQ(b[0], 0xbbbb0002);
}

/* A deleted or moved slot's old range must not keep its old mapping. */
TEST(deleted_and_moved_slot_unreachable)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint32_t *mem = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, 0);
	uint32_t *other = anon(SLOT_SIZE);

	mem[0] = 0x600d0001;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0x600d0001);
	vmm_vm_move_slot(vcpu->vm, 1, SLOT_GPA * 2);
	read_unbacked(vcpu, SLOT_GPA, 0x12345678);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA * 2), 0x600d0001);
	vmm_vm_delete_slot(vcpu->vm, 1);
	read_unbacked(vcpu, SLOT_GPA * 2, 0x87654321);
	/* The number again, other memory: the guest sees the new memory. */
	other[0] = 0x0dd0beef;
	TEST_ASSERT_OK(vmm_vm_set_slot(vcpu->vm, 1, 0, SLOT_GPA * 2, SLOT_SIZE,
				       other));
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA * 2), 0x0dd0beef);
}

/* Two VMs at the same GPAs see only their own memory. */
TEST(other_vm_memory)
{
	struct vmm_vcpu *a = vmm_accessor_create();
	struct vmm_vcpu *b = vmm_accessor_create();
	uint64_t gpa = GUEST_DATA + 0x100;

	vmm_vm_add_slot(a->vm, 1, SLOT_GPA, SLOT_SIZE, 0);
	vmm_accessor_write(a, gpa, 0xa0a0a0a0);
	vmm_accessor_write(a, SLOT_GPA, 0xa1a1a1a1);
	TEST_ASSERT_EQ(vmm_accessor_read(b, gpa), 0);
	read_unbacked(b, SLOT_GPA, 0xb1b1b1b1);
	vmm_accessor_write(b, gpa, 0xb0b0b0b0);
	TEST_ASSERT_EQ(vmm_accessor_read(a, gpa), 0xa0a0a0a0);
	TEST_ASSERT_EQ(*(uint32_t *)vmm_gpa_to_hva(a->vm, gpa), 0xa0a0a0a0);
	TEST_ASSERT_EQ(*(uint32_t *)vmm_gpa_to_hva(b->vm, gpa), 0xb0b0b0b0);
}

/*
 * After fork() the guest's memory is copy-on-write between the VMM and its
 * child: a guest write must land in the VMM's copy only, and a write by
 * the child must not show in the guest.
 */
TEST(fork_copy_on_write)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	uint64_t gpa = GUEST_DATA + 0x200;
	volatile uint32_t *host = vmm_gpa_to_hva(vcpu->vm, gpa);
	int to_child[2], to_parent[2], status;
	uint32_t seen;
	char c = 0;
	pid_t pid;

	/* Mapped writable in the nested page tables before the fork. */
	vmm_accessor_write(vcpu, gpa, 0x11111111);
	vmm_accessor_write(vcpu, gpa + 0x1000, 0x33333333);
	TEST_ASSERT_OK(pipe(to_child));
	TEST_ASSERT_OK(pipe(to_parent));
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Wait for the guest's write, then report what we see. */
		if (read(to_child[0], &c, 1) != 1)
			_exit(2);
		seen = *host;
		host[0x1000 / 4] = 0x44444444;
		_exit(write(to_parent[1], &seen, 4) == 4 ? 0 : 3);
	}
	vmm_accessor_write(vcpu, gpa, 0x22222222);
	TEST_ASSERT_EQ(*host, 0x22222222);
	TEST_ASSERT_EQ(write(to_child[1], &c, 1), 1);
	TEST_ASSERT_EQ(read(to_parent[0], &seen, 4), 4);
	TEST_ASSERT_OK(waitpid(pid, &status, 0));
	TEST_ASSERT(WIFEXITED(status) && !WEXITSTATUS(status), "child %#x", status);
	TEST_ASSERT(seen == 0x11111111,
		    "the child's copy changed to %#x: the guest wrote into memory shared with it",
		    seen);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, gpa + 0x1000), 0x33333333);
}

/* Every VM and vCPU ioctl from another mm must fail with EIO. */
static void expect_eio_everywhere(int vm_fd, int vcpu_fd)
{
	static const unsigned long vcpu_ioctls[] = {
		KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS,
		KVM_SET_SREGS, KVM_GET_FPU, KVM_SET_FPU, KVM_GET_XSAVE,
		KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_DEBUGREGS,
		KVM_SET_DEBUGREGS, KVM_GET_MP_STATE, KVM_SET_MP_STATE,
		KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_MSRS,
		KVM_SET_MSRS, KVM_SET_CPUID2, KVM_GET_CPUID2, KVM_INTERRUPT,
		KVM_NMI, KVM_SET_SIGNAL_MASK, 0xae00ff,
	};
	static const unsigned long vm_ioctls[] = {
		KVM_CHECK_EXTENSION, KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION,
		KVM_GET_DIRTY_LOG, KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR,
		KVM_SET_GSI_ROUTING, 0xae00ff,
	};
	static char buf[8192];

	for (unsigned int i = 0; i < ARRAY_SIZE(vcpu_ioctls); i++) {
		unsigned long nr = vcpu_ioctls[i];

		TEST_ASSERT_ERRNO(ioctl(vcpu_fd, nr, nr == KVM_RUN ||
					nr == KVM_NMI ? 0 : (unsigned long)buf),
				  EIO);
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(vm_ioctls); i++) {
		unsigned long nr = vm_ioctls[i];

		TEST_ASSERT_ERRNO(ioctl(vm_fd, nr,
					nr == KVM_CHECK_EXTENSION ? KVM_CAP_USER_MEMORY :
					nr == KVM_CREATE_VCPU ? 5 :
					nr == KVM_SET_TSS_ADDR ? 0xfffbd000 :
					(unsigned long)buf), EIO);
	}
}

TEST(forked_child_gets_eio)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	int status;
	pid_t pid;

	pid = fork();
	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int vm_fd;

		alarm(10);
		expect_eio_everywhere(vcpu->vm->fd, vcpu->fd);
		/* The system fd is not tied to an mm: a VM of its own works. */
		vm_fd = ioctl(vcpu->vm->kvm_fd, KVM_CREATE_VM, 0);
		TEST_ASSERT(vm_fd >= 0, "KVM_CREATE_VM in the child: %s",
			    strerror(errno));
		close(vm_fd);
		_exit(0);
	}
	TEST_ASSERT_OK(waitpid(pid, &status, 0));
	TEST_ASSERT(WIFEXITED(status) && !WEXITSTATUS(status), "child %#x", status);
	/* Nothing the child tried reached the VM. */
	vmm_accessor_write(vcpu, GUEST_DATA, 0x5eed);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, GUEST_DATA), 0x5eed);
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	return fd;
}

static void send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, c = 'f';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	TEST_ASSERT_EQ(sendmsg(sock, &msg, 0), 1);
}

/* A process that never shared the VM's mm gets the fds over a socket. */
TEST(fd_passed_to_unrelated_process)
{
	struct vmm_vcpu *vcpu;
	int sv[2], status;
	pid_t pid;

	TEST_ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int vm_fd, vcpu_fd;

		alarm(10);
		vm_fd = recv_fd(sv[1]);
		vcpu_fd = recv_fd(sv[1]);
		TEST_ASSERT(vm_fd >= 0 && vcpu_fd >= 0, "no fds received");
		expect_eio_everywhere(vm_fd, vcpu_fd);
		close(vcpu_fd);
		close(vm_fd);
		_exit(0);
	}
	/* The VM is created after the helper exists. */
	vcpu = vmm_accessor_create();
	send_fd(sv[0], vcpu->vm->fd);
	send_fd(sv[0], vcpu->fd);
	TEST_ASSERT_OK(waitpid(pid, &status, 0));
	TEST_ASSERT(WIFEXITED(status) && !WEXITSTATUS(status), "helper %#x", status);
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, GUEST_DATA), 0);
}

/*
 * The creator exits while a child still holds its VM: the child's ioctls
 * fail with EIO and its close is the one that frees the VM.
 */
TEST(vm_outlives_its_creator)
{
	int go[2], res[2], status;
	pid_t creator;
	char ok = 0;

	TEST_ASSERT_OK(pipe(go));
	TEST_ASSERT_OK(pipe(res));
	creator = fork();
	TEST_ASSERT(creator >= 0, "fork: %s", strerror(errno));
	if (creator == 0) {
		struct vmm_vcpu *vcpu = vmm_accessor_create();
		pid_t holder;

		vmm_accessor_write(vcpu, GUEST_DATA, 1);
		holder = fork();
		TEST_ASSERT(holder >= 0, "fork: %s", strerror(errno));
		if (holder == 0) {
			char c;

			alarm(10);
			/* Wait until the creator has exited. */
			close(go[1]);
			TEST_ASSERT_EQ(read(go[0], &c, 1), 0);
			expect_eio_everywhere(vcpu->vm->fd, vcpu->fd);
			munmap(vcpu->run, vcpu->vm->run_size);
			close(vcpu->fd);
			close(vcpu->vm->fd);
			_exit(write(res[1], "k", 1) == 1 ? 0 : 1);
		}
		_exit(0);
	}
	close(go[0]);
	close(res[1]);
	TEST_ASSERT_OK(waitpid(creator, &status, 0));
	TEST_ASSERT(WIFEXITED(status) && !WEXITSTATUS(status), "creator %#x", status);
	/* The holder sees EOF once we close our end too. */
	close(go[1]);
	/* The holder (our grandchild) says "k" when all went well. */
	TEST_ASSERT(read(res[0], &ok, 1) == 1 && ok == 'k',
		    "the process holding the VM failed");
}

GUEST_CODE(rep_stos,
	".code64\n"
	"mov $" S(SLOT_GPA) ", %rdi\n"
	"mov $0x77, %al\n"
	"mov $4, %rcx\n"
	"rep stosb\n"
	GUEST_DONE);

TEST(readonly_slot_stays_readonly)
{
	struct vmm_vcpu *vcpu;
	struct kvm_dirty_log log = { .slot = 1 };
	uint64_t bitmap[2];
	uint32_t *mem;
	int r;

	if (!vmm_check_cap(KVM_CAP_READONLY_MEM)) {
		struct vmm_vm *vm = vmm_vm_create_bare();
		void *p = anon(SLOT_SIZE);

		TEST_ASSERT_ERRNO(vmm_vm_set_slot(vm, 1, KVM_MEM_READONLY,
						  SLOT_GPA, SLOT_SIZE, p), EINVAL);
		return;
	}
	vcpu = vmm_accessor_create();
	mem = vmm_vm_add_slot(vcpu->vm, 1, SLOT_GPA, SLOT_SIZE, KVM_MEM_READONLY);
	mem[0] = 0x0123abcd;
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0x0123abcd);
	vmm_accessor_write_mmio(vcpu, SLOT_GPA, 0xdead0001);
	TEST_ASSERT_EQ(mem[0], 0x0123abcd);
	/* Turning dirty logging on and off keeps it read-only. */
	TEST_ASSERT_OK(vmm_vm_set_slot(vcpu->vm, 1,
				       KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES,
				       SLOT_GPA, SLOT_SIZE, mem));
	vmm_accessor_write_mmio(vcpu, SLOT_GPA + 4, 0xdead0002);
	log.dirty_bitmap = bitmap;
	r = ioctl(vcpu->vm->fd, KVM_GET_DIRTY_LOG, &log);
	TEST_ASSERT(r == 0, "KVM_GET_DIRTY_LOG: %s", strerror(errno));
	TEST_ASSERT_EQ(bitmap[0], 0);
	TEST_ASSERT_OK(vmm_vm_set_slot(vcpu->vm, 1, KVM_MEM_READONLY, SLOT_GPA,
				       SLOT_SIZE, mem));
	vmm_accessor_write_mmio(vcpu, SLOT_GPA + 8, 0xdead0003);
	TEST_ASSERT_EQ(mem[1], 0);
	TEST_ASSERT_EQ(mem[2], 0);
	/* A string write the emulator performs: one MMIO exit per byte. */
	{
		struct vmm_vcpu *v2 = vmm_vm_with_vcpu(MODE_LONG64, GUEST(rep_stos));
		uint8_t *ro = vmm_vm_add_slot(v2->vm, 1, SLOT_GPA, SLOT_SIZE,
					      KVM_MEM_READONLY);
		struct kvm_run *run = v2->run;

		unsigned int bytes = 0;

		/* Each exit may carry one item or several (KVM: one). */
		for (;;) {
			vmm_vcpu_run(v2);
			if (run->exit_reason != KVM_EXIT_MMIO)
				break;
			TEST_ASSERT(run->mmio.is_write &&
				    run->mmio.phys_addr >= SLOT_GPA &&
				    run->mmio.phys_addr + run->mmio.len <= SLOT_GPA + 4,
				    "got %s", vmm_exit_describe(v2));
			bytes += run->mmio.len;
		}
		for (int i = 0; i < 4; i++)
			TEST_ASSERT(ro[i] == 0,
				    "rep stosb wrote %#x into the read-only slot at +%d",
				    ro[i], i);
		TEST_ASSERT(bytes == 4, "%u bytes of MMIO writes for 4 stored", bytes);
		TEST_ASSERT(run->exit_reason == KVM_EXIT_IO &&
			    run->io.port == PORT_DONE, "got %s",
			    vmm_exit_describe(v2));
	}
}

/*
 * A writable slot over a read-only host mapping of a file: the guest can
 * read it, a guest write fails KVM_RUN with EFAULT, and the file is not
 * changed.
 */
TEST(readonly_host_mapping)
{
	struct vmm_vcpu *vcpu = vmm_accessor_create();
	char path[] = "/tmp/vmm-isolation-XXXXXX";
	uint32_t data[1024] = { 0x0f11e000 }, check;
	int fd = mkstemp(path);
	void *p;

	TEST_ASSERT(fd >= 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	TEST_ASSERT_EQ(write(fd, data, sizeof(data)), sizeof(data));
	p = mmap(NULL, 0x1000, PROT_READ, MAP_SHARED, fd, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap: %s", strerror(errno));
	TEST_ASSERT_OK(vmm_vm_set_slot(vcpu->vm, 1, 0, SLOT_GPA, 0x1000, p));
	TEST_ASSERT_EQ(vmm_accessor_read(vcpu, SLOT_GPA), 0x0f11e000);
	vmm_accessor_send(vcpu, true, SLOT_GPA);
	vmm_expect_exit(vcpu, KVM_EXIT_IO);
	vmm_io_set_data(vcpu, 0xbad0bad0);
	TEST_ASSERT_ERRNO(vmm_vcpu_run_raw(vcpu), EFAULT);
	TEST_ASSERT_EQ(pread(fd, &check, 4, 0), 4);
	TEST_ASSERT_EQ(check, 0x0f11e000);
	TEST_ASSERT_EQ(*(uint32_t *)p, 0x0f11e000);
}

/* ---- nothing uninitialised in what the kernel copies out ------------------- */

static void assert_zero(const void *p, size_t len, const char *what)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		TEST_ASSERT(!b[i], "%s: byte %zu is %#x", what, i, b[i]);
}

static void check_segment(const struct kvm_segment *s, const char *name)
{
	TEST_ASSERT(!s->padding, "%s.padding = %#x", name, s->padding);
}

static void check_vcpu_outputs(struct vmm_vcpu *vcpu)
{
	static union {
		struct kvm_sregs sregs;
		struct kvm_fpu fpu;
		struct kvm_vcpu_events ev;
		struct kvm_debugregs dbg;
		struct kvm_xcrs xcrs;
		struct kvm_xsave xsave;
		uint8_t bytes[8192];
	} u;
	const struct kvm_cpuid_entry2 *leaf_d;

	memset(&u, POISON, sizeof(u));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_SREGS, &u.sregs));
	check_segment(&u.sregs.cs, "cs");
	check_segment(&u.sregs.ds, "ds");
	check_segment(&u.sregs.es, "es");
	check_segment(&u.sregs.fs, "fs");
	check_segment(&u.sregs.gs, "gs");
	check_segment(&u.sregs.ss, "ss");
	check_segment(&u.sregs.tr, "tr");
	check_segment(&u.sregs.ldt, "ldt");
	assert_zero(u.sregs.gdt.padding, sizeof(u.sregs.gdt.padding), "gdt.padding");
	assert_zero(u.sregs.idt.padding, sizeof(u.sregs.idt.padding), "idt.padding");

	memset(&u, POISON, sizeof(u));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_FPU, &u.fpu));
	TEST_ASSERT_EQ(u.fpu.pad1, 0);
	TEST_ASSERT_EQ(u.fpu.pad2, 0);

	memset(&u, POISON, sizeof(u));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &u.ev));
	TEST_ASSERT_EQ(u.ev.nmi.pad, 0);
	assert_zero(u.ev.reserved + 1, sizeof(u.ev.reserved) - 1,
		    "vcpu_events.reserved");
	if (!(u.ev.flags & KVM_VCPUEVENT_VALID_PAYLOAD)) {
		TEST_ASSERT_EQ(u.ev.exception_has_payload, 0);
		TEST_ASSERT_EQ(u.ev.exception_payload, 0);
	}
	if (!(u.ev.flags & KVM_VCPUEVENT_VALID_SMM))
		assert_zero(&u.ev.smi, sizeof(u.ev.smi), "vcpu_events.smi");

	memset(&u, POISON, sizeof(u));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_DEBUGREGS, &u.dbg));
	TEST_ASSERT_EQ(u.dbg.flags, 0);
	assert_zero(u.dbg.reserved, sizeof(u.dbg.reserved), "debugregs.reserved");

	if (!vmm_check_cap(KVM_CAP_XSAVE))
		return;
	memset(&u, POISON, sizeof(u));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_XCRS, &u.xcrs));
	TEST_ASSERT(u.xcrs.nr_xcrs <= KVM_MAX_XCRS, "nr_xcrs %u", u.xcrs.nr_xcrs);
	TEST_ASSERT_EQ(u.xcrs.flags, 0);
	for (unsigned int i = 0; i < u.xcrs.nr_xcrs; i++)
		TEST_ASSERT_EQ(u.xcrs.xcrs[i].reserved, 0);
	assert_zero(&u.xcrs.xcrs[u.xcrs.nr_xcrs],
		    (KVM_MAX_XCRS - u.xcrs.nr_xcrs) * sizeof(u.xcrs.xcrs[0]),
		    "xcrs beyond nr_xcrs");
	assert_zero(u.xcrs.padding, sizeof(u.xcrs.padding), "xcrs.padding");

	memset(&u, POISON, sizeof(u));
	TEST_ASSERT_OK(ioctl(vcpu->fd, KVM_GET_XSAVE, &u.xsave));
	/* XCOMP_BV and the rest of the header (SDM 13.4.2). */
	assert_zero(u.bytes + 520, 56, "xsave header");
	/* Past the largest area the offered components need: nothing. */
	leaf_d = vmm_cpuid_entry(0xd, 0);
	TEST_ASSERT(leaf_d->ecx <= 4096, "CPUID.0xD.0:ECX %u", leaf_d->ecx);
	assert_zero(u.bytes + leaf_d->ecx, 4096 - leaf_d->ecx, "xsave tail");
}

TEST(no_uninitialised_data_fresh_vcpu)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct vmm_vcpu *vcpu;
	int fd = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	uint8_t *run;

	TEST_ASSERT(fd >= 0, "KVM_CREATE_VCPU: %s", strerror(errno));
	/* A new run page and PIO page hold nothing but zeros. */
	run = mmap(NULL, 2 * 4096, PROT_READ, MAP_SHARED, fd, 0);
	TEST_ASSERT(run != MAP_FAILED, "mmap: %s", strerror(errno));
	assert_zero(run, 2 * 4096, "fresh kvm_run and PIO pages");
	munmap(run, 2 * 4096);
	close(fd);
	vcpu = vmm_vcpu_create(vm, 1);
	check_vcpu_outputs(vcpu);
}

GUEST_CODE(busy,
	".code64\n"
	"mov $0x1234, %eax\n"
	"mov %eax, " S(GUEST_DATA) "\n"
	"out %eax, $0x80\n"
	"in $0x80, %al\n"
	"mov $0xc0000000, %ecx\n"
	"mov (%rcx), %eax\n"
	"hlt\n"
	GUEST_DONE);

TEST(no_uninitialised_data_after_running)
{
	struct vmm_vcpu *vcpu = vmm_vm_with_vcpu(MODE_LONG64, GUEST(busy));

	for (int i = 0; i < 4; i++) {
		vmm_vcpu_run(vcpu);
		assert_zero(vcpu->run->padding1, sizeof(vcpu->run->padding1),
			    "kvm_run.padding1");
		check_vcpu_outputs(vcpu);
		if (vcpu->run->exit_reason == KVM_EXIT_MMIO)
			memset(vcpu->run->mmio.data, 0, 8);
	}
}

TEST(no_uninitialised_data_system_tables)
{
	int fd = vmm_open_dev(), r;
	struct kvm_cpuid2 *c;
	struct kvm_msr_list *l;
	size_t room = 256;

	c = malloc(sizeof(*c) + room * sizeof(c->entries[0]));
	TEST_ASSERT(c, "out of memory");
	memset(c, POISON, sizeof(*c) + room * sizeof(c->entries[0]));
	c->nent = room;
	TEST_ASSERT_OK(ioctl(fd, KVM_GET_SUPPORTED_CPUID, c));
	TEST_ASSERT(c->nent <= room, "nent %u", c->nent);
	for (uint32_t i = 0; i < c->nent; i++)
		assert_zero(c->entries[i].padding, sizeof(c->entries[i].padding),
			    "cpuid entry padding");
	/* Entries past nent are not written at all. */
	for (uint32_t i = c->nent; i < room; i++)
		TEST_ASSERT(c->entries[i].function == 0xa5a5a5a5,
			    "entry %u written past nent %u", i, c->nent);

	l = malloc(sizeof(*l) + 1024 * 4);
	TEST_ASSERT(l, "out of memory");
	memset(l, POISON, sizeof(*l) + 1024 * 4);
	l->nmsrs = 1024;
	r = ioctl(fd, KVM_GET_MSR_INDEX_LIST, l);
	TEST_ASSERT(r == 0, "KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
	TEST_ASSERT(l->nmsrs < 1024, "nmsrs %u", l->nmsrs);
	for (uint32_t i = l->nmsrs; i < 1024; i++)
		TEST_ASSERT(l->indices[i] == 0xa5a5a5a5,
			    "index %u written past nmsrs %u", i, l->nmsrs);
	close(fd);
}

/* The dirty bitmap: no bits past the slot's pages, no bytes past its size. */
TEST(no_uninitialised_data_dirty_log)
{
	struct vmm_vm *vm = vmm_vm_create();
	struct kvm_dirty_log log = { .slot = 1 };
	uint64_t bitmap[4];

	vmm_vm_add_slot(vm, 1, SLOT_GPA, 3 * 0x1000, KVM_MEM_LOG_DIRTY_PAGES);
	memset(bitmap, POISON, sizeof(bitmap));
	log.dirty_bitmap = bitmap;
	TEST_ASSERT_OK(ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log));
	TEST_ASSERT_EQ(bitmap[0], 0);
	TEST_ASSERT_EQ(bitmap[1], 0xa5a5a5a5a5a5a5a5ull);
}

TEST_MAIN()
