#!/bin/bash
# SPDX-License-Identifier: MIT
# The loktfs daemon is the keeper of the locks taken through its mount on
# an etcd store (fs/keeper.c): it keeps their leases alive, with no
# process per lock, and releases a lock as soon as its holder exits; a
# daemon that is killed lets its locks go within the lease; one that
# stops cleanly releases them. On a real etcd member, with a real mount.
LOKT_TEST_STORE=etcd
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

if [ -z "${LOKTFS:-}" ] || [ ! -c /dev/fuse ] || [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs loktfs, /dev/fuse and root"
	exit 0
fi
# A short lease: what outlives it was kept alive.
export LOKT_ETCD_LEASE=2s LOKT_ETCD_TIMEOUT=1s

M=$T/mnt
mkdir -p "$M"
mount_up() {
	"$LOKTFS" -f -o "root=$LOKT_ROOT" "$M" 2>"$T/loktfs.err" &
	daemon=$!
	track "$daemon"
	at_exit "fusermount3 -u '$M' 2>/dev/null || umount -l '$M' 2>/dev/null"
	wait_for 20 test -d "$M/locks"
}
keepers() { pgrep -f "lokt-keeper $LOKT_ROOT $1 " | wc -l; }
holder_of() { "$LOKT" status "$1" --json 2>/dev/null | jget 'd["pid"]'; }

check "mounted" mount_up

# --- a keeper that cannot start is said before the daemon leaves ----------
# (in the background its stderr is gone after fuse_daemonize). An agent id
# too long for a holder's identity makes the daemon's own identity fail.
M2=$T/mnt2
mkdir -p "$M2"
long=$(printf 'a%.0s' $(seq 600))
expect_exit 1 "a background mount whose keeper cannot start fails" \
	env LOKT_AGENT_ID="$long" "$LOKTFS" -o "root=$LOKT_ROOT" "$M2"
contains "$ERR" "cannot keep the leases" "... and says why on stderr"
check "... and left nothing mounted" eval '! findmnt -M "$M2" >/dev/null'

# --- a lock taken with touch, held by the script that touched it ---------
sh -c "touch '$M/locks/k1' && : >'$T/k1.took' && exec sleep 600" &
h1=$!
track "$h1"
check "a script takes k1 with touch" wait_for 20 test -e "$T/k1.took"
check "... held by the script (pid $h1)" test "$(holder_of k1)" = "$h1"
check "... no lokt-keeper process for it: the daemon keeps it" \
	test "$(keepers k1)" = 0

# --- a slot of a semaphore, taken through the mount ---------------------
# Taken before k1's wait below, which it shares (the same two leases).
sh -c "touch '$M/slots/2/s1' && : >'$T/s1.took' && exec sleep 600" &
hs=$!
track "$hs"
check "a script takes a slot of s1 with touch" wait_for 20 test -e "$T/s1.took"
check "... no lokt-keeper process for it: the daemon keeps it" \
	test "$(keepers s1)" = 0
expect_exit 0 "lokt takes the other slot of s1" \
	env LOKT_OWNER=other "$LOKT" lock s1 --slots 2 --holder 1 --ttl 1m -q

sleep 5 # more than twice the lease, since k1 and s1 were both taken
expect_exit 0 "k1 outlives its 2 s lease (the daemon keeps it alive)" "$LOKT" exists k1
expect_exit 2 "... and is refused to others" env LOKT_OWNER=other "$LOKT" lock k1
expect_exit 2 "the mount's slot outlives its 2 s lease: s1 is full" \
	env LOKT_OWNER=third "$LOKT" lock s1 --slots 2
kill -9 "$h1"
check "the holder of k1 dies: k1 is released at once" \
	wait_for 5 eval '! "$LOKT" exists k1'
check "... audited as a release of k1" wait_for 5 audit_has release k1
check "... not as an expiry" test "$(audit_count expire k1)" = 0
kill -9 "$hs"
check "the holder of the slot dies: its slot is released at once" \
	wait_for 5 eval '[ "$("$LOKT" status --json | grep -o "\"name\":\"s1\"" | wc -l)" = 1 ]'
check "... audited as a release, not an expiry" \
	eval 'audit_has release s1 && [ "$(audit_count expire s1)" = 0 ]'
"$LOKT" unlock s1 --force --yes -q

# --- released with lokt, from outside the mount --------------------------
sh -c "touch '$M/locks/k2' && : >'$T/k2.took' && exec sleep 600" &
h2=$!
track "$h2"
check "a script takes k2" wait_for 20 test -e "$T/k2.took"
expect_exit 0 "lokt unlock --force k2 from outside" "$LOKT" unlock k2 --force -q
expect_exit 0 "another takes k2" env LOKT_OWNER=other "$LOKT" lock k2 --holder 1 --ttl 1m -q
kill -9 "$h2"
sleep 1
check "the first holder's death leaves the new holder's k2 alone" \
	test "$("$LOKT" status k2 --json | jget 'd["owner"]')" = other
"$LOKT" unlock k2 --force -q

# --- released by its holder, which then exits ---------------------------
# The daemon keeps k5 until its holder exits; a holder that removed k5
# itself has nothing left to release: no loss is recorded.
sh -c "touch '$M/locks/k5' && rm '$M/locks/k5' && : >'$T/k5.done'" &
h5=$!
check "a script takes k5 and removes it" wait_for 20 test -e "$T/k5.done"
wait "$h5"
check "... audited as a release" wait_for 5 audit_has release k5
sleep 1
check "... its exit is no loss of k5 (no lost event)" \
	test "$(audit_count lost k5)" = 0

# --- the daemon killed: its locks go within the lease --------------------
sh -c "touch '$M/locks/k3' && : >'$T/k3.took' && exec sleep 600" &
h3=$!
track "$h3"
check "a script takes k3" wait_for 20 test -e "$T/k3.took"
f1=$("$LOKT" status k3 --json | jget 'd["fence"]')
kill -9 "$daemon"
wait "$daemon" 2>/dev/null
fusermount3 -u "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
check "the daemon killed: another takes k3 within the lease" \
	wait_for 20 eval 'env LOKT_OWNER=other "$LOKT" lock k3 --holder 1 --ttl 1m -q'
f2=$("$LOKT" status k3 --json | jget 'd["fence"]')
check "... with a higher fence ($f1 < $f2)" test "${f1:-0}" -lt "${f2:-0}"
"$LOKT" unlock k3 --force -q
kill -9 "$h3"

# --- a clean stop releases what the daemon keeps -------------------------
check "mounted again" mount_up
sh -c "touch '$M/locks/k4' && : >'$T/k4.took' && exec sleep 600" &
h4=$!
track "$h4"
check "a script takes k4" wait_for 20 test -e "$T/k4.took"
fusermount3 -u "$M"
check "unmounted: the daemon exits" wait_for 20 eval '! kill -0 "$daemon" 2>/dev/null'
expect_exit 3 "... and k4 was released, not left to expire" "$LOKT" exists k4
check "... audited as a release" audit_has release k4
kill -9 "$h4"

done_testing
