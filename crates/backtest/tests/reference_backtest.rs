//! The backtester against the published reference: the default EMA/RSI strategy on the shared
//! 100,000-candle file must give 2,334 round trips, final equity 72.6322732899594 and total fees
//! 9450.749944143356, and agree trade by trade, bit for bit, with the plain Python + TA-Lib loop
//! (`tools/reference/reference_backtest.py`, output in `tests/reference/`).

use std::path::PathBuf;

use backtest::sweep::{SweepGrid, run_sweep, run_sweep_with_holdout};
use backtest::{
    BacktestConfig, BookFill, EquityCurve, Fill, NoObserver, RoundTrip, Simulation, Sizing,
    run_backtest,
};
use market::CandleSeries;
use rust_decimal::Decimal;
use sim_book::BookShape;
use strategy::{EmaRsiCross, EmaRsiCrossParams, Strategy};

fn shared_candles() -> CandleSeries {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/candles-100k.csv");
    assert!(
        path.exists(),
        "{} is missing: the tests need the project's shared/ folder next to the repository",
        path.display()
    );
    candle_file::read_candle_file(&path, |_, _| {}).unwrap()
}

fn assert_close(name: &str, got: f64, want: f64) {
    let relative = ((got - want) / want).abs();
    assert!(
        relative <= 1e-9,
        "{name}: got {got:?}, want {want:?} (relative error {relative:e})"
    );
}

