#!/bin/bash
# SPDX-License-Identifier: MIT
# What `meson install` delivers, used the way a packager or a program
# author would: install into a scratch DESTDIR, then build the example
# program against the installed header and pkg-config file only (not the
# source tree), run it, and run the installed lokt and loktfs.
. "$SRC_ROOT/tests/lib.sh"

dest=$T/dest
if ! meson install -C "$BUILD_ROOT" --no-rebuild --destdir "$dest" >"$T/install.log" 2>&1; then
	not_ok "meson install --destdir"
	diag "$(tail -20 "$T/install.log")"
	done_testing
	exit 0
fi
ok "meson install --destdir"

prefix=$(meson introspect "$BUILD_ROOT" --buildoptions |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
root=$dest$prefix
find_one() { find "$root" -path "$1" -print -quit; }

pc=$(find_one '*/pkgconfig/liblokt.pc')
check "liblokt.pc is installed" test -n "$pc"
check "lokt.h is installed" test -f "$root/include/lokt.h"
lib=$(find_one '*/liblokt.so.0')
check "liblokt.so.0 is installed" test -n "$lib"
check "lokt is installed" test -x "$root/bin/lokt"
check "lokt(1) is installed" test -f "$root/share/man/man1/lokt.1"
check "bash completion is installed" test -f "$root/share/bash-completion/completions/lokt"
if [ -n "${LOKTFS:-}" ]; then
	check "loktfs is installed" test -x "$root/sbin/loktfs"
	check "loktfs(8) is installed" test -f "$root/share/man/man8/loktfs.8"
	check "loktfs@.service is installed under the prefix" \
		test -f "$root/lib/systemd/system/loktfs@.service"
fi
# Nothing goes outside the prefix: the units and the tmpfiles entry went
# where the host's systemd.pc named (/lib/systemd/system), so a scratch
# --prefix replaced the host's own units with ones naming its binaries.
check "the tmpfiles.d entry is installed under the prefix" \
	test -f "$root/lib/tmpfiles.d/lokt.conf"
outside=$(cd "$dest" && find . ! -type d | grep -v "^\.$prefix/")
check "nothing is installed outside the prefix ($outside)" test -z "$outside"

# The public header stands alone, in C99 (it needs POSIX: pid_t,
# struct timespec) and C++.
printf '#include <lokt.h>\nint main(void) { return lokt_name_check("x"); }\n' >"$T/h.c"
check "lokt.h compiles alone (compiler's default C) with -Wall -Wextra -Werror" \
	cc -Wall -Wextra -Werror -c -I"$root/include" "$T/h.c" -o "$T/h.o"
check "lokt.h compiles alone as strict C99 + POSIX.1-2008" \
	cc -std=c99 -D_POSIX_C_SOURCE=200809L -pedantic -Wall -Wextra -Werror \
	-c -I"$root/include" "$T/h.c" -o "$T/h.o"
if command -v c++ >/dev/null; then
	cp "$T/h.c" "$T/h.cc"
	check "lokt.h compiles as C++" c++ -Wall -Werror -c -I"$root/include" "$T/h.cc" -o "$T/hh.o"
else
	skip "lokt.h compiles as C++" "no c++ compiler"
fi

# Build the example against the installed .pc, as its comment says.
# An ASan build's library needs the sanitizer runtime in the program too.
san=()
[ "${LOKT_SANITIZE:-none}" != none ] && san=(-fsanitize="$LOKT_SANITIZE")
export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=${pc%/*}
flags=$(pkg-config --cflags --libs liblokt 2>&1)
check "pkg-config knows liblokt ($flags)" pkg-config --exists liblokt
contains "$flags" "-llokt" "pkg-config links -llokt"
# shellcheck disable=SC2086 # flags are words
if cc "${san[@]}" -o "$T/with_lock" "$SRC_ROOT/contrib/examples/with_lock.c" $flags 2>"$T/cc.log"; then
	ok "the example builds against the installed liblokt"
	export LD_LIBRARY_PATH=${lib%/*}
	check "the example links the installed liblokt" \
		grep -q "${lib%/*}/liblokt.so.0" <(ldd "$T/with_lock")
	# Its own self-test, in a temporary store; its TAP lines become ours.
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "example: ${line#ok * - }" ;;
		"not ok "*) not_ok "example: ${line#not ok * - }" ;;
		esac
	done < <("$T/with_lock" --tap 2>&1)
	LOKT_ROOT=$T/store "$T/with_lock" job 1 >"$T/ex.out" 2>&1
	check "the example holds a lock in a real store" grep -q 'fence 1' "$T/ex.out" ||
		diag "$(cat "$T/ex.out")"
	expect_exit 0 "installed lokt runs" "$root/bin/lokt" version
	contains "$OUT" "$(meson introspect "$BUILD_ROOT" --projectinfo |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" \
		"installed lokt says the project's version"
	if [ -n "${LOKTFS:-}" ]; then
		expect_exit 0 "installed loktfs --version runs" "$root/sbin/loktfs" --version
	fi
else
	not_ok "the example builds against the installed liblokt"
	diag "$(cat "$T/cc.log")"
fi

# The release tarball (meson dist: the files git tracks) carries the
# LICENSE the SPDX lines name.
if git -C "$SRC_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	if meson dist -C "$BUILD_ROOT" --no-tests --allow-dirty --formats gztar \
		>"$T/dist.log" 2>&1; then
		tarball=$(ls "$BUILD_ROOT"/meson-dist/*.tar.gz | head -1)
		check "meson dist: the tarball has LICENSE" \
			eval 'tar -tzf "$tarball" | grep -q "^[^/]*/LICENSE$"'
		check "... and the Debian packaging" \
			eval 'tar -tzf "$tarball" | grep -q "^[^/]*/debian/control$"'
	else
		not_ok "meson dist"
		diag "$(tail -20 "$T/dist.log")"
	fi
else
	skip "meson dist" "the source is not a git checkout"
fi

done_testing
