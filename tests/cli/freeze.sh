#!/bin/bash
# SPDX-License-Identifier: MIT
# Freezes: a freeze blocks lock and guard (exit 2, the message names the
# freezer) but not a holder already inside (its renewals go on); another
# owner cannot unfreeze (4) unless --force (audited force-unfreeze); an
# expired freeze blocks nothing; the lock "freeze-x" and the freeze "x"
# are different things.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

ops() { LOKT_OWNER=ops "$LOKT" "$@"; }
export LOKT_OWNER=dev

expect_exit 0 "ops freezes fz for 10m" ops freeze fz --ttl 10m
check "the freeze is recorded with the freezes" has_record fz freeze
check "no lock record for a freeze" eval '! has_record fz'
expect_exit 2 "lock fz while frozen → 2" "$LOKT" lock fz
contains "$ERR" "ops@" "the refusal names the freezer"
contains "$ERR" "frozen" "the refusal says frozen"
expect_exit 2 "guard fz while frozen → 2" "$LOKT" guard fz -- touch "$T/ran"
contains "$ERR" "ops@" "guard's refusal names the freezer"
check "the frozen guard did not run its command" test ! -e "$T/ran"
expect_exit 2 "the freezer's own lock is refused too" ops lock fz
expect_exit 2 "lock --wait --timeout 300ms while frozen → 2" "$LOKT" lock fz --wait --timeout 300ms
expect_exit 0 "ops extends its own freeze" ops freeze fz --ttl 20m
expect_exit 2 "another owner cannot freeze over it → 2" "$LOKT" freeze fz --ttl 5m
expect_exit 4 "unfreeze by another owner → 4" "$LOKT" unfreeze fz
check "the freeze is still there" has_record fz freeze
expect_exit 0 "unfreeze --force by another owner → 0" "$LOKT" unfreeze fz --force
check "audit: force-unfreeze for fz" audit_has force-unfreeze fz
expect_exit 0 "lock fz after the unfreeze → 0" "$LOKT" lock fz
"$LOKT" unlock fz -q

# --- a holder already inside is not interrupted ------------------------
"$LOKT" guard fin --ttl 1s -- sh -c ": >'$T/in'; while [ ! -e '$T/go' ]; do sleep 0.05; done" \
	2>"$T/fin.err" &
gpid=$!
track "$gpid"
if wait_for 30 test -e "$T/in"; then
	expect_exit 0 "ops freezes a name whose holder is inside" ops freeze fin --ttl 10m
	expect_exit 0 "the holder's lock still stands" "$LOKT" exists fin
	ts=$(record fin | jget 'd["acquired_ts"]')
	renewed() { [ "$(record fin | jget 'd["acquired_ts"]' 2>/dev/null)" != "$ts" ]; }
	check "the holder renews while frozen" wait_for 30 renewed
	: >"$T/go"
	reap "$gpid"
	rc=$RC
	check "the guarded command ran to its end: guard exits 0 (got $rc)" test "$rc" -eq 0
	[ "$rc" -eq 0 ] || diag "$(cat "$T/fin.err")"
	expect_exit 2 "after it, the name is frozen for new acquisitions" "$LOKT" lock fin
	ops unfreeze fin -q
else
	not_ok "guarded command started"
fi

# --- expired freezes block nothing -------------------------------------
expect_exit 0 "ops freezes fe for 1s" ops freeze fe --ttl 1s
unfrozen() { "$LOKT" why fe >/dev/null 2>&1; }
check "the freeze expires" wait_for 30 unfrozen
expect_exit 0 "lock fe after the freeze expired → 0" "$LOKT" lock fe
"$LOKT" unlock fe -q
expect_exit 3 "exists fe → 3" "$LOKT" exists fe

# --- freeze "x" and lock "freeze-x" -------------------------------------
expect_exit 0 "ops freezes x" ops freeze x --ttl 10m
expect_exit 0 "lock freeze-x while x is frozen → 0" "$LOKT" lock freeze-x
check "locks/freeze-x.json and freezes/x.json coexist" \
	eval 'has_record freeze-x && has_record x freeze'
expect_exit 2 "x itself is still frozen" "$LOKT" lock x
expect_exit 0 "freeze freeze-x → 0" ops freeze freeze-x --ttl 10m
expect_exit 0 "unfreeze x leaves the lock freeze-x" ops unfreeze x
check "lock freeze-x still held" "$LOKT" exists freeze-x
check "audit: freeze and unfreeze events for x" eval 'audit_has freeze x && audit_has unfreeze x'
check "audit: freeze-deny for x" audit_has freeze-deny x

# A wait that runs out against a freeze (the lock itself free) says the
# name is still frozen, by whom, not that a holder has it; --json puts
# the freeze under "freeze", not "holder".
"$LOKT" freeze fq --ttl 1h -q
expect_exit 2 "lock --wait --timeout 1s on a frozen name: timed out (exit 2)" \
	"$LOKT" lock fq --wait --timeout 1s
contains "$ERR" "still frozen by" "... saying it is still frozen"
check "... not that it is held" eval '! grep -q "held by" <<<"$ERR"'
out=$("$LOKT" lock fq --wait --timeout 1s --json 2>/dev/null)
check "--json: the freeze under \"freeze\"" \
	test "$(jq -r '[.error, (.freeze.name // "none"), (has("holder"))] | @csv' <<<"$out")" = '"timeout","fq",false'
