#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A terminal for the process tests: runs CMD on a new pseudo-terminal
(its controlling terminal, CMD the session's leader, as a login shell on
a real terminal is), copies every byte written to the FIFO KEYS to the
terminal as typed keys (^Z is "\\x1a", ^C "\\x03": the terminal's line
discipline turns them into signals for its foreground process group),
and appends everything CMD shows to the file SCREEN. Exits with CMD's
status when CMD ends; "terminal.py: exit N" is the last line of SCREEN.

    terminal.py SCREEN KEYS CMD [ARG...]
"""
import errno
import os
import pty
import select
import sys


def main():
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    screen_path, keys_path, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    # Opened for writing too, so that it never reads as ended when the
    # test closes its end between two writes.
    keys = os.open(keys_path, os.O_RDWR | os.O_NONBLOCK)
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    with open(screen_path, "ab", buffering=0) as screen:
        while True:
            ready, _, _ = select.select([master, keys], [], [])
            if keys in ready:
                data = os.read(keys, 4096)
                if data:
                    os.write(master, data)
            if master in ready:
                try:
                    data = os.read(master, 4096)
                except OSError as e:
                    if e.errno != errno.EIO:  # EIO: the terminal closed
                        raise
                    data = b""
                if not data:
                    break
                screen.write(data)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        screen.write(b"\nterminal.py: exit %d\n" % code)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
