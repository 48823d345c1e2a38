//! `spotbot sim`: runs the Binance-compatible simulator on loopback until Ctrl-C, with a funded
//! demo account whose key and secret it prints, optionally accounts from a TOML file, injected
//! faults from a JSON file, prices replayed from candle files, and a state file that keeps
//! balances and the order log across restarts (saved every few seconds and on Ctrl-C).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use anyhow::Context;
use clap::Args;
use rust_decimal::Decimal;
use sim::{
    ADMIN_PREFIX, Account, CandleReplay, Credentials, Exchange, ExchangeConfig, ExchangeHandle,
    FaultPlan, STANDARD_COMMISSION_RATE, SignatureKey, StartError, SystemClock,
};

use crate::Failure;

/// Long help for `spotbot sim --help`.
pub const LONG_ABOUT: &str = "\
Run a local exchange that answers like Binance's spot REST API, for paper trading and tests.

It lists BTCUSDT, ETHUSDT and BNBUSDT with Binance's filters, moves their prices by a seeded random walk,
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

With --accounts FILE the accounts of a TOML file are created too:
  demo = false                        # optional: skip the demo account (default: create it)
  [[accounts]]
  api_key = \"myKey1\"                  # letters and digits, at most 64
  secret = \"mySecret1\"                # HMAC secret, or ed25519_public_key = \"base64 or PEM\"
  balances = { USDT = \"10000\", BTC = \"0.5\" }
  commission_rate = \"0.001\"           # optional (0.1 %)
  commission_in_bnb = true            # optional: pay commissions in BNB, 25 % off
  can_trade = false                   # optional: a read-only key (default: may trade)
  ip_whitelist = [\"127.0.0.1\"]        # optional: the only IPs the key is accepted from
An account paying commissions in BNB pays them at the BNBUSDT price, 25 % off, when it holds
enough BNB for the whole order; otherwise in the asset it receives (also settable with
PUT /_sim/accounts/KEY/commission_in_bnb {\"enabled\": true}).

With --state FILE, accounts (with their keys' state), balances, the order log and the order ids
are loaded from FILE at start when it exists, and saved to it (atomically) every 2 seconds when
something changed and on Ctrl-C, so paper trading survives a restart; the demo account is kept
with the same key. Accounts in the state win over the same keys in --accounts. A file that cannot
be read is an error, never overwritten.

Endpoints: GET /api/v3/ping, /time, /exchangeInfo, /ticker/price, /avgPrice, /depth, /klines,
/order, /account, /myTrades; POST /api/v3/order and /api/v3/order/test (MARKET only).
Signatures: HMAC-SHA256 (hex) or Ed25519 (base64, percent-encoded) for accounts registered with
an Ed25519 public key. WebSocket: /ws/<symbol>@kline_<interval> (e.g. /ws/btcusdt@kline_1m),
pushed every server second and with x=true when a kline closes.

Admin API (loopback clients only, JSON): POST /_sim/accounts (optional \"ed25519_public_key\",
\"commission_in_bnb\", \"can_trade\", \"ip_whitelist\"), GET /_sim/accounts/KEY,
POST /_sim/accounts/KEY/balances (adds to one asset), PUT /_sim/accounts/KEY/balances
{\"balances\": {\"USDT\": \"10000\"}} (replaces them all), PUT /_sim/accounts/KEY/key
{\"enabled\": false, \"can_trade\": false, \"ip_whitelist\": [\"1.2.3.4\"]} (each optional),
PUT /_sim/accounts/KEY/commission_in_bnb, GET|PUT|DELETE /_sim/faults,
PUT /_sim/symbols/SYMBOL/status, GET /_sim/orders[?api_key=KEY] (the order log), GET /_sim/clock.
A revoked key, a key without can_trade placing an order, and a request from an IP off a key's
whitelist are answered as Binance answers them: -2015 with HTTP 401.

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

    /// TOML file of accounts to create (format in --help).
    #[arg(long, value_name = "FILE")]
    accounts: Option<PathBuf>,

    /// Keep accounts, balances and the order log in FILE: loaded at start when it exists, saved
    /// every 2 seconds when something changed and on Ctrl-C.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

/// How often the state file is saved when something changed.
const SAVE_EVERY: Duration = Duration::from_secs(2);

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
    // Listen for Ctrl-C before anything tells the user (or a test) to press it: a signal that
    // arrived before the handler existed would kill the process instead of stopping it cleanly.
    let interrupted = crate::signals::shutdown_signal().context("cannot listen for Ctrl-C")?;
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
    // Order ids from the real now: bots' databases keep the ids of earlier runs, also of runs
    // whose state was not saved.
    let config = ExchangeConfig {
        seed: args.seed,
        replays,
        ..ExchangeConfig::default()
    }
    .with_order_ids_from_now();
    let usage = |err: &dyn std::fmt::Display| Failure::Usage(err.to_string());
    let saved = match &args.state {
        Some(path) => sim::load_state(path).map_err(|err| usage(&err))?,
        None => None,
    };
    // A restarted exchange resumes its market time, which an accelerated clock has carried past
    // the real now: time going backwards would replay candles clients have already seen.
    let clock = Arc::new(SystemClock::resume(
        saved.as_ref().and_then(|state| state.market_time_ms),
        args.speed,
    ));
    let mut exchange = Exchange::new(config, clock).map_err(|err| match err {
        sim::ConfigError::UnknownReplaySymbol(_) => Failure::Usage(format!("--replay: {err}")),
        other => Failure::Runtime(anyhow::Error::new(other).context("cannot set up the exchange")),
    })?;
    if let Some(path) = &args.faults {
        exchange
            .set_faults(read_fault_plan(path)?)
            .map_err(|err| Failure::Usage(format!("{}: {err}", path.display())))?;
    }
    let restored_demo = saved.as_ref().and_then(|state| state.demo_api_key.clone());
    let restored = saved.is_some();
    if let (Some(path), Some(state)) = (&args.state, saved) {
        exchange
            .restore_state(path, state)
            .map_err(|err| usage(&err))?;
    }
    let mut create_demo = true;
    let mut file_accounts = 0;
    if let Some(path) = &args.accounts {
        let file = sim::read_accounts_file(path).map_err(|err| usage(&err))?;
        create_demo = file.demo;
        for account in file.accounts {
            // The state file's copy of an account (its balances since) wins.
            if exchange.account(&account.api_key).is_none() {
                exchange.add_account(account);
            }
            file_accounts += 1;
        }
    }
    let demo = if create_demo {
        Some(demo_account(&mut exchange, restored_demo.as_deref()))
    } else {
        None
    };
    let restored_log = restored.then(|| exchange.order_log().len());
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
    if let Some((credentials, restored)) = &demo {
        if *restored {
            println!("  demo account: restored from the state file");
        } else {
            println!("  demo account: 10000 USDT, 0.5 BTC, commission 0.1% of what is received");
        }
        println!("  API key: {}", credentials.api_key);
        println!("  secret:  {}", credentials.secret);
    }
    if let Some(path) = &args.accounts {
        println!("  accounts: {file_accounts} from {}", path.display());
    }
    if let Some(path) = &args.state {
        match restored_log {
            Some(orders) => println!(
                "  state: {} (restored, {orders} orders in the log)",
                path.display()
            ),
            None => println!("  state: {} (new)", path.display()),
        }
    }
    println!("  admin API: http://{address}{ADMIN_PREFIX}/ (loopback only; see --help)");
    if let Some(path) = &args.faults {
        println!("  faults: from {}", path.display());
    }
    for line in &replay_lines {
        println!("{line}");
    }
    println!("Try: curl 'http://{address}/api/v3/ticker/price?symbol=BTCUSDT'");
    println!("Press Ctrl-C to stop.");

    let demo_key = demo.map(|(credentials, _)| credentials.api_key);
    let (stop_saving, saving_stopped) = oneshot::channel();
    let saver = args.state.clone().map(|path| {
        let exchange = server.exchange().clone();
        tokio::spawn(save_periodically(exchange, path, demo_key, saving_stopped))
    });
    interrupted.await;
    server
        .stop()
        .await
        .context("the server failed while stopping")?;
    if let (Some(saver), Some(path)) = (saver, &args.state) {
        // The saver makes the last save itself, so no earlier save can land after it. It is
        // gone only if it panicked; then the send fails and the join says why.
        let _ = stop_saving.send(());
        saver
            .await
            .context("the state saver failed")?
            .map_err(|err| Failure::Runtime(err.into()))?;
        println!("spotbot sim: state saved to {}", path.display());
    }
    println!("spotbot sim: stopped");
    Ok(())
}

/// The demo account: the one the state file remembers when it still exists with an HMAC secret,
/// otherwise a new one with 10,000 USDT and 0.5 BTC. Returns its credentials and whether it was
/// restored.
pub(crate) fn demo_account(exchange: &mut Exchange, restored: Option<&str>) -> (Credentials, bool) {
    if let Some(account) = restored.and_then(|key| exchange.account(key))
        && let SignatureKey::Hmac(secret) = &account.signature_key
    {
        let credentials = Credentials {
            api_key: account.api_key.clone(),
            secret: secret.clone(),
        };
        return (credentials, true);
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
    (credentials, false)
}

/// Saves the exchange's state to `path` (see [`sim::save_state`]), remembering the demo key.
fn save(
    exchange: &ExchangeHandle,
    path: &Path,
    demo_key: Option<&str>,
) -> Result<(), sim::StateError> {
    let mut state = exchange.lock().save_state();
    state.demo_api_key = demo_key.map(str::to_owned);
    sim::save_state(path, &state)
}

/// Saves the state every [`SAVE_EVERY`] when it changed (a failed save is reported and retried
/// at the next tick), and once more when `stop` fires: that last save's outcome is returned.
/// Saves run one at a time, so an older snapshot never replaces a newer one.
pub(crate) async fn save_periodically(
    exchange: ExchangeHandle,
    path: PathBuf,
    demo_key: Option<String>,
    mut stop: oneshot::Receiver<()>,
) -> Result<(), sim::StateError> {
    let mut saved_revision = None;
    let mut ticks = tokio::time::interval(SAVE_EVERY);
    loop {
        tokio::select! {
            _ = &mut stop => return save(&exchange, &path, demo_key.as_deref()),
            _ = ticks.tick() => {}
        }
        let revision = exchange.lock().revision();
        if saved_revision == Some(revision) {
            continue;
        }
        let (handle, file, key) = (exchange.clone(), path.clone(), demo_key.clone());
        let saved = tokio::task::spawn_blocking(move || save(&handle, &file, key.as_deref())).await;
        match saved {
            Ok(Ok(())) => saved_revision = Some(revision),
            Ok(Err(err)) => eprintln!("spotbot sim: {err}"),
            Err(err) => eprintln!("spotbot sim: saving the state failed: {err}"),
        }
    }
}

/// Reads a fault plan; an unreadable or malformed file is a usage error.
fn read_fault_plan(path: &std::path::Path) -> Result<FaultPlan, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| Failure::Usage(format!("cannot read {}: {err}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|err| Failure::Usage(format!("{}: not a fault plan: {err}", path.display())))
}
