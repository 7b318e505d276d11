#!/bin/sh
# SPDX-License-Identifier: MIT
# One critical section of a name with several holders, for the slots
# tests:
#   slot_witness.sh DIR MAX KIND [HOLD_FILE]
# KIND is s (a slot or shared holder) or x (an exclusive holder). Entering
# creates DIR/in/PID.KIND, then counts DIR/in: more than MAX inside, or an
# x beside anyone, appends "overlap" to DIR/overlaps. Of any MAX+1 inside
# at once, the last to enter counts them all, so no excess goes unseen.
# It counts again before leaving. DIR/log gets "enter PID KIND COUNT" and
# "leave PID" lines (O_APPEND). With HOLD_FILE, stay inside until it
# exists (to force an overlap when testing the witness itself).
dir=$1 max=$2 kind=$3
look() {
	n=$(ls "$dir/in" | wc -l)
	x=$(ls "$dir/in" | grep -c '\.x$')
	if [ "$n" -gt "$max" ] || { [ "$x" -gt 0 ] && [ "$n" -gt 1 ]; }; then
		echo "overlap $$ $kind $n inside, $x exclusive" >>"$dir/overlaps"
	fi
}
: >"$dir/in/$$.$kind"
look
echo "enter $$ $kind $n" >>"$dir/log"
if [ -n "${4:-}" ]; then
	while [ ! -e "$4" ]; do sleep 0.01; done
else
	sleep 0.05
fi
look
rm -f "$dir/in/$$.$kind"
echo "leave $$" >>"$dir/log"
exit 0
