#!/usr/bin/python3
"""simulate-drift.py: how soon the drift rule of engine/core/density/drift.h
warns, and how often it warns for nothing, on simulated streams of part
scores.  A re-implementation of the same rule in Python (Mann-Whitney,
mid-ranks, tie and continuity corrections, window of 50 passed parts, at
least 20) for quick experiments; the C rule itself is tested by
test-drift.c.  Prints the figures docs/line.md quotes.

Usage: simulate-drift.py [ALPHA]   (default 1e-4)
"""
import math
import random
import sys

ALPHA = float(sys.argv[1]) if len(sys.argv) > 1 else 1e-4
WINDOW, MIN_RECENT, N_REF = 50, 20, 60


def mann_whitney(x, y):
    both = sorted([(v, 1) for v in x] + [(v, 0) for v in y])
    n, i, rank_sum, ties = len(both), 0, 0.0, 0.0
    while i < n:
        j = i
        while j < n and both[j][0] == both[i][0]:
            j += 1
        mid = (i + 1 + j) / 2
        rank_sum += sum(mid for k in range(i, j) if both[k][1])
        ties += (j - i) ** 3 - (j - i)
        i = j
    n1, n2 = len(x), len(y)
    u = rank_sum - n1 * (n1 + 1) / 2
    var = n1 * n2 / 12 * ((n1 + n2 + 1) - ties / ((n1 + n2) * (n1 + n2 - 1)))
    d = u - n1 * n2 / 2
    z = math.copysign(max(abs(d) - 0.5, 0) / math.sqrt(var), d)
    return z, math.erfc(abs(z) / math.sqrt(2))


def good(shift):
    """A Mahalanobis-like score: sqrt of a chi-square with 8 degrees of
    freedom (standard deviation about 0.70) above a floor."""
    return 10 + math.sqrt(sum(random.gauss(0, 1) ** 2 for _ in range(8))) + shift


def quantile(v, q):
    v = sorted(v)
    h = (len(v) - 1) * q
    f = math.floor(h)
    return v[f] if f + 1 >= len(v) else v[f] + (h - f) * (v[f + 1] - v[f])


def parts_to_warning(seed, shift, limit=400):
    random.seed(seed)
    ref = [good(0) for _ in range(N_REF)]
    threshold = quantile(ref, 0.99)
    ref = [r for r in ref if r <= threshold]
    passed = [s for s in (good(0) for _ in range(200)) if s <= threshold]
    for i in range(limit):
        s = good(shift)
        if s > threshold:
            continue
        passed.append(s)
        z, p = mann_whitney(passed[-WINDOW:], ref)
        if p < ALPHA and z > 0:
            return i
    return None


def false_warning(seed, parts=2000):
    random.seed(seed)
    ref = [good(0) for _ in range(N_REF)]
    threshold = quantile(ref, 0.99)
    ref = [r for r in ref if r <= threshold]
    passed = []
    for _ in range(parts):
        s = good(0)
        if s > threshold:
            continue
        passed.append(s)
        if len(passed) >= MIN_RECENT and mann_whitney(passed[-WINDOW:], ref)[1] < ALPHA:
            return True
    return False


if __name__ == '__main__':
    print('alpha', ALPHA)
    for shift in (0.8, 1.2):
        found = [parts_to_warning(seed, shift) for seed in range(20)]
        hits = sorted(f for f in found if f is not None)
        print('shift %.1f (%.1f sd): parts until the warning, 20 streams: %s; median %s'
              % (shift, shift / 0.70, found, hits[len(hits) // 2] if hits else None))
    alarms = sum(false_warning(100 + seed) for seed in range(30))
    print('unshifted streams of 2000 parts with a warning: %d of 30' % alarms)
