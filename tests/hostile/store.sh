#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A hostile member of a shared store (README: Scope). The store's root is
# group-writable for a user created here (lkst<pid>, deleted at exit);
# that user plants tricks in it, and root's lokt commands and a root-run
# loktfs -o allow_other mount must then never act outside the store (no
# chmod, no unlink, nothing served from elsewhere), never hang (every
# command runs under timeout: a hang is a failure, exit 124), keep working
# for every other name, and lokt doctor must name what was planted.
#
#   locks/ or freezes/ swapped for a symlink to a root-only directory
#   NAME.json as a FIFO, a symlink to a root-only file, a directory
#   the sidecar .NAME.lk as a FIFO or a symlink, or (with the fence
#   floor) a hard link to a number elsewhere (never written)
#   the queue .NAME.q as a FIFO, a FIFO as a ticket in it, a ticket
#   the member may not open
#   through the mount: a FIFO NAME.json read, touched and removed by
#   root, listed by the member, and the daemon still stops on SIGTERM
. "$SRC_ROOT/tests/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "store.sh: a hostile second user" "needs root to create a user"
	done_testing
	exit 0
fi

second_user lkst own
# bounded EXIT DESC CMD...: CMD under timeout 10; a hang is exit 124
# (137). A shell between them: lokt lock refuses timeout as its parent
# (the holder); here a lock's holder is that shell (timeout kills its
# whole process group).
bounded() {
	local want=$1 desc=$2
	shift 2
	expect_exit "$want" "$desc" timeout -s KILL 10 bash -c '"$@"; exit $?' bash "$@"
}

# The shared store, as the README sets one up: the group's, 2775.
chmod 0711 "$T"
R=$LOKT_ROOT
mkdir -m 2775 "$R"
chgrp "$U" "$R"
"$LOKT" lock warm >/dev/null && "$LOKT" unlock warm >/dev/null
[ -d "$R/locks" ] && [ -d "$R/freezes" ] ||
	not_ok "lokt lock made locks/ and freezes/"

# A root-only directory outside the store, with files that look like
# records (one expired, so that a prune would remove it).
V=$T/victim
mkdir -m 0755 "$V"
cat >"$V/secret.json" <<EOF
{"version":1,"name":"secret","lock_id":"0123456789abcdef0123456789abcdef","owner":"root","host":"elsewhere","pid":1,"acquired_ts":"2020-01-01T00:00:00Z","ttl_sec":1,"expires_at":"2020-01-01T00:00:01Z"}
EOF
chmod 0600 "$V/secret.json"
SECRET=$(cat "$V/secret.json")
victim_intact() {
	[ "$(stat -c %a "$V")" = 755 ] && [ -f "$V/secret.json" ] &&
		[ "$(stat -c %a "$V/secret.json")" = 600 ] &&
		[ "$(cat "$V/secret.json")" = "$SECRET" ] &&
		[ "$(ls -A "$V")" = secret.json ]
}

# ---- locks/ or freezes/ swapped for a symlink (item 8) ------------------
for d in locks freezes; do
	as_user mv "$R/$d" "$R/$d.away" && as_user ln -s "$V" "$R/$d" ||
		not_ok "$U swaps $d/ for a symlink"
	bounded 1 "status with $d/ a symlink: refused" "$LOKT" status
	contains "$ERR" "freezes/ is not a directory" "status says why ($d)"
	bounded 1 "status --prune-expired with $d/ a symlink: refused" \
		"$LOKT" status --prune-expired
	bounded 1 "unlock secret --force with $d/ a symlink: refused" \
		"$LOKT" unlock secret --force
	bounded 1 "unfreeze secret --force with $d/ a symlink: refused" \
		"$LOKT" unfreeze secret --force
	bounded 1 "doctor with $d/ a symlink: FAIL" "$LOKT" doctor
	contains "$OUT" "FAIL  foreign_files" "doctor: foreign_files FAIL ($d)"
	contains "$OUT" "./$d" "doctor names $d"
	check "nothing outside the store changed ($d)" victim_intact
	as_user rm "$R/$d" && as_user mv "$R/$d.away" "$R/$d" ||
		not_ok "$U puts $d/ back"
done

