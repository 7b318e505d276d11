#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Errors injected into the mount's daemon (strace -e inject): an open with
# O_CREAT of locks/x, then of freezes/x, with each stat and open of the
# record (x.json) by the daemon failing with EIO in turn, one mount per
# point. Whatever point fails, the open
# either succeeds and the lock (freeze) is held by the caller, or fails
# and the store is as it was: no lock, no freeze. Before loktfs gave back
# what a CREATE took when the attributes of its reply could not be read
# (the stat after the link), such an open failed with EIO and left the
# lock held (docs/loktfs.8: a refused call leaves the store as it was).
# The same with a lock the caller already holds (a renewal): held by it
# either way.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fault/common.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

if ! command -v strace >/dev/null; then
	skip "${0##*/}: errors injected with strace" "strace is not installed"
	done_testing
	exit 0
fi

M=$T/mnt
REAL_LOKTFS=$LOKTFS
export REAL_LOKTFS INJ_LOG=$T/strace.log
# The daemon under strace: only calls that name x.json (-P), one of them
# (the INJ_WHEN-th INJ_CALL) failing with EIO. exec: strace is the pid
# mount_fs waits on, and it exits with the daemon's status.
cat >"$T/loktfs-inject" <<'EOF'
#!/bin/sh
exec strace -qq -f -o "$INJ_LOG" -P x.json -e trace="$INJ_CALL" \
	-e inject="$INJ_CALL:error=EIO:when=$INJ_WHEN" "$REAL_LOKTFS" "$@"
EOF
chmod +x "$T/loktfs-inject"
LOKTFS=$T/loktfs-inject

# The holder of what errno.py takes is this script (errno_of runs it from
# this shell). held KIND: x is held (frozen) by us.
held() {
	local pid
	pid=$(record x "$1" 2>/dev/null | jfield pid) || return 1
	[ "$pid" = $$ ]
}

# one KIND CALL WHEN [renew]: a mount whose WHEN-th CALL on x.json fails;
# an open of KIND/x through it; one TAP line on the outcome. Returns 1
# when no call was injected (WHEN is past the last of them).
one() {
	local kind=$1 call=$2 when=$3 renew=${4:-} area=locks what
	[ "$kind" = freeze ] && area=freezes
	"$LOKT" unlock x --force -q >/dev/null 2>&1
	"$LOKT" unfreeze x --force -q >/dev/null 2>&1
	if [ -n "$renew" ] && ! "$LOKT" lock x -q --holder $$; then
		not_ok "lokt lock x --holder $$ before the renewal"
		return 1
	fi
	export INJ_CALL=$call INJ_WHEN=$when
	: >"$INJ_LOG"
	if ! mount_fs "$M" "" -s; then
		not_ok "mount loktfs under strace ($call #$when)"
		return 1
	fi
	errno_of create "$M/$area/x"
	unmount_fs "$M" || diag "unmount after $call #$when failed"
	grep -q INJECTED "$INJ_LOG" || return 1
	what="$kind${renew:+ renewal}: $call #$when -> $GOT"
	if [ -n "$renew" ]; then
		held "$kind" && ok "$what, still held by its holder" ||
			not_ok "$what, and x is no longer held by its holder"
	elif [ "$GOT" = OK ]; then
		held "$kind" && ok "$what, held by the caller" ||
			not_ok "$what, but x is not held by the caller"
	else
		has_record x "$kind" && not_ok "$what, but x was left: $(record x "$kind")" ||
			ok "$what, and the store is as it was"
	fi
	return 0
}

for kind in lock freeze; do
	for call in newfstatat openat; do
		n=0
		for when in $(seq 1 12); do
			one $kind $call "$when" || break
			n=$((n + 1))
		done
		[ "$n" -gt 0 ] || not_ok "$kind: no $call on x.json was injected"
	done
done
# A renewal: the failure of any call leaves the lock held by its holder.
for call in newfstatat openat; do
	for when in $(seq 1 12); do
		one lock $call "$when" renew || break
	done
done
doctor_clean "after the injected errors"
done_testing
