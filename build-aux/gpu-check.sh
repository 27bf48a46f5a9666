#!/usr/bin/env bash
# gpu-check.sh: the one-shot check of the CUDA backend on a GPU machine.
#
# Run in the repository root of a machine with an NVIDIA GPU:
#     build-aux/gpu-check.sh
# It builds the engine with CUDA (-Dgui=disabled, for this GPU's
# architecture only), runs the CUDA tests (cuda-cublas, the parity-*-cuda op
# tests of tests/parity, cuda-network), runs
# `cutpaste bench --device cuda --sizes 256` when the command line could be
# built (it needs GLib), writes weights, a batch and our outputs with
# cp-cuda-parity and hands them to build-aux/torch-bench.py, which checks
# parity with PyTorch from the same weights and input and times both.  It
# prints what each step did (or why it could not run) and ends with the
# speed and parity table.  Everything it prints also goes to $OUT (when set)
# or _gpu-check/: gpu-check.log, summary.txt, table.txt, torch-bench.json,
# testlog.txt, cutpaste-bench.txt.  The whole run keeps under 8 minutes.
#
# Libraries it looks for, and what it does without them:
#   - cuDNN and cuBLAS: in the CUDA toolkit, else in PyTorch's pip wheels
#     (nvidia-cudnn-cu13, nvidia-cublas); it links those through a folder of
#     symbolic links given to meson as CP_CUDA_EXTRA_ROOTS and puts their
#     folders on LD_LIBRARY_PATH;
#   - OpenBLAS (the engine core's CPU backend needs CBLAS): pkg-config, else
#     a copy carried from a build machine in .gpu-carry/ (made there with
#     `build-aux/gpu-check.sh --prepare-carry`); without either nothing of
#     ours can be built, and only PyTorch's speed is measured;
#   - pkg-config: when absent, a minimal stand-in is written for meson;
#   - GLib: without it there is no `cutpaste` command, so its bench is
#     skipped (our own timing comes from cp-cuda-parity anyway).

set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

# ---- --prepare-carry: run on a build machine (Debian with OpenBLAS) ------
if [ "${1:-}" = "--prepare-carry" ]; then
  carry="$ROOT/.gpu-carry"
  mkdir -p "$carry/stage/lib" "$carry/stage/include"
  inc=$(pkg-config --variable=includedir openblas 2>/dev/null)
  lib=$(pkg-config --variable=libdir openblas 2>/dev/null)
  if [ -z "$lib" ] || [ ! -e "$lib/libopenblas.so" ]; then
    echo "prepare-carry: no OpenBLAS found through pkg-config here" >&2
    exit 1
  fi
  cp -L "$lib/libopenblas.so" "$carry/stage/lib/libopenblas.so.0"
  for dep in libgfortran.so.5 libquadmath.so.0; do
    path=$(ldconfig -p | awk -v d="$dep" '$1 == d && /x86-64/ { print $NF; exit }')
    [ -n "$path" ] && cp -L "$path" "$carry/stage/lib/$dep"
  done
  cp -L "$inc/cblas.h" "$inc/openblas_config.h" "$carry/stage/include/"
  tar -C "$carry/stage" -cf - . | xz -T2 -6 > "$carry/openblas.tar.xz"
  rm -rf "$carry/stage"
  grep -qx '/.gpu-carry/' .git/info/exclude 2>/dev/null || echo '/.gpu-carry/' >> .git/info/exclude
  echo "prepare-carry: wrote $carry/openblas.tar.xz ($(du -h "$carry/openblas.tar.xz" | cut -f1));"
  echo "name .gpu-carry in the device run's carry list."
  exit 0
fi

START=$SECONDS
BUDGET=${CP_GPU_CHECK_BUDGET:-470}      # seconds for everything
REPORT=${OUT:-$ROOT/_gpu-check}
WORK=${CP_GPU_CHECK_WORK:-/tmp/cp-gpu-check}
BUILD="$ROOT/build-gpucheck"
mkdir -p "$REPORT" "$WORK"
LOG="$REPORT/gpu-check.log"
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1

