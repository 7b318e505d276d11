#!/bin/bash
# SPDX-License-Identifier: MIT
# Who holds a lock taken with `lokt lock`: the process that ran lokt.
# Owner alice's lock, held by a live bash, is not stealable by owner bob;
# alice from an unrelated bash ("another terminal") is refused too; a
# subshell of the holding bash re-enters (renews); the same LOKT_AGENT_ID
# re-enters from anywhere; --holder PID makes PID the holder; alice can
# release from anywhere.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# alice's holder: takes h, then on request re-enters from a subshell.
LOKT_OWNER=alice bash -c '
	"$LOKT" lock h -q || exit 1
	: >"$T/ready"
	while [ ! -e "$T/go" ]; do sleep 0.05; done
	( "$LOKT" why h >"$T/why.out" 2>&1; echo $? >"$T/why.rc"
	  "$LOKT" why h --json >"$T/why.json" 2>&1
	  "$LOKT" lock h >"$T/re.out" 2>&1; echo $? >"$T/re.rc.tmp"; mv "$T/re.rc.tmp" "$T/re.rc" )
	exec sleep 600' &
apid=$!
track "$apid"
if ! wait_for 30 test -e "$T/ready"; then
	not_ok "alice's bash took lock h"
	done_testing
	exit 1
fi
ok "alice's bash took lock h"
check "lock file names the bash as holder (pid $apid)" \
	test "$(jget 'd["pid"]' < <(record h))" = "$apid"

export LOKT_OWNER=bob
expect_exit 2 "bob: lock h → 2 (held)" "$LOKT" lock h
contains "$ERR" "alice@" "bob's refusal names the holder"
expect_exit 4 "bob: unlock h → 4 (not owner)" "$LOKT" unlock h
expect_exit 4 "bob: unlock h --break-stale → 4 (the holder is alive)" \
	"$LOKT" unlock h --break-stale
check "h still held by alice's bash" test "$(jget 'd["pid"]' < <(record h)) $(jget 'd["owner"]' < <(record h))" = "$apid alice"

expect_exit 2 "bob: why h → 2 (held)" "$LOKT" why h
contains "$OUT" "held by alice@" "bob's why names the holder"

export LOKT_OWNER=alice
expect_exit 2 "alice from another bash → 2 (held)" \
	bash -c '"$LOKT" lock h; exit $?'
expect_exit 2 "alice from this script (not inside the holder) → 2" "$LOKT" lock h
expect_exit 2 "alice (a stranger to the holder): why h → 2" "$LOKT" why h
contains "$OUT" "is held by alice@" "the stranger is told who holds it"
check "the stranger is not told they hold it" eval '! grep -q "You hold" <<<"$OUT"'

: >"$T/go"
if wait_for 30 test -e "$T/re.rc"; then
	check "a subshell of the holder re-enters: exit 0 (got $(cat "$T/re.rc"))" \
		grep -qx 0 "$T/re.rc"
	contains "$(cat "$T/re.out")" "renewed" "the re-entry says renewed"
	check "why from a subshell of the holder → 0 (got $(cat "$T/why.rc"))" \
		grep -qx 0 "$T/why.rc"
	contains "$(cat "$T/why.out")" "You hold lock \"h\"" "why tells the holder's subshell it holds h"
	contains "$(cat "$T/why.out")" "would renew it" "... and that lokt lock would renew it"
	check "why --json: acquirable, reason yours" test \
		"$(jget '[d["acquirable"], d["reason"]]' <"$T/why.json" 2>/dev/null)" = '[true, "yours"]'
else
	not_ok "the holder's subshell ran lokt lock h"
fi
check "the holder is still alice's bash" test "$(jget 'd["pid"]' < <(record h))" = "$apid"
check "h is held" "$LOKT" exists h

expect_exit 0 "alice releases h from anywhere" "$LOKT" unlock h
expect_exit 3 "h is free" "$LOKT" exists h

# --- LOKT_AGENT_ID ------------------------------------------------------
export LOKT_OWNER=carol
LOKT_AGENT_ID=agent-7 hold carol ag || not_ok "carol (agent-7) took ag"
check "agent_id recorded in the lock file" \
	test "$(jget 'd.get("agent_id")' < <(record ag))" = agent-7
expect_exit 2 "carol with another agent id → 2" env LOKT_AGENT_ID=agent-8 "$LOKT" lock ag
expect_exit 2 "carol with no agent id → 2" "$LOKT" lock ag
expect_exit 0 "why with the same agent id → 0" env LOKT_AGENT_ID=agent-7 "$LOKT" why ag
contains "$OUT" "You hold lock" "same agent id: why says you hold it"
expect_exit 2 "why with another agent id → 2" env LOKT_AGENT_ID=agent-8 "$LOKT" why ag
expect_exit 0 "carol with the same agent id re-enters from an unrelated process" \
	env LOKT_AGENT_ID=agent-7 "$LOKT" lock ag
contains "$OUT" "renewed" "same agent id: renewed"
"$LOKT" unlock ag -q

