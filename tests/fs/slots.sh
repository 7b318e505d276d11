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

# rm of one place removes no file: another holder's open file still
# names the semaphore, reads it and renews its place by writing.
cat >"$T/sem.py" <<'PY'
import errno, json, os, sys
p = sys.argv[1]
def holders(fd):
    data = os.pread(fd, 65536, 0)
    return len(json.loads(data)["holders"]) if data else "empty"
def one(name, f):
    try:
        print(name, f())
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
    sys.stdout.flush()
w = os.open(p, os.O_WRONLY | os.O_CREAT)
r = os.open(p, os.O_RDONLY)
print("taken", holders(r))
sys.stdout.flush()
sys.stdin.readline()  # another owner's rm of its own place
one("holders_after_rm", lambda: holders(r))
one("fstat", lambda: "OK" if os.fstat(w).st_nlink == 1 else "unlinked")
one("write", lambda: "OK" if os.write(w, b"30m\n") == 4 else "short")
os.close(w)
os.close(r)
os.unlink(p)
print("done")
PY
place alice "$M/slots/2/semx"
check "alice takes a place of slots/2/semx (got $GOT)" test "$GOT" = OK
mkfifo "$T/sem.in"
LOKT_OWNER=bob "$PY" "$T/sem.py" "$M/slots/2/semx" <"$T/sem.in" >"$T/sem.out" 2>&1 &
sp=$!
exec 7>"$T/sem.in"
wait_for 20 grep -q "^taken" "$T/sem.out"
check "bob takes the other place, and keeps its file open ($(head -1 "$T/sem.out"))" \
	test "$(head -1 "$T/sem.out")" = "taken 2"
LOKT_OWNER=alice "$PY" "$ERRNO_PY" unlink "$M/slots/2/semx" >"$T/rm.out"
check "alice's rm gives her place back ($(cat "$T/rm.out"))" test "$(cat "$T/rm.out")" = OK
echo go >&7
exec 7>&-
wait "$sp"
OUT=$(cat "$T/sem.out")
for want in "holders_after_rm 1" "fstat OK" "write OK" done; do
	grep -qxF "$want" <<<"$OUT" && ok "after another owner's rm, bob's open file: $want" ||
		not_ok "after another owner's rm, bob's open file: want '$want', got: $OUT"
done
check "the semaphore is gone after bob's rm" test -z "$(record semx)"

# A holder's touch of its own place keeps the place's TTL, as it does a
# lock's (loktfs(8)): it used to take the name's record's TTL, which a
# name of several holders does not have, and drop it.
for d in shared slots/2; do
	bash -c 'echo 30m >"$1" && touch "$1" && cat "$1"' _ "$M/$d/tk" >"$T/tk.out" 2>&1
	check "$d/tk: echo 30m, then touch by the same holder: its place keeps ttl_sec 1800 ($(tr -d '\n' <"$T/tk.out" | cut -c1-300))" \
		test "$("$PY" -c 'import json, sys; print(json.load(sys.stdin)["holders"][0]["ttl_sec"])' <"$T/tk.out" 2>/dev/null)" = 1800
	rm -f "$M/$d/tk"
done

if unmount_fs "$M"; then ok "unmounts cleanly"; else not_ok "unmounts cleanly"; fi
done_testing
