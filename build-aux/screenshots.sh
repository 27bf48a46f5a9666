#!/usr/bin/env bash
# Takes a screenshot of every page of CutPaste Inspector on a synthetic
# dataset, under Xvfb, into data/screenshots/ (and, with LANGUAGE=zh_CN,
# into data/screenshots/zh_CN/); the Line page's into
# docs/images/line-page.png.  Needs xvfb-run and ImageMagick's import;
# Chinese needs fonts-noto-cjk.
#
#   build-aux/screenshots.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

build="${1:-_build}"
if [ ! -d "$build" ]; then
  meson setup "$build"
fi
ninja -C "$build" tests/app/screenshot-driver tests/app/screenshot-line data/gschemas.compiled \
  cutpaste-inspector-gmo >/dev/null

# Translations are read from the build folder (po/<lang>/LC_MESSAGES).
localedir="$PWD/$build/po"
out="$PWD/data/screenshots"
if [ -n "${LANGUAGE:-}" ] && [ "${LANGUAGE%%:*}" != "en" ]; then
  out="$out/${LANGUAGE%%:*}"
fi
mkdir -p "$out"

export GSK_RENDERER=cairo GTK_A11Y=none NO_AT_BRIDGE=1
export GSETTINGS_BACKEND=memory GSETTINGS_SCHEMA_DIR="$PWD/$build/data"
# The same pictures on every machine: the window finds no ImageNet weights
# of the developer's and downloads nothing.
caches=$(mktemp -d)
trap 'rm -rf "$caches"' EXIT
export XDG_CACHE_HOME="$caches/xdg" TORCH_HOME="$caches/torch" HF_HOME="$caches/hf"
export CUTPASTE_WEIGHTS_URL=http://127.0.0.1:9/no-downloads/resnet18-f37072fd.pth
# gettext ignores LANGUAGE under the C locale.
export LANG="${LANG:-C.UTF-8}"
[ "$LANG" = "C" ] && export LANG=C.UTF-8

xvfb-run -a -s "-screen 0 1100x760x24" \
  "$build/tests/app/screenshot-driver" "$out" "$localedir"

# The Line page on a short synthetic shift: docs/images/line-page.png (in
# another language, line.png beside the other pages).
line_png="$PWD/docs/images/line-page.png"
[ "$out" != "$PWD/data/screenshots" ] && line_png="$out/line.png"
xvfb-run -a -s "-screen 0 1100x760x24" \
  "$build/tests/app/screenshot-line" "$line_png" "$localedir"
