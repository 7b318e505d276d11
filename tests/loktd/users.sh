#!/bin/bash
# SPDX-License-Identifier: MIT
# Local users through loktd without tokens (loktd(8), SECURITY): loktd
# runs as root on a store only root may write, and another user reaches
# it on loopback. That user's requests act as that user, as through the
# mount: its locks carry its uid (in the record and the audit), it may
# not release, renew, force or lift root's locks and freezes, whatever
# owner it claims, and it keeps its own. It used to act with loktd's
# rights: `lokt unlock --force` refused it "Permission denied", and
# `curl -X POST .../force` broke the lock.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "users.sh: another local user through loktd" "needs root to create a user"
	done_testing
	exit 0
fi
second_user lkld
chmod 0711 "$T"
mkdir -m 0777 "$T/u"

start_loktd || { not_ok "loktd starts"; done_testing; exit 1; }
ok "loktd starts"

# ureq METHOD PATH [BODY]: req, as the second user.
ureq() {
	local args=(-s -o "$T/u/body" -w '%{http_code}' -X "$1")
	[ -n "${3:-}" ] && args+=(--data-binary "$3")
	CODE=$(as_user curl "${args[@]}" "$URL$2")
	BODY=$(cat "$T/u/body")
}

"$LOKT" lock priv --detach --ttl 10m -q
expect_exit 1 "the user may not break root's lock with lokt (the store is root's)" \
	as_user "$LOKT" unlock priv --force --yes
ureq POST /v1/locks/priv/force
expect_status 403 "... nor through loktd: /force refused 403"
expect_jq .error not_owner "... not_owner"
contains "$(jq_of .message)" "belongs to root (uid 0), not to you — force refused" "... saying whose, by uid, and what was refused"
ureq DELETE "/v1/locks/priv?owner=root"
expect_status 403 "... a release claiming owner root: 403"
ureq POST /v1/locks/priv/renew "{\"owner\":\"root\",\"lock_id\":\"$("$LOKT" status priv --json | jq -r .lock_id)\"}"
expect_status 403 "... a renewal claiming owner root: 403"
ureq DELETE "/v1/locks/priv?lock_id=$("$LOKT" status priv --json | jq -r .lock_id)"
expect_status 403 "... a release by its lock_id (anyone may read it): 403"
expect_exit 0 "root's lock stands" "$LOKT" exists priv
check "... never broken in the audit" test "$(audit_count force-break priv)" = 0

ureq POST /v1/locks/mine '{"owner":"root","ttl":"1m"}'
expect_status 200 "the user takes a lock, claiming owner root"
expect_jq .uid "$UID2" "... it is the user's (uid $UID2), not loktd's"
check "... in the store too" test "$("$LOKT" status mine --json | jq -r .uid)" = "$UID2"
check "... and in the audit" eval 'grep "\"event\":\"acquire\"" "$LOKT_ROOT/audit.log" | grep "\"name\":\"mine\"" | grep -q "\"uid\":$UID2"'
ureq DELETE "/v1/locks/mine?owner=root"
expect_status 200 "... and releases it"

req POST /v1/locks/rl '{"owner":"alice","ttl":"1m"}'
expect_jq .uid 0 "a lock root takes over HTTP is root's"
ureq DELETE "/v1/locks/rl?owner=alice"
expect_status 403 "... the user claiming alice may not release it"
ureq POST /v1/locks/rl/force
expect_status 403 "... nor force it"
req POST /v1/locks/rl/force
expect_status 200 "... root may"

# A place of root's in a semaphore: the same.
"$LOKT" lock pool --slots 2 --detach --ttl 10m -q
pid=$("$LOKT" status --json | jq -r '.locks[]|select(.name=="pool")|.lock_id')
ureq DELETE "/v1/locks/pool?lock_id=$pid"
expect_status 403 "root's place in a semaphore: the user may not release it by lock_id"
ureq POST /v1/locks/pool/renew "{\"lock_id\":\"$pid\",\"owner\":\"root\"}"
expect_status 403 "... nor renew it"
ureq POST /v1/locks/pool/force
expect_status 403 "... nor force it"
ureq POST /v1/locks/pool '{"slots":2,"ttl":"1m"}'
expect_status 200 "... but takes the other place"
check "... root's place stands" eval '"$LOKT" status --json | jq -e ".locks[]|select(.lock_id==\"$pid\")" >/dev/null'
"$LOKT" unlock pool --force --yes -q

"$LOKT" freeze fz --ttl 10m -q
ureq DELETE "/v1/freezes/fz?force=1"
expect_status 403 "the user may not lift root's freeze, even with force"
expect_exit 2 "... it stands" "$LOKT" lock fz
ureq POST /v1/freezes/uf '{"owner":"bob","ttl":"1m"}'
expect_status 200 "the user freezes uf"
ureq DELETE "/v1/freezes/uf?owner=bob"
expect_status 200 "... and lifts its own freeze"
req DELETE "/v1/freezes/fz?owner=root"
expect_status 200 "root lifts its freeze"

stop_loktd
[ "$RC" = 0 ] && ok "loktd exits 0 on SIGTERM" || not_ok "loktd exit $RC"

# With tokens the token is the caller, and loktd acts with its own
# rights: run as the user, on a store the user may write, a token's
# /force breaks root's lock there, as `lokt unlock --force` by the user
# does (it was refused 403: root's uid is not loktd's).
mkdir -m 0777 "$T/s2"
printf '%s ci\n' "tok-0123456789abcdef-users" >"$T/u/tokens"
chown "$UID2" "$T/u/tokens" && chmod 600 "$T/u/tokens"
LOKT_ROOT=$T/s2 "$LOKT" lock rt --detach --ttl 10m -q
PORT=$((20000 + RANDOM % 5000)) URL=http://127.0.0.1:$PORT
setpriv --reuid="$UID2" --regid="$GID2" --clear-groups \
	"$LOKTD" --listen "127.0.0.1:$PORT" --root "$T/s2" --tokens "$T/u/tokens" 2>"$T/u/loktd2.err" &
L2=$!
track "$L2"
if wait_for 20 grep -q "^loktd: serving" "$T/u/loktd2.err"; then
	req POST /v1/locks/rt/force "" -H "Authorization: Bearer tok-0123456789abcdef-users"
	expect_status 200 "loktd as $U with a token: /force of root's lock on a store $U may write: 200"
	expect_exit 3 "... it is broken" env LOKT_ROOT="$T/s2" "$LOKT" exists rt
else
	not_ok "loktd as $U starts: $(cat "$T/u/loktd2.err")"
fi
kill "$L2"
reap "$L2"
done_testing
