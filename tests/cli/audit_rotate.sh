#!/bin/bash
# SPDX-License-Identifier: MIT
# The audit log's size cap (LOKT_AUDIT_MAX, docs/protocol.md): past it
# audit.log is renamed audit.log.1 and a new one begun; `lokt audit` reads
# both generations, oldest first. 8 real processes appending at once
# across a rotation lose no line and tear none. A bad LOKT_AUDIT_MAX is
# refused before anything is touched.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

log=$LOKT_ROOT/audit.log
# lines FILE...: how many lines, and how many do not parse as JSON objects.
lines() {
	"$PY" - "$@" <<'PYEOF'
import json, sys
n = bad = 0
for p in sys.argv[1:]:
    try:
        data = open(p, "rb").read()
    except FileNotFoundError:
        continue
    for raw in data.split(b"\n")[:-1]:
        n += 1
        try:
            assert isinstance(json.loads(raw), dict)
        except Exception:
            bad += 1
    if data and not data.endswith(b"\n"):
        bad += 1
print(n, bad)
PYEOF
}

expect_exit 1 "a bad LOKT_AUDIT_MAX is refused" env LOKT_AUDIT_MAX=12x "$LOKT" lock z
contains "$ERR" "LOKT_AUDIT_MAX" "the error names the variable"
check "nothing was taken" test ! -e "$(lockfile z)"

# Sequential: a 4 KiB cap, 60 events.
export LOKT_AUDIT_MAX=4k
for i in $(seq 30); do
	"$LOKT" lock s -q && "$LOKT" unlock s -q || not_ok "lock/unlock s round $i"
done
check "audit.log.1 exists" test -s "$log.1"
check "audit.log is under the cap ($(stat -c %s "$log"))" test "$(stat -c %s "$log")" -lt 4096
read -r n bad <<<"$(lines "$log.1" "$log")"
expect_exit 0 "lokt audit --json reads across" "$LOKT" audit --json
check "lokt audit shows both generations ($n lines)" test "$(jget 'len(d)' <<<"$OUT")" = "$n"
check "oldest first: it starts with audit.log.1's first line" test \
	"$(jget 'd[0]["ts"]' <<<"$OUT")" = "$(head -n 1 "$log.1" | jget 'd["ts"]')"
check "and ends with audit.log's last line" test \
	"$(jget 'd[-1]["ts"]' <<<"$OUT")" = "$(tail -n 1 "$log" | jget 'd["ts"]')"
expect_exit 0 "lokt audit --tail 3 across" "$LOKT" audit --tail 3 --json
check "--tail 3: three events" test "$(jget 'len(d)' <<<"$OUT")" = 3

# Concurrent: 8 processes x 25 lock/unlock of their own names = 400
# lines of ~300 bytes; with a 80 KiB cap exactly one rotation happens
# (a second would drop the first generation, by design).
rm -f "$log" "$log.1"
export LOKT_AUDIT_MAX=80k
PROCS=8 ROUNDS=25
pids=()
for i in $(seq "$PROCS"); do
	(
		bad=0
		for r in $(seq "$ROUNDS"); do
			lean_round "$r"
			"$LOKT" lock "cc$i" -q && "$LOKT" unlock "cc$i" -q || bad=$((bad + 1))
		done
		echo "$bad" >"$T/cc.$i"
	) &
	pids+=($!)
	track $!
done
wait "${pids[@]}"
check "every lock/unlock worked" test "$(cat "$T"/cc.* | sort -u)" = 0
total=$(($(stat -c %s "$log") + $(stat -c %s "$log.1")))
check "one rotation: audit.log.1 exists, and the two hold $total bytes < 2 x cap" \
	test -s "$log.1" -a "$total" -lt $((2 * 80 * 1024))
read -r n bad <<<"$(lines "$log.1" "$log")"
check "every line whole ($bad torn)" test "$bad" = 0
check "no line lost: $n of $((PROCS * ROUNDS * 2))" test "$n" = $((PROCS * ROUNDS * 2))
expect_exit 0 "lokt audit --json after the race" "$LOKT" audit --json
check "lokt audit reads all $((PROCS * ROUNDS * 2))" test "$(jget 'len(d)' <<<"$OUT")" = $((PROCS * ROUNDS * 2))
done_testing
