#!/bin/bash
# SPDX-License-Identifier: MIT
# Whatever kills guard — its pid, its process group (kill -9 -- -PGID,
# `timeout -s KILL`), its session (SIGKILL to every process of the session
# but the command's own group, as a closing terminal or `pkill -s` does) —
# the guarded command never runs without its lock: while it runs,
# `lokt lock` from elsewhere is refused (exit 2); once it is stopped (by
# guard's watchdog: SIGTERM, SIGKILL 5 s later) the lock is released.
# The watchdog used to share guard's group and session and died with it;
# the lock (kept by the watchdog) was then stale and the next `lokt lock`
# took it while the command ran on.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# The command ignores SIGTERM, so it runs until the watchdog's SIGKILL.
cmd='trap "" TERM; echo $$ >"$0.tmp"; mv "$0.tmp" "$0"; while :; do sleep 0.1; done'

# start_guard HOW NAME: guard in a session of its own (sid = pgid = its
# pid), or under `timeout -s KILL` (its own group: timeout's); sets GPID
# (the process to kill: guard, or timeout) and CHILD (the command).
start_guard() {
	local how=$1 name=$2 ready="$T/child.$2"
	rm -f "$ready"
	if [ "$how" = timeout ]; then
		timeout -s KILL 600 "$LOKT" guard "$name" -- sh -c "$cmd" "$ready" &
	else
		setsid "$LOKT" guard "$name" -- sh -c "$cmd" "$ready" &
	fi
	GPID=$!
	track "$GPID"
	wait_for 30 test -e "$ready" || return 1
	CHILD=$(cat "$ready")
	track "$CHILD"
}

# kill_session SID EXCEPT_PGID: SIGKILL every process of session SID that
# is not in group EXCEPT_PGID.
kill_session() {
	local pid sid pgid
	while read -r pid sid pgid; do
		[ "$sid" = "$1" ] && [ "$pgid" != "$2" ] && kill -9 "$pid" 2>/dev/null
	done < <(ps -e -o pid=,sid=,pgid=)
	return 0
}

# lock_or_gone NAME CHILD: `lokt lock NAME` is refused (2), or succeeds
# only once CHILD is gone (the watchdog releases after the command is).
lock_or_gone() {
	local rc
	"$LOKT" lock "$1" -q 2>"$T/lock.err"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		gone "$2" && "$LOKT" unlock "$1" -q && return 0
		diag "lokt lock $1 got the lock while its command (pid $2) runs"
		return 1
	fi
	[ "$rc" -eq 2 ] || diag "lokt lock $1: exit $rc: $(cat "$T/lock.err")"
	[ "$rc" -eq 2 ]
}

# The four ways at once (each waits out the watchdog's 5 s grace): all
# guards started and killed, then each looked at.
hows=()
declare -A gpid child
for how in pid group timeout session; do
	if ! start_guard "$how" "gk-$how"; then
		not_ok "$how: guarded command started"
		continue
	fi
	hows+=("$how")
	gpid[$how]=$GPID child[$how]=$CHILD
	if [ "$how" != timeout ]; then
		check "$how: guard leads its own session" \
			test "$(ps -o sid= -p "$GPID" | tr -d ' ')" = "$GPID"
	fi
done
for how in "${hows[@]}"; do
	case $how in
	pid) kill -9 "${gpid[$how]}" ;;
	group) kill -9 -- "-${gpid[$how]}" ;;
	timeout) kill -ALRM "${gpid[$how]}" ;; # timeout: time is up, SIGKILL its group
	session) kill_session "${gpid[$how]}" "${child[$how]}" ;;
	esac
done
for how in "${hows[@]}"; do
	wait "${gpid[$how]}" 2>/dev/null
	check "$how: guard is dead" gone "${gpid[$how]}"
	check "$how: lokt lock refused while the command runs" \
		lock_or_gone "gk-$how" "${child[$how]}"
done
for how in "${hows[@]}"; do
	name=gk-$how
	check "$how: the command is stopped" wait_for 15 gone "${child[$how]}"
	check "$how: then the lock is released" wait_for 15 eval '! has_record "$name"'
	check "$how: ... as a release (audited), not a stale-break" \
		test "$(audit_count release "$name") $(audit_count stale-break "$name")" = "1 0"
	expect_exit 0 "$how: the next lokt lock gets it" "$LOKT" lock "$name" -q
	"$LOKT" unlock "$name" -q
done

# The watchdog killed while guard waits: guard, handed the lock, must not
# die of SIGPIPE telling it (exit 141, the lock left to a dead holder);
# it says the watchdog is gone, runs nothing, and releases the lock.
LOKT_OWNER=other "$LOKT" lock wdw --holder 1 --ttl 5m -q
"$LOKT" guard wdw --wait --timeout 60s -- sh -c "touch '$T/wdw.ran'" 2>"$T/wdw.err" &
gp=$!
track "$gp"
check "guard waits, its watchdog started" wait_for 20 eval 'pgrep -P "$gp" >/dev/null'
wd=$(pgrep -P "$gp" | head -1)
kill -9 "$wd"
LOKT_OWNER=other "$LOKT" unlock wdw -q
wait "$gp"
rc=$?
check "guard with its watchdog killed does not die of SIGPIPE (exit $rc)" test "$rc" -ne 141
check "... it fails (exit 1)" test "$rc" = 1
check "... its command did not run" test ! -e "$T/wdw.ran"
check "... and the lock is free again" wait_for 10 eval '! "$LOKT" exists wdw'

done_testing
