#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two real users on one mount (-o allow_other): root holds x from a live
# shell; a second user, created here and deleted at exit, cannot remove it
# (EPERM) nor take it (EBUSY), sees it as root's file, and can take and
# hold a lock of its own, which ls -l shows as theirs. The store's root
# directory belongs to root: the second user writes it only through the
# daemon. Without allow_other the second user cannot use the mount at all.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "users.sh: a second uid" "needs root to create a user and mount with allow_other"
	done_testing
	exit 0
fi

usersh=
# At exit the user's shell goes first (hooks run in order), then the user.
user_cleanup() {
	if [ -n "$usersh" ]; then
		kill_child KILL "$usersh"
		wait "$usersh" 2>/dev/null
	fi
}
at_exit user_cleanup
user_mount lokttest
export L

bash -c 'touch "$L/x" || exit 1; exec sleep 300' &
rootsh=$!
at_exit "kill_child KILL $rootsh"
if wait_for 30 "$LOKT" exists x; then ok "root's shell holds x"; else not_ok "root's shell did not take x"; fi

user_errno EPERM "$U removes root's live x" unlink "$L/x"
user_errno EBUSY "$U touches root's live x" create "$L/x"
user_errno EBUSY "$U writes 5m to root's live x" write "$L/x" 5m
expect_exit 1 "rm locks/x as $U fails (coreutils)" as_user rm -f "$L/x"
contains "$ERR" "Operation not permitted" "rm locks/x as $U: Operation not permitted"
expect_exit 0 "stat locks/x as $U" as_user stat -c %u "$L/x"
[ "$OUT" = 0 ] && ok "$U sees x owned by uid 0" || not_ok "$U sees x owned by '$OUT', want 0"
expect_exit 0 "cat locks/x as $U" as_user cat "$L/x"
[ "$(jfield pid <<<"$OUT")" = "$rootsh" ] && ok "$U reads root's record (pid $rootsh)" ||
	not_ok "$U reads pid '$(jfield pid <<<"$OUT")'"
expect_exit 0 "x is still held by root" "$LOKT" exists x
# An owner name is a claim anyone can make (LOKT_OWNER): through the mount
# the uid tells users apart. The second user calling itself root can
# neither release nor renew root's lock, nor extend or lift root's freeze,
# nor release root's place in a semaphore (it could all of these before).
spoof_errno() {
	local want=$1 desc=$2
	shift 2
	as_user env LOKT_OWNER=root "$PY" "$T/errno.py" "$@" >"$T/errno.out" 2>&1
	GOT=$(cat "$T/errno.out")
	[ "$GOT" = "$want" ] && ok "$desc: $1 -> $want" || not_ok "$desc: $1 (want $want, got $GOT)"
}
x_before=$(cat "$LOKT_ROOT/locks/x.json")
spoof_errno EPERM "$U with LOKT_OWNER=root removes root's live x" unlink "$L/x"
spoof_errno EBUSY "$U with LOKT_OWNER=root writes 5m to root's x" write "$L/x" 5m
check "root's x is as it was" test "$(cat "$LOKT_ROOT/locks/x.json")" = "$x_before"
expect_exit 0 "root freezes fz for an hour" "$LOKT" freeze fz --ttl 1h -q
fz_before=$(cat "$LOKT_ROOT/freezes/fz.json")
spoof_errno EBUSY "$U with LOKT_OWNER=root writes 1s to root's freeze" append "$M/freezes/fz" 1s
spoof_errno EPERM "$U with LOKT_OWNER=root lifts root's freeze" unlink "$M/freezes/fz"
check "root's freeze is as it was" test "$(cat "$LOKT_ROOT/freezes/fz.json")" = "$fz_before"
expect_exit 0 "root unfreezes fz" "$LOKT" unfreeze fz -q
bash -c 'touch "$0/slots/3/sem" || exit 1; exec sleep 300' "$M" &
rootsem=$!
at_exit "kill_child KILL $rootsem"
if wait_for 30 "$LOKT" exists sem; then ok "root's shell holds a place of sem (3 slots)"; else not_ok "root's shell did not take a place of sem"; fi
spoof_errno EPERM "$U with LOKT_OWNER=root removes root's place of sem" unlink "$M/slots/3/sem"
expect_exit 0 "root still holds its place of sem" "$LOKT" exists sem
kill_child KILL "$rootsem"
wait "$rootsem" 2>/dev/null

