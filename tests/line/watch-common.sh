# watch-common.sh: what the `cutpaste watch` test scripts share; sourced
# after cli-checks.sh, in the test's work folder, with $CUTPASTE set.
export CP_DETERMINISTIC_DATE=2026-01-01T00:00:00Z
export OPENBLAS_NUM_THREADS=1

# A tiny weave category and a model trained in seconds (S 32, 3 steps);
make_model () {
  "$CUTPASTE" synth --out data --categories weave --size 48 --train 10 --test-good 6 --test-defect 2 \
    >synth.log 2>&1 || { cat synth.log; echo "skipped: cutpaste synth failed"; exit 77; }
  "$CUTPASTE" train --data-dir data --type weave --steps 3 --batch-size 2 --image-size 32 --device cpu \
    --model-dir models >train.log 2>&1 || { cat train.log; echo "FAIL: training failed"; exit 1; }
  # make_model localize: a patch model beside it, for heatmaps (S 64).
  if [ "${1:-}" = localize ]; then
    "$CUTPASTE" train --data-dir data --type weave --steps 3 --batch-size 2 --image-size 64 --device cpu \
      --model-dir models --localize >train-patch.log 2>&1 \
      || { cat train-patch.log; echo "FAIL: training the patch model failed"; exit 1; }
  fi
  # Every image of the set, good and defective, as parts to drop in.
  IMAGES=$(ls data/weave/test/*/*.png data/weave/train/good/*.png)
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s; 1 when it
# never succeeded (the caller reports what it waited for).  COMMAND's
# arguments are expanded once: what must be read again each time goes
# in a function (has_parts).
wait_until () {
  limit=$(( $1 * 10 )); shift
  i=0
  while [ $i -lt $limit ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# start_watch NAME ARGS...: runs `cutpaste watch` in the background with
# quick settle and rescan times, output in NAME.out / NAME.err; sets
# WATCH_PID and waits until it is watching.
start_watch () {
  name=$1; shift
  "$CUTPASTE" watch --model-dir models --category weave --settle 200 --rescan 200 "$@" \
    >"$name.out" 2>"$name.err" &
  WATCH_PID=$!
  wait_until 60 grep -q "watching" "$name.err" || { cat "$name.err"; fail "$name: the watcher did not start"; }
}

# end_watch NAME: waits for a watcher started with --exit-when-idle; it
# must exit 0 (under the sanitizers a leak or an error report makes the
# status non-zero).
end_watch () {
  wait "$WATCH_PID"
  status=$?
  WATCH_PID=
  [ "$status" -eq 0 ] || { tail -20 "$1.err" >&2; fail "$1: the watcher exited $status"; }
}

# stop_watch: SIGTERM, and waits for the exit; its status in WATCH_STATUS.
stop_watch () {
  kill -TERM "$WATCH_PID" 2>/dev/null
  wait "$WATCH_PID"
  WATCH_STATUS=$?
}

# sql DB QUERY: one value.
sql () { sqlite3 "$1" "$2"; }
parts_in () { sqlite3 "$1" "SELECT count(*) FROM parts"; }
# has_parts DB N: whether DB holds N parts (for wait_until).
has_parts () { [ "$(parts_in "$1")" -eq "$2" ]; }
# count_lines FILE PATTERN: lines of FILE matching PATTERN (fixed string).
count_lines () { grep -cF -- "$2" "$1"; }
