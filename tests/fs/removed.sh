#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A lock file removed while open (issue 10, item 1): an unprivileged user
# on an -o allow_other mount takes locks/z, opens it for reading, removes
# it and goes on using both open files. libfuse hands those requests a
# NULL path; the daemon used to dereference it and die (SIGSEGV), and
# every user of the mount then got "Transport endpoint is not connected".
# Now the open file names no lock: read is end of file, ftruncate to 0
# succeeds and to 5 is EPERM, fstat, futimens and write are ESTALE,
# lseek to its end finds an empty file (docs/loktfs.8). The daemon answers the next request and exits 0 on
# unmount.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "removed.sh: a second uid" "needs root to create a user and mount with allow_other"
	done_testing
	exit 0
fi

second_user lkfsrm
chmod 0711 "$T"

M=$T/mnt
if ! mount_fs "$M" allow_other; then
	not_ok "mount loktfs -o allow_other on $M"
	done_testing
	exit 1
fi
ok "mount loktfs -o allow_other on $M"

# One line per call: "NAME OK" or "NAME ERRNO".
cat >"$T/removed.py" <<'PY'
import errno, os, sys
path = sys.argv[1]
def one(name, f):
    try:
        f()
        print(name, "OK")
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
    sys.stdout.flush()
w = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
r = os.open(path, os.O_RDONLY)
print("before", "held" if b'"lock_id"' in os.pread(r, 65536, 0) else "empty")
os.unlink(path)
print("read", repr(os.pread(r, 65536, 0)))
one("read_again", lambda: os.read(r, 65536))
one("ftruncate0", lambda: os.ftruncate(w, 0))
one("ftruncate5", lambda: os.ftruncate(w, 5))
one("fstat", lambda: os.fstat(r))
one("fstat_w", lambda: os.fstat(w))
one("seek_end", lambda: os.lseek(r, 0, os.SEEK_END))
one("futimens", lambda: os.utime(r))
one("write", lambda: os.write(w, b"30m\n"))
os.close(w)
os.close(r)
print("done")
PY
chmod 0644 "$T/removed.py"

setpriv --reuid="$(id -u "$U")" --regid="$(id -g "$U")" --clear-groups \
	env -u LOKT_OWNER -u LOKT_AGENT_ID HOME=/ \
	"$PY" "$T/removed.py" "$M/locks/z" >"$T/out" 2>"$T/err"
st=$?
OUT=$(cat "$T/out")
[ "$st" -eq 0 ] && ok "the user's calls all returned" ||
	{ not_ok "the user's script failed (exit $st)"; diag "$OUT" "$(cat "$T/err")"; }

want() {
	local line=$1
	if grep -qxF -- "$line" "$T/out"; then
		ok "unlinked open file: $line"
	else
		not_ok "unlinked open file: want '$line'"
		diag "$OUT"
	fi
}
want "before held"
want "read b''"
want "read_again OK"
want "ftruncate0 OK"
want "ftruncate5 EPERM"
want "fstat ESTALE"
want "fstat_w ESTALE"
# lseek to the end asks for the size with the open file: an empty file.
want "seek_end OK"
want "futimens ESTALE"
want "write ESTALE"
want "done"

check "the daemon is still running" kill -0 "$MOUNT_PID"
expect_exit 0 "the mount still answers (ls locks)" ls "$M/locks"
expect_exit 0 "and still takes a lock (touch locks/y)" touch "$M/locks/y"
expect_exit 0 "rm locks/y gives it back" rm "$M/locks/y"
check "unmount, and the daemon exits 0" unmount_fs "$M"

done_testing
