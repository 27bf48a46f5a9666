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
