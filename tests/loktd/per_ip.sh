#!/bin/bash
# SPDX-License-Identifier: MIT
# Beyond loopback, one address holds at most 256 of loktd's connections
# (loktd(8), LIMITS): a client that sends a byte now and then is never
# idle, and one address could hold every connection loktd has. Run in a
# network namespace of its own (unshare -n), with an address beyond
# loopback (10.9.9.9, on its lo): 256 connections that send nothing are
# held, the next one from that address is closed at once, and once they
# go a request is answered again.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"
. "$SRC_ROOT/tests/loktd/common.sh"

if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null || ! command -v ip >/dev/null; then
	skip "connections per address beyond loopback" \
		"needs root, unshare -n and ip (a network namespace)"
	done_testing
	exit 0
fi
printf '%s ci\n' "cccccccccccccccccccc-token-of-ci" >"$T/tokens"
chmod 600 "$T/tokens"
cat >"$T/hold.py" <<'PY'
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = []
for _ in range(n):
    s = socket.create_connection((host, port), timeout=5)
    held.append(s)
    time.sleep(0.002)
# The next one: closed by loktd at once (EOF or a reset), or answered.
s = socket.create_connection((host, port), timeout=5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
try:
    got = s.recv(64)
except ConnectionResetError:
    got = b""
print("next:", "answered" if got.startswith(b"HTTP/1.1 200") else "closed")
alive = 0
for h in held:
    h.setblocking(False)
    try:
        h.recv(1) # end of file, or an answer: not held
    except BlockingIOError:
        alive += 1 # still open, nothing sent: held
    except OSError:
        pass
print("held:", alive)
for h in held:
    h.close()
time.sleep(0.5)
s = socket.create_connection((host, port), timeout=5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
print("after:", "answered" if s.recv(64).startswith(b"HTTP/1.1 200") else "closed")
PY
out=$(unshare -n bash -c '
	ip link set lo up && ip addr add 10.9.9.9/32 dev lo || exit 1
	"$0" --listen 10.9.9.9:7071 --tokens "$1/tokens" --root "$1/store" 2>"$1/loktd.err" &
	pid=$!
	for i in $(seq 100); do grep -q "^loktd: serving" "$1/loktd.err" && break; sleep 0.1; done
	"$2" "$1/hold.py" 10.9.9.9 7071 256
	kill $pid; wait $pid' "$LOKTD" "$T" "$PY" 2>&1)
diag "$out"
contains "$out" "held: 256" "256 connections from one address that send nothing are held"
contains "$out" "next: closed" "... the next one from that address is closed at once"
contains "$out" "after: answered" "... and once they are gone a request is answered"

# Event streams need no token and stay open: one address could take all
# 256 of them, and every dashboard got 503. It may hold 64 (a quarter);
# another address still gets one.
cat >"$T/streams.py" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
def stream(src):
    s = socket.create_connection((host, port), timeout=5,
                                 source_address=(src, 0))
    s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
    return s, s.recv(12)
held = []
for _ in range(64):
    s, head = stream("10.9.9.9")
    held.append(s)
    if not head.startswith(b"HTTP/1.1 200"):
        print("stream refused early:", head)
print("64 held:", len(held))
s, head = stream("10.9.9.9")
print("65th:", head.decode(errors="replace"))
s, head = stream("10.9.9.10")
print("other:", head.decode(errors="replace"))
PY
out=$(unshare -n bash -c '
	ip link set lo up && ip addr add 10.9.9.9/32 dev lo && ip addr add 10.9.9.10/32 dev lo || exit 1
	"$0" --listen 10.9.9.9:7071 --tokens "$1/tokens" --root "$1/store" 2>"$1/loktd.err" &
	pid=$!
	for i in $(seq 100); do grep -q "^loktd: serving" "$1/loktd.err" && break; sleep 0.1; done
	"$2" "$1/streams.py" 10.9.9.9 7071
	kill $pid; wait $pid' "$LOKTD" "$T" "$PY" 2>&1)
diag "$out"
contains "$out" "64 held: 64" "64 event streams from one address beyond loopback"
contains "$out" "65th: HTTP/1.1 503" "... the 65th from that address: 503"
contains "$out" "other: HTTP/1.1 200" "... another address still gets one"
done_testing
