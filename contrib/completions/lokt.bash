# SPDX-License-Identifier: MIT
# bash completion for lokt(1): commands, every flag of each command, and
# the names of the locks and freezes in the store.
# Installed into bash-completion's completions directory; to try it from a
# checkout: source contrib/completions/lokt.bash

# Names of held locks and active freezes in the store lokt would use
# (honouring a --root given on the line), as lokt itself lists them:
# `lokt status --names`, one a line, which (as every read-only command)
# never creates a store where there is none.
_lokt_names()
{
	local root=$1
	local -a args=()
	[ -n "$root" ] && args=(--root "$root")
	"${COMP_WORDS[0]}" "${args[@]}" status --names 2>/dev/null
}

_lokt()
{
	local cur prev cmd='' root='' i
	local commands="lock unlock status exists guard freeze unfreeze audit why doctor version help"
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	# Find the command (the first word that is not a global option) and a
	# --root given before it; stop at "--" (guard's command follows).
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--root) root=${COMP_WORDS[i + 1]}; ((i++)) ;;
		--root=*) root=${COMP_WORDS[i]#--root=} ;;
		--) break ;;
		-*) ;;
		*) [ -z "$cmd" ] && cmd=${COMP_WORDS[i]} ;;
		esac
	done

	# After guard's "--", complete the command to run.
	if [ "$cmd" = guard ]; then
		for ((i = 1; i < COMP_CWORD; i++)); do
			if [ "${COMP_WORDS[i]}" = -- ]; then
				if [ $((i + 1)) -eq "$COMP_CWORD" ]; then
					mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
				else
					mapfile -t COMPREPLY < <(compgen -f -- "$cur")
				fi
				return 0
			fi
		done
	fi

	# Values of options.
	case $prev in
	--root)
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		return 0 ;;
	--ttl | --timeout)
		mapfile -t COMPREPLY < <(compgen -W "30s 5m 10m 15m 30m 1h 2h 1d" -- "$cur")
		return 0 ;;
	--since)
		mapfile -t COMPREPLY < <(compgen -W "10m 1h 1d 7d" -- "$cur")
		return 0 ;;
	--on-lost)
		mapfile -t COMPREPLY < <(compgen -W "kill warn" -- "$cur")
		return 0 ;;
	--slots)
		mapfile -t COMPREPLY < <(compgen -W "2 3 4 8" -- "$cur")
		return 0 ;;
	--holder)
		mapfile -t COMPREPLY < <(compgen -W "$(ps -e -o pid= 2>/dev/null)" -- "$cur")
		return 0 ;;
	--owner)
		mapfile -t COMPREPLY < <(compgen -u -- "$cur")
		return 0 ;;
	--tail | -E | --conflict-exit-code | --lock-id)
		return 0 ;;
	--name)
		mapfile -t COMPREPLY < <(compgen -W "$(_lokt_names "$root")" -- "$cur")
		return 0 ;;
	esac

	if [ -z "$cmd" ]; then
		mapfile -t COMPREPLY < <(compgen -W "$commands --root --help -h --version -V" -- "$cur")
		return 0
	fi

	local opts='' names=0
	case $cmd in
	lock) opts="--ttl --wait --timeout --holder --detach --slots --shared -E --conflict-exit-code --json -q --quiet --help"; names=1 ;;
	unlock) opts="--force -y --yes --break-stale --all --owner --lock-id --json -q --quiet --help"; names=1 ;;
	status) opts="--json --prune-expired --names --help"; names=1 ;;
	exists) opts="--help"; names=1 ;;
	guard) opts="--ttl --wait --timeout --slots --shared --on-lost -E --conflict-exit-code -q --quiet --help --"; names=1 ;;
	freeze) opts="--ttl --json -q --quiet --help"; names=1 ;;
	unfreeze) opts="--force --json -q --quiet --help"; names=1 ;;
	audit) opts="--since --name --tail -f --follow --json --help" ;;
	why) opts="--json --help"; names=1 ;;
	doctor) opts="--json --help" ;;
	version) opts="--json --help" ;;
	help)
		mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		return 0 ;;
	esac
	opts="$opts --root"

	if [[ $cur == -* ]] || [ $names -eq 0 ]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	else
		mapfile -t COMPREPLY < <(compgen -W "$(_lokt_names "$root")" -- "$cur")
	fi
	return 0
}

complete -F _lokt lokt
