#!/bin/bash
# SPDX-License-Identifier: MIT
# The audit log: after a scripted sequence that makes every event of
# DESIGN §8 happen, every line of audit.log is one JSON object with the
# documented fields, the file is mode 0600, every event is there, and
# `lokt audit` filters (--name, --tail, --since, --json) behave. Then 8
# processes × 25 lock/unlock append at once: every line still parses, and
# the log has exactly one line per transition they made. On etcd
# (LOKT_TEST_STORE=etcd) the log is what `lokt audit --json` reads from
# the store, and the stale records are planted (a holder that dies there
# is released by its keeper at once: nothing is left to break).
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# the_log: the audit log as JSON lines, in a file ($log).
log=$LOKT_ROOT/audit.log
the_log() {
	on_etcd || return 0
	log=$T/audit.lines
	"$LOKT" audit --json 2>/dev/null | "$PY" -c '
import json, sys
for e in json.load(sys.stdin):
    print(json.dumps(e))' >"$log"
}
# stale NAME: a lock of alice's whose holder has died (a real process,
# exited), on this host.
host=$(hostname)
stale() {
	dead_holder
	if on_etcd; then
		kill -9 "$DEAD"; wait "$DEAD" 2>/dev/null
		printf '{"version":1,"name":"%s","lock_id":"%032x","owner":"alice","host":"%s","pid":%d,"acquired_ts":"2026-01-05T10:00:00Z"}' \
			"$1" "$DEAD" "$host" "$DEAD" | plant "$1"
		check "a stale $1 planted" has_record "$1"
	else
		expect_exit 0 "acquire $1" alice lock "$1" --holder "$DEAD"
		kill -9 "$DEAD"; wait "$DEAD" 2>/dev/null
	fi
}

alice() { LOKT_OWNER=alice "$LOKT" "$@"; }
bob() { LOKT_OWNER=bob "$LOKT" "$@"; }
dead_holder() { # a process that has exited: its pid in $DEAD
	sleep 600 &
	DEAD=$!
	track "$DEAD"
}

# acquire, renew, deny, release
sleep 600 &
sp=$!
track "$sp"
expect_exit 0 "acquire" alice lock ev1 --holder "$sp"
expect_exit 0 "renew (the holder asks again)" alice lock ev1 --holder "$sp" --ttl 10m
contains "$OUT" "renewed" "it was a renewal"
expect_exit 2 "deny" bob lock ev1
expect_exit 0 "release" alice unlock ev1
# force-break
expect_exit 0 "acquire ev2" alice lock ev2 --holder "$sp"
expect_exit 0 "force-break" bob unlock ev2 --force --yes
# stale-break
stale ev3
expect_exit 0 "stale-break by the next lock" bob lock ev3 --holder "$sp"
stale ev3b
expect_exit 0 "stale-break by unlock --break-stale" bob unlock ev3b --break-stale
# auto-prune
stale ev4
expect_exit 0 "status --prune-expired" bob status --prune-expired
check "the stale lock was pruned" eval '! has_record ev4'
# corrupt-break
printf 'not json at all' | plant ev5
expect_exit 0 "corrupt-break by the next lock" bob lock ev5 --holder "$sp"
# freeze, freeze-deny, unfreeze, force-unfreeze
expect_exit 0 "freeze" alice freeze ev6 --ttl 1h
expect_exit 2 "freeze-deny" bob lock ev6
expect_exit 0 "unfreeze" alice unfreeze ev6
expect_exit 0 "freeze ev7" alice freeze ev7 --ttl 1h
expect_exit 0 "force-unfreeze" bob unfreeze ev7 --force
# lost
alice guard ev8 --ttl 1s -- sleep 30 2>/dev/null &
gpid=$!
track "$gpid"
if wait_for 30 has_record ev8; then
	expect_exit 0 "force-break of a guarded lock" bob unlock ev8 --force --yes
	check "guard notices (it ends)" wait_for 30 gone "$gpid"
	reap "$gpid"
	check "one lost event for one loss (got $(audit_count lost ev8))" \
		test "$(audit_count lost ev8)" = 1
