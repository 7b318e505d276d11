#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, from a fresh Debian 12 machine: install what is
# missing, build with warnings as errors, run every test in a normal build
# and again under AddressSanitizer + UBSan, run each libFuzzer target
# (tests/fuzz) for $LOKT_FUZZ_SECONDS (default 10) in a clang build, and
# close with the line
#   N passed, N failed[, N skipped]
# counted over every TAP subtest of the three runs.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

bash contrib/scripts/deps.sh || exit 1

logs=()
run_suite() { # NAME [MESON-OPTIONS...] [-- MESON-TEST-OPTIONS...]
	local dir=build/test-$1 setup=(); shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do setup+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	echo "== build $dir ${setup[*]}"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" -Dwerror=true "${setup[@]}" >"$dir.setup.log" 2>&1 ||
			{ mkdir -p "$dir"; cat "$dir.setup.log"; echo "setup of $dir failed"; return 1; }
	fi
	ninja -C "$dir" >"$dir.build.log" 2>&1 ||
		{ cat "$dir.build.log"; echo "build of $dir failed"; return 1; }
	echo "== test $dir"
	meson test -C "$dir" --print-errorlogs --num-processes 2 \
		--timeout-multiplier "${LOKT_TEST_TIMEOUT_MULTIPLIER:-1}" "$@" 2>&1 |
		grep -Ev '^(ninja: |$)'
	logs+=("$dir/meson-logs/testlog.json")
}

mkdir -p build
run_suite plain || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LOKT_TEST_TIMEOUT_MULTIPLIER=3 \
	run_suite asan -Db_sanitize=address,undefined -Db_lundef=false || exit 1
# Only the fuzz suite runs in this build (the others ran above).
CC=clang run_suite fuzz -Dfuzz=true -Db_sanitize=address,undefined \
	-Db_lundef=false -- --suite fuzz || exit 1

echo
python3 tests/summarize.py "${logs[@]}"
