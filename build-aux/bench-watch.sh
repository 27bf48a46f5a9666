#!/usr/bin/env bash
# bench-watch.sh: does `cutpaste watch` keep up with a line?  1000 synthetic
# 256 x 256 parts (cutpaste synth) and a model of the quick profile's size
# (S 64; a few steps: the weights do not change the speed).
#
#  1. The model's scoring rate: `cutpaste predict` on the 1000 files (decode,
#     resize, embed, Gaussian), its start-up (a 1-image run) taken off.
#  2. Burst: the 1000 files copied into the watched folder at once; the
#     watcher's rate from the first recorded part to the last, and the added
#     cost per part (1 / watch rate - 1 / model rate): reading and hashing
#     the file, the database lookup and transaction (synchronous=FULL), the
#     move to the pass or fail folder, the monitor and the rescans.  The
#     watcher's own account of its worker's time (it prints it when it
#     stops) splits decoding and scoring from the rest, which is less
#     disturbed by other programs on the machine than rates are.
#  3. Paced: parts arriving at 80 % of the model's rate: the delay from a
#     file's arrival (its mtime) to its record, mean and largest.
#
# Prints the figures; asserts nothing.  Usage:
#   build-aux/bench-watch.sh [BUILD_DIR] [N] [S]
set -euo pipefail
BUILD=$(realpath "${1:-_build}")
N=${2:-1000}
S=${3:-64}
CUTPASTE=$BUILD/engine/cli/cutpaste
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-bench-watch-XXXXXX")
WATCH_PID=
trap '[ -n "$WATCH_PID" ] && kill -9 $WATCH_PID 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
PY=/usr/bin/python3

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
"$CUTPASTE" synth --out data --categories weave --size 256 --train "$N" --test-good 2 --test-defect 1 >/dev/null
"$CUTPASTE" train --data-dir data --type weave --steps 5 --image-size "$S" --device cpu --model-dir models \
  >train.log 2>&1
# The parts: the synthetic train images (good weave), under new names.
mkdir parts
i=0
for f in data/weave/train/good/*.png; do
  cp "$f" "parts/part$(printf %04d $i).png"
  i=$((i + 1))
done
# The watcher's drift reference would embed the 1000 train images at the
# start: give it a small dataset instead (not part of the measurement).
mkdir -p refdata/weave/train/good
for f in $(ls data/weave/train/good/*.png | sed -n 1,40p); do cp "$f" refdata/weave/train/good/; done

# ---- 1. the model's rate ----
t0=$(date +%s.%N)
"$CUTPASTE" predict --model models/weave.safetensors parts/part0000.png >/dev/null 2>&1
t1=$(date +%s.%N)
"$CUTPASTE" predict --model models/weave.safetensors parts/*.png >/dev/null 2>&1
t2=$(date +%s.%N)
model_rate=$($PY -c "import sys; a,b,c=map(float,sys.argv[1:]); print('%.2f' % ($N / ((c - b) - (b - a))))" "$t0" "$t1" "$t2")
echo "model (cutpaste predict, S $S, $N parts of 256 x 256): $model_rate parts/s (start-up $($PY -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1") s taken off)"

watch_run () {  # NAME: starts a watcher on in/ with a new database
  rm -rf in pass fail "$1.sqlite"* && mkdir in pass fail
  "$CUTPASTE" watch --model-dir models --category weave --folder in --db "$1.sqlite" --move-to pass,fail \
    --data-dir refdata --heatmaps none >"$1.out" 2>"$1.err" &
  WATCH_PID=$!
  until grep -q "watching" "$1.err"; do sleep 0.1; done
}
wait_recorded () {  # DB
  until [ "$(sqlite3 "$1" "SELECT count(*) FROM parts" 2>/dev/null || echo 0)" -ge "$N" ]; do sleep 0.2; done
}

# ---- 2. burst ----
watch_run burst
cp parts/*.png in/
wait_recorded burst.sqlite
kill -TERM $WATCH_PID; wait $WATCH_PID || true; WATCH_PID=
echo "burst, the watcher's own account: $(sed -n 's/.*cutpaste watch: \([0-9]* parts scored.*\)/\1/p' burst.err)"
$PY - burst.sqlite "$N" "$model_rate" <<'PY'
import sqlite3, sys, datetime
db, n, model_rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
times = [datetime.datetime.fromisoformat(t.replace('Z', '+00:00')).timestamp()
         for (t,) in sqlite3.connect(db).execute("SELECT time FROM parts ORDER BY time")]
rows = sqlite3.connect(db).execute("SELECT count(*), count(DISTINCT file_path) FROM parts").fetchone()
span = times[-1] - times[0]
rate = (len(times) - 1) / span
print("burst: %d parts recorded (%d distinct) in %.2f s: %.2f parts/s" % (rows[0], rows[1], span, rate))
print("added cost per part: %.2f ms (1/%.2f - 1/%.2f)" % (1000 * (1 / rate - 1 / model_rate), rate, model_rate))
PY

# ---- 3. paced at 80 % of the model's rate ----
watch_run paced
interval=$($PY -c "import sys; print(1.0 / (0.8 * float(sys.argv[1])))" "$model_rate")
$PY - "$interval" <<'PY'
import os, shutil, sys, time
interval = float(sys.argv[1])
names = sorted(os.listdir('parts'))
start = time.monotonic()
for k, name in enumerate(names):
    shutil.copy('parts/' + name, 'in/.' + name)
    os.rename('in/.' + name, 'in/' + name)   # whole files only, as a camera writing then renaming
    delay = start + (k + 1) * interval - time.monotonic()
    if delay > 0:
        time.sleep(delay)
PY
wait_recorded paced.sqlite
kill -TERM $WATCH_PID; wait $WATCH_PID || true; WATCH_PID=
echo "paced, the watcher's own account: $(sed -n 's/.*cutpaste watch: \([0-9]* parts scored.*\)/\1/p' paced.err)"
$PY - paced.sqlite "$interval" <<'PY'
import datetime, os, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT time, final_path FROM parts").fetchall()
delays = []
for t, path in rows:
    recorded = datetime.datetime.fromisoformat(t.replace('Z', '+00:00')).timestamp()
    delays.append(recorded - os.stat(path).st_mtime)
delays.sort()
print("paced (one part every %.1f ms): %d parts; arrival to record: mean %.1f ms, median %.1f ms, "
      "95th percentile %.1f ms, largest %.1f ms"
      % (1000 * float(sys.argv[2]), len(delays), 1000 * sum(delays) / len(delays),
         1000 * delays[len(delays) // 2], 1000 * delays[int(0.95 * len(delays))], 1000 * delays[-1]))
PY
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
