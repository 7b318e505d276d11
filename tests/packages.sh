#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian packages, as a user gets them: `dpkg-buildpackage -us -uc -b`
# on a copy of the tree builds lokt, loktfs, loktd, liblokt0 and
# liblokt-dev; lintian reports no error or warning; the packages install
# on this machine with dpkg, and then `lokt version`, `loktd --version`,
# `mount -t fuse.loktfs` and the example built against the installed
# liblokt.pc work. Packages that
# were not installed before are purged at the end.
#
# Needs root (dpkg -i, mount) and Debian's packaging tools; without them
# every check is reported as skipped, with the reason.
. "$SRC_ROOT/tests/lib.sh"

pkgs=(liblokt0 liblokt-dev lokt loktfs loktd)
why=
[ "$(id -u)" -eq 0 ] || why="needs root (dpkg -i, mount)"
for t in dpkg-buildpackage lintian dh mount.fuse3; do
	[ -n "$why" ] || command -v "$t" >/dev/null || why="$t is not installed"
done
if [ -n "$why" ]; then
	skip "Debian packages" "$why"
	done_testing
	exit 0
fi

# A copy of the tree: the build writes debian/ and ../*.deb.
version=$(sed -n '1s/.*(\(.*\)).*/\1/p' "$SRC_ROOT/debian/changelog")
src=$T/pkg/loktfs-$version
mkdir -p "$src"
if git -C "$SRC_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$SRC_ROOT" ls-files -co --exclude-standard -z |
		grep -zv '^build' | (cd "$SRC_ROOT" && tar --null -cf - -T -) |
		tar -xf - -C "$src"
else
	tar -C "$SRC_ROOT" --exclude='./build*' -cf - . | tar -xf - -C "$src"
fi

if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	not_ok "dpkg-buildpackage -us -uc -b"
	diag "$(tail -30 "$T/build.log")"
	done_testing
	exit 0
fi
debs=()
for p in "${pkgs[@]}"; do
	f=$(ls "$T/pkg/${p}_${version}_"*.deb 2>/dev/null | head -1)
	check "package $p was built" test -n "$f"
	[ -n "$f" ] && debs+=("$f")
done
dpkg-deb -c "$T/pkg/loktfs_${version}_"*.deb >"$T/loktfs.list"
check "loktfs ships its systemd unit where systemd.pc says" \
	grep -q "\.$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)/loktfs@.service" "$T/loktfs.list"

dpkg-deb -c "$T/pkg/loktd_${version}_"*.deb >"$T/loktd.list"
check "loktd ships its systemd unit and man page" \
	grep -q "\.$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)/loktd.service" "$T/loktd.list"
check "... and loktd(8)" grep -q "usr/share/man/man8/loktd.8" "$T/loktd.list"

dpkg-deb -c "$T/pkg/lokt_${version}_"*.deb >"$T/lokt.list"
check "lokt ships the host-wide store's tmpfiles.d entry" \
	grep -q "\.$(pkg-config --variable=tmpfilesdir systemd 2>/dev/null || echo /usr/lib/tmpfiles.d)/lokt.conf" "$T/lokt.list"
check "... and the example /etc/lokt.conf, as an example only" \
	grep -q "usr/share/doc/lokt/lokt.conf.example" "$T/lokt.list"

lintian --tag-display-limit 0 "$T/pkg/loktfs_${version}_"*.changes >"$T/lintian.log" 2>&1
if grep -qE '^(E|W): ' "$T/lintian.log"; then
	not_ok "lintian: no error, no warning"
	diag "$(grep -E '^(E|W): ' "$T/lintian.log")"
else
	ok "lintian: no error, no warning"
fi

# Install on this machine; purge at exit what was not there before.
fresh=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		fresh+=("$p")
done
purge() { [ ${#fresh[@]} -eq 0 ] || dpkg --purge "${fresh[@]}" >/dev/null 2>&1; }
at_exit purge
if dpkg -i "${debs[@]}" >"$T/dpkg.log" 2>&1; then
	ok "dpkg -i installs the five packages"
else
	not_ok "dpkg -i installs the five packages"
	diag "$(tail -20 "$T/dpkg.log")"
	done_testing
	exit 0
fi

expect_exit 0 "lokt version (installed)" /usr/bin/lokt version
contains "$OUT" "$version" "installed lokt says version $version"
expect_exit 0 "loktd --version (installed)" /usr/sbin/loktd --version
contains "$OUT" "$version" "installed loktd says version $version"

# mount -t fuse.loktfs: mount(8) runs mount.fuse3, which finds loktfs in
# /usr/sbin.
mnt=$T/mnt store=$T/store
mkdir -p "$mnt"
umount_it() { mountpoint -q "$mnt" && umount "$mnt"; return 0; }
at_exit umount_it
expect_exit 0 "mount -t fuse.loktfs loktfs MNT -o root=STORE" \
	mount -t fuse.loktfs loktfs "$mnt" -o "root=$store"
if wait_for 20 mountpoint -q "$mnt"; then
	ok "the mount is there"
	touch "$mnt/locks/pkgtest" # held by this script (touch's parent)
	LOKT_ROOT=$store expect_exit 0 "a lock touched through the mount is held for lokt" \
		/usr/bin/lokt exists pkgtest
	expect_exit 0 "rm through the mount releases it" rm "$mnt/locks/pkgtest"
	expect_exit 0 "umount" umount "$mnt"
else
	not_ok "the mount is there"
fi

# The example against the installed header and liblokt.pc only.
flags=$(pkg-config --cflags --libs liblokt 2>&1)
contains "$flags" "-llokt" "pkg-config --libs liblokt (installed) links -llokt"
# shellcheck disable=SC2086 # flags are words
if cc -o "$T/with_lock" "$SRC_ROOT/contrib/examples/with_lock.c" $flags 2>"$T/cc.log"; then
	ok "the example builds against the installed liblokt-dev"
	LOKT_ROOT=$T/store2 "$T/with_lock" job 1 >"$T/ex.out" 2>&1
	check "the example holds a lock with the installed liblokt0" grep -q 'fence 1' "$T/ex.out" ||
		diag "$(cat "$T/ex.out")"
else
	not_ok "the example builds against the installed liblokt-dev"
	diag "$(cat "$T/cc.log")"
fi

done_testing
