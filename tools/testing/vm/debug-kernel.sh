# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2034,SC2154 # run's variables, read and set here
#
# --debug-kernel for tools/testing/vm/run, which sources this file: boot the
# debug kernel scripts/build-debug-kernel builds (KASAN, lockdep, kmemleak,
# UBSAN, ...) instead of Debian's, build vmm.ko against it, and check for
# memory leaks when the run ends. Uses and sets run's variables (repo, cpu,
# module, kernel_dir, kver, kernel_image, kmods, problems, splats).
#
# The guest side is debug-kernel-guest.sh: guest-run sources it (the job's
# GUEST_HOOKS) and calls its hooks around the module unload.

# Kernel messages that are splats on the debug kernel only. SLUB's own checks
# print "BUG <cache> (<taint>): ..." without a colon after BUG; lockdep
# reports that the shared list does not name still start a line with
# "WARNING:" right after the timestamp (Debian's SRSO notice does not).
readonly DEBUG_KERNEL_SPLAT_PATTERNS=(
	'BUG [^ ]+ \((Not tainted|Tainted: [^)]*)\): '
	'^(\[ *[0-9]+\.[0-9]+\] )?WARNING: '
	'kmemleak: (Memory pool empty|Cannot allocate|Kernel memory leak detector disabled|Failed to)'
)

# Find or build the kernel, point run's kernel variables at it, build vmm.ko
# against it (--module vmm) and add the checkers' options to the command line.
debug_kernel_setup() {
	local dir
	[[ "$cpu" == amd ]] || die "--debug-kernel works only with --cpu amd"
	# Silent when the kernel is cached; the first build takes a while.
	if ! dir=$("$repo/scripts/build-debug-kernel"); then
		echo "run: building the debug kernel failed" >&2
		exit 125
	fi
	kernel_dir="$dir/root"
	kver=$(<"$dir/release")
	# The bzImage, not the ELF vmlinux through PVH as with Debian's kernel:
	# the PVH entry runs C code (xen_prepare_pvh(), memcmp()) before KASAN's
	# shadow is mapped, and its first shadow check faults. Its decompressor
	# is LZ4, the fastest one under TCG.
	kernel_image="$kernel_dir/boot/vmlinuz-$kver"
	kmods="$kernel_dir/lib/modules/$kver"
	debug_kernel_build_tree="$dir/build"

	# kmemleak=on is the default in this config; saying it keeps the run
	# working with a config that defaults it off. slub_debug: sanity
	# checks, red zones, poisoning and owner tracking on every cache.
	VMM_RIG_CMDLINE="kmemleak=on slub_debug=FZPU ${VMM_RIG_CMDLINE:-}"

	if [[ "$module" == vmm ]]; then
		debug_kernel_build_vmm "$dir/vmm"
	fi
}

# Build vmm.ko against the debug kernel from a copy of the module's sources,
# so that the build under the repository (against Debian's headers) is left
# alone. One copy per repository, kept between runs: make rebuilds only what
# changed (rsync keeps the timestamps and leaves the build output in place).
debug_kernel_build_vmm() {
	local top=$1 out
	debug_kernel_vmm_dir="$top/$(echo "$repo" | sha256sum | cut -c1-12)"
	mkdir -p "$debug_kernel_vmm_dir"
	# Two runs at once from one repository take turns.
	exec 8>"$debug_kernel_vmm_dir.lock"
	flock 8
	if ! out=$(rsync -a --delete \
		--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
		--exclude='.*.cmd' --exclude='*.a' --exclude=modules.order \
		--exclude=Module.symvers --exclude='.*.d' --exclude='.tmp_*' \
		"$repo/Kbuild" "$repo/include" "$repo/virt" "$repo/arch" \
		"$debug_kernel_vmm_dir/" 2>&1) ||
		! out=$(make -C "$debug_kernel_build_tree" M="$debug_kernel_vmm_dir" modules 2>&1); then
		echo "$out" >&2
		echo "run: building vmm.ko against the debug kernel failed" >&2
		exit 125
	fi
	[[ -f "$debug_kernel_vmm_dir/vmm.ko" ]] || {
		echo "run: the debug kernel's build of vmm.ko produced no $debug_kernel_vmm_dir/vmm.ko" >&2
		exit 125
	}
}

