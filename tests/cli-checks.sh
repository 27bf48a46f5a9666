# cli-checks.sh: the checks the command-line test scripts share; sourced
# (". DIR/cli-checks.sh"), not run.  A failed check is counted and the
# script goes on, so that one run reports every failure; the script ends
# with `exit $((failures > 0))`.
failures=0
fail () { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect_status WANT COMMAND...: runs COMMAND with its output in out.txt
# and err.txt, and fails unless it exits with WANT.
expect_status () {
  want=$1; shift
  "$@" >out.txt 2>err.txt
  got=$?
  [ "$got" -eq "$want" ] || { fail "'$*' exited $got, expected $want"; cat out.txt err.txt >&2; }
}
# hermetic_caches DIR: points every cache that `cutpaste train` searches
# for ImageNet weights into DIR (and downloads at a port nothing listens
# on), so that weights in a developer's own caches never change a result.
hermetic_caches () {
  export XDG_CACHE_HOME="$1/.cache" TORCH_HOME="$1/.torch" HF_HOME="$1/.hf"
  export HF_HUB_CACHE="$1/.hf/hub" HUGGINGFACE_HUB_CACHE="$1/.hf/hub"
  export CUTPASTE_WEIGHTS_URL="http://127.0.0.1:9/no-downloads-in-tests/resnet18-f37072fd.pth"
}
