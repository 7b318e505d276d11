#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SIGKILL at every system call of each transition: for every system call
# S that a command makes (seen in a reference run) and K = 1, 2, ...,
#   strace -f -e inject=S:signal=KILL:when=K lokt ...
# kills it on entering its K-th S, until a K where the command completes
# unkilled: each system call of the run is hit once. (strace counts per
# process: in guard, whose watchdog and command are processes of their
# own, the K-th S of each of them is hit at once.)
# After every kill:
#   - the name is in the old or the new state, never in between: no
#     corrupt (half-written) record; a live lock or a freeze left there
#     refuses another holder (exit 2): never two holders;
#   - lokt doctor exits 0 right away and reports no corrupt file;
#   - the next transitions on the name (release or unfreeze, then lock) work,
#     the new lock's fence is above every earlier fence of the name, and
#     after it lokt doctor is clean (no WARN, no FAIL).
# Transitions: lock, unlock, unlock --break-stale over a dead holder's
# lock, freeze, unfreeze, guard, lock --wait behind a holder who exits.
#
# The number of points covered is printed per transition.
# $LOKT_FAULT_BUDGET (seconds, default 240) bounds the whole file: what is
# left when it runs out is reported as skipped. Registered in builds
# without sanitizers only (tests/fault/meson.build says why).
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fault/common.sh"

if ! command -v strace >/dev/null; then
	skip "${0##*/}: SIGKILL at every system call" "strace is not installed"
	done_testing
	exit 0
fi
if ! strace -f -o /dev/null true 2>/dev/null; then
	skip "${0##*/}: SIGKILL at every system call" "strace cannot trace here (ptrace refused)"
	done_testing
	exit 0
fi

deadline=$(($(date +%s) + ${LOKT_FAULT_BUDGET:-240}))
# Run by hand in an ASan build: LeakSanitizer cannot run under ptrace.
[ "${LOKT_SANITIZE:-none}" != none ] && lean_round 2

H=$(sh -c 'sleep 3600 >/dev/null 2>&1 & echo $!') # holder of our locks
at_exit "kill $H"

# syscalls_of CMD...: the names of the system calls CMD makes.
syscalls_of() {
	strace -f -o "$T/ref" "$@" >/dev/null 2>&1
	sed -nE 's/^[0-9]+ +//; s/^([a-z0-9_]+)\(.*/\1/p' "$T/ref" | sort -u
}

# status_of NAME: `lokt status NAME --json` in $ST, its exit in $STRC.
status_of() {
	ST=$("$LOKT" status "$1" --json 2>&1)
	STRC=$?
}

