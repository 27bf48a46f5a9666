#!/usr/bin/env bash
# Installs everything CutPaste Inspector needs to build, run and test on
# Debian 12 (as root; uses sudo when run as another user).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

PACKAGES=(
  # toolchain and build system
  gcc pkg-config meson ninja-build
  # engine
  libopenblas-dev
  # convolutions on the CPU (optional: im2col + OpenBLAS without it)
  libdnnl-dev
  # images, datasets, plots, command line
  libglib2.0-dev libgdk-pixbuf-2.0-dev libcairo2-dev libpango1.0-dev
  # downloading ImageNet weights (cutpaste weights fetch) and the scoring
  # service (cutpaste serve): libsoup 3, and glib-networking for its TLS
  # (a recommendation only, so named here)
  libsoup-3.0-dev glib-networking
  # PyTorch writes the genuine .pth files the weights tests read
  # (tests/weights/test-weights-torch.c; skipped without them)
  python3-torch python3-torchvision
  # checks of the cluster job scripts and manifests under deploy/
  shellcheck python3-yaml
  # per-part records on the line (SQLite); the line tests read the database
  # with the sqlite3 shell and the report's PDF back with poppler-utils
  libsqlite3-dev sqlite3 poppler-utils
  # desktop application
  libgtk-4-dev libadwaita-1-dev gettext desktop-file-utils appstream
  librsvg2-common fonts-noto-cjk
  # headless GUI tests and screenshots
  xvfb xauth imagemagick
  # ONNX Runtime for Node.js checks our ONNX export
  nodejs
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian splits npm from nodejs; other builds of nodejs bundle it (and
# conflict with Debian's npm package), so install it only when missing.
if ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends npm
fi
