#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Readiness for systemd (loktfs@.service is Type=notify): with
# $NOTIFY_SOCKET set, loktfs sends READY=1 and its pid once, and only
# when the filesystem is mounted, in the foreground (-f, as the unit runs
# it) and when it daemonizes (MAINPID: the daemon, not the parent that
# exits). Without NOTIFY_SOCKET nothing is sent and nothing breaks.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

# listen SOCKET MNT OUT: wait (at most 30 s) for one datagram on SOCKET;
# write "mounted|not-mounted <datagram>" to OUT, judged the moment it came.
listen() {
	"$PY" - "$1" "$2" "$3" <<'PY' &
import os, socket, sys
path, mnt, out = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(path + ".ready", "w").close()
s.settimeout(30)
try:
    msg = s.recv(4096).decode()
    state = "mounted" if os.path.ismount(mnt) else "not-mounted"
except socket.timeout:
    msg, state = "", "timeout"
with open(out, "w") as f:
    f.write(state + " " + msg.replace("\n", " "))
PY
	LPID=$!
	wait_for 10 test -e "$1.ready"
}

mkdir -p "$T/m1" "$T/m2"
listen "$T/n1.sock" "$T/m1" "$T/n1.out"
NOTIFY_SOCKET=$T/n1.sock "$LOKTFS" -f -o "root=$LOKT_ROOT" "$T/m1" &
DPID=$!
wait "$LPID"
got=$(cat "$T/n1.out")
contains "$got" "mounted READY=1" "-f: READY=1 arrives once the filesystem is mounted"
contains "$got" "MAINPID=$DPID" "... with the daemon's pid"
fusermount3 -u "$T/m1"
wait "$DPID"
check "... and it unmounts and exits 0" test $? -eq 0

listen "$T/n2.sock" "$T/m2" "$T/n2.out"
NOTIFY_SOCKET=$T/n2.sock "$LOKTFS" -o "root=$LOKT_ROOT" "$T/m2"
check "daemonized: the command returns 0" test $? -eq 0
wait "$LPID"
got=$(cat "$T/n2.out")
contains "$got" "mounted READY=1" "daemonized: READY=1 once mounted"
pid=$(sed -n 's/.*MAINPID=\([0-9]*\).*/\1/p' <<<"$got")
check "... MAINPID is the running daemon" test -n "$pid" -a "$(cat "/proc/$pid/comm" 2>/dev/null)" = loktfs
fusermount3 -u "$T/m2"
wait_for 10 eval '[ ! -e "/proc/$pid" ]'

NOTIFY_SOCKET= "$LOKTFS" -o "root=$LOKT_ROOT" "$T/m2"
check "without NOTIFY_SOCKET it mounts as before" mountpoint -q "$T/m2"
fusermount3 -u "$T/m2"

done_testing
