#!/bin/bash
# SPDX-License-Identifier: MIT
# Semaphores (--slots N) and shared locks (--shared), one holder at a
# time: each holder its own lock_id and fence, re-entry, refusals in the
# wrong mode that leave the store as it was, what status, why and exists
# say, release per holder, stale holders broken one by one, and what
# lokt 1.x reads of such a name (docs/protocol.md, "Slots and shared
# locks").
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# The record's bytes, a file or an etcd key (common.sh: record).
sum() { record "$1" | sha256sum | cut -d' ' -f1; }

# ---- usage ---------------------------------------------------------------
expect_exit 64 "--slots 0 is a usage error" "$LOKT" lock u --slots 0
contains "$ERR" "1 to 32" "... saying what is allowed"
expect_exit 64 "--slots 33 is a usage error" "$LOKT" lock u --slots 33
expect_exit 64 "--slots \" 3\" (not digits alone) is a usage error" "$LOKT" lock u --slots " 3"
expect_exit 64 "--slots +3 is a usage error" "$LOKT" lock u --slots +3
expect_exit 64 "--slots with --shared is a usage error" \
	"$LOKT" lock u --slots 2 --shared
expect_exit 64 "guard: --slots with --shared is a usage error" \
	"$LOKT" guard u --slots 2 --shared -- true
check "nothing was made by usage errors" eval "! has_record u"

# ---- a semaphore of 2 --------------------------------------------------
hold alice sem --slots 2
h1=$HOLDER
hold bob sem --slots 2
h2=$HOLDER
n=$("$LOKT" status --json | jget 'len([l for l in d["locks"] if l["name"] == "sem"])')
check "status --json lists both holders (got $n)" test "$n" = 2
ids=$("$LOKT" status --json |
	jget '" ".join(sorted(set(l["lock_id"] for l in d["locks"])))')
check "each holder has its own lock_id ($ids)" test "$(wc -w <<<"$ids")" = 2
fences=$("$LOKT" status --json | jget '" ".join(str(l["fence"]) for l in d["locks"])')
check "each holder has its own fence ($fences)" \
	test "$(tr ' ' '\n' <<<"$fences" | sort -u | wc -l)" = 2
contains "$("$LOKT" status --json | jget 'd["locks"][0]["slots"]')" 2 \
	"status --json says the semaphore's N"
txt=$("$LOKT" status)
contains "$txt" "alice@" "status lists alice's slot"
contains "$txt" "bob@" "status lists bob's slot"

before=$(sum sem)
expect_exit 2 "a third holder is refused (exit 2)" "$LOKT" lock sem --slots 2
contains "$ERR" "all 2 slots" "... saying the slots are taken"
expect_exit 2 "another N is refused (exit 2)" "$LOKT" lock sem --slots 3
contains "$ERR" "semaphore of 2 slots" "... saying which N the name has"
expect_exit 2 "another N is refused at once even with --wait" \
	"$LOKT" lock sem --slots 3 --wait --timeout 30s
expect_exit 2 "an exclusive request is refused" "$LOKT" lock sem
contains "$ERR" "--slots 2" "... saying how to ask"
expect_exit 2 "a shared request is refused" "$LOKT" lock sem --shared
check "the refusals left the record as it was" test "$(sum sem)" = "$before"
check "the refusals are audited as deny, reason mode" \
	test "$(audit_count deny sem mode)" = 4

out=$("$LOKT" why sem)
contains "$out" "2 of 2 slots taken, by" "why: 2 of 2 slots taken, by ..."
contains "$out" "alice@" "why names the holders"
expect_exit 0 "exists: a held semaphore exists" "$LOKT" exists sem
expect_exit 0 "status NAME: held (exit 0)" "$LOKT" status sem
contains "$OUT" "a semaphore of 2 slots, 2 held" "status NAME says the semaphore's N"
contains "$OUT" "bob@" "status NAME shows each holder"

