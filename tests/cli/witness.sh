#!/bin/sh
# SPDX-License-Identifier: MIT
# One critical section, for the mutual-exclusion tests:
#   witness.sh DIR [HOLD_FILE]
# Entering takes mkdir DIR/cs; if it already exists another witness is
# inside, and "overlap" is appended to DIR/overlaps. Every section appends
# "enter PID" and "leave PID" to DIR/log (O_APPEND), so a checker can also
# see that sections alternate. With HOLD_FILE, stay inside until it exists
# (used to force an overlap when testing the witness itself).
dir=$1
if ! mkdir "$dir/cs" 2>/dev/null; then
	echo "overlap $$" >>"$dir/overlaps"
fi
echo "enter $$" >>"$dir/log"
if [ -n "${2:-}" ]; then
	while [ ! -e "$2" ]; do sleep 0.01; done
else
	sleep 0.01
fi
echo "leave $$" >>"$dir/log"
rmdir "$dir/cs" 2>/dev/null
exit 0
