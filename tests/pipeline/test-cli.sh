#!/bin/sh
# test-cli.sh: the cutpaste command line end to end on a tiny synthetic
# category: synth -> train -> eval -> predict, exit statuses, and that a
# failed run leaves the user's files alone.
set -u
# Sourced before the cd into the work folder: $0 may be a relative path.
. "$(dirname "$0")/../cli-checks.sh"
CUTPASTE=$(realpath "${1:?usage: test-cli.sh PATH/TO/cutpaste}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-cli-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
hermetic_caches "$WORK"
export CP_DETERMINISTIC_DATE=2026-01-01T00:00:00Z


"$CUTPASTE" synth --help >/dev/null 2>&1 || { echo "skipped: cutpaste synth unavailable"; exit 77; }
"$CUTPASTE" synth --out data --categories weave --size 48 --train 10 --test-good 4 --test-defect 2 \
  >synth.log 2>&1 || { cat synth.log; echo "skipped: cutpaste synth failed"; exit 77; }
[ -d data/weave/train/good ] || { echo "skipped: synth wrote no data/weave"; exit 77; }

TRAIN="--data-dir data --type weave --steps 5 --batch-size 2 --image-size 32 --device cpu --model-dir models"

# --help and usage errors.
for cmd in train eval predict; do
  expect_status 0 "$CUTPASTE" $cmd --help
  grep -q -- "--" out.txt || fail "$cmd --help printed no options"
done
expect_status 2 "$CUTPASTE" train --type weave
expect_status 2 "$CUTPASTE" train $TRAIN --steps zero
expect_status 2 "$CUTPASTE" train $TRAIN --image-size 33
expect_status 2 "$CUTPASTE" train $TRAIN --variant fourway
expect_status 2 "$CUTPASTE" train $TRAIN --no-such-option
expect_status 2 "$CUTPASTE" predict --model x.safetensors
expect_status 2 "$CUTPASTE" eval --data-dir data --type weave

# An unknown category stops with a message naming it.
expect_status 1 "$CUTPASTE" train --data-dir data --type nothere --steps 2 --image-size 32 --device cpu --model-dir models
grep -q nothere err.txt || fail "unknown category not named: $(cat err.txt)"
[ ! -e models/nothere.safetensors ] || fail "a failed run wrote a model"

# Train (piped stdout: plain progress lines).
expect_status 0 "$CUTPASTE" train $TRAIN
grep -q "weave: step 5/5" out.txt || fail "no final progress line"
grep -q "weave AUC: 0\.[0-9][0-9][0-9][0-9]\|weave AUC: 1\.0000" out.txt || fail "train printed no AUC line"
[ -f models/weave.safetensors ] || fail "no model written"
cp models/weave.safetensors first.safetensors

# Same seed, same bytes; --epochs is an alias of --steps.
expect_status 0 "$CUTPASTE" train --data-dir data --type weave --epochs 5 --batch-size 2 --image-size 32 --device cpu --model-dir models2
cmp -s models/weave.safetensors models2/weave.safetensors || fail "same seed gave different model files"

# Evaluation.
expect_status 0 "$CUTPASTE" eval --data-dir data --type weave --model-dir models --csv scores.csv --save-plots plots --summary summary
grep -q "^weave AUC: [01]\.[0-9][0-9][0-9][0-9]$" out.txt || fail "eval printed no AUC line: $(cat out.txt)"
grep -q "| \*\*mean\*\* |" out.txt || fail "eval printed no summary table"
grep -q "^weave by defect: hole [01n]" out.txt || fail "eval printed no per-defect AUROCs: $(cat out.txt)"
head -1 scores.csv | grep -q "^path,label,defect_type,score,verdict$" || fail "bad CSV header"
[ "$(wc -l <scores.csv)" -eq 11 ] || fail "CSV should have 10 rows: $(wc -l <scores.csv)"
# The verdicts in the application's words.
[ "$(tail -n +2 scores.csv | grep -c -E ',(PASS|FAIL)$')" -eq 10 ] || fail "CSV verdicts are not PASS/FAIL: $(cat scores.csv)"
for p in roc hist tsne; do
  [ -s plots/weave-$p.png ] || fail "no $p plot"
done
[ -s summary.md ] && [ -s summary.csv ] || fail "no summary files"

# Prediction: one line per image, verdict from the stored threshold or
# the one given.
good=$(ls data/weave/test/good/* | head -2)
expect_status 0 "$CUTPASTE" predict --model models/weave.safetensors $good
[ "$(grep -c -E '	[0-9.]+	(good|anomalous)$' out.txt)" -eq 2 ] || fail "predict output: $(cat out.txt)"
expect_status 0 "$CUTPASTE" predict --model models/weave.safetensors --threshold 1e9 $good
[ "$(grep -c '	good$' out.txt)" -eq 2 ] || fail "--threshold 1e9 should pass everything"
expect_status 0 "$CUTPASTE" predict --model models/weave.safetensors --threshold 0 --json $good
[ "$(grep -c '"verdict": "anomalous"' out.txt)" -eq 2 ] || fail "--threshold 0 should fail everything: $(cat out.txt)"

# Binary pattern region scores (the local kind "auto" picks for two-level
# images), forced here on the weave: written, loaded, scored with a heatmap
# and refitted like the Gaussian kinds.
expect_status 0 "$CUTPASTE" train $TRAIN --local pattern --local-size 64 --model-dir models-pattern
grep -q "weave: region scores from binary patterns" out.txt || fail "no pattern line: $(cat out.txt)"
grep -q '"local_density":"pattern"' models-pattern/weave.safetensors || fail "pattern model not marked"
expect_status 0 "$CUTPASTE" predict --model models-pattern/weave.safetensors --heatmap heat $good
[ "$(grep -c -E '	[0-9.]+	(good|anomalous)$' out.txt)" -eq 2 ] || fail "pattern predict output: $(cat out.txt)"
[ "$(ls heat/*.png | wc -l)" -eq 2 ] || fail "pattern model drew no heatmaps"
extra=$(ls data/weave/test/good/* | tail -1)
expect_status 0 "$CUTPASTE" refit --model models-pattern/weave.safetensors --add-good "$extra"
grep -q '"local_density":"pattern"' models-pattern/weave.safetensors || fail "refit lost the pattern kind"

# A corrupt image is reported by path, skipped and counted.
printf 'not an image' > broken.png
expect_status 1 "$CUTPASTE" predict --model models/weave.safetensors broken.png $good
grep -q "broken.png" err.txt || fail "corrupt image not named"
grep -q "1 skipped" err.txt || fail "corrupt image not counted"
[ "$(grep -c -E '(good|anomalous)$' out.txt)" -eq 2 ] || fail "good images not scored beside a corrupt one"

# An interrupted run (Ctrl-C while training) leaves the model as it was.
: >int.txt
"$CUTPASTE" train $TRAIN --steps 100000 --seed 3 >int.txt 2>&1 &
pid=$!
tries=0
until grep -q "step" int.txt || [ $tries -ge 600 ]; do sleep 0.1; tries=$((tries + 1)); done
kill -INT $pid
wait $pid
st=$?
[ "$st" -eq 1 ] || fail "interrupted train exited $st, expected 1"
grep -q "interrupted" int.txt || fail "no interruption message: $(cat int.txt)"
cmp -s models/weave.safetensors first.safetensors || fail "an interrupted run changed the model"
ls -a models | grep -v -E '^(\.|\.\.|weave\.safetensors|\.weave\.checkpoint\.safetensors)$' | grep -q . \
  && fail "temporary files left in models/: $(ls -a models)"

# A model file that is not a model is refused with a message.
printf 'garbage' > models/fake.safetensors
expect_status 1 "$CUTPASTE" predict --model models/fake.safetensors $good

[ "$failures" -eq 0 ] && echo "all CLI checks passed"
exit $((failures > 0))
