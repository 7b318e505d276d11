#!/bin/bash
# SPDX-License-Identifier: MIT
# A transition that does not end: another process holds a name's sidecar
# flock (`.NAME.lk`) and does not let go, as a process stopped in the
# middle of a transition would, or a co-user running `flock` on it by
# hand. A waiting `lokt lock` or `lokt guard` stuck there is still ended
# by SIGINT, SIGTERM or SIGHUP, as lokt(1) says (exit 128+N), at once:
# its flock wait used to go back to sleep after the signal. Its
# --timeout ends it too (exit 2). The commands that do not wait give up
# there after 10 s (exit 1), also on the fence floor's flock, which a
# name new to the store reads first, and so do unlock --all and status
# --prune-expired; guard's renewal gives up before its lease ends, and
# its release is left to its watchdog (docs/lokt.1, BUGS). The store is
# left as it was, and once the flock is let go the name works again.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

"$LOKT" lock k -q && "$LOKT" unlock k -q
"$LOKT" lock sw -q && "$LOKT" unlock sw -q # a counter: no floor to read
for n in "" 2 3 4 5; do "$LOKT" lock g$n -q && "$LOKT" unlock g$n -q; done
# ua: a lock of owner ua, for unlock --all; ux: a lock that expires (a
# stale one, for --prune-expired).
LOKT_OWNER=ua "$LOKT" lock ua --ttl 1h --detach -q
"$LOKT" lock ux --ttl 1s --detach -q
# An expired freeze of fk (below): a lock of fk clears it, under the
# freeze's sidecar flock.
"$LOKT" freeze fk --ttl 1s -q
fk_at=$(date +%s%N)
before=$(cd "$LOKT_ROOT" && find . -type f -name '*.json' ! -name sw.json ! -name 'g*.json' | sort | xargs -r cat | sha1sum)
flock -F -x "$LOKT_ROOT/locks/.k.lk" sleep 60 &
F=$!
track "$F"
wait_for 10 eval 'grep -q "FLOCK.*WRITE $F " /proc/locks' || diag "the flock did not show"

# The commands that do not wait, started now and looked at below (each
# gives up after 10 s): k's sidecar, a freeze's (fz), and the fence floor
# (7), held by flock(1) for a minute.
"$LOKT" freeze fz --ttl 1m -q && "$LOKT" unfreeze fz -q
echo 7 >"$LOKT_ROOT/locks/.fence-floor"
flock -F -x "$LOKT_ROOT/freezes/.fz.lk" sleep 60 &
F2=$!
flock -F -x "$LOKT_ROOT/locks/.fence-floor" sleep 60 &
F3=$!
flock -F -x "$LOKT_ROOT/freezes/.fk.lk" sleep 60 &
F4=$!
flock -F -x "$LOKT_ROOT/locks/.ua.lk" sleep 60 &
F6=$!
flock -F -x "$LOKT_ROOT/locks/.ux.lk" sleep 60 &
F7=$!
track "$F2" "$F3" "$F4" "$F6" "$F7"
wait_for 10 eval 'grep -q "FLOCK.*WRITE $F2 " /proc/locks && grep -q "FLOCK.*WRITE $F3 " /proc/locks &&
	grep -q "FLOCK.*WRITE $F4 " /proc/locks && grep -q "FLOCK.*WRITE $F6 " /proc/locks &&
	grep -q "FLOCK.*WRITE $F7 " /proc/locks' || diag "the flocks did not show"