declare -a SUMMARY=()
note () { SUMMARY+=("$(printf '%-26s %s' "$1" "$2")"); echo ">>> $1: $2"; }
section () { echo; echo "=== $* ($(( SECONDS - START )) s) ==="; }
# Seconds a step may take: its own cap, but never past the budget (minus a
# reserve for the steps after it).
allow () {
  local cap=$1 reserve=${2:-20} left
  left=$(( BUDGET - (SECONDS - START) - reserve ))
  [ "$left" -lt "$cap" ] && cap=$left
  [ "$cap" -lt 5 ] && cap=5
  echo "$cap"
}
out_of_time () { [ $(( SECONDS - START )) -ge $(( BUDGET - 15 )) ]; }

PY=python3
[ -x /opt/torch/.venv/bin/python3 ] && PY=/opt/torch/.venv/bin/python3
export PATH="/opt/torch/.venv/bin:$PATH"

# ---- environment ----------------------------------------------------------
section "environment"
uname -srm
timeout 20 nvidia-smi -L || echo "nvidia-smi: not available"
CC_ARCH=$(timeout 20 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .')
[ -z "$CC_ARCH" ] && CC_ARCH=90
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -n "$NVCC" ]; then
  "$NVCC" --version | tail -n 2
  PATH="$(dirname "$NVCC"):$PATH"
  export PATH
else
  echo "nvcc: not found"
fi
gcc --version 2>/dev/null | head -n1
"$PY" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -n1
command -v meson >/dev/null && echo "meson $(meson --version)"
command -v ninja >/dev/null && echo "ninja $(ninja --version)"
note "GPU" "$(timeout 20 nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n1) (sm_$CC_ARCH)"

# ---- CUDA libraries ---------------------------------------------------------
section "CUDA libraries"
CUDA_ROOT=""
[ -n "$NVCC" ] && CUDA_ROOT=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
SITE_DIRS=$("$PY" -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)
SEARCH_DIRS="$SITE_DIRS /opt/torch/.venv"

# Prints the first folder holding file $1 under the CUDA root, else under
# the Python package folders (the nvidia-* wheels).
find_dir_of () {
  local name=$1 hit
  for d in "$CUDA_ROOT/include" "$CUDA_ROOT/lib64" "$CUDA_ROOT/lib" \
           "$CUDA_ROOT/targets/x86_64-linux/include" "$CUDA_ROOT/targets/x86_64-linux/lib"; do
    ls "$d"/$name >/dev/null 2>&1 && { echo "$d"; return 0; }
  done
  for d in $SEARCH_DIRS; do
    [ -d "$d" ] || continue
    hit=$(find -L "$d" -path '*nvidia*' -name "$name" 2>/dev/null | head -n1)
    [ -n "$hit" ] && { dirname "$hit"; return 0; }
  done
  return 1
}

