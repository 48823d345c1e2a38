//! `GET /metrics` in Prometheus' text format, on an address of its own (`--metrics ADDR`,
//! `[metrics] listen`): a scraper reaches it without any user's token, and it is never on the
//! public API's address. Off unless asked for.
//!
//! The engine's series (cycles, their duration and lag, orders by fate and their round trip,
//! leases and takeovers: see `engine`'s `telemetry` module), the exchange client's (`binance`'s)
//! and the notifier's (`notify`'s: deliveries by outcome, their time) are recorded as they happen; this module adds what
//! the database knows, sampled every [`SAMPLE_EVERY`]:
//!
//! | series | kind | what |
//! |---|---|---|
//! | `spotbot_bots{status}` | gauge | bots by status (`running`, `paused`, `error`, `stopped`) |
//! | `spotbot_open_positions` | gauge | bots holding a position |
//! | `spotbot_orders_in_doubt` | gauge | orders whose fate reconciliation has still to learn |
//! | `spotbot_notifications_pending` | gauge | users' notifications queued and not yet delivered (a receiver down keeps them here, retried) |
//! | `spotbot_realized_pnl{symbol}` | gauge | realised PnL of every bot of a symbol, in its quote asset |
//! | `spotbot_bot_realized_pnl{bot}`, `spotbot_bot_position{bot}` | gauge | per bot, only while there are at most `[metrics] per_bot_max` bots (default 100), so that the number of series stays bounded |
//! | `spotbot_database_query_seconds` | histogram | the sampler's queries: the database's latency as a client sees it |
//!
//! Uses `metrics-exporter-prometheus` for the format and the recorder; sums of decimals are
//! converted to `f64` only here, for display, never for money.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::http::header;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rust_decimal::prelude::ToPrimitive;
use store::Store;
use tokio::net::TcpListener;
use tracing::warn;

use crate::Failure;

/// How often the database's figures are read again.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Histogram buckets, in seconds: from a fast database read to a slow exchange.
const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Per-bot series are published while there are at most this many bots (default).
pub const PER_BOT_MAX: usize = 100;

/// Installs the recorder and serves `/metrics` on `listen`; prints where. The database's
/// figures are sampled from `store` in the background.
pub async fn start(
    name: &str,
    listen: SocketAddr,
    store: Store,
    per_bot_max: usize,
) -> Result<(), Failure> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .context("cannot set up the metrics recorder")?;
    let listener = TcpListener::bind(listen).await.map_err(|error| {
        Failure::Usage(format!(
            "--metrics {listen}: cannot listen there ({error}); pick a free address"
        ))
    })?;
    let address = listener
        .local_addr()
        .context("cannot read the metrics address")?;
    let render = handle.clone();
    let router = Router::new().route(
        "/metrics",
        get(move || {
            let handle = render.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    );
    serve::spawn_probe_endpoint(listener, router);
    tokio::spawn(sample_forever(store, handle, per_bot_max));
    println!("spotbot {name}: metrics at http://{address}/metrics");
    Ok(())
}

/// Reads the database's figures into gauges every [`SAMPLE_EVERY`], and keeps the recorder's
/// histograms drained.
async fn sample_forever(store: Store, handle: PrometheusHandle, per_bot_max: usize) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    loop {
        ticks.tick().await;
        handle.run_upkeep();
        if let Err(error) = sample(&store, per_bot_max).await {
            warn!(%error, "cannot read the figures for /metrics");
        }
    }
}

/// One reading of the database into the gauges.
async fn sample(store: &Store, per_bot_max: usize) -> Result<(), store::StoreError> {
    let timed = Instant::now();
    let bots = store.bots(None).await?;
    let positions = store.positions(None).await?;
    let in_doubt = store.unresolved_orders(None).await?;
    let notifications_pending = store.pending_deliveries().await?;
    let seconds = timed.elapsed().as_secs_f64() / 4.0;
    metrics::histogram!("spotbot_database_query_seconds").record(seconds);

    let mut by_status: BTreeMap<&'static str, usize> = ["running", "paused", "error", "stopped"]
        .into_iter()
        .map(|status| (status, 0))
        .collect();
    for bot in &bots {
        *by_status.entry(bot.status.as_str()).or_default() += 1;
    }
    for (status, count) in by_status {
        metrics::gauge!("spotbot_bots", "status" => status).set(count as f64);
    }
    metrics::gauge!("spotbot_orders_in_doubt").set(in_doubt.len() as f64);
    metrics::gauge!("spotbot_notifications_pending").set(notifications_pending as f64);
    let held = positions.iter().filter(|p| !p.quantity.is_zero()).count();
    metrics::gauge!("spotbot_open_positions").set(held as f64);

    let symbol_of: BTreeMap<_, _> = bots
        .iter()
        .map(|bot| (bot.id, bot.symbol.clone()))
        .collect();
    let mut pnl_by_symbol: BTreeMap<String, rust_decimal::Decimal> = BTreeMap::new();
    for position in &positions {
        if let Some(symbol) = symbol_of.get(&position.bot_id) {
            *pnl_by_symbol.entry(symbol.clone()).or_default() += position.realized_pnl;
        }
    }
    for (symbol, pnl) in pnl_by_symbol {
        metrics::gauge!("spotbot_realized_pnl", "symbol" => symbol)
            .set(pnl.to_f64().unwrap_or(0.0));
    }
    if bots.len() <= per_bot_max {
        for position in &positions {
            let bot = position.bot_id.to_string();
            metrics::gauge!("spotbot_bot_realized_pnl", "bot" => bot.clone())
                .set(position.realized_pnl.to_f64().unwrap_or(0.0));
            metrics::gauge!("spotbot_bot_position", "bot" => bot)
                .set(position.quantity.to_f64().unwrap_or(0.0));
        }
    }
    Ok(())
}