# The mount refuses such a store rather than serve the victim directory.
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null &&
    [ -x "${LOKTFS:-}" ]; then
	. "$SRC_ROOT/tests/fs/mount.sh"
	HAVE_FS=1
	as_user mv "$R/locks" "$R/locks.away" && as_user ln -s "$V" "$R/locks"
	M=$T/mnt
	mkdir -p "$M"
	timeout -s KILL 20 "$LOKTFS" -f -o "root=$R,allow_other" "$M" \
		>"$T/refused.log" 2>&1
	st=$?
	if ! is_loktfs "$M" && [ "$st" -ne 0 ] && [ "$st" -ne 137 ]; then
		ok "loktfs refuses a store whose locks/ is a symlink (exit $st)"
	else
		not_ok "loktfs mounted (or hung on) a store whose locks/ is a symlink (exit $st)"
		fusermount3 -u -z "$M" 2>/dev/null
	fi
	check "nothing outside the store changed (mount)" victim_intact
	as_user rm "$R/locks" && as_user mv "$R/locks.away" "$R/locks"
else
	HAVE_FS=
	skip "loktfs and locks/ a symlink" "FUSE or loktfs unavailable"
fi

# A real directory of the member in place of locks/: theirs to own; root
# uses it (it is in the store) but changes no mode on it.
as_user mv "$R/locks" "$R/locks.away" && as_user mkdir -m 0755 "$R/locks"
before=$(stat -c %a:%U "$R/locks")
bounded 0 "status with locks/ the member's own directory" "$LOKT" status
[ "$(stat -c %a:%U "$R/locks")" = "$before" ] &&
	ok "a read-only command changed no mode on the member's locks/" ||
	not_ok "locks/ of $U changed: $before -> $(stat -c %a:%U "$R/locks")"
as_user rm -rf "$R/locks"
as_user mv "$R/locks.away" "$R/locks"

# ---- planted files in place of a name's own (item 10) -------------------
"$LOKT" lock good >/dev/null || not_ok "root takes good"
# plant KIND WHAT: as the member, put WHAT at locks/<file> for name n.
plant() {
	case $2 in
	json-fifo) as_user mkfifo "$R/$1/n.json" ;;
	json-link) as_user ln -s "$V/secret.json" "$R/$1/n.json" ;;
	json-dir) as_user mkdir "$R/$1/n.json" ;;
	lk-fifo) as_user mkfifo "$R/$1/.n.lk" ;;
	lk-link) as_user ln -s "$V/secret.json" "$R/$1/.n.lk" ;;
	lk-hardlink) # a file of the member's own elsewhere, linked in
		as_user ln "$H/own" "$R/$1/.n.lk" ;;
	q-fifo) as_user mkfifo "$R/$1/.n.q" ;;
	ticket-fifo)
		as_user mkdir -m 0777 "$R/$1/.n.q" &&
			as_user mkfifo "$R/$1/.n.q/00000000000000000001"
		;;
	esac
}
unplant() {
	as_user rm -rf "$R/$1/n.json" "$R/$1/.n.lk" "$R/$1/.n.q"
}
# The member's own directory and file outside the store (a hard link to
# a file of another user is refused where fs.protected_hardlinks is on;
# to its own, never).
H=$T/member
mkdir -m 0755 "$H" && chown "$UID2:$GID2" "$H"
as_user sh -c 'printf precious >"$1/own"' sh "$H"
for what in json-fifo json-link json-dir lk-fifo lk-link lk-hardlink q-fifo ticket-fifo; do
	plant locks "$what" || not_ok "$U plants $what"
	bounded 1 "$what: lock n fails" "$LOKT" lock n
	contains "$ERR" "foreign file" "$what: lock n says foreign file"
	bounded 1 "$what: lock n fails again (no transition lock left held)" \
		"$LOKT" lock n
	bounded 1 "$what: why n does not say it is free" "$LOKT" why n
	contains "$ERR" "foreign file" "$what: why n says foreign file"
	if [ "${what%%-*}" = json ]; then
		bounded 1 "$what: status n fails" "$LOKT" status n
		bounded 1 "$what: unlock n --force fails" "$LOKT" unlock n --force
	fi
	bounded 0 "$what: status lists the other names" "$LOKT" status
	contains "$OUT" "good" "$what: status shows good"
	bounded 0 "$what: status --prune-expired" "$LOKT" status --prune-expired
	bounded 0 "$what: unlock --all of another owner" \
		"$LOKT" unlock --all --owner "$U"
	bounded 0 "$what: another name locks" "$LOKT" lock other
	bounded 0 "$what: and unlocks" "$LOKT" unlock other
	bounded 1 "$what: doctor fails" "$LOKT" doctor
	contains "$OUT" "FAIL  foreign_files" "$what: doctor FAIL foreign_files"
	case $what in
	json-*) file=locks/n.json ;;
	lk-*) file=locks/.n.lk ;;
	q-*) file=locks/.n.q ;;
	ticket-*) file=locks/.n.q/00000000000000000001 ;;
	esac
	contains "$OUT" "$file" "$what: doctor names $file"
	check "$what: nothing outside the store changed" victim_intact
	check "$what: the member's own file is untouched" \
		test "$(cat "$H/own")" = precious
	unplant locks
