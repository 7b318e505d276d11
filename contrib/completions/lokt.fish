# SPDX-License-Identifier: MIT
# fish completion for lokt(1): commands, every flag of each command, the
# names of the locks and freezes in the store in use, and the command after
# `guard NAME --`. Installed into fish's vendor completions; to try it from
# a checkout: source contrib/completions/lokt.fish

set -l __lokt_commands lock unlock status exists guard freeze unfreeze audit why doctor version help

# The words before the cursor, without the program.
function __lokt_words
    set -l w (commandline -opc)
    set -e w[1]
    set -q w[1]; and printf '%s\n' $w
end

# The command: the first word that is not an option (nor --root's value).
function __lokt_command
    set -l skip 0
    for w in (__lokt_words)
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case --root
                set skip 1
            case '--*' '-*'
            case '*'
                echo $w
                return 0
        end
    end
    return 1
end

# Has the command line reached guard's `--`, and is the cursor on the
# first word after it (the command to run)?
function __lokt_after_dashdash
    contains -- -- (__lokt_words)
end

function __lokt_guard_command_word
    set -l w (__lokt_words)
    test "$w[-1]" = --
end

# Names as lokt lists them, one a line, for the store lokt would use (a
# --root on the line counts); read-only: no store is ever created.
function __lokt_names
    set -l w (__lokt_words)
    set -l args
    set -l i (contains -i -- --root $w)
    and set args --root $w[(math $i + 1)]
    for x in $w
        string match -q -- '--root=*' $x; and set args --root (string replace -- '--root=' '' $x)
    end
    command lokt $args status --names 2>/dev/null
end

function __lokt_in
    set -l cmd (__lokt_command); or return 1
    contains -- $cmd $argv; and not __lokt_after_dashdash
end

complete -c lokt -f

# Commands, before one is given.
complete -c lokt -n 'not __lokt_command' -a lock -d 'take a lock for the calling shell or script'
complete -c lokt -n 'not __lokt_command' -a unlock -d 'release a lock (or break a stale or foreign one)'
complete -c lokt -n 'not __lokt_command' -a status -d 'list held locks and freezes, or show one'
complete -c lokt -n 'not __lokt_command' -a exists -d 'exit 0 if a live lock exists, 3 if not'
complete -c lokt -n 'not __lokt_command' -a guard -d 'run a command while holding a lock'
complete -c lokt -n 'not __lokt_command' -a freeze -d 'block new acquisitions of a name for a while'
complete -c lokt -n 'not __lokt_command' -a unfreeze -d 'remove a freeze'
complete -c lokt -n 'not __lokt_command' -a audit -d 'show the audit log'
complete -c lokt -n 'not __lokt_command' -a why -d 'explain what lokt lock NAME would meet now'
complete -c lokt -n 'not __lokt_command' -a doctor -d 'check the store and its filesystem'
complete -c lokt -n 'not __lokt_command' -a version -d 'print the version'
complete -c lokt -n 'not __lokt_command' -a help -d 'show help for lokt or a command'
complete -c lokt -n 'not __lokt_command' -s V -l version -d 'print the version'
complete -c lokt -n 'not __lokt_after_dashdash' -l root -r -F -d 'lock root directory (LOKT_ROOT)'
complete -c lokt -n 'not __lokt_after_dashdash' -s h -l help -d 'show help'
complete -c lokt -n '__lokt_in help' -a "$__lokt_commands"

# Lock names where a command takes one.
complete -c lokt -n '__lokt_in lock unlock status exists guard freeze unfreeze why' -a '(__lokt_names)'

# Flags of each command.
complete -c lokt -n '__lokt_in lock guard freeze' -l ttl -x -a '30s 5m 15m 30m 1h 2h 1d' -d 'time to live'
complete -c lokt -n '__lokt_in lock guard' -l wait -d 'wait for the lock (first come, first served)'
complete -c lokt -n '__lokt_in lock guard' -l timeout -x -a '30s 5m 10m' -d 'give up waiting after'
complete -c lokt -n '__lokt_in lock guard' -s E -l conflict-exit-code -x -d 'exit status when the lock is busy'
complete -c lokt -n '__lokt_in lock' -l holder -x -a '(__fish_complete_pids)' -d 'holder process'
complete -c lokt -n '__lokt_in lock' -l detach -d 'held until released or expired (needs --ttl)'
complete -c lokt -n '__lokt_in lock guard' -l slots -x -a '2 3 4 8' -d 'one of N places of a semaphore'
complete -c lokt -n '__lokt_in lock guard' -l shared -d 'a shared place (readers); plain lock is the writer'
complete -c lokt -n '__lokt_in guard' -l on-lost -x -a 'kill warn' -d 'if the lock is lost'
complete -c lokt -n '__lokt_in lock unlock guard freeze unfreeze' -s q -l quiet -d 'print nothing on success'
complete -c lokt -n '__lokt_in lock unlock status freeze unfreeze audit why doctor version' -l json -d 'one JSON document'
complete -c lokt -n '__lokt_in unlock unfreeze' -l force -d 'whoever holds it'
complete -c lokt -n '__lokt_in unlock' -s y -l yes -d 'do not ask before --force'
complete -c lokt -n '__lokt_in unlock' -l break-stale -d 'break it if it is stale'
complete -c lokt -n '__lokt_in unlock' -l all -d 'every lock of the owner'
complete -c lokt -n '__lokt_in unlock' -l owner -x -a '(__fish_complete_users)' -d 'act as this owner'
complete -c lokt -n '__lokt_in unlock' -l lock-id -x -d 'release only this acquisition'
complete -c lokt -n '__lokt_in status' -l prune-expired -d 'remove stale locks first'
complete -c lokt -n '__lokt_in status' -l names -d 'the names only, one a line'
complete -c lokt -n '__lokt_in audit' -l since -x -a '10m 1h 1d 7d' -d 'events since'
complete -c lokt -n '__lokt_in audit' -l name -x -a '(__lokt_names)' -d 'events of one name'
complete -c lokt -n '__lokt_in audit' -l tail -x -d 'the last N events'
complete -c lokt -n '__lokt_in audit' -s f -l follow -d 'then each new event as it is logged'

# After `guard NAME --`: the command to run, then its own arguments.
complete -c lokt -n '__lokt_after_dashdash; and __lokt_guard_command_word' -a '(__fish_complete_command)'
complete -c lokt -n '__lokt_after_dashdash; and not __lokt_guard_command_word' -F
