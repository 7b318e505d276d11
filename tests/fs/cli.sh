#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The loktfs command line: --help and --version, refusals of bad options
# (a message, a non-zero exit, nothing mounted), and the mount helper form
# `loktfs ROOT MOUNTPOINT -o opts` that mount(8) and /etc/fstab use, which
# daemonizes like any FUSE file system.
. "$SRC_ROOT/tests/lib.sh"
. "$SRC_ROOT/tests/fs/mount.sh"

expect_exit 0 "loktfs --help: exit 0" "$LOKTFS" --help
contains "$OUT" "default_ttl" "loktfs --help names default_ttl"
contains "$OUT" "freeze_ttl" "loktfs --help names freeze_ttl"
contains "$OUT" "MOUNTPOINT" "loktfs --help shows the usage line"
expect_exit 0 "loktfs --version: exit 0" "$LOKTFS" --version
contains "$OUT$ERR" "loktfs" "loktfs --version names itself"
contains "$OUT$ERR" "$("$LOKT" version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -1)" \
	"loktfs --version gives the same version as lokt version"

D=$T/bad
mkdir -p "$D"
: >"$T/file"
at_exit "is_loktfs '$D' && fusermount3 -u -z '$D'"
# refused DESC WORD ARGS...: loktfs exits non-zero at once (timeout would
# say it mounted and ran), says WORD on stderr, and mounts nothing.
refused() {
	local desc=$1 word=$2
	shift 2
	timeout 30 "$LOKTFS" "$@" >"$T/out" 2>"$T/err"
	local st=$?
	if [ "$st" -eq 1 ]; then
		ok "$desc: exit 1"
	else
		not_ok "$desc: exit $st, want 1 (a refusal; 124: it mounted and ran)"
	fi
	contains "$(cat "$T/err")" "$word" "$desc: the message names '$word'"
	if is_loktfs "$D"; then
		not_ok "$desc: mounted $D anyway"
		fusermount3 -u -z "$D"
	else
		ok "$desc: nothing mounted"
	fi
}
refused "-o default_ttl=xx" default_ttl -f -o "root=$LOKT_ROOT,default_ttl=xx" "$D"
refused "-o freeze_ttl=0" freeze_ttl -f -o "root=$LOKT_ROOT,freeze_ttl=0" "$D"
refused "-o freeze_ttl=later" freeze_ttl -f -o "root=$LOKT_ROOT,freeze_ttl=later" "$D"
refused "no mount point" "mount point" -f -o "root=$LOKT_ROOT"
refused "a mount point that does not exist" "$T/nowhere" -f -o "root=$LOKT_ROOT" "$T/nowhere"
refused "an unknown option" bogus -f -o "root=$LOKT_ROOT,bogus=1" "$D"
contains "$(cat "$T/err")" "loktfs --help" "an unknown option: the message says where the options are"
refused "an unknown flag" --bogus -f --bogus "$D"
refused "-o root without a value" "root=" -f -o root "$D"
refused "a store that cannot be made" "$T/file/store" -f -o "root=$T/file/store" "$D"
refused "three arguments" "$T/third" -f "$LOKT_ROOT" "$D" "$T/third"

# ---- mount helper form: loktfs ROOT MOUNTPOINT -o opts (daemonizes) --------
ROOT2=$T/store2
MNT=$T/helper
mkdir -p "$MNT"
at_exit "is_loktfs '$MNT' && fusermount3 -u -z '$MNT'"
# A relative ROOT is taken from the working directory of the command.
expect_exit 0 "loktfs store2 helper -o default_ttl=1m (from $T): exit 0 once mounted" \
	sh -c "cd '$T' && exec '$LOKTFS' store2 helper -o default_ttl=1m"
if wait_for 30 is_loktfs "$MNT"; then ok "helper form: $MNT mounted"; else not_ok "helper form: $MNT not mounted"; fi
expect_exit 0 "helper form: touch locks/h" touch "$MNT/locks/h"
[ "$(jfield ttl_sec <"$MNT/locks/h")" = 60 ] && ok "helper form: default_ttl=1m gives ttl_sec 60" ||
	not_ok "helper form: ttl_sec '$(jfield ttl_sec <"$MNT/locks/h")', want 60"
expect_exit 0 "helper form: the lock is in ROOT (lokt --root $ROOT2 exists h)" "$LOKT" --root "$ROOT2" exists h
expect_exit 3 "helper form: not in the default test root" "$LOKT" exists h
findmnt -rn -o FSTYPE,SOURCE -M "$MNT" >"$T/findmnt.out"
contains "$(cat "$T/findmnt.out")" "fuse.loktfs" "helper form: mount type fuse.loktfs"
contains "$(cat "$T/findmnt.out")" "$ROOT2" "helper form: mount source is the root"
expect_exit 0 "helper form: fusermount3 -u" fusermount3 -u "$MNT"
# (The bracket keeps pgrep from matching the sh -c that runs it.)
if wait_for 30 sh -c '! pgrep -f "loktfs store[2] helper" >/dev/null'; then
	ok "helper form: the daemon exits after the unmount"