EXTRA="$WORK/cuda-extra"
rm -rf "$EXTRA"
mkdir -p "$EXTRA/include" "$EXTRA/lib"
LIB_PATHS=""
cuda_ok=1
for spec in "cudart:cuda_runtime_api.h" "cublas:cublas_v2.h" "cudnn:cudnn.h"; do
  lib=${spec%%:*}; header=${spec#*:}
  hdir=$(find_dir_of "$header") || { echo "missing header $header"; cuda_ok=0; }
  ldir=$(find_dir_of "lib$lib.so*") || { echo "missing library lib$lib.so"; cuda_ok=0; }
  echo "$lib: headers in ${hdir:-?}, library in ${ldir:-?}"
  # Headers and libraries outside the toolkit go through links in one
  # folder that meson is pointed at (wheels ship libX.so.N without the
  # unversioned name the linker wants).
  # Only the library's own headers: a wheel's folder may also hold CUDA
  # runtime headers of another version than nvcc's, which must not shadow
  # the toolkit's.
  if [ -n "${hdir:-}" ] && [ "$hdir" != "$CUDA_ROOT/include" ]; then
    case $lib in
      cudart) pattern='*.h' ;;
      *) pattern="$lib*.h" ;;
    esac
    for f in "$hdir"/$pattern; do
      [ -e "$f" ] && ln -sf "$f" "$EXTRA/include/$(basename "$f")"
    done
  fi
  if [ -n "${ldir:-}" ]; then
    case ":$LIB_PATHS:" in *":$ldir:"*) ;; *) LIB_PATHS="$LIB_PATHS:$ldir" ;; esac
    if [ ! -e "$ldir/lib$lib.so" ]; then
      versioned=$(ls "$ldir"/lib$lib.so.* 2>/dev/null | sort | head -n1)
      [ -n "$versioned" ] && ln -sf "$versioned" "$EXTRA/lib/lib$lib.so"
    else
      ln -sf "$ldir/lib$lib.so" "$EXTRA/lib/lib$lib.so"
    fi
  fi
  unset hdir ldir
done
# cuBLAS needs cuBLASLt beside it; cuDNN loads its sub-libraries itself.
lt=$(find_dir_of "libcublasLt.so*") && { case ":$LIB_PATHS:" in *":$lt:"*) ;; *) LIB_PATHS="$LIB_PATHS:$lt" ;; esac; }
export CP_CUDA_EXTRA_ROOTS="$EXTRA"
export LD_LIBRARY_PATH="${LIB_PATHS#:}:${LD_LIBRARY_PATH:-}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
if [ "$cuda_ok" = 1 ] && [ -n "$NVCC" ]; then
  note "CUDA libraries" "found (cudart, cuBLAS, cuDNN)"
else
  note "CUDA libraries" "MISSING (see log): the CUDA backend cannot be built"
fi

# ---- BLAS and pkg-config ----------------------------------------------------
section "BLAS"
if ! command -v pkg-config >/dev/null; then
  # A stand-in that reads .pc files, enough for meson's queries.
  mkdir -p "$WORK/bin"
  cat > "$WORK/bin/pkg-config" <<'PYEOF'
#!/usr/bin/env python3
"""Minimal pkg-config for meson (--version, --modversion, --cflags, --libs,
--exists, --variable=NAME), written by gpu-check.sh where none is installed."""
import os, re, sys

DIRS = [d for d in os.environ.get("PKG_CONFIG_PATH", "").split(":") if d] + [
    "/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/lib/pkgconfig", "/usr/share/pkgconfig",
    "/usr/local/lib/pkgconfig", "/usr/local/share/pkgconfig"]

def find(name):
    for d in DIRS:
        p = os.path.join(d, name + ".pc")
        if os.path.exists(p):
            return p
    return None

def parse(path):
    vars_, fields = {"pcfiledir": os.path.dirname(path)}, {}
    def expand(s):
        for _ in range(10):
            s = re.sub(r"\$\{([A-Za-z0-9_.]+)\}", lambda m: vars_.get(m.group(1), ""), s)
        return s
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z0-9_.]+)\s*=\s*(.*)$", line)
        if m:
            vars_[m.group(1)] = expand(m.group(2))
            continue
        m = re.match(r"^([A-Za-z0-9_.]+)\s*:\s*(.*)$", line)
        if m:
            fields[m.group(1)] = expand(m.group(2))
    return vars_, fields

def requires(fields, key):
    names = []
    for part in re.split(r"[,\s]+", fields.get(key, "")):
        if part and not re.match(r"^[<>=!]", part) and not re.match(r"^[0-9]", part):
            names.append(part)
    return names

def collect(name, what, seen):
    if name in seen:
        return []
    seen.add(name)
    path = find(name)
    if path is None:
        raise KeyError(name)
    _, fields = parse(path)
    out = fields.get("Cflags" if what == "cflags" else "Libs", "").split()
    keys = ["Requires"] + (["Requires.private"] if what == "cflags" else [])
    for key in keys:
        for dep in requires(fields, key):
            out += collect(dep, what, seen)
    return out

