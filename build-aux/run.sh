#!/usr/bin/env bash
# Installs dependencies, builds, and runs CutPaste Inspector: the desktop
# application when a display is present, otherwise a command-line demo on
# the bundled synthetic data (generate, train, evaluate, predict).
set -euo pipefail
cd "$(dirname "$0")/.."

bash build-aux/install-deps.sh
bash build-aux/build.sh

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x _build/app/cutpaste-inspector ]; then
  export GSETTINGS_SCHEMA_DIR="$PWD/_build/data"
  exec _build/app/cutpaste-inspector "$@"
fi

echo "No display found: running the command-line demo instead."
demo="${CUTPASTE_DEMO_DIR:-$PWD/_demo}"
cutpaste=_build/engine/cli/cutpaste
mkdir -p "$demo"
if [ ! -d "$demo/data" ]; then
  "$cutpaste" synth --out "$demo/data" --seed 1
fi
"$cutpaste" train --data-dir "$demo/data" --type all --profile quick --model-dir "$demo/models"
"$cutpaste" eval --data-dir "$demo/data" --type all --model-dir "$demo/models" \
  --save-plots "$demo/plots" --csv "$demo/scores.csv"
for category in "$demo"/data/*/; do
  category=$(basename "$category")
  first_defect=$(find "$demo/data/$category/test" -mindepth 2 -name '*.png' ! -path '*/good/*' | sort | head -n 1)
  first_good=$(find "$demo/data/$category/test/good" -name '*.png' | sort | head -n 1)
  "$cutpaste" predict --model "$demo/models/$category.safetensors" "$first_good" "$first_defect"
done
echo "Plots are in $demo/plots, per-image scores in $demo/scores.csv."