done

# A freeze's record planted as a FIFO.
plant freezes json-fifo
bounded 1 "freezes json-fifo: freeze n fails" "$LOKT" freeze n --ttl 1m
bounded 0 "freezes json-fifo: status" "$LOKT" status
unplant freezes

# A link to a real sidecar, made elsewhere (a backup with cp -al, or to
# stall the name): it is still a counter, and the name works on.
"$LOKT" lock hl -q && "$LOKT" unlock hl -q
as_user ln "$R/locks/.hl.lk" "$H/hl-link" || not_ok "$U links the sidecar of hl"
bounded 0 "a sidecar with a second link (a counter still): lock hl" "$LOKT" lock hl
bounded 0 "... unlock hl" "$LOKT" unlock hl
bounded 0 "... doctor does not call it foreign" "$LOKT" doctor
as_user rm -f "$H/hl-link"

# A sidecar and the fence floor planted as links to files elsewhere that
# hold a number (a pid file of root's, where fs.protected_hardlinks is
# off; here the member's own files, which it may always link): lokt
# writes neither. The name and the floor get files of their own, and the
# fence goes on above both numbers (docs/protocol.md, "Foreign files").
as_user sh -c 'echo 4242 >"$1/pidfile"; echo 77 >"$1/floorfile"' sh "$H"
"$LOKT" lock pn -q && "$LOKT" unlock pn -q
as_user rm -f "$R/locks/.pn.lk" "$R/locks/.fence-floor"
as_user ln "$H/pidfile" "$R/locks/.pn.lk" &&
	as_user ln "$H/floorfile" "$R/locks/.fence-floor" ||
	not_ok "$U plants links to numbers as .pn.lk and .fence-floor"
bounded 0 "a sidecar linked to a number elsewhere: lock pn" "$LOKT" lock pn
check "... that number is untouched" test "$(cat "$H/pidfile")" = 4242
check "... and the floor's too" test "$(cat "$H/floorfile")" = 77
check "... pn has a sidecar of its own" \
	test "$(stat -c %h "$R/locks/.pn.lk")" = 1
check "... and the floor is a file of its own" \
	test "$(stat -c %h "$R/locks/.fence-floor")" = 1
check "... which holds the number it replaced" \
	test "$(cat "$R/locks/.fence-floor")" = 4242
check "... and the fence goes on above it" \
	test "$("$LOKT" status pn --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["fence"])')" = 4243
bounded 0 "... unlock pn" "$LOKT" unlock pn
bounded 0 "... doctor is clean" "$LOKT" doctor

# The same with a directory planted at the floor's temporary name, which
# its replacement wrote first: the name was refused as a foreign file,
# and with it every name whose sidecar is taken out. The replacement now
# writes a temporary file of its own beside the directory.
"$LOKT" lock pd -q && "$LOKT" unlock pd -q
as_user sh -c 'echo 5151 >"$1/pidfile"; echo 88 >"$1/floorfile"' sh "$H"
as_user rm -f "$R/locks/.pd.lk" "$R/locks/.fence-floor"
as_user ln "$H/pidfile" "$R/locks/.pd.lk" &&
	as_user ln "$H/floorfile" "$R/locks/.fence-floor" &&
	as_user mkdir "$R/locks/.fence-floor.tmp" &&
	as_user touch "$R/locks/.fence-floor.tmp/x" ||
	not_ok "$U plants .pd.lk, .fence-floor and a directory .fence-floor.tmp"
bounded 0 "a directory at the floor's temp name: lock pd" "$LOKT" lock pd
check "... the floor is a file of its own" \
	test "$(stat -c %h "$R/locks/.fence-floor")" = 1