# frozen_id NAME: lock_id of the freeze of NAME, "" when none.
frozen_id() {
	local all
	all=$("$LOKT" status --json 2>/dev/null)
	all=${all#*\"freezes\":}
	[[ $all =~ \"name\":\"$1\",\"lock_id\":\"([0-9a-f]*)\" ]] &&
		echo "${BASH_REMATCH[1]}"
	return 0
}

# A dead holder's lock on NAME: taken by a shell that then exits.
dead_lock() { sh -c '"$LOKT" lock "$1" -q' sh "$1"; }

# ---- the transitions: before, judge (old or new state?), cleanup --------
# Each judge_* prints what is wrong and fails, or succeeds silently.
# OLD is the lock_id before the transition.

before_lock() { OLD=; }
judge_lock() {
	status_of x
	[ "$STRC" -eq 3 ] && [[ $ST != *corrupt* ]] && return 0
	[ "$STRC" -eq 0 ] && [ "$(jnum pid "$ST")" = "$H" ] &&
		[ "$(jstr state "$ST")" = live ] && return 0
	echo "x neither free nor held by $H: exit $STRC $ST"
	return 1
}

before_unlock() {
	"$LOKT" lock x -q --holder "$H"
	status_of x
	OLD=$(jstr lock_id "$ST")
}
judge_unlock() {
	status_of x
	[ "$STRC" -eq 3 ] && [[ $ST != *corrupt* ]] && return 0
	[ "$STRC" -eq 0 ] && [ "$(jstr lock_id "$ST")" = "$OLD" ] && return 0
	echo "x neither free nor its old lock $OLD: exit $STRC $ST"
	return 1
}

before_break() {
	dead_lock x
	status_of x
	OLD=$(jstr lock_id "$ST")
}
judge_break() {
	status_of x
	[ "$STRC" -eq 3 ] && [[ $ST != *corrupt* ]] && return 0
	[ "$STRC" -eq 0 ] && [ "$(jstr lock_id "$ST")" = "$OLD" ] &&
		[ "$(jstr state "$ST")" = dead ] && return 0
	echo "x neither free nor its old dead lock $OLD: exit $STRC $ST"
	return 1
}

before_freeze() { OLD=; }
judge_freeze() {
	local all
	all=$("$LOKT" status --json 2>&1) || { echo "status: $all"; return 1; }
	all=${all#*\"freezes\":}
	[[ $all != *corrupt* ]] && return 0
	echo "a corrupt freeze: $all"
	return 1
}

before_unfreeze() {
	"$LOKT" freeze f --ttl 1h -q
	OLD=$(frozen_id f)
}
judge_unfreeze() {
	local id
	id=$(frozen_id f)
	[ -z "$id" ] || [ "$id" = "$OLD" ] && return 0
	echo "freeze of f neither gone nor the old one $OLD: '$id'"
	return 1
}

before_guard() { OLD=; }
# guard_gone: g is free, or stale (every process of the run is gone).
guard_gone() {
	status_of g
	[ "$STRC" -eq 3 ] && [[ $ST != *corrupt* ]] && return 0
	[ "$STRC" -eq 0 ] && [ "$(jstr state "$ST")" != live ] &&
		[[ $ST != *corrupt* ]]
}
judge_guard() {
	local keeper
	guard_gone && return 0
	# A keeper (the watchdog) still alive is let finish its release, for
	# a few seconds: once (1 run in 4, 1 point in 189) the lock was live
	# with its keeper when strace had returned.
	keeper=$(jnum keeper_pid "$ST")
	[ -n "$keeper" ] && wait_for 10 guard_gone && {
		diag "g: its keeper $keeper let it go after strace returned"
		return 0
	}
	# What to tell apart, should it happen again: strace ended early
	# (a process of the run not yet attached), or by its timeout.
	local pid ps
	pid=$(jnum pid "$ST")
	ps=$(ps -o pid=,ppid=,stat=,wchan:20=,etimes=,cmd= -p "${pid:-0},${keeper:-0}" 2>/dev/null | tr '\n' ';')
	echo "g after every guard process died: exit $STRC $ST; $RUN; holder and keeper: ${ps:-gone}"
	return 1
}

# lock --wait: x is held by a shell that exits after 0.05 s (an orphan:
# a zombie or gone, dead either way), and the waiter takes it for $H then.
before_wait() {
	rm -f "$T/taken"
	sh -c '( "$LOKT" lock x -q && : >"$1" && sleep 0.05 ) >/dev/null 2>&1 &' \
		sh "$T/taken"
	wait_for 10 test -e "$T/taken" # not `lokt exists`: it may be dead already
	status_of x
	OLD=$(jstr lock_id "$ST")
}
judge_wait() {
	status_of x
	[ "$STRC" -eq 3 ] && [[ $ST != *corrupt* ]] && return 0
	[ "$STRC" -eq 0 ] && [ "$(jstr lock_id "$ST")" = "$OLD" ] && return 0
	[ "$STRC" -eq 0 ] && [ "$(jnum pid "$ST")" = "$H" ] && return 0
	echo "x neither free, nor the old lock $OLD, nor held by $H: exit $STRC $ST"
	return 1
}

# excludes NAME KIND: a live lock of $H (or a freeze) left by the run is
# honoured: another holder (this script) is refused with exit 2, so there
# are never two holders. (Not a lock of --wait's first holder, which
# exits at any moment by design.)
excludes() {
	local rc
	case $2 in
	freeze | unfreeze) [ -n "$(frozen_id "$1")" ] || return 0 ;;
	*)
		status_of "$1"
		[ "$STRC" -eq 0 ] && [ "$(jstr state "$ST")" = live ] &&
			[ "$(jnum pid "$ST")" = "$H" ] || return 0
		;;
	esac
	"$LOKT" lock "$1" -q >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 2 ] && return 0
	echo "$1 is held or frozen, yet another holder's lokt lock exits $rc"
	return 1
}

# Back to a free name by the next transition: unfreeze for a freeze,
# else release (any lock left is ours, or a dead holder's). Exit 0 or 3
# (nothing there), never an error.
cleanup() { # NAME KIND
	local rc
	case $2 in
	freeze | unfreeze) "$LOKT" unfreeze "$1" -q >/dev/null 2>&1 ;;
	*) "$LOKT" unlock "$1" -q --break-stale >/dev/null 2>&1 ;;
	esac
	rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || { echo "cleanup of $1: exit $rc"; return 1; }
}

