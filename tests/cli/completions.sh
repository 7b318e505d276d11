#!/bin/bash
# SPDX-License-Identifier: MIT
# Shell completions (contrib/completions), driven in real shells: bash
# (the completion function with COMP_WORDS, as readline calls it), fish
# (`complete -C`) and zsh (a pty running an interactive zsh with compinit,
# a TAB typed, the matches captured). Each completes commands, flags of a
# command, the lock names of the store in use (asked of lokt: `status
# --names`, plain text) and the command after `guard NAME --`.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/cli/common.sh"

C=$SRC_ROOT/contrib/completions
export PATH="$(dirname "$LOKT"):$PATH" # the shells find this lokt
"$LOKT" lock alpha --holder $$ -q
"$LOKT" freeze beta --ttl 1h -q
mkdir -p "$T/other"
LOKT_ROOT=$T/other "$LOKT" lock gamma --holder $$ -q

expect_exit 0 "lokt status --names" "$LOKT" status --names
check "... one name a line, locks and freezes" test "$OUT" = $'alpha\nbeta'
expect_exit 0 "... nothing (and no store made) where there is none" \
	env LOKT_ROOT="$T/none" "$LOKT" status --names
check "... indeed none made" test ! -e "$T/none"

# has LIST WORD: WORD is a line of LIST
has() { grep -qx -- "$2" <<<"$1"; }

# --- bash ------------------------------------------------------------------
# bash_complete LINE: what _lokt offers for LINE (cursor at its end).
bash_complete() {
	bash -c '. "$1/lokt.bash"; read -ra COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_WORDS[0]=$3; COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_lokt; printf "%s\n" "${COMPREPLY[@]}"' _ "$C" "$1" "$LOKT"
}
got=$(bash_complete "lokt lo")
check "bash: a command" has "$got" lock
got=$(bash_complete "lokt lock ")
check "bash: lock names of the store" eval 'has "$got" alpha && has "$got" beta'
got=$(bash_complete "lokt --root $T/other unlock ")
check "bash: ... of the store given with --root" eval 'has "$got" gamma && ! has "$got" alpha'
got=$(bash_complete "lokt lock --de")
check "bash: a flag of lock (--detach)" has "$got" --detach
got=$(bash_complete "lokt guard alpha --sl")
check "bash: a flag of guard (--slots)" has "$got" --slots
got=$(bash_complete "lokt lock x --slots ")
check "bash: a number after --slots, no lock name" eval 'has "$got" 2 && ! has "$got" alpha'
got=$(bash_complete "lokt unlock alpha --force -")
check "bash: unlock's -y (short for --yes)" has "$got" -y
got=$(bash_complete "lokt audit --fo")
check "bash: a flag of audit (--follow)" has "$got" --follow
got=$(bash_complete "lokt guard alpha -- ech")
check "bash: the command after guard NAME --" has "$got" echo

# --- fish ------------------------------------------------------------------
if command -v fish >/dev/null; then
	fish_complete() {
		fish -c "source '$C/lokt.fish'; complete -C '$1'" | cut -f1
	}
	got=$(fish_complete "lokt lo")
	check "fish: a command" has "$got" lock
	got=$(fish_complete "lokt lock ")
	check "fish: lock names of the store" eval 'has "$got" alpha && has "$got" beta'
	got=$(fish_complete "lokt --root $T/other unlock ")
	check "fish: ... of the store given with --root" eval 'has "$got" gamma && ! has "$got" alpha'
	got=$(fish_complete "lokt lock --de")
	check "fish: a flag of lock (--detach)" has "$got" --detach
	got=$(fish_complete "lokt unlock alpha --force -")
	check "fish: unlock's -y (short for --yes)" has "$got" -y
	got=$(fish_complete "lokt guard alpha -- ech")
	check "fish: the command after guard NAME --" has "$got" echo
else
	skip "fish completion" "fish is not installed"
fi

# --- zsh -------------------------------------------------------------------
if command -v zsh >/dev/null && zsh -fc 'zmodload zsh/zpty' 2>/dev/null; then
	# An interactive zsh in a pty, compinit with our function first in
	# fpath, compadd wrapped to write every match offered to a file.
	cat >"$T/capture.zsh" <<'ZSH'
zmodload zsh/zpty || exit 1
compdir=$1 out=$2 line=$3
zpty z zsh -f -i
zpty -w z "PROMPT=''; RPROMPT=''; fpath=($compdir \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "compadd() { local -a __h; builtin compadd -O __h \"\$@\"; (( \${#__h} )) && print -l -- \$__h >>| $out; builtin compadd \"\$@\" }"
zpty -w z "bindkey '^I' complete-word"
zpty -w -n z "$line"$'\t'
# Wait for the matches (at most 20 s: a bound, not a measure).
for i in {1..200}; do [[ -s $out ]] && break; sleep 0.1; done
sleep 0.3
zpty -d z
ZSH
	zsh_complete() {
		rm -f "$T/zsh.out"
		zsh -f "$T/capture.zsh" "$C" "$T/zsh.out" "$1" </dev/null >/dev/null 2>&1
		sort -u "$T/zsh.out" 2>/dev/null
	}
	got=$(zsh_complete "lokt lo")
	check "zsh: a command" has "$got" lock
	got=$(zsh_complete "lokt lock ")
	check "zsh: lock names of the store" eval 'has "$got" alpha && has "$got" beta'
	got=$(zsh_complete "lokt --root $T/other unlock ")
	check "zsh: ... of the store given with --root" eval 'has "$got" gamma && ! has "$got" alpha'
	got=$(zsh_complete "lokt lock --de")
	check "zsh: a flag of lock (--detach)" has "$got" --detach
	got=$(zsh_complete "lokt unlock alpha --force -")
	check "zsh: unlock's -y (short for --yes)" has "$got" -y
	got=$(zsh_complete "lokt guard alpha -- ech")
	check "zsh: the command after guard NAME --" has "$got" echo
else
	skip "zsh completion" "zsh (with its zpty module) is not installed"
fi

done_testing
