#!/bin/bash
# SPDX-License-Identifier: MIT
# Fences are unsigned 64-bit (docs/protocol.md): a lock file whose fence
# is 2^63-1 is followed by 2^63, 2^63+1 (never stuck at 2^63-1) in
# `lokt lock`'s message, `status --json`, guard's LOKT_FENCE and the audit
# log; after 2^64-1 the next acquisition fails with a clear message and
# exit 1, and nothing wraps; a fence beyond 2^64-1 makes the file corrupt.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

host=$(hostname)
# plant NAME FENCE: a stale lock file (its holder long dead) at FENCE.
plant() {
	printf '{"version":1,"name":"%s","owner":"someone","host":"%s","pid":999999999,"acquired_ts":"2026-01-05T10:00:00Z","fence":%s}\n' \
		"$1" "$host" "$2" >"$(lockfile "$1")"
}
# fence_of NAME: the fence `lokt status NAME --json` reports, exactly.
fence_of() { "$LOKT" status "$1" --json | jget 'd["fence"]'; }
# audit_fence EVENT NAME: the fence of the last such audit event.
audit_fence() {
	"$PY" - "$LOKT_ROOT/audit.log" "$1" "$2" <<'PYEOF'
import json, sys
f = [e.get("fence") for e in map(json.loads, open(sys.argv[1]))
     if e["event"] == sys.argv[2] and e["name"] == sys.argv[3]]
print(f[-1] if f else "none")
PYEOF
}

sleep 600 &
sp=$!
track "$sp"
expect_exit 0 "the store exists" "$LOKT" lock init --holder "$sp"

plant big 9223372036854775807
got=$(fence_of big)
[ "$got" = 9223372036854775807 ] && ok "status --json: fence 2^63-1 as written" || not_ok "status --json: fence $got, want 2^63-1"
expect_exit 0 "lock big over the dead holder" "$LOKT" lock big --holder "$sp"
contains "$OUT" "fence 9223372036854775808" "lock says fence 2^63"
got=$(fence_of big)
[ "$got" = 9223372036854775808 ] && ok "status --json: fence 2^63" || not_ok "status --json: fence $got, want 2^63"
got=$(audit_fence acquire big)
[ "$got" = 9223372036854775808 ] && ok "audit: acquire with fence 2^63" || not_ok "audit: acquire fence $got"
expect_exit 0 "unlock big" "$LOKT" unlock big
expect_exit 0 "guard big" "$LOKT" guard big -- sh -c 'echo "F=$LOKT_FENCE"'
contains "$OUT" "F=9223372036854775809" "guard's LOKT_FENCE is 2^63+1"

plant top 18446744073709551614
expect_exit 0 "lock top over a dead holder at 2^64-2" "$LOKT" lock top --holder "$sp"
got=$(fence_of top)
[ "$got" = 18446744073709551615 ] && ok "status --json: fence 2^64-1" || not_ok "status --json: fence $got, want 2^64-1"
expect_exit 0 "unlock top" "$LOKT" unlock top
expect_exit 1 "lock top after fence 2^64-1" "$LOKT" lock top --holder "$sp"
contains "$ERR" "fence counter is exhausted" "the error says the fences are used up"
expect_exit 3 "top was not taken (no fence wrapped to 1)" "$LOKT" exists top
expect_exit 1 "guard top after fence 2^64-1 runs nothing" "$LOKT" guard top -- touch "$T/ran"
check "guard's command did not run" test ! -e "$T/ran"

# A stale file already at 2^64-1 is not broken (that would forget it).
plant last 18446744073709551615
expect_exit 1 "lock over a stale file at 2^64-1" "$LOKT" lock last --holder "$sp"
contains "$ERR" "fence counter is exhausted" "the error says the fences are used up"
check "the file at 2^64-1 is still there" grep -q 18446744073709551615 "$(lockfile last)"

# Beyond 2^64-1: corrupt, not clamped to 2^64-1.
plant over 18446744073709551616
got=$("$LOKT" status over --json | jget 'd["state"]')
[ "$got" = corrupt ] && ok "fence 2^64: the file is corrupt" || not_ok "fence 2^64: state $got"
expect_exit 0 "lock over breaks the corrupt file" "$LOKT" lock over --holder "$sp"
check "audited as corrupt-break" audit_has corrupt-break over

done_testing