# One held up where it did not stop: stopped (^Z) in the flock's queue
# while the flock was held (3 s), and continued past its deadline, long
# after the flock was let go, with its alarms due: it takes the lock (it
# gave up, blaming the file).
(
	flock -F -x "$LOKT_ROOT/locks/.sw.lk" sleep 3 &
	wait_for 10 eval 'grep -q "FLOCK.*WRITE $! " /proc/locks'
	"$LOKT" lock sw --ttl 1m -q 2>"$T/sw.err" &
	P=$!
	wait_for 10 eval 'grep -q "FLOCK.* $P " /proc/locks'
	kill -STOP "$P"
	sleep 10 # its first alarm (9 s) is due
	kill -CONT "$P"
	wait "$P"
	echo $? >"$T/sw.rc"
) &
track $!
while [ "$(($(date +%s%N) - fk_at))" -lt 1200000000 ]; do sleep 0.1; done # fk expired
# guard --ttl 3s holding g, a flock of g's sidecar taken after it had the
# lock: its renewal, held up there, gives up when 200 ms of the lease is
# left (lost: the command is stopped; once the flock is let go, anyone
# may break the expired lock), and its release, held up 10 s, is left to
# its watchdog, the lock's keeper, which releases g once the flock is let
# go. guard used to wait in the flock for as long as it was held,
# answering no signal, its command running on past the lease.
(
	s=$(date +%s%N)
	"$LOKT" guard g --ttl 3s -- sleep 60 2>"$T/g.err"
	echo "$? $((($(date +%s%N) - s) / 1000000))" >"$T/g.rc"
) &
track $!
wait_for 10 test -e "$LOKT_ROOT/locks/g.json" || diag "guard did not take g"
flock -F -x "$LOKT_ROOT/locks/.g.lk" sleep 60 &
F5=$!
track "$F5"
# From a review of that change, each in a lane of its own (beside the
# rest, its lock names its own).
# guarded NAME SCRIPT GUARD-ARGS...: guard NAME GUARD-ARGS -- sh -c SCRIPT
# in the background, its pid in G, its stderr in $T/NAME.err; SCRIPT
# starts once $T/NAME.ready is made. False if the command did not start.
guarded() {
	local name=$1 script=$2
	shift 2
	"$LOKT" guard "$name" "$@" -- sh -c ": >$T/$name.ready; $script" 2>"$T/$name.err" &
	G=$!
	track "$G"
	wait_for 10 test -e "$T/$name.ready" && return 0
	not_ok "guard $name started its command"
	return 1
}
# flocked NAME SECONDS: a flock(1) of NAME's sidecar for SECONDS, its pid
# in F, once /proc/locks shows it.
flocked() {
	flock -F -x "$LOKT_ROOT/locks/.$1.lk" sleep "$2" &
	F=$!
	track "$F"
	wait_for 10 eval 'grep -q "FLOCK.*WRITE $F " /proc/locks'
}
# g2: each renewal attempt held up there gives up after 200 ms, and guard
# goes back to its loop: a SIGTERM to guard still reaches the command
# (it reached it only once the lease was all but over), and a command
# that ends meanwhile is not reported lost.
guard_deaf() {
	local G F s ms
	guarded g2 "trap 'echo TERM >$T/g2.mark; exit 7' TERM; while :; do sleep 0.1; done" --ttl 6s || return
	flocked g2 60
	sleep 2.5 # its renewal, at 2 s, held up in the flock
	s=$(date +%s%N)
	kill -TERM "$G"
	wait_for 10 test -s "$T/g2.mark"
	ms=$((($(date +%s%N) - s) / 1000000))
	check "guard --ttl 6s, its renewal held up by a flock: a SIGTERM to guard still reaches the command (${ms} ms; it used to wait 3 s more)" \
		test "$ms" -lt 2000
	reap "$G"
	check "... guard exits with the command's status (7, got $RC)" test "$RC" = 7
	check "... not reported lost: the command ended before its lease" eval '! grep -q "lost lock" "$T/g2.err"'
	kill "$F"
	reap "$F"
	check "... the flock let go, g2 is released" wait_for 10 eval '! test -e "$LOKT_ROOT/locks/g2.json"'
}
# g3: guard stopped alone (kill -STOP) past the lease it counted, which
# its watchdog renewed meanwhile, continued while a flock is held 1 s:
# its renewal waits for the lease the record has, and the lock is kept
# (it gave up at once, counting the lease long over).
guard_stopped() {
	local G F
	guarded g3 "exec sleep 60" --ttl 3s || return
	kill -STOP "$G"
	sleep 4.5
	flocked g3 1
	kill -CONT "$G"
	sleep 2.5 # the flock let go after 1 s, a renewal since
	check "guard stopped alone 4.5 s (its watchdog renewed g3), continued with a flock held 1 s: it keeps g3 and its command ($(cat "$T/g3.err"))" \
		eval 'kill -0 "$G" && [ "$("$LOKT" status g3 --json | jget "d[\"state\"]")" = live ]'
	kill -TERM "$G"
	reap "$G"
	reap "$F"
}
# g4: its watchdog killed while the flock is held: the new one's naming
# as keeper is held up too, and given up before the lease ends (guard
# waited for the flock's end, its command running on past the lease).
guard_keeper() {
	local G F W s ms
	s=$(date +%s%N)
	guarded g4 "exec sleep 60" --ttl 3s || return
	flocked g4 60
	W=$(pgrep -P "$G" -x lokt-watchdog)
	kill -9 $W
	wait_for 30 gone "$G"
	ms=$((($(date +%s%N) - s) / 1000000))
	reap "$G"
	check "guard g4, its watchdog killed with the flock held: the command stopped when the lease was all but over (exit 143, got $RC), before the flock's end (${ms} ms)" \
		test "$RC" = 143 -a "$ms" -lt 40000
	contains "$(cat "$T/g4.err")" "could not be named the keeper of lock \"g4\", held up by a change of the name" \
		"... saying the new watchdog could not be named keeper"
	kill "$F"
	reap "$F"
	check "... the flock let go, the new watchdog releases g4" wait_for 10 eval '! test -e "$LOKT_ROOT/locks/g4.json"'
}
# g5: --on-lost warn, the renewal given up (lost), then the watchdog
# killed: its successor, told the loss, still makes the release guard's
# was held up for (it left the lock to expire).
guard_replaced() {
	local G F W
	guarded g5 "sleep 5" --ttl 3s --on-lost warn || return
	flocked g5 60
	wait_for 10 grep -q 'lost lock "g5"' "$T/g5.err"
	W=$(pgrep -P "$G" -x lokt-watchdog)
	kill -9 $W
	wait_for 10 grep -q "took its place" "$T/g5.err"
	reap "$G"
	contains "$(cat "$T/g5.err")" 'lock "g5" not released yet' \
		"guard g5 (--on-lost warn), lost, its watchdog replaced: its release left to the new one"
	kill "$F"
	reap "$F"
	check "... the flock let go, the new watchdog releases g5" wait_for 10 eval '! test -e "$LOKT_ROOT/locks/g5.json"'
}
lane g2 guard_deaf
lane g3 guard_stopped
lane g4 guard_keeper
lane g5 guard_replaced
nowait=("lock k" "unlock k" "guard k -- true" "freeze fz --ttl 1m" "unfreeze fz"
	"lock brandnew" "lock k --json" "lock fk" "unlock --all --owner ua --json"
	"status --prune-expired --json")