args = sys.argv[1:]
if "--version" in args:
    print("0.29.2")
    sys.exit(0)
names = [a for a in args if not a.startswith("-")]
try:
    if not names:
        sys.exit(1)
    for n in names:
        if find(n) is None:
            raise KeyError(n)
    if "--modversion" in args:
        for n in names:
            print(parse(find(n))[1].get("Version", "0"))
    for a in args:
        if a.startswith("--variable="):
            print(parse(find(names[0]))[0].get(a.split("=", 1)[1], ""))
    if "--cflags" in args or "--libs" in args:
        flags = []
        if "--cflags" in args:
            for n in names:
                flags += collect(n, "cflags", set())
        if "--libs" in args:
            for n in names:
                flags += collect(n, "libs", set())
        # Like pkg-config, leave out the compiler's own system folders.
        system = {"-I/usr/include", "-L/usr/lib", "-L/usr/lib/x86_64-linux-gnu", "-L/usr/lib64"}
        print(" ".join(f for f in dict.fromkeys(flags) if f.rstrip("/") not in system))
except KeyError as e:
    if "--print-errors" in args or "--exists" not in args:
        sys.stderr.write("Package %s was not found\n" % e)
    sys.exit(1)
PYEOF
  chmod +x "$WORK/bin/pkg-config"
  export PATH="$WORK/bin:$PATH"
  echo "pkg-config: not installed; using a minimal stand-in ($WORK/bin/pkg-config)"
fi

blas_ok=0
for name in openblas cblas blas; do
  if pkg-config --exists "$name" 2>/dev/null; then
    echo "BLAS: pkg-config finds $name ($(pkg-config --modversion "$name"))"
    blas_ok=1
    break
  fi
done
if [ "$blas_ok" = 0 ] && [ -f "$ROOT/.gpu-carry/openblas.tar.xz" ]; then
  blas_root="$WORK/openblas"
  rm -rf "$blas_root"
  mkdir -p "$blas_root/pkgconfig"
  tar -C "$blas_root" -xJf "$ROOT/.gpu-carry/openblas.tar.xz"
  ln -sf libopenblas.so.0 "$blas_root/lib/libopenblas.so"
  cat > "$blas_root/pkgconfig/openblas.pc" <<EOF
prefix=$blas_root
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: openblas
Description: OpenBLAS carried from the build machine by gpu-check.sh --prepare-carry
Version: 0.3.21
Libs: -L\${libdir} -lopenblas
Cflags: -I\${includedir}
EOF
  export PKG_CONFIG_PATH="$blas_root/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$blas_root/lib:$LD_LIBRARY_PATH"
  pkg-config --exists openblas && blas_ok=2
fi
case $blas_ok in
  1) note "OpenBLAS" "found on this machine" ;;
  2) note "OpenBLAS" "not installed here; using the copy carried in .gpu-carry" ;;
  *) note "OpenBLAS" "NOT FOUND: the engine core needs CBLAS; run 'build-aux/gpu-check.sh --prepare-carry' on a build machine and carry .gpu-carry" ;;
esac

