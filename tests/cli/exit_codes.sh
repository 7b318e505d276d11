#!/bin/bash
# SPDX-License-Identifier: MIT
# The exit codes are an API: every command × every outcome → the exact
# code (0 ok, 1 error, 2 held/frozen, 3 not found, 4 not owner, 64 usage).
# Also: flags after the name, --json documents (also for refusals), a
# future-version lock file refused and left untouched, a corrupt file
# broken, lokt 1.x files (no version, lock_id or fence; Go timestamps)
# judged by their pid.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

hold other hx || not_ok "owner other holds hx"
hx_pid=$HOLDER
expect_exit 0 "freeze fzx --ttl 10m (owner other)" env LOKT_OWNER=other "$LOKT" freeze fzx --ttl 10m
export LOKT_OWNER=me

# --- lock ---------------------------------------------------------------
expect_exit 0 "lock free → 0" "$LOKT" lock a1
expect_exit 2 "lock held by another → 2" "$LOKT" lock hx
contains "$ERR" "error: " "refusal starts with error:"
contains "$ERR" "other@" "refusal names the holder"
contains "$ERR" "pid $hx_pid" "refusal names the holder's pid"
contains "$ERR" "lokt why hx" "refusal says what to do"
expect_exit 2 "lock frozen → 2" "$LOKT" lock fzx
expect_exit 64 "lock .hidden → 64" "$LOKT" lock .hidden
contains "$ERR" "error: " "bad name message starts with error:"
expect_exit 64 "lock a/b → 64" "$LOKT" lock a/b
expect_exit 64 "lock a..b → 64" "$LOKT" lock a..b
expect_exit 64 "lock 'a b' → 64" "$LOKT" lock 'a b'
expect_exit 64 "lock '' → 64" "$LOKT" lock ''
n200=$(printf 'n%.0s' $(seq 200))
expect_exit 0 "lock NAME of 200 bytes → 0" "$LOKT" lock "$n200"
expect_exit 64 "lock NAME of 201 bytes → 64" "$LOKT" lock "${n200}x"
expect_exit 64 "lock --ttl 5x → 64" "$LOKT" lock a2 --ttl 5x
contains "$ERR" "5x" "bad duration message quotes it"
for d in 99999999999d 36500d1s 99999999999999999999; do
	expect_exit 64 "lock --ttl $d → 64" "$LOKT" lock a2 --ttl "$d"
	contains "$ERR" "\"$d\" is longer than the maximum, 100 years" \
		"--ttl $d: says it is longer than 100 years, not a bad duration"
done
expect_exit 64 "freeze --ttl 99999999999d → 64" "$LOKT" freeze a2 --ttl 99999999999d
contains "$ERR" "longer than the maximum" "freeze: says it is too long"
expect_exit 64 "audit --since 99999999999d → 64" "$LOKT" audit --since 99999999999d
contains "$ERR" "longer than the maximum" "audit --since: says it is too long"
expect_exit 64 "lock --ttl 99999999999x (a typo) → 64" "$LOKT" lock a2 --ttl 99999999999x
contains "$ERR" "bad duration" "... a bad duration, not a too long one"
expect_exit 64 "lock --ttl -5 → 64" "$LOKT" lock a2 --ttl -5
expect_exit 64 "lock --ttl '' → 64" "$LOKT" lock a2 --ttl ''
expect_exit 64 "lock --timeout 1y → 64" "$LOKT" lock a2 --timeout 1y
expect_exit 64 "lock --bogus → 64" "$LOKT" lock a2 --bogus
expect_exit 64 "lock without NAME → 64" "$LOKT" lock
expect_exit 64 "lock NAME --ttl (missing value) → 64" "$LOKT" lock a2 --ttl
expect_exit 64 "lock with two names → 64" "$LOKT" lock a2 a3
check "nothing was created by the refused commands" eval '! has_record a2'
expect_exit 0 "flags after the name: lock a3 --ttl 5m → 0" "$LOKT" lock a3 --ttl 5m
check "a3 has ttl_sec 300" test "$(record a3 | jget 'd.get("ttl_sec")')" = 300
expect_exit 0 "flags before the name: lock --ttl 90 a4 → 0" "$LOKT" lock --ttl 90 a4
check "a4 has ttl_sec 90" test "$(record a4 | jget 'd.get("ttl_sec")')" = 90
expect_exit 0 "lock a5 --ttl 1h30m → 0" "$LOKT" lock a5 --ttl 1h30m
check "a5 has ttl_sec 5400" test "$(record a5 | jget 'd.get("ttl_sec")')" = 5400
expect_exit 0 "lokt --root DIR lock → 0" "$LOKT" --root "$T/other-root" lock a6
check "--root DIR is used" test -e "$T/other-root/locks/a6.json"
expect_exit 0 "lock held by ourselves → 0 (renew)" "$LOKT" lock a1
contains "$OUT" "renewed" "renewal says renewed"

