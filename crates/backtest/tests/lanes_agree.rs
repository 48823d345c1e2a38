//! A long backtest, whose signals `EmaRsiCross` computes in SIMD lanes (on CPUs with AVX2 and
//! FMA), equals the same backtest fed in pieces too short for the lanes, computed candle by
//! candle: the same trades, skipped orders, statistics and equity curve, to the last bit. Also
//! when the exchange's filters refuse orders (the lanes then hand over mid-run).

use backtest::{BacktestConfig, EquityCurve, Simulation, Sizing, run_backtest};
use market::CandleSeries;
use random_walk::random_walk;
use strategy::{EmaRsiCross, EmaRsiCrossParams};

#[path = "common/random_walk.rs"]
mod random_walk;

/// Below the lanes' minimum run for the default periods (16 x 128 x 21 candles).
const PIECE: usize = 10_000;

/// BTCUSDT's filters: a 0.00001 step and a 5 USDT minimum notional.
fn btcusdt_rules() -> market::SymbolRules {
    let symbol = serde_json::json!({
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "baseAssetPrecision": 8,
        "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"], "quoteOrderQtyMarketAllowed": true,
        "filters": [
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
        ]
    });
    market::SymbolRules::from_symbol_json(&symbol).unwrap()
}

/// Everything a backtest produced, printed exactly (`{:?}` prints every `f64` so that it reads
/// back to the same bits).
fn whole_run(config: &BacktestConfig, candles: &CandleSeries, in_pieces: bool) -> String {
    let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
    let mut curve = EquityCurve::default();
    let run = if in_pieces {
        let mut simulation = Simulation::new(config);
        for start in (0..candles.len()).step_by(PIECE) {
            let end = (start + PIECE).min(candles.len());
            simulation.advance(&mut strategy, candles, start..end, &mut curve);
        }
        simulation.finish()
    } else {
        run_backtest(&mut strategy, candles, config, &mut curve)
    };
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        run.summary,
        run.round_trips,
        run.skipped,
        curve.points,
        strategy.readings()
    )
}

#[test]
fn a_long_backtest_equals_the_same_backtest_in_short_pieces() {
    let candles = random_walk(300_000);
    let configs = [
        ("all in", BacktestConfig::default()),
        (
            "1000 a trade",
            BacktestConfig {
                sizing: Sizing::QuotePerTrade(1_000.0),
                ..BacktestConfig::default()
            },
        ),
        (
            // All in, equity shrinks below the 5 USDT minimum: from then on every BUY is
            // refused, and the lanes hand over to the candle-by-candle loop.
            "all in, BTCUSDT's filters",
            BacktestConfig {
                rules: Some(btcusdt_rules()),
                ..BacktestConfig::default()
            },
        ),
    ];
    for (name, config) in configs {
        let long = whole_run(&config, &candles, false);
        let pieces = whole_run(&config, &candles, true);
        assert!(long == pieces, "{name}: the two runs differ");
        assert!(long.contains("round_trips: "), "{name}");
    }
    // The filtered run does refuse orders, so that path is covered.
    let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
    let config = BacktestConfig {
        rules: Some(btcusdt_rules()),
        ..BacktestConfig::default()
    };
    let run = run_backtest(
        &mut strategy,
        &candles,
        &config,
        &mut EquityCurve::default(),
    );
    assert!(run.summary.skipped_orders > 100, "{:?}", run.summary);
}
