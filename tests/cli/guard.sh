#!/bin/bash
# SPDX-License-Identifier: MIT
# lokt guard: the command's exit status or 128+N passes through; SIGTERM,
# SIGINT and SIGHUP sent to guard reach the command and the lock is
# released after; guard killed with SIGKILL takes its command (and the
# command's children) down, and only then the watchdog releases the lock; the command
# sees LOKT_FENCE, LOKT_LOCK_ID, LOKT_LOCK_NAME, LOKT_ROOT, with fences
# strictly increasing; --on-lost kill (default) and warn, with exactly
# one "lost" audit event per loss; exec failure.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# --- exit status --------------------------------------------------------
expect_exit 3 "child exit 3 → guard exits 3" "$LOKT" guard g1 -- sh -c 'exit 3'
expect_exit 3 "lock released after the child failed" "$LOKT" exists g1
expect_exit 0 "child exit 0 → guard exits 0" "$LOKT" guard g1 -- true
expect_exit 137 "child killed by SIGKILL → 137" "$LOKT" guard g1 -- sh -c 'kill -9 $$'
expect_exit 3 "lock released after the child was killed" "$LOKT" exists g1
expect_exit 143 "child killed by SIGTERM → 143" "$LOKT" guard g1 -- sh -c 'kill -TERM $$'
expect_exit 0 "flags after the name: guard g1 --ttl 5m -q -- true" \
	"$LOKT" guard g1 --ttl 5m -q -- true

# --- signals sent to guard are forwarded --------------------------------
for sig in TERM INT HUP QUIT; do
	rm -f "$T/ready" "$T/mark"
	# A background job of a script starts with SIGINT and SIGQUIT
	# ignored, which its command would inherit, as run without guard.
	env --default-signal="$sig" "$LOKT" guard gs -- sh -c "trap 'echo $sig >$T/mark; exit 7' $sig
		: >$T/ready; while :; do sleep 0.1; done" 2>"$T/gs.err" &
	gpid=$!
	track "$gpid"
	if ! wait_for 30 test -e "$T/ready"; then
		not_ok "SIG$sig: guarded command started"
		continue
	fi
	check "SIG$sig: lock held while the command runs" "$LOKT" exists gs
	kill -s "$sig" "$gpid"
	reap "$gpid"
	rc=$RC
	check "SIG$sig to guard reaches the command (marker: $(cat "$T/mark" 2>/dev/null))" \
		grep -qx "$sig" "$T/mark"
	check "SIG$sig: guard exits with the command's status 7 (got $rc)" test "$rc" -eq 7
	expect_exit 3 "SIG$sig: lock released after" "$LOKT" exists gs
done

# --- a service stopped: guard ends by the SIGTERM it passed on ---------
# systemd counts a main process ended by SIGTERM as stopped cleanly, and
# an exit 143 as failed. Python's wait tells the two apart (-15 / 143).
rm -f "$T/term.ready"
got=$("$PY" - "$LOKT" "$T/term.ready" <<'PY'
import os, signal, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "guard", "gterm", "-q", "--", "sh", "-c",
                      ': >"$0"; exec sleep 30', sys.argv[2]],
                     stdin=subprocess.DEVNULL)
for _ in range(300):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)
p.send_signal(signal.SIGTERM)
print(p.wait(timeout=60))
PY
)
check "SIGTERM to guard, its command dies of it: guard ends by SIGTERM (wait: $got)" \
	test "$got" = -15
expect_exit 3 "... gterm released" "$LOKT" exists gterm

# SIGQUIT the same way (a JVM's thread dump, which would end a command
# that does not catch it): guard ends by it, without a core file of its
# own, even where the caller allows one (RLIMIT_CORE unlimited; the
# command does not dump: ulimit -c 0). WCOREDUMP of guard's status says
# whether the kernel wrote one.
mkdir -p "$T/qcwd"
got=$("$PY" - "$LOKT" "$T/quit.ready" "$T/qcwd" <<'PY'
import os, resource, signal, subprocess, sys, time
def allow_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
p = subprocess.Popen([sys.argv[1], "guard", "gquit", "-q", "--", "sh", "-c",
                      'ulimit -c 0; : >"$0"; exec sleep 30', sys.argv[2]],
                     stdin=subprocess.DEVNULL, cwd=sys.argv[3],
                     preexec_fn=allow_core)
for _ in range(300):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)
p.send_signal(signal.SIGQUIT)
_, st = os.waitpid(p.pid, 0)
print(os.WTERMSIG(st) if os.WIFSIGNALED(st) else "exit", int(os.WCOREDUMP(st)))
PY
)
check "SIGQUIT to guard, its command dies of it: guard ends by SIGQUIT, no core dumped (signal, core: $got)" \
	test "$got" = "3 0"
expect_exit 3 "... gquit released" "$LOKT" exists gquit

# --- ^C stops the script guard runs in ---------------------------------
# A script's shell waits out a ^C and then stops only if the program it
# waited for died of SIGINT; after one that exited 130 it goes on with
# the next line. guard, whose command died of the SIGINT it passed on,
# must end by SIGINT too (docs/lokt.1, EXIT STATUS). Job control on: the
# script gets a process group of its own, SIGINT not ignored, and the
# group's SIGINT as from a terminal's ^C.
rm -f "$T/int.ready" "$T/int.next"
set -m
bash -c 'for i in 1 2; do
		"$LOKT" guard gint -q -- sh -c ": >\"\$0\"; exec sleep 30" "$1/int.ready"
		echo "$i $?" >>"$1/int.next"
	done' script "$T" </dev/null 2>"$T/int.err" &
