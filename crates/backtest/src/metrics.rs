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

    pub(crate) fn max_fraction(&self) -> f64 {
        1.0 - self.lowest_ratio
    }
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

    #[inline(always)]
    pub(crate) fn observe(&mut self, open_time_ms: i64, equity: f64) {
        if open_time_ms >= self.next_day_start_ms {
            // By value, so the caller's copy never has its address taken and stays in registers.
            *self = self.starting_day(open_time_ms);
        }
        self.last_equity = equity;
    }

    /// Like [`DailyReturns::observe`] for every bar at `times`, all with the same `equity`: one
    /// step per day rather than per bar.
    pub(crate) fn observe_constant(&mut self, mut times: &[i64], equity: f64) {
        if times
            .last()
            .is_some_and(|&last| last < self.next_day_start_ms)
        {
            // The usual case: the stretch ends before the day does.
            self.last_equity = equity;
            return;
        }
        while let Some(&first) = times.first() {
            self.observe(first, equity);
            let next_day = times.partition_point(|&time| time < self.next_day_start_ms);
            times = &times[next_day..];
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
    /// Signals refused by the exchange rules (only with rules).
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
        daily.observe(0, 100.0);
        assert_eq!(daily.finish(101.0), None);

        let mut daily = DailyReturns::new(100.0);
        for (day, equity) in [(0, 100.0), (1, 110.0), (2, 99.0), (3, 120.0)] {
            daily.observe(day * DAY_MS, equity);
        }
        let sharpe = daily.finish(120.0).unwrap();
        // Day 0 closes flat, then +10 %, -10 %, and the last day closes at the final equity.
        let returns = [0.0, 0.1, -0.1, 120.0 / 99.0 - 1.0];
        let mean = returns.iter().sum::<f64>() / 4.0;
        let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 3.0;
        assert!((sharpe - mean / var.sqrt() * 365f64.sqrt()).abs() < 1e-9);
    }
}
