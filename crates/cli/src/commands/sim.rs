//! `spotbot sim`: runs the Binance-compatible simulator on loopback until Ctrl-C, with a funded
//! demo account whose key and secret it prints, optionally injected faults from a JSON file and
//! prices replayed from candle files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use rust_decimal::Decimal;
use sim::{
    ADMIN_PREFIX, Account, CandleReplay, Credentials, Exchange, ExchangeConfig, FaultPlan,
    STANDARD_COMMISSION_RATE, StartError, SystemClock,
};

use crate::Failure;

/// Long help for `spotbot sim --help`.
pub const LONG_ABOUT: &str = "\
Run a local exchange that answers like Binance's spot REST API, for paper trading and tests.

It lists BTCUSDT and ETHUSDT with Binance's filters, moves their prices by a seeded random walk,
fills MARKET orders against a synthetic order book, and checks API keys, HMAC signatures and
timestamps exactly as Binance does. Request weights and order counts are limited as on
Binance (429 with Retry-After, then 418 bans for clients that keep sending; the limits are in
/api/v3/exchangeInfo). A demo account with 10,000 USDT and 0.5 BTC is created at start; its API
key and secret are printed. It serves loopback addresses only.

With --replay SYMBOL=FILE a symbol's prices replay a candle file instead (spotbot's
open_time_ms,open,high,low,close,volume CSV or Binance's 12-column kline CSV): the file is shifted
so its first candle opens 7 days before the start (half-way through a shorter file), the price
moves linearly inside each candle through its open, extremes and close, and stays at the last
close after the file ends. Klines, tickers and fills follow the replayed prices.

Endpoints: GET /api/v3/ping, /time, /exchangeInfo, /ticker/price, /avgPrice, /depth, /klines,
/order, /account, /myTrades; POST /api/v3/order and /api/v3/order/test (MARKET only).
Signatures: HMAC-SHA256 (hex) or Ed25519 (base64, percent-encoded) for accounts registered with
an Ed25519 public key. WebSocket: /ws/<symbol>@kline_<interval> (e.g. /ws/btcusdt@kline_1m),
pushed every server second and with x=true when a kline closes.

Admin API (loopback clients only, JSON): POST /_sim/accounts (optional \"ed25519_public_key\"), POST /_sim/accounts/KEY/balances,
GET|PUT|DELETE /_sim/faults, PUT /_sim/symbols/SYMBOL/status, GET /_sim/orders (the order log),
GET /_sim/clock.

Faults (--faults FILE, or PUT /_sim/faults with the same JSON):
  {
    \"seed\": 7,
    \"clock_skew_ms\": -1500,
    \"symbol_status\": {\"ETHUSDT\": \"HALT\"},
    \"rules\": [
      {\"fault\": {\"drop_connection\": \"after_executing\"},
       \"endpoints\": [\"POST /api/v3/order\"], \"trigger\": {\"next\": 1}},
      {\"fault\": {\"latency_ms\": 200}, \"trigger\": {\"probability\": 0.1}},
      {\"fault\": {\"not_queryable_ms\": 500}, \"endpoints\": [\"GET /api/v3/order\"]}
    ]
  }
Faults: {\"latency_ms\": N}, {\"drop_connection\": T}, {\"server_error\": {\"status\": 5xx,
\"timing\": T}}, {\"unexpected_response\": T} (-1006), {\"backend_timeout\": T} (-1007),
\"server_busy\" (-1008), {\"too_many_requests_s\": N} (429), {\"banned_s\": N} (418),
{\"not_queryable_ms\": N} (-2013); T is \"before_executing\" or \"after_executing\".
A rule applies to the endpoints listed (all when absent), to the API key in \"account\" (all
clients when absent), \"always\" (the default), with {\"probability\": P} drawn from the seed, or
for the {\"next\": N} matching requests.

Examples:
  spotbot sim --listen 127.0.0.1:8765 --speed 60 --faults faults.json
  spotbot sim --speed 60 --replay BTCUSDT=data/btcusdt-1m.csv";

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

    /// JSON file of faults to inject from the start (format in --help; also settable later with
    /// PUT /_sim/faults).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,

    /// Replay SYMBOL's prices from a candle CSV instead of the random walk (repeatable; either
    /// layout the backtest reads).
    #[arg(long, value_name = "SYMBOL=FILE", value_parser = parse_replay)]
    replay: Vec<(String, PathBuf)>,
}

/// Reads `SYMBOL=FILE`.
fn parse_replay(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((symbol, file)) if !symbol.is_empty() && !file.is_empty() => {
            Ok((symbol.to_ascii_uppercase(), PathBuf::from(file)))
        }
        _ => Err(format!(
            "expected SYMBOL=FILE, e.g. BTCUSDT=candles.csv; got {text:?}"
        )),
    }
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
    let mut replays = std::collections::BTreeMap::new();
    let mut replay_lines = Vec::new();
    for (symbol, path) in &args.replay {
        let replay =
            CandleReplay::from_file(path).map_err(|err| Failure::Usage(err.to_string()))?;
        replay_lines.push(format!(
            "  {symbol}: replaying {} ({} candles of {} s)",
            path.display(),
            replay.len(),
            replay.candle_ms() / 1_000
        ));
        replays.insert(symbol.clone(), replay);
    }
    let config = ExchangeConfig {
        seed: args.seed,
        replays,
        ..ExchangeConfig::default()
    };
    let clock = Arc::new(SystemClock::with_speed(args.speed));
    let mut exchange = Exchange::new(config, clock).map_err(|err| match err {
        sim::ConfigError::UnknownReplaySymbol(_) => Failure::Usage(format!("--replay: {err}")),
        other => Failure::Runtime(anyhow::Error::new(other).context("cannot set up the exchange")),
    })?;
    if let Some(path) = &args.faults {
        exchange
            .set_faults(read_fault_plan(path)?)
            .map_err(|err| Failure::Usage(format!("{}: {err}", path.display())))?;
    }
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
    println!("  admin API: http://{address}{ADMIN_PREFIX}/ (loopback only; see --help)");
    if let Some(path) = &args.faults {
        println!("  faults: from {}", path.display());
    }
    for line in &replay_lines {
        println!("{line}");
    }
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

/// Reads a fault plan; an unreadable or malformed file is a usage error.
fn read_fault_plan(path: &std::path::Path) -> Result<FaultPlan, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| Failure::Usage(format!("cannot read {}: {err}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|err| Failure::Usage(format!("{}: not a fault plan: {err}", path.display())))
}
