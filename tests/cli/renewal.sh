#!/bin/bash
# SPDX-License-Identifier: MIT
# Renewal under contention: `lokt guard x --ttl 1s -- sleep 5` renews its
# one-second lease while contenders of another owner loop
# `lokt unlock x --break-stale` (must be refused: 4) and `lokt lock x`
# (must be refused: 2). None gets in, and guard exits 0.
#
# The guarded command writes a marker just before it ends, and guard
# releases only after that. So a contender that succeeded while the
# marker did not exist yet (checked after its attempt returned) got in
# while the guarded command was still running: that is a failure. A
# success after the marker may be a fair acquisition after the release.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

CONTENDERS=4
MIN_TRIES=40
done_mark="$T/done"

# The guarded command runs 5 s and, on a slow machine, on until the
# contenders have made MIN_TRIES attempts (at most 60 s more).
"$LOKT" guard rx --ttl 1s -q -- sh -c ": >'$T/started'; sleep 5
	i=0; while [ \$(cat '$T'/tries.* 2>/dev/null | wc -l) -lt $MIN_TRIES ] && [ \$i -lt 600 ]; do
		sleep 0.1; i=\$((i + 1)); done
	: >'$done_mark'" 2>"$T/guard.err" &
gpid=$!
track "$gpid"
wait_for 30 test -e "$T/started"
check "guard holds the lock" "$LOKT" exists rx

for i in $(seq "$CONTENDERS"); do
	(
		n=0 bad=0 odd=0
		while [ ! -e "$done_mark" ]; do
			lean_round $((n / 2 + 1))
			LOKT_OWNER=intruder "$LOKT" unlock rx --break-stale -q 2>/dev/null
			rc=$?
			n=$((n + 1))
			echo >>"$T/tries.$i"
			if [ "$rc" -eq 0 ] && [ ! -e "$done_mark" ]; then
				bad=$((bad + 1))
			elif [ "$rc" -ne 4 ] && [ ! -e "$done_mark" ]; then
				odd=$((odd + 1)); echo "unlock $rc" >>"$T/odd.$i"
			fi
			LOKT_OWNER=intruder "$LOKT" lock rx -q 2>/dev/null
			rc=$?
			n=$((n + 1))
			echo >>"$T/tries.$i"
			if [ "$rc" -eq 0 ] && [ ! -e "$done_mark" ]; then
				bad=$((bad + 1))
			elif [ "$rc" -ne 2 ] && [ ! -e "$done_mark" ]; then
				odd=$((odd + 1)); echo "lock $rc" >>"$T/odd.$i"
			fi
			[ "$rc" -eq 0 ] && break # holding it now: stop
		done
		echo "$n $bad $odd" >"$T/c.$i"
	) &
	track $!
	cpids+=($!)
done

wait "$gpid"
grc=$?
check "guard exits 0 after renewing through the contention (got $grc)" test "$grc" -eq 0
[ "$grc" -eq 0 ] || diag "guard stderr: $(cat "$T/guard.err")"
wait "${cpids[@]}"
read -r tries bad odd <<<"$(cat "$T"/c.* | awk '{ n += $1; b += $2; o += $3 } END { print n, b, o }')"
check "contenders tried many times ($tries attempts)" test "$tries" -ge "$MIN_TRIES"
check "no contender got in while guard held the lock ($bad did)" test "$bad" -eq 0
check "every refusal was exit 4 (unlock) or 2 (lock) ($odd others)" test "$odd" -eq 0
[ "$odd" -eq 0 ] || diag "$(cat "$T"/odd.* | sort | uniq -c)"
lost=$(audit_count lost rx)
check "guard never lost its lock (audit lost: $lost)" test "$lost" -eq 0
if [ "$lost" -ne 0 ]; then
	diag "guard said: $(head -c 400 "$T/guard.err")"
	diag "events: $("$LOKT" audit --name rx 2>&1 | grep -v ' deny ' | tail -8)"
fi

done_testing
