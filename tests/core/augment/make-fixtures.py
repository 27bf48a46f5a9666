#!/usr/bin/python3
"""Writes fixtures/pillow.txt: what Pillow (and torchvision's PIL code path)
produce for the colour-jitter operations and for Image.rotate(expand=True),
so test-augment can check engine/core/augment against them byte for byte.

Run with the system Python, which has Pillow and numpy:
    /usr/bin/python3 tests/core/augment/make-fixtures.py

Lines:
    jitter OP FACTOR HEX       OP in brightness contrast saturation hue;
                               the jitter image (see jitter_image) after it
    rotate W H ANGLE CW CH HEX the W x H rotate image (see rotate_image)
                               after .convert("RGBA").rotate(ANGLE,
                               expand=True), as RGBA
"""
import os
import random

import numpy as np
import PIL
from PIL import Image, ImageEnhance

JW, JH = 32, 24


def jitter_pixel(x, y, c):
    # Must match jitter_image() in test-augment.c.
    return (x * 37 + y * 91 + c * 53 + x * y * 7 + c * x * y * 3 + (x ^ y) * 11) % 256


def jitter_image():
    a = np.zeros((JH, JW, 3), np.uint8)
    for y in range(JH):
        for x in range(JW):
            for c in range(3):
                a[y, x, c] = jitter_pixel(x, y, c)
    # a few greys and pure colours
    a[0, 0] = (128, 128, 128)
    a[0, 1] = (255, 0, 0)
    a[0, 2] = (0, 255, 0)
    a[0, 3] = (0, 0, 255)
    a[0, 4] = (255, 255, 255)
    a[0, 5] = (0, 0, 0)
    return Image.fromarray(a, "RGB")


def rotate_image(w, h):
    # Must match rotate_image() in test-augment.c: every pixel unique.
    a = np.zeros((h, w, 3), np.uint8)
    for y in range(h):
        for x in range(w):
            a[y, x] = (10 * x + 5, 10 * y + 5, 200)
    return Image.fromarray(a, "RGB")


def adjust_hue(img, hue_factor):
    # torchvision.transforms.functional_pil.adjust_hue, which is the code
    # path of ColorJitter on PIL images.
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    # torchvision writes np.uint8(hue_factor * 255); a negative float to
    # uint8 is platform-defined in numpy, and on x86-64 it truncates towards
    # zero and wraps, which is spelled out here.
    with np.errstate(over="ignore"):
        np_h += np.array(hue_factor * 255).astype(np.int64).astype(np.uint8)
    h = Image.fromarray(np_h, "L")
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def main():
    out = []
    img = jitter_image()
    ops = {
        "brightness": lambda im, f: ImageEnhance.Brightness(im).enhance(f),
        "contrast": lambda im, f: ImageEnhance.Contrast(im).enhance(f),
        "saturation": lambda im, f: ImageEnhance.Color(im).enhance(f),
        "hue": adjust_hue,
    }
    factors = {
        "brightness": [0.9, 0.9371, 1.0, 1.0625, 1.1],
        "contrast": [0.9, 0.9542, 1.0377, 1.1, 0.0],
        "saturation": [0.9, 0.9718, 1.0301, 1.1, 0.0],
        "hue": [-0.1, -0.0507, -0.003, 0.0, 0.0213, 0.1, 1.0 / 3.0, -0.5, 0.5],
    }
    for op, fs in factors.items():
        for f in fs:
            res = ops[op](img, f)
            out.append("jitter %s %r %s" % (op, f, res.tobytes().hex()))

    rng = random.Random(2021)
    cases = [(2, 10, 45.0), (2, 10, -45.0), (16, 25, 30.5), (7, 13, -12.3),
             (9, 17, 44.99), (3, 11, 0.7), (16, 10, -45.0), (5, 25, 22.5),
             (12, 12, 45.0), (4, 20, -0.2)]
    for _ in range(30):
        cases.append((int(round(rng.uniform(2, 16))), int(round(rng.uniform(10, 25))),
                      rng.uniform(-45, 45)))
    for w, h, angle in cases:
        res = rotate_image(w, h).convert("RGBA").rotate(angle, expand=True)
        out.append("rotate %d %d %r %d %d %s" % (w, h, angle, res.size[0], res.size[1],
                                                res.tobytes().hex()))

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "pillow.txt")
    with open(path, "w") as f:
        f.write("# written by make-fixtures.py with Pillow %s, numpy %s\n"
                % (PIL.__version__, np.__version__))
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
