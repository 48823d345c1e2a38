//! A venue's [`SymbolCatalog`] against a real simulator over loopback: the venue's own listing,
//! read once and served from memory while it is fresh, read again when it is too old or was
//! invalidated (after an order refused for its filters or its symbol), and kept when the
//! exchange cannot be reached for a new one.

use std::sync::Arc;
use std::time::Duration;

use accounts::SymbolCatalog;
use market::SymbolStatus;
use sim::{Exchange, ExchangeConfig, RunningSim, SystemClock};
use store::Mode;

async fn exchange() -> RunningSim {
    let exchange = Exchange::new(ExchangeConfig::default(), Arc::new(SystemClock::new()))
        .expect("the default exchange");
    sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts")
}

/// A client of `exchange` that does not retry: a refused connection is an answer at once.
fn client(exchange: &RunningSim) -> binance::Client {
    let mut config = binance::ClientConfig::new(format!("http://{}", exchange.local_addr()));
    config.retry.max_attempts = 1;
    binance::Client::new(config).unwrap()
}

async fn status(catalog: &SymbolCatalog, symbol: &str) -> SymbolStatus {
    catalog
        .rules(symbol)
        .await
        .unwrap()
        .expect("listed")
        .status
        .clone()
}

#[tokio::test]
async fn the_listing_is_the_venues_own_cached_and_read_again_when_invalidated_or_old() {
    let exchange = exchange().await;
    let catalog =
        SymbolCatalog::from_exchange(Mode::Testnet, client(&exchange), Duration::from_secs(600));
    assert_eq!(
        catalog.symbol_names().await.unwrap(),
        ["BNBUSDT", "BTCUSDT", "ETHUSDT"]
    );
    assert!(catalog.rules("DOGEUSDT").await.unwrap().is_none());
    assert_eq!(status(&catalog, "BTCUSDT").await, SymbolStatus::Trading);

    exchange
        .exchange()
        .lock()
        .set_symbol_status("BTCUSDT", "HALT")
        .unwrap();
    assert_eq!(
        status(&catalog, "BTCUSDT").await,
        SymbolStatus::Trading,
        "served from memory while fresh"
    );
    catalog.invalidate();
    assert_eq!(status(&catalog, "BTCUSDT").await, SymbolStatus::Halt);

    // Too old: read again at the next lookup.
    let short =
        SymbolCatalog::from_exchange(Mode::Testnet, client(&exchange), Duration::from_millis(50));
    assert_eq!(status(&short, "BTCUSDT").await, SymbolStatus::Halt);
    exchange
        .exchange()
        .lock()
        .set_symbol_status("BTCUSDT", "TRADING")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(status(&short, "BTCUSDT").await, SymbolStatus::Trading);

    // The exchange gone: the listing read before keeps serving.
    exchange.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(status(&short, "BTCUSDT").await, SymbolStatus::Trading);
}

#[tokio::test]
async fn a_venue_never_read_reports_why() {
    let exchange = exchange().await;
    let unreachable = client(&exchange);
    exchange.stop().await.unwrap();
    let catalog = SymbolCatalog::from_exchange(Mode::Live, unreachable, Duration::from_secs(600));
    let error = catalog.rules("BTCUSDT").await.unwrap_err();
    assert_eq!(error.venue, Mode::Live);
    assert!(error.to_string().contains("the live exchange"), "{error}");
}
