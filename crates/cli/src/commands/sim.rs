//! `spotbot sim`: runs the Binance-compatible simulator on loopback until Ctrl-C, with a funded
//! demo account whose key and secret it prints.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use rust_decimal::Decimal;
use sim::{
    Account, Credentials, Exchange, ExchangeConfig, STANDARD_COMMISSION_RATE, StartError,
    SystemClock,
};

use crate::Failure;

/// Long help for `spotbot sim --help`.
pub const LONG_ABOUT: &str = "\
Run a local exchange that answers like Binance's spot REST API, for paper trading and tests.

It lists BTCUSDT and ETHUSDT with Binance's filters, moves their prices by a seeded random walk,
fills MARKET orders against a synthetic order book, and checks API keys, HMAC signatures and
timestamps exactly as Binance does. A demo account with 10,000 USDT and 0.5 BTC is created at
start; its API key and secret are printed. It serves loopback addresses only.

Endpoints: GET /api/v3/ping, /time, /exchangeInfo, /ticker/price, /klines, /order, /account;
POST /api/v3/order (MARKET only).

Example:
  spotbot sim --listen 127.0.0.1:8765 --speed 60";

/// Options of `spotbot sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Loopback address and port to serve on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8765", value_name = "ADDR:PORT")]
    listen: SocketAddr,

    /// Seed of the price walks: the same seed gives the same prices.
    #[arg(long, default_value_t = 1, value_name = "N")]
    seed: u64,

    /// Market time runs this many times faster than real time (60 = a minute per second).
    /// Above 1, clients must take timestamps from GET /api/v3/time, not from their own clock.
    #[arg(long, default_value_t = 1, value_name = "FACTOR", value_parser = clap::value_parser!(u32).range(1..=3600))]
    speed: u32,
}

/// Runs the command until Ctrl-C.
pub fn run(args: SimArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: SimArgs) -> Result<(), Failure> {
    let config = ExchangeConfig {
        seed: args.seed,
        ..ExchangeConfig::default()
    };
    let clock = Arc::new(SystemClock::with_speed(args.speed));
    let mut exchange = Exchange::new(config, clock).context("cannot set up the exchange")?;
    let credentials = Credentials::generate();
    let balances = [
        ("USDT".to_owned(), Decimal::from(10_000)),
        ("BTC".to_owned(), Decimal::new(5, 1)),
    ];
    exchange.add_account(Account::new(
        credentials.clone(),
        balances,
        STANDARD_COMMISSION_RATE,
    ));
    // Asking for the prices also generates the price history, before the first client waits on it.
    let symbols: Vec<String> = exchange
        .listings()
        .map(|listing| listing.spec.symbol.clone())
        .collect();
    let prices: Vec<String> = symbols
        .iter()
        .filter_map(|symbol| Some(format!("{symbol} {}", exchange.last_price(symbol)?)))
        .collect();

    let server = sim::start(exchange, args.listen)
        .await
        .map_err(|err| match err {
            StartError::NotLoopback(_) => Failure::Usage(err.to_string()),
            StartError::Bind { .. } => Failure::Runtime(err.into()),
        })?;
    let address = server.local_addr();
    println!("spotbot sim: Binance-compatible spot exchange at http://{address}");
    println!(
        "  prices:  {} (seed {}, speed {}x)",
        prices.join(", "),
        args.seed,
        args.speed
    );
    println!("  demo account: 10000 USDT, 0.5 BTC, commission 0.1% of what is received");
    println!("  API key: {}", credentials.api_key);
    println!("  secret:  {}", credentials.secret);
    println!("Try: curl 'http://{address}/api/v3/ticker/price?symbol=BTCUSDT'");
    println!("Press Ctrl-C to stop.");

    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    server
        .stop()
        .await
        .context("the server failed while stopping")?;
    println!("spotbot sim: stopped");
    Ok(())
}