# The gate record re-indented by hand (jq's output, put back): still the
# semaphore. On etcd, where its bytes were matched exactly, it read as a
# corrupt record, and an exclusive lock broke it while both held.
record sem | "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2))' >"$T/sem.pretty"
plant sem <"$T/sem.pretty"
expect_exit 0 "re-indented by hand: status sem still holds" "$LOKT" status sem
contains "$OUT" "a semaphore of 2 slots, 2 held" "... both slots"
expect_exit 2 "... and an exclusive lock is refused, not breaking it" "$LOKT" lock sem
check "... no corrupt-break" test "$(audit_count corrupt-break sem)" = 0
check "status NAME --json lists the holders" \
	test "$("$LOKT" status sem --json | jget 'len(d["holders"])')" = 2

# the lokt 1.x view of it: a lock held on another host with no TTL
if ! on_etcd; then # lokt 1.x knows only the directory store
"$PY" - "$(lockfile sem)" >"$T/v1" 2>&1 <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and d["name"] == "sem", d
assert isinstance(d["owner"], str) and isinstance(d["pid"], int)
assert isinstance(d["acquired_ts"], str) and isinstance(d["lock_id"], str)
assert "ttl_sec" not in d and "expires_at" not in d, "1.x would expire it"
import socket
assert d["host"] != socket.gethostname(), "1.x would judge its pid here"
print("held", d["owner"], d["host"])
PYEOF
check "lokt 1.x reads a held lock of another host with no TTL ($(cat "$T/v1"))" \
	grep -q '^held lokt-slots lokt-slots.invalid$' "$T/v1"
# lokt 1.x takes a lock by creating its file with O_EXCL
check "lokt 1.x cannot create the lock file (O_EXCL: it exists)" \
	"$PY" -c 'import os, sys
try:
    os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except FileExistsError:
    sys.exit(0)
sys.exit(1)' "$(lockfile sem)"
fi

# re-entry: a holder asking again renews its own slot
f1=$("$LOKT" status --json |
	jget "[l['fence'] for l in d['locks'] if l['pid'] == $h1][0]")
out=$(LOKT_OWNER=alice "$LOKT" lock sem --slots 2 --holder "$h1")
contains "$out" "renewed" "a holder asking again renews its slot"
contains "$out" "fence $f1" "... keeping its fence"
check "... and adds no holder" test "$("$LOKT" status --json |
	jget 'len(d["locks"])')" = 2

# a SIGKILLed holder's slot is broken by the next acquisition, alone (on
# etcd its keeper, tracking the holder, gives the slot back at once)
kill -9 "$h1" 2>/dev/null
reap "$h1" 2>/dev/null
if on_etcd; then
	check "etcd: the dead holder's keeper released its slot" \
		wait_for 10 eval '[ "$("$LOKT" status --json | jget "len(d[\"locks\"])")" = 1 ]'
fi
hold carol sem --slots 2
h3=$HOLDER
check "a dead holder's slot is taken over" has_record sem
if ! on_etcd; then
	check "... its break audited as stale-break, reason dead" \
		test "$(audit_count stale-break sem dead)" = 1
fi
contains "$("$LOKT" status)" "bob@" "... the live holder kept its slot"
f3=$("$LOKT" status --json |
	jget "[l['fence'] for l in d['locks'] if l['pid'] == $h3][0]")
check "the new holder's fence is above every earlier one ($f3 > $fences)" \
	test "$f3" -gt "$(tr ' ' '\n' <<<"$fences" | sort -n | tail -1)"

# release per owner: bob's slot only
expect_exit 4 "carol cannot release bob's slot" \
	env LOKT_OWNER=dave "$LOKT" unlock sem
LOKT_OWNER=bob "$LOKT" unlock sem -q
check "bob released his slot, carol's is left" \
	test "$("$LOKT" status --json | jget '[l["owner"] for l in d["locks"]]')" = '["carol"]'
LOKT_OWNER=carol "$LOKT" unlock sem -q
check "the last release removes the record" eval "! has_record sem"
expect_exit 3 "exists: free again" "$LOKT" exists sem
kill -9 "$h2" "$h3"
reap "$h2" 2>/dev/null
reap "$h3" 2>/dev/null

# every holder gone: why explains the semaphore and its stale holders
# (not its gate record, pid 1 of "lokt-slots"), and any mode may take it
sleep 600 &
sg=$!
"$LOKT" lock allgone --slots 2 --holder "$sg" -q
kill -9 "$sg"
reap "$sg" 2>/dev/null
expect_exit 0 "why, every holder dead: it could be taken" "$LOKT" why allgone
if on_etcd; then # the dead holder's keeper releases its place
	check "... free (its keeper released the place)" \
		wait_for 20 eval '"$LOKT" why allgone | grep -q "is free"'
