#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The daemon never blocks other callers on one slow one (README, "The filesystem").
#
# A request that must wait is made for real: this script takes the kernel
# flock of a name's sidecar (what a `lokt` process stopped in the middle of
# a transition would hold), and another owner's `touch locks/slow` then
# waits inside the daemon; /proc/locks shows the daemon blocked on that
# sidecar. While it waits, with `tail -f audit` following the log and a
# stopped shell keeping a lock file open for writing, other callers' touch,
# cat, ls -l, stat, rm, freezes and the audit must all complete, and only
# then is the flock let go: the stuck touch must still be waiting when
# they are done, and ends with EBUSY (slow is held).
#
# The same check against a single-threaded mount (-s) shows that it can
# fail: there `ls` cannot finish before the stuck request does. These two
# mounts use lock_wait=0 (wait for the sidecar as long as it takes), so
# the stuck request stays stuck.
#
# A stuck create of a FREE name is worse: the kernel holds the locks/
# directory during a create, so every other create and uncached lookup
# there waits too. The default mount bounds that wait (lock_wait, 5 s):
# on a mount with lock_wait=1s, the stuck touch fails with EAGAIN while the
# sidecar is still held, and then ls and touch of other names go on.
#
# Only the orderings are asserted. The operations run under `timeout` so
# that a blocked one makes the test fail, not hang.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
L=$M/locks
if ! mount_fs "$M" lock_wait=0; then
	not_ok "mount loktfs on $M"
	done_testing
	exit 1
fi
ok "mount loktfs on $M"
MT=$MOUNT_PID
export L

# Slow callers that keep going for the whole test: a follower of the audit
# log, and a shell that took locks/w with its own redirection, keeps it
# open for writing, and is stopped.
tail -n 0 -f "$M/audit" >"$T/tail.out" 2>&1 &
tailp=$!
at_exit "kill_child KILL $tailp"
bash -c 'exec 7>"$L/w" || exit 1; kill -STOP $$; exec sleep 300' &
stopped=$!
at_exit "kill_child KILL $stopped"
is_stopped() { ps -o stat= -p "$1" | grep -q '^T'; }
if wait_for 30 is_stopped "$stopped"; then
	ok "a shell holding locks/w open for writing is stopped"
else
	not_ok "the shell holding locks/w did not stop: $(ps -o stat= -p "$stopped")"
fi
expect_exit 0 "locks/w is held by the stopped shell" "$LOKT" exists w

# The lock the stuck request asks for: alice's, from a live shell.
LOKT_OWNER=alice bash -c 'touch "$L/slow" || exit 1; exec sleep 300' &
alice=$!
at_exit "kill_child KILL $alice"
if wait_for 30 "$LOKT" exists slow; then ok "alice holds slow"; else not_ok "alice did not take slow"; fi
SIDECAR=$LOKT_ROOT/locks/.slow.lk
if [ -f "$SIDECAR" ]; then ok "slow has its sidecar in the store"; else not_ok "no sidecar $SIDECAR"; fi
slow_id=$(jfield lock_id <"$L/slow")

# waiter_on PID FILE: /proc/locks shows PID blocked waiting for a flock
# on FILE (a "->" line with FILE's inode).
waiter_on() {
	local ino
	ino=$(stat -c %i "$2") || return 1
	awk -v pid="$1" -v ino="$ino" '
		$2 == "->" && $3 == "FLOCK" && $6 == pid {
			n = split($7, f, ":"); if (f[n] == ino) found = 1 }
		END { exit !found }' /proc/locks
}

# stick MNT: take the sidecar's flock (fd 9 of this shell; every child
# below closes its copy with 9>&-) and start bob's touch MNT/locks/slow,
# which then waits in the daemon; $STUCK is that touch.
STUCK=
stick() {
	exec 9<>"$SIDECAR"
	flock -x 9
	LOKT_OWNER=bob touch "$1/locks/slow" 9>&- 2>"$T/stuck.err" &
	STUCK=$!
	at_exit "kill_child KILL $STUCK"
}
unstick() { exec 9>&-; }

# ---- the multi-threaded mount (the default) ----------------------------------
stick "$M"
if wait_for 30 waiter_on "$MT" "$SIDECAR"; then
	ok "bob's touch locks/slow waits inside the daemon (pid $MT) for the sidecar's flock"
else
	not_ok "no daemon thread waits for the sidecar: $(cat /proc/locks)"
fi

# others DESC CMD...: one other caller's operation, bounded so that a
# blocked one fails here rather than hanging the suite.
others() {
	local desc=$1
	shift
	expect_exit 0 "while slow is stuck: $desc" timeout 60 "$@" 9>&-
}
others "touch locks/a (free: a create)" touch "$L/a"
others "cat locks/a" cat "$L/a"
others "ls -l locks/" ls -l "$L"
contains "$OUT" " a" "while slow is stuck: ls -l lists a"
others "stat locks/slow (the stuck name)" stat "$L/slow"
others "cat locks/slow (the stuck name)" cat "$L/slow"
others "touch locks/a again (renew)" touch "$L/a"
others "echo 5m > freezes/fz" sh -c 'echo 5m >"$0/freezes/fz"' "$M"
others "rm freezes/fz" rm "$M/freezes/fz"
others "rm locks/a" rm "$L/a"
others "cat audit" cat "$M/audit"
others "lokt status (the CLI on the same store)" "$LOKT" status
if wait_for 30 grep -Eq '"name": *"a"' "$T/tail.out"; then
	ok "tail -f audit keeps following while slow is stuck"
else
	not_ok "tail -f audit saw nothing of a: $(cat "$T/tail.out")"
