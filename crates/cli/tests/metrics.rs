//! `/metrics` scraped during a real `spotbot run` (the demo bot trading on the built-in exchange
//! at 600x), its figures checked against the database: orders filled against the trades
//! recorded, the sampled gauges against the bots and positions, and the histograms present.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rust_decimal::prelude::ToPrimitive;

mod common;

use common::{Running, spotbot};

/// The samples of a Prometheus text exposition: `name{labels}` (as written) to value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(url: &str) -> BTreeMap<String, f64> {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    samples(&response.text().await.unwrap())
}

/// Scrapes until `ready` holds on the samples, at most `within`.
async fn scrape_until(
    url: &str,
    within: Duration,
    what: &str,
    ready: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + within;
    loop {
        let now = scrape(url).await;
        if ready(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {within:?}: {now:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

const FILLED: &str = "spotbot_orders_total{status=\"filled\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scraped_during_a_run_agree_with_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut spotbot_run = Running::start_with(dir.path(), &["--metrics", "127.0.0.1:0"]);
    let line = spotbot_run.wait_for("metrics at http://", Duration::from_secs(60));
    let url = line.split_whitespace().last().unwrap().to_owned();
    let api = spotbot_run.api_address();

    // A round trip of the demo bot: a BUY and a SELL filled.
    scrape_until(&url, Duration::from_secs(180), "round trip", |now| {
        now.get(FILLED).copied().unwrap_or(0.0) >= 2.0
    })
    .await;
    let paused = spotbot(dir.path())
        .args(["bot", "pause", "1"])
        .output()
        .unwrap();
    assert!(paused.status.success(), "{paused:?}");
    // A cycle in flight when it was paused finishes; none starts after.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let database = format!("sqlite://{}", dir.path().join("data/spotbot.db").display());
    let store = store::Store::connect(&database).await.unwrap();
    let trades = store.trades(&store::TradeFilter::default()).await.unwrap();
    let positions = store.positions(None).await.unwrap();
    let demo = positions
        .iter()
        .find(|p| p.bot_id == store::BotId(1))
        .unwrap();

    // Counters as they happened; gauges once the sampler (every 5 s) has seen the pause.
    let now = scrape_until(
        &url,
        Duration::from_secs(30),
        "sample of the pause",
        |now| now.get("spotbot_bots{status=\"paused\"}") == Some(&1.0),
    )
    .await;
    assert_eq!(
        now[FILLED],
        trades.len() as f64,
        "one filled order per trade row"
    );
    let cycles: f64 = now
        .iter()
        .filter(|(series, _)| series.starts_with("spotbot_cycles_total{"))
        .map(|(_, value)| value)
        .sum();
    assert!(cycles >= now[FILLED], "{cycles} cycles");
    assert!(now["spotbot_cycles_total{outcome=\"trade\"}"] >= 2.0);
    assert_eq!(now["spotbot_bots{status=\"running\"}"], 0.0);
    let open = positions.iter().filter(|p| !p.quantity.is_zero()).count();
    assert_eq!(now["spotbot_open_positions"], open as f64);
    assert_eq!(now["spotbot_orders_in_doubt"], 0.0);
    assert_eq!(now["spotbot_notifications_pending"], 0.0);
    // The IP's weight limit, as the built-in exchange's exchangeInfo gives it.
    let limit = now
        .iter()
        .find(|(series, _)| {
            series.starts_with("spotbot_exchange_weight_limit{")
                && series.contains("interval=\"1M\"")
        })
        .map(|(_, value)| *value);
    assert_eq!(limit, Some(6000.0), "{now:#?}");
    assert_eq!(
        now["spotbot_bot_realized_pnl{bot=\"1\"}"],
        demo.realized_pnl.to_f64().unwrap()
    );
    assert_eq!(
        now["spotbot_bot_position{bot=\"1\"}"],
        demo.quantity.to_f64().unwrap()
    );
    assert_eq!(
        now["spotbot_realized_pnl{symbol=\"BTCUSDT\"}"],
        demo.realized_pnl.to_f64().unwrap()
    );
    for histogram in [
        "spotbot_cycle_duration_seconds_count",
        "spotbot_decision_lag_seconds_count",
        "spotbot_order_round_trip_seconds_count",
        "spotbot_database_query_seconds_count",
    ] {
        assert!(
            now.get(histogram).is_some_and(|count| *count >= 1.0),
            "{histogram}: {now:#?}"
        );
    }
    assert_eq!(now["spotbot_order_round_trip_seconds_count"], now[FILLED]);
    assert!(
        now["spotbot_leases_held"] <= 1.0,
        "one bot, at most one lease"
    );

    // Every series the Grafana dashboard in the repository queries exists.
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/grafana/spotbot.json"),
    )
    .unwrap();
    let queried: std::collections::BTreeSet<&str> = dashboard
        .match_indices("spotbot_")
        .map(|(at, _)| {
            let rest = &dashboard[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest[..end].trim_end_matches("_bucket")
        })
        .filter(|name| name.len() > "spotbot_".len())
        .collect();
    assert!(queried.len() >= 8, "{queried:?}");
    // Counters of events this calm run never has: they appear with the first one.
    // The weight gauge comes from REST answers' headers: a run whose cycles are served by the
    // streams may make none while it is watched.
    let on_first_event = [
        "spotbot_exchange_retries_total",
        "spotbot_exchange_throttled_total",
        "spotbot_exchange_weight_used",
        "spotbot_lease_takeovers_total",
        "spotbot_notifications_total",
    ];
    for name in queried
        .into_iter()
        .filter(|name| !on_first_event.contains(name))
    {
        assert!(
            now.keys().any(|series| series.starts_with(name)),
            "the dashboard queries {name}, which /metrics does not serve"
        );
    }

    // Not on the API's address: the public one serves no figures.
    let public = reqwest::get(format!("http://{api}/metrics")).await.unwrap();
    assert_eq!(public.status(), 404);
    let (clean, _) = spotbot_run.stop("-INT");
    assert!(clean);
}
