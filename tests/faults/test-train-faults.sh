#!/bin/sh
# test-train-faults.sh: training under faults, with the real `cutpaste`
# binary on a tiny synthetic category.
#
#   test-train-faults.sh CASE PATH/TO/cutpaste PATH/TO/fault-inspect
#
# CASE is one of:
#   diverge    --lr 1e30 is refused before training (the pipeline accepts
#              lr in (0, 10); up to 9.9 this network does not diverge: BN
#              makes it scale-invariant, and even a momentum buffer of 3e38
#              only makes the weights huge, not the loss non-finite).  So a
#              divergence is staged: a run is killed after its step-10
#              checkpoint, whose output layer is then set to 3e38 (finite,
#              so it loads; the logits overflow), and resumed with a
#              checkpoint every step.  The loss of step 11 is non-finite:
#              training must stop with a message naming the step, exit 1,
#              leave the old model untouched, write no checkpoint for the
#              failed step and keep the step-10 one as it was.
#   disk-full  the model folder runs out of space while the new model is
#              saved: exit 1 with the system's message, the previous model
#              byte for byte intact, no temporary file left.  A small tmpfs
#              in a private mount namespace (unshare -m) when we may mount,
#              else a file size limit (ulimit -f, SIGXFSZ ignored).
#   read-only  the model folder cannot be written: same promises.  Tests
#              run as root, for whom chmod changes nothing, so the folder
#              is a tmpfs remounted read-only (private namespace), else it
#              is made immutable with chattr +i; else the case is skipped.
#   kill       SIGKILL once a checkpoint exists, then --resume: the final
#              model's tensors are byte-identical to an uninterrupted run
#              with the same seed (CPU).
# CP_FAULTS_NO_MOUNT=1 forces the fallbacks (ulimit -f, chattr +i), as on
# a machine where tests may not mount.
# Exit 0 pass, 1 fail, 77 skipped (with the reason printed).
set -u
# Sourced before the cd into the work folder: $0 may be a relative path.
. "$(dirname "$0")/../cli-checks.sh"
CASE=${1:?usage: test-train-faults.sh CASE cutpaste fault-inspect}
CUTPASTE=$(realpath "${2:?cutpaste binary}")
INSPECT=$(realpath "${3:?fault-inspect binary}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-faults-XXXXXX")
cleanup () {
  [ -d "$WORK/immutable" ] && chattr -i "$WORK/immutable" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1
hermetic_caches "$WORK"
export CP_DETERMINISTIC_DATE=2026-01-01T00:00:00Z
export OPENBLAS_NUM_THREADS=1

skip () { echo "skipped: $*"; exit 77; }
show () { echo "--- $1:"; sed 's/^/  /' "$1"; }

"$CUTPASTE" synth --out data --categories weave --size 48 --train 10 --test-good 4 --test-defect 2 \
  >synth.log 2>&1 || { cat synth.log; skip "cutpaste synth failed"; }
TRAIN="--data-dir data --type weave --batch-size 2 --image-size 32 --device cpu"

# The model a user already has; every failing run below must leave it alone.
good_model () {
  "$CUTPASTE" train $TRAIN --steps 3 --seed 1 --model-dir models >good.log 2>&1 \
    || { show good.log; fail "training the reference model failed"; exit 1; }
  cp models/weave.safetensors good.safetensors
}

# Starts a run with ARGS into DIR and SIGKILLs it once its first checkpoint
# exists.  Sets $ckpt.
checkpoint_then_kill () {  # DIR ARGS...
  dir=$1
  shift
  "$CUTPASTE" train "$@" --model-dir "$dir" >killed.log 2>&1 &
  pid=$!
  ckpt=$dir/.weave.checkpoint.safetensors
  tries=0
  until [ -f "$ckpt" ] || ! kill -0 $pid 2>/dev/null || [ $tries -ge 3000 ]; do
    sleep 0.05
    tries=$((tries + 1))
  done
  kill -KILL $pid 2>/dev/null
  wait $pid
  st=$?
  [ "$st" -eq 137 ] || { show killed.log; fail "the run ended ($st) before it could be killed"; exit 1; }
  [ -f "$ckpt" ] || { fail "no checkpoint after $tries polls"; exit 1; }
}

# Checks shared by the failed-save cases: status 1, a message naming the
# model folder, the old model unchanged, nothing else left in the folder.
expect_failed_save () {  # DIR STATUS ERRFILE LISTING
  dir=$1; st=$2; err=$3; listing=$4
  [ "$st" -eq 1 ] || { fail "exit status $st, expected 1"; show "$err"; }
  grep -q "$dir" "$err" || fail "the message does not name the model folder: $(cat "$err")"
  [ "$(cat "$listing")" = "weave.safetensors" ] || fail "files left in the model folder: $(cat "$listing")"
}

case $CASE in
diverge)
  good_model
  "$CUTPASTE" train $TRAIN --steps 20 --seed 2 --lr 1e30 --checkpoint-every 5 --model-dir models \
    >out.txt 2>err.txt
  st=$?
  show err.txt
  [ "$st" -ne 0 ] || fail "--lr 1e30 was accepted"
  grep -q "learning rate" err.txt || fail "the message does not name the learning rate"
  cmp -s models/weave.safetensors good.safetensors || fail "a refused run changed the model"
  [ ! -e models/.weave.checkpoint.safetensors ] || fail "a refused run wrote a checkpoint"

  ARGS="$TRAIN --steps 40 --seed 2"
  checkpoint_then_kill models $ARGS --checkpoint-every 10
  [ "$("$INSPECT" meta "$ckpt" step)" = 10 ] || fail "first checkpoint is not of step 10"
  "$INSPECT" poison "$ckpt" "$ckpt" out.weight 3e38 || { fail "cannot poison $ckpt"; exit 1; }
  cp "$ckpt" poisoned.safetensors
  "$CUTPASTE" train $ARGS --checkpoint-every 1 --resume --model-dir models >out.txt 2>err.txt
  st=$?
  show err.txt
  [ "$st" -eq 1 ] || fail "diverging run exited $st, expected 1"
  grep -q -E "loss became (NaN|infinite|non-finite) at step [0-9]+" err.txt || fail "no message about the loss"
  grep -q "last checkpoint is kept" err.txt || fail "the message does not mention the checkpoint"
  cmp -s models/weave.safetensors good.safetensors || fail "the diverging run changed the model"
  bad_step=$(sed -n 's/.*at step \([0-9]*\).*/\1/p' err.txt | head -1)
  [ -f "$ckpt" ] || { fail "the checkpoint was not kept"; exit 1; }
  step=$("$INSPECT" finite "$ckpt" 2>inspect.txt)
  ok=$?
  show inspect.txt
  [ "$ok" -eq 0 ] || fail "the kept checkpoint (step $step) holds non-finite values"
  [ "$bad_step" = 11 ] && [ "$step" = 10 ] \
    || fail "kept checkpoint of step '$step', the loss failed at step '$bad_step' (expected 10 and 11)"
  cmp -s "$ckpt" poisoned.safetensors || fail "the failed run rewrote the checkpoint"
  echo "loss non-finite at step $bad_step; checkpoint of step $step kept as it was"
  ls -A models | grep -v -x -e weave.safetensors -e .weave.checkpoint.safetensors >left.txt \
    && fail "files left in models/: $(cat left.txt)"
  ;;

