"""Write TA-Lib reference vectors for the strategy crate's indicator tests.

Takes the first 3000 closes of a candle CSV, appends a hand-made tail (40
identical closes, 30 strictly rising, 30 strictly falling), and computes SMA,
EMA and RSI over the whole series with TA-Lib, one call per column. Writes
`crates/strategy/tests/reference/talib_vectors.csv` (NaN as an empty field,
floats with repr() so they round-trip exactly), then re-derives every column
in plain Python with the operation order documented in the README next to it
and fails unless TA-Lib's output matches bit for bit.

Run from the repository root:

    python3 tools/reference/make_talib_vectors.py [CANDLES_CSV] [--out FILE]
"""

import argparse
import csv
import math
from fractions import Fraction

import numpy as np
import talib

HEAD_LEN = 3000
COLUMNS = [("sma", 5), ("sma", 20), ("ema", 2), ("ema", 9), ("ema", 21), ("ema", 50),
           ("rsi", 2), ("rsi", 14), ("rsi", 30)]
TALIB = {"sma": talib.SMA, "ema": talib.EMA, "rsi": talib.RSI}


def read_closes(path, limit):
    with open(path, newline="") as f:
        rows = csv.DictReader(f)
        return [float(row["close"]) for _, row in zip(range(limit), rows)]


def edge_tail(last):
    """40 flat closes, then 30 strictly rising, then 30 strictly falling."""
    rising = [last + 1.25 * (i + 1) for i in range(30)]
    falling = [rising[-1] - 0.75 * (i + 1) for i in range(30)]
    return [last] * 40 + rising + falling


def fused_mul_add(a, b, c):
    """a * b + c with a single rounding, like C fma() / Rust f64::mul_add."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def sma(x, n):
    """Running sum: add the newest close, emit sum / n, subtract the oldest."""
    out, total = [math.nan] * len(x), 0.0
    for i in range(n - 1):
        total += x[i]
    for i in range(n - 1, len(x)):
        total += x[i]
        out[i] = total / n
        total -= x[i - n + 1]
    return out


def ema(x, n):
    """Seed with sum(x[0..n]) / n at index n-1, then fma(x - prev, k, prev)."""
    out, k, total = [math.nan] * len(x), 2.0 / (n + 1), 0.0
    for i in range(n):
        total += x[i]
    prev = out[n - 1] = total / n
    for i in range(n, len(x)):
        prev = out[i] = fused_mul_add(x[i] - prev, k, prev)
    return out


def rsi(x, n):
    """Wilder RSI; averages are multiplied by inv = 1.0 / n, not divided by n."""
    out, inv, gain, loss = [math.nan] * len(x), 1.0 / n, 0.0, 0.0
    for i in range(1, len(x)):
        d = x[i] - x[i - 1]
        up, down = (d, 0.0) if d > 0 else (0.0, -d)
        if i <= n:
            gain, loss = gain + up, loss + down
            if i < n:
                continue
            gain, loss = gain * inv, loss * inv
        else:
            gain, loss = (gain * (n - 1) + up) * inv, (loss * (n - 1) + down) * inv
        total = gain + loss
        out[i] = 100.0 * (gain / total) if total != 0.0 else 0.0
    return out


DEFINITIONS = {"sma": sma, "ema": ema, "rsi": rsi}


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def fmt(x):
    return "" if math.isnan(x) else repr(float(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candles", nargs="?", default="../shared/data/candles-100k.csv",
                        help="candle CSV (default: %(default)s)")
    parser.add_argument("--out", default="crates/strategy/tests/reference/talib_vectors.csv",
                        help="output CSV (default: %(default)s)")
    args = parser.parse_args()

    head = read_closes(args.candles, HEAD_LEN)
    if len(head) < HEAD_LEN:
        parser.error(f"{args.candles} has fewer than {HEAD_LEN} candles")
    closes = head + edge_tail(head[-1])
    series = [TALIB[kind](np.array(closes, dtype=np.float64), timeperiod=n) for kind, n in COLUMNS]

    for (kind, n), got in zip(COLUMNS, series):
        want = DEFINITIONS[kind](closes, n)
        bad = [i for i in range(len(closes)) if not same(got[i], want[i])]
        if bad:
            raise SystemExit(f"{kind}_{n}: TA-Lib differs from the documented definition "
                             f"at {len(bad)} rows, first {bad[0]}")

    with open(args.out, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["close"] + [f"{kind}_{n}" for kind, n in COLUMNS])
        for i, close in enumerate(closes):
            out.writerow([repr(close)] + [fmt(s[i]) for s in series])

    print(f"wrote {len(closes)} rows to {args.out}; all columns match the documented definitions")
    print(f"TA-Lib: python wrapper {talib.__version__}, C library {talib.__ta_version__.decode()}")


if __name__ == "__main__":
    main()
