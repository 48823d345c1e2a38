"""Reference backtest of the EMA-cross / RSI strategy: a plain loop over TA-Lib.

Strategy: fast = EMA(--fast), slow = EMA(--slow), rsi = RSI(--rsi) of the
closes. A bar is tradable once fast, slow and rsi are defined at it and fast,
slow are defined at the bar before. BUY when flat and fast crosses above slow
and rsi < overbought; SELL when long and (fast crosses below slow or
rsi > overbought). Fills at the bar's close, all-in: qty = cash / (close *
(1 + fee rate)), notional = qty * close, fee = notional * fee rate; a buy
spends all the cash (cash = 0), a sell does cash += notional - fee. No rounding
anywhere.

Final equity is the cash after the last fill plus, if a position is still open
at the end of the data, qty * last close (no exit fee).

Setting cash to exactly 0 after an all-in buy is the convention behind the
figures published in the shared data README, which this reproduces bit for bit.
--keep-residual computes cash - (notional + fee) instead, which leaves a rounding
residual of about 1e-16 of the cash, often negative (it agrees with the
published figures to about 3e-13).

Run from the repository root, e.g.:

    python3 tools/reference/reference_backtest.py ../shared/data/candles-100k.csv \\
        --trades-out crates/backtest/tests/reference/candles-100k.trades.csv
"""

import argparse
import csv
import math

import numpy as np
import talib

TRADE_FIELDS = ["entry_time_ms", "entry_price", "exit_time_ms", "exit_price", "qty", "pnl"]


def read_candles(path):
    times, closes = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            times.append(int(row["open_time_ms"]))
            closes.append(float(row["close"]))
    return times, np.array(closes, dtype=np.float64)


def backtest(times, closes, fast_n, slow_n, rsi_n, overbought, fee_rate, cash, zero_residual):
    fast = talib.EMA(closes, timeperiod=fast_n)
    slow = talib.EMA(closes, timeperiod=slow_n)
    rsi = talib.RSI(closes, timeperiod=rsi_n)
    trades, fees = [], 0.0
    qty = 0.0
    entry = None  # (time, price, cash before the buy) while long
    for i in range(1, len(closes)):
        if any(math.isnan(v) for v in (fast[i], slow[i], rsi[i], fast[i - 1], slow[i - 1])):
            continue
        close = float(closes[i])
        if entry is None:
            crossed_up = fast[i] > slow[i] and fast[i - 1] <= slow[i - 1]
            if crossed_up and rsi[i] < overbought:
                qty = cash / (close * (1 + fee_rate))
                notional = qty * close
                fee = notional * fee_rate
                entry = (times[i], close, cash)
                cash = 0.0 if zero_residual else cash - (notional + fee)
                fees += fee
        else:
            crossed_down = fast[i] < slow[i] and fast[i - 1] >= slow[i - 1]
            if crossed_down or rsi[i] > overbought:
                notional = qty * close
                fee = notional * fee_rate
                cash += notional - fee
                fees += fee
                entry_time, entry_price, cash_before = entry
                trades.append((entry_time, entry_price, times[i], close, qty, cash - cash_before))
                entry, qty = None, 0.0
    if entry is None:
        return trades, cash, fees, None
    return trades, cash + qty * float(closes[-1]), fees, (entry[0], entry[1], qty)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="candle CSV: open_time_ms,open,high,low,close,volume")
    parser.add_argument("--fast", type=int, default=9, help="fast EMA period (default: %(default)s)")
    parser.add_argument("--slow", type=int, default=21, help="slow EMA period (default: %(default)s)")
    parser.add_argument("--rsi", type=int, default=14, help="RSI period (default: %(default)s)")
    parser.add_argument("--overbought", type=float, default=70.0,
                        help="RSI overbought level (default: %(default)s)")
    parser.add_argument("--fee", type=float, default=0.001,
                        help="fee rate per fill, fraction of notional (default: %(default)s)")
    parser.add_argument("--cash", type=float, default=10000.0,
                        help="starting quote cash (default: %(default)s)")
    parser.add_argument("--keep-residual", action="store_true",
                        help="subtract the buy's cost instead of zeroing the cash (see above)")
    parser.add_argument("--trades-out", metavar="FILE", help="write round trips to this CSV")
    args = parser.parse_args()

    times, closes = read_candles(args.data)
    trades, equity, fees, open_position = backtest(
        times, closes, args.fast, args.slow, args.rsi, args.overbought, args.fee, args.cash,
        not args.keep_residual)

    if args.trades_out:
        with open(args.trades_out, "w", newline="") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(TRADE_FIELDS)
            for t in trades:
                out.writerow([t[0], repr(t[1]), t[2], repr(t[3]), repr(t[4]), repr(t[5])])

    print(f"candles: {len(closes)}")
    print(f"round trips: {len(trades)}")
    if open_position:
        entry_time, entry_price, qty = open_position
        print(f"open at end: entry_time_ms {entry_time}, entry_price {entry_price!r}, qty {qty!r}, "
              f"marked at last close {float(closes[-1])!r} without exit fee")
    else:
        print("open at end: nothing")
    print(f"final equity: {equity!r}")
    print(f"total fees: {fees!r}")
    print(f"TA-Lib: python wrapper {talib.__version__}, C library {talib.__ta_version__.decode()}")


if __name__ == "__main__":
    main()
