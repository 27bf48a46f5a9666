#!/usr/bin/env bash
# line-demo.sh: a short shift on the synthetic weave, for the pictures of
# the shift report in docs/images (docs/line.md, README).
#
#   build-aux/line-demo.sh [BUILD_DIR] [WORK_DIR]
#
# Trains (once, kept in WORK_DIR) a weave model and its patch model with
# 150 steps each (S 64 and the quick patch profile; a demonstration, not a
# good model), then runs `cutpaste watch` on a stream of parts: 60 good
# parts of another synthetic batch and the 30 defective test images, mixed,
# one every 0.3 s; then 120 more good parts from a camera going slightly
# out of focus (blurred with ImageMagick), which the drift rule reports.  The worst good part that failed is marked as good with
# `cutpaste refit --db` (operator "Ana", a note), and `cutpaste report`
# writes the PDF and CSV; pdftoppm renders its pages to
# docs/images/line-report-1.png and -2.png.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath "${1:-$SRC/_build}")
WORK=${2:-/tmp/cutpaste-line-demo}
CUTPASTE=$BUILD/engine/cli/cutpaste
mkdir -p "$WORK"
cd "$WORK"

if [ ! -f models/weave.patch.safetensors ]; then
  "$CUTPASTE" synth --out data --categories weave
  "$CUTPASTE" train --data-dir data --type weave --steps 150 --model-dir models
  "$CUTPASTE" train --data-dir data --type weave --steps 150 --model-dir models --localize
fi
# Good parts the model has not seen: another synthetic batch.
if [ ! -d more ]; then
  "$CUTPASTE" synth --out more --categories weave --seed 7 --train 180 --test-good 1 --test-defect 1
fi

rm -rf in pass fail stream line.sqlite* line.sqlite.heatmaps report.pdf report.csv
mkdir in pass fail stream
# Phase 1: 60 good parts and the 30 defective test images, shuffled (fixed order).
k=0
for f in $(ls more/weave/train/good/*.png | sed -n 1,60p) $(ls data/weave/test/*/*.png | grep -v /good/); do
  cp "$f" "stream/$(printf %03d $k)-$(basename "$(dirname "$f")")-$(basename "$f")"
  k=$((k + 1))
done
ls stream | /usr/bin/python3 -c "import random, sys; n = sys.stdin.read().split(); random.Random(3).shuffle(n); print('\n'.join(n))" >order1.txt
# Phase 2: 120 good parts from a camera slightly out of focus (a Gaussian
# blur of 0.6 pixels): scores move up by about one standard deviation,
# before parts start to fail.
rm -rf blurred && mkdir blurred
for f in $(ls more/weave/train/good/*.png | sed -n 61,180p); do
  convert "$f" -blur 0x0.6 "blurred/$(basename "$f")"
done

"$CUTPASTE" watch --model-dir models --category weave --folder in --db line.sqlite --move-to pass,fail \
  >watch.out 2>watch.err &
WATCH_PID=$!
trap 'kill -9 $WATCH_PID 2>/dev/null || true' EXIT
until grep -q "watching" watch.err; do sleep 0.2; done
while read -r name; do
  cp "stream/$name" "in/.$name" && mv "in/.$name" "in/$name"
  sleep 0.3
done <order1.txt
for f in blurred/*.png; do
  cp "$f" "in/.focus-$(basename "$f")" && mv "in/.focus-$(basename "$f")" "in/focus-$(basename "$f")"
  sleep 0.3
done
until [ "$(sqlite3 line.sqlite "SELECT count(*) FROM parts")" -ge 210 ]; do sleep 0.5; done
sleep 2
kill -TERM $WATCH_PID
wait $WATCH_PID || true
trap - EXIT
grep -v "^20" watch.err || true

# The operator looks at the worst good part that failed and marks it as good.
wrong=$(sqlite3 line.sqlite "SELECT final_path FROM parts WHERE verdict = 'fail' AND file_path LIKE '%-good-%' ORDER BY score DESC LIMIT 1")
if [ -n "$wrong" ]; then
  "$CUTPASTE" refit --model models/weave.safetensors --add-good "$wrong" --db line.sqlite --operator Ana \
    --note "good part: weave pattern at the edge, not a defect"
fi

"$CUTPASTE" report --db line.sqlite --title "Weave line 2, shift report" --pdf report.pdf --csv report.csv
pdftoppm -r 80 -png report.pdf page
mkdir -p "$SRC/docs/images"
cp page-1.png "$SRC/docs/images/line-report-1.png"
cp page-2.png "$SRC/docs/images/line-report-2.png"
echo "wrote $SRC/docs/images/line-report-1.png and -2.png (from $WORK/report.pdf)"
# Undo the refit, so that a second run starts from the trained model.
[ -n "$wrong" ] && "$CUTPASTE" refit --model models/weave.safetensors --undo >/dev/null
exit 0
