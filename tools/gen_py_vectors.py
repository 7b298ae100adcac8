#!/usr/bin/env python3
"""Writes tests/fixtures/py_number_vectors.json: what CPython prints for floats.

lib/py_number.ts must reproduce Python's `format(x, '.Nf')`, `round(x, n)` and
`repr(x)` exactly (object keys depend on them). This script records CPython's
answers for a few hundred awkward values so the tests compare against Python
itself rather than against numbers typed by hand.

Every float travels as its repr, which round-trips exactly through JS
`Number()`; "nan", "inf" and "-inf" are spelled as Python spells them.

Usage: python3 tools/gen_py_vectors.py [output path]
"""

import json
import math
import random
import struct
import sys

FIXED_DIGITS = [0, 1, 2, 3, 6, 20]
ROUND_DIGITS = [-2, 0, 1, 2, 3]


def values():
    out = [
        0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, 0.125, 0.375, 2.675, 1.005,
        0.045, 1.0, 10.0, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 123.456, -123.456,
        1e-5, 1e-4, 0.001, 0.0005, 0.0015, -0.0004, 9.9995, 99.995,
        1e15, 1e16, 1e17, 1e21, 1e22, 1e23, 1.7976931348623157e308,
        5e-324, 2.2250738585072014e-308, 1e-300, 123456789012345678.0,
        1717171717.0, 1717171717.12, 1717171717.1205, 1717171717.1215,
        1700000000.0625, 1700000000.3125, 1700000000.5625, 1700000000.8125,
        1700000000.1875, 1700000000.4375, 1700000000.6875, 1700000000.9375,
        1250.0, 1350.0, 1249.999, 150.0, 250.0, -150.0, 0.05, 0.15, 0.25,
        0.35, 4.35, 4.45, 0.285, 1.0000000000000002, 0.9999999999999999,
        2 ** 52 + 0.5, 2.0 ** 53, 2.0 ** 63, 2.0 ** 64, 4503599627370495.5,
        math.pi, math.e, -math.pi, 1e100, -1e-100,
        float("nan"), float("inf"), float("-inf"),
    ]
    rng = random.Random(20260522)
    # odd multiples of 1/16 s near today's epoch: exact ties at 3 decimals
    for _ in range(60):
        base = rng.randrange(1_600_000_000, 1_900_000_000)
        out.append(base + rng.choice([1, 3, 5, 7, 9, 11, 13, 15]) / 16)
    # odd multiples of 1/8 and 1/32: ties at 2 and 4 decimals
    for _ in range(20):
        out.append(rng.randrange(0, 10_000) + rng.choice([1, 3, 5, 7]) / 8)
        out.append(-(rng.randrange(0, 10_000) + rng.randrange(1, 32, 2) / 32))
    # timestamps as clients send them: near 1.7e9 with 3 to 6 decimals
    for _ in range(120):
        d = rng.choice([3, 4, 5, 6])
        out.append(round(1.7e9 + rng.uniform(-5e7, 5e7), d))
    # a timestamp plus a chunk duration, as merge arithmetic makes them
    for _ in range(30):
        out.append(1.7e9 + rng.randrange(0, 10**6) / 1000 + rng.choice(
            [0.02, 0.1, 0.3, 1.5, 5.0, 60.0]))
    # arbitrary bit patterns: every exponent, both signs
    for _ in range(60):
        (x,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if math.isfinite(x):
            out.append(x)
    # small and moderate random floats
    for _ in range(40):
        out.append(rng.uniform(-1000, 1000))
        out.append(rng.uniform(0, 1) * 10 ** rng.randint(-12, 18))
    return out


def vector(x):
    entry = {"x": repr(x), "repr": repr(x)}
    entry["fixed"] = {str(n): format(x, f".{n}f") for n in FIXED_DIGITS}
    rounded = {}
    for n in ROUND_DIGITS:
        try:
            rounded[str(n)] = repr(round(x, n))
        except OverflowError:
            rounded[str(n)] = "OverflowError"
    entry["round"] = rounded
    return entry


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else (
        "tests/fixtures/py_number_vectors.json")
    doc = {
        "generator": "tools/gen_py_vectors.py",
        "python": sys.version.split()[0],
        "vectors": [vector(x) for x in values()],
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(doc['vectors'])} vectors to {path}")


if __name__ == "__main__":
    main()
