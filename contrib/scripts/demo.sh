#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Quick start's first command: install what is missing, build loktfs
# into build/demo, mount it on a demo directory and say how to use it.
#
#   contrib/scripts/demo.sh          mount /tmp/loktfs-demo/mnt
#   LOKT_DEMO_DIR=/some/dir demo.sh  mount /some/dir/mnt over /some/dir/store
#
# Safe to run again: a previous demo mount (live, or left behind by a
# daemon that died: "Transport endpoint is not connected") is unmounted
# first. The store is kept, so locks taken in an earlier run are still
# there if their holders are alive.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$(pwd)

demo=${LOKT_DEMO_DIR:-/tmp/loktfs-demo}
mnt=$demo/mnt
store=$demo/store
build=build/demo

die() { echo "demo: error: $*" >&2; exit 1; }

bash contrib/scripts/deps.sh || die "could not install the build dependencies (see above)"

[ -c /dev/fuse ] || die "/dev/fuse is missing: load the fuse module (modprobe fuse) or, in a container, pass the device (--device /dev/fuse --cap-add SYS_ADMIN)"

echo "demo: building into $build"
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dfs=enabled -Dtests=false >/dev/null ||
		die "meson setup failed; run: meson setup $build -Dfs=enabled -Dtests=false"
fi
ninja -C "$build" >/dev/null || die "build failed; run: ninja -C $build"

lokt=$src/$build/cli/lokt
loktfs=$src/$build/fs/loktfs
[ -x "$lokt" ] && [ -x "$loktfs" ] || die "build did not produce $lokt and $loktfs"

# A mount of an earlier run, live or dead (its daemon killed): findmnt reads
# the mount table and does not stat the mount point, which would fail with
# ENOTCONN on a dead one.
if findmnt -rn -M "$mnt" >/dev/null 2>&1; then
	echo "demo: unmounting the previous demo mount on $mnt"
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" ||
		die "could not unmount $mnt; close the shells and programs using it and run: fusermount3 -u -z $mnt"
fi

mkdir -p "$mnt" "$store"
"$loktfs" -o "root=$store" "$mnt" || die "loktfs could not mount $mnt (see the message above)"

# loktfs daemonizes once the mount exists; wait for it with a generous bound.
for _ in $(seq 100); do
	findmnt -rn -M "$mnt" >/dev/null 2>&1 && break
	sleep 0.1
done
findmnt -rn -M "$mnt" >/dev/null 2>&1 || die "$mnt did not appear as a mount"

cat <<EOF

loktfs is mounted on $mnt (store: $store).

Try, from this shell:
  cd $mnt
  touch locks/deploy           # take the lock "deploy"; this shell holds it
  cat locks/deploy             # who holds it: the lock file's JSON
  ls -l locks/                 # every held lock: owner, since when
  echo 30m > locks/deploy      # renew it with a 30 minute TTL
  echo 15m > freezes/release   # freeze "release" for 15 minutes
  rm locks/deploy              # release it
  tail -f audit                # every event, as it happens (Ctrl-C to stop)

From another terminal, touch locks/deploy while this shell holds it: it
fails with "Device or resource busy" (EBUSY). If the shell that holds a
lock exits, the lock is stale and the next touch breaks it.

The same store through the CLI:
  LOKT_ROOT=$store $lokt status
  LOKT_ROOT=$store $lokt why deploy
  LOKT_ROOT=$store $lokt guard deploy --ttl 10m -- sleep 30

Unmount when done (leave the directory first):
  cd / && fusermount3 -u $mnt
EOF
