#!/usr/bin/python3
"""train-bench-cpu.py: CPU training speed, ours against PyTorch, side by side.

For each image size S, in --rounds rounds, runs our training step
(`cutpaste bench --device cpu`: 3-way batch of 3 x 32 = 96 images, SGD)
and then PyTorch's (the same model as build-aux/torch-bench.py builds:
torchvision ResNet-18 without fc, the projection head and the classifier;
96 images, cross-entropy, SGD with momentum, the loss brought to the
host every step), both with --threads threads.  Alternating keeps both
under the same machine load; each side's best round counts.  Prints the
figures, then the ratios ours / PyTorch last (above 1: ours is faster).

Needs /usr/bin/python3 with torch and torchvision (Debian python3-torch,
python3-torchvision).  Usage:
  build-aux/train-bench-cpu.py --cutpaste _build/engine/cli/cutpaste \
      [--sizes 64,128,256] [--rounds 3] [--steps 3] [--threads 2]
"""

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time


def ours_round(cutpaste, size, steps, threads):
    out = subprocess.run(
        [cutpaste, "bench", "--device", "cpu", "--sizes", str(size), "--batch", "32",
         "--steps", str(steps), "--threads", str(threads)],
        check=True, capture_output=True, text=True).stdout
    # The (b, c) table: S GFLOP/img infer-img/s infer-GF/s infer-s train-img/s ...
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == str(size) and re.match(r"^[0-9.]+$", f[5]):
            return float(f[5])
    raise RuntimeError("no training figure in cutpaste bench output:\n" + out)


def torch_round(torch, model, opt, size, steps):
    F = torch.nn.functional
    gen = torch.Generator().manual_seed(size)
    images = torch.randn(96, 3, size, size, generator=gen)
    labels = torch.randint(0, 3, (96,), generator=gen)
    model.train()
    for i in range(1 + steps):      # one warm-up step, as ours
        if i == 1:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _, logits = model(images)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        loss.item()
    return steps * 96 / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cutpaste", required=True)
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--torch-spin", action="store_true",
                    help="leave PyTorch's OpenMP threads spinning (libgomp's default policy)")
    args = ap.parse_args()

    # Our backend runs OpenMP passive unless told otherwise (cpu-dnnl.c);
    # PyTorch gets the same, or its spinning threads lose the cores on a
    # shared machine and the comparison would flatter us.
    if args.torch_spin:
        os.environ.setdefault("OMP_WAIT_POLICY", "active")
    else:
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("torch_bench",
                                                  os.path.join(here, "torch-bench.py"))
    tb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tb)
    model = tb.build_model(torch, torchvision)
    opt = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, weight_decay=3e-5)

    sizes = [int(s) for s in args.sizes.split(",")]
    best = {s: [0.0, 0.0] for s in sizes}
    with open("/proc/loadavg") as f:
        print("load before:", f.read().strip())
    for r in range(args.rounds):
        for s in sizes:
            ours = ours_round(args.cutpaste, s, args.steps, args.threads)
            theirs = torch_round(torch, model, opt, s, args.steps)
            print(f"round {r + 1} S {s:3d}: ours {ours:7.1f} img/s, PyTorch {theirs:7.1f} img/s",
                  flush=True)
            best[s][0] = max(best[s][0], ours)
            best[s][1] = max(best[s][1], theirs)
    with open("/proc/loadavg") as f:
        print("load after:", f.read().strip())
    print(f"best of {args.rounds} rounds, {args.threads} threads, torch {torch.__version__}:")
    for s in sizes:
        print(f"S {s:3d}: ours {best[s][0]:7.1f} img/s, PyTorch {best[s][1]:7.1f} img/s")
    print("ratio ours/PyTorch (training images/s): "
          + ", ".join(f"S {s} {best[s][0] / best[s][1]:.2f}" for s in sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
