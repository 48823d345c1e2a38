//! Statistics of a backtest: running maximum drawdown and daily returns (updated every bar, so
//! they must be nearly free), and the [`Summary`] computed once at the end.

use serde::Serialize;

use crate::engine::{BacktestConfig, RoundTrip};

const DAY_MS: i64 = 86_400_000;

/// Crypto trades every day of the year.
const TRADING_DAYS_PER_YEAR: f64 = 365.0;

/// Largest peak-to-trough fall of equity, as a fraction of the peak.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drawdown {
    peak: f64,
    /// The lowest `equity / peak` so far.
    lowest_ratio: f64,
}

impl Drawdown {
    pub(crate) fn new(starting_equity: f64) -> Self {
        Drawdown {
            peak: starting_equity,
            lowest_ratio: 1.0,
        }
    }

    /// Branch-free: in a trending market "new peak?" flips too irregularly for a predictor.
    /// Plain comparisons rather than `f64::max`/`min`, whose NaN handling costs extra
    /// instructions on the loop-carried path; equity is never NaN.
    #[inline(always)]
    pub(crate) fn observe(&mut self, equity: f64) {
        self.peak = if equity > self.peak {
            equity
        } else {
            self.peak
        };
        let ratio = equity / self.peak;
        self.lowest_ratio = if ratio < self.lowest_ratio {
            ratio
        } else {
            self.lowest_ratio
        };
    }

    /// [`Drawdown::observe`] for every bar of a stretch holding `held_qty` (> 0) and `cash`,
    /// where equity is `cash + held_qty * close`, dividing only when the peak moves: between two
    /// peaks the lowest `equity / peak` is the lowest equity over that peak. Exactly the per-bar
    /// result.
    #[inline(always)]
    pub(crate) fn observe_holding(&mut self, closes: &[f64], cash: f64, held_qty: f64) {
        // Equity is monotone in the close (rounding is monotone too), so the extreme closes
        // settle the common case, a stretch that makes no new peak, without a sequential pass.
        let (lowest_close, highest_close) = extremes(closes);
        if cash + held_qty * highest_close <= self.peak {
            self.settle(cash + held_qty * lowest_close);
            return;
        }
        let mut lowest = f64::INFINITY;
        for &close in closes {
            let equity = cash + held_qty * close;
            if equity > self.peak {
                self.settle(lowest);
                self.peak = equity;
                lowest = equity;
            } else {
                // A select, not a branch: new lows come too irregularly to predict.
                lowest = if equity < lowest { equity } else { lowest };
            }
        }
        self.settle(lowest);
    }

    /// Takes in the lowest equity seen while the peak was the current one.
    #[inline(always)]
    fn settle(&mut self, lowest_equity: f64) {
        if lowest_equity.is_finite() {
            let ratio = lowest_equity / self.peak;
            self.lowest_ratio = if ratio < self.lowest_ratio {
                ratio
            } else {
                self.lowest_ratio
            };
        }
    }

    pub(crate) fn max_fraction(&self) -> f64 {
        1.0 - self.lowest_ratio
    }
}

/// The lowest and highest close (never NaN; infinite for no closes), with four running pairs so
/// the comparisons of neighbouring closes do not wait on each other.
#[inline(always)]
fn extremes(closes: &[f64]) -> (f64, f64) {
    let lower = |a: f64, b: f64| if a < b { a } else { b };
    let higher = |a: f64, b: f64| if a > b { a } else { b };
    let mut lowest = [f64::INFINITY; 4];
    let mut highest = [f64::NEG_INFINITY; 4];
    let mut quads = closes.chunks_exact(4);
    for quad in quads.by_ref() {
        for lane in 0..4 {
            lowest[lane] = lower(quad[lane], lowest[lane]);
            highest[lane] = higher(quad[lane], highest[lane]);
        }
    }
    for (lane, &close) in quads.remainder().iter().enumerate() {
        lowest[lane] = lower(close, lowest[lane]);
        highest[lane] = higher(close, highest[lane]);
    }
    (
        lower(lower(lowest[0], lowest[1]), lower(lowest[2], lowest[3])),
        higher(
            higher(highest[0], highest[1]),
            higher(highest[2], highest[3]),
        ),
    )
}