for i in "${!nowait[@]}"; do
	(
		s=$(date +%s%N)
		$LOKT ${nowait[$i]} >"$T/nw.$i.out" 2>"$T/nw.$i.err"
		echo "$? $((($(date +%s%N) - s) / 1000000))" >"$T/nw.$i.rc"
	) &
	track $!
done

for sig in TERM HUP INT; do
	for cmd in "lock k --wait --timeout 30" "guard k --wait --timeout 30 -- true" "guard k -- true"; do
		s=$(date +%s%N)
		# A background job of a script ignores SIGINT: lokt's own
		# handler is what a terminal's ^C would reach.
		env --default-signal=INT $LOKT $cmd 2>/dev/null &
		P=$!
		track "$P"
		wait_for 10 eval 'grep -q " $P " /proc/locks' || diag "lokt did not reach the flock"
		kill -"$sig" "$P"
		reap "$P"
		ms=$((($(date +%s%N) - s) / 1000000))
		want=$((128 + $(kill -l "$sig")))
		[ "$RC" = "$want" ] && ok "${cmd%% *} stuck on the flock, SIG$sig: exit $want (${ms} ms)" ||
			not_ok "${cmd%% *}, SIG$sig: exit $RC after ${ms} ms (want $want)"
	done
done

# Nor its --timeout: a wait stuck there past it ends (an alarm, 1.5 s
# after the timeout), exit 2 as for a timeout, saying what holds it up;
# it used to wait for as long as the flock was held.
for cmd in "lock k --wait --timeout 1s" "guard k --wait --timeout 1s -- true"; do
	s=$(date +%s%N)
	expect_exit 2 "${cmd%% *} --timeout 1s stuck on the flock: exit 2" $LOKT $cmd
	ms=$((($(date +%s%N) - s) / 1000000))
	check "... past its timeout, not the flock's end (${ms} ms)" test "$ms" -lt 10000
	contains "$ERR" "left half-done" "... saying a change of k is stuck"
	contains "$ERR" "locks/.k.lk" "... naming the file whose flock it is"
