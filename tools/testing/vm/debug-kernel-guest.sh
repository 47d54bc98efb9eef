# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2154 # rig, set by guest-run
#
# Guest side of tools/testing/vm/run --debug-kernel: guest-run sources this
# file (the job's GUEST_HOOKS) and calls the two hooks around the module
# unload. They leave in the run directory, for debug-kernel.sh on the host:
#   kmemleak.loaded  kmemleak's report while the module is still loaded (its
#                    frames then have symbols)
#   kmemleak         the report after the unload: the module's own
#                    allocations that outlived it show up here
#   kmemleak-status  "ok", or why there is no report

readonly KMEMLEAK=/sys/kernel/debug/kmemleak

# Scan for leaks and copy the report (all leaks found so far) to $1.
kmemleak_report() {
	local out=$1 why
	# A write fails when kmemleak has turned itself off (e.g. out of
	# memory for its metadata): then there is no verdict to give.
	if ! why=$( { echo scan >"$KMEMLEAK"; } 2>&1) || ! cat "$KMEMLEAK" >"$out" 2>/dev/null; then
		echo "cannot scan: ${why:-no $KMEMLEAK}" >"$rig/kmemleak-status"
		return 1
	fi
}

guest_before_unload() {
	kmemleak_start=$SECONDS
	mark "kmemleak: scan before the unload"
	kmemleak_report "$rig/kmemleak.loaded"
}

guest_after_unload() {
	[[ -s "$rig/kmemleak-status" ]] && return
	# Twice: an object still referenced from a stale stack or register copy
	# at the first scan is reported at the second. kmemleak does not report
	# objects younger than 5 s: the last test's must have aged by then.
	mark "kmemleak: scans after the unload"
	kmemleak_report "$rig/kmemleak" || return
	local wait=$((kmemleak_start + 6 - SECONDS))
	[[ $wait -le 0 ]] || sleep "$wait"
	kmemleak_report "$rig/kmemleak" && echo ok >"$rig/kmemleak-status"
	mark "kmemleak: done"
}
