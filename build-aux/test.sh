#!/usr/bin/env bash
# Installs dependencies, builds, runs the whole test suite (GUI tests under
# Xvfb when no display is present), then the engine's tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and prints a one-line
# summary of all last.  CP_SKIP_SANITIZE=1 skips the sanitizer passes.
# Then ThreadSanitizer on the application's engine-thread tests and the
# image cache (build-aux/sanitize.sh tsan-app, a few minutes).  The whole
# TSan pass (sanitize.sh tsan: also the thread pool, augmentation and two
# 5-minute training tests) takes 8 more minutes on this 2-core machine;
# run it by hand after changing threaded code.
set -uo pipefail
cd "$(dirname "$0")/.."

bash build-aux/install-deps.sh || exit 1
bash build-aux/build.sh || exit 1

runner=()
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
  runner=(xvfb-run -a -s "-screen 0 1280x800x24")
fi

export GSK_RENDERER=cairo GTK_A11Y=none
# This pass includes the slow suite (the quick profile's patch model at full
# length, 6 to 11 minutes); the sanitizer passes leave it out.
"${runner[@]}" meson test -C _build --print-errorlogs --num-processes 2 "$@"
status=$?
logs=(_build/meson-logs/testlog.json)

if [ "${CP_SKIP_SANITIZE:-0}" != 1 ]; then
  # The CPU engine, the command line and all their tests (the GTK
  # application is left out: its toolkit's own allocations dominate).
  rm -f build-rel-asan/meson-logs/testlog.json
  CP_SANITIZE_GUI=disabled bash build-aux/sanitize.sh asan || status=1
  logs+=(build-rel-asan/meson-logs/testlog.json)
  rm -f build-rel-tsan/meson-logs/testlog.json
  bash build-aux/sanitize.sh tsan-app || status=1
  logs+=(build-rel-tsan/meson-logs/testlog.json)
fi

python3 - "${logs[@]}" <<'PY'
import json, os, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    if not os.path.exists(path):
        failed += 1          # the suite did not even run
        continue
    with open(path) as f:
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
