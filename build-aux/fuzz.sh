#!/bin/sh
# fuzz.sh: builds the libFuzzer targets of tests/fuzz with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs each for a
# bounded time.
#
#   build-aux/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGETs among json safetensors image
# dataset model zip pickle pth weights (default all).  Prints the executions and the crashes of
# each target; a crash leaves its input in build-rel-fuzz/fuzz-artifacts/
# <target>/ (replay it with build-rel-fuzz/tests/fuzz/fuzz-<target> FILE).
# The fuzzer's growing corpus is build-rel-fuzz/fuzz-corpus/<target>,
# seeded from tests/fuzz/corpus/<target>.  With CP_FUZZ_MERGE=1 the new
# inputs that add coverage are merged into tests/fuzz/corpus/<target>
# (keep the committed corpus small: look at what was added).
#
# Environment: CP_FUZZ_BUILD (build folder, default build-rel-fuzz).
# Exit status: 0 when no target crashed, 1 otherwise.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CP_FUZZ_BUILD:-$SRC/build-rel-fuzz}
TIME=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-json safetensors image dataset model zip pickle pth weights}

case $TIME in
  ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number (got '$TIME')" >&2; exit 2 ;;
esac

command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 2; }
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' > "${TMPDIR:-/tmp}/cp-fuzz-probe.c"
if ! clang -fsanitize=fuzzer "${TMPDIR:-/tmp}/cp-fuzz-probe.c" -o "${TMPDIR:-/tmp}/cp-fuzz-probe" 2>/dev/null; then
  echo "fuzz.sh: clang cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)" >&2
  exit 2
fi
rm -f "${TMPDIR:-/tmp}/cp-fuzz-probe.c" "${TMPDIR:-/tmp}/cp-fuzz-probe"

if [ ! -f "$BUILD/build.ninja" ]; then
  # Coverage instrumentation (fuzzer-no-link) on every source; the targets
  # themselves add -fsanitize=fuzzer (tests/fuzz/meson.build).
  CC=clang meson setup "$BUILD" "$SRC" \
    -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fsanitize=fuzzer-no-link \
    -Dcuda=disabled -Dgui=disabled >"$BUILD.setup.log" 2>&1 \
    || { cat "$BUILD.setup.log" >&2; exit 1; }
fi
names=
for t in $TARGETS; do names="$names tests/fuzz/fuzz-$t"; done
# shellcheck disable=SC2086
ninja -C "$BUILD" $names >"$BUILD.ninja.log" 2>&1 || { tail -40 "$BUILD.ninja.log" >&2; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# One BLAS thread: the fuzzers run one input at a time anyway.
export OPENBLAS_NUM_THREADS=1
export G_DEBUG=gc-friendly

status=0
printf '%-12s %12s %10s %8s %s\n' target executions exec/s crashes coverage
for t in $TARGETS; do
  corpus="$BUILD/fuzz-corpus/$t"
  artifacts="$BUILD/fuzz-artifacts/$t"
  log="$BUILD/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  # -timeout: one input may take this long (a 100 M pixel image is legal);
  # -rss_limit_mb: above that a single input is reported as an OOM.
  # -malloc_limit_mb is higher than the RSS limit on purpose: GdkPixbuf's
  # BMP loader reserves the buffer a header declares (up to 4 GiB for a
  # 55-byte file) with g_try_realloc, touching none of it and failing
  # cleanly when memory is short (tests/fuzz/corpus/image/oom-bmp-*), which
  # libFuzzer would otherwise report as an OOM on every run.
  "$BUILD/tests/fuzz/fuzz-$t" -max_total_time="$TIME" -print_final_stats=1 \
    -timeout=30 -rss_limit_mb=3072 -malloc_limit_mb=8192 -max_len=65536 \
    -artifact_prefix="$artifacts/" "$corpus" "$SRC/tests/fuzz/corpus/$t" >"$log" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //')
  crashes=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf '%-12s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes" "${cov:-?}"
  if [ "$crashes" -gt 0 ]; then
    status=1
    echo "  see $log and $artifacts/" >&2
    grep -m1 -A12 'ERROR:\|runtime error\|invariant broken' "$log" | sed 's/^/  /' >&2 || true
  fi
  if [ "${CP_FUZZ_MERGE:-0}" = 1 ]; then
    "$BUILD/tests/fuzz/fuzz-$t" -merge=1 -timeout=30 -max_len=65536 \
      "$SRC/tests/fuzz/corpus/$t" "$corpus" >"$BUILD/fuzz-$t.merge.log" 2>&1 || true
  fi
done
exit $status