else
	contains "$OUT" "semaphore: 0 of 2 slots taken. 1 more holder is stale" \
		"... a semaphore with a stale holder"
fi
check "... not its gate record" eval '! grep -q "lokt-slots" <<<"$OUT"'
check "... nor that another mode is refused" eval '! grep -q "another mode" <<<"$OUT"'
expect_exit 0 "... and an exclusive lock takes it" "$LOKT" lock allgone -q
"$LOKT" unlock allgone -q

# a TTL per holder: an expired slot is broken, a live one is kept
sleep 600 &
s1=$!
track "$s1"
"$LOKT" lock ttl --slots 2 --ttl 1s --holder "$s1" -q
hold erin ttl --slots 2
wait_for 10 eval '"$LOKT" status --json | grep -q "\"expired\""'
"$LOKT" status --prune-expired >/dev/null
check "prune-expired removed the expired slot only (auto-prune, expired)" \
	test "$(audit_count auto-prune ttl expired)" = 1
check "... the live one is left" \
	test "$("$LOKT" status --json | jget '[l["owner"] for l in d["locks"]]')" = '["erin"]'
LOKT_OWNER=erin "$LOKT" unlock --all -q
check "unlock --all releases the owner's slots" eval "! has_record ttl"
# The name's own state is its live holder's: "live" here (it said
# "remote", the state of the record's placeholder host).
LOKT_OWNER=erin "$LOKT" lock st --slots 2 --holder "$s1" -q
check "status --json of a semaphore held here: state live" \
	test "$("$LOKT" status st --json | jget 'd["state"]')" = live
LOKT_OWNER=erin "$LOKT" unlock st -q
# Holders whose names take the record past its 64 KiB before 32 of them
# (control characters: six bytes each once escaped): the next is refused
# as for a full name, exit 2, never "Argument list too long", exit 1.
if ! on_etcd; then
	own=$(printf '\x01%.0s' $(seq 255))
	for i in $(seq 1 32); do
		ag="$(printf '\x02%.0s' $(seq 240))$i"
		LOKT_OWNER=$own LOKT_AGENT_ID=$ag "$LOKT" lock big --shared --ttl 1h --detach -q 2>"$T/big.err"
		rc=$?
		[ "$rc" = 0 ] || break
	done
	check "shared holders of long escaped names: holder $i refused as held (exit 2, got $rc: $(cut -c1-80 "$T/big.err"))" \
		test "$i" -lt 32 -a "$rc" = 2
	LOKT_OWNER=$own "$LOKT" unlock --all -q
	# The same, full to its bytes, with a small holder gone: dropping
	# it leaves no room for the next big one, which is refused, and the
	# record stays as it was. A stale-break of that holder was audited
	# all the same, for a break that did not happen (and again at every
	# try).
	sleep 600 &
	sb=$!
	LOKT_OWNER=small "$LOKT" lock big2 --shared --holder "$sb" -q
	for i in $(seq 1 32); do
		ag="$(printf '\x02%.0s' $(seq 240))$i"
		LOKT_OWNER=$own LOKT_AGENT_ID=$ag "$LOKT" lock big2 --shared --ttl 1h --detach -q 2>/dev/null || break
	done
	kill "$sb"
	wait "$sb" 2>/dev/null
	before=$(cat "$LOKT_ROOT/locks/big2.json")
	for n in 1 2; do
		LOKT_OWNER=$own LOKT_AGENT_ID="$(printf '\x02%.0s' $(seq 240))x$n" "$LOKT" lock big2 --shared --ttl 1h --detach -q 2>"$T/big.err"
		rc=$?
	done
	check "... the record full, a small holder gone: the next big one refused (exit 2, got $rc)" test "$rc" = 2
	check "... the record as it was" test "$(cat "$LOKT_ROOT/locks/big2.json")" = "$before"
	check "... no stale-break audited for the holder left in it ($(audit_count stale-break big2))" \
		test "$(audit_count stale-break big2)" = 0
	expect_exit 0 "... a small one fits in its place" env LOKT_OWNER=small2 "$LOKT" lock big2 --shared --ttl 1h --detach
	check "... and its stale-break is audited once" test "$(audit_count stale-break big2)" = 1
	LOKT_OWNER=$own "$LOKT" unlock --all -q
	LOKT_OWNER=small2 "$LOKT" unlock --all -q