spid=$!
set +m
track "$spid"
if wait_for 30 test -e "$T/int.ready"; then
	kill -INT -- -"$spid"
	reap "$spid"
	check "^C: the script stopped at guard (went on: $(cat "$T/int.next" 2>/dev/null))" \
		test ! -e "$T/int.next"
	check "^C: the script's shell ended by SIGINT (status $RC)" test "$RC" -eq 130
	expect_exit 3 "^C: gint released" "$LOKT" exists gint
else
	not_ok "^C: the guarded command started ($(cat "$T/int.err"))"
fi
# Where the command handles the signal and exits, guard exits as it did
# (the SIGINT, SIGTERM, SIGHUP loop above: status 7); a signal guard did
# not pass on (a loss's SIGTERM) stays 128+N (TTL loop below: 143).

# --- guard killed with SIGKILL ------------------------------------------
# The watchdog stops the command (and its children, same group) and only
# then releases the lock. The command delays its own exit on SIGTERM
# until the test says so, and the lock must be held all that time: the
# order "command gone, then lock released" is asserted, not a duration.
"$LOKT" guard gk -- sh -c "trap 'echo term >$T/term; while [ ! -e $T/go ]; do sleep 0.05; done
		\"$LOKT\" exists gk && echo held >$T/atexit; exit 0' TERM
	echo \$\$ >$T/child.tmp; mv $T/child.tmp $T/child
	sleep 600 & echo \$! >$T/grand.tmp; mv $T/grand.tmp $T/grand; wait" &
gpid=$!
track "$gpid"
if wait_for 30 test -e "$T/grand"; then
	child=$(cat "$T/child") grand=$(cat "$T/grand")
	track "$child" "$grand"
	kill -9 "$gpid"
	wait "$gpid" 2>/dev/null
	check "guard killed by SIGKILL: its command gets SIGTERM" wait_for 30 test -e "$T/term"
	check "guard killed by SIGKILL: the command's child is stopped" wait_for 30 gone "$grand"
	check "while the command is still running, the lock file stays" \
		eval '! gone "$child" && has_record gk'
	: >"$T/go"
	check "guard killed by SIGKILL: its command ends" wait_for 30 gone "$child"
	check "the lock was still there when the command exited" grep -qx held "$T/atexit"
	check "the watchdog releases the lock after the command is gone" wait_for 30 eval '! has_record gk'
	check "... as a release (audited), not a stale-break" \
		test "$(audit_count release gk) $(audit_count stale-break gk)" = "1 0"
	expect_exit 0 "the next lokt lock gets the lock" "$LOKT" lock gk
	"$LOKT" unlock gk -q
else
	not_ok "guarded command (with a child) started"
fi

# A command that ignores SIGTERM is killed after the grace period; the
# lock is released only once it is gone. Until then guard is dead but the
# lock is not stale: the watchdog is its keeper (keeper_pid) and renews
# its 1 s TTL, so nobody else gets in while the command still runs.
"$LOKT" guard gk2 --ttl 1s -- sh -c "trap '' TERM; echo \$\$ >$T/c2.tmp; mv $T/c2.tmp $T/child2
	while :; do sleep 0.1; done" &
gpid=$!
track "$gpid"
if wait_for 30 test -e "$T/child2"; then
	child=$(cat "$T/child2")
	track "$child"
	check "the lock names guard's watchdog as its keeper" \
		test "$(record gk2 | jget 'd.get("keeper_pid", 0) > 0')" = true
	t0=$(record gk2 | jget 'd["acquired_ts"]')
	kill -9 "$gpid"
	wait "$gpid" 2>/dev/null
	renewed_since_kill() { [ "$(record gk2 | jget 'd["acquired_ts"]' 2>/dev/null)" != "$t0" ]; }
	# The first renewal after the kill may be guard's own, just before.
	check "guard dead: the watchdog renews the lock" wait_for 30 renewed_since_kill
	t0=$(record gk2 | jget 'd["acquired_ts"]')
	check "... and again (a second renewal)" wait_for 30 renewed_since_kill
	expect_exit 2 "guard dead, command running: another owner is refused" \
		env LOKT_OWNER=bob "$LOKT" lock gk2
	contains "$ERR" "gone, kept alive by pid" "... the refusal says the watchdog keeps it"
	expect_exit 4 "... and cannot break it as stale" \
		env LOKT_OWNER=bob "$LOKT" unlock gk2 --break-stale
	check "... all while the command still ran" eval '! gone "$child"'
	check "a command ignoring SIGTERM: the lock is released at last" \
		wait_for 60 eval '! has_record gk2'
	check "... and the command was gone by then (SIGKILL)" gone "$child"
	check "... released by the watchdog (audited release)" \
		test "$(audit_count release gk2)" = 1
else
	not_ok "guarded command ignoring SIGTERM started"
fi

# The watchdog killed first (pkill -9 of a pattern, the OOM killer),
# then guard: nothing stopped the command, and its lock, holder and
# keeper dead, was taken while it ran. guard starts another watchdog and
# names it keeper (on the directory store; etcd: said only).
"$LOKT" guard gw2 -- sh -c "echo \$\$ >$T/c3.tmp; mv $T/c3.tmp $T/child3
	while :; do sleep 0.1; done" 2>"$T/gw2.err" &
gpid=$!
track "$gpid"
if on_etcd; then
	wait_for 30 test -e "$T/child3" && track "$(cat "$T/child3")"
	wd=$(pgrep -P "$gpid" -x lokt-watchdog)
	kill -9 $wd
	check "etcd: the watchdog killed, guard says what that leaves" \
		wait_for 10 grep -q "nothing stops" "$T/gw2.err"
	kill -9 "$gpid"
	wait "$gpid" 2>/dev/null
