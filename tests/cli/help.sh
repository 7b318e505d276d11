#!/bin/bash
# SPDX-License-Identifier: MIT
# -h and --help are help for every command, wherever they stand before
# "--" (even after a bad option or value): usage on stdout, exit 0, and
# nothing else happens — no lock root created, nothing audited, no command
# run. After `guard NAME --` (or the first word after NAME that is not a
# flag) every word is the command's: `guard x -- CMD --help` runs CMD.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

# LOKT_ROOT ($T/root) does not exist and must not after any help.
cmds="lock unlock status exists guard freeze unfreeze audit why doctor version help"

# help_ok DESCRIPTION WANT_CMD ARGS...: usage of WANT_CMD, exit 0, no root
help_ok() {
	local desc=$1 want=$2
	shift 2
	expect_exit 0 "$desc: exit 0 ($*)" "$LOKT" "$@"
	contains "$OUT" "Usage: lokt $want" "$desc: usage on stdout"
	if [ -e "$LOKT_ROOT" ]; then
		not_ok "$desc: no lock root created (found $LOKT_ROOT)"
		rm -rf "$LOKT_ROOT"
	else
		ok "$desc: no lock root created"
	fi
}

for c in $cmds; do
	for h in --help -h; do
		help_ok "$c $h" "$c" "$c" "$h"
		help_ok "$c NAME $h" "$c" "$c" hx "$h"
		help_ok "$c $h NAME" "$c" "$c" "$h" hx
		help_ok "$c NAME --json $h" "$c" "$c" hx --json "$h"
		help_ok "$c --root DIR NAME $h" "$c" "$c" --root "$LOKT_ROOT" hx "$h"
		help_ok "$c after an unknown option" "$c" "$c" hx --no-such "$h"
		# guard's first word after NAME starts the command (below)
		[ "$c" = guard ] ||
			help_ok "$c after an extra argument" "$c" "$c" hx extra more "$h"
	done
done
help_ok "--help before the command" "[--root DIR] COMMAND" --help lock hx
help_ok "--help after --root" "[--root DIR] COMMAND" --root "$LOKT_ROOT" --help
help_ok "lock after a bad --ttl value" lock lock hx --ttl never --help
help_ok "lock after a bad name" lock lock 'bad/name' --help
help_ok "freeze after a bad --ttl value" freeze freeze hx --ttl 5x -h
help_ok "audit after a bad --tail" audit audit --tail x --help

# guard: --help in every place before the command
mark="$T/ran"
help_ok "guard NAME --help (used to run a NULL command)" guard guard gh --help
help_ok "guard --help (used to lock \"(null)\")" guard guard --help
help_ok "guard NAME --help -- CMD" guard guard gh --help -- touch "$mark"
help_ok "guard --help NAME -- CMD" guard guard --help gh -- touch "$mark"
help_ok "guard NAME --ttl 5m --help -- CMD" guard guard gh --ttl 5m --help -- touch "$mark"
help_ok "guard NAME --ttl bad -h CMD" guard guard gh --ttl bad -h touch "$mark"
help_ok "guard -q --wait NAME --help CMD" guard guard -q --wait gh --help touch "$mark"
check "no guarded command ran for --help" test ! -e "$mark"

# No root from discovery either: in a fresh directory without LOKT_ROOT,
# `guard --help` used to create ./.lokt.
mkdir "$T/cwd"
(
	cd "$T/cwd" && unset LOKT_ROOT &&
		"$LOKT" guard --help >/dev/null && "$LOKT" guard gh --help >/dev/null &&
		"$LOKT" lock gh --help >/dev/null
) 
check "without LOKT_ROOT: --help exits 0 (rc $?)" test $? -eq 0
check "without LOKT_ROOT: no ./.lokt created" test ! -e "$T/cwd/.lokt"

# After "--", or once the command has started, --help is the command's.
expect_exit 0 "guard NAME -- sh -c ... --help runs the command" \
	"$LOKT" guard gh -- sh -c 'echo "ran $0"' --help
contains "$OUT" "ran --help" "... which gets --help as its argument"
expect_exit 0 "guard NAME CMD --help runs CMD --help" \
	"$LOKT" guard gh sh -c 'echo "ran $0"' --help
contains "$OUT" "ran --help" "... which gets --help as its argument"
check "the guard run acquired and released (audited)" \
	test "$(audit_count acquire gh) $(audit_count release gh)" = "2 2"
expect_exit 3 "lock gh free after the guarded commands" "$LOKT" exists gh

done_testing
