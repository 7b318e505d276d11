#!/bin/bash
# SPDX-License-Identifier: MIT
# lokt guard at a terminal: run from an interactive shell (job control on
# a pseudo-terminal, tests/terminal.py), guard hands the terminal to its
# command, so ^Z stops the command, not guard. guard then stops with it
# (the shell says "Stopped"); on fg it looks at its lock before the
# command goes on: a lock taken meanwhile (its lease ran out while both
# were stopped) is lost, the command ends by --on-lost and never runs
# beside the new holder; a lease that ran out without anyone taking the
# lock is renewed and the command goes on under it. ^C ends the command
# and guard releases the lock (lokt(1), guard).
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

screen="$T/screen"
mkfifo "$T/keys"
# No rc file, no history, a prompt that says the shell waits for a line.
# On one CPU: a command continued before guard has looked at its lock
# runs at once (woken after a long stop, it preempts guard), where on two
# it raced guard's look prompted by the lock's change.
cpu=$(taskset -pc $$ | sed 's/.*: *//; s/[,-].*//') # the first one allowed
env -i PATH="$PATH" HOME="$T" TERM=dumb PS1='READY$ ' LOKT="$LOKT" \
	LOKT_ROOT="$LOKT_ROOT" T="$T" \
	taskset -c "$cpu" "$PY" "$SRC_ROOT/tests/terminal.py" "$screen" "$T/keys" \
	bash --norc --noprofile -i &
term=$!
track "$term"
exec 7>"$T/keys"

# type_line TEXT: a line typed at the terminal; type_key KEY: one key
# (printf's escapes: \x1a is ^Z, \x03 ^C).
type_line() { printf '%s\n' "$1" >&7; }
type_key() { printf "$1" >&7; }
# seen N TEXT: TEXT is on the screen at least N times.
seen() { [ "$(grep -c -F -- "$2" "$screen" 2>/dev/null || :)" -ge "$1" ] 2>/dev/null; }
# stopped PID: the process is stopped (T in ps).
stopped() { [[ "$(ps -o stat= -p "$1")" == T* ]]; }

if ! wait_for 20 seen 1 'READY$ '; then
	not_ok "an interactive shell on a pseudo-terminal ($(cat "$screen"))"
	done_testing
	exit 1
fi
ok "an interactive shell on a pseudo-terminal"

# A guarded command that appends a line to $T/NAME.ticks as fast as it
# can (shell builtins only): continued for an instant before guard looks
# at its lock, it writes. (Typed alone: the shell of a stopped job goes
# on with the rest of a list at once. Its status is fg's.)
ticker() {
	echo "\"\$LOKT\" guard $1 --ttl 1s -- sh -c 'echo \$\$ >\$T/$1.pid; while :; do echo . >>\$T/$1.ticks; done'"
}
ticks() { wc -l <"$T/$1.ticks"; }

# --- ^Z, the lease runs out, another takes the lock, fg -------------------
type_line "$(ticker tz)"
if wait_for 30 test -s "$T/tz.ticks"; then
	cmd=$(cat "$T/tz.pid")
	gpid=$(ps -o ppid= -p "$cmd" | tr -d ' ')
	track "$cmd"
	check "guard gave its command the terminal (its own process group in the foreground)" \
		test "$(ps -o tpgid= -p "$cmd" | tr -d ' ')" = "$(ps -o pgid= -p "$cmd" | tr -d ' ')"
	type_key '\x1a'
	check "^Z: the shell says the job stopped" wait_for 10 seen 1 Stopped
	check "... the command is stopped" wait_for 10 stopped "$cmd"
	check "... and guard with it" wait_for 10 stopped "$gpid"
	n=$(ticks tz)
	sleep 1.5 # the 1 s lease runs out
	check "... which writes nothing meanwhile" test "$(ticks tz)" = "$n"
	expect_exit 0 "another takes the lock whose lease ran out" \
		"$LOKT" lock tz --holder $$ --ttl 1m -q
	type_line 'fg; echo rc=$?'
	check "fg: guard finds its lock lost and ends the command (rc=143)" \
		wait_for 20 seen 1 rc=143
	contains "$(cat "$screen")" 'lost lock "tz"' "... saying the lock was lost"
	check "... which never ran beside the new holder ($n ticks, then $(ticks tz))" \
		test "$(ticks tz)" = "$n"
	check "... and the new holder keeps it" \
		test "$("$LOKT" status tz --json | jget "d['pid']")" = $$
	"$LOKT" unlock tz -q
else
	not_ok "guard tz started its command ($(cat "$screen"))"
fi

# --- ^Z, the lease runs out, nobody takes it, fg: renewed, goes on --------
type_line "$(ticker tk)"
if wait_for 30 test -s "$T/tk.ticks"; then
	cmd=$(cat "$T/tk.pid")
	track "$cmd"
	id=$("$LOKT" status tk --json | jget "d['lock_id']")
	type_key '\x1a'
	check "^Z again: the job stopped" wait_for 10 seen 2 Stopped
	check "... the command with it" wait_for 10 stopped "$cmd"
	sleep 1.5
	check "... its lease ran out meanwhile" \
		test "$("$LOKT" status tk --json | jget "d['state']")" = expired
	n=$(ticks tk)
	type_line 'fg; echo rc=$?'
	check "fg: the command goes on" wait_for 10 eval '[ "$(ticks tk)" -gt "$n" ]'
	check "... under its lock, renewed (same lock_id, live)" \
		test "$("$LOKT" status tk --json | jget "d['lock_id'] + ' ' + d['state']")" = "$id live"
	sleep 1.2 # past the lease it had: guard renews on its own again
	check "... and kept renewed while it runs" \
		test "$("$LOKT" status tk --json | jget "d['state']")" = live
	# guard ends by SIGINT itself, as its command did (so the shell
	# drops the rest of the line, as it would for the command): its
	# status is the shell's next $?.
	type_key '\x03'
	check "^C ends the command" wait_for 10 gone "$cmd"
	type_line 'echo rc=$?'
	check "... and guard, by SIGINT (rc=130)" wait_for 20 seen 1 rc=130
	expect_exit 3 "... and the lock released" "$LOKT" exists tk
else
	not_ok "guard tk started its command ($(cat "$screen"))"
fi

type_line exit
reap "$term"
check "the shell ended (exit $RC)" test "$RC" = 0
[ "$RC" = 0 ] || diag "the terminal showed:" "$(tr -d '\r' <"$screen")"
done_testing
