#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run one libFuzzer target for a bounded time, as one TAP line:
#   run.sh NAME EXE
# from its seed corpus tests/fuzz/corpus/NAME/ (read only: what the run
# finds goes to a scratch corpus) with tests/fuzz/NAME.dict when present,
# for $LOKT_FUZZ_SECONDS (default 10) under a hard timeout. A crash, a leak
# or a failed property keeps the input that caused it in
# $BUILD_ROOT/tests/fuzz/crashes/NAME/ and prints the command that replays it.
. "$SRC_ROOT/tests/lib.sh"

name=$1 exe=$(realpath "$2")
secs=${LOKT_FUZZ_SECONDS:-10}
seeds=$SRC_ROOT/tests/fuzz/corpus/$name
dict=$SRC_ROOT/tests/fuzz/$name.dict
crashes=$BUILD_ROOT/tests/fuzz/crashes/$name
mkdir -p "$crashes" "$T/corpus"

# Undefined behaviour is a crash too (UBSan only reports it by default).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096
	-print_final_stats=1 -artifact_prefix="$crashes/")
[ -f "$dict" ] && args+=(-dict="$dict")
[ -d "$seeds" ] || { not_ok "fuzz $name: no seed corpus in $seeds"; done_testing; exit 1; }

timeout -k 10 $((secs + 90)) "$exe" "${args[@]}" "$T/corpus" "$seeds" >"$T/log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/log" | tail -1)
units=$(find "$T/corpus" -type f | wc -l)
if [ "$rc" -eq 0 ]; then
	ok "fuzz $name: ${runs:-?} inputs in ${secs}s, no crash ($units new corpus entries)"
else
	repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$T/log" | tail -1)
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		not_ok "fuzz $name: did not stop within $((secs + 90))s (exit $rc)"
	else
		not_ok "fuzz $name: exit $rc; reproduce: $exe ${repro:-(no input saved)}"
	fi
	# The sanitizer's or the property's report, without libFuzzer's
	# progress lines.
	diag "$(grep -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|DONE)' "$T/log" | tail -n 60)"
	[ -n "$repro" ] && [ -f "$repro" ] &&
		diag "input (base64): $(base64 -w0 "$repro" | head -c 2000)"
fi
done_testing
