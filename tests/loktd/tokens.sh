#!/bin/bash
# SPDX-License-Identifier: MIT
# loktd's command line and tokens: usage errors exit 64; listening beyond
# loopback without --tokens is refused at start (exit 2, a clear
# message); a bad tokens file is refused; with tokens, state-changing
# requests need a valid Bearer token (401 otherwise, nothing changes),
# the owner is the token's (a body's "owner" is ignored), one owner cannot
# renew or release another's lock (403), Tracker's GET /unlock needs a
# token too; reads stay open; tokens never reach loktd's output; SIGINT
# stops it with exit 0.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

expect_exit 64 "unknown option: exit 64" "$LOKTD" --bogus
expect_exit 64 "bad --listen: exit 64" "$LOKTD" --listen nowhere
expect_exit 64 "bad --default-ttl: exit 64" "$LOKTD" --default-ttl soon
expect_exit 64 "--tls-cert without --tls-key: exit 64" "$LOKTD" --tls-cert x
expect_exit 0 "--help" "$LOKTD" --help
contains "$OUT" "--tokens FILE" "--help lists --tokens"
expect_exit 0 "-V, as lokt -V and loktfs -V" "$LOKTD" -V
contains "$OUT" "loktd " "... prints the version"
expect_exit 2 "0.0.0.0 without tokens: refused, exit 2" "$LOKTD" --listen 0.0.0.0:20000
contains "$ERR" "without --tokens" "the message says why"
expect_exit 2 "[::]:PORT without tokens: refused" "$LOKTD" --listen '[::]:20000'

tok_a=aaaaaaaaaaaaaaaaaaaa-secret-of-alice
tok_b=bbbbbbbbbbbbbbbbbbbb-secret-of-bob
printf '# tokens\n%s alice\n\n%s bob\n' "$tok_a" "$tok_b" >"$T/tokens"
chmod 644 "$T/tokens"
expect_exit 1 "a tokens file every user may read is refused" "$LOKTD" --tokens "$T/tokens"
contains "$ERR" "chmod 600" "... saying what to do"
chmod 660 "$T/tokens"
expect_exit 1 "... and one its group may write" "$LOKTD" --tokens "$T/tokens"
chmod 600 "$T/tokens"
printf 'short alice\n' >"$T/bad-tokens"
chmod 600 "$T/bad-tokens"
expect_exit 1 "a token under 16 characters is refused" "$LOKTD" --tokens "$T/bad-tokens"
contains "$ERR" "line 1" "the message names the line"
expect_exit 1 "a missing tokens file is refused" "$LOKTD" --tokens "$T/none"

start_loktd --tokens "$T/tokens" || { not_ok "loktd starts with tokens"; done_testing; exit 1; }
ok "loktd starts with tokens"
A=(-H "Authorization: Bearer $tok_a")
B=(-H "Authorization: Bearer $tok_b")

before=$(store_state)
req POST /v1/locks/deploy '{"ttl":"5m"}'
expect_status 401 "no token: 401"
expect_jq .error unauthorized "401 says unauthorized"
req POST /v1/locks/deploy '{"ttl":"5m"}' -H "Authorization: Bearer ${tok_a}x"
expect_status 401 "a wrong token: 401"
req POST /v1/locks/deploy '{"ttl":"5m"}' -H "Authorization: Bearer ${tok_a:0:20}"
expect_status 401 "a prefix of a token: 401"
req POST /api/v1alpha1/lock '{"service":"deploy","who":"ci"}'
expect_status 401 "Tracker lock without a token: 401"
[ "$(store_state)" = "$before" ] && ok "refused requests changed nothing" || not_ok "the store changed"

req POST /v1/locks/deploy '{"ttl":"5m","owner":"mallory"}' "${A[@]}"
expect_status 200 "alice's token acquires"
expect_jq .owner alice "the owner is the token's, not the body's"
id=$(jq_of .lock_id)
req POST /v1/locks/deploy/renew "{\"lock_id\":\"$id\"}" "${B[@]}"
expect_status 403 "bob cannot renew alice's lock"
req DELETE /v1/locks/deploy "" "${B[@]}"
expect_status 403 "bob cannot release it"
req DELETE "/v1/locks/deploy?lock_id=$id" "" "${B[@]}"
expect_status 403 "bob cannot release it by its id"
req GET "/api/v1alpha1/unlock/$id"
expect_status 401 "Tracker GET /unlock without a token: 401"
req GET "/api/v1alpha1/unlock/$id" "" "${B[@]}"
expect_status 403 "Tracker GET /unlock with bob's token: 403"
expect_exit 0 "still held" "$LOKT" exists deploy
req GET /v1/locks/deploy
expect_status 200 "reading needs no token"
req POST /v1/locks/deploy/renew "{\"lock_id\":\"$id\",\"ttl\":\"9m\"}" "${A[@]}"
expect_status 200 "alice renews"
req GET "/api/v1alpha1/unlock/$id" "" "${A[@]}"
expect_status 200 "alice releases through Tracker's GET /unlock"
req POST /api/v1alpha1/lock '{"service":"deploy","who":"ci-7"}' "${B[@]}"
expect_status 200 "Tracker lock with bob's token"
expect_jq .who ci-7 "who is kept"
expect_exit 0 "owner is bob" bash -c "'$LOKT' status deploy --json | jq -e '.owner == \"bob\"'"

stop_loktd INT
[ "$RC" = 0 ] && ok "loktd exits 0 on SIGINT" || not_ok "loktd exit $RC"
if grep -q -e "$tok_a" -e "$tok_b" "$T/loktd.err" "$LOKT_ROOT/audit.log"; then
	not_ok "tokens never appear in loktd's output or the audit log"
else
	ok "tokens never appear in loktd's output or the audit log"
fi
done_testing
