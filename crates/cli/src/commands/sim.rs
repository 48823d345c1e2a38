//! `spotbot sim`: runs the Binance-compatible simulator until Ctrl-C (on loopback, or beyond
//! with an admin token), with a funded demo account whose key and secret it prints, optionally
//! accounts from a TOML file, injected faults from a JSON file, prices replayed from candle files,
//! and a durable state file that keeps balances and the order log across restarts, `kill -9`
//! included: every change is in its journal before it is answered (see `sim::DurableState`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use rust_decimal::Decimal;
use sim::{
    ADMIN_PREFIX, Account, AdminToken, CandleReplay, Clock, Credentials, DurableState, Exchange,
    ExchangeConfig, FaultPlan, ManualClock, STANDARD_COMMISSION_RATE, ServeOptions, SignatureKey,
    StartError, SystemClock,
};

use crate::Failure;
use crate::run_config::SIM_SPEEDS;
use crate::secret_text::SecretText;

/// Long help for `spotbot sim --help`.
pub const LONG_ABOUT: &str = "\
Run a local exchange that answers like Binance's spot REST API and WebSocket streams, for paper
trading and tests.

It lists BTCUSDT, ETHUSDT and BNBUSDT with Binance's filters, moves their prices by a seeded random walk,
fills MARKET orders against a synthetic order book, and checks API keys, HMAC signatures and
timestamps as Binance does (with recvWindow in real time: see Timing below). Request weights and
order counts are limited as on Binance (429 with Retry-After, then 418 bans for clients that keep
sending; the limits are in /api/v3/exchangeInfo). A demo account with 10,000 USDT and 0.5 BTC is
created at start; its API key and secret are printed. It serves loopback addresses only, unless
it has an admin token (below): then --listen may be any address, for a fleet's workers on other
machines.

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

With --state FILE the exchange is durable: accounts (with their keys' state), balances, the order
log, the order ids, the demo account's key and the market time survive a restart, and a crash
or kill -9 too. Every change (an order and its balances, an account created, funded, its
balances replaced, its key or commission setting changed) is appended to the journal FILE.journal
and flushed to disk before the request that made it is answered: confirmed = durable. An order
whose answer never went out may or may not exist after a crash (a client finds out by querying
it: -2013 when it does not). Writes are grouped: one flush to disk answers every request that
arrived meanwhile. At start FILE (a snapshot; files of earlier versions load) is read and the
journal replayed; a last record cut short by a crash is dropped with a message, a damaged one
before it stops the start with an error naming the file and byte offset. Then a new snapshot is
written (atomically) and the journal starts empty; every 100,000 records or 10 minutes it is
folded into a new snapshot again. An accelerated market resumes where its clock was, never
earlier. FILE.lock keeps a second exchange off the same files. Accounts in the state win over
the same keys in --accounts. A file that cannot be read is an error, never overwritten.

The admin API (/_sim: accounts, funds, faults, symbol status, the order log) answers only clients
that send Authorization: Bearer TOKEN, loopback ones included, so that no other process of the
machine can mint funded accounts. The token is --admin-token TOKEN, or SPOTBOT_SIM_ADMIN_TOKEN
(which keeps it out of the process list); without either, one is made and printed at start. Use
16 to 256 visible characters, e.g. from `openssl rand -hex 32`; spotbot processes that open paper
accounts there take it as SPOTBOT_PAPER_ADMIN_TOKEN. --listen may then be a non-loopback address
(e.g. 0.0.0.0:8765). --open-admin serves the admin API without a token, to loopback clients only:
for a demo or tests on one machine, never for an exchange several people share.

Timing: recvWindow (default 5000 ms, at most 60000) and the 1 s a timestamp may run ahead of the
server are durations of real time. With --speed above 1 they are multiplied by the speed before
they are compared with timestamps, which are market time: at --speed 60 a request signed up to
300 s of market time (5 s of real time) ago is accepted, and one 60 s of market time (1 s of
real time) or more ahead is refused with -1021. So a request's real transit is never multiplied
into -1021, and a request late in real time is refused as on Binance. At --speed 1 the rule is
Binance's unchanged.

Endpoints: GET /api/v3/ping, /time, /exchangeInfo, /ticker/price, /ticker/24hr,
/ticker/bookTicker, /avgPrice, /depth, /klines, /order, /openOrders, /allOrders, /account,
/account/commission, /myTrades; POST /api/v3/order and /api/v3/order/test (MARKET only, so
/openOrders is always []). Each with Binance's parameters (symbol, symbols=[\"A\",\"B\"],
symbolStatus, type=FULL|MINI, times in ms or microseconds), weights and error codes.
/ticker/24hr is the last 24 hours of the simulated market (the walk or replay, the trades klines
show) up to now; /ticker/bookTicker and /depth are its synthetic book, the levels orders fill
against.
Signatures: HMAC-SHA256 (hex) or Ed25519 (base64, percent-encoded) for accounts registered with
an Ed25519 public key.

