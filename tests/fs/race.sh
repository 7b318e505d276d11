#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Mutual exclusion through the mount, with real processes: 8 shells race
# `touch locks/x`, run a critical section, and `rm locks/x`, for many
# rounds; then the same mixed with `lokt guard x` racers. A witness inside
# the critical section (mkdir of a directory, atomic) catches any overlap;
# every section also checks that the lock file names it as the holder and
# logs its fence, which must rise strictly from one section to the next.
# The witness is a file created with O_EXCL on entry and removed on exit.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
if ! mount_fs "$M"; then
	not_ok "mount loktfs on $M"
	done_testing
	exit 1
fi
ok "mount loktfs on $M"
export M T LOKT

# The machine may be loaded (2 cores, other suites running), so a section
# costs few processes: bash builtins wherever possible.
#
# The critical section, sourced by both kinds of racer: enter the witness
# (noclobber: an O_EXCL create, atomic), log, leave. $who names the racer,
# $fence its fence.
cat >"$T/section.sh" <<'EOF'
if ! { set -C; : >"$T/inside"; } 2>/dev/null; then
	echo "$who entered while $(<"$T/inside") was inside" >>"$T/overlaps"
else
	echo "$who" >|"$T/inside"
	echo "$fence $who" >>"$T/fences"
	echo "$who" >>"$T/sections"
	rm -f "$T/inside"
fi
set +C
EOF

# Every failed attempt backs off before the next: a random pause whose
# bound doubles after each failure (10 ms up to 320 ms) and starts again
# after a win, so that on a loaded machine the losers do not crowd out the
# winner's own touch, cat and rm. A pause is a read timeout on a private
# fifo: no process per pause.
cat >"$T/backoff.sh" <<'EOF'
mkfifo "$T/pause.$1" && exec 8<>"$T/pause.$1"
cap=1
backoff() { # 1..cap centiseconds, then double cap (at most 32)
	local cs=$((RANDOM % cap + 1))
	read -t "$((cs / 100)).$(printf %02d $((cs % 100)))" -u 8
	((cap < 32)) && cap=$((cap * 2))
}
EOF

# A mount racer: $2 sections, each won with touch (EBUSY: back off, retry).
cat >"$T/touch-racer.sh" <<'EOF'
id=$1 rounds=$2 who=touch$1
. "$T/backoff.sh" "$id"
until [ -e "$T/go" ]; do read -t 0.01 -u 8; done
for ((i = 0; i < rounds; i++)); do
	cap=1
	until touch "$M/locks/x" 2>"$T/err.$id"; do
		if [[ $(<"$T/err.$id") != *"Device or resource busy"* ]]; then
			echo "touch $id: $(<"$T/err.$id")" >>"$T/errors"
		fi
		backoff
	done
	rec=$(<"$M/locks/x")
	[[ $rec =~ \"pid\":\ *([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" = $$ ] ||
		echo "$who (pid $$) won but the lock names pid ${BASH_REMATCH[1]}" >>"$T/errors"
	[[ $rec =~ \"fence\":\ *([0-9]+) ]]
	fence=${BASH_REMATCH[1]}
	. "$T/section.sh"
	rm "$M/locks/x" 2>>"$T/errors" || echo "rm $who failed" >>"$T/errors"
done
EOF

# A CLI racer: $2 sections, each run by lokt guard (held: back off, retry).
cat >"$T/guard-racer.sh" <<'EOF'
id=$1 rounds=$2
. "$T/backoff.sh" "g$id"
until [ -e "$T/go" ]; do read -t 0.01 -u 8; done
for ((i = 0; i < rounds; i++)); do
	cap=1
	while :; do
		"$LOKT" guard x -q -- bash -c 'who=$0 fence=$LOKT_FENCE; . "$T/section.sh"' "guard$id" 2>"$T/gerr.$id"
		st=$?
		[ "$st" -eq 0 ] && break
		[ "$st" -ne 2 ] && echo "guard $id: exit $st: $(<"$T/gerr.$id")" >>"$T/errors"
		backoff
	done
done
EOF

# The witness itself must be able to fail: someone inside, another enters.
: >"$T/inside"
(who=selftest fence=0 && . "$T/section.sh")
if grep -q '^selftest entered' "$T/overlaps" 2>/dev/null && [ ! -e "$T/sections" ]; then
	ok "witness self-test: a second entrant is seen as an overlap"
else
	not_ok "witness self-test: an overlap went unseen"
fi
rm -f "$T/inside" "$T/overlaps"

# run_race TOUCHERS GUARDS ROUNDS: start them all, open the gate, wait.
run_race() {
	local nt=$1 ng=$2 rounds=$3 pids=() i
	rm -f "$T/go" "$T/overlaps" "$T/errors" "$T/sections" "$T/fences" "$T"/pause.*
	for ((i = 0; i < nt; i++)); do
		bash "$T/touch-racer.sh" "$i" "$rounds" &
		pids+=($!)
	done
	for ((i = 0; i < ng; i++)); do
		bash "$T/guard-racer.sh" "$i" "$rounds" &
		pids+=($!)
	done
	at_exit "kill_child TERM ${pids[*]}"
	touch "$T/go"
	# A bound against a hang, not a speed requirement: meson's timeout
	# for this test is larger still.
	if ! wait_for 240 all_gone "${pids[@]}"; then
		diag "racers still running after 240 s: killing them"
		kill "${pids[@]}" 2>/dev/null
	fi
	wait "${pids[@]}" 2>/dev/null
}

all_gone() {
	local p
	for p in "$@"; do proc_gone "$p" || return 1; done
}

# fences_rise: the fences of the sections, in section order, rise strictly.
fences_rise() {
	awk 'NR > 1 && $1 <= last { print "fence " $1 " (" $2 ") after " last; bad = 1 }
	     { last = $1 } END { exit bad }' "$T/fences"
}

report() { # DESC EXPECTED-SECTIONS
	local n
	if [ -s "$T/overlaps" ]; then
		not_ok "$1: zero overlaps ($(wc -l <"$T/overlaps") seen)"
		diag "$(head -5 "$T/overlaps")"
	else
		ok "$1: zero overlaps"
	fi
	n=$(cat "$T/sections" 2>/dev/null | wc -l)
	[ "$n" -eq "$2" ] && ok "$1: all $2 critical sections ran" ||
		not_ok "$1: $n of $2 critical sections ran"
	if [ -s "$T/errors" ]; then
		not_ok "$1: no errors other than EBUSY ($(wc -l <"$T/errors"))"
		diag "$(head -5 "$T/errors")"
	else
		ok "$1: no errors other than EBUSY / held"
	fi
	if [ -s "$T/fences" ] && fences_rise >"$T/fence.err"; then
		ok "$1: fences rise strictly from section to section"
	else
		not_ok "$1: fences do not rise strictly: $(head -3 "$T/fence.err")"
	fi
	expect_exit 3 "$1: x is free at the end" "$LOKT" exists x
}

run_race 8 0 6
report "8 touch racers x 6 rounds" 48

run_race 8 4 3
report "8 touch + 4 guard racers x 3 rounds" 36
grep -q '^guard' "$T/sections" && grep -q '^touch' "$T/sections" &&
	ok "both kinds of racer got in" || not_ok "only one kind of racer got in: $(sort "$T/sections" | uniq -c)"

if unmount_fs "$M"; then ok "unmount: daemon exits 0"; else not_ok "unmount: daemon did not exit 0"; fi
done_testing