# next_lock NAME: lokt lock NAME works, fence above every earlier one of
# NAME; then doctor is clean.
next_lock() {
	local out rc fence max=${FENCE_MAX[$1]:-0} doc
	out=$("$LOKT" lock "$1" --json --holder "$H" 2>&1)
	rc=$?
	fence=$(jnum fence "$out")
	if [ "$rc" -ne 0 ] || [ -z "$fence" ] || [ "$fence" -le "$max" ]; then
		echo "lock $1: exit $rc, fence '$fence' (want > $max): $out"
		return 1
	fi
	FENCE_MAX[$1]=$fence
	"$LOKT" unlock "$1" -q || { echo "unlock $1 after it"; return 1; }
	doc=$("$LOKT" doctor 2>&1) && ! grep -qE '^(WARN|FAIL)' <<<"$doc" ||
		{ echo "doctor after the next lock: $doc"; return 1; }
}

# transition DESC NAME KIND CMD...: KIND names before_KIND and judge_KIND.
transition() {
	local desc=$1 name=$2 kind=$3 s k points=0 calls late=0 t0
	local -a bad_state=() bad_doctor=() bad_next=()
	shift 3
	"before_$kind"
	calls=$(syscalls_of "$@")
	cleanup "$name" "$kind" >/dev/null
	[ -z "$calls" ] && { not_ok "$desc: no system calls seen (strace -f $*)"; return; }
	for s in $calls; do
		for ((k = 1; ; k++)); do
			if [ "$(date +%s)" -ge "$deadline" ]; then
				late=1
				break 2
			fi
			"before_$kind"
			t0=$(date +%s%N)
			(timeout -k 5 60 strace -f -o "$T/tr" -e trace="$s" \
				-e inject="$s:signal=KILL:when=$k" "$@" >/dev/null 2>&1
			echo $? >"$T/tr.rc") 2>/dev/null
			# For a judge's report: how the traced run ended.
			RUN="strace exit $(<"$T/tr.rc") after $((($(date +%s%N) - t0) / 1000000)) ms"
			if ! grep -q 'killed by SIGKILL' "$T/tr"; then
				# It completed: back to the state before.
				cleanup "$name" "$kind" >/dev/null
				break
			fi
			points=$((points + 1))
			"judge_$kind" >"$T/msg" || bad_state+=("$s#$k: $(<"$T/msg")")
			excludes "$name" "$kind" >"$T/msg" || bad_state+=("$s#$k: $(<"$T/msg")")
			if ! "$LOKT" doctor >"$T/msg" 2>&1 ||
				grep -qE '^(WARN|FAIL) +corrupt_files' "$T/msg"; then
				bad_doctor+=("$s#$k: $(<"$T/msg")")
			fi
			cleanup "$name" "$kind" >"$T/msg" || bad_next+=("$s#$k: $(<"$T/msg")")
			next_lock "$name" >"$T/msg" || bad_next+=("$s#$k: $(<"$T/msg")")
		done
	done
	[ "$points" -gt 0 ] && diag "$desc: SIGKILL at $points system calls"
	if [ "$points" -gt 0 ]; then
		report "$desc: old or new state after each of $points kills" "${bad_state[@]}"
		report "$desc: lokt doctor exits 0, nothing corrupt, after each kill" "${bad_doctor[@]}"
		report "$desc: the next lock works after each kill, fences rising, doctor clean" "${bad_next[@]}"
	fi
	[ $late = 0 ] || skip "$desc: the points after the first $points" \
		"time budget LOKT_FAULT_BUDGET=${LOKT_FAULT_BUDGET:-240}s spent"
}

report() { # DESC FAILURE...
	local desc=$1
	shift
	if [ $# -eq 0 ]; then
		ok "$desc"
	else
		not_ok "$desc ($# failed)"
		diag "${@:1:5}"
	fi
}

transition "lokt lock x" x lock "$LOKT" lock x -q --holder "$H"
transition "lokt unlock x" x unlock "$LOKT" unlock x -q
transition "lokt unlock x --break-stale (dead holder)" x break "$LOKT" unlock x -q --break-stale
transition "lokt freeze f" f freeze "$LOKT" freeze f --ttl 1h -q
transition "lokt unfreeze f" f unfreeze "$LOKT" unfreeze f -q
transition "lokt guard g -- true" g guard "$LOKT" guard g -q -- true
transition "lokt lock x --wait (holder exits)" x wait "$LOKT" lock x -q --wait --timeout 30 --holder "$H"
done_testing
