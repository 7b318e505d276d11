#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Mutual exclusion through the mount, with real processes: 8 shells race
# `touch locks/x`, run a critical section, and `rm locks/x`, for many
# rounds; then the same mixed with `lokt guard x` racers. A witness inside
# the critical section (mkdir of a directory, atomic) catches any overlap;
# every section also checks that the lock file names it as the holder and
# logs its fence, which must rise strictly from one section to the next.
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

# The critical section: enter the witness, log, leave. $1 names who is
# inside, $2 its fence.
cat >"$T/section.sh" <<'EOF'
if ! mkdir "$T/inside" 2>/dev/null; then
	echo "$1 entered while $(cat "$T/inside/who" 2>/dev/null) was inside" >>"$T/overlaps"
	exit 0
fi
echo "$1" >"$T/inside/who"
echo "$2 $1" >>"$T/fences"
sleep 0.01
rm -f "$T/inside/who"
rmdir "$T/inside"
echo "$1" >>"$T/sections"
EOF

# A mount racer: ROUNDS sections, each won with touch (EBUSY: retry).
cat >"$T/touch-racer.sh" <<'EOF'
id=$1 rounds=$2
until [ -e "$T/go" ]; do sleep 0.01; done
for ((i = 0; i < rounds; i++)); do
	until touch "$M/locks/x" 2>"$T/err.$id"; do
		if ! grep -q 'Device or resource busy' "$T/err.$id"; then
			echo "touch $id: $(cat "$T/err.$id")" >>"$T/errors"
			sleep 0.1
		fi
	done
	rec=$(cat "$M/locks/x")
	echo "$rec" | grep -Eq "\"pid\": *$$[,} ]" ||
		echo "touch $id (pid $$) won but the lock names another holder: $rec" >>"$T/errors"
	fence=$(echo "$rec" | sed -n 's/.*"fence": *\([0-9]*\).*/\1/p')
	bash "$T/section.sh" "touch$id" "$fence"
	rm "$M/locks/x" 2>>"$T/errors" || echo "rm $id failed" >>"$T/errors"
done
EOF

# A CLI racer: ROUNDS sections, each run by lokt guard (held: retry).
cat >"$T/guard-racer.sh" <<'EOF'
id=$1 rounds=$2
until [ -e "$T/go" ]; do sleep 0.01; done
for ((i = 0; i < rounds; i++)); do
	while :; do
		"$LOKT" guard x -q -- bash -c 'bash "$T/section.sh" "$0" "$LOKT_FENCE"' "guard$id" 2>"$T/gerr.$id"
		st=$?
		[ "$st" -eq 0 ] && break
		[ "$st" -eq 2 ] && continue
		echo "guard $id: exit $st: $(cat "$T/gerr.$id")" >>"$T/errors"
		sleep 0.1
	done
done
EOF

# run_race TOUCHERS GUARDS ROUNDS: start them all, open the gate, wait.
run_race() {
	local nt=$1 ng=$2 rounds=$3 pids=() i
	rm -f "$T/go" "$T/overlaps" "$T/errors" "$T/sections" "$T/fences"
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
	if ! wait_for 100 all_gone "${pids[@]}"; then
		diag "racers still running after 100 s: killing them"
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

run_race 8 0 12
report "8 touch racers x 12 rounds" 96

run_race 8 4 6
report "8 touch + 4 guard racers x 6 rounds" 72
grep -q '^guard' "$T/sections" && grep -q '^touch' "$T/sections" &&
	ok "both kinds of racer got in" || not_ok "only one kind of racer got in: $(sort "$T/sections" | uniq -c)"

if unmount_fs "$M"; then ok "unmount: daemon exits 0"; else not_ok "unmount: daemon did not exit 0"; fi
done_testing
