#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Perform one file system call and print what it returned.

Usage: errno.py OP PATH [ARG]
Prints "OK" when the call succeeded, else the errno name ("EPERM",
"EBUSY", ...), and exits 0 either way: the caller compares the word.
The point is to see the exact errno a mount returns, which the coreutils
hide behind messages. Each OP is one system call (plus the close of a
file it opened, whose error is reported too):

  create PATH        open(O_WRONLY|O_CREAT|O_TRUNC)      (touch, ": >")
  openw PATH         open(O_WRONLY)                      (no create)
  append PATH TEXT   open(O_WRONLY|O_APPEND) + write(TEXT)
  write PATH TEXT    open(O_WRONLY|O_CREAT|O_TRUNC) + write(TEXT)
  read PATH          open(O_RDONLY) + read, prints OK
  stat PATH          stat
  utime PATH         utimensat(now)                      (touch of a file)
  unlink PATH        unlink                              (rm)
  mkdir PATH         mkdir
  rmdir PATH         rmdir
  mknod PATH         mknod S_IFIFO
  mknodreg PATH      mknod S_IFREG                       (mknod(2) of a file)
  rename PATH NEW    rename                              (mv)
  link PATH NEW      link                                (ln)
  symlink PATH NEW   symlink(PATH, NEW)                  (ln -s PATH NEW)
  chmod PATH         chmod 0600
  chown PATH UID     chown(UID, -1)
  truncate PATH N    truncate to N bytes
  setxattr PATH      setxattr user.lokt = "1"            (setfattr)
  removexattr PATH   removexattr user.lokt               (setfattr -x)
  getxattr PATH NAME getxattr NAME                       (getfattr -n)
"""
import errno
import os
import sys


def one(op, path, arg):
    if op in ("create", "write"):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if op == "write":
                os.write(fd, arg.encode())
        finally:
            os.close(fd)
    elif op == "openw":
        os.close(os.open(path, os.O_WRONLY))
    elif op == "append":
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, arg.encode())
        finally:
            os.close(fd)
    elif op == "read":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.read(fd, 65536)
        finally:
            os.close(fd)
    elif op == "stat":
        os.stat(path)
    elif op == "utime":
        os.utime(path)
    elif op == "unlink":
        os.unlink(path)
    elif op == "mkdir":
        os.mkdir(path)
    elif op == "rmdir":
        os.rmdir(path)
    elif op == "mknod":
        os.mknod(path, 0o644 | 0o010000)
    elif op == "mknodreg":
        os.mknod(path, 0o644 | 0o100000)
    elif op == "rename":
        os.rename(path, arg)
    elif op == "link":
        os.link(path, arg)
    elif op == "symlink":
        os.symlink(path, arg)
    elif op == "chmod":
        os.chmod(path, 0o600)
    elif op == "chown":
        os.chown(path, int(arg), -1)
    elif op == "truncate":
        os.truncate(path, int(arg))
    elif op == "setxattr":
        os.setxattr(path, "user.lokt", b"1")
    elif op == "removexattr":
        os.removexattr(path, "user.lokt")
    elif op == "getxattr":
        os.getxattr(path, arg)
    else:
        raise SystemExit(f"errno.py: unknown operation '{op}' (see --help)")


def main():
    if len(sys.argv) < 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) > 1 else 64
    op, path = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    try:
        one(op, path, arg)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
        return 0
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
