#!/bin/bash
# SPDX-License-Identifier: MIT
# Habits of flock(1) users, in cron jobs and CI scripts:
#   - `-q` is silent when the lock is busy (flock -n is), exit still 2;
#   - `-E N` / `--conflict-exit-code N` (flock -E) on lock and guard turns
#     "busy" (held, frozen, a wait timed out) into exit N, so guard's
#     refusal is told apart from its command failing with 2; with -E 0
#     guard still never runs the command without the lock;
#   - `lokt -V` is `lokt version`, as `loktfs -V`;
#   - a mistyped command or long option gets "did you mean", exit 64, and
#     nothing is created;
#   - --json on unlock and unfreeze, and a usage error under --json is a
#     JSON document too (exactly one on stdout);
#   - `lock --ttl D --detach`, for CI steps in separate shells: the lock
#     outlives the shell that took it, is its owner's from anywhere
#     (another owner is refused), is judged by its TTL alone, and a
#     renewal without --ttl keeps its TTL;
#   - lokt as pid 1 (`docker run IMAGE lokt ...`, here a new pid
#     namespace): freeze, unfreeze, unlock and the read-only commands
#     work; lock says there is no caller to hold the lock and what to do;
#     guard there gives its lock a TTL; a holder of another pid namespace
#     under this host's name is judged by its TTL, as another host's.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

hold alice busy || exit 1

expect_exit 2 "lock -q of a held lock: exit 2" "$LOKT" lock busy -q
check "... and says nothing" test -z "$ERR"
expect_exit 2 "guard -q of a held lock: exit 2" "$LOKT" guard busy -q -- true
check "... and says nothing" test -z "$ERR"
expect_exit 2 "without -q the refusal is said" "$LOKT" lock busy
contains "$ERR" 'held by alice' "... naming the holder"

expect_exit 75 "lock -E 75 of a held lock: exit 75" "$LOKT" lock busy -E 75
expect_exit 75 "lock --conflict-exit-code 75: exit 75" \
	"$LOKT" lock --conflict-exit-code 75 busy
expect_exit 9 "lock --wait --timeout 200ms -E 9: the timeout is a conflict too" \
	"$LOKT" lock busy --wait --timeout 200ms -E 9
expect_exit 10 "guard -E 10 of a held lock: exit 10" \
	"$LOKT" guard busy -E 10 -- touch "$T/ran"
check "... and the command did not run" test ! -e "$T/ran"
expect_exit 0 "guard -E 0 of a held lock: exit 0 (skip quietly, as cron wants)" \
	"$LOKT" guard busy -E 0 -q -- touch "$T/ran"
check "... and the command still did not run" test ! -e "$T/ran"
expect_exit 3 "guard -E 10 of a free lock: the command's own status" \
	"$LOKT" guard free1 -E 10 -- sh -c 'exit 3'
expect_exit 2 "guard -E 10: the command's own exit 2 is not a conflict" \
	"$LOKT" guard free2 -E 10 -- sh -c 'exit 2'
"$LOKT" freeze fz --ttl 1h -q
expect_exit 11 "lock -E 11 of a frozen name: exit 11" "$LOKT" lock fz -E 11
expect_exit 3 "-E does not change other outcomes (unlock of a free name: 3)" \
	"$LOKT" unlock free3
for bad in 256 -1 x ''; do
	expect_exit 64 "lock -E '$bad': usage error" "$LOKT" lock busy -E "$bad"
done
contains "$ERR" "from 0 to 255" "... saying what is allowed"

expect_exit 0 "lokt -V" "$LOKT" -V
contains "$OUT" "lokt " "... prints the version"

fresh=$T/fresh
expect_exit 64 "a mistyped command: exit 64" env LOKT_ROOT="$fresh" "$LOKT" stauts
contains "$ERR" "did you mean 'status'?" "... did you mean 'status'?"
expect_exit 64 "lokc x" env LOKT_ROOT="$fresh" "$LOKT" lokc x
contains "$ERR" "did you mean 'lock'?" "... did you mean 'lock'?"
expect_exit 64 "an unrelated word" env LOKT_ROOT="$fresh" "$LOKT" frobnicate
contains "$ERR" "unknown command 'frobnicate'" "... is only unknown"
check "... no 'did you mean' for it" eval '! grep -q "did you mean" <<<"$ERR"'
expect_exit 64 "a mistyped flag: exit 64" env LOKT_ROOT="$fresh" "$LOKT" lock x --ttll 5m
contains "$ERR" "did you mean '--ttl'?" "... did you mean '--ttl'?"
expect_exit 64 "unlock --forse" env LOKT_ROOT="$fresh" "$LOKT" unlock x --forse
contains "$ERR" "did you mean '--force'?" "... did you mean '--force'?"
check "no store was created by any of them" test ! -e "$fresh"

