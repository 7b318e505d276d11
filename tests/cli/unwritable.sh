#!/bin/bash
# SPDX-License-Identifier: MIT
# `lokt unlock` (and `lokt unfreeze`) on a store the caller may read but
# not write (owned by root, 0755), run as a real unprivileged user:
# another owner's lock (freeze) is
# "not owner" (exit 4), a free name "not found" (exit 3) — not exit 1
# for the EACCES of the name's sidecar — and a release that would be
# allowed (own owner, --force) is the permission error (exit 1) that
# says what to fix. The store is left exactly as it was.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v useradd >/dev/null; then
	skip "unlock on a store the caller cannot write" "needs root and useradd"
	done_testing
	exit 0
fi
user="lkcl-uw$$"
if ! useradd -M -N -s /bin/sh "$user" 2>"$T/useradd.err"; then
	skip "unlock on a store the caller cannot write" \
		"useradd failed: $(cat "$T/useradd.err")"
	done_testing
	exit 0
fi
at_exit "userdel '$user' 2>/dev/null"
chmod 755 "$T" # the user may read the store, not write it

# as_user CMD...: CMD as $user (its own uid, gid and no groups), same env
as_user() {
	setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
		--reset-env -- env LOKT_ROOT="$LOKT_ROOT" PATH="$PATH" \
		${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} "$@"
}

hold alice uw || exit 1
LOKT_OWNER=alice "$LOKT" freeze fz --ttl 1h -q || exit 1
lf=$(lockfile uw)
before=$(cat "$lf")
audit_before=$(wc -l <"$LOKT_ROOT/audit.log")

if as_user touch "$LOKT_ROOT/locks/probe" 2>/dev/null; then
	not_ok "the user cannot write the store"
else
	ok "the user cannot write the store"
fi
expect_exit 4 "unlock of alice's lock: not owner (exit 4)" as_user "$LOKT" unlock uw
contains "$ERR" "not yours" "... and says whose it is"
expect_exit 3 "unlock of a free name: not found (exit 3)" as_user "$LOKT" unlock free-uw
expect_exit 1 "unlock as owner alice (allowed, but no write access): exit 1" \
	as_user env LOKT_OWNER=alice "$LOKT" unlock uw
contains "$ERR" "Permission denied" "... saying permission was denied"
expect_exit 1 "unlock --force: the permission error (exit 1)" \
	as_user "$LOKT" unlock uw --force --yes
expect_exit 4 "unfreeze of alice's freeze: not owner (exit 4)" as_user "$LOKT" unfreeze fz
expect_exit 3 "unfreeze of a name not frozen: not found (exit 3)" as_user "$LOKT" unfreeze free-uw
expect_exit 1 "unfreeze --force: the permission error (exit 1)" \
	as_user "$LOKT" unfreeze fz --force
contains "$ERR" "Permission denied" "... saying permission was denied"
check "the freeze still stands" test -f "$LOKT_ROOT/freezes/fz.json"
check "the lock file is unchanged" test "$(cat "$lf")" = "$before"
check "nothing was audited" test "$(wc -l <"$LOKT_ROOT/audit.log")" = "$audit_before"
expect_exit 0 "the lock is still held" "$LOKT" exists uw

# A user who may only read the store cannot flock a name's sidecar (or
# the fence floor): a flock held there would stall every transition of
# the name for as long as that user liked. Sidecars are 0600, and one an
# older lokt made readable (0644) is closed again by the next transition.
sc=$LOKT_ROOT/locks/.uw.lk
check "the sidecar is 0600" test "$(stat -c %a "$sc")" = 600
if as_user flock -n "$sc" true 2>"$T/flock.err"; then
	not_ok "the reader cannot flock the sidecar"
else
	contains "$(cat "$T/flock.err")" "Permission denied" "the reader cannot flock the sidecar"
fi
"$LOKT" lock sc-old -q && "$LOKT" unlock sc-old -q
chmod 0644 "$LOKT_ROOT/locks/.sc-old.lk"
"$LOKT" lock sc-old -q && "$LOKT" unlock sc-old -q
check "a sidecar left 0644 is 0600 after the next transition" \
	test "$(stat -c %a "$LOKT_ROOT/locks/.sc-old.lk")" = 600
touch -d '2 days ago' "$LOKT_ROOT/locks/.sc-old.lk" # idle: pruned, its fence to the floor
"$LOKT" status --prune-expired >/dev/null
check "the fence floor is 0600" test "$(stat -c %a "$LOKT_ROOT/locks/.fence-floor")" = 600
chmod 0644 "$LOKT_ROOT/locks/.fence-floor" # as an earlier lokt made it
"$LOKT" lock sc-old -q && "$LOKT" unlock sc-old -q
touch -d '2 days ago' "$LOKT_ROOT/locks/.sc-old.lk"
"$LOKT" status --prune-expired >/dev/null
check "a fence floor left 0644 is 0600 after the next prune" \
	test "$(stat -c %a "$LOKT_ROOT/locks/.fence-floor")" = 600

# Nor can that user open a waiter's ticket: a shared flock held there on a
# dead waiter's ticket kept it "waiting" for ever, and the name with it
# (every lock refused for waiters queued ahead). Tickets are 0600, as
# sidecars are (docs/protocol.md, "The waiter queue"); the user still
# counts the waiter.
hold alice tq || exit 1
tq_holder=$HOLDER
LOKT_OWNER=bob "$LOKT" lock tq --wait --timeout 1h -q &
waiter=$!
track "$waiter"
tq_ticket() { compgen -G "$LOKT_ROOT/locks/.tq.q/[0-9]*[0-9]"; }
if ! wait_for 30 tq_ticket >/dev/null; then
	not_ok "the waiter took a ticket"
else
	ticket=$(tq_ticket)
	check "the ticket is 0600" test "$(stat -c %a "$ticket")" = 600
	as_user flock -s "$ticket" sleep 600 2>"$T/tflock.err" &
	squatter=$!
	track "$squatter"
	sleep 0.5
	if kill -0 "$squatter" 2>/dev/null; then
		not_ok "the reader cannot flock the ticket"
	else
		contains "$(cat "$T/tflock.err")" "Permission denied" \
			"the reader cannot flock the ticket"
	fi
	expect_exit 2 "the reader's why still runs (held: exit 2)" as_user "$LOKT" why tq
	contains "$OUT" "1 waiter" "... and counts the waiter it cannot open"
	kill -9 "$waiter"
	wait "$waiter" 2>/dev/null
	kill "$tq_holder"
	wait "$tq_holder" 2>/dev/null
	expect_exit 0 "the dead waiter's ticket holds nothing up" \
		"$LOKT" lock tq --holder $$ -q
fi

done_testing
