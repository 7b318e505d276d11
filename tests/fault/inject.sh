#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Faults injected into the mount's daemon (strace -e inject). An open
# with O_CREAT of locks/x, then of freezes/x, with each stat and open of
# the record (x.json) by the daemon failing with EIO in turn, one mount
# per point: whatever point fails, the open either succeeds and the lock
# (freeze) is held by the caller, or fails and the store is as it was: no
# lock, no freeze. Before loktfs gave back what a CREATE took when the
# attributes of its reply could not be read (the stat after the link),
# such an open failed with EIO and left the lock held (docs/loktfs.8: a
# refused call leaves the store as it was). The same with a lock the
# caller already holds (a renewal): held by it either way. Last, rm's
# release held up (delay_exit) while another takes the name again.
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
# The daemon under strace: only calls that name x.json (-P), INJ_CALL,
# injected as INJ_SPEC says (the INJ_WHEN-th failing with EIO, or one
# delayed). exec: strace is the pid mount_fs waits on, and it exits with
# the daemon's status.
cat >"$T/loktfs-inject" <<'EOF'
#!/bin/sh
exec strace -qq -f -o "$INJ_LOG" -P x.json -e trace="$INJ_CALL" \
	-e inject="$INJ_SPEC" "$REAL_LOKTFS" "$@"
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
	export INJ_CALL=$call INJ_SPEC="$call:error=EIO:when=$when"
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

# rm of a lock whose name another takes at once: the daemon's release is
# held 1.5 s after its unlinkat (delay_exit), and meanwhile lokt takes x
# again. An open file of the removed lock must not show the new one (it
# reads as end of file, docs/loktfs.8): before, rm kept the name's node
# when the lock it found right after was someone else's.
"$LOKT" unlock x --force -q >/dev/null 2>&1
export INJ_CALL=unlinkat INJ_SPEC="unlinkat:delay_exit=1500000"
: >"$INJ_LOG"
if mount_fs "$M"; then
	cat >"$T/retaken.py" <<'PY'
import os, subprocess, sys, time
path, lokt = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)   # takes x
pid = os.fork()
if pid == 0:
    os.unlink(path)   # its release held 1.5 s by strace
    os._exit(0)
time.sleep(0.5)
taken = subprocess.run([lokt, "lock", "x", "-q", "--holder", str(os.getpid())]).returncode
os.waitpid(pid, 0)
print("taken" if taken == 0 else "not-taken", repr(os.pread(fd, 4096, 0)[:20]))
PY
	out=$("$PY" "$T/retaken.py" "$M/locks/x" "$LOKT" 2>&1)
	unmount_fs "$M" || diag "unmount after the delayed release failed"
	grep -q DELAYED "$INJ_LOG" || diag "no unlinkat was delayed: $(cat "$INJ_LOG")"
	[ "$out" = "taken b''" ] &&
		ok "x taken again during rm's release: the removed file reads as end of file" ||
		not_ok "x taken again during rm's release: $out (want: taken b'')"
	"$LOKT" unlock x --force -q >/dev/null 2>&1
else
	not_ok "mount loktfs under strace (delayed unlinkat)"
fi
doctor_clean "after the injected errors"
done_testing
