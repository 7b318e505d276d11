#!/bin/bash
# SPDX-License-Identifier: MIT
# A thousand waiters of one user: `lokt guard NAME --wait` started at once
# by one unprivileged user (created here, removed at exit), so the per-user
# inotify limit (fs.inotify.max_user_instances, 128 on Debian) applies.
# Every waiter queues (no "Too many open files"), every one is served, in
# the order of its ticket in the queue (docs/protocol.md: the waiter
# queue), and never two inside at once (witness.sh). Each served command
# reports its guard's pid ($PPID); the queue order is read from the
# tickets, which hold their waiter's pid, while all of them wait.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

N=1000 # about 75 s, and 4.5 GB at most under ASan, on 2 cores

if [ "$(id -u)" -ne 0 ]; then
	skip "$N waiters of one user" "needs root to create a user"
	done_testing
	exit 0
fi

U=lkwt$$
if ! useradd -M -N -r -d / -s /usr/sbin/nologin "$U" 2>"$T/useradd.err"; then
	not_ok "useradd $U: $(cat "$T/useradd.err")"
	done_testing
	exit 1
fi
UID2=$(id -u "$U")
# At exit the user's processes (all started here) go first, then the user.
user_cleanup() {
	local p
	for p in $(ps -o pid= -u "$UID2"); do kill -9 "$p" 2>/dev/null; done
	userdel -f "$U" 2>/dev/null
}
at_exit user_cleanup
GID2=$(id -g "$U")
ok "created user $U (uid $UID2); max_user_instances $(cat /proc/sys/fs/inotify/max_user_instances)"

# "${AS_USER[@]}" CMD... runs CMD as the user; setpriv and env exec, so
# $! of a background one is CMD's pid (for track).
AS_USER=(setpriv --reuid="$UID2" --regid="$GID2" --clear-groups
	env -u LOKT_OWNER -u LOKT_AGENT_ID HOME=/)

chmod 0711 "$T"
if ! "${AS_USER[@]}" "$LOKT" version >/dev/null 2>&1; then
	skip "$N waiters of one user" "user $U cannot run $LOKT (a directory on its path is not searchable by others)"
	done_testing
	exit 0
fi
O=$T/out # everything the user writes
mkdir -p "$O" "$LOKT_ROOT"
witness_reset "$O/w"
chown -R "$U" "$O" "$LOKT_ROOT"
Q=$LOKT_ROOT/locks/.many.q

# The holder: the user's own guard, until $O/go exists.
"${AS_USER[@]}" "$LOKT" guard many -q -- sh -c \
	': >"$1/held"; while [ ! -e "$1/go" ]; do sleep 0.05; done' sh "$O" \
	2>"$O/holder.err" &
holder=$!
track "$holder"
check "the user's holder takes the lock" wait_for 30 test -e "$O/held"

# Waiter i appends its guard's pid to order, then runs the witness. A
# shell around each guard appends guard's exit status to rcs (bash's own
# record of a child's status is lost when its pid is reused: pid_max is
# often 32768, and a thousand waiters start several processes each).
i=0
while [ "$i" -lt "$N" ]; do
	i=$((i + 1))
	lean_round "$i"
	"${AS_USER[@]}" sh -c '"$@"; echo $? >>"$0/rcs"' "$O" \
		"$LOKT" guard many --wait --timeout 600s -q -- sh -c \
		'echo "$PPID" >>"$1/order"; exec sh "$2" "$1/w"' \
		sh "$O" "$WITNESS" 2>>"$O/errors" &
	track "$!"
done

