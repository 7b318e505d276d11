#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Holders hidden by /proc: where /proc is mounted with hidepid=invisible
# (or a service runs with systemd's ProtectProc=invisible), another
# user's processes have no /proc entry. A member of a shared store who
# looks from there must still see root's live holders as live, and never
# break their locks or places: they were judged dead (no /proc entry),
# broken, and taken beside their holder. A holder gone is still found
# dead there (kill(2) says so), and its lock broken as before (README:
# Scope; docs/protocol.md, who holds).
. "$SRC_ROOT/tests/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "hidepid.sh: a second user behind hidepid" "needs root to create a user and mount /proc"
	done_testing
	exit 0
fi

second_user lkhp own
chmod 0711 "$T"
R=$LOKT_ROOT
mkdir -m 2775 "$R"
chgrp "$U" "$R"

# hidden CMD...: CMD as the second user, in a mount namespace whose /proc
# is mounted with hidepid=invisible, from a shell of that user (lokt
# lock's holder is its parent, as at the user's own prompt).
hidden() {
	unshare -m --propagation private bash -c \
		'mount -t proc -o hidepid=invisible proc /proc || exit 99; exec "$@"' hidden \
		setpriv --reuid="$UID2" --regid="$GID2" --clear-groups \
		env -u LOKT_OWNER -u LOKT_AGENT_ID HOME=/ LOKT_ROOT="$R" \
		bash -c '"$@"; exit $?' shell "$@"
}

sleep 300 &
H=$!
at_exit "kill $H 2>/dev/null"
"$LOKT" lock hx --holder "$H" -q
"$LOKT" lock hs --slots 1 --holder "$H" -q
if ! hidden test -e "/proc/$$" 2>/dev/null && hidden test -e /proc/self; then
	expect_exit 0 "behind hidepid, root's holder has no /proc entry: status hx" hidden "$LOKT" status hx --json
	check "... its holder counted live" eval 'grep -q "\"state\": *\"live\"" <<<"$OUT"'
	expect_exit 2 "... lock hx refused, held" hidden "$LOKT" lock hx
	contains "$ERR" "held by root@" "... by root's holder"
	expect_exit 2 "... a place of semaphore hs refused, full" hidden "$LOKT" lock hs --slots 1
	check "... both still root's holder's" eval \
		'"$LOKT" status --json | grep -o "\"pid\": *$H" | wc -l | grep -qx 2'
	kill "$H"
	wait "$H" 2>/dev/null
	expect_exit 0 "the holder gone: lock hx breaks its stale lock" hidden "$LOKT" lock hx --ttl 1m
	contains "$ERR" "broke stale lock" "... saying so"
	expect_exit 0 "... and a place of hs" hidden "$LOKT" lock hs --slots 1 --ttl 1m
	# A holder that has exited but not been reaped (a zombie: its parent
	# never waits) is dead there too: kill(2) still finds it, its pidfd
	# says it has exited (it counted live, and nobody hidden could break
	# its lock).
	sh -c 'sleep 0.5 & echo $! >"$1"; exec sleep 300' _ "$T/zpid" &
	Z=$!
	at_exit "kill $Z 2>/dev/null"
	wait_for 10 test -s "$T/zpid"
	"$LOKT" lock zx --holder "$(cat "$T/zpid")" -q
	wait_for 10 eval 'grep -q "^State:.*Z" "/proc/$(cat "$T/zpid")/status"'
	expect_exit 0 "behind hidepid, a zombie holder: lock zx breaks its stale lock" hidden "$LOKT" lock zx --ttl 1m
	contains "$ERR" "broke stale lock" "... saying so"
	kill "$Z"
	# lokt doctor says so (it said all was well).
	expect_exit 0 "behind hidepid, doctor" hidden "$LOKT" doctor
	contains "$OUT" "WARN  proc_visible" "... warns that /proc hides other users"
	contains "$OUT" "give locks a TTL" "... and says what to do"
	expect_exit 0 "doctor as the same user, /proc showing everyone" as_user env LOKT_ROOT="$R" "$LOKT" doctor
	contains "$OUT" "OK    proc_visible" "... has proc_visible OK"
else
	skip "a holder behind hidepid=invisible" "this kernel does not hide another user's processes in a /proc mounted with hidepid=invisible"
fi

# A sticky store (1777): another user's file at a name's temp name may
# not be removed by this user. Its renewal writes beside it, and doctor
# reports it as foreign (it said: a leftover, removed by the next change
# or a prune, which cannot remove it).
R2=$T/sticky
mkdir -m 1777 "$R2"
LOKT_ROOT=$R2 "$LOKT" lock warm -q && LOKT_ROOT=$R2 "$LOKT" unlock warm -q
chmod 1777 "$R2/locks" "$R2/freezes"
as_user env LOKT_ROOT="$R2" "$LOKT" lock st --ttl 1h --detach -q
echo planted >"$R2/locks/.st.json.tmp"
expect_exit 0 "a sticky store, root's file at st's temp name: the user renews st" \
	as_user env LOKT_ROOT="$R2" "$LOKT" lock st --ttl 2h --detach
expect_exit 1 "... the user's doctor fails" as_user env LOKT_ROOT="$R2" "$LOKT" doctor
contains "$OUT" "FAIL  foreign_files" "... on a foreign file"
contains "$OUT" "locks/.st.json.tmp" "... naming it"
done_testing
