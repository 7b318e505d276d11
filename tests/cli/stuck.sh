#!/bin/bash
# SPDX-License-Identifier: MIT
# A transition that does not end: another process holds a name's sidecar
# flock (`.NAME.lk`) and does not let go, as a process stopped in the
# middle of a transition would, or a co-user running `flock` on it by
# hand. A waiting `lokt lock` or `lokt guard` stuck there is still ended
# by SIGINT, SIGTERM or SIGHUP, as lokt(1) says (exit 128+N), at once:
# its flock wait used to go back to sleep after the signal. A wait with
# --timeout ends at its timeout (and a second), a command that does not
# wait after 10 s, each saying which file's flock is held (they used to
# wait for as long as the flock was held); unlock --all releases the
# other names. The store is left as it was,
# and once the flock is let go the name works again.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

"$LOKT" lock k -q && "$LOKT" unlock k -q
before=$(cd "$LOKT_ROOT" && find . -type f -name '*.json' | sort | xargs -r cat | sha1sum)
flock -F -x "$LOKT_ROOT/locks/.k.lk" sleep 60 &
F=$!
track "$F"
wait_for 10 eval 'grep -q "FLOCK.*WRITE $F " /proc/locks' || diag "the flock did not show"
# at_flock PID: lokt waits for the sidecar's flock, told of its closes
# (an inotify watch of that file: its inode, in hex, in lokt's fdinfo).
ino=$(printf %x "$(stat -c %i "$LOKT_ROOT/locks/.k.lk")")
at_flock() { grep -qs "^inotify wd:.* ino:$ino " /proc/"$1"/fdinfo/*; }

for sig in TERM HUP INT; do
	for cmd in "lock k --wait --timeout 30" "guard k --wait --timeout 30 -- true"; do
		s=$(date +%s%N)
		# A background job of a script ignores SIGINT: lokt's own
		# handler is what a terminal's ^C would reach.
		env --default-signal=INT $LOKT $cmd 2>/dev/null &
		P=$!
		track "$P"
		wait_for 10 at_flock "$P" || diag "lokt did not reach the flock"
		kill -"$sig" "$P"
		reap "$P"
		ms=$((($(date +%s%N) - s) / 1000000))
		want=$((128 + $(kill -l "$sig")))
		[ "$RC" = "$want" ] && ok "${cmd%% *} stuck on the flock, SIG$sig: exit $want (${ms} ms)" ||
			not_ok "${cmd%% *}, SIG$sig: exit $RC after ${ms} ms (want $want)"
	done
done

for cmd in "lock k --wait --timeout 1s" "guard k --wait --timeout 1s -- true"; do
	s=$(date +%s%N)
	expect_exit 1 "${cmd%% *} --timeout 1s stuck on the flock: exit 1" $LOKT $cmd
	ms=$((($(date +%s%N) - s) / 1000000))
	check "... at its timeout and a second (${ms} ms)" test "$ms" -lt 6000
	contains "$ERR" "in the middle of a change" "... saying another process is in a change of k"
	contains "$ERR" "locks/.k.lk" "... naming the file whose flock it is"
done
after=$(cd "$LOKT_ROOT" && find . -type f -name '*.json' | sort | xargs -r cat | sha1sum)
[ "$after" = "$before" ] && ok "the store's records are as they were" || not_ok "records changed"
kill "$F"
reap "$F"
expect_exit 0 "with the flock let go, k is taken" "$LOKT" lock k --ttl 1m -q

# A command that does not wait: unlock --all, one of the owner's names
# stuck, releases the others and says it did not release them all.
"$LOKT" lock ka --ttl 1h -q && "$LOKT" lock kb --ttl 1h -q
flock -F -x "$LOKT_ROOT/locks/.ka.lk" sleep 60 &
F=$!
track "$F"
wait_for 10 eval 'grep -q "FLOCK.*WRITE $F " /proc/locks' || diag "the flock did not show"
s=$(date +%s%N)
expect_exit 1 "unlock --all, ka stuck on its flock: exit 1" "$LOKT" unlock --all
ms=$((($(date +%s%N) - s) / 1000000))
check "... after waiting 10 s for it (${ms} ms)" test "$ms" -ge 9000 -a "$ms" -lt 30000
contains "$ERR" "but not all" "... saying it did not release them all"
expect_exit 3 "... the others released: kb" "$LOKT" exists kb
expect_exit 3 "... and k" "$LOKT" exists k
kill "$F"
reap "$F"
expect_exit 0 "... ka, let go, is released then" "$LOKT" unlock ka -q
done_testing