"$LOKT" lock --holder $$ mine -q
expect_exit 0 "unlock --json" "$LOKT" unlock mine --json
check "... one JSON document" is_json <<<"$OUT"
check "... the record released" test "$(jget 'd["name"], d["state"], d["broke"]' <<<"$OUT")" = '["mine", "released", null]'
"$LOKT" freeze fz2 --ttl 1h -q
expect_exit 0 "unfreeze --json" "$LOKT" unfreeze fz2 --json
check "... the freeze removed" test "$(jget 'd["name"], d["state"]' <<<"$OUT")" = '["fz2", "removed"]'
"$LOKT" lock --holder $$ a1 -q && "$LOKT" lock --holder $$ a2 -q
expect_exit 0 "unlock --all --json" "$LOKT" unlock --all --json
check "... says how many" test "$(jget 'd["released"]' <<<"$OUT")" = 2
expect_exit 64 "a bad --ttl before --json: usage (64)" "$LOKT" lock --ttl soon --json j1
check "... still one JSON document on stdout" is_json <<<"$OUT"
check "... error usage, with the message" test "$(jget 'd["error"]' <<<"$OUT")" = usage
contains "$(jget 'd["message"]' <<<"$OUT")" 'bad duration "soon"' "... saying what was wrong"
expect_exit 64 "unlock --json --frce: usage, as JSON" "$LOKT" unlock j1 --json --frce
check "... error usage" test "$(jget 'd["error"]' <<<"$OUT")" = usage
# --json before the command: a usage error, in JSON too, saying where
# it goes (it was plain text only).
expect_exit 64 "lokt --json status: usage (64)" "$LOKT" --json status
check "... as one JSON document, error usage" test "$(jget 'd["error"]' <<<"$OUT")" = usage
contains "$(jget 'd["message"]' <<<"$OUT")" "lokt status ... --json" "... saying where --json goes"
expect_exit 3 "unlock --json of a free name: the refusal as JSON" "$LOKT" unlock j2 --json
check "... error not_found" test "$(jget 'd["error"]' <<<"$OUT")" = not_found

# --- --detach -------------------------------------------------------------
expect_exit 64 "--detach without --ttl: usage" "$LOKT" lock dt --detach
contains "$ERR" "--detach needs --ttl" "... saying a TTL is needed"
expect_exit 64 "--detach with --holder: usage" "$LOKT" lock dt --detach --ttl 1h --holder $$
bash -c '"$LOKT" lock dt --ttl 1h --detach' >"$T/dt.out" 2>&1
check "a shell takes dt --detach and exits" test $? -eq 0
expect_exit 0 "dt is still held after that shell is gone" "$LOKT" exists dt
expect_exit 2 "another owner is refused" env LOKT_OWNER=eve "$LOKT" lock dt
contains "$ERR" "(detached)" "... told it is a detached lock"
"$LOKT" status >"$T/st.out"
check "status shows it detached" grep -q "dt .*(detached)" "$T/st.out"
bash -c '"$LOKT" lock dt' >"$T/dt2.out" 2>&1
contains "$(cat "$T/dt2.out")" "renewed" "the owner's next step renews it, from another shell"
check "... and it keeps a TTL (renewed without --ttl)" \
	test "$("$LOKT" status dt --json | jget 'd["ttl_sec"]')" = 3600
"$LOKT" lock dx --ttl 1s --detach -q
check "a detached lock ends by its TTL" wait_for 10 eval '! "$LOKT" exists dx'
# A detached lock taken with an agent id is that agent's alone (its
# holder, pid 1, is everyone's ancestor): the owner without it is refused.
LOKT_AGENT_ID=ci-7 "$LOKT" lock da --ttl 1h --detach -q
expect_exit 2 "a detached lock of agent ci-7: the owner without it is refused" "$LOKT" lock da
expect_exit 0 "... with it, renews" env LOKT_AGENT_ID=ci-7 "$LOKT" lock da
expect_exit 0 "... and why says so" env LOKT_AGENT_ID=ci-7 "$LOKT" why da
check "... by the agent id, not by running inside pid 1" \
	eval 'grep -q "you share its LOKT_AGENT_ID" <<<"$OUT" && ! grep -q "run inside it" <<<"$OUT"'