# The second user's own lock, held by its own shell.
# (setpriv itself, not the as_user function: a function in the background
# runs in a subshell, which would become the holder's parent in between.)
setpriv --reuid="$UID2" --regid="$GID2" --clear-groups env -u LOKT_OWNER -u LOKT_AGENT_ID HOME=/ \
	bash -c 'touch "$0/y" "$1/shared/sh1" "$1/slots/2/sm" || exit 1; exec sleep 300' "$L" "$M" &
usersh=$!
if wait_for 30 "$LOKT" exists y; then ok "$U takes y"; else not_ok "$U could not take y"; fi
# A shared name and a semaphore: one record of several holders, which
# the daemon writes; the file is its first holder's.
wait_for 30 "$LOKT" exists sm
check "shared/sh1 is $U's (uid $UID2)" test "$(stat -c %u "$M/shared/sh1")" = "$UID2"
check "slots/2/sm is $U's (uid $UID2)" test "$(stat -c %u "$M/slots/2/sm")" = "$UID2"
expect_exit 0 "ls -ln locks/ as $U" as_user ls -ln "$L"
yuid=$(awk '$NF == "y" { print $3 }' <<<"$OUT")
xuid=$(awk '$NF == "x" { print $3 }' <<<"$OUT")
[ "$yuid" = "$UID2" ] && ok "ls -ln: y is $U's (uid $UID2)" || not_ok "ls -ln: y uid '$yuid', want $UID2"
[ "$xuid" = 0 ] && ok "ls -ln: x is root's" || not_ok "ls -ln: x uid '$xuid', want 0"
# Its group: the holder's primary group, as the user database says it now.
# The daemon reads /etc/passwd itself and keeps what it read while the
# file is unchanged (core/users.c): a change shows at the next stat, also
# after a second without one (by then the file's parse is kept).
ygid=$(awk '$NF == "y" { print $4 }' <<<"$OUT")
[ "$ygid" = "$GID2" ] && ok "ls -ln: y's group is $U's primary group ($GID2)" ||
	not_ok "ls -ln: y gid '$ygid', want $GID2"
G=lokttestg$$
if groupadd "$G" 2>"$T/groupadd.err"; then
	at_exit "groupdel '$G' 2>/dev/null" # after the user's userdel
	g=$(getent group "$G" | cut -d: -f3)
	stat -c %g "$L/y" >/dev/null
	sleep 1.2
	stat -c %g "$L/y" >/dev/null
	usermod -g "$G" "$U"
	check "usermod -g $G $U: y's group is $g at once" test "$(stat -c %g "$L/y")" = "$g"
	sleep 1.2
	check "... and a second later" test "$(stat -c %g "$L/y")" = "$g"
	usermod -g "$GID2" "$U"
	check "usermod -g back: y's group is $GID2 at once" test "$(stat -c %g "$L/y")" = "$GID2"
else
	not_ok "groupadd $G: $(cat "$T/groupadd.err")"
fi
[ "$(stat -c %U "$L/y")" = "$U" ] && ok "stat -c %U locks/y (as root): $U" || not_ok "stat -c %U locks/y: $(stat -c %U "$L/y")"
[ "$(jfield owner <"$L/y")" = "$U" ] && [ "$(jfield pid <"$L/y")" = "$usersh" ] &&
	ok "y: owner $U, holder $U's shell" || not_ok "y record: $(cat "$L/y")"
expect_errno EPERM "root (another owner) removes $U's live y" unlink "$L/y"
expect_errno EBUSY "root touches $U's live y" create "$L/y"

# The store stays root's: the second user cannot write it directly.
user_errno EACCES "$U creates a file in the store's locks/ directly" create "$LOKT_ROOT/locks/z.json"

# Stale locks can be removed by anyone: kill root's holder.
kill -9 "$rootsh"
wait "$rootsh" 2>/dev/null
if wait_for 30 sh -c '! "$0" exists x' "$LOKT"; then ok "root's holder killed: x stale"; else not_ok "x still live after its holder died"; fi
user_errno OK "$U removes root's stale x" unlink "$L/x"
expect_exit 3 "x is free" "$LOKT" exists x
user_errno OK "$U removes its own y" unlink "$L/y"