/// Equity sampled at each UTC day boundary, reduced to the mean and variance of daily returns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DailyReturns {
    next_day_start_ms: i64,
    day_open_equity: f64,
    last_equity: f64,
    count: u64,
    mean: f64,
    sum_squared_deviations: f64,
}

impl DailyReturns {
    pub(crate) fn new(starting_equity: f64) -> Self {
        DailyReturns {
            next_day_start_ms: i64::MIN,
            day_open_equity: starting_equity,
            last_equity: starting_equity,
            count: 0,
            mean: 0.0,
            sum_squared_deviations: 0.0,
        }
    }

    /// Takes in a run of bars whose equity is `equity_at(index)`: only the equity of the last
    /// bar of each day matters, so this costs a step per day rather than per bar.
    #[inline(always)]
    pub(crate) fn observe_run(&mut self, times: &[i64], equity_at: impl Fn(usize) -> f64) {
        let mut start = 0;
        while start < times.len() {
            if times[start] >= self.next_day_start_ms {
                // By value, so the caller's copy never has its address taken and stays in registers.
                *self = self.starting_day(times[start]);
            }
            let end = if times[times.len() - 1] < self.next_day_start_ms {
                // The usual case: the run ends before the day does.
                times.len()
            } else {
                start + times[start..].partition_point(|&time| time < self.next_day_start_ms)
            };
            self.last_equity = equity_at(end - 1);
            start = end;
        }
    }

    #[cold]
    #[inline(never)]
    fn starting_day(mut self, open_time_ms: i64) -> Self {
        if self.next_day_start_ms != i64::MIN {
            self.close_day();
        }
        self.next_day_start_ms = open_time_ms.div_euclid(DAY_MS) * DAY_MS + DAY_MS;
        self
    }

    fn close_day(&mut self) {
        let daily_return = self.last_equity / self.day_open_equity - 1.0;
        self.day_open_equity = self.last_equity;
        // Welford's update: stable where equity has shrunk to tiny numbers.
        self.count += 1;
        let delta = daily_return - self.mean;
        self.mean += delta / self.count as f64;
        self.sum_squared_deviations += delta * (daily_return - self.mean);
    }

    /// Annualised Sharpe ratio of daily returns (risk-free rate 0), if at least two days were seen
    /// and returns varied.
    pub(crate) fn finish(mut self, final_equity: f64) -> Option<f64> {
        if self.next_day_start_ms != i64::MIN {
            self.last_equity = final_equity;
            self.close_day();
        }
        if self.count < 2 {
            return None;
        }
        let std_dev = (self.sum_squared_deviations / (self.count - 1) as f64).sqrt();
        (std_dev > 0.0 && std_dev.is_finite())
            .then(|| self.mean / std_dev * TRADING_DAYS_PER_YEAR.sqrt())
    }
}

/// Totals the engine hands over at the end of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunTotals {
    pub(crate) candles: u64,
    pub(crate) final_equity: f64,
    pub(crate) total_fees: f64,
    pub(crate) bars_in_market: u64,
    pub(crate) ends_in_position: bool,
    pub(crate) skipped_orders: usize,
    pub(crate) max_drawdown: f64,
    pub(crate) daily_sharpe: Option<f64>,
}

/// What a trader reads first about a backtest. Fractions are plain fractions (0.25 = 25 %).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Candles processed.
    pub candles: u64,
    /// Completed BUY-then-SELL pairs.
    pub round_trips: usize,
    /// Quote currency at the start.
    pub starting_cash: f64,
    /// Cash at the end, plus any open position valued at the last close.
    pub final_equity: f64,
    /// `final_equity / starting_cash - 1`.
    pub total_return: f64,
    /// Fees paid over all fills.
    pub total_fees: f64,
    /// Largest peak-to-trough fall of per-bar equity, as a fraction of the peak.
    pub max_drawdown: f64,
    /// Share of round trips with positive PnL; `None` without round trips.
    pub win_rate: Option<f64>,
    /// Gross profit over gross loss; `None` when nothing was lost.
    pub profit_factor: Option<f64>,
    /// Annualised Sharpe ratio of daily (UTC) returns; `None` with fewer than two days.
    pub sharpe: Option<f64>,
    /// Share of candles spent holding a position.
    pub exposure: f64,
    /// True when the run ended holding a position.
    pub ends_in_position: bool,
    /// Signals that produced no order (refused by the exchange rules, or no cash left).
    pub skipped_orders: usize,
}

