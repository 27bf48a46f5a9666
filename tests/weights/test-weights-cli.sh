#!/bin/sh
# test-weights-cli.sh: `cutpaste weights status|import|fetch` and training
# from the weights found: the instant profile, --weights none, the model's
# backbone_init.  Downloads come from a server of our own on 127.0.0.1
# (weights-server.py): success, a cut connection, a file whose hash is not
# the one its name says, a file that is not weights, a 404 and a Ctrl-C;
# after each failure the cache must hold nothing, not even a hidden
# temporary file.
#   test-weights-cli.sh PATH/TO/cutpaste PATH/TO/make-test-weights
set -u
. "$(dirname "$0")/../cli-checks.sh"
SERVER=$(realpath "$(dirname "$0")/weights-server.py")
CUTPASTE=$(realpath "${1:?usage: test-weights-cli.sh CUTPASTE MAKE-TEST-WEIGHTS}")
MAKE_WEIGHTS=$(realpath "${2:?usage: test-weights-cli.sh CUTPASTE MAKE-TEST-WEIGHTS}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-weights-cli-XXXXXX")
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
hermetic_caches "$WORK"
export CP_DETERMINISTIC_DATE=2026-01-01T00:00:00Z
CACHE=$XDG_CACHE_HOME/cutpaste/weights

# Nothing found yet.
expect_status 0 "$CUTPASTE" weights status
grep -q "^Found: 0 files" out.txt || fail "status found weights in an empty cache: $(cat out.txt)"
grep -q "Training starts from scratch" out.txt || fail "status did not say scratch"
expect_status 0 "$CUTPASTE" weights --help
expect_status 2 "$CUTPASTE" weights
expect_status 2 "$CUTPASTE" weights frobnicate
expect_status 2 "$CUTPASTE" weights import
expect_status 2 "$CUTPASTE" weights fetch extra-argument

"$MAKE_WEIGHTS" weights.safetensors 3 || { echo "cannot write test weights"; exit 1; }
SHA=$(sha256sum weights.safetensors | cut -c1-64)
SHA8=$(echo "$SHA" | cut -c1-8)

# import: refused, then accepted.
printf '<html>not weights</html>' > junk.pth
expect_status 1 "$CUTPASTE" weights import junk.pth
grep -q "neither a torch.save" err.txt || fail "junk import: $(cat err.txt)"
[ -z "$(ls -A "$CACHE" 2>/dev/null)" ] || fail "a refused import left $(ls -A "$CACHE")"
expect_status 0 "$CUTPASTE" weights import weights.safetensors
[ "$(ls -A "$CACHE")" = "resnet18-$SHA8.safetensors" ] || fail "cache holds: $(ls -A "$CACHE")"
cmp -s weights.safetensors "$CACHE/resnet18-$SHA8.safetensors" || fail "imported copy differs"
expect_status 0 "$CUTPASTE" weights status
grep -q "Training starts from: $CACHE/resnet18-$SHA8.safetensors" out.txt \
  || fail "status does not use the import: $(cat out.txt)"
grep -q "sha256 $SHA" out.txt || fail "status shows no SHA-256"

# Training: instant from the found weights, records their SHA-256.
"$CUTPASTE" synth --out data --categories weave --size 48 --train 10 --test-good 4 --test-defect 2 \
  >synth.log 2>&1 || { cat synth.log; exit 1; }
TRAIN="--data-dir data --type weave --image-size 32 --device cpu"
expect_status 0 "$CUTPASTE" train $TRAIN --profile instant --model-dir m-instant
grep -q "^weights: $CACHE/resnet18-$SHA8.safetensors (cutpaste cache)" out.txt \
  || fail "train did not say which weights: $(cat out.txt)"
grep -q "(0 steps" out.txt || fail "instant trained: $(cat out.txt)"
grep -q "weave AUC: " out.txt || fail "instant printed no AUC"
grep -aq "\"backbone_init\":\"$SHA\"" m-instant/weave.safetensors || fail "backbone_init is not the SHA-256"
grep -aq '"steps":"0"' m-instant/weave.safetensors || fail "instant model does not say 0 steps"
expect_status 0 "$CUTPASTE" predict --model m-instant/weave.safetensors data/weave/test/good/000.png

# A few quick steps from the same weights (the default), and from scratch.
expect_status 0 "$CUTPASTE" train $TRAIN --steps 3 --batch-size 2 --model-dir m-auto
grep -aq "\"backbone_init\":\"$SHA\"" m-auto/weave.safetensors || fail "default did not start from the weights"
expect_status 0 "$CUTPASTE" train $TRAIN --steps 3 --batch-size 2 --weights none --model-dir m-none
grep -aq '"backbone_init":"scratch"' m-none/weave.safetensors || fail "--weights none is not scratch"
grep -q "^weights:" out.txt && fail "--weights none still looked for weights: $(cat out.txt)"
expect_status 0 "$CUTPASTE" train $TRAIN --steps 3 --batch-size 2 --weights weights.safetensors --model-dir m-file
grep -aq "\"backbone_init\":\"$SHA\"" m-file/weave.safetensors || fail "--weights FILE: wrong backbone_init"
cmp -s m-auto/weave.safetensors m-file/weave.safetensors || fail "the same weights found or named gave different models"
expect_status 1 "$CUTPASTE" train $TRAIN --profile instant --weights none --model-dir m-x
grep -q "instant profile" err.txt || fail "instant without weights: $(cat err.txt)"
[ ! -e m-x/weave.safetensors ] || fail "instant without weights wrote a model"
expect_status 2 "$CUTPASTE" train $TRAIN --weights /nonexistent/resnet18.pth
expect_status 2 "$CUTPASTE" train $TRAIN --profile instant --localize