out=$("$LOKT" lock fq --json 2>/dev/null)
check "--json of the refusal without --wait: the freeze under \"freeze\" too" \
	test "$(jq -r '[.error, (.freeze.name // "none"), (has("holder"))] | @csv' <<<"$out")" = '"frozen","fq",false'
out=$(ops freeze fq --ttl 1m --json 2>/dev/null)
check "--json of a freeze refused by another's: the freeze under \"freeze\"" \
	test "$(jq -r '[(.freeze.name // "none"), (has("holder"))] | @csv' <<<"$out")" = '"fq",false'
expect_exit 2 "guard --wait --timeout 1s on it: exit 2" "$LOKT" guard fq --wait --timeout 1s -- true
contains "$ERR" "still frozen by" "... also saying it is still frozen"
# -q silences a busy lock, for lock and guard only (lokt(1)): a freeze
# refused by another's is still said (it was silent, exit 2).
expect_exit 2 "freeze -q refused by another's freeze: exit 2" ops freeze fq --ttl 1m -q
contains "$ERR" "already frozen by" "... and says so"
expect_exit 2 "lock -q of it: exit 2, silent" "$LOKT" lock fq -q
check "... nothing said" test -z "$ERR"
"$LOKT" unfreeze fq -q

# --- status --prune-expired counts locks and freezes -------------------------
# One count for both (lokt_prune's): the message names both, where it
# used to say "pruned 2 stale locks" for a lock and a freeze.
P=$T/prune
LOKT_ROOT=$P "$LOKT" lock px --ttl 1s -q
LOKT_ROOT=$P "$LOKT" freeze pf --ttl 1s -q
sleep 1.2
expect_exit 0 "status --prune-expired of an expired lock and freeze" \
	env LOKT_ROOT="$P" "$LOKT" status --prune-expired
contains "$OUT" "pruned 2 stale locks and expired freezes" "... says it pruned both"
LOKT_ROOT=$P "$LOKT" freeze pf --ttl 1s -q
sleep 1.2
expect_exit 3 "status pf --prune-expired of one expired freeze (no lock pf: 3)" \
	env LOKT_ROOT="$P" "$LOKT" status pf --prune-expired
contains "$OUT" "pruned 1 stale lock or expired freeze" "... says it pruned one"

# --- a freeze and an acquisition under way --------------------------------
# An acquirer that had looked at the freeze (none) and not yet published
# its lock published it after lokt freeze had returned: a new holder
# inside the freeze. The acquirer is held up 300 ms at its publication
# (the directory store's linkat, with strace); the freeze waits for it,
# and the lock is there as soon as the freeze is. (etcd compares the
# freeze in the acquisition's own write.)
if on_etcd; then
	skip "a freeze waits for an acquisition under way" "the etcd store compares the freeze in the acquisition's write"
elif ! command -v strace >/dev/null || ! strace -f -o /dev/null true 2>/dev/null; then
	skip "a freeze waits for an acquisition under way" "no strace to hold the acquisition up"
else
	env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" LOKT_OWNER=dev \
		strace -f -qq -o /dev/null -e trace=linkat -e inject=linkat:delay_enter=300000 \
		"$LOKT" lock fr1 --ttl 5m --holder $$ -q &
	acq=$!
	track "$acq"
	# in its transition: strace's child holds the sidecar's flock
	wait_for 10 eval 'c=$(pgrep -P "$acq"); [ -n "$c" ] && grep -q "FLOCK  ADVISORY  WRITE $c " /proc/locks'
	LOKT_OWNER=oncall "$LOKT" freeze fr1 --ttl 1h -q
	"$LOKT" exists fr1
	held_then=$?
	reap "$acq"
	"$LOKT" exists fr1
	check "the lock under way is there as soon as the freeze is (exists $held_then, then $?; lock exit $RC)" \
		test "$held_then" = 0
	check "... audited before the freeze" \
		test "$("$LOKT" audit --name fr1 --json | jget '",".join(e["event"] for e in d)')" = "acquire,freeze"
	"$LOKT" unlock fr1 -q
	"$LOKT" unfreeze fr1 --force -q
fi

# A waiter let in by an unfreeze audited its acquire before the unfreeze
# (it took the lock while the unfreeze was writing its line): 8 to 13
# times in 30.
bad=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	LOKT_OWNER=f "$LOKT" freeze fo --ttl 1m -q
	LOKT_OWNER=a bash -c '"$LOKT" lock fo --wait --timeout 10s -q && "$LOKT" unlock fo -q' &
	w=$!
	wait_for 10 eval '[ "$(waiters fo)" = 1 ]'
	LOKT_OWNER=f "$LOKT" unfreeze fo -q
	wait "$w"
done
order=$("$LOKT" audit --name fo --json |
	jget 'sum(1 for a, b in zip(d, d[1:]) if a["event"] == "acquire" and b["event"] == "unfreeze")')
check "an unfreeze is audited before the acquire it let in (10 rounds; after it: $order)" test "$order" = 0

done_testing