impl Summary {
    pub(crate) fn new(
        config: &BacktestConfig,
        round_trips: &[RoundTrip],
        totals: RunTotals,
    ) -> Self {
        let (gross_profit, gross_loss, wins) =
            round_trips
                .iter()
                .fold((0.0, 0.0, 0usize), |(profit, loss, wins), trip| {
                    if trip.pnl > 0.0 {
                        (profit + trip.pnl, loss, wins + 1)
                    } else {
                        (profit, loss - trip.pnl, wins)
                    }
                });
        Summary {
            candles: totals.candles,
            round_trips: round_trips.len(),
            starting_cash: config.starting_cash,
            final_equity: totals.final_equity,
            total_return: totals.final_equity / config.starting_cash - 1.0,
            total_fees: totals.total_fees,
            max_drawdown: totals.max_drawdown,
            win_rate: (!round_trips.is_empty()).then(|| wins as f64 / round_trips.len() as f64),
            profit_factor: (gross_loss > 0.0).then(|| gross_profit / gross_loss),
            sharpe: totals.daily_sharpe,
            exposure: if totals.candles == 0 {
                0.0
            } else {
                totals.bars_in_market as f64 / totals.candles as f64
            },
            ends_in_position: totals.ends_in_position,
            skipped_orders: totals.skipped_orders,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holding_stretches_give_the_per_bar_drawdown() {
        let closes: Vec<f64> = (0..103)
            .map(|i| 100.0 + ((i * 37) % 23) as f64 - (i / 10) as f64)
            .collect();
        let (cash, held) = (3.0, 0.5);
        let mut per_bar = Drawdown::new(60.0);
        for &close in &closes {
            per_bar.observe(cash + held * close);
        }
        let mut chunked = Drawdown::new(60.0);
        chunked.observe_holding(&closes, cash, held);
        assert_eq!(
            chunked.max_fraction().to_bits(),
            per_bar.max_fraction().to_bits()
        );
        assert!(per_bar.max_fraction() > 0.0);
    }

    #[test]
    fn drawdown_tracks_the_worst_fall_from_any_peak() {
        let mut drawdown = Drawdown::new(100.0);
        for equity in [110.0, 99.0, 105.0, 120.0, 90.0, 130.0, 125.0] {
            drawdown.observe(equity);
        }
        assert!((drawdown.max_fraction() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn sharpe_needs_two_days_of_varying_returns() {
        let mut daily = DailyReturns::new(100.0);
        daily.observe_run(&[0], |_| 100.0);
        assert_eq!(daily.finish(101.0), None);

        // Four days with two bars each; only each day's last bar counts.
        let times: Vec<i64> = (0..4)
            .flat_map(|day| [day * DAY_MS, day * DAY_MS + 60_000])
            .collect();
        let equity = [50.0, 100.0, 1.0, 110.0, 500.0, 99.0, 7.0, 120.0];
        let mut daily = DailyReturns::new(100.0);
        // In two runs, split inside a day, as the engine does around fills.
        daily.observe_run(&times[..3], |i| equity[i]);
        daily.observe_run(&times[3..], |i| equity[3 + i]);
        let sharpe = daily.finish(120.0).unwrap();
        // Day 0 closes flat, then +10 %, -10 %, and the last day closes at the final equity.
        let returns = [0.0, 0.1, -0.1, 120.0 / 99.0 - 1.0];
        let mean = returns.iter().sum::<f64>() / 4.0;
        let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 3.0;
        assert!((sharpe - mean / var.sqrt() * 365f64.sqrt()).abs() < 1e-9);
    }
}
