#!/bin/bash
# SPDX-License-Identifier: MIT
# Keys planted by hand under the store's prefix whose values are large
# (1.2 MB each, 1.6 in base64: seven are more than an answer of the
# gateway may hold, 8 MiB, in one page of 1000 keys) must not break the listing of the whole store:
# lokt status, status --prune-expired and --json still list every lock,
# the planted keys among them as corrupt ones (found by an adversarial
# review: "Argument list too long" for the whole store).
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

"$LOKT" lock ok --detach --ttl 1h -q
head -c 1200000 /dev/zero | tr '\0' x >"$T/mb"
"$PY" - "$ETCD_EP" "$T/mb" <<'PYEOF'
import base64, json, sys, urllib.request
ep, mb = sys.argv[1], open(sys.argv[2]).read()
b = lambda s: base64.b64encode(s.encode()).decode()
def put(k, v):
    req = {"success": [{"requestPut": {"key": b("/lokt-test/locks/" + k), "value": b(v)}}]}
    urllib.request.urlopen(urllib.request.Request(
        "http://%s/v3/kv/txn" % ep, data=json.dumps(req).encode())).read()
for i in range(7):
    put("h%02d" % i, mb)
PYEOF
check "7 keys of 1.2 MB planted (11 MB as the gateway sends them)" test $? -eq 0

expect_exit 0 "lokt status lists the store" "$LOKT" status
contains "$OUT" "ok " "... the real lock among them"
out=$("$LOKT" status --json)
check "--json: 8 locks (the real one, 7 planted)" \
	test "$(jq '.locks | length' <<<"$out")" = 8
check "... the real one live" test "$(jq -r '.locks[] | select(.name=="ok") | .state' <<<"$out")" = live
check "... the planted ones corrupt" \
	test "$(jq '[.locks[] | select(.name!="ok") | select(.state=="corrupt")] | length' <<<"$out")" = 7
expect_exit 0 "lokt status --prune-expired works" "$LOKT" status --prune-expired
expect_exit 0 "... and leaves the real lock" "$LOKT" exists ok
done_testing
