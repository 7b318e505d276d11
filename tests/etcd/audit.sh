#!/bin/bash
# SPDX-License-Identifier: MIT
# The etcd store records one audit event per transition under
# contention: 8 processes race lock/unlock on one name; every acquire,
# deny and release they saw is an event, no more, no fewer (a refusal's
# event is written even when the lock changed meanwhile).
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

PROCS=8 ROUNDS=20
pids=()
for i in $(seq "$PROCS"); do
	(
		acq=0 deny=0 rel=0 other=0
		for r in $(seq "$ROUNDS"); do
			lean_round "$r"
			"$LOKT" lock ca -q 2>/dev/null
			case $? in
			0) acq=$((acq + 1))
			   if "$LOKT" unlock ca -q; then rel=$((rel + 1)); else other=$((other + 1)); fi ;;
			2) deny=$((deny + 1)) ;;
			*) other=$((other + 1)) ;;
			esac
		done
		echo "$acq $deny $rel $other" >"$T/ca.$i"
	) &
	pids+=($!)
	track $!
done
wait "${pids[@]}"
read -r acq deny rel other <<<"$(cat "$T"/ca.* | awk '{ a += $1; d += $2; r += $3; o += $4 } END { print a, d, r, o }')"
check "lock/unlock from $PROCS processes: no errors ($other), $acq acquired, $deny denied" \
	test "$other" -eq 0 -a "$acq" -gt 0 -a "$deny" -gt 0
got="$(audit_count acquire ca) $(audit_count deny ca) $(audit_count release ca)"
check "one event per transition: acquire deny release = $acq $deny $rel (audit: $got)" \
	test "$got" = "$acq $deny $rel"

done_testing
