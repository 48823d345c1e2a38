"""Generate deterministic synthetic one-minute candles as CSV.

A seeded geometric random walk: each close is the previous close times
exp(N(0, volatility)), rounded to 2 decimals (never below 0.01); open is the
previous close; high and low sit a random distance outside open/close; volume
is positive with 6 decimals. Times start at 2024-01-01T00:00:00Z, one minute
apart. Header: open_time_ms,open,high,low,close,volume. The same arguments give
the same file.

--flat-chance P makes each candle start, with probability P, a flat stretch of
25 to 60 candles whose open, high, low and close all equal the previous close.

Example, from the repository root:

    python3 tools/reference/gen_candles.py 1000000 7 /tmp/spotbot-ref/candles-1m.csv
"""

import argparse
import math
import random

START_MS = 1_704_067_200_000
MINUTE_MS = 60_000


def candles(count, seed, start_price, volatility, flat_chance):
    rng = random.Random(seed)

    def wick():
        return abs(rng.gauss(0.0, volatility / 2))

    close, flat_left = start_price, 0
    for i in range(count):
        open_ = close
        if flat_left == 0 and rng.random() < flat_chance:
            flat_left = rng.randint(25, 60)
        if flat_left:
            flat_left -= 1
            high = low = close
        else:
            close = max(0.01, round(open_ * math.exp(rng.gauss(0.0, volatility)), 2))
            high = max(open_, close, round(max(open_, close) * (1 + wick()), 2))
            low = min(open_, close, max(0.01, round(min(open_, close) * (1 - wick()), 2)))
        volume = max(0.000001, round(rng.lognormvariate(2.0, 1.0), 6))
        yield START_MS + i * MINUTE_MS, open_, high, low, close, volume


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int, help="number of candles")
    parser.add_argument("seed", type=int, help="random seed")
    parser.add_argument("out", help="output CSV path")
    parser.add_argument("--start-price", type=float, default=30000.0,
                        help="first open (default: %(default)s)")
    parser.add_argument("--volatility", type=float, default=0.001,
                        help="standard deviation of the log return per candle (default: %(default)s)")
    parser.add_argument("--flat-chance", type=float, default=0.0,
                        help="chance per candle of starting a flat stretch (default: %(default)s)")
    args = parser.parse_args()

    with open(args.out, "w") as f:
        f.write("open_time_ms,open,high,low,close,volume\n")
        for t, o, h, l, c, v in candles(args.count, args.seed, args.start_price,
                                        args.volatility, args.flat_chance):
            f.write(f"{t},{o:.2f},{h:.2f},{l:.2f},{c:.2f},{v:.6f}\n")


if __name__ == "__main__":
    main()