# --- --holder PID -------------------------------------------------------
sleep 600 &
spid=$!
track "$spid"
expect_exit 0 "lock hp --holder PID" "$LOKT" lock hp --holder "$spid"
check "the lock file names PID" test "$(jget 'd["pid"]' < <(record hp))" = "$spid"
expect_exit 0 "hp held while PID lives" "$LOKT" exists hp
expect_exit 2 "another holder is refused" env LOKT_OWNER=dave "$LOKT" lock hp
kill -9 "$spid"
wait "$spid" 2>/dev/null
expect_exit 3 "PID killed → hp is stale (exists → 3)" "$LOKT" exists hp
expect_exit 64 "--holder of a process that does not exist → 64" \
	"$LOKT" lock hq --holder "$spid"
expect_exit 64 "--holder that is not a pid → 64" "$LOKT" lock hq --holder abc

# --- a wrapper as lokt's parent -----------------------------------------------
# timeout (sudo, su, xargs, ...) runs lokt as its child and exits with
# it: the holder was gone at once, the lock stale and broken by the next
# lock while the work ran. Refused (64) before anything is written.
expect_exit 64 "timeout 30 lokt lock tw: refused (64)" timeout 30 "$LOKT" lock tw --wait
contains "$ERR" 'is "timeout"' "... naming the wrapper"
contains "$ERR" "--holder" "... and what to do"
expect_exit 3 "... nothing was written" "$LOKT" exists tw
expect_exit 0 "timeout 30 lokt lock tw --holder \$\$: taken" timeout 30 "$LOKT" lock tw --holder $$
expect_exit 0 "... and held while this shell runs" "$LOKT" exists tw
"$LOKT" unlock tw -q
# Known by the executable: a script named "time" runs bash, and holds.
mkdir -p "$T/bin"
printf '#!/bin/bash\n"$LOKT" lock tw -q\n' >"$T/bin/time"
chmod +x "$T/bin/time"
expect_exit 0 "a script named time (bash) may hold" "$T/bin/time"
"$LOKT" unlock tw -q

# --- unlock --lock-id: that acquisition only -----------------------------
# The same owner may release from anywhere: a script whose lock ran out
# (its TTL shorter than its work) and was taken by the next run would,
# with a plain unlock, release that run's live lock. --lock-id releases
# its own acquisition or nothing.
export LOKT_OWNER=erin
json=$("$LOKT" lock li --ttl 1s --holder $$ --json)
id=$(jget 'd["lock_id"]' <<<"$json")
check "lock --json gives the lock_id ($id)" test "${#id}" = 32
sleep 1.2 # the TTL runs out; the next run breaks the lock and takes it
hold erin li --ttl 1m || not_ok "the next run of erin takes li"
fence=$(jget 'd["fence"]' < <(record li))
expect_exit 1 "unlock li --lock-id of the run before: exit 1" "$LOKT" unlock li --lock-id "$id"
contains "$ERR" "nothing was released" "... saying nothing was released"
expect_exit 0 "... and the next run's lock stands" "$LOKT" exists li
check "... the same lock (fence $fence)" test "$(jget 'd["fence"]' < <(record li))" = "$fence"
check "... audited as lost by the run before" test "$(audit_count lost li)" = 1
expect_exit 1 "--json: the refusal as one document, error lost" "$LOKT" unlock li --lock-id "$id" --json
check "... error lost" test "$(jget 'd["error"]' <<<"$OUT")" = lost
id2=$(jget 'd["lock_id"]' < <(record li))
# A lock_id is no secret (the file, status --json): naming it gives no
# more than a plain unlock. Another owner's was released, audited as a
# release.
expect_exit 4 "another owner's unlock li --lock-id of erin's lock: not owner (4)" \
	env LOKT_OWNER=mallory "$LOKT" unlock li --lock-id "$id2"
expect_exit 0 "... erin's lock stands" "$LOKT" exists li
LOKT_OWNER=erin hold erin sl --slots 2 || not_ok "erin takes a place of sl"
sid=$("$LOKT" status --json | jget '[l["lock_id"] for l in d["locks"] if l["name"] == "sl"][0]')
expect_exit 4 "... nor a place of a semaphore (4)" env LOKT_OWNER=mallory "$LOKT" unlock sl --lock-id "$sid"
expect_exit 0 "... erin's place stands" "$LOKT" exists sl
expect_exit 0 "erin releases her place by its lock_id" "$LOKT" unlock sl --lock-id "$sid"
expect_exit 3 "... free" "$LOKT" exists sl
expect_exit 0 "unlock li --lock-id of the lock there: released" "$LOKT" unlock li --lock-id "$id2"
expect_exit 3 "... free" "$LOKT" exists li
expect_exit 1 "--lock-id on a free name: exit 1 (that acquisition is gone)" "$LOKT" unlock li --lock-id "$id2"
expect_exit 64 "--lock-id that is no lock_id → 64" "$LOKT" unlock li --lock-id 'x y'
expect_exit 64 "--lock-id null (jq's answer for a refusal) → 64" "$LOKT" unlock li --lock-id null
expect_exit 64 "--lock-id with --force → 64" "$LOKT" unlock li --lock-id "$id2" --force --yes
expect_exit 64 "--lock-id with --all → 64" "$LOKT" unlock --all --lock-id "$id2"

done_testing
