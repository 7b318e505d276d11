#!/bin/bash
# SPDX-License-Identifier: MIT
# Locks across hosts on a real etcd member (LOKT_TEST_STORE=etcd). Each
# "host" is a UTS and PID namespace of its own (unshare): its own host
# name, its own pids, and everything in it dies when it does, as on a
# host that crashes. Needs root (unshare) and etcd-server.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

if [ "$(id -u)" -ne 0 ] || ! unshare --uts --pid --fork --mount-proc true 2>/dev/null; then
	echo "1..0 # SKIP needs root and unshare (UTS and PID namespaces)"
	exit 0
fi
# A short lease: a host that stops renewing loses its locks in 2 s.
export LOKT_ETCD_LEASE=2s LOKT_ETCD_TIMEOUT=1s

# on HOST CMD...: run CMD on "host" HOST (a fresh UTS+PID namespace named
# HOST), in the foreground. The namespace's first process is pid 1 (and
# a lock held by pid 1 is a detached one), so CMD runs as its child.
on() {
	local h=$1; shift
	unshare --uts --pid --fork --mount-proc bash -c \
		'hostname "$0"; "$@"; exit $?' "$h" "$@"
}

# host_up HOST DIR CMD...: a long-lived host running CMD in the
# background; its namespace's init pid goes to DIR/HOST.pid (kill it and
# the whole host dies).
host_up() {
	local h=$1 d=$2; shift 2
	unshare --uts --pid --fork --mount-proc --kill-child bash -c \
		'hostname "$0"; "$@" & wait' "$h" "$@" 2>"$d/$h.err" &
	echo $! >"$d/$h.pid"
	track "$(cat "$d/$h.pid")"
}

# --- the root given with --root ---------------------------------------------
expect_exit 0 "lokt --root etcd://... lock, no LOKT_ROOT" \
	env -u LOKT_ROOT "$LOKT" --root "$LOKT_ROOT" lock rr --holder 1 --ttl 1m
contains "$OUT" "in $LOKT_ROOT" "... it names the etcd root as given"
expect_exit 0 "... the lock is in the etcd store" "$LOKT" exists rr
expect_exit 0 "guard --root etcd://...: its command gets the URL as LOKT_ROOT" \
	env -u LOKT_ROOT "$LOKT" --root "$LOKT_ROOT" guard rg -- sh -c 'echo "$LOKT_ROOT"'
check "... unchanged ($OUT)" test "$OUT" = "$LOKT_ROOT"
"$LOKT" unlock rr --force -q

# --- mutual exclusion from three hosts -----------------------------------
W=$T/wit
witness_reset "$W"
race() { # one host's rounds: guard --wait, then lock --wait + unlock
	local r fails=0
	for r in 1 2 3 4 5 6; do
		"$LOKT" guard mx --wait --timeout 60s -q -- sh "$WITNESS" "$W" ||
			fails=$((fails + 1))
		bash -c '"$LOKT" lock mx --wait --timeout 60s -q &&
			sh "$WITNESS" "$W" && "$LOKT" unlock mx -q' ||
			fails=$((fails + 1))
	done
	echo "$fails" >"$T/fails.$(hostname)"
}
# A fourth host takes the same lock through its own loktfs mount: touch
# until it is not busy, the witness, rm.
race_mount() {
	local r fails=0 m=$T/mnt.$(hostname)
	mkdir -p "$m"
	"$LOKTFS" -f -o "root=$LOKT_ROOT" "$m" 2>"$T/loktfs.err" &
	until [ -d "$m/locks" ]; do sleep 0.05; done
	for r in 1 2 3 4 5 6 7 8 9 10 11 12; do
		until touch "$m/locks/mx" 2>/dev/null; do sleep 0.005; done
		sh "$WITNESS" "$W"
		rm "$m/locks/mx" || fails=$((fails + 1))
	done
	echo "$fails" >"$T/fails.$(hostname)"
	fusermount3 -u "$m"
	wait
}
export -f race race_mount
export W T WITNESS LOKTFS
pids=()
for h in h1 h2 h3; do
	on "$h" bash -c race &
	pids+=($!)
