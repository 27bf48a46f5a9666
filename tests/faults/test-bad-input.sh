#!/bin/sh
# test-bad-input.sh: every kind of bad input we know of, given to the real
# `cutpaste` binary.  Each must end in a message and exit status 1 (failed)
# or 2 (usage error): never a crash, a hang or silence.  With
# CP_BAD_INPUT_TABLE=FILE the cases are also written as the Markdown table
# rows of docs/bad-input.md.
#
#   test-bad-input.sh PATH/TO/cutpaste PATH/TO/fault-inspect
set -u
# Sourced before the cd into the work folder: $0 may be a relative path.
. "$(dirname "$0")/../cli-checks.sh"
CUTPASTE=$(realpath "${1:?cutpaste binary}")
INSPECT=$(realpath "${2:?fault-inspect binary}")
SRC=${CP_SOURCE_ROOT:-$(dirname "$0")/../..}
CORPUS=$(realpath "$SRC/tests/fuzz/corpus")
TABLE=${CP_BAD_INPUT_TABLE:-/dev/null}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-bad-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
hermetic_caches "$WORK"
export CP_DETERMINISTIC_DATE=2026-01-01T00:00:00Z
export OPENBLAS_NUM_THREADS=1

cases=0

# case WANT DESCRIPTION FILE-KIND cutpaste-args...
# WANT: 1, 2, or "1|0" where a partial success is allowed (predict scores
# the good images beside a bad one and still reports the bad one).
case_ () {
  want=$1 what=$2 kind=$3
  shift 3
  cases=$((cases + 1))
  timeout 120 "$CUTPASTE" "$@" >out.txt 2>err.txt
  st=$?
  msg=$(grep -v '^$' err.txt | head -3 | sed "s|$WORK/||g" | tr '\n' ' ' | sed 's/ *$//; s/|/\\|/g')
  printf '| %s | %s | %s | %s |\n' "$kind" "$what" "$st" "$msg" >>"$TABLE"
  case $st in
    124) fail "$what: hung (killed after 120 s)" ;;
    0|1|2) ;;
    *) fail "$what: exit status $st (a signal?)"; cat err.txt >&2 ;;
  esac
  case "|$want|" in
    *"|$st|"*) ;;
    *) fail "$what: exit status $st, expected $want" ;;
  esac
  [ -s err.txt ] || fail "$what: no message on stderr"
  if grep -q -E "Sanitizer|runtime error|Segmentation|core dumped|CRITICAL|g_return_if_fail" err.txt; then
    fail "$what: $(head -5 err.txt)"
  fi
}

"$CUTPASTE" synth --out data --categories weave --size 48 --train 6 --test-good 2 --test-defect 2 \
  >synth.log 2>&1 || { cat synth.log; echo "skipped: cutpaste synth failed"; exit 77; }