fn reference_trades() -> Vec<RoundTrip> {
    include_str!("reference/candles-100k.trades.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            RoundTrip {
                entry_time_ms: f[0].parse().unwrap(),
                entry_price: f[1].parse().unwrap(),
                exit_time_ms: f[2].parse().unwrap(),
                exit_price: f[3].parse().unwrap(),
                qty: f[4].parse().unwrap(),
                // All in: the whole quantity bought is sold.
                exit_qty: f[4].parse().unwrap(),
                pnl: f[5].parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn default_strategy_reproduces_the_published_figures_and_every_trade() {
    let candles = shared_candles();
    let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
    let run = run_backtest(
        &mut strategy,
        &candles,
        &BacktestConfig::default(),
        &mut NoObserver,
    );
    let summary = &run.summary;
    assert_eq!(summary.candles, 100_000);
    assert_eq!(summary.round_trips, 2_334);
    assert_close("final equity", summary.final_equity, 72.6322732899594);
    assert_close("total fees", summary.total_fees, 9450.749944143356);
    assert!(!summary.ends_in_position);

    let expected = reference_trades();
    assert_eq!(run.round_trips.len(), expected.len());
    for (index, (got, want)) in run.round_trips.iter().zip(&expected).enumerate() {
        assert_eq!(got.entry_time_ms, want.entry_time_ms, "trade {index}");
        assert_eq!(got.exit_time_ms, want.exit_time_ms, "trade {index}");
        assert_eq!(got.entry_price, want.entry_price, "trade {index}");
        assert_eq!(got.exit_price, want.exit_price, "trade {index}");
        // Same arithmetic in the same order as the Python loop: bit for bit.
        assert_eq!(got.qty.to_bits(), want.qty.to_bits(), "trade {index} qty");
        assert_eq!(got.pnl.to_bits(), want.pnl.to_bits(), "trade {index} pnl");
    }
    // Cash after every round trip is cash before it plus its PnL: the trips chain up to the end.
    let chained = run
        .round_trips
        .iter()
        .fold(10_000.0, |cash, trip| cash + trip.pnl);
    assert_close("chained pnl", chained, summary.final_equity);
}

#[test]
fn statistics_are_consistent_with_the_trades_and_the_equity_curve() {
    let candles = shared_candles();
    let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
    let mut curve = EquityCurve::default();
    let run = run_backtest(
        &mut strategy,
        &candles,
        &BacktestConfig::default(),
        &mut curve,
    );
    let summary = &run.summary;
    assert_eq!(curve.points.len(), candles.len());
    assert_eq!(curve.points.last().unwrap().1, summary.final_equity);

    let mut peak = f64::MIN;
    let mut worst = 0.0f64;
    for &(_, equity) in std::iter::once(&(0, 10_000.0)).chain(&curve.points) {
        peak = peak.max(equity);
        worst = worst.max(1.0 - equity / peak);
    }
    assert_close("max drawdown", summary.max_drawdown, worst);

    let wins = run.round_trips.iter().filter(|t| t.pnl > 0.0).count();
    assert_close("win rate", summary.win_rate.unwrap(), wins as f64 / 2_334.0);
    let in_market = run
        .round_trips
        .iter()
        .map(|t| ((t.exit_time_ms - t.entry_time_ms) / 60_000) as f64)
        .sum::<f64>();
    assert_close("exposure", summary.exposure, in_market / 100_000.0);
    assert!(summary.sharpe.unwrap().is_finite());
    assert!(summary.profit_factor.unwrap() > 0.0 && summary.profit_factor.unwrap() < 1.0);
}

#[test]
fn a_sweep_row_equals_the_single_backtest_with_the_same_parameters() {
    let candles = shared_candles();
    let config = BacktestConfig::default();
    let grid = SweepGrid {
        fast: vec![5, 9],
        slow: vec![21, 30],
        rsi_period: vec![7, 14],
        overbought: vec![65.0, 70.0],
    };
    let combinations = grid
        .combinations(backtest::sweep::MAX_COMBINATIONS)
        .unwrap();
    assert_eq!(combinations.len(), 16);
    let rows = run_sweep(&candles, &config, &combinations, &|_| {});
    assert_eq!(rows.len(), combinations.len());
    for row in &rows {
        let mut strategy = EmaRsiCross::new(row.params).unwrap();
        let single = run_backtest(&mut strategy, &candles, &config, &mut NoObserver);
        assert_eq!(row.summary, single.summary, "{:?}", row.params);
    }
    let default_row = rows
        .iter()
        .find(|r| r.params == EmaRsiCrossParams::default())
        .unwrap();
    assert_eq!(default_row.summary.round_trips, 2_334);
}

#[test]
fn a_held_out_sweep_is_a_sweep_of_the_first_part_and_a_primed_run_of_the_rest() {
    let candles = shared_candles();
    let split = 80_000;
    let first_part = {
        let mut part = CandleSeries::with_capacity(split);
        for candle in candles.iter().take(split) {
            part.push(candle).unwrap();
        }
        part
    };
    let config = BacktestConfig::default();
    let grid = SweepGrid {
        fast: vec![5, 9],
        slow: vec![21],
        rsi_period: vec![14],
        overbought: vec![70.0],
    };
    let combinations = grid
        .combinations(backtest::sweep::MAX_COMBINATIONS)
        .unwrap();
    let held_out = run_sweep_with_holdout(&candles, &config, &combinations, Some(split), &|_| {});
    let first_only = run_sweep(&first_part, &config, &combinations, &|_| {});
    for (row, alone) in held_out.iter().zip(&first_only) {
        // In sample: exactly the sweep of the first 80,000 candles alone.
        assert_eq!(row.summary, alone.summary, "{:?}", row.params);
        // Out of sample: the live strategy fed the first part without trading (as a bot warms
        // up on the exchange's history), then trading the rest from a fresh account.
        let mut strategy = EmaRsiCross::new(row.params).unwrap();
        strategy.run(&candles, 0..split, strategy::Position::Flat, |_, _| {
            strategy::Position::Flat
        });
        let mut simulation = Simulation::new(&config);
        simulation.advance(
            &mut strategy,
            &candles,
            split..candles.len(),
            &mut NoObserver,
        );
        let primed = simulation.finish();
        let out_of_sample = row.out_of_sample.as_ref().unwrap();
        assert_eq!(out_of_sample, &primed.summary, "{:?}", row.params);
        assert!(out_of_sample.round_trips > 0);
    }
}

#[test]
fn book_fills_pay_the_simulators_book_around_the_close() {
    let candles = shared_candles();
    let rules = btcusdt_rules();
    let book = BookFill::with_rules(BookShape::standard(Decimal::new(5, 2)), &rules).unwrap();
    let tick = Decimal::new(1, 2);
    // 100 quote a BUY fits the best level (0.05 BTC); 5,000 quote walks the next ones too.
    for (quote, walks) in [(100.0, false), (5_000.0, true)] {
        let config = BacktestConfig {
            sizing: Sizing::QuotePerTrade(quote),
            rules: Some(rules.clone()),
            fill: Fill::Book(book.clone()),
            ..BacktestConfig::default()
        };
        let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
        let run = run_backtest(&mut strategy, &candles, &config, &mut NoObserver);
        assert!(
            run.summary.round_trips > 2_000,
            "{quote}: {}",
            run.summary.round_trips
        );
        let close_at = |time_ms: i64| {
            let index = candles
                .open_times_ms()
                .binary_search(&time_ms)
                .expect("a candle's open time");
            Decimal::try_from(candles.closes()[index]).unwrap()
        };
        for trip in &run.round_trips {
            let close = close_at(trip.entry_time_ms);
            // The best ask: 1 bp above the close, rounded up to the tick.
            let best_ask = (close * Decimal::new(10_001, 4) / tick).ceil() * tick;
            let paid = Decimal::try_from(trip.entry_price).unwrap();
            if walks && trip.qty > 0.05 {
                assert!(
                    paid > best_ask,
                    "{quote}: {paid} beyond the best ask {best_ask}"
                );
            } else {
                assert_eq!(
                    paid.round_dp(8),
                    best_ask,
                    "{quote}: the best ask at {close}"
                );
            }
            let exit_close = close_at(trip.exit_time_ms);
            let best_bid = (exit_close * Decimal::new(9_999, 4) / tick).floor() * tick;
            assert!(Decimal::try_from(trip.exit_price).unwrap().round_dp(8) <= best_bid);
        }
    }
    let all_in = BacktestConfig {
        fill: Fill::Book(book),
        ..BacktestConfig::default()
    };
    assert!(
        all_in.validate().is_err(),
        "book fills need a quote per trade"
    );
}

#[test]
fn quote_per_trade_sizes_and_books_as_the_live_engine() {
    let candles = shared_candles();
    let config = BacktestConfig {
        sizing: Sizing::QuotePerTrade(100.0),
        rules: Some(btcusdt_rules()),
        ..BacktestConfig::default()
    };
    let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
    let run = run_backtest(&mut strategy, &candles, &config, &mut NoObserver);
    assert_eq!(run.summary.round_trips, 2_334);
    assert_eq!(run.summary.skipped_orders, 0);
    let rules = btcusdt_rules();
    let mut cash = rust_decimal::Decimal::from(10_000);
    for trip in &run.round_trips {
        // The quantity the live engine's sizing gives for the same inputs (flat: all the
        // bot's cash is free quote), to the last decimal.
        let price =
            market::Price::new(rust_decimal::Decimal::try_from(trip.entry_price).unwrap()).unwrap();
        let inputs = engine_inputs(cash);
        let sized = accounting::sizing::size_order(&rules, market::Side::Buy, price, &inputs);
        let accounting::sizing::SizedOrder::Send(quantity) = sized.order else {
            panic!("the live sizing skips: {:?}", sized.steps);
        };
        let live: f64 = rust_decimal::prelude::ToPrimitive::to_f64(&rust_decimal::Decimal::from(
            quantity.quantity(),
        ))
        .unwrap();
        assert_eq!(trip.qty, live, "at {}", trip.entry_time_ms);
        // 100 quote at most (the fee is taken in the base bought), a whole number of steps.
        assert!(trip.qty * trip.entry_price <= 100.0 + 1e-9);
        cash += rust_decimal::Decimal::try_from(trip.pnl).unwrap();
    }
    let chained = run
        .round_trips
        .iter()
        .fold(10_000.0, |cash, trip| cash + trip.pnl);
    // Dust the lot step would not let a SELL take stays held: equity is the cash plus its value.
    assert!(
        (run.summary.final_equity - chained).abs() < 0.01,
        "{} vs {chained}",
        run.summary.final_equity
    );
}

/// What the live engine sizes a BUY from when the bot is flat with `cash` free.
fn engine_inputs(cash: rust_decimal::Decimal) -> accounting::sizing::SizingInputs {
    accounting::sizing::SizingInputs {
        quote_per_buy: rust_decimal::Decimal::from(100),
        position: rust_decimal::Decimal::ZERO,
        free_quote: cash,
        free_base: rust_decimal::Decimal::ZERO,
    }
}

fn btcusdt_rules() -> market::SymbolRules {
    let symbol = serde_json::json!({
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "baseAssetPrecision": 8,
        "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "quoteOrderQtyMarketAllowed": true,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "107.61451805", "stepSize": "0.00000000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
        ]
    });
    market::SymbolRules::from_symbol_json(&symbol).unwrap()
}

#[test]
fn with_exchange_rules_every_order_is_a_legal_quantity() {
    let candles = shared_candles();
    let config = BacktestConfig {
        rules: Some(btcusdt_rules()),
        ..BacktestConfig::default()
    };
    let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
    let run = run_backtest(&mut strategy, &candles, &config, &mut NoObserver);
    assert!(run.summary.round_trips > 100);
    for trip in &run.round_trips {
        let steps = trip.qty / 0.00001;
        assert!(
            (steps - steps.round()).abs() < 1e-6,
            "{} is not a multiple of the step",
            trip.qty
        );
        assert!(trip.qty * trip.entry_price >= 5.0);
    }
    // Equity never falls below the 5 USDT minimum here, so every signal still trades; the
    // uninvested remainders below one step only change the result slightly.
    assert_eq!(run.summary.round_trips, 2_334);
    assert_eq!(run.summary.skipped_orders, 0);
    let drift = run.summary.final_equity / 72.6322732899594 - 1.0;
    assert!(
        drift.abs() < 0.05,
        "final equity {}",
        run.summary.final_equity
    );
}

#[test]
fn orders_below_the_minimum_notional_are_skipped_not_filled() {
    let candles = shared_candles();
    let config = BacktestConfig {
        rules: Some(btcusdt_rules()),
        sizing: Sizing::QuotePerTrade(3.0),
        ..BacktestConfig::default()
    };
    let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
    let run = run_backtest(&mut strategy, &candles, &config, &mut NoObserver);
    assert_eq!(run.summary.round_trips, 0);
    assert_eq!(run.summary.final_equity, 10_000.0);
    assert_eq!(run.summary.total_fees, 0.0);
    assert!(run.skipped.len() > 1000);
    for skipped in &run.skipped {
        assert_eq!(skipped.side, market::Side::Buy);
        assert!(skipped.reason.contains("NOTIONAL"), "{}", skipped.reason);
    }
}