# --- unlock -------------------------------------------------------------
expect_exit 0 "unlock ok → 0" "$LOKT" unlock a1
expect_exit 3 "unlock not held → 3" "$LOKT" unlock a1
expect_exit 4 "unlock another owner's live lock → 4" "$LOKT" unlock hx
expect_exit 4 "unlock --break-stale of a live lock → 4" "$LOKT" unlock hx --break-stale
expect_exit 64 "unlock ../x → 64" "$LOKT" unlock ../x
expect_exit 64 "unlock without NAME → 64" "$LOKT" unlock
expect_exit 64 "unlock --bogus → 64" "$LOKT" unlock a1 --bogus
expect_exit 64 "unlock --all NAME → 64" "$LOKT" unlock --all a1
expect_exit 0 "unlock --all → 0" "$LOKT" unlock --all
check "unlock --all released our locks, not other's" \
	eval '! has_record a3 && ! has_record a4 && has_record hx'

# --- exists, status -----------------------------------------------------
expect_exit 0 "exists held → 0" "$LOKT" exists hx
check "exists is silent" test -z "$OUT$ERR"
expect_exit 3 "exists free → 3" "$LOKT" exists nothere
expect_exit 64 "exists bad name → 64" "$LOKT" exists .x
expect_exit 0 "status NAME held → 0" "$LOKT" status hx
expect_exit 3 "status NAME free → 3" "$LOKT" status nothere
expect_exit 0 "status → 0" "$LOKT" status
contains "$OUT" "hx" "status lists hx"
expect_exit 64 "status --bogus → 64" "$LOKT" status --bogus

# --- freeze, unfreeze ---------------------------------------------------
expect_exit 64 "freeze without --ttl → 64" "$LOKT" freeze f1
expect_exit 64 "freeze --ttl bad → 64" "$LOKT" freeze f1 --ttl soon
expect_exit 2 "freeze held by another owner → 2" "$LOKT" freeze fzx --ttl 5m
expect_exit 0 "freeze → 0" "$LOKT" freeze f1 --ttl 5m
expect_exit 0 "unfreeze ok → 0" "$LOKT" unfreeze f1
expect_exit 3 "unfreeze none → 3" "$LOKT" unfreeze f1
expect_exit 4 "unfreeze another owner's freeze → 4" "$LOKT" unfreeze fzx

# --- guard --------------------------------------------------------------
expect_exit 2 "guard held → 2" "$LOKT" guard hx -- touch "$T/ran"
check "the refused guard did not run its command" test ! -e "$T/ran"
expect_exit 2 "guard frozen → 2" "$LOKT" guard fzx -- touch "$T/ran"
check "the frozen guard did not run its command" test ! -e "$T/ran"
expect_exit 64 "guard without a command → 64" "$LOKT" guard g1
expect_exit 64 "guard without anything → 64" "$LOKT" guard
expect_exit 64 "guard --on-lost bogus → 64" "$LOKT" guard g1 --on-lost bogus -- true
# The NAME forgotten: `guard -- make deploy` locked "make" and ran deploy.
expect_exit 64 "guard -- make deploy (no NAME before --) → 64" "$LOKT" guard -- touch "$T/ran"
contains "$ERR" 'the lock NAME before "--"' "... saying the NAME goes before --"
check "... and ran nothing" test ! -e "$T/ran"
expect_exit 3 "... nor locked \"touch\"" "$LOKT" exists touch
expect_exit 0 "guard free → 0" "$LOKT" guard g1 -- true

