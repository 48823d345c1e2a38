//! The client's own cost per MARKET order (issue 5's acceptance: under 50 µs): building the
//! parameters, percent-encoding and signing the query (HMAC-SHA256 and Ed25519), and parsing a
//! FULL answer with five fills into a `MarketOrderFill`. The network and the exchange are left
//! out; they are the simulator's time, not ours.
//!
//! Run with `cargo bench -p binance --bench order_overhead`.

use std::hint::black_box;

use binance::{Credentials, OrderSize, market_order_cpu_work};
use criterion::{Criterion, criterion_group, criterion_main};
use market::{Quantity, Side, Symbol};

/// A FULL answer in Binance's documented shape, five fills as when a MARKET order walks the book.
const FULL_ANSWER: &str = r#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"bot-7-signal-1749988830000","transactTime":1749988830123,"price":"0.00000000","origQty":"0.50000000","executedQty":"0.50000000","origQuoteOrderQty":"0.00000000","cummulativeQuoteQty":"52500.12500000","status":"FILLED","timeInForce":"GTC","type":"MARKET","side":"BUY","workingTime":1749988830123,"selfTradePreventionMode":"NONE","fills":[{"price":"104999.50000000","qty":"0.10000000","commission":"0.00010000","commissionAsset":"BTC","tradeId":56},{"price":"105000.00000000","qty":"0.10000000","commission":"0.00010000","commissionAsset":"BTC","tradeId":57},{"price":"105000.25000000","qty":"0.10000000","commission":"0.00010000","commissionAsset":"BTC","tradeId":58},{"price":"105000.50000000","qty":"0.10000000","commission":"0.00010000","commissionAsset":"BTC","tradeId":59},{"price":"105000.00000000","qty":"0.10000000","commission":"0.00010000","commissionAsset":"BTC","tradeId":60}]}"#;

fn order_overhead(c: &mut Criterion) {
    let symbol = Symbol::new("BTCUSDT").expect("a valid symbol");
    let size = OrderSize::Base("0.5".parse::<Quantity>().expect("a valid quantity"));
    let hmac = Credentials::hmac(
        "benchApiKey0123456789benchApiKey0123456789benchApiKey0123456789",
        "benchSecret0123456789benchSecret0123456789benchSecret0123456789",
    );
    let ed25519 = Credentials::ed25519(
        "benchApiKey0123456789benchApiKey0123456789benchApiKey0123456789",
        ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    );
    let mut group = c.benchmark_group("market_order_overhead");
    for (name, credentials) in [("hmac", &hmac), ("ed25519", &ed25519)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                market_order_cpu_work(
                    black_box(credentials),
                    black_box(&symbol),
                    Side::Buy,
                    size,
                    black_box("bot-7-signal-1749988830000"),
                    black_box(1_749_988_830_000),
                    black_box(FULL_ANSWER),
                )
                .expect("a valid order and answer")
            });
        });
    }
    group.finish();
}

criterion_group!(benches, order_overhead);
criterion_main!(benches);
