//! Integration tests of `SymbolRules` parsing and MARKET-order normalisation, against the Binance
//! documentation fixtures in `tests/fixtures/` and against random rules (proptest).
//!
//! One test binary with several modules, so the suite links once.

mod never_panics;
mod normalize_examples;
mod parsing;
mod properties;
mod support;