disk-full)
  good_model
  size=$(stat -c %s good.safetensors)
  # Room for the old model and 1 MiB: the new one cannot be written.
  tmpfs_kib=$((size / 1024 + 1024))
  if [ -z "${CP_FAULTS_NO_MOUNT:-}" ] && unshare -m sh -c "mount -t tmpfs -o size=${tmpfs_kib}k tmpfs models" 2>/dev/null; then
    echo "model folder: tmpfs of $tmpfs_kib KiB in a private mount namespace"
    unshare -m sh -c '
      mount -t tmpfs -o size='"$tmpfs_kib"'k tmpfs models || exit 3
      cp good.safetensors models/weave.safetensors || exit 3
      "$0" train '"$TRAIN"' --steps 3 --seed 2 --model-dir models >out.txt 2>err.txt
      echo $? >status.txt
      cmp -s good.safetensors models/weave.safetensors && echo same >cmp.txt
      ls -A models >listing.txt' "$CUTPASTE" || fail "setting up the tmpfs failed"
  else
    echo "model folder: file size limit (ulimit -f), mounting is not allowed here"
    (
      trap '' XFSZ
      ulimit -f $((size / 1024 / 2))
      exec "$CUTPASTE" train $TRAIN --steps 3 --seed 2 --model-dir models >out.txt 2>err.txt
    )
    echo $? >status.txt
    cmp -s good.safetensors models/weave.safetensors && echo same >cmp.txt
    ls -A models >listing.txt
  fi
  show err.txt
  [ -f cmp.txt ] || fail "the previous model was changed by a failed save"
  expect_failed_save models "$(cat status.txt)" err.txt listing.txt
  grep -q -E "No space left on device|File too large" err.txt || fail "no disk-full message"
  ;;