elif wait_for 30 test -e "$T/child3"; then
	child=$(cat "$T/child3")
	track "$child"
	wd=$(record gw2 | jget 'd.get("keeper_pid", 0)')
	kill -9 "$wd"
	check "the watchdog killed: guard says so" \
		wait_for 10 grep -q "took its place" "$T/gw2.err"
	check "... and names the new one the lock's keeper" \
		test "$(record gw2 | jget 'd.get("keeper_pid", 0)')" != "$wd"
	kill -9 "$gpid"
	wait "$gpid" 2>/dev/null
	check "guard killed after it: the command is stopped all the same" \
		wait_for 30 gone "$child"
	check "... and the lock released after" wait_for 30 eval '! has_record gw2'
else
	not_ok "guarded command gw2 started"
fi

# --- environment and fences ---------------------------------------------
envcmd='echo "$LOKT_FENCE $LOKT_LOCK_ID $LOKT_LOCK_NAME $LOKT_ROOT" >"$0"
	"$LOKT" status ge --json >"$0.file"'
expect_exit 0 "guard ge (1st run)" "$LOKT" guard ge -- sh -c "$envcmd" "$T/env1"
expect_exit 0 "lock ge in between" "$LOKT" lock ge --json
fmid=$(echo "$OUT" | jget 'd["fence"]' 2>/dev/null)
"$LOKT" unlock ge -q
expect_exit 0 "guard ge (2nd run)" "$LOKT" guard ge -- sh -c "$envcmd" "$T/env2"
read -r f1 id1 n1 r1 <"$T/env1"
read -r f2 id2 n2 r2 <"$T/env2"
check "LOKT_FENCE is a number ($f1)" eval '[[ "$f1" =~ ^[0-9]+$ ]]'
check "LOKT_LOCK_ID is 32 lowercase hex ($id1)" eval '[[ "$id1" =~ ^[0-9a-f]{32}$ ]]'
check "LOKT_LOCK_NAME is the name ($n1)" test "$n1" = ge
check "LOKT_ROOT is the store's root ($r1)" test "$r1" = "$LOKT_ROOT"
check "LOKT_FENCE and LOKT_LOCK_ID match the store's record" test \
	"$(jget 'd["fence"]' <"$T/env1.file" 2>/dev/null) $(jget 'd["lock_id"]' <"$T/env1.file" 2>/dev/null)" = "$f1 $id1"
check "fences strictly increase across acquisitions ($f1 < $fmid < $f2)" \
	test "${f1:-0}" -lt "${fmid:-0}" -a "${fmid:-0}" -lt "${f2:-0}"
check "each acquisition has a new lock_id" test "$id1" != "$id2"

# --- --on-lost ----------------------------------------------------------
LOKT_OWNER=alice "$LOKT" guard gw --ttl 1s --on-lost warn -- sh -c "echo \$\$ >$T/wc.tmp; mv $T/wc.tmp $T/wchild; exec sleep 600" \
	2>"$T/warn.err" &
gpid=$!
track "$gpid"
if wait_for 30 test -e "$T/wchild"; then
	wchild=$(cat "$T/wchild")
	track "$wchild"
	expect_exit 0 "another owner force-breaks the guarded lock (warn)" \
		env LOKT_OWNER=bob "$LOKT" unlock gw --force --yes
	hold bob gw || not_ok "bob takes gw"
	check "on-lost warn: guard reports the lost lock" wait_for 30 grep -q lost "$T/warn.err"
	check "on-lost warn: the command keeps running" eval '! gone "$wchild"'
	check "on-lost warn: guard keeps running" eval '! gone "$gpid"'
	kill "$wchild"
	reap "$gpid"
	check "on-lost warn: exactly one lost event (got $(audit_count lost gw))" \
		test "$(audit_count lost gw)" = 1
	check "on-lost warn: bob's lock survives guard's exit" test \
		"$(record gw | jget 'd["owner"]' 2>/dev/null)" = bob
else
	not_ok "on-lost warn: guarded command started"
fi

# --on-lost kill (the default): the loss is found at once through a watch
# on the lock file, not only at the next renewal: with a 1 s TTL, without
# --ttl (no renewal ever) and with a TTL whose first renewal is an hour
# away, guard stops its command (which would otherwise sleep for 10
# minutes) and audits the loss once.
for ttl in 1s none 3h; do
	n=gn$ttl
	topt=()
	[ "$ttl" = none ] || topt=(--ttl "$ttl")
	"$LOKT" guard "$n" "${topt[@]}" -- sh -c "echo \$\$ >$T/$n.tmp; mv $T/$n.tmp $T/$n.child; exec sleep 600" \
		2>"$T/$n.err" &
	gpid=$!
	track "$gpid"
	if wait_for 30 test -e "$T/$n.child"; then
		child=$(cat "$T/$n.child")
		track "$child"
		expect_exit 0 "TTL $ttl: another owner force-breaks the guarded lock" \
			env LOKT_OWNER=bob "$LOKT" unlock "$n" --force --yes
		check "TTL $ttl: guard ends long before its command would" wait_for 60 gone "$gpid"
		reap "$gpid"
		rc=$RC
		check "TTL $ttl: the command was terminated" gone "$child"
		check "TTL $ttl: guard exits 143, the command's SIGTERM (got $rc)" test "$rc" -eq 143
		contains "$(cat "$T/$n.err")" "lost lock \"$n\"" "TTL $ttl: guard reports the lost lock"
		check "TTL $ttl: exactly one lost event (got $(audit_count lost "$n"))" \
			test "$(audit_count lost "$n")" = 1
	else
		not_ok "TTL $ttl: guarded command started"
	fi