# --- messages: who holds, alive or not, how long, when it expires, what to do
hold other ht --ttl 10m || not_ok "owner other holds ht with a TTL"
ht_pid=$HOLDER
expect_exit 2 "lock ht (held, with TTL) → 2" "$LOKT" lock ht
for part in 'lock "ht" held by other@' "(pid $ht_pid, alive)" " for " \
	"expires in " "wait with --wait" "lokt why ht"; do
	contains "$ERR" "$part" "held message: $part"
done
expect_exit 2 "lock ht --timeout 1ms → 2 (timed out)" "$LOKT" lock ht --timeout 1ms
contains "$ERR" "timed out waiting for lock \"ht\", still held by other@" "timeout message names the holder"
contains "$ERR" "longer --timeout" "timeout message says what to do"
expect_exit 4 "unlock ht (another owner's live lock) → 4" "$LOKT" unlock ht
contains "$ERR" "(pid $ht_pid, alive)" "not-owner message: the holder is alive"
contains "$ERR" "--force" "not-owner message says what to do"
kill -9 "$ht_pid"
wait "$ht_pid" 2>/dev/null
if on_etcd; then
	# The etcd store's keeper releases a dead holder's lock at once.
	check "a dead holder's lock is released by its keeper" \
		wait_for 20 eval '! "$LOKT" exists ht'
	check "... audited as a release, reason dead" wait_for 10 audit_has release ht dead
else
	expect_exit 4 "unlock ht (another owner's dead lock) → 4" "$LOKT" unlock ht
	contains "$ERR" "(pid $ht_pid, dead)" "stale message: the holder is dead"
	contains "$ERR" "--break-stale" "stale message says what to do"
	expect_exit 0 "unlock --break-stale ht → 0" "$LOKT" unlock --break-stale ht
	contains "$OUT" "broke stale lock \"ht\" of other@" "the break says whose lock"
fi

# --- flags before or after the name, for every command with a name ------
expect_exit 0 "freeze --ttl 1m NAME → 0" "$LOKT" freeze --ttl 1m fb1
expect_exit 0 "freeze NAME --ttl 1m -q (renew) → 0" "$LOKT" freeze fb1 --ttl 1m -q
expect_exit 0 "unfreeze -q NAME → 0" "$LOKT" unfreeze -q fb1
expect_exit 0 "lock -q --ttl 1m NAME → 0" "$LOKT" lock -q --ttl 1m fb2
expect_exit 0 "status --json NAME → 0" "$LOKT" status --json fb2
check "... one JSON document about NAME" test "$(jget 'd["name"]' <<<"$OUT")" = fb2
expect_exit 0 "why --json NAME (ours) → 0" "$LOKT" why --json fb2
expect_exit 0 "unlock -q NAME → 0" "$LOKT" unlock -q fb2
expect_exit 0 "guard -q --ttl 1m NAME -- true → 0" "$LOKT" guard -q --ttl 1m fb3 -- true
expect_exit 0 "guard NAME -q --ttl 1m -- true → 0" "$LOKT" guard fb3 -q --ttl 1m -- true
expect_exit 0 "audit --tail 1 --name NAME → 0" "$LOKT" audit --tail 1 --name fb3
contains "$OUT" "release fb3" "audit NAME filter and tail"

# --- why, audit, doctor, version, help ----------------------------------
expect_exit 0 "why free → 0" "$LOKT" why nothere
expect_exit 2 "why held → 2" "$LOKT" why hx
contains "$OUT" "other" "why names the holder"
expect_exit 2 "why frozen → 2" "$LOKT" why fzx
expect_exit 0 "audit → 0" "$LOKT" audit
expect_exit 64 "audit --since bogus → 64" "$LOKT" audit --since bogus
expect_exit 64 "audit --tail x → 64" "$LOKT" audit --tail x
expect_exit 0 "doctor on a healthy root → 0" "$LOKT" doctor
expect_exit 0 "version → 0" "$LOKT" version
check "version prints something" test -n "$OUT"
expect_exit 0 "--version → 0" "$LOKT" --version
expect_exit 0 "help → 0" "$LOKT" help
expect_exit 0 "help lock → 0" "$LOKT" help lock
contains "$OUT" "--ttl" "help lock describes --ttl"
expect_exit 0 "lock --help → 0" "$LOKT" lock --help
expect_exit 64 "unknown command → 64" "$LOKT" frobnicate
contains "$ERR" "frobnicate" "the unknown command is named"
expect_exit 64 "no command → 64" "$LOKT"
expect_exit 64 "unknown global flag → 64" "$LOKT" --bogus status