check "... holding the number it replaced" \
	test "$(cat "$R/locks/.fence-floor")" = 5151
check "... the planted numbers untouched" \
	test "$(cat "$H/pidfile"):$(cat "$H/floorfile")" = 5151:88
check "... no temp file of ours left beside the directory" \
	test -z "$(cd "$R/locks" && ls -a | grep -E '^\.fence-floor\..+\.tmp$')"
bounded 0 "... unlock pd" "$LOKT" unlock pd
bounded 1 "... doctor fails" "$LOKT" doctor
contains "$OUT" "locks/.fence-floor.tmp" "... naming the directory"
rm -rf "$R/locks/.fence-floor.tmp"

# A process that opened such a sidecar before it was taken out, and gets
# its flock after the file elsewhere was written (one link left there,
# its times as after any write): the path says it is no longer the
# name's, and it starts over on the name's own; it used to go on with
# that file, beside the new sidecar's holder, and write a fence into it.
"$LOKT" lock pb -q && "$LOKT" unlock pb -q
as_user rm -f "$R/locks/.pb.lk"
as_user sh -c 'echo 4242 >"$1/pidfile"' sh "$H"
as_user ln "$H/pidfile" "$R/locks/.pb.lk" || not_ok "$U plants .pb.lk"
flock -F -x "$R/locks/.pb.lk" sleep 60 &
F=$!
wait_for 10 eval 'grep -q "FLOCK .*WRITE $F " /proc/locks' ||
	not_ok "flock(1) holds the planted .pb.lk"
# at_flock PID: lokt waits in flock(2) (a blocked request in /proc/locks).
at_flock() { grep -q -- "-> FLOCK .* $1 " /proc/locks; }
sleep 600 &
S=$!
"$LOKT" lock pb --holder "$S" --ttl 1h -q 2>"$T/pb.err" &
B=$!
wait_for 10 at_flock "$B" || not_ok "lokt waits on the planted sidecar's flock"
kill -STOP "$B"
# Stopped before the planted file is let go: woken by the release first,
# it would take that flock and then stop holding it (a loaded machine).
wait_for 10 eval '[[ "$(ps -o stat= -p "$B")" == T* ]]' || not_ok "lokt lock pb stops"
kill "$F"
wait "$F" 2>/dev/null
bounded 0 "... another lock pb takes the planted file out" "$LOKT" lock pb -q
bounded 0 "... and unlock pb" "$LOKT" unlock pb -q
as_user sh -c 'echo 4242 >"$1/pidfile"' sh "$H" # ctime = mtime, one link
kill -CONT "$B"
wait "$B"
check "... the stopped lock pb, resumed, takes it (exit $?)" test "$?" = 0
check "... on the name's own sidecar: the file elsewhere is untouched" \
	test "$(cat "$H/pidfile")" = 4242
check "... its fence above the planted number" \
	test "$("$LOKT" status pb --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["fence"])')" -gt 4243
"$LOKT" unlock pb -q
kill "$S"

# The fence floor linked to a name's own sidecar: taking that sidecar out
# raises the floor, whose flock is the one already held (it used to wait
# for itself, for ever, and every lock of the name behind it).
"$LOKT" lock fl -q && "$LOKT" unlock fl -q
as_user rm -f "$R/locks/.fence-floor"
as_user ln "$R/locks/.fl.lk" "$R/locks/.fence-floor" ||
	not_ok "$U links .fence-floor to .fl.lk"
bounded 0 "the floor a link of fl's sidecar: lock fl" "$LOKT" lock fl
check "... fl's sidecar and the floor are files of their own" \
	test "$(stat -c %h "$R/locks/.fl.lk"):$(stat -c %h "$R/locks/.fence-floor")" = 1:1
bounded 0 "... unlock fl" "$LOKT" unlock fl

# Where such a link cannot be taken out (a sticky locks/, the link of
# another user): the name is refused as a foreign file, not with a bare
# "Operation not permitted"; other names work on.
member=(setpriv --reuid="$UID2" --regid="$GID2" --clear-groups
	env -u LOKT_OWNER -u LOKT_AGENT_ID HOME=/) # as_user, for bounded