tickets() { local t=("$Q"/*[0-9]); [ -e "${t[0]}" ] && echo "${#t[@]}" || echo 0; }
queued() { [ "$(tickets)" -eq "$1" ]; }
all_queued() { [ "$(tickets)" -eq "$N" ] || [ -s "$O/errors" ]; }
wait_for 120 all_queued
check "all $N waiters queued (tickets: $(tickets))" test "$(tickets)" -eq "$N"
check "no waiter failed to queue" test ! -s "$O/errors"
[ -s "$O/errors" ] && diag "$(sort "$O/errors" | uniq -c | head -5)"
check "nobody got in while the holder holds it" test ! -e "$O/order"

# The queue order: ticket files, in name (= number) order, hold their
# waiter's pid first.
for f in "$Q"/*[0-9]; do
	read -r p _ <"$f" && echo "$p"
done >"$T/want"

: >"$O/go"
wait "$holder"
check "the holder's guard exits 0 (got $?)" test $? -eq 0
lines() { if [ -e "$O/$1" ]; then wc -l <"$O/$1"; else echo 0; fi; }
over() { [ "$(lines rcs)" -ge "$N" ]; }
wait_for 180 over
check "all $N waiters served (got $(lines order))" test "$(lines order)" -eq "$N"
check "all $N guards exited (got $(lines rcs))" test "$(lines rcs)" -eq "$N"
bad=$(grep -cv '^0$' "$O/rcs")
check "every waiter's guard exits 0 ($bad did not: $(grep -v '^0$' "$O/rcs" | sort | uniq -c | tr '\n' ' '))" \
	test "$bad" -eq 0
[ -s "$O/errors" ] && diag "$(sort "$O/errors" | uniq -c | head -5)"
check "served in queue order (first come, first served)" \
	cmp -s "$T/want" "$O/order"
cmp -s "$T/want" "$O/order" ||
	diag "$(diff "$T/want" "$O/order" | head -10)"
read -r sections overlaps misordered <<<"$(witness_stats "$O/w")"
check "$N critical sections (got $sections)" test "$sections" -eq "$N"
check "never two inside at once ($overlaps overlaps, $misordered misordered)" \
	test "$overlaps" -eq 0 -a "$misordered" -eq 0
check "the queue is empty at the end (tickets: $(tickets))" test "$(tickets)" -eq 0
check "no doorbell left behind ($(ls -A "$Q" | head -3 | tr '\n' ' '))" \
	test -z "$(ls -A "$Q")"
expect_exit 3 "the lock is free at the end" "$LOKT" exists many

# --- the user has no inotify instance left --------------------------------
# The waiter at the head then re-checks on a timer (docs/troubleshooting.md):
# slower, but the wait neither fails nor loses its place.
"${AS_USER[@]}" "$PY" -c 'import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
n = 0
while libc.inotify_init1(0) >= 0:
    n += 1
open(sys.argv[1], "w").write("%d %d" % (n, ctypes.get_errno()))
time.sleep(600)' "$O/hog" &
track "$!"
wait_for 30 test -s "$O/hog"
read -r taken hogerr <"$O/hog"
check "the user's inotify instances are used up ($taken taken, then errno $hogerr)" \
	test "$hogerr" -eq 24 # EMFILE
"${AS_USER[@]}" "$LOKT" guard blind -q -- sh -c \
	': >"$1/held2"; while [ ! -e "$1/go2" ]; do sleep 0.05; done' sh "$O" \
	2>"$O/holder2.err" &
holder=$!
track "$holder"
check "a holder takes blind" wait_for 30 test -e "$O/held2"
Q=$LOKT_ROOT/locks/.blind.q
wpids=()
for i in 1 2 3; do
	"${AS_USER[@]}" "$LOKT" guard blind --wait --timeout 120s -q -- sh -c \
		'echo "W$2" >>"$1/order2"' sh "$O" "$i" 2>>"$O/errors2" &
	track "$!"
	wpids+=("$!")
	check "W$i queued without inotify" wait_for 30 queued "$i"
done
: >"$O/go2"
bad=0
for p in "${wpids[@]}"; do
	reap "$p"
	[ "$RC" -eq 0 ] || bad=$((bad + 1))
done
check "every waiter's guard exits 0 ($bad did not)" test "$bad" -eq 0
# Each guard, once it holds, warns that it cannot watch its lock either.
grep -v 'cannot watch lock "blind"' "$O/errors2" >"$T/errors2"
check "no waiter failed ($(head -c 200 "$T/errors2"))" test ! -s "$T/errors2"
check "served in order: W1 W2 W3 (got $(tr '\n' ' ' <"$O/order2" 2>/dev/null))" \
	test "$(tr '\n' ' ' <"$O/order2" 2>/dev/null)" = "W1 W2 W3 "

done_testing
