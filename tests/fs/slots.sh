#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Semaphores and shared locks through a real mount (loktfs(8), "Slots and
# shared locks"): touch slots/K/NAME takes one of K places for the
# caller's holder, shared/NAME a shared place; ls lists the sizes and
# names in use; cat shows every holder; a full semaphore, another size,
# another mode are EBUSY and change nothing; rm releases the caller's
# owner's place, EPERM for another owner's live one; lokt and the mount
# see and honour each other's holders.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

M=$T/mnt
if ! mount_fs "$M"; then
	not_ok "mount loktfs on $M"
	done_testing
	exit 1
fi
ok "mount loktfs on $M"

bg=()
_kill_bg() {
	local p
	for p in "${bg[@]}"; do kill -9 "$p"; done
	for p in "${bg[@]}"; do wait "$p"; done
} 2>/dev/null
at_exit _kill_bg
# place OWNER PATH: a background holder (a bash that then becomes sleep)
# of OWNER makes PATH through the mount; its pid in $HP, the errno word
# in $GOT.
place() {
	rm -f "$T/place.out"
	LOKT_OWNER=$1 bash -c '"$1" "$2" create "$3" >"$4" 2>&1; exec sleep 600' \
		_ "$PY" "$ERRNO_PY" "$2" "$T/place.out" &
	HP=$!
	bg+=("$HP")
	wait_for 20 test -s "$T/place.out"
	GOT=$(cat "$T/place.out")
}
record() { cat "$LOKT_ROOT/locks/$1.json" 2>/dev/null; }
holders() { record "$1" | "$PY" -c 'import json, sys
print(" ".join(h["owner"] for h in json.load(sys.stdin)["holders"]))' 2>/dev/null; }

ls_root=$(ls "$M")
contains "$ls_root" slots "ls / shows slots"
contains "$ls_root" shared "... and shared"

place alice "$M/slots/2/pool"
check "touch slots/2/pool takes a place (got $GOT)" test "$GOT" = OK
ha=$HP
place bob "$M/slots/2/pool"
check "a second holder takes the second place (got $GOT)" test "$GOT" = OK
hb=$HP
check "the record has both holders ($(holders pool))" test "$(holders pool)" = "alice bob"
before=$(record pool)
place carol "$M/slots/2/pool"
check "a third is refused: EBUSY (got $GOT)" test "$GOT" = EBUSY
expect_errno EBUSY "another size is refused" create "$M/slots/3/pool"
expect_errno EBUSY "a shared place is refused" create "$M/shared/pool"
expect_errno EBUSY "an exclusive lock is refused" create "$M/locks/pool"
check "refusals changed nothing" test "$(record pool)" = "$before"

check "ls slots/ shows the size in use" test "$(ls "$M/slots")" = 2
check "ls slots/2/ shows the semaphore once" test "$(ls "$M/slots/2")" = pool
expect_errno ENOENT "slots/3/pool does not exist (another size)" stat "$M/slots/3/pool"
expect_errno EPERM "nothing can be made in slots/ itself" create "$M/slots/pool"
expect_errno EPERM "mkdir in slots/ is refused" mkdir "$M/slots/7x"
n=$(cat "$M/slots/2/pool" | "$PY" -c 'import json, sys; print(len(json.load(sys.stdin)["holders"]))')
check "cat slots/2/pool shows both holders" test "$n" = 2
expect_exit 0 "lokt exists sees the semaphore" "$LOKT" exists pool
expect_exit 2 "lokt lock --slots 2 is refused: full" "$LOKT" lock pool --slots 2

# the CLI and the mount mixed: a dead holder's place goes to lokt
{ kill -9 "$ha" && wait "$ha"; } 2>/dev/null
sleep 600 &
s=$!
bg+=("$s")
expect_exit 0 "lokt takes the dead holder's place" "$LOKT" lock pool --slots 2 --holder "$s"
check "... alice's dead place was broken (the record: $(holders pool))" \
	test "$(holders pool)" = "bob root"
LOKT_OWNER=carol "$PY" "$ERRNO_PY" unlink "$M/slots/2/pool" >"$T/rm.out"
check "rm by another owner of live places: EPERM ($(cat "$T/rm.out"))" \
	test "$(cat "$T/rm.out")" = EPERM
LOKT_OWNER=bob "$PY" "$ERRNO_PY" unlink "$M/slots/2/pool" >"$T/rm.out"
check "rm by bob releases bob's place ($(cat "$T/rm.out"))" \
	test "$(cat "$T/rm.out")" = OK -a "$(holders pool)" = root
"$LOKT" unlock pool -q
check "lokt unlock releases the last place: the record is gone" test -z "$(record pool)"
expect_errno ENOENT "slots/2/pool is gone" stat "$M/slots/2/pool"
check "ls slots/ is empty" test -z "$(ls "$M/slots")"

# shared places, and the writer
place r1 "$M/shared/rw"
check "touch shared/rw takes a shared place (got $GOT)" test "$GOT" = OK
place r2 "$M/shared/rw"
check "a second shared place (got $GOT)" test "$GOT" = OK
check "ls shared/ shows rw" test "$(ls "$M/shared")" = rw
expect_exit 2 "lokt lock rw (the writer) is held by the readers" "$LOKT" lock rw
expect_errno EBUSY "touch locks/rw (the writer) is EBUSY" create "$M/locks/rw"
expect_errno EBUSY "slots/2/rw is another mode: EBUSY" create "$M/slots/2/rw"

if unmount_fs "$M"; then ok "unmounts cleanly"; else not_ok "unmounts cleanly"; fi
done_testing