done
expect_exit 9 "-E 9 makes it 9" "$LOKT" lock k --wait --timeout 1s -E 9 -q
check "... and -q says nothing" test -z "$ERR"
expect_exit 2 "with --json: exit 2" "$LOKT" lock k --wait --timeout 1s --json
check "... one JSON document, the error a timeout" \
	test "$(jget '[d["error"], d["name"]]' <<<"$OUT")" = '["timeout", "k"]'

# They used to wait for as long as the flock was held (a minute here).
for i in "${!nowait[@]}"; do
	cmd=${nowait[$i]}
	if ! wait_for 40 test -s "$T/nw.$i.rc"; then
		not_ok "$cmd held up by a flock: still waiting"
		continue
	fi
	read -r rc ms <"$T/nw.$i.rc"
	check "$cmd held up by a flock: exit 1 (got $rc), before the flock's end (${ms} ms)" \
		test "$rc" = 1 -a "$ms" -lt 40000
	case $cmd in
	*--all*) check "... one JSON document: unavailable, 0 released" \
		test "$(jget '[d["error"], d["owner"], d["released"]]' <"$T/nw.$i.out")" = '["unavailable", "ua", 0]'
		contains "$(cat "$T/nw.$i.err")" "gave up on unlock --all after 10 s: released 0, then held up on lock \"ua\" by a change of the name that another process has left half-done: pid $F6 holds the flock of $LOKT_ROOT/locks/.ua.lk" \
			"... saying it gave up, on which name, and who holds it up" ;;
	*--prune*) check "... one JSON document: unavailable, 0 pruned" \
		test "$(jget '[d["error"], d["pruned"]]' <"$T/nw.$i.out")" = '["unavailable", 0]'
		contains "$(cat "$T/nw.$i.err")" "gave up on --prune-expired after 10 s: pruned 0, then held up on lock \"ux\" by a change of the name that another process has left half-done: pid $F7 holds the flock of $LOKT_ROOT/locks/.ux.lk" \
			"... saying it gave up, on which name, and who holds it up" ;;
	*--json) check "... one JSON document, the error \"unavailable\"" \
		test "$(jget '[d["error"], d["name"]]' <"$T/nw.$i.out")" = '["unavailable", "k"]' ;;
	*fz*) contains "$(cat "$T/nw.$i.err")" "pid $F2 holds the flock of $LOKT_ROOT/freezes/.fz.lk" \
		"... naming the freeze's sidecar and its holder" ;;
	*brandnew*) contains "$(cat "$T/nw.$i.err")" "pid $F3 holds the flock of $LOKT_ROOT/locks/.fence-floor" \
		"... a new name: naming the fence floor and its holder" ;;
	*fk*) contains "$(cat "$T/nw.$i.err")" "pid $F4 holds the flock of $LOKT_ROOT/freezes/.fk.lk" \
		"... an expired freeze in the way: naming the freeze's sidecar, not the lock's" ;;
	*) contains "$(cat "$T/nw.$i.err")" "gave up on lock \"k\" after 10 s, nothing changed: held up by a change of the name that another process has left half-done: pid $F holds the flock of $LOKT_ROOT/locks/.k.lk" \
		"... saying it gave up, and who holds it up" ;;
	esac
