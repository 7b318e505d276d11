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

# open_term N: a new terminal (screen $T/screen.N, keys typed on fd 7)
# running an interactive shell; false if it shows no prompt.
# No rc file, no history, a prompt that says the shell waits for a line.
# On one CPU: a command continued before guard has looked at its lock
# runs at once (woken after a long stop, it preempts guard), where on two
# it raced guard's look prompted by the lock's change.
cpu=$(taskset -pc $$ | sed 's/.*: *//; s/[,-].*//') # the first one allowed
trap '' PIPE # the terminal gone (its shell exited): a failed check, not our end
open_term() {
	screen="$T/screen.$1"
	rm -f "$T/keys.$1"
	mkfifo "$T/keys.$1"
	env -i PATH="$PATH" HOME="$T" TERM=dumb PS1='READY$ ' LOKT="$LOKT" \
		LOKT_ROOT="$LOKT_ROOT" T="$T" \
		taskset -c "$cpu" "$PY" "$SRC_ROOT/tests/terminal.py" "$screen" "$T/keys.$1" \
		bash --norc --noprofile -i &
	term=$!
	track "$term"
	exec 7>"$T/keys.$1"
	wait_for 20 seen 1 'READY$ ' || return 1
	# Its shell leads a session: whatever a failed check leaves in it
	# is killed at the end.
	sessions+=("$(pgrep -P "$term")")
}
sessions=()
_kill_sessions() {
	local s
	for s in "${sessions[@]}"; do pkill -KILL -s "$s" 2>/dev/null; done
	return 0
}
at_exit _kill_sessions
# close_term: exit its shell (a second exit past "There are stopped
# jobs"); check that it ended well.
close_term() {
	type_line exit
	wait_for 5 gone "$term" || type_line exit
	wait_for 10 gone "$term" || kill -9 "$term"
	reap "$term"
	check "the shell ended (exit $RC)" test "$RC" = 0
	[ "$RC" = 0 ] || diag "the terminal showed:" "$(tr -d '\r' <"$screen")"
	exec 7>&-
}

# type_line TEXT: a line typed at the terminal; type_key KEY: one key
# (printf's escapes: \x1a is ^Z, \x03 ^C).
type_line() { printf '%s\n' "$1" >&7; }
type_key() { printf "$1" >&7; }
# seen N TEXT: TEXT is on the screen at least N times.
seen() { [ "$(grep -c -F -- "$2" "$screen" 2>/dev/null || :)" -ge "$1" ] 2>/dev/null; }
# stopped PID: the process is stopped (T in ps).
stopped() { [[ "$(ps -o stat= -p "$1")" == T* ]]; }

if ! open_term 1; then
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

# alive: the shell still reads its terminal (it took it back, and
# did not exit on a terminal taken from it): it runs a line typed there.
_alive=0
alive() {
	_alive=$((_alive + 1))
	type_line "echo alive-\$((1000 + $_alive))"
	wait_for 10 seen 1 "alive-$((1000 + _alive))"
}

close_term

# --- ^Z, then bg: the shell keeps its terminal -----------------------------
# guard, continued in the background, gave the terminal back to its
# command, taking it from the shell, which read EIO and exited; so did
# kill %1 of the stopped job.
open_term 2 || not_ok "a second terminal"
type_line "$(ticker tb)"
if wait_for 30 test -s "$T/tb.ticks"; then
	cmd=$(cat "$T/tb.pid")
	track "$cmd"
	type_key '\x1a'
	check "^Z: stopped" wait_for 10 seen 1 Stopped
	type_line bg
	check "bg: the shell keeps its terminal" alive
	n=$(ticks tb)
	check "... the command goes on in the background" wait_for 10 eval '[ "$(ticks tb)" -gt "$n" ]'
	sleep 1.2 # past its 1 s lease
	check "... under its lock, renewed" \
		test "$("$LOKT" status tb --json | jget "d['state']")" = live
	type_line 'kill %1'
	check "kill %1: the command ends" wait_for 10 gone "$cmd"
	check "... the lock is released" wait_for 10 eval '! "$LOKT" exists tb'
	check "... and the shell still has its terminal" alive
else
	not_ok "guard tb started its command ($(cat "$screen"))"
fi

close_term

# --- started in the background, its command reads the terminal ------------
# The command stopped (SIGTTIN) and guard did not follow: the shell said
# the job ran, fg never continued the command, and the lock stayed held.
open_term 3 || not_ok "a third terminal"
type_line "\"\$LOKT\" guard ta -- sh -c 'read x; echo got-\$x' &"
check "a guard in the background holds ta" wait_for 20 "$LOKT" exists ta
# The shell tells of a stop when it prompts: asked until the command has
# read (guard holds ta before it starts the command).
check "its command read the terminal: the job is stopped" \
	wait_for 10 eval 'type_line jobs; sleep 0.3; seen 1 Stopped'
type_line fg
sleep 0.5
type_line hello
check "fg: the command reads the line typed" wait_for 10 seen 1 got-hello
check "... and guard releases the lock" wait_for 10 eval '! "$LOKT" exists ta'
check "... the shell has its terminal" alive

close_term

# --- a pipeline: one ^Z stops the whole job -------------------------------
# guard stopped with its command, but the rest of its process group (head
# here, or the script that runs guard) ran on: the shell saw no stop, and
# a second ^Z was needed.
open_term 4 || not_ok "a fourth terminal"
type_line "\"\$LOKT\" guard tc -- cat | head -1"
check "guard tc, in a pipeline, holds tc" wait_for 20 "$LOKT" exists tc
type_key '\x1a'
check "one ^Z: the job is stopped" wait_for 10 seen 1 Stopped
check "... and the shell is back" alive
type_line fg
sleep 0.5
type_line line-one
check "fg: the pipeline goes on" wait_for 10 seen 2 line-one
type_key '\x04'
check "^D: guard's command ends and the lock is released" wait_for 10 eval '! "$LOKT" exists tc'
check "... the shell has its terminal" alive

close_term
done_testing