# Called while run writes the job file: add to it (stdout) and put vmm.ko in
# the run directory, which only this run uses (the copy above is shared).
debug_kernel_job() {
	local run_dir=$1
	if [[ "$module" == vmm ]]; then
		cp "$debug_kernel_vmm_dir/vmm.ko" "$run_dir/vmm.ko"
		exec 8>&-
		echo "MODULE_KO=vmm.ko"
	fi
	printf 'GUEST_HOOKS=%q\n' "$RIG_DIR/debug-kernel-guest.sh"
}

# The modules whose leaks fail the run: those the guest loaded for MODULE.
debug_kernel_modules() {
	case "$module" in
	vmm) echo vmm ;;
	kvm) echo kvm kvm_amd ;;
	esac
}

# After the run: add the debug-only splats and the kmemleak verdict to run's
# problems and splats. kmemleak reports in which a backtrace frame is in one
# of the modules under test fail the run: either named, "[vmm]" (the scan
# while the module was loaded), or a bare address (the scan after rmmod: the
# only code unloaded by then is the module under test's). Other reports are
# the kernel's own and only noted.
debug_kernel_verdict() {
	local run_dir=$1 pattern extra mods leaks others status
	pattern=$(IFS='|'; echo "${DEBUG_KERNEL_SPLAT_PATTERNS[*]}")
	# Only lines the shared patterns have not caught already.
	extra=$(cat "$run_dir/dmesg" "$run_dir/console.log" 2>/dev/null | tr -d '\r' |
		grep -E "$pattern" | grep -v 'vmm-rig:' | grep -vxF -e "$splats" | sort -u || true)
	if [[ -n "$extra" ]]; then
		splats=$(printf '%s\n%s' "$splats" "$extra" | sed '/^$/d' | sort -u)
		problems+=("the debug kernel logged a splat")
	fi

	# A guest that did not finish (timeout, panic) has failed already.
	[[ -s "$run_dir/status" ]] || return 0
	status=$(cat "$run_dir/kmemleak-status" 2>/dev/null || echo "no kmemleak report")
	if [[ "$status" != ok ]]; then
		problems+=("kmemleak: $status")
		return 0
	fi
	mods=$(debug_kernel_modules)
	leaks=$(cat "$run_dir/kmemleak.loaded" "$run_dir/kmemleak" 2>/dev/null |
		debug_kernel_leaks_from "$mods" | sort -u)
	others=$(grep -c '^unreferenced object' "$run_dir/kmemleak" 2>/dev/null || true)
	if [[ -n "$leaks" ]]; then
		problems+=("kmemleak: objects leaked by ${mods:-a module unloaded in the run}")
		splats=$(printf '%s\n%s' "$splats" "$leaks" | sed '/^$/d')
	elif [[ "$others" -gt 0 ]]; then
		echo "run: note: kmemleak reported $others unreferenced object(s), none from ${mods:-unloaded code} (kept with --keep-logs)" >&2
	fi
	return 0
}

# Read kmemleak reports on stdin, print one line per report that has a frame
# in one of the modules $1 (space-separated) or a frame with no symbol.
debug_kernel_leaks_from() {
	awk -v mods="$1" '
		function flush() {
			if (object != "" && hit != "")
				print "kmemleak: " object " " hit
			object = ""; hit = ""
		}
		BEGIN { n = split(mods, list, " ") }
		/^unreferenced object/ { flush(); object = $3 " " $4 " " $5; next }
		/^ +\[<[0-9a-f]+>\] / {
			frame = $2
			if (frame ~ /^0x[0-9a-f]+$/ && hit == "") hit = "from unloaded code " frame
			for (i = 1; i <= n; i++)
				if (index($0, "[" list[i] "]") && hit !~ /\[/) hit = "from " frame " [" list[i] "]"
		}
		END { flush() }'
}
