//! Benchmarks behind docs/BENCHMARKS.md: the default backtest and a 2,000-combination sweep over
//! 1,000,000 candles in memory, and loading a 1,000,000-candle CSV file.
//!
//! Run with `cargo bench -p backtest`. The candles are a seeded random walk with two-decimal
//! prices, like the shared test data (`tests/common/random_walk.rs`), so the benchmark needs no
//! large file.

use std::hint::black_box;
use std::io::Write;

use backtest::sweep::{SweepGrid, run_sweep};
use backtest::{BacktestConfig, NoObserver, run_backtest};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use random_walk::random_walk;
use strategy::{EmaRsiCross, EmaRsiCrossParams};

#[path = "../tests/common/random_walk.rs"]
mod random_walk;

const CANDLES: usize = 1_000_000;

fn default_backtest(c: &mut Criterion) {
    let candles = random_walk(CANDLES);
    let config = BacktestConfig::default();
    let mut group = c.benchmark_group("backtest");
    group.throughput(Throughput::Elements(CANDLES as u64));
    group.bench_function("ema_rsi_cross_default_1m_candles", |b| {
        b.iter(|| {
            let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
            black_box(run_backtest(
                &mut strategy,
                black_box(&candles),
                &config,
                &mut NoObserver,
            ))
        })
    });
    group.finish();
}

fn csv_loading(c: &mut Criterion) {
    let candles = random_walk(CANDLES);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    {
        let mut out = std::io::BufWriter::new(file.as_file_mut());
        writeln!(out, "{}", candle_file::NATIVE_HEADER).unwrap();
        for candle in candles.iter() {
            writeln!(
                out,
                "{},{:.2},{:.2},{:.2},{:.2},{:.6}",
                candle.open_time_ms,
                candle.open,
                candle.high,
                candle.low,
                candle.close,
                candle.volume
            )
            .unwrap();
        }
    }
    let bytes = std::fs::metadata(file.path()).unwrap().len();
    let mut group = c.benchmark_group("csv");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("load_1m_candles", |b| {
        b.iter(|| black_box(candle_file::read_candle_file(file.path(), |_, _| {}).unwrap()))
    });
    group.finish();
}

fn sweep_2000(c: &mut Criterion) {
    let candles = random_walk(CANDLES);
    let config = BacktestConfig::default();
    // 10 fast x 10 slow x 4 RSI periods x 5 levels = 2,000 combinations.
    let grid = SweepGrid {
        fast: (5..15).collect(),
        slow: (20..30).collect(),
        rsi_period: vec![7, 14, 21, 28],
        overbought: vec![60.0, 65.0, 70.0, 75.0, 80.0],
    };
    let combinations = grid
        .combinations(backtest::sweep::MAX_COMBINATIONS)
        .unwrap();
    assert_eq!(combinations.len(), 2_000);
    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.throughput(Throughput::Elements((combinations.len() * CANDLES) as u64));
    group.bench_function("2000_combinations_1m_candles", |b| {
        b.iter(|| black_box(run_sweep(&candles, &config, &combinations, &|_| {})))
    });
    group.finish();
}

criterion_group!(benches, default_backtest, csv_loading, sweep_2000);
criterion_main!(benches);
