#!/bin/sh
# test-threshold-cli.sh: `cutpaste threshold` on a real model trained on a
# tiny synthetic category: it shows the stored threshold, its source and
# rate; --set stores a new one that predict then uses (the verdicts flip,
# the scores do not move) and that is marked as set by hand; every failed
# --set (bad value, missing or corrupt model, a write that fails) exits
# non-zero, names the file and leaves it byte for byte as it was.  --set
# changes metadata only: every tensor keeps its bytes, and one the loader
# does not use (as converted checkpoints hold) survives.
set -u
# Sourced before the cd into the work folder: $0 may be a relative path.
. "$(dirname "$0")/../cli-checks.sh"
CUTPASTE=$(realpath "${1:?usage: test-threshold-cli.sh PATH/TO/cutpaste}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-threshold-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
hermetic_caches "$WORK"
export CP_DETERMINISTIC_DATE=2026-01-01T00:00:00Z
export OPENBLAS_NUM_THREADS=1

# value_of KEY FILE: the text after "KEY: " in `cutpaste threshold` output.
value_of () { sed -n "s/^$1: //p" "$2"; }
# The score column of predict's plain output, one per line.
scores_of () { cut -f 2 "$1"; }
# tensors_of FILE: one line per tensor (name, dtype, shape, data_offsets,
# SHA-256 of its bytes), sorted by name.
tensors_of () {
  python3 - "$1" <<'PY'
import hashlib, json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
header, data = json.loads(b[8:8 + n]), b[8 + n:]
for name in sorted(header):
    if name != '__metadata__':
        t = header[name]
        begin, end = t['data_offsets']
        print(name, t['dtype'], t['shape'], t['data_offsets'], hashlib.sha256(data[begin:end]).hexdigest())
PY
}
# metadata_of FILE: the __metadata__ as sorted "key=value" lines.
metadata_of () {
  python3 - "$1" <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
for k, v in sorted(json.loads(b[8:8 + n]).get('__metadata__', {}).items()):
    print('%s=%s' % (k, v))
PY
}
# add_tensor FILE: appends an I64 tensor "extra.converted" that the model
# loader does not use, laid out as any safetensors writer would.
add_tensor () {
  python3 - "$1" <<'PY'
import json, struct, sys
path = sys.argv[1]
b = open(path, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
header, data = json.loads(b[8:8 + n]), b[8 + n:]
extra = struct.pack('<3q', 7, -1, 1 << 40)
header['extra.converted'] = {'dtype': 'I64', 'shape': [3], 'data_offsets': [len(data), len(data) + len(extra)]}
text = json.dumps(header, separators=(',', ':')).encode()
text += b' ' * (-len(text) % 8)
open(path, 'wb').write(struct.pack('<Q', len(text)) + text + data + extra)
PY
}

"$CUTPASTE" synth --out data --categories weave --size 48 --train 10 --test-good 4 --test-defect 2 \
  >synth.log 2>&1 || { cat synth.log; echo "skipped: cutpaste synth failed"; exit 77; }
"$CUTPASTE" train --data-dir data --type weave --steps 3 --batch-size 2 --image-size 32 --device cpu \
  --model-dir models >train.log 2>&1 || { cat train.log; echo "FAIL: training failed"; exit 1; }
MODEL=models/weave.safetensors
IMAGES=$(ls data/weave/test/good/* data/weave/test/*/* | sort -u)
N=$(echo "$IMAGES" | wc -l)

expect_status 0 "$CUTPASTE" threshold --help
grep -q -- "--set" out.txt || fail "threshold --help names no --set"
expect_status 2 "$CUTPASTE" threshold
expect_status 2 "$CUTPASTE" threshold --model $MODEL extra-argument

# A freshly trained model: the cross-validated threshold and its rate.
expect_status 0 "$CUTPASTE" threshold --model $MODEL
cat out.txt
trained=$(value_of threshold out.txt)
[ "$(value_of source out.txt)" = "cross-validation" ] || fail "a trained model's source: $(cat out.txt)"
value_of "false-reject rate" out.txt | grep -q "^0.01 " || fail "no rate of the trained threshold: $(cat out.txt)"
echo "$trained" | grep -q -E '^[0-9]+\.[0-9]{6}$' || fail "no stored threshold: $(cat out.txt)"

# The scores of every test image under the trained threshold.
expect_status 0 "$CUTPASTE" predict --model $MODEL $IMAGES
cp out.txt before.txt
low=$(scores_of before.txt | sort -g | head -1)
high=$(scores_of before.txt | sort -g | tail -1)
below=$(awk -v s="$low" 'BEGIN { printf "%.6f", s / 2 }')
above=$(awk -v s="$high" 'BEGIN { printf "%.6f", s * 2 }')

# Below every score: every image fails.
tensors_of $MODEL >tensors-trained.txt || fail "cannot list the tensors of $MODEL"
metadata_of $MODEL >meta-trained.txt || fail "cannot list the metadata of $MODEL"
expect_status 0 "$CUTPASTE" threshold --model $MODEL --set "$below"
# Metadata only: every tensor as it was, the other keys as they were.
tensors_of $MODEL >tensors-set.txt
[ -s tensors-set.txt ] && cmp -s tensors-trained.txt tensors-set.txt \
  || fail "--set changed the tensors: $(diff tensors-trained.txt tensors-set.txt | head -5)"
metadata_of $MODEL >meta-set.txt
grep -q "^threshold=" meta-set.txt && grep -q "^threshold_source=manual$" meta-set.txt \
  && grep -q "^cross_validation_threshold=" meta-set.txt || fail "--set metadata: $(cat meta-set.txt)"
grep -v -E '^(threshold|threshold_source|cross_validation_threshold)=' meta-trained.txt >m1.txt
grep -v -E '^(threshold|threshold_source|cross_validation_threshold)=' meta-set.txt >m2.txt
cmp -s m1.txt m2.txt || fail "--set changed other metadata: $(diff m1.txt m2.txt)"
expect_status 0 "$CUTPASTE" predict --model $MODEL $IMAGES
[ "$(grep -c '	anomalous$' out.txt)" -eq "$N" ] || fail "threshold $below should fail all $N images: $(cat out.txt)"
scores_of before.txt >s1.txt; scores_of out.txt >s2.txt
cmp -s s1.txt s2.txt || fail "storing a threshold changed the scores"

# Above every score: every image passes, read back from the file.
expect_status 0 "$CUTPASTE" threshold --model $MODEL --set "$above"
expect_status 0 "$CUTPASTE" predict --model $MODEL $IMAGES
[ "$(grep -c '	good$' out.txt)" -eq "$N" ] || fail "threshold $above should pass all $N images: $(cat out.txt)"
grep -q "threshold $above, manual" err.txt || fail "predict's summary: $(cat err.txt)"
expect_status 0 "$CUTPASTE" predict --model $MODEL --json $IMAGES
[ "$(grep -c "\"threshold\": $above, \"threshold_source\": \"manual\", \"false_reject_rate\": null, \"verdict\": \"good\"" out.txt)" -eq "$N" ] \
  || fail "predict --json: $(cat out.txt)"

# The file says the threshold was set by hand, and keeps the trained one
# with the rate it was chosen for.
expect_status 0 "$CUTPASTE" threshold --model $MODEL
cat out.txt
[ "$(value_of threshold out.txt)" = "$above" ] || fail "stored threshold: $(cat out.txt)"
[ "$(value_of source out.txt)" = "manual" ] || fail "source after --set: $(cat out.txt)"
grep -q "cross-validated threshold $trained" out.txt || fail "the trained threshold was lost: $(cat out.txt)"
ls -A models | grep -v -x 'weave.safetensors' | grep -q . && fail "files left in models/: $(ls -A models)"

# A tensor the loader does not use survives --set, bytes and all, and the
# model still loads and scores.
cp $MODEL extra.safetensors
add_tensor extra.safetensors || fail "could not add a tensor to a copy of $MODEL"
tensors_of extra.safetensors >tensors-extra.txt
grep -q '^extra.converted I64 \[3\]' tensors-extra.txt || fail "no extra tensor: $(cat tensors-extra.txt)"
expect_status 0 "$CUTPASTE" threshold --model extra.safetensors --set 1.25
[ "$(value_of threshold out.txt)" = "1.250000" ] || fail "--set on a model with an extra tensor: $(cat out.txt)"
tensors_of extra.safetensors >tensors-extra-set.txt
cmp -s tensors-extra.txt tensors-extra-set.txt \
  || fail "--set dropped or changed tensors: $(diff tensors-extra.txt tensors-extra-set.txt | head -5)"
expect_status 0 "$CUTPASTE" predict --model extra.safetensors $IMAGES
scores_of out.txt >s3.txt
cmp -s s1.txt s3.txt || fail "the model with an extra tensor scores differently"
rm -f extra.safetensors

# Failed --set: non-zero, the file named, the model byte for byte as it was.
cp $MODEL kept.safetensors
for bad in nan inf -inf -1 abc "" 1e999; do
  "$CUTPASTE" threshold --model $MODEL --set "$bad" >out.txt 2>err.txt
  st=$?
  [ "$st" -ne 0 ] || fail "--set '$bad' succeeded"
  grep -q "$MODEL" err.txt || fail "--set '$bad': the message does not name the file: $(cat err.txt)"
  cmp -s $MODEL kept.safetensors || fail "--set '$bad' changed the model"
done

expect_status 1 "$CUTPASTE" threshold --model models/missing.safetensors --set 1
grep -q "models/missing.safetensors" err.txt || fail "a missing model is not named: $(cat err.txt)"
[ ! -e models/missing.safetensors ] || fail "--set created a missing model"

head -c 5000 $MODEL >corrupt.safetensors
cp corrupt.safetensors corrupt-copy.safetensors
expect_status 1 "$CUTPASTE" threshold --model corrupt.safetensors --set 1
grep -q "corrupt.safetensors" err.txt || fail "a corrupt model is not named: $(cat err.txt)"
cmp -s corrupt.safetensors corrupt-copy.safetensors || fail "--set changed a corrupt file"
expect_status 1 "$CUTPASTE" threshold --model corrupt.safetensors

# A write that fails half-way (file size limit): the old file stays whole
# and no temporary file is left beside it.
size=$(stat -c %s $MODEL)
(
  trap '' XFSZ
  ulimit -f $((size / 1024 / 2))
  exec "$CUTPASTE" threshold --model $MODEL --set 1 >out.txt 2>err.txt
)
st=$?
[ "$st" -eq 1 ] || fail "a failing write exited $st, expected 1: $(cat err.txt)"
grep -q "$MODEL" err.txt || fail "a failing write does not name the file: $(cat err.txt)"
cmp -s $MODEL kept.safetensors || fail "a failing write changed the model"
ls -A models | grep -v -x 'weave.safetensors' | grep -q . && fail "temporary files left in models/: $(ls -A models)"

[ "$failures" -eq 0 ] && echo "all threshold CLI checks passed"
exit $((failures > 0))