# --- --json: one document -----------------------------------------------
json_doc() { # DESCRIPTION WANT_EXIT CMD...
	local desc=$1 want=$2
	shift 2
	expect_exit "$want" "$desc: exit $want" "$@"
	check "$desc: one JSON document" is_json <<<"$OUT"
}
json_doc "lock --json" 0 "$LOKT" lock j1 --ttl 5m --json
check "lock --json has lock_id, fence, expires_at" test \
	"$(jget '[bool(d.get("lock_id")), d.get("fence", 0) > 0, bool(d.get("expires_at"))]' <<<"$OUT")" = "[true, true, true]"
json_doc "refused lock --json" 2 "$LOKT" lock hx --json
check "refusal JSON: error held, holder other with its pid" test \
	"$(jget '[d.get("error"), d["holder"]["owner"], d["holder"]["pid"]]' <<<"$OUT" 2>/dev/null)" = "[\"held\", \"other\", $hx_pid]"
json_doc "status --json" 0 "$LOKT" status --json
json_doc "status NAME --json" 0 "$LOKT" status hx --json
json_doc "why --json" 2 "$LOKT" why hx --json
json_doc "doctor --json" 0 "$LOKT" doctor --json
check "doctor --json has protocol_version 1" test "$(jget 'd.get("protocol_version")' <<<"$OUT")" = 1
json_doc "audit --json" 0 "$LOKT" audit --json
json_doc "version --json" 0 "$LOKT" version --json
json_doc "freeze --json" 0 "$LOKT" freeze j2 --ttl 1m --json
"$LOKT" unlock j1 -q
"$LOKT" unfreeze j2 -q

# --- a future-version file ----------------------------------------------
printf '{"version":2,"name":"fv","lock_id":"%s","owner":"future","host":"elsewhere","pid":1,"acquired_ts":"2030-01-01T00:00:00Z","new_field":[1,2]}\n' \
	0123456789abcdef0123456789abcdef | plant fv
record fv >"$T/fv.orig"
expect_exit 1 "lock of a version 2 file → 1" "$LOKT" lock fv
contains "$ERR" "version" "the refusal names the version"
expect_exit 1 "unlock --break-stale of a version 2 file → 1" "$LOKT" unlock fv --break-stale
check "the version 2 file is untouched" eval 'record fv | cmp -s - "$T/fv.orig"'
"$LOKT" doctor --json >"$T/doctor.json"
check "doctor flags the future-version file" test \
	"$(jget '[c["level"] for c in d["checks"] if c["id"] == "future_version"]' <"$T/doctor.json")" != '["ok"]'
# What was broken is named by what was read of it, its version: no
# "pid 0, alive" of fields never parsed.
expect_exit 0 "unlock --force of a version 2 file → 0" "$LOKT" unlock fv --force --yes
check "it says it broke a file of protocol version 2" \
	test "$OUT" = 'broke the lock file of "fv" of protocol version 2'
plant fv <"$T/fv.orig"
expect_exit 0 "unlock --force --json of a version 2 file → 0" \
	"$LOKT" unlock fv --force --yes --json
check "its JSON gives the name and version only, broken by force" test \
	"$(jget '[sorted(d), d["version"], d["broke"], d["state"]]' <<<"$OUT")" = \
	'[["broke", "name", "state", "version"], 2, "force", "released"]'

# A future-version freeze: the messages said "frozen by @ until 1970" of
# fields never read, and to remove it with `lokt unlock --force`, which
# finds no lock (only `lokt unfreeze --force` does).
printf '{"version":2,"name":"fz2","lock_id":"%s","owner":"future","host":"elsewhere","pid":1,"acquired_ts":"2030-01-01T00:00:00Z"}\n' \
	0123456789abcdef0123456789abcdef | plant fz2 freeze