# ---- build ------------------------------------------------------------------
built=0
if [ "$cuda_ok" = 1 ] && [ "$blas_ok" != 0 ] && [ -n "$NVCC" ] && command -v meson >/dev/null; then
  section "meson setup"
  rm -rf "$BUILD"
  if timeout "$(allow 120 300)" meson setup "$BUILD" -Dgui=disabled -Dcuda=enabled \
       -Dgpu_archs="$CC_ARCH" -Dbuildtype=release > "$WORK/setup.log" 2>&1; then
    grep -E "CUDA backend|GLib tools|Dependency|Library (cudart|cublas|cudnn)" "$WORK/setup.log"
    section "meson compile"
    # Our targets first, so that they exist even if another part fails.
    ours="tests/cuda/test-cuda-cublas tests/cuda/test-cuda-network tests/cuda/cp-cuda-parity"
    for family in backend batchnorm conv elementwise linear loss pool sgd; do
      ours="$ours tests/parity/test-parity-$family"
    done
    if timeout "$(allow 240 200)" ninja -C "$BUILD" $ours > "$WORK/compile.log" 2>&1; then
      built=1
      note "build (CUDA targets)" "ok, sm_$CC_ARCH"
      if grep -q "GLib tools (data, plots, CLI): True" "$WORK/setup.log"; then
        if timeout "$(allow 150 180)" ninja -C "$BUILD" engine/cli/cutpaste >> "$WORK/compile.log" 2>&1; then
          note "build (cutpaste CLI)" "ok"
        else
          note "build (cutpaste CLI)" "FAILED (see log)"
          tail -n 30 "$WORK/compile.log"
        fi
      else
        note "build (cutpaste CLI)" "skipped: GLib/GdkPixbuf/cairo development files absent"
      fi
    else
      note "build (CUDA targets)" "FAILED (see log)"
      tail -n 60 "$WORK/compile.log"
    fi
  else
    note "meson setup" "FAILED (see log)"
    tail -n 40 "$WORK/setup.log"
  fi
else
  command -v meson >/dev/null || note "meson" "NOT FOUND"
  note "build" "skipped (missing prerequisites above)"
fi

# ---- CUDA tests -------------------------------------------------------------
if [ "$built" = 1 ]; then
  section "CUDA tests"
  timeout "$(allow 300 150)" meson test -C "$BUILD" --no-rebuild --print-errorlogs --suite cuda \
    > "$WORK/test.log" 2>&1
  rc=$?
  grep -E "^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):" "$WORK/test.log"
  cp "$BUILD/meson-logs/testlog.txt" "$REPORT/testlog.txt" 2>/dev/null
  # Every measured error with its tolerance, for the summary.
  grep -E "normalised error .* \(tolerance" "$BUILD/meson-logs/testlog.txt" 2>/dev/null \
    > "$WORK/errors.txt"
  if [ "$rc" = 0 ]; then
    if grep -qE "^Skipped: +[1-9]" "$WORK/test.log"; then
      note "CUDA tests" "SKIPPED (no device seen by the tests: see testlog)"
    else
      note "CUDA tests" "pass (cuda-cublas, parity-*-cuda, cuda-network)"
    fi
  else
    note "CUDA tests" "FAILED (rc $rc; failed checks are in testlog.txt)"
    grep -E "CHECK failed|CHECK_CLOSE failed|not ok" "$BUILD/meson-logs/testlog.txt" | head -n 40
  fi
fi

# ---- cutpaste bench ---------------------------------------------------------
if [ "$built" = 1 ] && [ -x "$BUILD/engine/cli/cutpaste" ] && ! out_of_time; then
  section "cutpaste bench --device cuda --sizes 256"
  timeout "$(allow 120 130)" "$BUILD/engine/cli/cutpaste" bench --device cuda --sizes 256 \
    > "$REPORT/cutpaste-bench.txt" 2>&1
  rc=$?
  cat "$REPORT/cutpaste-bench.txt"
  if [ "$rc" = 0 ]; then note "cutpaste bench" "ok (cutpaste-bench.txt)"
  else note "cutpaste bench" "FAILED or timed out (rc $rc)"; fi
else
  note "cutpaste bench" "not run (no cutpaste command built, or out of time)"
fi