"$LOKT" unlock da -q
expect_exit 0 "the owner releases it from anywhere" bash -c '"$LOKT" unlock dt'
expect_exit 3 "... and it is free" "$LOKT" exists dt

# pid1 CMD...: lokt as the first process of a new pid namespace.
pid1() { unshare --pid --fork --mount-proc "$LOKT" "$@"; }
if [ "$(id -u)" -ne 0 ] || ! unshare --pid --fork --mount-proc true 2>/dev/null; then
	skip "lokt as pid 1" "needs root for a pid namespace (unshare --pid)"
else
	expect_exit 0 "as pid 1: freeze" pid1 freeze p1 --ttl 1h
	expect_exit 2 "as pid 1: why (frozen)" pid1 why p1
	expect_exit 0 "as pid 1: status" pid1 status
	expect_exit 0 "as pid 1: unfreeze" pid1 unfreeze p1
	expect_exit 0 "as pid 1: doctor" pid1 doctor
	expect_exit 0 "as pid 1: audit" pid1 audit --tail 1
	expect_exit 3 "as pid 1: unlock of a free name (3)" pid1 unlock p1
	expect_exit 1 "as pid 1: lock is refused" pid1 lock p1
	contains "$ERR" "no process called it" "... saying no caller could hold it"
	contains "$ERR" "lokt guard p1 -- CMD" "... and pointing to guard"
	contains "$ERR" "--detach" "... and to --detach"
	expect_exit 3 "... and took nothing" "$LOKT" exists p1
	expect_exit 0 "as pid 1: guard runs its command under the lock" \
		pid1 guard p1 -- true
	expect_exit 0 "as pid 1: lock --detach" pid1 lock p1 --ttl 1h --detach
	expect_exit 0 "... held, seen from outside that pid namespace" "$LOKT" exists p1
	"$LOKT" unlock p1 -q

	# guard as pid 1 without --ttl: killed with its namespace (a
	# container's end), its lock of pid 1 would never end.
	pid1 guard p2 -- "$LOKT" status p2 --json >"$T/p2.json" 2>/dev/null
	check "as pid 1: guard without --ttl gives its lock a TTL (30s)" \
		test "$(jget 'd["ttl_sec"]' <"$T/p2.json")" = 30
	unshare --pid --fork --mount-proc "$LOKT" guard p3 -- sleep 600 &
	ns=$!
	wait_for 20 "$LOKT" exists p3
	kill -KILL "$(pgrep -P "$ns")" # guard, pid 1 there: its namespace ends
	wait "$ns" 2>/dev/null
	# The kernel kills the rest of the namespace after guard's files
	# are closed: its watchdog may see that first and release the lock.
	"$LOKT" status p3 --json >"$T/p3.json"
	check "... killed with its namespace, its lock is released or ends by that TTL" \
		test "$(jget 'd.get("ttl_sec") if d["held"] else 30' <"$T/p3.json")" = 30
	"$LOKT" unlock p3 -q 2>/dev/null

	# A holder in another pid namespace whose host name is this host's
	# (a container sharing it, as a Kubernetes pod of hostNetwork): its
	# pid names another process here, so it is judged as another
	# host's, by its TTL alone (docs/protocol.md, "Staleness").
	unshare --pid --fork --mount-proc sh -c \
		'sh -c "\"\$LOKT\" lock pn -q && sleep 600; true"; true' &
	ns=$!
	wait_for 20 "$LOKT" exists pn
	expect_exit 2 "a lock of another pid namespace with this host's name is held" \
		"$LOKT" lock pn
	check "... not broken as dead or reused" test -z "$(echo "$ERR" | grep -i stale)"
	contains "$("$LOKT" why pn)" "in another pid namespace" "... and why says where its holder runs"
	check "... status calls it remote" \
		test "$("$LOKT" status pn --json | jget 'd["state"]')" = remote
	kill -KILL "$(pgrep -P "$ns")"
	wait "$ns" 2>/dev/null
	"$LOKT" unlock pn -q
fi

done_testing
