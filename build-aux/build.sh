#!/usr/bin/env bash
# Configures (once) and builds CutPaste Inspector into _build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f _build/build.ninja ]; then
  meson setup _build
fi
meson compile -C _build