TRAIN="--data-dir data --type weave --batch-size 2 --image-size 32 --device cpu --steps 2"
"$CUTPASTE" train $TRAIN --model-dir models >train.log 2>&1 || { cat train.log; exit 1; }
MODEL=models/weave.safetensors
GOOD=$(ls data/weave/test/good/* | head -1)

# ---- model files (cutpaste predict --model FILE IMAGE) -------------------
m () { case_ 1 "$1" "model" predict --model "$2" "$GOOD"; }
printf '' >empty.safetensors
m "empty file" empty.safetensors
printf 'garbage' >garbage.safetensors
m "7 bytes of text" garbage.safetensors
head -c 4096 $MODEL >truncated.safetensors
m "model cut to 4096 bytes" truncated.safetensors
head -c 30000000 $MODEL >truncated-data.safetensors
m "model cut inside the tensor data" truncated-data.safetensors
for seed in header-length-huge offset-out-of-range overlap duplicate-name bad-dtype shape-overflow \
            size-mismatch metadata-not-string not-json; do
  m "safetensors: $seed (tests/fuzz/corpus)" "$CORPUS/safetensors/$seed"
done
for seed in other-format newer-version image-size-33 head-mismatch out-5-classes no-gaussian \
            gaussian-wrong-shape reference-state-dict; do
  m "model: $seed (tests/fuzz/corpus)" "$CORPUS/model/$seed"
done
"$INSPECT" poison $MODEL nan-gaussian.safetensors gde.precision nan >/dev/null
m "NaN in gde.precision" nan-gaussian.safetensors
"$INSPECT" poison $MODEL inf-mean.safetensors gde.mean inf >/dev/null
m "Inf in gde.mean" inf-mean.safetensors
"$INSPECT" poison $MODEL nan-conv.safetensors resnet18.conv1.weight nan >/dev/null
m "NaN in resnet18.conv1.weight" nan-conv.safetensors
m "a folder" models
m "missing file" no-such.safetensors
case_ 2 "--model not given" "model" predict "$GOOD"
case_ 2 "--threshold abc" "model" predict --model $MODEL --threshold abc "$GOOD"

# ---- images (cutpaste predict --model MODEL FILE) -----------------------
i () { case_ 1 "$1" "image" predict --model $MODEL "$2"; }
printf 'not an image' >text.png
i "text named .png" text.png
printf '' >empty.png
i "empty .png" empty.png
head -c 100 "$GOOD" >cut.png
i "PNG cut to 100 bytes" cut.png
for seed in png-100000x100000 png-12000x12000 png-16385x1 png-zero-width png-bad-crc \
            png-bad-colour-type png-truncated png-signature-only png-bad-zlib png-short-idat \
            bmp-100000x100000 bmp-bpp-0 bmp-truncated \
            jpeg-65535x65535 jpeg-soi-only oom-bmp-header-size-3875536936; do
  i "$seed (tests/fuzz/corpus/image)" "$CORPUS/image/$seed"
done
# Damage GdkPixbuf's PNG and BMP loaders decode without an error (grey
# rows, or a pixel array read past the file), refused by the structural
# checks of engine/data/image-check.c.
python3 - "$GOOD" <<'PY' || fail "could not write the damaged PNG and BMP files"
import struct, sys
png = open(sys.argv[1], 'rb').read()
pos = 8
while png[pos + 4:pos + 8] != b'IDAT':
    pos += 12 + struct.unpack('>I', png[pos:pos + 4])[0]
n = struct.unpack('>I', png[pos:pos + 4])[0]
open('cut-in-idat.png', 'wb').write(png[:pos + 8 + n // 2])
flip = bytearray(png)
flip[19] ^= 1                      # a byte of the width in IHDR
open('flipped-ihdr.png', 'wb').write(bytes(flip))
bmp = b'BM' + struct.pack('<IHHI', 55, 0, 0, 54)
bmp += struct.pack('<IiiHHIIiiII', 40, 4000, 3000, 1, 24, 0, 0, 2835, 2835, 0, 0) + b'\x80'
open('claims-4000x3000.bmp', 'wb').write(bmp)
PY
i "PNG cut in the middle of IDAT" cut-in-idat.png
i "PNG with a byte of IHDR flipped" flipped-ihdr.png
i "BMP of 55 bytes claiming 4000 x 3000 pixels" claims-4000x3000.bmp
i "a folder" data
i "missing file" no-such.png
case_ 1 "one bad image among good ones" "image" predict --model $MODEL text.png "$GOOD"

# ---- datasets (cutpaste train) --------------------------------------------
t () { want=$1 what=$2; shift 2; case_ "$want" "$what" "dataset" train "$@"; }
t 1 "--data-dir missing" --data-dir nowhere --type weave --steps 2 --image-size 32 --device cpu --model-dir out
t 1 "category missing" --data-dir data --type nothere --steps 2 --image-size 32 --device cpu --model-dir out
mkdir -p empty/cat/train/good
t 1 "train/good empty" --data-dir empty --type cat --steps 2 --image-size 32 --device cpu --model-dir out
mkdir -p broken/cat/train/good
for k in 1 2 3; do printf 'junk' >broken/cat/train/good/$k.png; done
t 1 "train/good: only corrupt images" --data-dir broken --type cat --steps 2 --image-size 32 --device cpu --model-dir out
mkdir -p few/cat/train/good
cp data/weave/train/good/000.png few/cat/train/good/ 2>/dev/null || cp "$(ls data/weave/train/good/* | head -1)" few/cat/train/good/a.png
t 1 "train/good: one image (too few for the threshold)" --data-dir few --type cat --steps 2 --image-size 32 --device cpu --model-dir out
t 1 "--type all on a folder without categories" --data-dir empty/cat --type all --steps 2 --image-size 32 --device cpu --model-dir out

# ---- options and other files (cutpaste train) --------------------------------
o () { want=$1 what=$2; shift 2; case_ "$want" "$what" "option" train "$@"; }
o 1 "--lr 1e30" $TRAIN --lr 1e30 --model-dir out
o 2 "--lr -1" $TRAIN --lr -1 --model-dir out
o 2 "--lr nan" $TRAIN --lr nan --model-dir out
o 2 "--steps 0" --data-dir data --type weave --steps 0 --image-size 32 --device cpu --model-dir out
o 2 "--image-size 33" $TRAIN --image-size 33 --model-dir out
o 2 "--batch-size 0" $TRAIN --batch-size 0 --model-dir out
o 2 "--variant fourway" $TRAIN --variant fourway --model-dir out
o 2 "--false-reject-rate 1" $TRAIN --false-reject-rate 1 --model-dir out
o 1 "--weights: garbage file" $TRAIN --weights garbage.safetensors --model-dir out
o 1 "--weights: a safetensors file without ResNet-18 tensors" $TRAIN --weights "$CORPUS/safetensors/valid-f32" --model-dir out
o 1 "--weights: PyTorch's legacy (non-zip) format" $TRAIN --weights "$CORPUS/pth/legacy" --model-dir out
o 1 "--weights: a torch.save archive whose pickle calls os.system" $TRAIN --weights "$CORPUS/pth/global-os-system" --model-dir out
o 1 "--weights: a torch.save archive with a deflated entry" $TRAIN --weights "$CORPUS/pth/deflated" --model-dir out
o 1 "--weights: a torch.save archive whose storage is too short" $TRAIN --weights "$CORPUS/pth/storage-too-short" --model-dir out
o 1 "--profile instant without ImageNet weights" --data-dir data --type weave --profile instant --image-size 32 --device cpu --model-dir out
o 1 "--resume without a checkpoint" $TRAIN --resume --model-dir out2
printf 'x' >notadir
o 1 "--model-dir is a file" $TRAIN --model-dir notadir
o 1 "--device cuda without a GPU build or device" $TRAIN --device cuda --model-dir out3
mkdir -p resume && cp garbage.safetensors resume/.weave.checkpoint.safetensors
o 1 "--resume: checkpoint is garbage" $TRAIN --resume --model-dir resume
cp $MODEL resume/.weave.checkpoint.safetensors
o 1 "--resume: a model, not a checkpoint" $TRAIN --resume --model-dir resume

# ---- ImageNet weights (cutpaste weights import FILE) ---------------------------
w () { case_ 1 "$1" "weights" weights import "$2"; }
w "7 bytes of text" garbage.safetensors
w "a CutPaste model" $MODEL
w "safetensors: valid-f32 (tests/fuzz/corpus)" "$CORPUS/safetensors/valid-f32"
for seed in stem-only stem-bad-shape reference-name resnet34-name; do
  w "weights: $seed (tests/fuzz/corpus)" "$CORPUS/weights/$seed"
done
for seed in small legacy global-os-system deflated no-data-pkl; do
  w "pth: $seed (tests/fuzz/corpus)" "$CORPUS/pth/$seed"
done
w "a missing file" does-not-exist.pth

# ---- evaluation (cutpaste eval) ------------------------------------------------
case_ 1 "no model for the category" "eval" eval --data-dir data --type weave --model-dir nomodels
mkdir -p badmodels && cp garbage.safetensors badmodels/weave.safetensors
case_ 1 "the category's model is garbage" "eval" eval --data-dir data --type weave --model-dir badmodels

echo "$cases bad inputs, $failures failures"
exit $((failures > 0))