expect_exit 2 "lock of a name frozen by a version 2 file → 2 (frozen)" "$LOKT" lock fz2
contains "$ERR" "newer lokt (protocol version 2)" "... saying a newer lokt's freeze"
contains "$ERR" "lokt unfreeze fz2 --force" "... and how to remove it"
check "... no date of fields never read" eval '! grep -q 1970 <<<"$ERR"'
expect_exit 2 "why fz2 → 2" "$LOKT" why fz2
contains "$OUT" "lokt unfreeze fz2 --force" "... naming unfreeze --force"
expect_exit 1 "unfreeze fz2 (no --force) → 1" "$LOKT" unfreeze fz2
contains "$ERR" "lokt unfreeze fz2 --force" "... naming unfreeze --force, not unlock"
expect_exit 0 "unfreeze fz2 --force → 0" "$LOKT" unfreeze fz2 --force

# --- a key in a name's queue that no waiter wrote (etcd) ----------------
# A waiter's key is queue/NAME/ and its own lease in hex; a key put by
# hand without a lease (or one level deeper) would stand in the queue for
# ever: lokt lock fails with "foreign", why does not say free, and doctor
# names the key.
if on_etcd; then
	for key in /lokt-test/queue/qf/00000000000000ab /lokt-test/queue/qf/x/00000000000000ab; do
		_etcd put "$key" '{"host":"h","pid":1}' >/dev/null || not_ok "put $key"
		expect_exit 1 "lock qf with $key in its queue → 1" "$LOKT" lock qf
		contains "$ERR" "foreign" "... saying foreign"
		expect_exit 1 "why qf does not say it is free" "$LOKT" why qf
		expect_exit 1 "doctor fails" "$LOKT" doctor
		contains "$OUT" "FAIL  foreign_keys" "... on foreign_keys"
		contains "$OUT" "$key" "... naming the key"
		_etcd del "$key" >/dev/null
	done
	expect_exit 0 "qf locks once the key is gone" "$LOKT" lock qf -q
	"$LOKT" unlock qf -q
	expect_exit 0 "doctor is clean again" "$LOKT" doctor

	# Keys under slot/NAME/ that lokt did not write: values too large
	# for one answer made every transition of the name fail (E2BIG); a
	# holder's key put back on no lease kept that holder for ever.
	head -c 1400000 /dev/zero | tr '\0' a >"$T/big.txt"
	for i in 1 2 3 4 5 6 7; do
		_etcd put /lokt-test/slot/sbig/junk$i <"$T/big.txt" >/dev/null
	done
	expect_exit 1 "doctor fails" "$LOKT" doctor
	contains "$OUT" "FAIL  foreign_keys" "... on foreign_keys"
	contains "$OUT" "/lokt-test/slot/sbig/junk" "... naming a key"
	expect_exit 0 "a name with 10 MB of junk under slot/ locks" "$LOKT" lock sbig --slots 2 -q
	expect_exit 0 "... and unlocks (the gate's last holder takes slot/sbig/ with it)" \
		"$LOKT" unlock sbig -q
	_etcd del --prefix /lokt-test/slot/sbig/ >/dev/null
	sleep 600 &
	sl=$!
	sleep 600 &
	sl2=$!
	LOKT_OWNER=other "$LOKT" lock sl1 --slots 2 --holder "$sl" -q
	key=$(_etcd get --prefix /lokt-test/slot/sl1/ --keys-only | grep . | head -1)
	LOKT_OWNER=other2 "$LOKT" lock sl1 --slots 2 --holder "$sl2" -q
	_etcd put "$key" "$(_etcd get --print-value-only "$key")" >/dev/null
	expect_exit 0 "a slot key put back on no lease proves no holder: its place is free" \
		"$LOKT" lock sl1 --slots 2 -q
	expect_exit 0 "doctor is clean once that transition dropped it and its key" \
		"$LOKT" doctor
	expect_exit 0 "... while the other holder stays" \
		eval '"$LOKT" status sl1 | grep -q other2@'
	"$LOKT" unlock sl1 -q
	kill "$sl" "$sl2"

	# A lock's key on no lease (put by hand, or a copy kept after its
	# lease ran out) proves no holder alive: stale, broken by the next
	# lock. A detached one (pid 1) is on none by design: its TTL rules.
	printf '{"version":1,"name":"nl","lock_id":"%s","owner":"ghost","host":"elsewhere","pid":4242,"acquired_ts":"2026-01-01T00:00:00Z"}\n' \
		0123456789abcdef0123456789abcdef | plant nl
	expect_exit 3 "a lock key on no lease: exists says no live lock" "$LOKT" exists nl
	expect_exit 0 "... and lock breaks it" "$LOKT" lock nl
	contains "$ERR" "broke stale lock" "... saying it broke a stale lock"
	"$LOKT" unlock nl -q
	"$LOKT" lock dl --ttl 1h --detach -q
	expect_exit 0 "a detached lock (on no lease, by design) stays live" "$LOKT" exists dl
	"$LOKT" unlock dl -q