done
if [ -n "${LOKTFS:-}" ] && [ -c /dev/fuse ]; then
	on h4 bash -c race_mount &
	pids+=($!)
	want=48
else
	want=36
fi
for p in "${pids[@]}"; do wait "$p"; done
read -r n ov bad <<<"$(witness_stats "$W")"
check "3 hosts with lokt (and one through a mount) x 12 sections: all ran ($n of $want)" \
	test "$n" -eq "$want"
check "... never two inside (mkdir overlaps: $ov, order errors: $bad)" \
	test "$ov" -eq 0 -a "$bad" -eq 0
check "... no host failed a round ($(cat "$T"/fails.* | tr '\n' ' '))" \
	test "$(cat "$T"/fails.* | awk '{ s += $1 } END { print s + 0 }')" -eq 0

# --- the mount on host A, lokt on host B: each sees the other at once -----
if [ -n "${LOKTFS:-}" ] && [ -c /dev/fuse ]; then
	host_up hosta2 "$T" bash -c '
		m=$T/mnta; mkdir -p "$m"
		"$LOKTFS" -f -o "root=$LOKT_ROOT" "$m" &
		until [ -d "$m/locks" ]; do sleep 0.05; done
		touch "$m/locks/ma" && : >"$T/a.took"
		until [ -e "$T/a.look" ]; do sleep 0.02; done
		cat "$m/locks/mb" >"$T/a.saw" 2>&1
		ls "$m/locks" >"$T/a.ls"
		rm "$m/locks/ma"; echo $? >"$T/a.rm"
		sleep 600'
	check "host A takes ma through its mount" wait_for 30 test -e "$T/a.took"
	expect_exit 2 "host B: lokt lock ma is refused at once" on hostb2 "$LOKT" lock ma
	contains "$ERR" "hosta2" "... held by host A"
	expect_exit 0 "host B: lokt lock mb" on hostb2 "$LOKT" lock mb --holder 1 --ttl 1m -q
	: >"$T/a.look"
	check "host A's mount shows B's lock at once (cat)" \
		wait_for 20 grep -q '"host": "hostb2"' "$T/a.saw"
	check "... and lists it (ls)" wait_for 20 grep -qx mb "$T/a.ls"
	check "host A releases ma with rm (exit $(cat "$T/a.rm" 2>/dev/null))" \
		wait_for 20 grep -qx 0 "$T/a.rm"
	expect_exit 0 "host B takes ma at once" on hostb2 "$LOKT" lock ma --holder 1 --ttl 1m -q
	kill -9 "$(cat "$T/hosta2.pid")"
	"$LOKT" unlock ma --force -q
	"$LOKT" unlock mb --force -q
else
	skip "the mount on host A, lokt on host B" "no loktfs or /dev/fuse"
fi

# --- who sees whom, and a host that dies -----------------------------------
case_x() {
	host_up hosta "$T" bash -c 'sleep 600 & "$LOKT" lock x --holder $! -q; wait'
	check "host A holds x" wait_for 20 eval \
		'"$LOKT" status x --json 2>/dev/null | grep -q "\"host\":\"hosta\""'
	expect_exit 2 "host B is refused x" on hostb "$LOKT" lock x
	contains "$ERR" "hosta" "... and is told host A holds it"
	kill -9 "$(cat "$T/hosta.pid")" # the whole host: holder, keeper, all
	check "host A died: host B gets x within the lease (2 s)" \
		wait_for 20 eval 'on hostb "$LOKT" lock x --holder 1 --ttl 1m -q'
	check "... and the lapsed lease is audited (nobody released x)" \
		audit_has expire x lease-expired
	"$LOKT" unlock x --force -q
}

