# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree wrapper around Kbuild plus the project's developer targets.
#
#   make            build vmm.ko against KDIR
#   make check      host-side unit tests, then the selftests inside the AMD
#                   and the Intel test VMs, then the short fuzz campaign
#   make check-debug the selftests on vmm.ko in the test VM under the debug
#                   kernel (KASAN, lockdep, kmemleak, UBSAN); not in check
#   make check-intel the selftests on vmm.ko and on Debian's kvm_intel in the
#                   Intel test VM (Bochs, VMX); the Intel stage of check
#   make demo       the example VMM, then QEMU booting Linux, on vmm in the test VM
#   make bench      benchmarks against Debian's kvm_amd in one test-VM boot
#   make bench-intel the exit benchmarks against Debian's kvm_intel in one
#                   boot of the Intel test VM (Bochs); not in bench
#   make fuzz       the long robustness campaign (tools/testing/fuzz) in the test VM
#   make fuzz-emulator libFuzzer on the x86 emulator on the host for
#                   VMM_FUZZ_SECONDS (default 600); not in check or fuzz
#   make clean
#
# KDIR defaults to the running kernel's build tree and falls back to the
# newest Debian linux-headers-*-amd64 under /usr/src (these machines run a
# kernel whose headers Debian does not ship).

REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

KDIR ?= $(shell \
	if [ -d /lib/modules/$$(uname -r)/build ]; then \
		echo /lib/modules/$$(uname -r)/build; \
	else \
		ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1; \
	fi)

RIG := $(REPO)/tools/testing/vm/run
SELFTESTS := $(REPO)/tools/testing/selftests/vmm

.PHONY: all modules deps check check-unit check-vm check-debug check-intel selftests demo bench bench-intel fuzz clean

all: modules

deps:
	@$(REPO)/scripts/install-deps

modules: deps
	$(MAKE) -C $(KDIR) M=$(REPO) modules

selftests: deps
	$(MAKE) -C $(SELFTESTS)

check-unit:
	$(MAKE) -C $(SELFTESTS)/emulator check
	$(MAKE) -C $(SELFTESTS)/irqchip check

check-vm: modules selftests
	$(RIG) --module vmm

check: deps
	@$(REPO)/scripts/check

# The rig builds the debug kernel on first use (scripts/build-debug-kernel,
# about 18 minutes on two CPUs) and vmm.ko against it.
check-debug: selftests
	$(RIG) --debug-kernel --module vmm

# One Bochs boot per module, the vmm pass first; both always run, and the
# target fails if either does. One CPU: two make Bochs ~3.7 times slower
# (tools/testing/vm/README.md). A run takes 3-5 minutes; the timeout only
# stops a wedged one.
check-intel: modules selftests
	@status=0; \
	for module in vmm kvm; do \
		echo "==== selftests in the Intel test VM on $$module"; \
		$(RIG) --cpu intel --module $$module --smp 1 --timeout 1800 || status=1; \
	done; \
	exit $$status

# The example VMM, then unmodified QEMU booting Linux with two vCPUs on vmm.
demo: modules selftests
	$(RIG) --module vmm -- sh -c '$(SELFTESTS)/demo/vmm-demo && \
		VMM_QEMU_DEMO=1 $(SELFTESTS)/qemu_boot pc-2'

bench: modules
	$(REPO)/tools/bench/run

# pio, cpuid, msr and mmio, 3 rounds, in one Bochs boot: about 7 minutes,
# plus any wait for another Bochs (one runs at a time).
bench-intel: modules
	$(REPO)/tools/bench/run --cpu intel

# About 20 minutes of random ioctls, random guests, kill -9 rounds and load;
# three CPUs, so that load keeps two away from CPU 0 (Documentation/testing.rst).
fuzz: modules
	$(MAKE) -C $(REPO)/tools/testing/fuzz
	$(RIG) --module vmm --smp 3 --timeout 2700 -- $(REPO)/tools/testing/fuzz/run-long

# Host only, no VM or module: tools/testing/selftests/vmm/emulator.
.PHONY: fuzz-emulator
fuzz-emulator:
	$(MAKE) -C $(SELFTESTS)/emulator fuzz

clean:
	$(MAKE) -C $(KDIR) M=$(REPO) clean 2>/dev/null || true
	$(MAKE) -C $(SELFTESTS) clean 2>/dev/null || true
	$(MAKE) -C $(SELFTESTS)/emulator clean 2>/dev/null || true
	$(MAKE) -C $(SELFTESTS)/irqchip clean 2>/dev/null || true
	$(MAKE) -C $(REPO)/tools/testing/fuzz clean 2>/dev/null || true