fi

# --- a corrupt file -----------------------------------------------------
printf '{"version":1,"name":"cor","owner":' | plant cor
expect_exit 0 "lock of a corrupt file → 0 (broken)" "$LOKT" lock cor
check "audit: corrupt-break for cor" audit_has corrupt-break cor
"$LOKT" unlock cor -q

# --- lokt 1.x files ------------------------------------------------------
sh -c 'exit 0' &
dead=$!
wait "$dead"
host=$(uname -n)
printf '{"name":"old1","owner":"gopher","host":"%s","pid":%d,"acquired_ts":"2025-06-01T10:00:00.1234Z"}\n' \
	"$host" "$dead" | plant old1
expect_exit 3 "lokt 1.x file of a dead pid: exists → 3" "$LOKT" exists old1
expect_exit 0 "lokt 1.x file of a dead pid: lock → 0 (broken)" "$LOKT" lock old1
check "audit: stale-break (dead) for old1" audit_has stale-break old1 dead
"$LOKT" unlock old1 -q
printf '{"name":"old2","owner":"gopher","host":"%s","pid":%d,"acquired_ts":"%s"}\n' \
	"$host" $$ "$(date -u +%Y-%m-%dT%H:%M:%S.5Z)" | plant old2
record old2 >"$T/old2.orig"
expect_exit 0 "lokt 1.x file of a live pid: exists → 0" "$LOKT" exists old2
expect_exit 2 "lokt 1.x file of a live pid: lock → 2" "$LOKT" lock old2
contains "$ERR" "gopher" "the refusal names the lokt 1.x owner"
check "the lokt 1.x file is untouched" eval 'record old2 | cmp -s - "$T/old2.orig"'
printf '{"name":"old3","owner":"gopher","host":"%s","pid":%d,"acquired_ts":"2025-06-01T10:00:00Z","ttl_sec":60,"expires_at":"2025-06-01T10:01:00.25Z"}\n' \
	"$host" $$ | plant old3
expect_exit 0 "lokt 1.x file with an expired TTL: lock → 0 (broken)" "$LOKT" lock old3
check "audit: stale-break (expired) for old3" audit_has stale-break old3 expired
"$LOKT" unlock old3 -q

# --json promises one JSON document on stdout, also when the store
# cannot be opened (locks/ planted as a symlink): exit 1 and {"error"}.
bad="$T/badroot"
mkdir -p "$bad" && ln -s /etc "$bad/locks"
for cmd in "status" "status x" "why x" "audit" "lock x" "unlock x" \
	"unlock --all" "freeze x --ttl 1m" "unfreeze x"; do
	out=$(LOKT_ROOT="$bad" "$LOKT" $cmd --json 2>/dev/null)
	rc=$?
	docs=$(jq -c . <<<"$out" 2>/dev/null | wc -l)
	if [ "$rc" = 1 ] && [ "$docs" = 1 ] &&
		[ "$(jq -r .error <<<"$out")" = error ] &&
		[[ "$(jq -r .message <<<"$out")" == *"not a directory"* ]]; then
		ok "lokt $cmd --json on a store that cannot be opened: one document, exit 1"
	else
		not_ok "lokt $cmd --json: exit $rc, stdout '$out'"
	fi
done

done_testing
