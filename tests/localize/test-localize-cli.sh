#!/bin/sh
# test-localize-cli.sh: `cutpaste train --localize`, `eval --localize` and
# `predict --heatmap` on a tiny synthetic category (the numbers are not
# checked here, only that each command does its job; test-localize.c
# measures quality).
set -eu
CUTPASTE=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-localize-cli-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail () { echo "FAIL: $*" >&2; exit 1; }

"$CUTPASTE" synth --out "$WORK/data" --categories weave --size 128 --train 4 --test-good 1 --test-defect 1 >/dev/null

# Usage errors.
if "$CUTPASTE" train --data-dir "$WORK/data" --type weave --density shared >/dev/null 2>&1; then
  fail "--density without --localize accepted"
fi
set +e
"$CUTPASTE" train --data-dir "$WORK/data" --type weave --localize --density diagonal >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown --density is not a usage error"
set -e

"$CUTPASTE" train --data-dir "$WORK/data" --type weave --localize --density per-location \
  --steps 1 --batch-size 2 --model-dir "$WORK/models" --device cpu > "$WORK/train.log"
cat "$WORK/train.log"
[ -f "$WORK/models/weave.patch.safetensors" ] || fail "no patch model written"
[ ! -e "$WORK/models/weave.safetensors" ] || fail "--localize wrote an image model"
grep -q '^weave pixel AUC: 0\.[0-9]\{4\}$\|^weave pixel AUC: 1\.0000$' "$WORK/train.log" || fail "train printed no pixel AUC"
grep -q '"density":"per-location"' "$WORK/models/weave.patch.safetensors" || fail "--density per-location not stored"

# At S = 64 the fitting grid (stride 8) is 5 x 5: per-location Gaussians
# must still each get embeddings (they once asked for 8 x 8 cells and
# failed with "Gaussian 2 of 64 has 0 embeddings").
"$CUTPASTE" train --data-dir "$WORK/data" --type weave --localize --density per-location \
  --image-size 64 --steps 1 --batch-size 2 --model-dir "$WORK/models64" --device cpu \
  > "$WORK/train64.log" || { cat "$WORK/train64.log"; fail "per-location patch model at S = 64"; }
[ -f "$WORK/models64/weave.patch.safetensors" ] || fail "no patch model written at S = 64"

# The image model beside it, then eval prints both.
"$CUTPASTE" train --data-dir "$WORK/data" --type weave --steps 1 --batch-size 2 \
  --model-dir "$WORK/models" --device cpu >/dev/null
"$CUTPASTE" eval --data-dir "$WORK/data" --type weave --model-dir "$WORK/models" --localize \
  --device cpu > "$WORK/eval.log"
cat "$WORK/eval.log"
grep -q '^weave pixel AUC: [01]\.[0-9]\{4\}$' "$WORK/eval.log" || fail "eval printed no pixel AUC"
grep -q '^weave patch image AUC: [01]\.[0-9]\{4\}$' "$WORK/eval.log" || fail "eval printed no patch image AUC"
grep -q '^weave AUC: [01]\.[0-9]\{4\}$' "$WORK/eval.log" || fail "eval lost the image AUC"

"$CUTPASTE" predict --model "$WORK/models/weave.safetensors" --heatmap "$WORK/heat" --device cpu \
  "$WORK"/data/weave/test/good/000.png "$WORK"/data/weave/test/hole/000.png > /dev/null
[ -s "$WORK/heat/000.heatmap.png" ] || fail "no heatmap for the first image"
[ -s "$WORK/heat/hole-000.heatmap.png" ] || fail "a repeated name overwrote a heatmap"
head -c 8 "$WORK/heat/000.heatmap.png" | od -An -c | grep -q 'P   N   G' || fail "heatmap is not a PNG"
ls "$WORK/heat" | grep -v '\.heatmap\.png$' && fail "temporary files left in the heatmap folder"
echo "ok"