done

if on_etcd; then
	skip "^Z, leftovers and their ^C" "guard's process handling (stops, leftovers): run on the directory store only, for the suite's time"
else
	# --- ^Z where guard has the terminal: the command stops with guard ------
	# (guard's input not a terminal, so the command was given none.) Stopped
	# alone, guard renewed nothing while the command ran on: its lease ran
	# out and another took the lock under it. Now the command stops with
	# guard; on SIGCONT guard looks at its lock before the command goes on,
	# and finds it taken: the command never ran beside the new holder.
	"$LOKT" guard gz --ttl 1s -- sh -c "echo \$\$ >$T/gz.pid
		while :; do date +%s%N >>$T/gz.ticks; sleep 0.05; done" </dev/null 2>"$T/gz.err" &
	gpid=$!
	track "$gpid"
	if wait_for 30 test -s "$T/gz.ticks"; then
		kill -TSTP "$gpid"
		check "SIGTSTP to guard: guard stops" wait_for 10 eval \
			'[[ "$(ps -o stat= -p $gpid)" == T* ]]'
		check "... and so does its command" wait_for 10 \
			group_stopped "$(cat "$T/gz.pid")"
		n=$(wc -l <"$T/gz.ticks")
		sleep 1.5 # the lease runs out
		check "... which writes nothing meanwhile" test "$(wc -l <"$T/gz.ticks")" = "$n"
		expect_exit 0 "another takes the lock whose lease ran out" \
			"$LOKT" lock gz --holder $$ --ttl 1m -q
		taken=$(date +%s%N)
		kill -CONT "$gpid"
		reap "$gpid"
		check "on SIGCONT guard finds it lost and ends its command (143, got $RC)" \
			test "$RC" = 143
		check "... which never ran beside the new holder" \
			test "$(awk -v t="$taken" '$1 > t' "$T/gz.ticks" | wc -l)" = 0
		"$LOKT" unlock gz -q
	else
		not_ok "guard gz started its command ($(cat "$T/gz.err"))"
	fi

	# linger_guard NAME: guard NAME --ttl 1s in the background (pid in
	# gpid), its command tests/cli/vfork_linger.c (its pid in
	# $T/NAME.pid); false if the command did not start.
	linger_guard() {
		"$LOKT" guard "$1" --ttl 1s -- "$VFORK_LINGER" "$T/$1.pid" </dev/null 2>"$T/$1.err" &
		gpid=$!
		track "$gpid"
		wait_for 30 test -s "$T/$1.pid"
	}

	# The same with a command that runs commands with vfork, as dash does,
	# and is stopped in a child's vfork before its exec: the command's
	# first process waits in D, never stopped, while its child is. The
	# watchdog took the command for running (it looked at that first
	# process only), and renewed the lock for as long as both stopped.
	if linger_guard gv; then
		sleep 0.3 # in a child's linger
		kill -TSTP "$gpid"
		check "a command stopped in a vfork: guard stops" wait_for 10 eval \
			'[[ "$(ps -o stat= -p $gpid)" == T* ]]'
		check "... and so does its command" wait_for 10 group_stopped "$(cat "$T/gv.pid")"
		[[ "$(ps -o stat= -p "$(cat "$T/gv.pid")")" == D* ]] ||
			diag "the command was not stopped in a vfork (missed its window): this run proves less"
		sleep 1.5 # the lease runs out
		expect_exit 0 "... its lease runs out: another takes the lock" \
			"$LOKT" lock gv --holder $$ --ttl 1m -q
		kill -CONT "$gpid"
		reap "$gpid"
		check "on SIGCONT guard finds it lost and ends its command (143, got $RC)" \
			test "$RC" = 143
		"$LOKT" unlock gv -q
	else
		not_ok "guard gv started its command ($(cat "$T/gv.err"))"
	fi

	# But a process of the command in D with no stop pending may still
	# work (a write to a slow disk): guard stopped alone, the lock is
	# renewed for it even though another process of the group is
	# stopped. Here the command's vfork child is stopped by someone else
	# before its exec (the command then waits in D, no stop pending).
	if linger_guard gdv; then
		lead=$(cat "$T/gdv.pid")
		for try in $(seq 20); do
			c=$(pgrep -P "$lead") && kill -STOP "$c" && track "$c"
			sleep 0.05
			[[ "$(ps -o stat= -p "$lead")" == D* ]] && break
			kill -CONT "$c" 2>/dev/null
			sleep 0.1
		done
		check "the command waits in D for its child, stopped by someone else" \
			eval '[[ "$(ps -o stat= -p "$lead")" == D* ]]'
		kill -STOP "$gpid"
		sleep 1.8 # past the lease
		check "guard stopped alone: the lock is renewed for that command" \
			test "$("$LOKT" status gdv --json | jget "d['state']")" = live
		expect_exit 2 "... which another owner cannot take" \
			env LOKT_OWNER=bob "$LOKT" lock gdv -q
		kill -CONT "$c" "$gpid"
		kill -TERM "$gpid"
		reap "$gpid"
		expect_exit 3 "... and guard, continued and ended, released it" "$LOKT" exists gdv
	else
		not_ok "guard gdv started its command ($(cat "$T/gdv.err"))"
	fi

	# --- what the command leaves behind in its group runs under the lock ----
	# A job the command put in the background still works under the lock:
	# guard released when the command ended, and the next holder ran beside
	# it. The lock is released once no process of the group runs (as the
	# watchdog does, and as flock(1)'s lock lives in its children).
	"$LOKT" guard gb -- sh -c "(sleep 1.2; echo bg >>$T/gb.log) & exit 0" 2>"$T/gb.err"
	check "guard returns after the command's background job ended" grep -qx bg "$T/gb.log"
	contains "$(cat "$T/gb.err")" "processes it left in its process group run on" \
		"... saying why it waits"
	expect_exit 3 "... and released the lock then" "$LOKT" exists gb
	# left_job NAME: guard NAME in the background (pid in gpid), whose
	# command leaves a job (pid in $T/NAME.pid) and ends; false if the job
	# was not started.
	left_job() {
		"$LOKT" guard "$1" -- sh -c "sleep 600 & echo \$! >$T/$1.pid; exit 0" 2>/dev/null &
		gpid=$!
		track "$gpid"
		wait_for 10 test -s "$T/$1.pid" || return 1
		track "$(cat "$T/$1.pid")"
		sleep 0.3
	}
	# Such jobs ignore ^C (a shell starts them so): SIGINT to guard while it
	# waits for them stops them (SIGTERM), and guard ends by it.
	if left_job gb; then
		kill -INT "$gpid"
		reap "$gpid"
		check "SIGINT while guard waits for them: guard ends (130, got $RC)" test "$RC" = 130
		check "... the job it waited for is stopped" wait_for 10 gone "$(cat "$T/gb.pid")"
		expect_exit 3 "... and the lock released" "$LOKT" exists gb
	else
		not_ok "guard gb started its command"
	fi
	# SIGQUIT (a thread dump) is passed on to them, and guard waits on:
	# it used to stop them as SIGINT does, and end by SIGQUIT.
	if left_job gq; then
		kill -QUIT "$gpid"
		sleep 1
		check "SIGQUIT while guard waits for them: passed on (ignored by the job), guard waits on" \
			eval 'kill -0 "$gpid" && kill -0 "$(cat "$T/gq.pid")"'
		kill "$(cat "$T/gq.pid")"
		reap "$gpid"
		check "... and ends with the command's status once the job ends (0, got $RC)" test "$RC" = 0
	else
		not_ok "guard gq started its command"
	fi
