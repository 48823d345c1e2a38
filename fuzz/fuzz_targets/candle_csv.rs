//! Fuzz target: arbitrary bytes as a candle CSV file into `candle_file::parse_candles`, checking
//! what it promises: an error names the source; a series has strictly increasing open times,
//! finite prices above zero and finite volumes not below zero.
//!
//! It also checks the fast path against the general one. A space after every comma changes no
//! value (the general path trims fields) but sends every row the general way, since the fast
//! path takes no spaces; so both inputs must give the same candles, bit for bit, or an error of
//! the same kind on the same line.

#![no_main]

use std::mem::discriminant;
use std::path::Path;

use candle_file::{CandleFileError, parse_candles};
use libfuzzer_sys::fuzz_target;
use market::CandleSeries;

const SOURCE: &str = "fuzz-input.csv";

fuzz_target!(|data: &[u8]| {
    let result = parse_candles(data, Path::new(SOURCE));
    match &result {
        Ok(candles) => check_series(candles),
        Err(err) => {
            let message = err.to_string();
            assert!(
                message.contains(SOURCE),
                "error without the source: {message}"
            );
        }
    }

    let mut spaced = Vec::with_capacity(data.len() * 2);
    for &byte in data {
        spaced.push(byte);
        if byte == b',' {
            spaced.push(b' ');
        }
    }
    match (result, parse_candles(&spaced, Path::new(SOURCE))) {
        (Ok(fast), Ok(general)) => assert_eq!(bits(&fast), bits(&general)),
        (Err(fast), Err(general)) => {
            assert_eq!(
                discriminant(&fast),
                discriminant(&general),
                "{fast} / {general}"
            );
            assert_eq!(line_of(&fast), line_of(&general), "{fast} / {general}");
        }
        (fast, general) => panic!("spacing changed the outcome: {fast:?} / {general:?}"),
    }
});

fn check_series(candles: &CandleSeries) {
    assert!(!candles.is_empty());
    assert!(
        candles
            .open_times_ms()
            .windows(2)
            .all(|pair| pair[0] < pair[1]),
        "open times do not strictly increase"
    );
    for prices in [
        candles.opens(),
        candles.highs(),
        candles.lows(),
        candles.closes(),
    ] {
        for &price in prices {
            assert!(price.is_finite() && price > 0.0, "unusable price {price}");
        }
    }
    for &volume in candles.volumes() {
        assert!(
            volume.is_finite() && volume >= 0.0,
            "unusable volume {volume}"
        );
    }
}

/// Every value of the series as bits, so that `-0.0` and `0.0` differ.
fn bits(candles: &CandleSeries) -> Vec<[u64; 6]> {
    candles
        .iter()
        .map(|candle| {
            [
                candle.open_time_ms as u64,
                candle.open.to_bits(),
                candle.high.to_bits(),
                candle.low.to_bits(),
                candle.close.to_bits(),
                candle.volume.to_bits(),
            ]
        })
        .collect()
}

fn line_of(err: &CandleFileError) -> Option<u64> {
    match err {
        CandleFileError::UnknownLayout { at, .. }
        | CandleFileError::ColumnCount { at, .. }
        | CandleFileError::BadField { at, .. }
        | CandleFileError::NotIncreasing { at, .. } => Some(at.line),
        _ => None,
    }
}