fi
# The ordering that matters: all of the above finished first.
if proc_gone "$STUCK"; then
	not_ok "the touch of slow finished before its flock was let go: nothing was stuck ($(cat "$T/stuck.err"))"
else
	ok "the touch of slow is still waiting after all the others finished"
fi
unstick
if wait_for 60 proc_gone "$STUCK"; then ok "the stuck touch ends once the flock is let go"; else not_ok "the stuck touch still waits"; fi
wait "$STUCK"
st=$?
[ "$st" -ne 0 ] && ok "the stuck touch of alice's slow fails (exit $st)" || not_ok "bob's touch of alice's live slow succeeded"
contains "$(cat "$T/stuck.err")" "Device or resource busy" "the stuck touch gets EBUSY"
[ "$(jfield lock_id <"$L/slow")" = "$slow_id" ] && ok "slow is still alice's, same lock_id" ||
	not_ok "slow changed: $(cat "$L/slow")"
expect_exit 3 "a is free again" "$LOKT" exists a

# ---- the test can fail: a single-threaded mount is blocked -----------------
M2=$T/mnt1
if mount_fs "$M2" lock_wait=0 -s; then ok "mount -s (single-threaded) on $M2"; else not_ok "mount -s on $M2"; fi
MS=$MOUNT_PID
stick "$M2"
if wait_for 30 waiter_on "$MS" "$SIDECAR"; then
	ok "-s: bob's touch waits inside the single-threaded daemon"
else
	not_ok "-s: no waiter on the sidecar: $(cat /proc/locks)"
fi
ls "$M2/locks" >"$T/ls2.out" 2>&1 9>&- &
lsp=$!
at_exit "kill_child KILL $lsp"
# Not a time assertion: however long this waits, ls cannot get an answer
# from a daemon whose only thread is stuck.
if wait_for 3 proc_gone "$lsp"; then
	not_ok "-s: ls finished while the only thread was stuck (the check above could not fail)"
else
	ok "-s: ls waits behind the stuck request (what the check above catches)"
fi
unstick
if wait_for 60 proc_gone "$lsp"; then ok "-s: ls finishes once the flock is let go"; else not_ok "-s: ls still blocked"; fi
wait "$lsp" && ok "-s: ls exit 0" || not_ok "-s: ls failed: $(cat "$T/ls2.out")"
wait_for 60 proc_gone "$STUCK"
wait "$STUCK" 2>/dev/null
if unmount_fs "$M2"; then ok "unmount $M2: daemon exits 0"; else not_ok "unmount $M2"; fi

# ---- a stuck create of a free name, bounded by lock_wait ---------------------
M3=$T/mnt3
if mount_fs "$M3" lock_wait=1s; then ok "mount with lock_wait=1s on $M3"; else not_ok "mount with lock_wait=1s on $M3"; fi
FREE_SIDECAR=$LOKT_ROOT/locks/.free.lk
exec 8<>"$FREE_SIDECAR"
flock -x 8
LOKT_OWNER=bob touch "$M3/locks/free" 8>&- 9>&- 2>"$T/free.err" &
freep=$!
at_exit "kill_child KILL $freep"
if wait_for 60 proc_gone "$freep"; then
	ok "the stuck touch of a free name gives up while its sidecar is still held"
else
	not_ok "the touch of a free name still waits for a sidecar held elsewhere"
fi
wait "$freep"
st=$?
[ "$st" -ne 0 ] && ok "it fails (exit $st)" || not_ok "touch of free succeeded while its sidecar was held"
contains "$(cat "$T/free.err")" "Resource temporarily unavailable" "it fails with EAGAIN"
expect_exit 3 "and takes nothing: free is not held" "$LOKT" exists free
expect_exit 0 "then ls of locks/ goes on" timeout 60 ls "$M3/locks" 8>&-
expect_exit 0 "then touch locks/b (a create) goes on" timeout 60 touch "$M3/locks/b" 8>&-
expect_exit 0 "rm locks/b" timeout 60 rm "$M3/locks/b" 8>&-
exec 8>&-
expect_exit 0 "once the sidecar is let go, touch locks/free takes it" timeout 60 touch "$M3/locks/free"
expect_exit 0 "rm locks/free" timeout 60 rm "$M3/locks/free"
# A name new to the store reads the fence floor first, under its flock:
# held there (a co-user's flock(1)), the create waited without bound.
echo 7 >"$LOKT_ROOT/locks/.fence-floor"
exec 8<"$LOKT_ROOT/locks/.fence-floor"
flock -x 8
expect_exit 1 "a new name, the fence floor's flock held: touch gives up" \
	timeout 8 touch "$M3/locks/brandnew" 8>&-
contains "$ERR" "Resource temporarily unavailable" "... with EAGAIN"
expect_exit 3 "... taking nothing" "$LOKT" exists brandnew
exec 8>&-
expect_exit 0 "the floor let go: touch locks/brandnew takes it" timeout 60 touch "$M3/locks/brandnew"
check "... its fence above the floor (8)" \
	test "$(grep -o '"fence": *[0-9]*' "$LOKT_ROOT/locks/brandnew.json" | tr -dc 0-9)" = 8
expect_exit 0 "rm locks/brandnew" timeout 60 rm "$M3/locks/brandnew"
if unmount_fs "$M3"; then ok "unmount $M3: daemon exits 0"; else not_ok "unmount $M3"; fi

kill_child KILL "$stopped" "$tailp"
wait "$stopped" "$tailp" 2>/dev/null
if unmount_fs "$M"; then ok "unmount: daemon exits 0"; else not_ok "unmount: daemon did not exit 0"; fi
done_testing