# --- a host whose name has a quote and a backslash -----------------------
# Its name went into the expire event and into a waiter's queue value as
# it was: the event was unreadable (lost from lokt audit), or with a
# crafted name carried forged fields. (hostname(1) refuses such a name;
# sethostname(2) takes it.)
case_quote() {
	local q='q"uo\te' v
	host_up hosta3 "$T" bash -c 'sleep 600 & "$LOKT" lock xq --holder $! -q; wait'
	check "host A holds xq" wait_for 20 eval \
		'"$LOKT" status xq --json 2>/dev/null | grep -q "\"host\":\"hosta3\""'
	unshare --uts --pid --fork --mount-proc "$PY" -c '
import os, socket, sys
socket.sethostname(sys.argv[1])
os.execvp(sys.argv[2], sys.argv[2:])' "$q" "$LOKT" lock xq --wait --timeout 20s --holder 1 --ttl 1m -q &
	local qw=$!
	check "a waiter on host $q queues" wait_for 20 eval '[ "$(waiters xq)" = 1 ]'
	kill -9 "$(cat "$T/hosta3.pid")"
	wait "$qw"
	check "host A died: the waiter on host $q gets xq (exit $?)" \
		test "$("$LOKT" status xq --json | jget 'd["host"]')" = "$q"
	v=$("$LOKT" audit --name xq --json | Q=$q jget 'sum(1 for e in d if e["event"] == "expire" and e["host"] == __import__("os").environ["Q"])')
	check "... the expire event is read back, its host whole ($v)" test "$v" = 1
	"$LOKT" unlock xq --force -q
}

# --- a host crashes while holding a lock ---------------------------------
case_crash() {
	host_up hostb "$T" "$LOKT" guard crash -q -- sleep 600
	check "host B holds crash" wait_for 20 eval '"$LOKT" status crash --json 2>/dev/null | grep -q "\"host\":\"hostb\""'
	f1=$("$LOKT" status crash --json | jget 'd["fence"]')
	expect_exit 2 "another host is refused while B lives" on hostc "$LOKT" lock crash
	kill -9 "$(cat "$T/hostb.pid")" # the whole namespace: guard, keeper, all
	check "B crashed: the lock passes on within the lease" \
		wait_for 20 eval 'on hostc "$LOKT" lock crash --holder 1 --ttl 1m -q'
	f2=$("$LOKT" status crash --json | jget 'd["fence"]')
	check "the next holder's fence is higher ($f1 < $f2)" test "${f1:-0}" -lt "${f2:-0}"
	"$LOKT" unlock crash --force -q
}

# --- a partition: the keepers stop, the guarded command is stopped -------
# guard and its watchdog both keep the lease alive (either suffices: guard
# alone while it lives, the watchdog once guard is gone). Both stopped,
# as by a partition: the lease runs out and the lock passes on; once they
# run again, guard finds its lock gone at once and stops its command.
case_part() {
	host_up hostp "$T" "$LOKT" guard part -q -- sleep 601
	check "host P holds part" wait_for 20 eval 'pgrep -fx "sleep 601" >/dev/null'
	inner=$(pgrep -P "$(cat "$T/hostp.pid")" | head -1)
	kp=$(pgrep -x lokt-watchdog --ns "${inner:-0}" --nslist pid | head -1)
	gp=$(pgrep -fx "$LOKT guard part -q -- sleep 601" --ns "${inner:-0}" --nslist pid | head -1)
	check "its keeper, guard's watchdog, runs (pid $kp)" test -n "$kp"
	check "... beside guard (pid $gp)" test -n "$gp"
	check "... and no lokt-keeper for guard's lock" \
		eval '! pgrep -f "lokt-keeper $LOKT_ROOT part " >/dev/null'
	kill -STOP "$gp"
	sleep 5 # twice the lease
	check "guard stopped alone: its watchdog keeps the lock" \
		eval 'test "$("$LOKT" status part --json | jget "d[\"host\"]")" = hostp'
	kill -STOP "$kp"
	check "both stopped past the lease: another host gets the lock" \
		wait_for 30 eval 'on hoste "$LOKT" lock part --holder 1 --ttl 1m -q'
	kill -CONT "$kp" "$gp"
	check "... and P's guarded command is stopped" \
		wait_for 30 eval '! pgrep -fx "sleep 601" >/dev/null'
	check "... P's guard audits the lock lost" wait_for 20 audit_has lost part
	"$LOKT" unlock part --force -q
}