done
lanes_done
if wait_for 40 test -s "$T/g.rc"; then
	read -r rc ms <"$T/g.rc"
	check "guard --ttl 3s, its renewal held up by a flock: the command stopped (exit 143, got $rc), before the flock's end (${ms} ms)" \
		test "$rc" = 143 -a "$ms" -lt 40000
	contains "$(cat "$T/g.err")" "lost lock \"g\": cannot renew it, held up by a change of the name that another process has left half-done: pid $F5 holds the flock of $LOKT_ROOT/locks/.g.lk" \
		"... lost when its lease was all but over, saying who held it up"
	contains "$(cat "$T/g.err")" "lock \"g\" not released yet, held up for 10 s by" \
		"... its release held up too: left to the watchdog"
	check "... g still held meanwhile, its loss audited (unrenewed)" \
		test -e "$LOKT_ROOT/locks/g.json" -a "$(audit_count lost g unrenewed)" = 1
else
	not_ok "guard --ttl 3s, its renewal held up by a flock: still waiting"
fi
kill "$F5"
reap "$F5"
check "... the flock let go, the watchdog releases g" wait_for 10 eval '! test -e "$LOKT_ROOT/locks/g.json"'
check "stopped in the flock's queue, continued past its deadline with the flock let go: it takes the lock (exit $(cat "$T/sw.rc" 2>/dev/null): $(cat "$T/sw.err" 2>/dev/null))" \
	wait_for 20 eval '[ "$(cat "$T/sw.rc" 2>/dev/null)" = 0 ]'

after=$(cd "$LOKT_ROOT" && find . -type f -name '*.json' ! -name sw.json ! -name 'g*.json' | sort | xargs -r cat | sha1sum)
[ "$after" = "$before" ] && ok "the store's records are as they were" || not_ok "records changed"
kill "$F" "$F2" "$F3" "$F4" "$F6" "$F7"
for p in "$F" "$F2" "$F3" "$F4" "$F6" "$F7"; do reap "$p"; done
expect_exit 0 "with the flocks let go, unlock --all releases ua's lock" "$LOKT" unlock --all --owner ua --json
check "... 1 released" test "$(jget 'd["released"]' <<<"$OUT")" = 1
expect_exit 0 "... and --prune-expired prunes ux" "$LOKT" status --prune-expired --json
check "... ux among them" test ! -e "$LOKT_ROOT/locks/ux.json"
expect_exit 0 "with the flock let go, k is taken" "$LOKT" lock k --ttl 1m -q
expect_exit 0 "... and brandnew, the floor let go" "$LOKT" lock brandnew --ttl 1m --json
check "... its fence above the floor (8)" test "$(jget 'd["fence"]' <<<"$OUT")" = 8
expect_exit 0 "... and fz frozen" "$LOKT" freeze fz --ttl 1m -q
# A waiter stopped (^Z) past its timeout, held up by nothing: the alarm
# does not cut it short. Let go, it makes its last attempt from its place
# in the queue, as liblokt's own wait would.
sleep 600 &
H=$!
track "$H"
sleep 600 &
P2=$!
track "$P2"
# late_waiter [HOLDER2]: z held by H, a waiter W (--timeout 1s) queued,
# and with HOLDER2 a second waiter W2 behind it for HOLDER2; W stopped
# 3 s while z is released (--force: H's); RC: W's exit once let go.
late_waiter() {
	"$LOKT" lock z --holder "$H" -q
	"$LOKT" lock z --wait --timeout 1s -q &
	W=$!
	track "$W"
	check "a waiter of z" wait_for 10 eval '[ "$(waiters z)" = 1 ]'
	if [ -n "${1:-}" ]; then
		"$LOKT" lock z --wait --timeout 30s --holder "$1" -q &
		W2=$!
		track "$W2"
		check "... and a second" wait_for 10 eval '[ "$(waiters z)" = 2 ]'
	fi
	kill -STOP "$W"
	sleep 3
	"$LOKT" unlock z --force -q
	kill -CONT "$W"
	reap "$W"
}
late_waiter
check "... stopped 3 s past its 1 s timeout, z freed meanwhile: it takes z (exit $RC)" test "$RC" = 0
"$LOKT" unlock z -q
late_waiter "$P2"
check "... the first, stopped past its timeout meanwhile, still takes z first (exit $RC)" test "$RC" = 0
"$LOKT" unlock z -q
reap "$W2"
check "... then the second (exit $RC)" test "$RC" = 0
done_testing
