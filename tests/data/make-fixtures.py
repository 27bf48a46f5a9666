#!/usr/bin/python3
"""Writes the fixtures of test-image.c (CI needs neither Python nor
ImageMagick; run this again only when the cases change):

fixtures/resize-pil.bin  PIL's own BICUBIC and NEAREST resizes of a
                         formula-defined RGB image: the independent reference
                         for cp_resize_bicubic_u8 / cp_resize_nearest_u8.
fixtures/rgb16.tif       an 8 x 6 RGB TIFF with 16-bit samples (ImageMagick),
                         value (x * 7919 + y * 104729 + c * 31337) % 65536.
"""
import os
import subprocess
import tempfile
from PIL import Image

# Keep in sync with test-image.c (resize_cases, source_pixel).
CASES = [
    ((97, 61), (32, 32)),
    ((97, 61), (130, 90)),
    ((97, 61), (40, 61)),
    ((97, 61), (97, 23)),
    ((150, 150), (128, 128)),
    ((61, 97), (7, 5)),
    ((64, 48), (64, 48)),
]


def source_pixel(x, y, c):
    # Structure (ramps, a checker) plus hashed noise with full-range jumps,
    # so that overshoot gets clamped and antialiasing matters.
    h = (x * 2654435761 ^ y * 40503 ^ c * 97) & 0xFFFFFFFF
    h = ((h >> 13) ^ h) & 0xFFFFFFFF
    if ((x // 5) + (y // 7)) % 3 == 0:
        return (h >> 3) & 255
    return (x * 3 + y * 2 + c * 60 + (255 if (x // 9 + y // 9) % 2 else 0)) & 255


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = bytearray()
    for (sw, sh), (dw, dh) in CASES:
        src = bytes(source_pixel(x, y, c) for y in range(sh) for x in range(sw) for c in range(3))
        im = Image.frombytes("RGB", (sw, sh), src)
        out += im.resize((dw, dh), Image.BICUBIC).tobytes()
        out += im.resize((dw, dh), Image.NEAREST).tobytes()
    with open(os.path.join(here, "fixtures", "resize-pil.bin"), "wb") as f:
        f.write(out)
    print(len(out), "bytes, PIL", Image.__version__)

    w, h = 8, 6
    ppm = bytearray(b"P6\n%d %d\n65535\n" % (w, h))
    for y in range(h):
        for x in range(w):
            for c in range(3):
                ppm += ((x * 7919 + y * 104729 + c * 31337) % 65536).to_bytes(2, "big")
    with tempfile.NamedTemporaryFile(suffix=".ppm") as tmp:
        tmp.write(ppm)
        tmp.flush()
        subprocess.check_call(["convert", tmp.name, "-depth", "16", "-type", "TrueColor",
                               "-compress", "none", os.path.join(here, "fixtures", "rgb16.tif")])


if __name__ == "__main__":
    main()