fi

if on_etcd; then
	skip "guard stopped alone: the watchdog renews" "guard's own TTL handling (the store's renewal runs on etcd in the checks above): run on the directory store only, for the suite's time"
else
	# guard stopped alone (kill -STOP: no SIGTSTP to act on) renews nothing
	# while its command runs on: the 1 s lease ran out under the command and
	# another took the lock. The watchdog, its keeper, renews it meanwhile.
	"$LOKT" guard gst --ttl 1s -- sh -c "echo \$\$ >$T/gst.pid; while :; do sleep 0.1; done" &
	gpid=$!
	track "$gpid"
	if wait_for 10 test -s "$T/gst.pid"; then
		track "$(cat "$T/gst.pid")"
		kill -STOP "$gpid"
		sleep 1.8
		check "guard stopped alone: its command runs on under a live lock" \
			test "$("$LOKT" status gst --json | jget "d['state']")" = live
		expect_exit 2 "... which another owner cannot take" \
			env LOKT_OWNER=bob "$LOKT" lock gst -q
		kill -CONT "$gpid"
		kill -TERM "$gpid"
		reap "$gpid"
		expect_exit 3 "... and guard, continued and ended, released it" "$LOKT" exists gst
	else
		not_ok "guard gst started its command"
	fi
fi

if on_etcd; then
	skip "SIGTSTP to an orphaned guard" "guard's process handling (stops, leftovers): run on the directory store only, for the suite's time"
else
	# guard started apart (setsid: its process group orphaned, as when its
	# shell is gone): a SIGTSTP, which nobody could undo with SIGCONT, is
	# dropped, as the kernel drops it for such a group.
	setsid "$LOKT" guard gso -- sleep 600 &
	wait_for 10 eval 'pgrep -f "^$LOKT guard gso" >/dev/null'
	gpid=$(pgrep -f "^$LOKT guard gso")
	track $gpid
	kill -TSTP $gpid
	sleep 0.3
	check "SIGTSTP to an orphaned guard: it runs on" eval '[[ "$(ps -o stat= -p $gpid)" != T* ]]'
	kill -TERM $gpid
	check "... and ends on SIGTERM" wait_for 10 gone "$gpid"
fi

# --- a ^Z before the watchdog has left guard's process group --------------
# The watchdog is forked before the lock is taken, and leaves guard's
# session on its own time. A SIGTSTP to guard's group (^Z) before that
# stopped it there, and guard waited for it forever: the command never
# started, and the terminal's job was never shown stopped. strace holds
# each process's first close(2) 1.5 s, the watchdog's before its setsid;
# the SIGTSTP reaches it then. Its group must not be orphaned (the kernel
# drops a SIGTSTP to one): a job of this shell (set -m).
# traced_guard NAME STRACE-OPTION...: guard NAME in the background
# under strace (the pid of strace in $st), its command writing its pid to
# $T/NAME.pid, then sleeping.
traced_guard() {
	local n=$1
	shift
	env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -qq -o /dev/null "$@" \
		"$LOKT" guard "$n" -- sh -c "echo \$\$ >$T/$n.tmp; mv $T/$n.tmp $T/$n.pid; exec sleep 600" \
		</dev/null 2>"$T/$n.err" &
	st=$!
	track "$st"
}
# traced_guard_ends NAME: that guard (pid $g), SIGTERMed, ends by it,
# having released NAME.
traced_guard_ends() {
	kill -TERM "$g"
	reap "$st"
	check "... and guard ends on SIGTERM (143, got $RC)" test "$RC" = 143
	check "... having released the lock" wait_for 10 eval "! \"\$LOKT\" exists $1"
}
if on_etcd; then
	skip "a ^Z to the watchdog before it left guard's group" "guard's process handling (stops, leftovers): run on the directory store only, for the suite's time"
