#!/bin/sh
# test-shellcheck.sh: shellcheck on the job scripts of deploy/ and on the
# test scripts that drive them.  Skipped (77) without shellcheck.
set -u
ROOT=${1:?usage: test-shellcheck.sh SOURCE_ROOT}
command -v shellcheck >/dev/null 2>&1 || { echo "skipped: shellcheck is not installed"; exit 77; }
status=0
for f in deploy/slurm/train-array.sbatch tests/deploy/test-array.sh tests/deploy/test-shellcheck.sh \
         tests/serve/test-serve-load.sh build-aux/serve-bench.sh; do
  if shellcheck "$ROOT/$f"; then
    echo "$f: ok"
  else
    status=1
  fi
done
exit $status