# With the cache emptied, nothing found: scratch, said so.
rm -f "$CACHE"/*
expect_status 0 "$CUTPASTE" train $TRAIN --steps 2 --batch-size 2 --model-dir m-scratch
grep -q "none found, training from scratch" out.txt || fail "no note about scratch: $(cat out.txt)"
expect_status 1 "$CUTPASTE" train $TRAIN --profile instant --model-dir m-y
grep -q "none were found" err.txt || fail "instant without weights found: $(cat err.txt)"

# Downloads from a server of our own (the cases above count either way).
if [ ! -x /usr/bin/python3 ]; then
  echo "note: no /usr/bin/python3 for the test server: download cases not run"
  exit $((failures > 0))
fi
"$CUTPASTE" weights fetch --force --url http://127.0.0.1:9/resnet18-x.pth >out.txt 2>err.txt
if grep -q "has no libsoup" err.txt; then
  echo "note: this build has no libsoup: download cases not run"
  exit $((failures > 0))
fi
mkdir srv
cp weights.safetensors "srv/resnet18-$SHA8.safetensors"
cp weights.safetensors srv/resnet18-00000000.safetensors
JSHA8=$(sha256sum junk.pth | cut -c1-8)
cp junk.pth "srv/resnet18-$JSHA8.pth"
/usr/bin/python3 "$SERVER" srv port.txt &
SPID=$!
for _ in $(seq 100); do [ -s port.txt ] && break; sleep 0.1; done
[ -s port.txt ] || { fail "the test server did not start"; exit 1; }
URL=http://127.0.0.1:$(cat port.txt)
export XDG_CACHE_HOME="$WORK/.cache-fetch"
CACHE=$XDG_CACHE_HOME/cutpaste/weights
empty_cache () {
  [ -z "$(ls -A "$CACHE" 2>/dev/null)" ] || fail "$1 left in the cache: $(ls -A "$CACHE")"
}

expect_status 1 "$CUTPASTE" weights fetch --url "$URL/files/resnet18-nothere.pth"
grep -q "HTTP 404" err.txt || fail "404: $(cat err.txt)"
empty_cache "a 404"
expect_status 1 "$CUTPASTE" weights fetch --url "$URL/cut/resnet18-$SHA8.safetensors"
grep -q "broke off" err.txt || fail "cut connection: $(cat err.txt)"
empty_cache "a cut connection"
expect_status 1 "$CUTPASTE" weights fetch --url "$URL/files/resnet18-00000000.safetensors"
grep -q "its name says 00000000 .*the download was not kept" err.txt || fail "wrong hash: $(cat err.txt)"
empty_cache "a file of the wrong hash"
expect_status 1 "$CUTPASTE" weights fetch --url "$URL/files/resnet18-$JSHA8.pth"
grep -q "neither a torch.save" err.txt || fail "not weights: $(cat err.txt)"
empty_cache "a file that is not weights"
expect_status 1 "$CUTPASTE" weights fetch --url "ftp://127.0.0.1/resnet18.pth"
grep -q "not an http or https URL" err.txt || fail "ftp URL: $(cat err.txt)"

# Ctrl-C while the server trickles the file.
"$CUTPASTE" weights fetch --url "$URL/slow/resnet18-$SHA8.safetensors" >out.txt 2>err.txt &
FPID=$!
for _ in $(seq 200); do grep -q "downloading" out.txt && break; sleep 0.05; done
grep -q "downloading" out.txt || fail "no progress line while downloading slowly"
kill -INT "$FPID"
wait "$FPID"
got=$?
[ "$got" -eq 1 ] || fail "interrupted fetch exited $got, expected 1"
grep -q "interrupted; nothing was written" err.txt || fail "cancel: $(cat err.txt)"
empty_cache "a cancelled download"

# Success, through the environment variable, with a progress line.
expect_status 0 env CUTPASTE_WEIGHTS_URL="$URL/files/resnet18-$SHA8.safetensors" "$CUTPASTE" weights fetch
grep -q "^downloading .*resnet18-$SHA8.safetensors: .* MB (100%)" out.txt || fail "no progress line: $(cat out.txt)"
grep -q "^saved $CACHE/resnet18-$SHA8.safetensors (sha256 $SHA)" out.txt || fail "not saved: $(cat out.txt)"
[ "$(ls -A "$CACHE")" = "resnet18-$SHA8.safetensors" ] || fail "cache holds: $(ls -A "$CACHE")"
cmp -s weights.safetensors "$CACHE/resnet18-$SHA8.safetensors" || fail "downloaded copy differs"
expect_status 0 "$CUTPASTE" weights fetch --url "$URL/files/resnet18-$SHA8.safetensors"
grep -q "already here" out.txt || fail "a second fetch did not see the first: $(cat out.txt)"

exit $((failures > 0))