fi
# Counted as status lists them: each place (they counted one per name).
sleep 600 &
s2=$!
track "$s2"
LOKT_OWNER=erin "$LOKT" lock cnt --slots 3 --holder "$s1" -q
LOKT_OWNER=erin "$LOKT" lock cnt --slots 3 --holder "$s2" -q
LOKT_OWNER=erin "$LOKT" unlock --all --json >"$T/cnt.json"
check "unlock --all of two places of one name: released 2 ($(cat "$T/cnt.json"))" \
	test "$(jget 'd["released"]' <"$T/cnt.json")" = 2
"$LOKT" lock cnt --slots 3 --ttl 1s --holder "$s1" -q
"$LOKT" lock cnt --slots 3 --ttl 1s --holder "$s2" -q
wait_for 10 eval '[ "$("$LOKT" status --json | grep -o "\"expired\"" | wc -l)" = 2 ]'
"$LOKT" status --prune-expired --json >"$T/cnt.json"
check "--prune-expired of two expired places of one name: pruned 2" \
	test "$(jget 'd["pruned"]' <"$T/cnt.json")" = 2

# detached places, one per LOKT_AGENT_ID (CI steps in separate shells)
LOKT_AGENT_ID=ci-1 "$LOKT" lock det --slots 2 --ttl 1h --detach -q
LOKT_AGENT_ID=ci-2 "$LOKT" lock det --slots 2 --ttl 1h --detach -q
check "two detached places, one per agent" \
	test "$("$LOKT" status --json | jget 'len([l for l in d["locks"] if l["name"] == "det"])')" = 2
expect_exit 2 "a third agent finds both taken" \
	env LOKT_AGENT_ID=ci-3 "$LOKT" lock det --slots 2 --ttl 1h --detach
out=$(LOKT_AGENT_ID=ci-1 "$LOKT" lock det --slots 2 --ttl 2h --detach)
contains "$out" "renewed" "an agent asking again renews its own place"
LOKT_AGENT_ID=ci-1 "$LOKT" unlock det -q
check "unlock by an agent releases its own place only" \
	test "$("$LOKT" status --json | jget '[l["agent_id"] for l in d["locks"] if l["name"] == "det"]')" = '["ci-2"]'
LOKT_AGENT_ID=ci-2 "$LOKT" unlock det -q

# ---- shared, and the writer -------------------------------------------
hold r1 rw --shared
hold r2 rw --shared
n=$("$LOKT" status --json | jget 'len([l for l in d["locks"] if l["name"] == "rw"])')
check "two shared holders at once (got $n)" test "$n" = 2
before=$(sum rw)
expect_exit 2 "the writer (exclusive) is held by readers" "$LOKT" lock rw
contains "$ERR" "shared holders" "... saying it has shared holders"
expect_exit 2 "--slots on a shared name is refused" "$LOKT" lock rw --slots 2
check "refusals left the record as it was" test "$(sum rw)" = "$before"
contains "$("$LOKT" why rw)" "2 shared holders" "why: 2 shared holders"
check "... and that --shared joins them" eval '"$LOKT" why rw | grep -q -- "--shared joins them"'
# A writer queued: a new shared request is refused (it would starve the
# writer), and why says so (it said --shared joins them).
LOKT_OWNER=w0 "$LOKT" lock rw --wait --timeout 60s -q &
wq=$!
track "$wq"
wait_for 30 eval '[ "$(waiters rw)" = 1 ]'
expect_exit 2 "a writer queued: a new shared request is refused" "$LOKT" lock rw --shared
expect_exit 2 "... why says it would wait" "$LOKT" why rw
check "... not that --shared joins them" eval '! grep -q -- "--shared joins them" <<<"$OUT"'
contains "$OUT" "lokt lock rw --shared is refused (exit 2) until they have had their turn" \
	"... but that lokt lock rw --shared is refused while the writer waits"
kill "$wq" 2>/dev/null
reap "$wq"
wait_for 30 eval '[ "$(waiters rw)" = 0 ]'
"$LOKT" unlock rw --force --yes -q
check "unlock --force removes every holder" eval "! has_record rw"
check "... each audited force-break" test "$(audit_count force-break rw)" = 2

