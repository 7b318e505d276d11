#!/bin/bash
# SPDX-License-Identifier: MIT
# lokt guard on a full disk: its renewals fail, and a lease it could not
# renew must count as lost before it runs out (when what is left is
# shorter than the next attempt), not after: --on-lost applies (default:
# the command is stopped), audited as "lost" (reason "unrenewed") when
# the log can still be written, and the lock is removed once the command
# is gone. Before, guard retried forever while the command ran on past
# its lease. The root is a small tmpfs mounted here (as root), filled up
# after guard started: its data blocks (nothing can be written, audit
# included) or its inodes (no new file, so no renewal; the audit log can
# still grow).
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "guard on a full disk" "needs root to mount a tmpfs"
	done_testing
	exit 0
fi

# The command stops on SIGTERM (saying so), else runs for ever.
cmd='trap "echo term >\"\$0.term\"; exit 0" TERM; : >"$0"; while :; do sleep 0.1; done'

# full_case WHAT MOUNT_OPTIONS FILL: guard --ttl 3s on a fresh tmpfs,
# which FILL then fills; sets OUT_ERR (guard's stderr), RC (its status).
full_case() {
	local what=$1 opts=$2 fill=$3 mnt="$T/mnt-$1" ready="$T/ready-$1"
	mkdir -p "$mnt"
	if ! mount -t tmpfs -o "$opts" "lkcl-full-$what" "$mnt"; then
		skip "$what: guard on a full disk" "cannot mount a tmpfs here"
		return 1
	fi
	at_exit "umount -l '$mnt'"
	export LOKT_ROOT="$mnt/root"
	"$LOKT" guard full --ttl 3s -- sh -c "$cmd" "$ready" 2>"$T/err-$what" &
	local gpid=$!
	track "$gpid"
	if ! wait_for 30 test -e "$ready"; then
		not_ok "$what: guarded command started"
		return 1
	fi
	lf=$(lockfile full)
	check "$what: the lock is held" test -e "$lf"
	$fill "$mnt"
	check "$what: the command is stopped (SIGTERM)" \
		wait_for 30 test -e "$ready.term"
	reap "$gpid"
	OUT_ERR=$(cat "$T/err-$what")
}

fill_blocks() { dd if=/dev/zero of="$1/fill" bs=64k 2>/dev/null; return 0; }
fill_inodes() {
	local i=0
	mkdir -p "$1/fill"
	while : 2>/dev/null >"$1/fill/$i"; do i=$((i + 1)); done
	return 0
}

if full_case blocks size=1m fill_blocks; then
	contains "$OUT_ERR" 'lost lock "full": cannot renew it' "blocks: guard says it gave the lock up"
	contains "$OUT_ERR" "No space left on device" "blocks: ... and why"
	check "blocks: guard exits with the command's status 0 (got $RC)" test "$RC" -eq 0
	check "blocks: the lock is removed after the command (unlink needs no space)" \
		test ! -e "$lf"
fi
if full_case inodes size=4m,nr_inodes=64 fill_inodes; then
	contains "$OUT_ERR" 'lost lock "full": cannot renew it' "inodes: guard says it gave the lock up"
	check "inodes: audited as lost, reason unrenewed" \
		test "$(audit_count lost full unrenewed)" = 1
	check "inodes: the lock is removed after the command" test ! -e "$lf"
	check "inodes: ... as a release (audited)" test "$(audit_count release full)" = 1
fi

done_testing
