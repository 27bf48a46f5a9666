#!/usr/bin/env bash
# Installs dependencies, builds, runs the whole test suite (GUI tests under
# Xvfb when no display is present) and prints a one-line summary last.
set -uo pipefail
cd "$(dirname "$0")/.."

bash build-aux/install-deps.sh || exit 1
bash build-aux/build.sh || exit 1

runner=()
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
  runner=(xvfb-run -a -s "-screen 0 1280x800x24")
fi

export GSK_RENDERER=cairo GTK_A11Y=none
"${runner[@]}" meson test -C _build --print-errorlogs --num-processes 2 "$@"
status=$?

python3 - _build/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        result = json.loads(line).get("result", "")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