read-only)
  good_model
  if [ -z "${CP_FAULTS_NO_MOUNT:-}" ] && unshare -m sh -c "mount -t tmpfs -o size=64m tmpfs models" 2>/dev/null; then
    echo "model folder: tmpfs remounted read-only in a private mount namespace"
    unshare -m sh -c '
      mount -t tmpfs -o size=64m tmpfs models || exit 3
      cp good.safetensors models/weave.safetensors || exit 3
      mount -o remount,ro models || exit 3
      "$0" train '"$TRAIN"' --steps 3 --seed 2 --model-dir models >out.txt 2>err.txt
      echo $? >status.txt
      cmp -s good.safetensors models/weave.safetensors && echo same >cmp.txt
      ls -A models >listing.txt' "$CUTPASTE" || fail "setting up the read-only tmpfs failed"
    dir=models
  elif mkdir immutable && cp good.safetensors immutable/weave.safetensors \
       && chattr +i immutable 2>/dev/null; then
    echo "model folder: chattr +i (mounting is not allowed here)"
    "$CUTPASTE" train $TRAIN --steps 3 --seed 2 --model-dir immutable >out.txt 2>err.txt
    echo $? >status.txt
    cmp -s good.safetensors immutable/weave.safetensors && echo same >cmp.txt
    ls -A immutable >listing.txt
    chattr -i immutable
    dir=immutable
  else
    skip "running as $(id -un): neither a read-only mount nor chattr +i is possible, and chmod does not stop root"
  fi
  show err.txt
  [ -f cmp.txt ] || fail "the previous model was changed"
  expect_failed_save "$dir" "$(cat status.txt)" err.txt listing.txt
  grep -q -E "Read-only file system|Operation not permitted|Permission denied" err.txt \
    || fail "no read-only message"
  ;;

kill)
  ARGS="$TRAIN --steps 40 --seed 5 --checkpoint-every 10"
  "$CUTPASTE" train $ARGS --model-dir straight >straight.log 2>&1 \
    || { show straight.log; fail "the uninterrupted run failed"; exit 1; }
  [ ! -e straight/.weave.checkpoint.safetensors ] || fail "a finished run left its checkpoint"

  checkpoint_then_kill killed $ARGS
  [ ! -e killed/weave.safetensors ] || fail "a killed run wrote a model"
  step=$("$INSPECT" meta "$ckpt" step)
  echo "killed with a checkpoint of step $step"

  "$CUTPASTE" train $ARGS --model-dir killed --resume >resumed.log 2>&1
  st=$?
  [ "$st" -eq 0 ] || { show resumed.log; fail "--resume exited $st"; exit 1; }
  [ ! -e "$ckpt" ] || fail "the resumed run left its checkpoint"
  "$INSPECT" same-tensors straight/weave.safetensors killed/weave.safetensors \
    || fail "the resumed model differs from the uninterrupted one"
  if cmp -s straight/weave.safetensors killed/weave.safetensors; then
    echo "model files byte-identical"
  else
    echo "model files differ outside the tensors (metadata)"
  fi
  # The loss curve is part of the checkpoint: the resumed run reports the
  # same final loss.
  loss_a=$(sed -n 's|.*step 40/40  loss \([^ ]*\).*|\1|p' straight.log)
  loss_b=$(sed -n 's|.*step 40/40  loss \([^ ]*\).*|\1|p' resumed.log)
  [ -n "$loss_b" ] && [ "$loss_a" = "$loss_b" ] \
    || fail "final loss '$loss_b' after resuming, '$loss_a' uninterrupted"
  ;;

*)
  echo "unknown case $CASE" >&2
  exit 2
  ;;
esac

[ "$failures" -eq 0 ] && echo "$CASE: all checks passed"
exit $((failures > 0))
