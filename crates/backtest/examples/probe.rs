use std::time::Instant;
use backtest::{BacktestConfig, NoObserver, run_backtest};
use market::{Candle, CandleSeries};
use strategy::{EmaRsiCross, EmaRsiCrossParams, Strategy, Position, Ema, Rsi};
fn synthetic_candles(count: usize) -> CandleSeries {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut uniform = move || { state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64 };
    let mut close = 30_000.0f64;
    (0..count).map(|index| { let open = close;
        close = ((open * (1.0 + (uniform() - 0.5) * 0.004)) * 100.0).round() / 100.0;
        Candle { open_time_ms: 1_704_067_200_000 + index as i64 * 60_000, open, high: open.max(close) + 1.0, low: open.min(close) - 1.0, close, volume: uniform() * 20.0 } }).collect()
}
#[target_feature(enable = "fma")]
fn strat_only(c: &[f64]) -> usize { let mut s = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap(); let mut n=0; let mut pos=Position::Flat;
  for &x in c { let cd = Candle{open_time_ms:0,open:x,high:x,low:x,close:x,volume:0.0}; if let Some(sig)=s.on_candle(&cd,pos){ n+=1; pos = if matches!(sig, strategy::Signal::Buy){Position::Long}else{Position::Flat}; } } n }
#[target_feature(enable = "fma")]
fn ema_only(c: &[f64]) -> f64 { let mut e = Ema::new(9); let mut acc=0.0; for &x in c { acc += e.update(x).unwrap_or(0.0);} acc }
#[target_feature(enable = "fma")]
fn rsi_only(c: &[f64]) -> f64 { let mut e = Rsi::new(14); let mut acc=0.0; for &x in c { acc += e.update(x).unwrap_or(0.0);} acc }
fn main() {
    let candles = synthetic_candles(1_000_000);
    let config = BacktestConfig::default();
    for _ in 0..3 {
        let t = Instant::now();
        let mut s = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
        let r = run_backtest(&mut s, &candles, &config, &mut NoObserver);
        let e = t.elapsed();
        let t2 = Instant::now(); let n = unsafe { strat_only(candles.closes()) }; let e2 = t2.elapsed();
        let t3 = Instant::now(); let a = unsafe { ema_only(candles.closes()) }; let e3 = t3.elapsed();
        let t4 = Instant::now(); let b = unsafe { rsi_only(candles.closes()) }; let e4 = t4.elapsed();
        println!("engine {:.1} M/s ({}), strategy only {:.1} M/s ({n}), ema {:.1} ({a}), rsi {:.1} ({b})", 1e6/e.as_secs_f64()/1e6, r.summary.round_trips, 1.0/e2.as_secs_f64(), 1.0/e3.as_secs_f64(), 1.0/e4.as_secs_f64());
    }
}