else
	not_ok "helper form: the daemon is still running after the unmount"
fi
expect_exit 0 "helper form: the lock stays in the store" "$LOKT" --root "$ROOT2" exists h

# daemon_of MNT: the pid of the (daemonized) loktfs serving MNT, a path
# unique to this test.
daemon_of() { pgrep -f "^$LOKTFS [^ ]+ $1( |\$)"; }
# SIGTERM to a daemonized loktfs unmounts it; the lock stays.
expect_exit 0 "helper form again (daemonizes)" "$LOKTFS" "$ROOT2" "$MNT"
wait_for 30 is_loktfs "$MNT"
dpid=$(daemon_of "$MNT")
if [ -n "$dpid" ]; then ok "helper form: the daemon is pid $dpid"; else not_ok "helper form: no daemon found for $MNT"; fi
h_before=$(cat "$MNT/locks/h")
[ -n "$dpid" ] && kill -TERM "$dpid"
if wait_for 30 sh -c '! kill -0 "$0" 2>/dev/null' "${dpid:-0}"; then
	ok "SIGTERM to the daemonized loktfs: it exits"
else
	not_ok "SIGTERM to the daemonized loktfs: still running"
fi
is_loktfs "$MNT" && not_ok "SIGTERM: $MNT still a mount" || ok "SIGTERM: $MNT no longer a mount"
[ "$("$LOKT" --root "$ROOT2" status h --json | jfield lock_id)" = "$(jfield lock_id <<<"$h_before")" ] &&
	ok "SIGTERM: h is in the store with the same lock_id" || not_ok "SIGTERM: h in the store: $("$LOKT" --root "$ROOT2" status h 2>&1)"

# ---- mount -t fuse (mount(8) runs the helper form) ------------------------------
# mount.fuse3 looks the program up in a fixed PATH; "PROGRAM#ROOT" names it
# by its full path, as an fstab line "loktfs#ROOT MNT fuse ..." would.
if command -v mount.fuse3 >/dev/null; then
	expect_exit 0 "mount -t fuse 'loktfs#ROOT' MNT -o default_ttl=2m" \
		mount -t fuse "$LOKTFS#$ROOT2" "$MNT" -o default_ttl=2m
	if wait_for 30 is_loktfs "$MNT"; then ok "mount -t: mounted"; else not_ok "mount -t: not mounted"; fi
	[ "$(jfield ttl_sec <"$MNT/locks/h")" = 60 ] && ok "mount -t: shows h from the store" ||
		not_ok "mount -t: h is '$(cat "$MNT/locks/h" 2>&1)'"
	expect_exit 0 "mount -t: touch locks/m" touch "$MNT/locks/m"
	[ "$(jfield ttl_sec <"$MNT/locks/m")" = 120 ] && ok "mount -t: default_ttl=2m gives ttl_sec 120" ||
		not_ok "mount -t: ttl_sec '$(jfield ttl_sec <"$MNT/locks/m")', want 120"
	expect_exit 0 "umount $MNT" umount "$MNT"
	is_loktfs "$MNT" && not_ok "still mounted after umount" || ok "umount: gone"
else
	skip "mount -t fuse" "mount.fuse3 is not installed"
fi

# ---- mount -t fuse.loktfs and an fstab line, as installed ---------------------
# mount(8) runs mount.fuse3 for the type fuse.loktfs, and mount.fuse3 runs
# "loktfs SOURCE MOUNTPOINT -o OPTIONS" through /bin/sh with the environment
# mount(8) sanitized: no PATH, so the shell's default (/usr/local/sbin,
# /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin). meson installs loktfs
# into sbindir, one of those. To test that chain against the built binary,
# a private mount namespace puts a directory holding only loktfs (a symlink
# to the build) over the install directory; mount(8) is then run as a user
# would run it. Everything on that mount happens inside the namespace.
instdir=$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(next((v for k, v in d.items() if k.endswith("/fs/loktfs")), "").rsplit("/", 1)[0])' \
	"$BUILD_ROOT/meson-info/intro-installed.json" 2>/dev/null)
case ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" in
*":$instdir:"*) ok "loktfs installs into $instdir, on the PATH mount.fuse3's shell uses" ;;
*) not_ok "loktfs installs into '$instdir': mount -t fuse.loktfs would not find it" ;;
esac
if [ "$(id -u)" -ne 0 ] || ! command -v mount.fuse3 >/dev/null || ! command -v unshare >/dev/null ||
	! command -v nsenter >/dev/null || [ ! -d "$instdir" ]; then
	skip "mount -t fuse.loktfs, fstab" "needs root, mount.fuse3, unshare, nsenter and $instdir"
	done_testing
	exit 0
fi
mkdir -p "$T/sbin"
ln -s "$LOKTFS" "$T/sbin/loktfs"
unshare -m --propagation private sleep 600 &
NS=$!
at_exit "kill_child KILL $NS"
new_ns() { [ "$(readlink /proc/$NS/ns/mnt)" != "$(readlink /proc/$$/ns/mnt)" ]; }
inns() { nsenter -t "$NS" -m "$@"; }
wait_for 30 new_ns && inns mount --bind "$T/sbin" "$instdir"
check "a private mount namespace with only the built loktfs in $instdir" inns test -x "$instdir/loktfs"
ROOT3=$T/store3
MNT3=$T/mnt3
mkdir -p "$MNT3" "$ROOT3"
# The daemons run in the namespace; at exit they are stopped by their pid.
at_exit 'for p in $(pgrep -f "^loktfs [^ ]+ $MNT3( |\$)"); do kill -KILL "$p"; done'
ns_mounted() { inns findmnt -rn -o FSTYPE -M "$MNT3" | grep -q '^fuse.loktfs$'; }
ns_unmounted() { ! inns findmnt -rn -M "$MNT3" >/dev/null && ! pgrep -f "^loktfs [^ ]+ $MNT3( |\$)" >/dev/null; }

expect_exit 0 "mount -t fuse.loktfs none MNT -o root=DIR,default_ttl=2m" \
	inns mount -t fuse.loktfs none "$MNT3" -o "root=$ROOT3,default_ttl=2m"
if wait_for 30 ns_mounted; then ok "mount -t fuse.loktfs: mounted, type fuse.loktfs"; else not_ok "mount -t fuse.loktfs: not mounted"; fi
contains "$(inns findmnt -rn -o SOURCE -M "$MNT3")" "$ROOT3" "mount -t fuse.loktfs: the source shown is the root"
expect_exit 0 "mount -t fuse.loktfs: touch locks/t" inns touch "$MNT3/locks/t"
[ "$(inns cat "$MNT3/locks/t" | jfield ttl_sec)" = 120 ] && ok "mount -t fuse.loktfs: default_ttl=2m gives ttl_sec 120" ||
	not_ok "mount -t fuse.loktfs: locks/t is '$(inns cat "$MNT3/locks/t" 2>&1)'"
expect_exit 0 "mount -t fuse.loktfs: the lock is in root= (lokt --root)" "$LOKT" --root "$ROOT3" exists t
expect_exit 0 "umount MNT" inns umount "$MNT3"
if wait_for 30 ns_unmounted; then ok "umount: not mounted, the daemon exited"; else not_ok "umount: still mounted or the daemon runs"; fi

# /etc/fstab (mount -T reads another file in its format): the root as the
# source, and the words fstab and systemd use, which loktfs ignores.
echo "$ROOT3 $MNT3 fuse.loktfs default_ttl=3m,allow_other,nofail,_netdev,noauto,x-systemd.automount 0 0" >"$T/fstab"
expect_exit 0 "fstab line: mount MNT" inns mount -T "$T/fstab" "$MNT3"
if wait_for 30 ns_mounted; then ok "fstab line: mounted"; else not_ok "fstab line: not mounted"; fi
contains "$(inns findmnt -rn -o OPTIONS -M "$MNT3")" "allow_other" "fstab line: allow_other reached the mount"
[ "$(inns cat "$MNT3/locks/t" | jfield ttl_sec)" = 120 ] && ok "fstab line: t from the store is there" ||
	not_ok "fstab line: locks/t is '$(inns cat "$MNT3/locks/t" 2>&1)'"
expect_exit 0 "fstab line: touch locks/u" inns touch "$MNT3/locks/u"
[ "$(inns cat "$MNT3/locks/u" | jfield ttl_sec)" = 180 ] && ok "fstab line: default_ttl=3m gives ttl_sec 180" ||
	not_ok "fstab line: locks/u is '$(inns cat "$MNT3/locks/u" 2>&1)'"
expect_exit 0 "fstab line: umount MNT" inns umount "$MNT3"
if wait_for 30 ns_unmounted; then ok "fstab line: unmounted, the daemon exited"; else not_ok "fstab line: still mounted or the daemon runs"; fi
expect_exit 0 "the locks stay in the store" "$LOKT" --root "$ROOT3" exists u
done_testing
