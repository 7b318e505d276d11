#!/bin/bash
# SPDX-License-Identifier: MIT
# `lokt audit --follow`, as tail -F: the history, then every event as it
# is appended by other processes, in order and never twice, across a
# rotation of the log (LOKT_AUDIT_MAX), with --tail N and --name; SIGINT
# ends it with exit 0. And what lokt 1.x users type: `audit --tail` alone
# is refused with a pointer to --follow; `unlock --owner O` without a
# name releases all of O's locks, as in lokt 1.x.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

"$LOKT" lock --holder $$ h1 -q && "$LOKT" lock --holder $$ h2 -q &&
	"$LOKT" lock --holder $$ h3 -q
# follow OUT ARGS...: lokt audit --follow ARGS in the background.
follow() {
	local out=$1; shift
	"$LOKT" audit --follow "$@" >"$out" 2>"$out.err" &
	FPID=$!
	track "$FPID"
}
events_in() { grep -c " acquire \| release " "$1" 2>/dev/null; }

follow "$T/all.out"
check "the history comes first" wait_for 30 eval '[ "$(events_in "$T/all.out")" = 3 ]'
for i in 1 2 3 4 5; do "$LOKT" unlock "h$i" -q 2>/dev/null; "$LOKT" lock --holder $$ "n$i" -q; done
check "then each new event (5 more acquisitions, 3 releases)" \
	wait_for 30 eval '[ "$(events_in "$T/all.out")" = 11 ]'
check "in the log's order, nothing twice" \
	test "$(awk '{print $2, $3}' "$T/all.out")" = "$(awk '{print $2, $3}' < <("$LOKT" audit))"

# A rotation while following: LOKT_AUDIT_MAX small, many events.
for i in $(seq 1 30); do LOKT_AUDIT_MAX=2k "$LOKT" lock --holder $$ "r$i" -q; done
if [ "${LOKT_TEST_STORE:-}" = etcd ]; then
	skip "a rotation happened" "the etcd store keeps events as keys: no file to rotate"
else
	check "a rotation happened" test -e "$LOKT_ROOT/audit.log.1"
fi
check "events across the rotation are followed (30 more)" \
	wait_for 30 eval '[ "$(events_in "$T/all.out")" = 41 ]'
if on_etcd; then
	# An event from a host whose clock is an hour behind: its key sorts
	# before everything seen, it is followed all the same.
	ts=$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%SZ)
	_etcd put "/lokt-test/audit/$(date -d '1 hour ago' +%s%N | xargs printf '%020d')-5eed5eed" \
		"{\"ts\":\"$ts\",\"event\":\"acquire\",\"name\":\"skew\",\"lock_id\":\"\",\"owner\":\"x\",\"host\":\"behind\",\"pid\":7,\"agent_id\":\"\",\"ttl_sec\":0,\"extra\":{}}" >/dev/null
	check "an event written by a host whose clock is behind is followed" \
		wait_for 30 grep -q " skew " "$T/all.out"
else
	skip "an event written by a host whose clock is behind is followed" \
		"a directory store's log is one file, appended in order"
fi
kill -INT "$FPID"
reap "$FPID"
check "SIGINT ends it, exit 0" test "$RC" -eq 0

"$LOKT" unlock r30 -q && "$LOKT" lock --holder $$ r30 -q
follow "$T/tail.out" --tail 2 --name r30
check "--tail 2 --name r30: the last 2 matching events of the history" \
	wait_for 30 eval '[ "$(wc -l <"$T/tail.out")" = 2 ]'
check "... the release and the acquisition" \
	test "$(awk '{print $2}' "$T/tail.out" | tr '\n' ' ')" = "release acquire "
"$LOKT" unlock r30 -q
"$LOKT" unlock r29 -q
check "... then only r30's new ones" wait_for 30 eval '[ "$(wc -l <"$T/tail.out")" = 3 ]'
check "... never another name's" eval '! grep -q " r29 " "$T/tail.out"'
kill -INT "$FPID"
reap "$FPID"

expect_exit 64 "--follow with --json: refused" "$LOKT" audit --follow --json
expect_exit 64 "lokt 1.x's audit --tail (no number): refused" "$LOKT" audit --tail
contains "$ERR" "use --follow" "... saying to use --follow"
expect_exit 64 "audit --tail --name x: refused the same way" "$LOKT" audit --tail --name x
contains "$ERR" "use --follow" "... saying to use --follow"

hold bob b1 || exit 1
LOKT_OWNER=bob "$LOKT" lock --holder $$ b2 -q
expect_exit 0 "lokt 1.x's unlock --owner bob (no name): all of bob's locks" \
	"$LOKT" unlock --owner bob
contains "$OUT" "released 2 locks of bob" "... says how many"
expect_exit 3 "... b1 is free" "$LOKT" exists b1
expect_exit 0 "... and nobody else's was touched" "$LOKT" exists r1

done_testing