chmod +t "$R/locks"
echo 77 >"$T/rootnum" && chmod 0666 "$T/rootnum"
ln "$T/rootnum" "$R/locks/.st.lk"
bounded 1 "a counter of two links $U may not unlink: lock st fails" "${member[@]}" "$LOKT" lock st
contains "$ERR" "foreign file" "... saying foreign file"
check "... and the file is untouched" test "$(cat "$T/rootnum")" = 77
bounded 1 "... $U's doctor fails" "${member[@]}" "$LOKT" doctor
contains "$OUT" "locks/.st.lk" "... naming that file"
bounded 0 "... other names work on" "${member[@]}" "$LOKT" lock st2 -q
as_user "$LOKT" unlock st2 -q
rm -f "$R/locks/.st.lk"
chmod -t "$R/locks"
as_user rm -f "$H/pidfile" "$H/floorfile"

# A ticket a member cannot open (lokt makes each one 0600 plus the
# store's bits, so this one is not lokt's): the member's lock of the name
# says foreign file, where it said "Permission denied" (docs/protocol.md,
# "The waiter queue").
mkdir -m 2775 "$R/locks/.n.q" && (umask 077 && : >"$R/locks/.n.q/00000000000000000001") ||
	not_ok "root plants a ticket only root may open"
bounded 1 "a ticket $U cannot open: $U's lock n fails" "${member[@]}" "$LOKT" lock n
contains "$ERR" "foreign file" "... saying foreign file"
bounded 1 "... and why n says so too" "${member[@]}" "$LOKT" why n
contains "$ERR" "foreign file" "... foreign file"
rm -rf "$R/locks/.n.q"

# After all that, the name works again once the files are gone.
bounded 0 "n locks once the planted files are gone" "$LOKT" lock n
bounded 0 "n unlocks" "$LOKT" unlock n
bounded 0 "doctor is clean again" "$LOKT" doctor

# ---- through the mount --------------------------------------------------
if [ -n "$HAVE_FS" ]; then
	cp "$ERRNO_PY" "$T/errno.py"
	chmod 0644 "$T/errno.py"
	M=$T/mnt2
	if mount_fs "$M" allow_other; then
		ok "mount loktfs -o allow_other"
		plant locks json-fifo
		GOT=$(timeout -s KILL 10 "$PY" "$T/errno.py" read "$M/locks/n" 2>&1)
		[ "$GOT" = EIO ] && ok "mount: read of a FIFO n.json -> EIO" ||
			not_ok "mount: read of a FIFO n.json (want EIO, got $GOT)"
		GOT=$(timeout -s KILL 10 "$PY" "$T/errno.py" create "$M/locks/n" 2>&1)
		[ "$GOT" = EIO ] && ok "mount: touch n -> EIO" ||
			not_ok "mount: touch n (want EIO, got $GOT)"
		GOT=$(timeout -s KILL 10 "$PY" "$T/errno.py" unlink "$M/locks/n" 2>&1)
		[ "$GOT" = EIO ] && ok "mount: rm n -> EIO" ||
			not_ok "mount: rm n (want EIO, got $GOT)"
		expect_exit 0 "mount: $U lists locks/" \
			timeout -s KILL 10 setpriv --reuid="$UID2" \
			--regid="$GID2" --clear-groups ls "$M/locks"
		[ "$OUT" = good ] && ok "mount: the listing is good only" ||
			not_ok "mount: the listing is '$OUT'"
		unplant locks
		plant locks json-link
		GOT=$(timeout -s KILL 10 setpriv --reuid="$UID2" --regid="$GID2" \
			--clear-groups "$PY" "$T/errno.py" read "$M/locks/n" 2>&1)
		[ "$GOT" = EIO ] && ok "mount: $U reads n.json -> root-only file: EIO" ||
			not_ok "mount: $U reads n (want EIO, got $GOT)"
		plant locks json-fifo 2>/dev/null
		# A request on the planted FIFO in flight must not keep the
		# daemon from stopping.
		timeout -s KILL 10 cat "$M/locks/n" >/dev/null 2>&1 &
		catpid=$!
		check "mount: the daemon stops on SIGTERM" unmount_fs "$M" term
		wait "$catpid" 2>/dev/null
		unplant locks
		check "mount: nothing outside the store changed" victim_intact
	else
		not_ok "mount loktfs -o allow_other"
	fi
fi

"$LOKT" unlock good >/dev/null
done_testing
