#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Count TAP subtests across meson test logs and print the closing line.

Usage: summarize.py testlog.json [testlog.json ...]
Each meson test is a TAP stream. A test whose process failed without
reporting a "not ok" (it crashed, timed out, printed no plan) counts as one
failure, so nothing that breaks goes uncounted. Exits 1 if anything failed.
"""
import json
import re
import sys

TAP = re.compile(r'^(not ok|ok)\b(.*)$')

passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            p = fl = s = 0
            for out in (t.get('stdout') or '').splitlines():
                m = TAP.match(out)
                if not m:
                    continue
                directive = m.group(2)
                if re.search(r'#\s*SKIP', directive, re.I):
                    s += 1
                elif m.group(1) == 'ok':
                    p += 1
                elif re.search(r'#\s*TODO', directive, re.I):
                    p += 1
                else:
                    fl += 1
            if t.get('result') not in ('OK', 'SKIP', 'EXPECTEDFAIL') and fl == 0:
                fl = 1
                print(f"{path}: {t['name']}: {t.get('result')} without a failing subtest", file=sys.stderr)
            passed += p
            failed += fl
            skipped += s
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
