#!/bin/bash
# SPDX-License-Identifier: MIT
# Stale-break storm: the holder of a lock is killed with SIGKILL, then many
# contenders run `lokt lock` at the same instant (released together by a
# flock barrier). Each round exactly one of them breaks the stale lock and
# wins; every other one is refused with exit 2. The winner enters a
# witnessed critical section and stays there (it becomes `sleep`) until
# it, in turn, is killed with SIGKILL: the dead holder of the next round.
# The audit log has one stale-break per round, with the reason "dead".
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

ROUNDS=10
CONTENDERS=10

hold victim sx || { not_ok "first holder took the lock"; done_testing; exit 1; }
victim=$HOLDER
check "a live holder's lock stands" "$LOKT" exists sx

exec 9>"$T/barrier"
rounds_ok=0 overlaps=0
for r in $(seq "$ROUNDS"); do
	flock 9
	kill -9 "$victim"
	wait "$victim" 2>/dev/null
	wait_for 20 gone "$victim"
	rmdir "$T/cs" 2>/dev/null
	for i in $(seq "$CONTENDERS"); do
		(
			exec 9>&-
			lean_round "$r"
			: >"$T/ready.$r.$i"
			flock -s "$T/barrier" true
			"$LOKT" lock sx -q 2>"$T/err.$r.$i"
			rc=$?
			if [ "$rc" -eq 0 ]; then
				mkdir "$T/cs" 2>/dev/null ||
					echo "round $r" >>"$T/overlaps"
				echo "$BASHPID" >"$T/win.$r.$i"
			fi
			echo "$rc" >"$T/rc.$r.$i"
			[ "$rc" -eq 0 ] && exec sleep 600
			exit 0
		) &
		track $!
	done
	wait_for 30 eval "[ \$(ls $T/ready.$r.* 2>/dev/null | wc -l) -eq $CONTENDERS ]"
	flock -u 9
	wait_for 60 eval "[ \$(ls $T/rc.$r.* 2>/dev/null | wc -l) -eq $CONTENDERS ]"
	wins=$(grep -lx 0 "$T"/rc.$r.* | wc -l)
	refused=$(grep -lx 2 "$T"/rc.$r.* | wc -l)
	if [ "$wins" -eq 1 ] && [ "$refused" -eq $((CONTENDERS - 1)) ]; then
		rounds_ok=$((rounds_ok + 1))
	else
		diag "round $r: $wins winners, $refused refused with 2;" \
			"exit codes: $(cat "$T"/rc.$r.* | sort | uniq -c | tr '\n' ' ')" \
			"$(cat "$T"/err.$r.* | sort -u | head -5)"
	fi
	victim=$(cat "$T"/win.$r.* 2>/dev/null | head -1)
	if [ -z "$victim" ]; then
		not_ok "round $r had a winner to kill"
		break
	fi
done
[ -e "$T/overlaps" ] && overlaps=$(wc -l <"$T/overlaps")
check "$ROUNDS rounds of $CONTENDERS contenders: exactly one winner, the rest exit 2 ($rounds_ok rounds right)" \
	test "$rounds_ok" -eq "$ROUNDS"
check "zero overlaps in the critical section ($overlaps)" test "$overlaps" -eq 0
breaks=$(audit_count stale-break sx dead)
if [ "${LOKT_TEST_STORE:-}" = etcd ]; then
	# The etcd store's keeper may release a dead holder's lock before a
	# contender breaks it: either way, once per round, reason "dead".
	releases=$(audit_count release sx dead)
	check "audit: one stale-break or keeper release, reason dead, per round ($breaks + $releases of $ROUNDS)" \
		test $((breaks + releases)) -eq "$ROUNDS"
else
	check "audit: one stale-break with reason dead per round ($breaks of $ROUNDS)" \
		test "$breaks" -eq "$ROUNDS"
fi

done_testing
