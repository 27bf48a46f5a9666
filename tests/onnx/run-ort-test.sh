#!/bin/sh
# run-ort-test.sh: installs onnxruntime-node (from package-lock.json) into a
# folder of the build tree, then runs test-onnx-ort.  Skips (77) without
# node and npm, or when the npm registry cannot be reached.
#
#   run-ort-test.sh TEST_EXE CUTPASTE SOURCE_DIR WORK_DIR
set -u
test_exe=$1
cutpaste=$2
src=$3
work=$4

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "skipped: node and npm are needed (apt install nodejs npm)"
  exit 77
fi
mkdir -p "$work" || exit 1
# Reinstall only when the lock file changed: npm ci wipes node_modules.
if [ ! -f "$work/node_modules/onnxruntime-node/package.json" ] \
   || ! cmp -s "$src/package-lock.json" "$work/package-lock.json"; then
  cp "$src/package.json" "$src/package-lock.json" "$work/" || exit 1
  # The CPU binaries ship inside the package: nothing to download at install.
  if ! (cd "$work" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts --no-audit --no-fund); then
    rm -f "$work/package-lock.json"
    echo "skipped: npm ci of onnxruntime-node failed (no registry access?)"
    exit 77
  fi
fi
exec "$test_exe" "$cutpaste" "$src/ort-run.js" "$work/node_modules" "$work"