elif ! command -v strace >/dev/null || ! strace -f -o /dev/null true 2>/dev/null; then
	skip "a ^Z to the watchdog before it left guard's group" "no strace to hold the watchdog up"
else
	set -m
	traced_guard gwz -e trace=close -e inject=close:delay_enter=1500000:when=1
	set +m
	if wait_for 10 eval 'g=$(pgrep -P "$st") && w=$(pgrep -P "$g")'; then
		track "$g" "$w"
		kill -TSTP "$w"
		check "a ^Z to the watchdog before it left guard's group: the command starts" \
			wait_for 15 test -s "$T/gwz.pid"
		track "$(cat "$T/gwz.pid" 2>/dev/null)"
		check "... the watchdog runs on in a session of its own" \
			eval '[ "$(ps -o sid= -p "$w")" -eq "$w" ] && [[ "$(ps -o stat= -p "$w")" != [Tt]* ]]'
		traced_guard_ends gwz
	else
		not_ok "guard gwz under strace started its watchdog ($(cat "$T/gwz.err"))"
	fi
fi

# --- the watchdog killed just before the command tells it its pid --------
# The command wrote its pid to a dead watchdog's pipe with SIGPIPE set
# back to its default: it died of it before its exec (guard exited 141).
# strace holds the command's setpgid (and guard's) 1 s; the watchdog is
# SIGKILLed meanwhile.
if on_etcd; then
	skip "the watchdog killed before the command's pid reached it" "guard's process handling: run on the directory store only, for the suite's time (guard on etcd does not replace its watchdog)"
elif ! command -v strace >/dev/null || ! strace -f -o /dev/null true 2>/dev/null; then
	skip "the watchdog killed before the command's pid reached it" "no strace to hold the command up"
else
	traced_guard gwp -e trace=setpgid -e inject=setpgid:delay_exit=1000000
	if wait_for 10 eval 'g=$(pgrep -P "$st") && w=$(pgrep -x -P "$g" lokt-watchdog) &&
		"$LOKT" exists gwp'; then
		sleep 0.5 # guard has told it the lock is held, and started the command
		kill -9 "$w"
		check "the watchdog killed before the command's pid reached it: the command starts" \
			wait_for 15 test -s "$T/gwp.pid"
		track "$(cat "$T/gwp.pid" 2>/dev/null)"
		check "... under another watchdog" wait_for 10 eval \
			'w2=$(pgrep -x -P "$g" lokt-watchdog) && [ "$w2" != "$w" ]'
		traced_guard_ends gwp
	else
		not_ok "guard gwp under strace took its lock ($(cat "$T/gwp.err"))"
	fi
fi

# --- exec failure -------------------------------------------------------
expect_exit 127 "command not found → 127" "$LOKT" guard gx -- "$T/no/such/command"
contains "$ERR" "no/such/command" "the error names the command"
contains "$ERR" "No such file" "the error says why the exec failed"
expect_exit 3 "lock released after the exec failure" "$LOKT" exists gx
printf 'echo never\n' >"$T/not-executable"
expect_exit 126 "command not executable → 126" "$LOKT" guard gx -- "$T/not-executable"
contains "$ERR" "Permission denied" "the error says why (the exec's errno, reported by guard)"
expect_exit 3 "lock released after the 126" "$LOKT" exists gx

# On a terminal the command gets it (its own group in the foreground), and
# is started with fork, not vfork (cli/guard.c start_command): a failed
# exec says so from the child.
if script -qec true /dev/null >/dev/null 2>&1 </dev/null; then
	script -qec "'$LOKT' guard gt -- sh -c 'ps -o pgid=,tpgid= -p \$\$'" /dev/null \
		>"$T/tty.out" 2>&1 </dev/null
	read -r pg tpg <<<"$(tr -d '\r' <"$T/tty.out" | tail -1)"
	check "on a terminal the command is the foreground group ($pg, $tpg)" \
		test -n "$pg" -a "$pg" = "$tpg"
	script -qec "'$LOKT' guard gt -- '$T/no/such/command'; echo rc=\$?" /dev/null \
		>"$T/tty.out" 2>&1 </dev/null
	contains "$(cat "$T/tty.out")" "rc=127" "on a terminal: command not found → 127"
	contains "$(cat "$T/tty.out")" "cannot run" "... and says so"
	expect_exit 3 "... the lock released" "$LOKT" exists gt

	# ^C typed on that terminal reaches only the command's group: guard
	# passes it on to its own, and the script running guard stops there,
	# as it would with the command run alone (cli/guard.c, cmd_guard).
	# Job control on, as for the script above: started in the
	# background without it, script(1) and all under it would ignore
	# SIGINT.
	rm -f "$T/tty.ready"
	mkfifo "$T/keys"
	set -m
	script -qec "bash -c 'for i in 1 2; do \"\$0\" guard gtc -q -- sh -c \": >$T/tty.ready; exec sleep 30\"; echo went-on-\$?; done' '$LOKT'" \
		/dev/null <"$T/keys" >"$T/tty.out" 2>&1 &
	sp=$!
	set +m
	track "$sp"
	exec 8>"$T/keys"
	if wait_for 30 test -e "$T/tty.ready"; then
		printf '\003' >&8
		check "^C on the terminal: the script ends" wait_for 20 gone "$sp"
		check "... at guard: it did not go on ($(tr -d '\r' <"$T/tty.out" | tr '\n' ' '))" \
			eval '! grep -q went-on "$T/tty.out"'
		expect_exit 3 "... gtc released" "$LOKT" exists gtc
	else
		not_ok "the guarded command started on a terminal ($(cat "$T/tty.out"))"
	fi
	exec 8>&-