else
	not_ok "guard took ev8"
fi

the_log
if on_etcd; then
	skip "audit.log is mode 0600" "the etcd store keeps its audit events as keys, not in a file"
else
	check "audit.log is mode 0600 ($(stat -c %a "$log"))" test "$(stat -c %a "$log")" = 600
fi
"$PY" - "$log" >"$T/fields" <<'PYEOF'
import json, re, sys
ok_types = {"ts": str, "event": str, "name": str, "lock_id": str,
            "owner": str, "host": str, "pid": int, "agent_id": str,
            "ttl_sec": int, "extra": dict}
required = tuple(ok_types)
events = {"acquire", "deny", "release", "renew", "force-break",
          "stale-break", "auto-prune", "corrupt-break", "freeze",
          "unfreeze", "force-unfreeze", "freeze-deny", "lost"}
bad = 0
lines = open(sys.argv[1], "rb").read().split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
for i, raw in enumerate(lines, 1):
    try:
        e = json.loads(raw.decode("utf-8"))
    except ValueError as ex:
        print(f"line {i}: not JSON ({ex}): {raw[:120]!r}"); bad += 1; continue
    if not isinstance(e, dict):
        print(f"line {i}: not an object"); bad += 1; continue
    for k in required:
        if k not in e:
            print(f"line {i}: no {k}"); bad += 1
    for k, t in ok_types.items():
        if k in e and e[k] is not None and not isinstance(e[k], t):
            print(f"line {i}: {k} is {type(e[k]).__name__}"); bad += 1
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", str(e.get("ts"))):
        print(f"line {i}: ts {e.get('ts')!r} is not RFC 3339"); bad += 1
    if e.get("event") not in events:
        print(f"line {i}: unknown event {e.get('event')!r}"); bad += 1
print(f"{len(lines)} lines, {bad} problems")
PYEOF
check "every line is a JSON object with the fields of DESIGN §8, typed right ($(tail -1 "$T/fields"))" \
	grep -q ' 0 problems$' "$T/fields"
grep -v ' problems$' "$T/fields" | head -20 | while read -r l; do diag "$l"; done

for ev in acquire:ev1 renew:ev1 deny:ev1 release:ev1 force-break:ev2 \
	stale-break:ev3 stale-break:ev3b auto-prune:ev4 corrupt-break:ev5 \
	freeze:ev6 freeze-deny:ev6 unfreeze:ev6 force-unfreeze:ev7 lost:ev8; do
	check "event ${ev%%:*} for ${ev#*:}" audit_has "${ev%%:*}" "${ev#*:}"
done
check "stale-break of ev3 says why (dead)" audit_has stale-break ev3 dead
check "auto-prune of ev4 says why (dead)" audit_has auto-prune ev4 dead
lines=$(wc -l <"$log")

# --- lokt audit filters ---------------------------------------------------
expect_exit 0 "audit --json" "$LOKT" audit --json
check "audit --json: one JSON array of every event ($lines)" \
	test "$(jget 'len(d) if isinstance(d, list) else -1' <<<"$OUT")" = "$lines"
expect_exit 0 "audit --name ev1 --json" "$LOKT" audit --name ev1 --json
check "audit --name ev1: the 4 events of ev1 only" \
	test "$(jget '[e["event"] for e in d if e["name"] == "ev1"] if all(e["name"] == "ev1" for e in d) else "other names"' <<<"$OUT")" = \
	'["acquire", "renew", "deny", "release"]'
