#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The store is the truth, not the daemon: kill -9 the daemon while locks
# are held, clear the dead mount, remount the same root, and the same locks
# (the same records, byte for byte) are there and still exclude others.
# Unmounting cleanly (SIGTERM, SIGINT or SIGHUP to a -f daemon, or
# fusermount3 -u) while a lock is held exits 0 and leaves the lock in the
# store as it was.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
L=$M/locks
if ! mount_fs "$M"; then
	not_ok "mount loktfs on $M"
	done_testing
	exit 1
fi
ok "mount loktfs on $M"
export L

bash -c 'touch "$L/a" || exit 1; exec sleep 300' &
holder=$!
at_exit "kill_child KILL $holder"
if wait_for 30 "$LOKT" exists a; then ok "a live shell holds a"; else not_ok "a live shell did not take a"; fi
expect_exit 0 "touch locks/b" touch "$L/b"
if echo 30m >"$M/freezes/f"; then ok "echo 30m > freezes/f"; else not_ok "echo 30m > freezes/f"; fi
ida=$(jfield lock_id <"$L/a")
idb=$(jfield lock_id <"$L/b")
idf=$(jfield lock_id <"$M/freezes/f")
# The whole records, as the mount shows them and as the store holds them.
cat "$L/a" >"$T/a.mnt"
cat "$L/b" >"$T/b.mnt"
cat "$M/freezes/f" >"$T/f.mnt"
cp "$LOKT_ROOT/locks/a.json" "$T/a.store"
cp "$LOKT_ROOT/freezes/f.json" "$T/f.store"
# same_record DESC NAME FILE-OF-BEFORE NOW-PATH
same_record() {
	if cmp -s "$3" "$4"; then
		ok "$1: $2 byte for byte as before"
	else
		not_ok "$1: $2 changed: was $(cat "$3"), now $(cat "$4" 2>&1)"
	fi
}

# ---- kill -9 ---------------------------------------------------------------
daemon=$MOUNT_PID
kill -9 "$daemon"
wait_for 30 proc_gone "$daemon"
wait "$daemon" 2>/dev/null
errno_of stat "$L/a"
[ "$GOT" = ENOTCONN ] && ok "dead daemon: stat through the mount is ENOTCONN" ||
	not_ok "dead daemon: stat gave $GOT, want ENOTCONN"
expect_exit 0 "fusermount3 -u -z the dead mount" fusermount3 -u -z "$M"
is_loktfs "$M" && not_ok "$M still a mount" || ok "$M no longer a mount"
expect_exit 0 "lokt status a: held while no daemon runs" "$LOKT" status a
expect_exit 0 "lokt exists b: held while no daemon runs" "$LOKT" exists b

if mount_fs "$M"; then ok "remount the same root"; else not_ok "remount the same root"; fi
[ "$(jfield lock_id <"$L/a")" = "$ida" ] && ok "after remount: a has the same lock_id" ||
	not_ok "after remount: a lock_id '$(jfield lock_id <"$L/a")', was $ida"
[ "$(jfield lock_id <"$L/b")" = "$idb" ] && ok "after remount: b has the same lock_id" ||
	not_ok "after remount: b lock_id '$(jfield lock_id <"$L/b")', was $idb"
[ "$(jfield lock_id <"$M/freezes/f")" = "$idf" ] && ok "after remount: freeze f is there" ||
	not_ok "after remount: freeze f '$(cat "$M/freezes/f" 2>&1)'"
same_record "after remount" "cat locks/a" "$T/a.mnt" "$L/a"
same_record "after remount" "cat locks/b" "$T/b.mnt" "$L/b"
same_record "after remount" "cat freezes/f" "$T/f.mnt" "$M/freezes/f"
same_record "after remount" "store's a.json" "$T/a.store" "$LOKT_ROOT/locks/a.json"
same_record "after remount" "store's f.json" "$T/f.store" "$LOKT_ROOT/freezes/f.json"
[ "$(jfield pid <"$L/a")" = "$holder" ] && ok "after remount: a still names its live holder ($holder)" ||
	not_ok "after remount: a pid '$(jfield pid <"$L/a")', want $holder"
ls "$L" >"$T/ls.out"
[ "$(sort "$T/ls.out" | tr '\n' ' ')" = "a b " ] && ok "after remount: ls locks/ is a b" ||
	not_ok "after remount: ls locks/: $(cat "$T/ls.out")"
expect_errno EBUSY "after remount: touch locks/a (live shell's) from here" create "$L/a"
expect_errno EBUSY "after remount: touch locks/f is still frozen" create "$L/f"
expect_exit 0 "after remount: touch locks/b by its holder renews" touch "$L/b"
[ "$(jfield lock_id <"$L/b")" = "$idb" ] && ok "b renewed, same lock_id" || not_ok "b: $(cat "$L/b")"

# ---- clean unmounts with a lock held ------------------------------------------
if unmount_fs "$M" term; then ok "SIGTERM to the daemon: unmounted, exit 0"; else not_ok "SIGTERM to the daemon: no clean exit"; fi
expect_exit 0 "after SIGTERM unmount: lokt status a still held" "$LOKT" status a
"$LOKT" status a --json >"$T/a.st"
[ "$(jfield lock_id <"$T/a.st")" = "$ida" ] && ok "a keeps its lock_id in the store" || not_ok "a in the store: $(cat "$T/a.st")"
expect_exit 0 "after SIGTERM unmount: b still held" "$LOKT" exists b
same_record "after SIGTERM unmount" "store's a.json" "$T/a.store" "$LOKT_ROOT/locks/a.json"

# SIGINT and SIGHUP unmount cleanly too (the daemon runs in the background
# of a script, where SIGINT starts out ignored).
for sig in int hup; do
	if mount_fs "$M"; then ok "mount again for SIG${sig^^}"; else not_ok "mount again for SIG${sig^^}"; fi
	same_record "mounted for SIG${sig^^}" "cat locks/a" "$T/a.mnt" "$L/a"
	if unmount_fs "$M" "$sig"; then ok "SIG${sig^^} to the daemon: unmounted, exit 0"; else not_ok "SIG${sig^^} to the daemon: no clean exit"; fi
	same_record "after SIG${sig^^}" "store's a.json" "$T/a.store" "$LOKT_ROOT/locks/a.json"
	same_record "after SIG${sig^^}" "store's f.json" "$T/f.store" "$LOKT_ROOT/freezes/f.json"
done

if mount_fs "$M"; then ok "mount again"; else not_ok "mount again"; fi
if unmount_fs "$M"; then ok "fusermount3 -u with a lock held: daemon exits 0"; else not_ok "fusermount3 -u: no clean exit"; fi
expect_exit 0 "after fusermount3 -u: a still held" "$LOKT" exists a
expect_exit 0 "lokt unlock a (same owner)" "$LOKT" unlock a
done_testing