hold w1 rw2
before=$(sum rw2)
expect_exit 2 "a shared request is held by the writer" "$LOKT" lock rw2 --shared
expect_exit 2 "--slots on an exclusive lock is refused" "$LOKT" lock rw2 --slots 2
contains "$ERR" "held exclusively" "... saying it is held exclusively"
check "refusals left the writer's record as it was" test "$(sum rw2)" = "$before"

# ---- freezes block new holders of every kind ----------------------------
hold f1 fz --slots 2
hf=$HOLDER
"$LOKT" freeze fz --ttl 1m -q
"$LOKT" freeze fzs --ttl 1m -q
before=$(sum fz)
expect_exit 2 "frozen: a new slot is refused" "$LOKT" lock fz --slots 2
contains "$ERR" "frozen" "... saying the name is frozen"
expect_exit 2 "frozen: why says blocked" "$LOKT" why fz
check "... and not that a slot could be taken now" \
	eval '! grep -q "would take a slot now" <<<"$OUT"'
expect_exit 2 "frozen: a guard waiting for a slot times out" \
	"$LOKT" guard fz --slots 2 --wait --timeout 1s -- true
check "... the record as it was" test "$(sum fz)" = "$before"
out=$(LOKT_OWNER=f1 "$LOKT" lock fz --slots 2 --holder "$hf")
contains "$out" "renewed" "frozen: a holder renews its own slot"
expect_exit 2 "frozen: a first shared holder is refused" "$LOKT" lock fzs --shared
expect_exit 2 "frozen: a first slot is refused" "$LOKT" lock fzs --slots 3
check "... nothing was made" eval "! has_record fzs"
check "the refusals are audited freeze-deny" \
	test "$(($(audit_count freeze-deny fz) + $(audit_count freeze-deny fzs)))" -ge 3
"$LOKT" unfreeze fz -q
"$LOKT" unfreeze fzs -q
expect_exit 0 "unfrozen: the second slot is given" \
	"$LOKT" lock fz --slots 2 --holder 1 --ttl 1m
expect_exit 0 "unfrozen: a shared holder is given" \
	"$LOKT" lock fzs --shared --holder 1 --ttl 1m
"$LOKT" unlock fz --force --yes -q
"$LOKT" unlock fzs --force --yes -q
kill -9 "$hf"
reap "$hf" 2>/dev/null

# a lock whose owner is named like a gate's host is a lock, with its fence
LOKT_OWNER=lokt-slots.invalid "$LOKT" lock spoof --holder 1 --ttl 1m -q
f=$("$LOKT" status spoof --json | jget 'd["fence"]')
check "an owner named lokt-slots.invalid keeps its lock's fence ($f)" \
	test "${f:-0}" -gt 0
"$LOKT" unlock spoof --force --yes -q

# ---- guard: LOKT_FENCE and LOKT_LOCK_ID of its own slot ---------------
"$LOKT" guard g --slots 2 -q -- sh -c \
	'echo "$LOKT_LOCK_ID $LOKT_FENCE" >"$1"; while [ ! -e "$2" ]; do sleep 0.02; done' \
	sh "$T/g1" "$T/g1.go" &
g1=$!
track "$g1"
wait_for 30 test -s "$T/g1"
"$LOKT" guard g --slots 2 -q -- sh -c 'echo "$LOKT_LOCK_ID $LOKT_FENCE" >"$1"' \
	sh "$T/g2"
read -r id1 fe1 <"$T/g1"
read -r id2 fe2 <"$T/g2"
check "two guards share the semaphore, each with its own lock_id ($id1, $id2)" \
	test -n "$id1" -a -n "$id2" -a "$id1" != "$id2"
check "... and its own fence ($fe1 < $fe2)" test "$fe1" -lt "$fe2"
check "the second guard released only its own slot" \
	test "$("$LOKT" status --json | jget '[l["lock_id"] for l in d["locks"] if l["name"] == "g"]')" = "[\"$id1\"]"
: >"$T/g1.go"
reap "$g1"
check "the first guard exited 0 and released its slot" \
	eval '[ "$RC" = 0 ] && ! has_record g'

done_testing
