//! Load benchmark of the simulator (issue 4, point 10): how many signed MARKET orders per second
//! it executes over loopback HTTP.
//!
//! It starts the server in-process on `127.0.0.1:0` with the rate limits raised out of reach
//! (Binance's production limits would refuse the load within seconds, as they should), funds one
//! HMAC account per connection, and drives it with concurrent keep-alive `reqwest` clients, each
//! sending `POST /api/v3/order` (BTCUSDT, alternately BUY and SELL 0.001, signed, FULL response)
//! one after the other. It stops after `--orders` orders or `--seconds` seconds, whichever comes
//! first, and prints the orders per second and the latency percentiles. Any answer other than 200
//! counts as an error and makes the run fail.
//!
//! With `--state FILE` (a file that does not exist yet) the exchange is durable: every order is
//! in the journal `FILE.journal`, flushed to disk, before it is answered, and the journal is
//! compacted as in production; the run then also prints how the writer grouped its flushes.
//!
//! ```sh
//! cargo run --release -p sim --example order_load -- --connections 32 --orders 300000 --seconds 30
//! cargo run --release -p sim --example order_load -- --connections 32 --orders 300000 --seconds 30 --state /tmp/load/state.json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;
use sim::{
    Account, Credentials, DurableState, Exchange, ExchangeConfig, STANDARD_COMMISSION_RATE,
    ServeOptions, SystemClock, sign,
};

/// What to run.
struct Options {
    connections: usize,
    orders: u64,
    seconds: u64,
    /// The durable exchange's state file, when journaling.
    state: Option<PathBuf>,
}

/// Reads `--connections N --orders N --seconds N --state FILE`.
fn options() -> Result<Options, String> {
    let mut options = Options {
        connections: 32,
        orders: 300_000,
        seconds: 30,
        state: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--state" {
            let path = PathBuf::from(value);
            if path.exists() {
                return Err(format!(
                    "--state {}: the file exists; give a new one (the benchmark starts from an empty exchange)",
                    path.display()
                ));
            }
            options.state = Some(path);
            continue;
        }
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--connections" => options.connections = usize::try_from(number.max(1)).unwrap_or(1),
            "--orders" => options.orders = number,
            "--seconds" => options.seconds = number,
            other => {
                return Err(format!(
                    "unknown option {other} (use --connections, --orders, --seconds, --state)"
                ));
            }
        }
    }
    Ok(options)
}

/// What one client saw.
#[derive(Default)]
struct ClientReport {
    latencies_us: Vec<u32>,
    errors: Vec<String>,
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("order_load: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("order_load: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("order_load: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    let config = ExchangeConfig {
        history_ms: 3_600_000,
        ..ExchangeConfig::default()
    }
    .with_unreachable_rate_limits();
    let mut exchange =
        Exchange::new(config, Arc::new(SystemClock::new())).map_err(|err| err.to_string())?;
    let accounts: Vec<Credentials> = (0..options.connections)
        .map(|_| Credentials::generate())
        .collect();
    for credentials in &accounts {
        exchange.add_account(Account::new(
            credentials.clone(),
            [
                ("USDT".to_owned(), Decimal::from(1_000_000_000)),
                ("BTC".to_owned(), Decimal::from(1_000_000)),
            ],
            STANDARD_COMMISSION_RATE,
        ));
    }
    let durable = match &options.state {
        Some(path) => Some(DurableState::open(path).map_err(|err| err.to_string())?),
        None => None,
    };
    let serve = ServeOptions {
        durable,
        ..ServeOptions::default()
    };
    let listen = "127.0.0.1:0".parse().map_err(|_| "address")?;
    let server = sim::start_with(exchange, listen, serve)
        .await
        .map_err(|err| err.to_string())?;
    let url = format!("http://{}/api/v3/order", server.local_addr());
    println!(
        "order_load: {} connections, at most {} orders or {} s, server at {}, {}",
        options.connections,
        options.orders,
        options.seconds,
        server.local_addr(),
        match &options.state {
            Some(path) => format!("journal {}.journal", path.display()),
            None => "no journal".to_owned(),
        }
    );

    let issued = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let clients: Vec<_> = accounts
        .into_iter()
        .map(|credentials| {
            let issued = issued.clone();
            let url = url.clone();
            let limit = options.orders;
            tokio::spawn(async move { drive(credentials, url, issued, limit, deadline).await })
        })
        .collect();
    let mut report = ClientReport::default();
    for client in clients {
        let done = client.await.map_err(|err| err.to_string())?;
        report.latencies_us.extend(done.latencies_us);
        report.errors.extend(done.errors);
    }
    let elapsed = started.elapsed();
    let executed = server.exchange().lock().order_log().len();
    let journal = server.journal_stats();
    server.stop().await.map_err(|err| err.to_string())?;

    let mut latencies = report.latencies_us;
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).copied().unwrap_or(0)
    };
    println!(
        "order_load: {} orders answered in {:.2} s, {} executed (order log): {:.0} orders/s",
        latencies.len(),
        elapsed.as_secs_f64(),
        executed,
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "order_load: latency µs p50 {} p90 {} p99 {} p99.9 {} max {}",
        percentile(0.5),
        percentile(0.9),
        percentile(0.99),
        percentile(0.999),
        latencies.last().copied().unwrap_or(0)
    );
    if let Some(journal) = journal {
        let commits = journal.commits.max(1);
        println!(
            "order_load: journal {} records in {} flushes to disk ({:.1} records per flush), fdatasync mean {} µs, slowest {} µs",
            journal.records,
            journal.commits,
            journal.records as f64 / commits as f64,
            journal.sync_time.as_micros() / u128::from(commits),
            journal.slowest_sync.as_micros()
        );
    }
    if report.errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} failed requests; first: {}",
            report.errors.len(),
            report.errors[0]
        ))
    }
}

/// One client: sends orders one after the other on its keep-alive connection until `limit`
/// orders were issued by all clients together or the deadline passed.
async fn drive(
    credentials: Credentials,
    url: String,
    issued: Arc<AtomicU64>,
    limit: u64,
    deadline: Instant,
) -> ClientReport {
    let mut report = ClientReport::default();
    let client = match reqwest::Client::builder().pool_max_idle_per_host(1).build() {
        Ok(client) => client,
        Err(err) => {
            report.errors.push(err.to_string());
            return report;
        }
    };
    let mut buy = true;
    while issued.fetch_add(1, Ordering::Relaxed) < limit && Instant::now() < deadline {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |now| now.as_millis());
        let side = if buy { "BUY" } else { "SELL" };
        buy = !buy;
        let query =
            format!("symbol=BTCUSDT&side={side}&type=MARKET&quantity=0.001&timestamp={timestamp}");
        let signature = sign(&credentials.secret, &query);
        let sent = Instant::now();
        let outcome = client
            .post(format!("{url}?{query}&signature={signature}"))
            .header("X-MBX-APIKEY", &credentials.api_key)
            .send()
            .await;
        let outcome = match outcome {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) if status.is_success() => Ok(()),
                    Ok(body) => Err(format!("{status}: {}", String::from_utf8_lossy(&body))),
                    Err(err) => Err(err.to_string()),
                }
            }
            Err(err) => Err(err.to_string()),
        };
        let latency_us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
        match outcome {
            Ok(()) => report.latencies_us.push(latency_us),
            Err(error) => report.errors.push(error),
        }
    }
    report
}