# A write descriptor handed to another user (here inherited across
# setpriv) does not make root's lock theirs: writing a duration to it is
# refused, and garbage does not give the lock back. Root may go on writing
# durations on it, a line at a time (a keep-alive): each line renews.
bash -c '
	exec 7>"$L/fd"
	setpriv --reuid="$1" --regid="$2" --clear-groups sh -c "echo 2s >&7" 2>"$3/fd.err1"
	setpriv --reuid="$1" --regid="$2" --clear-groups sh -c "echo x >&7" 2>"$3/fd.err2"
	echo 30m >&7 && echo 40m >&7 && echo ok >"$3/fd.lines"
	touch "$3/fd.done"; exec sleep 300' sh "$UID2" "$GID2" "$T" &
fdsh=$!
at_exit "kill_child KILL $fdsh"
wait_for 30 test -e "$T/fd.done"
# (the daemon answers EPERM; the kernel reports a failed write of a
# descriptor another process opened as EIO)
contains "$(cat "$T/fd.err1")" "error" "$U writes 2s to root's inherited fd: refused"
contains "$(cat "$T/fd.err2")" "error" "$U writes garbage to it: refused"
check "root's fd lock is still held" "$LOKT" exists fd
check "root's two lines on one descriptor both renew (the last: 40m)" \
	test "$(cat "$T/fd.lines" 2>/dev/null)-$("$LOKT" status fd --json | jfield ttl_sec)" = ok-2400
kill_child KILL "$fdsh"

# A user who may only read root's lock reads it without pause from many
# threads, and tries to remove it: root's rm waited behind the reads for
# as long as they went on (the node's lock let new readers in before a
# waiting writer), and with it every creation in locks/ (the kernel holds
# the directory during an unlink). Both now finish at once.
bash -c 'touch "$L/rd" || exit 1; exec sleep 300' &
rdsh=$!
at_exit "kill_child KILL $rdsh"
wait_for 30 "$LOKT" exists rd
cat >"$T/reader.py" <<'PYEOF'
import os, sys, threading, time
path, secs = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + secs
def read():
    fd = os.open(path, os.O_RDONLY)
    while time.monotonic() < end:
        try:
            os.pread(fd, 4096, 0)
        except OSError:
            pass
def unlink():
    while time.monotonic() < end:
        try:
            os.unlink(path)
        except OSError:
            pass
ts = [threading.Thread(target=read) for _ in range(16)]
ts += [threading.Thread(target=unlink) for _ in range(2)]
for t in ts:
    t.start()
for t in ts:
    t.join()
PYEOF
rdpids=()
for i in 1 2 3 4; do
	setpriv --reuid="$UID2" --regid="$GID2" --clear-groups \
		"$PY" "$T/reader.py" "$L/rd" 20 & # (not as_user: $! is python)
	rdpids+=($!)
done
at_exit "kill ${rdpids[*]} 2>/dev/null"
sleep 2
expect_exit 0 "$U reads root's rd from 64 threads and tries rm: root touches a new name in 10 s" \
	timeout -s KILL 10 touch "$L/rdnew"
expect_exit 0 "... and rm's its rd in 10 s" timeout -s KILL 10 rm "$L/rd"
kill "${rdpids[@]}" 2>/dev/null
wait "${rdpids[@]}" 2>/dev/null
kill_child KILL "$rdsh"
rm -f "$L/rdnew"

# Without allow_other the second user is kept out by the kernel.
M2=$T/mnt2
if mount_fs "$M2"; then
	ok "mount without allow_other"
	user_errno EACCES "$U stats a mount without allow_other" stat "$M2/locks"
	if unmount_fs "$M2"; then ok "unmount mnt2: daemon exits 0"; else not_ok "unmount mnt2"; fi
else
	not_ok "mount without allow_other"
fi

if unmount_fs "$M"; then ok "unmount: daemon exits 0"; else not_ok "unmount: daemon did not exit 0"; fi
done_testing