expect_exit 0 "audit --tail 2" "$LOKT" audit --tail 2
check "audit --tail 2: two lines ($(wc -l <<<"$OUT"))" test "$(wc -l <<<"$OUT")" -eq 2
expect_exit 0 "audit --tail 2 --json" "$LOKT" audit --tail 2 --json
check "audit --tail 2 --json: the last two lines of the log" test \
	"$(jget '[e["event"] + ":" + e["name"] for e in d]' <<<"$OUT")" = \
	"$(tail -2 "$log" | "$PY" -c 'import json, sys; print(json.dumps([json.loads(l)["event"] + ":" + json.loads(l)["name"] for l in sys.stdin]))')"
expect_exit 0 "audit --since 1h --json" "$LOKT" audit --since 1h --json
check "audit --since 1h: everything" test "$(jget 'len(d)' <<<"$OUT")" = "$lines"
expect_exit 0 "audit --since (a time in the future) --json" "$LOKT" audit --since 2099-01-01T00:00:00Z --json
check "audit --since the future: nothing" test "$(jget 'len(d)' <<<"$OUT")" = 0
expect_exit 0 "audit (text)" "$LOKT" audit --name ev2
contains "$OUT" "force-break" "the text view shows the events"

# --- concurrency ---------------------------------------------------------
PROCS=8 ROUNDS=25
pids=()
for i in $(seq "$PROCS"); do
	(
		acq=0 deny=0 rel=0 other=0
		for r in $(seq "$ROUNDS"); do
			lean_round "$r"
			"$LOKT" lock cc -q 2>/dev/null
			case $? in
			0) acq=$((acq + 1))
			   if "$LOKT" unlock cc -q; then rel=$((rel + 1)); else other=$((other + 1)); fi ;;
			2) deny=$((deny + 1)) ;;
			*) other=$((other + 1)) ;;
			esac
		done
		echo "$acq $deny $rel $other" >"$T/cc.$i"
	) &
	pids+=($!)
	track $!
done
wait "${pids[@]}"
read -r acq deny rel other <<<"$(cat "$T"/cc.* | awk '{ a += $1; d += $2; r += $3; o += $4 } END { print a, d, r, o }')"
check "concurrent lock/unlock: no errors ($other), $acq acquired" test "$other" -eq 0 -a "$acq" -gt 0
the_log
"$PY" - "$log" >"$T/fields" <<'PYEOF'
import json, sys
n = bad = 0
for raw in open(sys.argv[1], "rb").read().split(b"\n"):
    if not raw:
        continue
    try:
        e = json.loads(raw.decode("utf-8"))
        assert isinstance(e, dict)
        n += 1
    except Exception:
        bad += 1
print(bad)
PYEOF
check "after the concurrent run every line parses ($(cat "$T/fields") do not)" \
	test "$(cat "$T/fields")" = 0
got="$(audit_count acquire cc) $(audit_count deny cc) $(audit_count release cc)"
check "one line per transition: acquire deny release = $acq $deny $rel (log: $got)" \
	test "$got" = "$acq $deny $rel"

# --- a log of one huge line --------------------------------------------
# Whoever may write the store may make audit.log one line of 256 MiB (a
# sparse file of NULs after the events): lokt audit skips a line longer
# than 64 KiB and reads the rest, in little memory (it used to hold the
# whole line).
B="$T/hugelog"
LOKT_ROOT="$B" "$LOKT" lock before-huge --ttl 1m -q
truncate -s 256M "$B/audit.log"
rss=$(LOKT_ROOT="$B" "$PY" -c '
import resource, subprocess, sys
out = subprocess.run([sys.argv[1], "audit"], capture_output=True, text=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, out.returncode,
      "before-huge" in out.stdout)' "$LOKT")
read -r kb rc seen <<<"$rss"
[ "$rc" = 0 ] && [ "$seen" = True ] && ok "lokt audit reads past a line of 256 MiB" ||
	not_ok "lokt audit on a huge line: exit $rc, event seen: $seen"
[ "$kb" -lt 100000 ] && ok "... in little memory (max RSS ${kb} kB)" ||
	not_ok "lokt audit held the line: max RSS ${kb} kB"
done_testing