Market streams as Binance serves them: /ws/<stream> (raw), /ws (then SUBSCRIBE), and
/stream?streams=<a>/<b> (each event wrapped as {\"stream\": name, \"data\": event}), with the
live methods SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY/GET_PROPERTY \"combined\"
and Binance's error answers. Streams: <symbol>@kline_<interval> (the REST klines, pushed every
server second, with x=true when a kline closes), <symbol>@trade and <symbol>@aggTrade (the
market's trades, numbered as the klines' first/last trade ids), <symbol>@bookTicker (the book's
best levels), <symbol>@miniTicker and !miniTicker@arr (the last 24 hours). Symbols in lower case;
an unlisted one stays silent, as on Binance. Limits as Binance's: 1024 streams and 5 incoming
messages per second per connection (more closes it), a ping every 20 s answered within a
minute, 24 hours per connection, 300 connection attempts per 5 minutes per IP.

User data stream: the WebSocket API at /ws-api/v3, as Binance offers it since the listen-key
endpoints were retired (2026-02-20): userDataStream.subscribe.signature (any key), or
session.logon (Ed25519) then userDataStream.subscribe; userDataStream.unsubscribe,
session.subscriptions, session.status/logout, ping, time. Each MARKET order gives executionReport
NEW, TRADE per fill (the last FILLED, or EXPIRED when the book ran out) and
outboundAccountPosition; admin funding gives balanceUpdate. When the simulator stops, every
socket gets serverShutdown.

Admin API (loopback clients, and others with the admin token; JSON): POST /_sim/accounts
(optional \"ed25519_public_key\",
\"commission_in_bnb\", \"can_trade\", \"ip_whitelist\"), GET /_sim/accounts/KEY,
POST /_sim/accounts/KEY/balances (adds to one asset), PUT /_sim/accounts/KEY/balances
{\"balances\": {\"USDT\": \"10000\"}} (replaces them all), PUT /_sim/accounts/KEY/key
{\"enabled\": false, \"can_trade\": false, \"ip_whitelist\": [\"1.2.3.4\"]} (each optional),
PUT /_sim/accounts/KEY/commission_in_bnb, GET|PUT|DELETE /_sim/faults,
PUT /_sim/symbols/SYMBOL/status, GET /_sim/orders[?api_key=KEY] (the order log),
GET /_sim/sockets (open WebSockets) and POST /_sim/sockets/drop {\"stream\", \"api_key\",
\"service\": \"streams\"|\"ws_api\", \"close_frame\"} (all optional: cuts the sockets selected,
without a close frame unless asked, to test a client's reconnection and gap filling). GET /_sim/clock
answers any client: {\"now_ms\", \"speed\", \"clock_skew_ms\", \"manual\"}, where speed is how many
times faster than real time the market runs (1: real time; 0: a manual clock, which moves only
when set): a remote client of an accelerated exchange needs it to estimate the exchange's time.
With --manual-clock, PUT /_sim/clock {\"advance_ms\": 60000} steps the market a minute, and
GET /_sim/clock?changed_from=N answers once the clock reads other than N (within 25 s): a client
following the clock learns of each step at once. Stepping a replay one candle at a time, each
step waiting for the bots' decisions, makes a paper run that cannot miss a candle (spotbot's
backtest-equals-paper test does this).

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
  spotbot sim --speed 60 --replay BTCUSDT=data/btcusdt-1m.csv
  spotbot sim --manual-clock --replay BTCUSDT=data/btcusdt-1m.csv --no-rate-limits
  SPOTBOT_SIM_ADMIN_TOKEN=$(openssl rand -hex 32) spotbot sim --listen 0.0.0.0:8765 --state paper.json";

/// Options of `spotbot sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address and port to serve on (port 0 picks a free one): loopback, or any address with an
    /// admin token.
    #[arg(long, default_value = "127.0.0.1:8765", value_name = "ADDR:PORT")]
    listen: SocketAddr,

    /// Seed of the price walks: the same seed gives the same prices (default: [sim] seed of
    /// --config, else 1).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

    /// Market time runs this many times faster than real time (60 = a minute per second; default:
    /// [sim] speed of --config, else 1). Above 1, clients must take timestamps from
    /// GET /api/v3/time (or model the clock from GET /_sim/clock, as spotbot does), not from
    /// their own clock.
    #[arg(long, value_name = "FACTOR", value_parser = speed_flag)]
    speed: Option<u32>,

    /// Market time stands still until it is set with PUT /_sim/clock ({"now_ms": N} or
    /// {"advance_ms": N}): step a replayed file candle by candle, every bot deciding on each
    /// candle before the next (replayed files then start at the clock's start instead of a week
    /// before it). spotbot processes follow each step at once (GET /_sim/clock?changed_from=N).
    #[arg(long, conflicts_with = "speed")]
    manual_clock: bool,

    /// The configuration file of `spotbot run` and the fleet: its [sim] section gives the
    /// defaults of --speed, --seed and --state (state_file), so every process of a fleet reads
    /// the same file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

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

    /// Keep accounts, balances and the order log durably in FILE and its journal FILE.journal:
    /// every change is on disk before it is answered; replayed at start.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// The admin API's token, which every client of /_sim must send as `Authorization: Bearer
    /// TOKEN` (default: SPOTBOT_SIM_ADMIN_TOKEN, never printed; without either, one is made and
    /// printed at start).
    #[arg(long, value_name = "TOKEN", conflicts_with = "open_admin")]
    admin_token: Option<SecretText>,

    /// Serve the admin API without a token to loopback clients only, so that any process on
    /// this machine can mint funded accounts: for a demo or tests on one machine, never for an
    /// exchange that several people share.
    #[arg(long)]
    open_admin: bool,

    /// Raise every request-weight and order-count limit out of reach (still published in
    /// exchangeInfo): for a paper exchange that a whole fleet reaches from one address, where
    /// Binance would see many.
    #[arg(long)]
    no_rate_limits: bool,
}

/// The environment variable read for the admin token when `--admin-token` is not given.
const ADMIN_TOKEN_ENV: &str = "SPOTBOT_SIM_ADMIN_TOKEN";

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
    crate::service::block_on(serve(args))
}

/// `args` with what they leave out taken from the [sim] section of `--config`.
fn with_config(mut args: SimArgs) -> Result<SimArgs, Failure> {
    if let Some(path) = &args.config {
        let file = crate::run_config::ConfigFile::read(path).map_err(Failure::Usage)?;
        args.seed = args.seed.or(file.sim.seed);
        args.speed = args.speed.or(file.sim.speed);
        args.state = args.state.or(file.sim.state_file);
    }
    args.seed = Some(args.seed.unwrap_or(1));
    args.speed = Some(args.speed.unwrap_or(1));
    Ok(args)
}

async fn serve(args: SimArgs) -> Result<(), Failure> {
    // Listen for Ctrl-C before anything tells the user (or a test) to press it: a signal that
    // arrived before the handler existed would kill the process instead of stopping it cleanly.
    let interrupted = crate::signals::shutdown_signal().context("cannot listen for Ctrl-C")?;
    let args = with_config(args)?;
    let (seed, speed) = (args.seed.unwrap_or(1), args.speed.unwrap_or(1));
    let admin_token = if args.open_admin {
        AdminTokenChoice::Open
    } else {
        admin_token(args.admin_token.as_ref().map(SecretText::expose))?
    };
    let mut replays = std::collections::BTreeMap::new();
    let mut replay_lines = Vec::new();
    for (symbol, path) in &args.replay {
        let mut replay =
            CandleReplay::from_file(path).map_err(|err| Failure::Usage(err.to_string()))?;
        if args.manual_clock {
            replay = replay.starting_at_the_start();
        }
        replay_lines.push(format!(
            "  {symbol}: replaying {} ({} candles of {} s)",
            path.display(),
            replay.len(),
            replay.candle_ms() / 1_000
        ));
        replays.insert(symbol.clone(), replay);
    }
    // Order ids from the real now: bots' databases keep the ids of earlier runs, also of runs
    // whose state was lost.
    let mut config = ExchangeConfig {
        seed,
        replays,
        ..ExchangeConfig::default()
    }
    .with_order_ids_from_now();
    if args.no_rate_limits {
        config = config.with_unreachable_rate_limits();
    }
    let usage = |err: &dyn std::fmt::Display| Failure::Usage(err.to_string());
    let mut durable = match &args.state {
        Some(path) => Some(open_durable_state(path, "spotbot sim")?),
        None => None,
    };
    let saved = durable.as_ref().and_then(DurableState::saved);
    let restored = saved.is_some();
    // A restarted exchange resumes its market time, which an accelerated clock has carried past
    // the real now: time going backwards would replay candles clients have already seen.
    let saved_time_ms = saved.and_then(|state| state.market_time_ms);
    let clock: Arc<dyn Clock> = if args.manual_clock {
        Arc::new(ManualClock::new(manual_clock_start(
            saved_time_ms,
            config.replays.values(),
        )))
    } else {
        Arc::new(SystemClock::resume(saved_time_ms, speed))
    };
    let clock_words = if args.manual_clock {
        "manual clock: PUT /_sim/clock moves it".to_owned()
    } else {
        format!("speed {speed}x")
    };
    let mut exchange = Exchange::new(config, clock).map_err(|err| match err {
        sim::ConfigError::UnknownReplaySymbol(_) => Failure::Usage(format!("--replay: {err}")),
        other => Failure::Runtime(anyhow::Error::new(other).context("cannot set up the exchange")),
    })?;
    if let Some(path) = &args.faults {
        exchange
            .set_faults(read_fault_plan(path)?)
            .map_err(|err| Failure::Usage(format!("{}: {err}", path.display())))?;
    }
    if let Some(durable) = &mut durable {
        durable
            .restore_into(&mut exchange)
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
        Some(demo_account(&mut exchange))
    } else {
        None
    };
    let restored_log = restored.then(|| exchange.order_log().len());
    let started_at_ms = exchange.now_ms();
    // Asking for the prices also generates the price history, before the first client waits on it.
    let symbols: Vec<String> = exchange
        .listings()
        .map(|listing| listing.spec.symbol.clone())
        .collect();
    let prices: Vec<String> = symbols
        .iter()
        .filter_map(|symbol| Some(format!("{symbol} {}", exchange.last_price(symbol)?)))
        .collect();

    let journal = durable
        .as_ref()
        .map(|durable| durable.journal_path().to_owned());
    let options = ServeOptions {
        durable,
        admin_token: admin_token.token(),
        limits: serve::Limits::default()
            .with_max_connections(crate::process_limits::connection_cap()),
    };
    let server = sim::start_with(exchange, args.listen, options)
        .await
        .map_err(|err| match err {
            StartError::NotLoopback(_) => Failure::Usage(format!(
                "{err}: --open-admin serves loopback only (leave it out for a token)"
            )),
            StartError::Bind { .. } | StartError::State(_) => Failure::Runtime(err.into()),
        })?;
    let address = server.local_addr();
    println!("spotbot sim: Binance-compatible spot exchange at http://{address}");
    println!(
        "  prices:  {} (seed {seed}, {clock_words})",
        prices.join(", "),
    );
    if args.manual_clock {
        println!(
            "  clock:   stopped at {} ({} ms)",
            market::format_utc_ms(started_at_ms),
            started_at_ms
        );
    }
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
    if let (Some(path), Some(journal)) = (&args.state, &journal) {
        match restored_log {
            Some(orders) => println!(
                "  state: {} (restored, {orders} orders in the log)",
                path.display()
            ),
            None => println!("  state: {} (new)", path.display()),
        }
        println!(
            "  journal: {} (every change is on disk before it is answered)",
            journal.display()
        );
    }
    match &admin_token {
        AdminTokenChoice::Open => println!(
            "  admin API: http://{address}{ADMIN_PREFIX}/ (no token: any process on this machine may use it; see --help)"
        ),
        AdminTokenChoice::Given(_) => println!(
            "  admin API: http://{address}{ADMIN_PREFIX}/ (clients send Authorization: Bearer <the admin token>)"
        ),
        AdminTokenChoice::Made { text, .. } => {
            println!(
                "  admin API: http://{address}{ADMIN_PREFIX}/ (clients send Authorization: Bearer <the admin token>)"
            );
            println!("  admin token: {text} (spotbot processes: SPOTBOT_PAPER_ADMIN_TOKEN)");
        }
    }
    if let Some(path) = &args.faults {
        println!("  faults: from {}", path.display());
    }
    for line in &replay_lines {
        println!("{line}");
    }
    println!("Try: curl 'http://{address}/api/v3/ticker/price?symbol=BTCUSDT'");
    println!("Press Ctrl-C to stop.");

    let journal_failure = tokio::select! {
        () = interrupted => None,
        failure = server.journal_failed() => Some(failure),
    };
    let stopped = server
        .stop()
        .await
        .context("the server failed while stopping");
    if let Some(failure) = journal_failure {
        return Err(Failure::Runtime(anyhow::Error::new(failure)));
    }
    stopped?;
    if let (Some(path), Some(journal)) = (&args.state, &journal) {
        println!(
            "spotbot sim: state saved to {} and {}",
            path.display(),
            journal.display()
        );
    }
    println!("spotbot sim: stopped");
    Ok(())
}

/// Where a manual clock starts: where a restarted exchange's market time stopped, else the real
/// now rounded down to a whole candle of the longest replay (a whole minute without one), so
/// that a replay's candles open on the clock's steps.
fn manual_clock_start<'r>(
    saved_ms: Option<i64>,
    replays: impl Iterator<Item = &'r CandleReplay>,
) -> i64 {
    if let Some(saved_ms) = saved_ms {
        return saved_ms;
    }
    let candle_ms = replays.map(CandleReplay::candle_ms).max().unwrap_or(60_000);
    SystemClock::new().now_ms().div_euclid(candle_ms) * candle_ms
}

/// `--speed` / `--sim-speed`: a speed in [`SIM_SPEEDS`].
pub(crate) fn speed_flag(text: &str) -> Result<u32, String> {
    let (low, high) = (SIM_SPEEDS.start(), SIM_SPEEDS.end());
    text.parse()
        .ok()
        .filter(|speed| SIM_SPEEDS.contains(speed))
        .ok_or_else(|| format!("expected a whole number from {low} to {high}, not {text:?}"))
}

/// How the admin API is guarded.
enum AdminTokenChoice {
    /// No token, loopback only (`--open-admin`).
    Open,
    /// The operator's token (`--admin-token` or the environment), never printed.
    Given(AdminToken),
    /// A token made for this run, printed at start for the operator to hand on.
    Made {
        /// What clients send.
        text: String,
        /// Its check.
        token: AdminToken,
    },
}

impl AdminTokenChoice {
    fn token(&self) -> Option<AdminToken> {
        match self {
            AdminTokenChoice::Open => None,
            AdminTokenChoice::Given(token) | AdminTokenChoice::Made { token, .. } => {
                Some(token.clone())
            }
        }
    }
}

/// The admin token from `--admin-token` or the environment, or a new one; a bad one is a usage
/// error (that never shows the token).
fn admin_token(flag: Option<&str>) -> Result<AdminTokenChoice, Failure> {
    let (text, source) = match flag {
        Some(text) => (text.to_owned(), "--admin-token"),
        None => match std::env::var(ADMIN_TOKEN_ENV) {
            Ok(text) => (text, ADMIN_TOKEN_ENV),
            Err(_) => {
                let text = new_admin_token()?;
                let token = AdminToken::new(&text).map_err(|reason| {
                    Failure::Runtime(anyhow::anyhow!("a new admin token: {reason}"))
                })?;
                return Ok(AdminTokenChoice::Made { text, token });
            }
        },
    };
    AdminToken::new(&text)
        .map(AdminTokenChoice::Given)
        .map_err(|reason| Failure::Usage(format!("{source}: {reason}")))
}

/// 32 random bytes in hex: a new admin token.
pub(crate) fn new_admin_token() -> Result<String, Failure> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| Failure::Runtime(anyhow::anyhow!("no randomness for a token: {error}")))?;
    Ok(hex::encode(bytes))
}

/// Reads the durable state at `path` (the snapshot and its journal, replayed), printing what an
/// operator should know (a torn last record dropped) after `who`. A file that cannot be used is
/// a usage error naming it.
pub(crate) fn open_durable_state(path: &Path, who: &str) -> Result<DurableState, Failure> {
    let state = DurableState::open(path).map_err(|err| Failure::Usage(err.to_string()))?;
    for note in state.notes() {
        eprintln!("{who}: {note}");
    }
    Ok(state)
}

/// The demo account: the one the exchange's state names when it still exists with an HMAC
/// secret, otherwise a new one with 10,000 USDT and 0.5 BTC, named as the demo account so the
/// state keeps it. Returns its credentials and whether it was restored.
pub(crate) fn demo_account(exchange: &mut Exchange) -> (Credentials, bool) {
    if let Some(account) = exchange
        .demo_api_key()
        .and_then(|key| exchange.account(key))
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
    exchange.set_demo_api_key(Some(credentials.api_key.clone()));
    (credentials, false)
}

/// Reads a fault plan; an unreadable or malformed file is a usage error.
fn read_fault_plan(path: &std::path::Path) -> Result<FaultPlan, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| Failure::Usage(format!("cannot read {}: {err}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|err| Failure::Usage(format!("{}: not a fault plan: {err}", path.display())))
}
