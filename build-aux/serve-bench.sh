#!/usr/bin/env bash
# serve-bench.sh: throughput and latency of `cutpaste serve` against the
# rate of scoring one image per call in-process (what `cutpaste predict`
# does per batch, at batch 1), on this machine's cores.
#
#   build-aux/serve-bench.sh [BUILD_DIR] [REQUESTS]     (default _build, 300)
#
# A quick-profile-sized model (S 64; its weights do not change the speed,
# so it is trained for 3 steps) and 24 synthetic 256 x 256 images.  Every
# answer is checked against `cutpaste predict` on the same image under the
# same thread settings (serve-load exits 1 on a wrong or lost answer).
# Each configuration runs twice, interleaved, so that drift from other
# work on the machine shows.  Prints figures; asserts nothing about time.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath "${1:-$ROOT/_build}")
REQUESTS=${2:-300}
CUTPASTE=$BUILD/engine/cli/cutpaste
LOAD=$BUILD/tests/serve/serve-load
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-serve-bench-XXXXXX")
SERVER_PID=
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup () {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1

"$CUTPASTE" synth --out data --categories weave --size 256 --train 10 --test-good 12 --test-defect 4 >/dev/null \
  || exit 1
"$CUTPASTE" train --data-dir data --type weave --steps 3 --image-size 64 --device cpu --model-dir models \
  >/dev/null 2>&1 || exit 1
mapfile -t images < <(find data/weave/test -name "*.png" | sort | head -24)

# predict's score of each image alone, under the thread settings given.
expect () {  # FILE [ENV...]
  out=$1; shift
  for image in "${images[@]}"; do
    env "$@" "$CUTPASTE" predict --model models/weave.safetensors "$image" 2>/dev/null
  done >"$out"
}
expect expected-default.txt
expect expected-1thread.txt CP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

serve () {  # THREADS QUEUE CLIENTS EXPECTED
  "$CUTPASTE" serve --model-dir models --listen 127.0.0.1:0 --threads "$1" --queue "$2" \
    >serve.out 2>serve.err &
  SERVER_PID=$!
  for _ in $(seq 600); do
    grep -q "listening on" serve.out && break
    sleep 0.1
  done
  url=$(sed -n 's/.*listening on \(http[^ ]*\) .*/\1/p' serve.out)
  echo "--- serve --threads $1 --queue $2, $3 clients"
  "$LOAD" --url "$url" --category weave --expect "$4" --clients "$3" --requests "$REQUESTS" --warmup 12
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID"
  SERVER_PID=
}

echo "cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
  echo "=== round $round"
  echo "--- in-process, one image per call, default threads (as cutpaste predict)"
  "$LOAD" --direct models/weave.safetensors --expect expected-default.txt --requests "$REQUESTS"
  serve 1 2 3 expected-default.txt
  serve 2 4 6 expected-1thread.txt
  serve 2 4 16 expected-1thread.txt
  echo "--- in-process, one image per call, one thread"
  CP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
    "$LOAD" --direct models/weave.safetensors --expect expected-1thread.txt --requests "$REQUESTS"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