# ---- parity files and our timing -------------------------------------------
parity_ok=0
if [ "$built" = 1 ] && ! out_of_time; then
  section "cp-cuda-parity"
  P="$BUILD/tests/cuda/cp-cuda-parity"
  rm -f "$WORK"/*.safetensors "$WORK"/*.json
  if timeout "$(allow 90 120)" "$P" --out "$WORK" --device cuda --tag cuda-fp32 --no-tf32 --write-inputs \
     && timeout "$(allow 90 110)" "$P" --out "$WORK" --device cuda --tag cuda-tf32 \
          --bench-steps 20 --bench-embed 20; then
    parity_ok=1
    note "ours (cp-cuda-parity)" "ok: $(grep -oE '"(train|embed)_images_per_s": [0-9.]+' "$WORK/ours-cuda-tf32-bench.json" | tr -d '"' | tr '\n' ' ')"
    # The CPU reference on the same weights and batch: a third column.
    if ! out_of_time; then
      timeout "$(allow 120 100)" "$P" --out "$WORK" --device cpu --tag cpu \
        || echo "cp-cuda-parity on the CPU did not finish (skipped in the table)"
    fi
  else
    note "ours (cp-cuda-parity)" "FAILED (see log)"
  fi
fi

# ---- PyTorch ----------------------------------------------------------------
section "PyTorch reference (torch-bench.py)"
if ! out_of_time; then
  if [ "$parity_ok" = 1 ]; then
    timeout "$(allow 180 10)" "$PY" "$ROOT/build-aux/torch-bench.py" --dir "$WORK" \
      --tags cuda-fp32,cuda-tf32,cpu --bench-tag cuda-tf32 \
      --table-out "$REPORT/table.txt" --json-out "$REPORT/torch-bench.json" > "$WORK/torch.log" 2>&1
    rc=$?
    cat "$WORK/torch.log"
    case $rc in
      0) note "PyTorch comparison" "parity PASS (FP32 columns within 1e-3)" ;;
      1) note "PyTorch comparison" "parity FAIL (see table)" ;;
      *) note "PyTorch comparison" "did not complete (rc $rc, see log)"; tail -n 30 "$WORK/torch.log" ;;
    esac
  else
    # Nothing of ours ran: PyTorch's speed alone, from its own random init.
    "$PY" - "$WORK" > "$WORK/torch.log" 2>&1 <<'PYEOF'
import os, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), "build-aux"))
import importlib.util
spec = importlib.util.spec_from_file_location("tb", os.path.join(os.getcwd(), "build-aux", "torch-bench.py"))
tb = importlib.util.module_from_spec(spec); spec.loader.exec_module(tb)
import torch, torchvision
torch.manual_seed(1)
model = tb.build_model(torch, torchvision)
weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
images = torch.randn(96, 3, 256, 256, device="cuda")
labels = torch.arange(96, device="cuda") // 32
t, e = tb.bench(torch, torchvision, weights, images, labels, 20, 20, torch.device("cuda"))
print("PyTorch alone: training %.1f images/s, embedding %.1f images/s (batch 96 at 256x256)" % (t, e))
PYEOF
    cat "$WORK/torch.log" | tail -n 5
    note "PyTorch comparison" "ours not available; $(tail -n1 "$WORK/torch.log")"
    tail -n1 "$WORK/torch.log" > "$REPORT/table.txt"
  fi
else
  note "PyTorch comparison" "not run (out of time)"
fi

# ---- summary ----------------------------------------------------------------
section "summary"
{
  echo "gpu-check.sh finished in $(( SECONDS - START )) s"
  printf '%s\n' "${SUMMARY[@]}"
  if [ -s "$WORK/errors.txt" ]; then
    echo
    echo "CUDA test checks closest to their tolerance (error / tolerance):"
    awk '{ e = ""; t = "";
           for (i = 1; i < NF; i++) {
             if ($i == "error") e = $(i + 1);
             if ($i == "(tolerance") { t = $(i + 1); sub(/\)$/, "", t) } }
           if (e != "" && t + 0 > 0) printf "%.3f\t%s\n", e / t, $0 }' "$WORK/errors.txt" \
      | sort -g -r | head -n 10
  fi
  echo
  if [ -s "$REPORT/table.txt" ]; then cat "$REPORT/table.txt"; else echo "(no table: see above)"; fi
} | tee "$REPORT/summary.txt"
