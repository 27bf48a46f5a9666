#!/bin/sh
# test-serve-load.sh: concurrent clients against `cutpaste serve`, every
# answer checked against `cutpaste predict` on the same image (one image
# per call, as the service scores them, and the same thread settings:
# OpenBLAS's results differ in the last float bits with its thread count).
# A correctness test: it prints requests/s and latencies but asserts none
# of them (build-aux/serve-bench.sh measures).
set -u
CUTPASTE=$(realpath "${1:?usage: test-serve-load.sh PATH/TO/cutpaste PATH/TO/serve-load}")
LOAD=$(realpath "${2:?usage: test-serve-load.sh PATH/TO/cutpaste PATH/TO/serve-load}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-serve-load-XXXXXX")
SERVER_PID=
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup () {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1
export CP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

"$CUTPASTE" synth --out data --categories weave --size 48 --train 10 --test-good 4 --test-defect 2 \
  >synth.log 2>&1 || { cat synth.log; exit 1; }
"$CUTPASTE" train --data-dir data --type weave --steps 3 --batch-size 2 --image-size 32 --device cpu \
  --model-dir models >train.log 2>&1 || { cat train.log; exit 1; }

for image in data/weave/test/*/*.png; do
  "$CUTPASTE" predict --model models/weave.safetensors "$image" 2>/dev/null || exit 1
done >expected.txt
[ "$(wc -l <expected.txt)" -ge 8 ] || { echo "FAIL: predict gave $(wc -l <expected.txt) lines"; exit 1; }

"$CUTPASTE" serve --model-dir models --listen 127.0.0.1:0 --threads 2 --queue 2 >serve.out 2>serve.err &
SERVER_PID=$!
i=0
until grep -q "listening on" serve.out; do
  i=$((i + 1))
  [ "$i" -le 600 ] || { echo "FAIL: the service did not start"; cat serve.err; exit 1; }
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "FAIL: the service exited"; cat serve.err; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/.*listening on \(http[^ ]*\) .*/\1/p' serve.out)

status=0
# At the queue's bound (2 workers + 2 waiting), then past it (503s retried).
for clients in 4 12; do
  "$LOAD" --url "$URL" --category weave --expect expected.txt --clients "$clients" --requests 120 \
    --warmup 8 || status=1
done

kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
rc=$?
SERVER_PID=
[ "$rc" -eq 0 ] || { echo "FAIL: the service exited $rc after SIGTERM"; cat serve.err; status=1; }
exit $status