else
	skip "guard on a terminal" "script(1) cannot allocate a pty here"
fi

# --- re-entered: the lock is the outer holder's -----------------------------
# One shell takes the lock, then guards a command under it: guard only
# re-enters (renews) it, and leaves it held for that shell afterwards, also
# when guard itself is killed (its watchdog stops the command, releases
# nothing).
out=$(bash -c '"$LOKT" lock go -q && "$LOKT" guard go -- true && "$LOKT" exists go && echo held')
check "after guard re-entered it, the shell still holds its lock" test "$out" = held
expect_exit 3 "... and it went with the shell" "$LOKT" exists go
bash -c '"$LOKT" lock gk -q; "$LOKT" guard gk -- sleep 601 & g=$!
	for i in $(seq 100); do pgrep -f "^sleep 601$" -P $g >/dev/null 2>&1 && break; sleep 0.1; done
	kill -9 $g; sleep 1; "$LOKT" exists gk && echo held' >"$T/gk.out" 2>&1
check "guard killed while re-entering: the shell's lock stays held" grep -qx held "$T/gk.out"
check "... and its command was stopped all the same" \
	wait_for 20 eval '! pgrep -f "^sleep 601$" >/dev/null'
if on_etcd; then
	skip "the lease stays the holder's" "guard's own TTL handling (the store's renewal runs on etcd in the checks above): run on the directory store only, for the suite's time"
