#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A store moved while mounted (issue 10, item 6). The mount used to keep
# serving the moved directory while lokt, by path, made a new store at
# the root: both granted the same lock. Now the mount follows the root
# path (liblokt reopens the store when the path names another directory,
# core/store.c): after `mv ROOT ROOT.old` a lock lokt takes at ROOT is
# listed and refused through the mount, a lock taken through the mount is
# refused by lokt, and when the mount is first to notice it makes the new
# store at ROOT, as lokt would. Moves back and forth under concurrent
# requests leave the daemon up, and it exits 0 on unmount.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
R=$LOKT_ROOT
if ! mount_fs "$M"; then
	not_ok "mount loktfs on $M"
	done_testing
	exit 1
fi
ok "mount loktfs on $M (root $R)"

# hold NAME OWNER: lokt lock NAME from a live bash, owned by OWNER; the
# bash's pid in $HOLDER.
hold() {
	LOKT_OWNER=$2 bash -c '"$0" lock "$1" >/dev/null || exit 1; exec sleep 300' "$LOKT" "$1" &
	HOLDER=$!
	at_exit "kill_child TERM $HOLDER"
	if wait_for 30 "$LOKT" exists "$1"; then
		ok "lokt lock $1 by $2 (holder $HOLDER)"
	else
		not_ok "lokt lock $1 by $2"
	fi
}

expect_exit 0 "touch locks/a through the mount" touch "$M/locks/a"
hold x old-owner
ls "$M/locks" | grep -qx x && ok "the mount lists x" || not_ok "the mount does not list x: $(ls "$M/locks")"

# ---- lokt first: it makes the new store at the root -------------------------
check "mv $R $R.old" mv "$R" "$R.old"
hold b cli-owner
check "lokt made a new store at $R" test -f "$R/locks/b.json"
LS=$(ls "$M/locks")
[ "$LS" = b ] && ok "the mount lists only b, the new store's lock" ||
	not_ok "the mount lists '$LS' (want only b: it serves the moved store)"
expect_errno EBUSY "b, held by lokt in the store at $R, is refused through the mount" create "$M/locks/b"
[ "$(jfield pid <"$M/locks/b")" = "$HOLDER" ] && ok "cat locks/b shows lokt's holder $HOLDER" ||
	not_ok "cat locks/b: pid '$(jfield pid <"$M/locks/b" 2>&1)', want $HOLDER"
expect_errno ENOENT "x, held in the moved store only, is not shown" stat "$M/locks/x"
expect_exit 0 "touch locks/c through the mount" touch "$M/locks/c"
check "c is recorded in the store at $R" test -f "$R/locks/c.json"
check "and not in the moved one" test ! -e "$R.old/locks/c.json"
expect_exit 2 "lokt lock c by another owner: held (exit 2)" env LOKT_OWNER=cli-owner "$LOKT" lock c

# ---- the mount first: it makes the new store, as lokt would ----------------
check "mv $R $R.two" mv "$R" "$R.two"
expect_errno ENOENT "c went with the moved store" stat "$M/locks/c"
expect_exit 0 "touch locks/d through the mount" touch "$M/locks/d"
check "the mount made a new store at $R, with d" test -f "$R/locks/d.json"
expect_exit 2 "lokt lock d by another owner: held (exit 2)" env LOKT_OWNER=cli-owner "$LOKT" lock d
expect_exit 0 "rm locks/d through the mount" rm "$M/locks/d"
expect_exit 3 "lokt exists d: free at once" "$LOKT" exists d

# ---- moves under concurrent requests ------------------------------------------
for i in 1 2 3 4; do
	(
		for _ in $(seq 100); do
			touch "$M/locks/h$i" 2>/dev/null
			cat "$M/locks/h$i" >/dev/null 2>&1
			ls "$M/locks" >/dev/null 2>&1
			rm -f "$M/locks/h$i" 2>/dev/null
		done
	) &
	at_exit "kill_child KILL $!"
	hammers+=" $!"
done
moves=0
for _ in $(seq 40); do
	mv "$R" "$R.x" && mv "$R.x" "$R" && moves=$((moves + 2))
	mkdir -p "$R.y" && mv "$R" "$R.z" && mv "$R.y" "$R" && rm -rf "$R.z" &&
		moves=$((moves + 3))
done
# shellcheck disable=SC2086
wait $hammers
ok "$moves moves while 4 shells used the mount"
check "the daemon is still running" kill -0 "$MOUNT_PID"
expect_exit 0 "touch locks/e through the mount" touch "$M/locks/e"
expect_exit 2 "lokt lock e by another owner: held (exit 2)" env LOKT_OWNER=cli-owner "$LOKT" lock e
check "e is recorded in the store at $R" test -f "$R/locks/e.json"
check "unmount, and the daemon exits 0" unmount_fs "$M"

done_testing
