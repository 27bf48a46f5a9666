#!/bin/bash
# test-array.sh: deploy/slurm/train-array.sbatch run locally as the tasks
# of a job array.
#
# 1. Tasks 0..k-1 one after the other: each category of a 3-category
#    dataset is trained exactly once, task N trains the N-th name in byte
#    order, and task k is refused with the list of categories.
# 2. The same k tasks, plus a second task for index 0 (a retried job
#    racing its predecessor), all at once into one shared model folder,
#    while a reader checks every model file it can see, again and again:
#    none may be half-written (each must open as a complete model).
#
# Tiny settings (S 32, 3 steps): this tests the jobs, not the training.
set -u
CUTPASTE=$(realpath "${1:?usage: test-array.sh PATH/TO/cutpaste SOURCE_ROOT}")
SCRIPT=$(realpath "${2:?usage: test-array.sh PATH/TO/cutpaste SOURCE_ROOT}")/deploy/slurm/train-array.sbatch
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-deploy-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
fail () { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$CUTPASTE" synth --out data --size 48 --train 10 --test-good 4 --test-defect 2 >synth.log 2>&1 \
  || { cat synth.log; exit 1; }
# A third category, named to sort first.
cp -r data/weave data/cloth
categories="cloth washer weave"
k=3

export CUTPASTE CP_DATA_DIR="$WORK/data"
export CP_TRAIN_ARGS="--steps 3 --batch-size 2 --image-size 32 --device cpu"
export CP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# ---- 1. one task after the other ---------------------------------------------
export CP_MODEL_DIR="$WORK/models"
for n in $(seq 0 $((k - 1))); do
  SLURM_ARRAY_TASK_ID=$n bash "$SCRIPT" >"task-$n.log" 2>&1 || { fail "task $n exited $?"; cat "task-$n.log"; }
done
cat task-*.log >all.log
n=0
for c in $categories; do
  grep -q "^category $n of .*: $c\$" "task-$n.log" || fail "task $n did not train $c: $(head -1 "task-$n.log")"
  count=$(grep -c "^$c: wrote " all.log)
  [ "$count" -eq 1 ] || fail "$c was trained $count times"
  [ -f "models/$c.safetensors" ] || fail "no models/$c.safetensors"
  n=$((n + 1))
done
[ "$(find models -maxdepth 1 -name '*.safetensors' | wc -l)" -eq $k ] || fail "models/ holds $(ls -A models)"
SLURM_ARRAY_TASK_ID=$k bash "$SCRIPT" >task-out.log 2>&1
rc=$?
[ $rc -eq 2 ] || fail "task $k (out of range) exited $rc, expected 2"
grep -q "out of range.*3 categories (0 to 2: cloth, washer, weave)" task-out.log \
  || fail "task $k: unclear message: $(cat task-out.log)"

# Usage errors of --type-index itself.
for bad in "--type-index -1" "--type-index x" "--type-index 0 --type weave"; do
  # shellcheck disable=SC2086  # the options are meant to split
  "$CUTPASTE" train --data-dir data $bad --model-dir unused >bad.log 2>&1
  rc=$?
  [ $rc -eq 2 ] || fail "train $bad exited $rc, expected 2"
  grep -q -- "--type" bad.log || fail "train $bad: no message about --type: $(cat bad.log)"
done
[ ! -e unused ] || fail "a refused run wrote models"

# ---- 2. all at once into one folder, read meanwhile -------------------------
export CP_MODEL_DIR="$WORK/shared"
mkdir -p shared
pids=""
for n in 0 1 2 0; do
  SLURM_ARRAY_TASK_ID=$n bash "$SCRIPT" >"par-$n-$RANDOM.log" 2>&1 &
  pids="$pids $!"
done
checks=0
running=1
while [ $running -eq 1 ]; do
  running=0
  for p in $pids; do
    kill -0 "$p" 2>/dev/null && running=1
  done
  for f in shared/*.safetensors; do
    [ -e "$f" ] || continue
    checks=$((checks + 1))
    # The file is opened as a whole: a half-written one fails here.
    "$CUTPASTE" threshold --model "$f" >check.out 2>&1 || { fail "$f could not be read while jobs ran"; cat check.out; }
  done
done
for p in $pids; do
  wait "$p" || fail "a concurrent task exited $?"
done
echo "checked model files $checks times while the tasks ran"
for c in $categories; do
  "$CUTPASTE" predict --model "shared/$c.safetensors" "data/$c/test/good/000.png" >/dev/null 2>&1 \
    || fail "shared/$c.safetensors does not score an image"
done
left=$(find shared -name '.*' -newer synth.log | grep -v checkpoint)
[ -z "$left" ] || fail "temporary files left behind: $left"

exit $((failures > 0))