# --- FIFO across hosts -----------------------------------------------------
case_fifo() {
	: >"$T/order"
	expect_exit 0 "hold f" "$LOKT" lock f --holder 1 --ttl 5m -q
	for h in w1 w2 w3; do
		on "$h" "$LOKT" guard f --wait --timeout 60s -q -- sh -c "echo $h >>$T/order" &
		track $!
		check "$h queued" wait_for 20 eval "[ \"\$(waiters f)\" = ${h#w} ]"
	done
	"$LOKT" unlock f --force -q
	check "all three got in" wait_for 30 eval '[ "$(wc -l <"$T/order")" -eq 3 ]'
	check "in the order they came ($(tr '\n' ' ' <"$T/order"))" \
		test "$(tr '\n' ' ' <"$T/order")" = "w1 w2 w3 "
}

# --- freezes across hosts --------------------------------------------------
case_freeze() {
	expect_exit 0 "host F freezes z" on hostf "$LOKT" freeze z --ttl 1m
	expect_exit 2 "host G cannot lock z" on hostg "$LOKT" lock z
	contains "$ERR" "frozen" "... it is told z is frozen"
	expect_exit 0 "host F unfreezes z" on hostf "$LOKT" unfreeze z
	expect_exit 0 "host G locks z now" on hostg "$LOKT" lock z --holder 1 --ttl 1m
}

# --- a semaphore across hosts: a dead host's slot passes on ----------------
case_sem() {
	slot_hosts() { "$LOKT" status --json 2>/dev/null | grep -o '"host":"host[cd]"' | sort | tr '\n' ' '; }
	host_up hostc "$T" bash -c 'sleep 600 & "$LOKT" lock sem --slots 2 --holder $! -q; wait'
	host_up hostd "$T" bash -c 'sleep 600 & "$LOKT" lock sem --slots 2 --holder $! -q; wait'
	check "hosts C and D hold both slots of sem" \
		wait_for 20 eval '[ "$(slot_hosts)" = "\"host\":\"hostc\" \"host\":\"hostd\" " ]'
	expect_exit 2 "host B is refused a third slot" on hostb "$LOKT" lock sem --slots 2
	contains "$ERR" "2 slots" "... and told they are taken"
	on hostb "$LOKT" lock sem --slots 2 --wait --timeout 20s --holder 1 --ttl 1m -q \
		2>"$T/semb.err" &
	semb=$!
	track $semb
	wait_for 20 eval '[ "$(waiters sem)" = 1 ]'
	kill -9 "$(cat "$T/hostc.pid")" # host C crashes: its keeper with it
	reap $semb
	check "host C died: waiting host B gets its slot within the lease" test "$RC" = 0
	check "... the lapsed slot is audited (nobody released it)" \
		audit_has expire sem lease-expired
	check "... host D kept its slot" eval '[ "$(slot_hosts)" = "\"host\":\"hostd\" " ]'
	kill -9 "$(cat "$T/hostd.pid")"
	"$LOKT" unlock sem --force --yes -q
}

# The cases above wait out leases mostly, each on names and hosts of its
# own: the partition in a lane of its own, the others one after the
# other in a second lane (tests/cli/common.sh).
lane_hosts() { case_x; case_quote; case_crash; case_fifo; case_freeze; case_sem; }
lane part case_part
lane hosts lane_hosts
lanes_done

# --- the holder's host cut off from the cluster ---------------------------
# (last: the member is stopped, so every lease runs out meanwhile.) guard
# cannot confirm its lock for a whole lease: it must count it lost and
# stop its command, not let it run on while another host may hold it.
# A request to the stopped member would wait 30 s (LOKT_ETCD_TIMEOUT):
# guard must not wait that long, its lease is 2 s.
host_up hosti "$T" env LOKT_ETCD_TIMEOUT=30s "$LOKT" guard cut -q -- sleep 602
check "host I holds cut" wait_for 20 eval 'pgrep -fx "sleep 602" >/dev/null'
kill -STOP "$ETCD_PID"
check "cluster out of reach: guard stops its command within the lease, not after a request timeout" \
	wait_for 10 eval '! pgrep -fx "sleep 602" >/dev/null'
kill -CONT "$ETCD_PID"
check "... and says why (its lock cannot be confirmed: lost)" \
	wait_for 20 grep -q "lost lock \"cut\": cannot confirm it" "$T/hosti.err"

done_testing
