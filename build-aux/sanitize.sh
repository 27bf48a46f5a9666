#!/bin/sh
# sanitize.sh: the CPU engine and all its tests under sanitizers.
#
#   build-aux/sanitize.sh [asan|tsan|tsan-app|all]      (default all)
#
# asan: build-rel-asan, -Db_sanitize=address,undefined -Dcuda=disabled,
#       every test of `meson test` but the slow suite and the ONNX Runtime
#       benchmark (suite bench: its time is ORT's and Python's), GUI tests
#       under xvfb-run when it is installed.  LeakSanitizer is on; build-aux/lsan-gtk.supp hides the
#       allocations GTK, fontconfig, pango and GLib's type system keep for
#       the whole process by design (see that file).  UBSan stops at the
#       first report.
# tsan: build-rel-tsan, -Db_sanitize=thread: every test with threads of
#       its own.  The CPU backend's thread pool (ops-conv with 3 threads,
#       ops-conv, nn-train-synthetic: whole training steps on the pool) and
#       the threaded augmentation (augment) use pthreads, which TSan
#       understands.  The GThread-based code: the application's engine
#       thread (app-worker; app-window under xvfb-run when it is installed,
#       left out when the GUI is not built), the image cache's GThreadPool
#       (data-dataset), synth's pool and training's batch thread (pipeline),
#       and the scoring service's workers (serve-load-check).
#       Debian's GLib is not instrumented and its GAsyncQueue, GMutex and
#       GMainContext hand-offs are raw futexes TSan cannot see, so each
#       hand-off of ours is annotated with CP_TSAN_RELEASE/CP_TSAN_ACQUIRE
#       (engine/core/tsan.h); build-aux/tsan.supp hides OpenBLAS, and
#       what the uninstrumented GLib, GTK, cairo, pango and fontconfig do
#       between their own threads (see that file).  All nine tests count
#       in the status.  About 8 minutes on the shared 2-core machine
#       (nn-train-synthetic and pipeline take 5 each), which is why CI
#       (build-aux/test.sh) runs asan and tsan-app, not all of tsan.
# tsan-app: the same build, only the tests of the application's engine
#       thread and the image cache it reads through (app-worker,
#       data-dataset, and app-window's subtests that cross threads, see
#       below): about 4 minutes with the build, which CI can afford.
# Build folders live beside the source; CP_SANITIZE_JOBS sets ninja -j.
# Exit status 0 when every test passed (or was skipped), 1 otherwise.
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
WHAT=${1:-all}
JOBS=${CP_SANITIZE_JOBS:-2}
status=0
start=$(date +%s)

XVFB=no
if command -v xvfb-run >/dev/null 2>&1; then
  XVFB=yes
fi

setup () {  # DIR SANITIZER
  if [ ! -f "$1/build.ninja" ]; then
    meson setup "$1" "$SRC" -Dbuildtype=debugoptimized -Db_sanitize="$2" -Db_lundef=false \
      -Dcuda=disabled -Dgui="${CP_SANITIZE_GUI:-auto}" >"$1.setup.log" 2>&1 || { cat "$1.setup.log"; return 1; }
  fi
  ninja -C "$1" -j "$JOBS" >"$1.ninja.log" 2>&1 || { tail -40 "$1.ninja.log"; return 1; }
}

run_tests () {  # DIR [TEST...]
  dir=$1
  shift
  # Sanitized code runs 2-10x slower than a release build.
  if [ "$XVFB" = yes ]; then
    xvfb-run -a -s "-screen 0 1280x1024x24" meson test -C "$dir" --print-errorlogs --timeout-multiplier 4 --no-suite slow --no-suite bench "$@"
  else
    meson test -C "$dir" --print-errorlogs --timeout-multiplier 4 --no-suite slow --no-suite bench "$@"
  fi
}

if [ "$WHAT" = asan ] || [ "$WHAT" = all ]; then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer (build-rel-asan)"
  # fast_unwind_on_malloc=0: GLib is built without frame pointers; the fast
  # unwinder loses the caller of g_strdup_printf and friends in leak reports.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0
  export LSAN_OPTIONS=suppressions=$SRC/build-aux/lsan-gtk.supp:print_suppressions=0
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  # LeakSanitizer's exit-time scan crashes ("Tracer caught signal 11") in
  # a process that holds libgomp's threads, which oneDNN starts: this pass
  # checks our code on the im2col path.  ops-conv-fused and nn-fused with
  # oneDNN and detect_leaks=0 ran clean under ASan on 2026-12-07.
  export CP_CPU_DNNL=0
  if setup "$SRC/build-rel-asan" address,undefined; then
    run_tests "$SRC/build-rel-asan" || status=1
  else
    status=1
  fi
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS CP_CPU_DNNL
fi

if [ "$WHAT" = tsan ] || [ "$WHAT" = tsan-app ] || [ "$WHAT" = all ]; then
  echo "== ThreadSanitizer (build-rel-tsan)"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$SRC/build-aux/tsan.supp"
  # GSlice's per-thread magazines recycle blocks across threads behind
  # TSan's back; plain malloc is intercepted and understood.
  export G_SLICE=always-malloc
  # oneDNN's threads are libgomp's, which TSan cannot see synchronise:
  # our own threads and the im2col convolutions are what this pass checks.
  export CP_CPU_DNNL=0
  if setup "$SRC/build-rel-tsan" thread; then
    # The GUI tests exist only where GTK was found (CP_SANITIZE_GUI).
    available=$(meson test -C "$SRC/build-rel-tsan" --list 2>/dev/null | sed 's|.* / ||')
    tests=
    # serve-load-check: the scoring service's workers, admission and
    # answers under concurrent clients (serve-faults, which also swaps
    # models under load, passes too but takes 10 minutes under TSan).
    wanted="ops-conv-threads-3 ops-conv augment nn-train-synthetic data-dataset pipeline app-worker app-window serve-load-check"
    if [ "$WHAT" = tsan-app ]; then
      wanted="app-worker data-dataset"
    fi
    for t in $wanted; do
      if printf '%s\n' "$available" | grep -qx "$t"; then
        tests="$tests $t"
      fi
    done
    # shellcheck disable=SC2086
    run_tests "$SRC/build-rel-tsan" $tests || status=1
    # tsan-app: app-window's subtests that hand work to the engine thread
    # and back (open and rescan, train, score a drop, threshold save,
    # heatmap, evaluation plots, cancel; in the file's order, as later
    # subtests use the model earlier ones trained).  The other subtests drive the same
    # hand-offs again with more widgets around them: all 22 take 510 s
    # under TSan on CI, these about a quarter of that (run the whole test
    # with `sanitize.sh tsan`).  A second meson run rewrites testlog.json,
    # so the first run's log is put back in front of it.
    if [ "$WHAT" = tsan-app ] && printf '%s\n' "$available" | grep -qx app-window; then
      log="$SRC/build-rel-tsan/meson-logs/testlog.json"
      cp "$log" "$log.first" 2>/dev/null || : >"$log.first"
      paths=
      for p in bad-folder open-dataset train drop threshold-save heatmap plots cancel-keeps-model open-keeps-or-finds-dataset; do
        paths="$paths -p /app/window/$p"
      done
      run_tests "$SRC/build-rel-tsan" --test-args "$paths" app-window || status=1
      cat "$log.first" "$log" >"$log.all" && mv "$log.all" "$log"
      rm -f "$log.first"
    fi
  else
    status=1
  fi
  unset TSAN_OPTIONS G_SLICE
fi

echo "sanitize.sh: $WHAT done in $(( $(date +%s) - start )) s, status $status"
exit $status