else
	# The lease is the holder's (README, "lokt guard"): a re-entering guard's
	# --ttl shortened a lock of no TTL to its own, which then ran out and
	# was broken while the shell (and a command under an outer guard) still
	# ran; a guard without --ttl made a TTL lock endless; and a TTL lock ran
	# out under a longer command. The holder's TTL is kept, and renewed with
	# while the command runs.
	out=$(bash -c '"$LOKT" lock gt -q && "$LOKT" guard gt --ttl 1s -- true &&
		"$LOKT" status gt --json')
	check "guard --ttl 1s inside a lock of no TTL: still no TTL after" \
		test "$(jget "d.get('ttl_sec', 0)" <<<"$out")" = 0
	out=$(bash -c '"$LOKT" guard gn -- sh -c "\"\$LOKT\" guard gn --ttl 1s -- true
		\"\$LOKT\" status gn --json"')
	check "a guard inside a guard: the outer lock keeps no TTL" \
		test "$(jget "d.get('ttl_sec', 0)" <<<"$out")" = 0
	out=$(bash -c '"$LOKT" lock gl --ttl 1s -q && "$LOKT" guard gl -- sleep 1.8 &&
		"$LOKT" status gl --json')
	check "a TTL lock of 1s, guarded for 1.8s: live after (renewed with its TTL)" \
		test "$(jget "d['state']" <<<"$out")" = live
	check "... and its TTL is still 1s" test "$(jget "d.get('ttl_sec', 0)" <<<"$out")" = 1

	# guard killed inside a holder with a TTL: its watchdog renews that lock
	# with the holder's TTL while the command stops (it did not, and the lock
	# ran out under the command during its grace).
	bash -c '"$LOKT" lock go2 --ttl 1s -q
		"$LOKT" guard go2 -- sh -c "echo \$\$ >$0.pid; trap \"sleep 2; exit 0\" TERM
			while :; do sleep 0.1; done" & echo $! >"$0.guard"; sleep 600' "$T/go2" &
	hpid=$!
	track "$hpid"
	if wait_for 10 test -s "$T/go2.pid"; then
		track "$(cat "$T/go2.pid")"
		kill -9 "$(cat "$T/go2.guard")"
		sleep 1.3 # past the holder's 1 s TTL, the command still stopping
		check "guard killed inside a TTL holder: the lock is live during the stop" \
			test "$("$LOKT" status go2 --json | jget "d['state']")" = live
		check "... the command stops" wait_for 20 gone "$(cat "$T/go2.pid")"
		check "... and the lock stays the holder's" \
			test "$("$LOKT" status go2 --json | jget "d['state']")" = live
	else
		not_ok "guard go2 started its command"
	fi
	kill "$hpid"
fi

# --- guard's end: its watchdog is not waited for ----------------------------
# Told "done", the watchdog exits at once, and guard does not wait for it
# (its exit may be slow: it drops the last reference to guard's watch,
# docs/performance.md). The command stops the watchdog (SIGSTOP) and then
# prints: guard still releases, exits, and a reader of its output sees the
# end at once (the watchdog holds none of guard's stdio). Let go on, the
# watchdog exits without touching the lock again.
rm -f "$T/gd.ready" "$T/gd.go" "$T/gd.out"
(
	o=$("$LOKT" guard gd -- sh -c ": >$T/gd.ready
		while [ ! -e $T/gd.go ]; do sleep 0.05; done; echo hi")
	echo "$? $o" >"$T/gd.tmp" && mv "$T/gd.tmp" "$T/gd.out"
) &
bg=$!
track "$bg"
wd=
if wait_for 30 test -e "$T/gd.ready"; then
	wd=$(record gd | jget 'd.get("keeper_pid", 0)')
	track "$wd"
	kill -STOP "$wd"
	: >"$T/gd.go"
	check "guard ends while its watchdog is stopped, output and all" \
		wait_for 30 test -e "$T/gd.out"
	check "... with the command's status and output ($(cat "$T/gd.out" 2>/dev/null))" \
		test "$(cat "$T/gd.out" 2>/dev/null)" = "0 hi"
	expect_exit 3 "... and the lock released" "$LOKT" exists gd
	check "... by guard: one release audited" test "$(audit_count release gd)" = 1
	check "the watchdog was not waited for (still there, stopped)" \
		test "$(sed 's/.*) //' "/proc/$wd/stat" 2>/dev/null | cut -c1)" = T
	kill -CONT "$wd"
	check "let go on, the watchdog exits" wait_for 30 gone "$wd"
	check "... releasing nothing again (1 release, no loss)" \
		test "$(audit_count release gd) $(audit_count lost gd)" = "1 0"
	expect_exit 0 "... and the next lokt lock gets the lock" "$LOKT" lock gd -q
	"$LOKT" unlock gd -q
else
	not_ok "guarded command (watchdog test) started"
fi
[ -n "$wd" ] && kill -CONT "$wd" 2>/dev/null

# Nothing guard leaves behind stays: a subreaper above guard (as a service
# manager is) reaps its watchdog, which exited 0, and no child is left.
out=$("$PY" - "$LOKT" <<'EOF'
import ctypes, os, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
guard = subprocess.Popen([sys.argv[1], "guard", "gz", "--", "true"])
others = []
while True:
    try:
        pid, st = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    if pid == guard.pid:
        print("guard", os.waitstatus_to_exitcode(st))
    else:
        others.append(os.waitstatus_to_exitcode(st))
print("others", *others)
EOF
)
check "under a subreaper: guard exits 0, its watchdog is reaped, exited 0 ($out)" \
	test "$out" = "guard 0
others 0"
expect_exit 3 "... and the lock was released" "$LOKT" exists gz

# guard killed right after its command ended, before it released (here
# stopped by the command, then SIGKILLed): its watchdog releases the lock.
"$LOKT" guard gr -- sh -c 'kill -STOP $PPID' &
gpid=$!
track "$gpid"
stopped() { [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = T ]; }
if wait_for 30 stopped "$gpid"; then
	check "guard stopped after its command: the lock is still held" has_record gr
	kill -9 "$gpid"
	wait "$gpid" 2>/dev/null
	check "guard SIGKILLed after its command ended: the watchdog releases the lock" \
		wait_for 30 eval '! has_record gr'
	check "... as a release (audited), not a stale-break" \
		test "$(audit_count release gr) $(audit_count stale-break gr)" = "1 0"
else
	not_ok "guard stopped by its command"
fi

# The directory store's watch is made before the watchdog is forked, so
# the watchdog holds a copy of guard's inotify instance: guard's exit is
# then not its last close (which waits for the kernel). Not on etcd, whose
# watch is a thread of guard's, made after the fork.
if on_etcd; then
	skip "the watchdog shares guard's inotify watch" "etcd: its watch is a thread of guard's"
else
	"$LOKT" guard gi -- sh -c 'ls -l /proc/$PPID/fd >"$0"
		"$LOKT" status gi --json | "$PY" -c "import json, sys
print(json.load(sys.stdin)[\"keeper_pid\"])" >"$0.wd"
		ls -l /proc/$(cat "$0.wd")/fd >>"$0"' "$T/gi.out"
	check "the watchdog holds guard's inotify watch ($(grep -c inotify "$T/gi.out") of 2)" \
		test "$(grep -c 'anon_inode:inotify' "$T/gi.out")" = 2
fi

# The command is looked up in PATH before the lock is taken, so that the
# exec after it does not walk PATH; what changed in PATH meanwhile is
# still found as execvp finds it (lokt(1), guard).
mkdir -p "$T/pa" "$T/pb"
printf '#!/bin/sh\necho a >"$1"\n' >"$T/pa/gp-cmd"
printf '#!/bin/sh\necho b >"$1"\n' >"$T/pb/gp-cmd"
chmod +x "$T/pa/gp-cmd" "$T/pb/gp-cmd"
expect_exit 0 "hold gp" env LOKT_OWNER=other "$LOKT" lock gp --holder 1 --ttl 5m -q
PATH="$T/pa:$T/pb:$PATH" "$LOKT" guard gp --wait --timeout 60s -q -- gp-cmd "$T/gp.out" &
gp=$!
track $gp
check "a guard waits for gp" wait_for 20 eval '[ "$(waiters gp)" = 1 ]'
rm "$T/pa/gp-cmd"
expect_exit 0 "release gp" "$LOKT" unlock gp --force -q
wait "$gp"
check "the command found first in PATH was removed meanwhile: the next one ran ($(cat "$T/gp.out" 2>/dev/null))" \
	test "$(cat "$T/gp.out" 2>/dev/null)" = b
expect_exit 0 "hold gp again" env LOKT_OWNER=other "$LOKT" lock gp --holder 1 --ttl 5m -q
PATH="$T/pa:$T/pb:$PATH" "$LOKT" guard gp --wait --timeout 60s -q -- gp-new "$T/gp2.out" &
gp=$!
track $gp
check "a guard waits for gp with a command not in PATH yet" wait_for 20 eval '[ "$(waiters gp)" = 1 ]'
printf '#!/bin/sh\necho new >"$1"\n' >"$T/pa/gp-new"
chmod +x "$T/pa/gp-new"
expect_exit 0 "release gp" "$LOKT" unlock gp --force -q
wait "$gp"
check "the command put in PATH while guard waited ran ($(cat "$T/gp2.out" 2>/dev/null))" \
	test "$(cat "$T/gp2.out" 2>/dev/null)" = new

done_testing
