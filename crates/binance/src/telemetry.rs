//! The exchange client's Prometheus series, through the `metrics` facade (recorded only in a
//! process that installs a recorder: `spotbot run`, `worker`, `api` with `--metrics`). The
//! `exchange` label is the venue's host and port: a handful per process.
//!
//! | series | kind | what |
//! |---|---|---|
//! | `spotbot_exchange_retries_total{exchange, reason}` | counter | requests sent again after a transient failure; `reason` is Binance's error code, the HTTP status, or `transport` |
//! | `spotbot_exchange_throttled_total{exchange, status}` | counter | answers 429 (too many requests) and 418 (the IP banned for a while) |
//! | `spotbot_exchange_weight_used{exchange, interval}` | gauge | the IP's request weight used in the current window, as the exchange last reported it (`X-MBX-USED-WEIGHT-1M` on REST, `rateLimits` on the WebSocket API) |
//! | `spotbot_exchange_weight_limit{exchange, interval}` | gauge | the IP's request-weight limit of that window, from `exchangeInfo.rateLimits`: `used / limit` is how close the process is to a 429 |

use crate::error::{BinanceError, ErrorKind};

/// The `exchange` label of `base_url`: its host and port.
fn exchange(base_url: &str) -> String {
    let rest = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// A request to `base_url` is sent again after `error`.
pub(crate) fn retried(base_url: &str, error: &BinanceError) {
    let reason = match (error.code(), error.kind()) {
        (Some(code), _) => code.to_string(),
        (None, ErrorKind::Exchange(refusal)) => refusal.status.to_string(),
        _ => "transport".to_owned(),
    };
    metrics::counter!("spotbot_exchange_retries_total", "exchange" => exchange(base_url), "reason" => reason)
        .increment(1);
}

/// The exchange at `base_url` answered with `status`, reporting `used_weight` per interval.
pub(crate) fn answered(base_url: &str, status: u16, used_weight: &[(String, u64)]) {
    if status == 429 || status == 418 {
        metrics::counter!("spotbot_exchange_throttled_total", "exchange" => exchange(base_url), "status" => status.to_string())
            .increment(1);
    }
    weight_used(base_url, used_weight);
}

/// The exchange at `base_url` reported the IP's weight used per interval.
pub(crate) fn weight_used(base_url: &str, used_weight: &[(String, u64)]) {
    for (interval, used) in used_weight {
        metrics::gauge!("spotbot_exchange_weight_used", "exchange" => exchange(base_url), "interval" => interval.clone())
            .set(*used as f64);
    }
}

/// The exchange at `base_url` limits the IP's request weight to `limits` (interval, limit).
pub(crate) fn weight_limits(base_url: &str, limits: &[(String, u64)]) {
    for (interval, limit) in limits {
        metrics::gauge!("spotbot_exchange_weight_limit", "exchange" => exchange(base_url), "interval" => interval.clone())
            .set(*limit as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExchangeRefusal, RequestKind};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    #[test]
    fn throttles_retries_and_the_weight_used_and_its_limit_are_recorded_per_exchange() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let refusal = |status, code| {
            BinanceError::new(
                "GET /api/v3/klines",
                RequestKind::Read,
                ErrorKind::Exchange(ExchangeRefusal {
                    status,
                    code,
                    message: String::new(),
                    retry_after: None,
                    used_weight: Vec::new(),
                }),
            )
        };
        metrics::with_local_recorder(&recorder, || {
            weight_limits("http://127.0.0.1:8765", &[("1M".to_owned(), 6_000)]);
            answered("http://127.0.0.1:8765", 429, &[("1M".to_owned(), 1_200)]);
            answered("http://127.0.0.1:8765", 200, &[("1M".to_owned(), 1_300)]);
            retried("http://127.0.0.1:8765", &refusal(429, Some(-1003)));
            retried("http://127.0.0.1:8765", &refusal(503, None));
        });
        let recorded: Vec<(String, Vec<String>, DebugValue)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                (key.name().to_owned(), labels, value)
            })
            .collect();
        let find = |name: &str, label: &str| {
            recorded
                .iter()
                .find(|(n, labels, _)| n == name && labels.iter().any(|l| l == label))
                .map(|(_, _, value)| value)
        };
        assert_eq!(
            find("spotbot_exchange_throttled_total", "status=429"),
            Some(&DebugValue::Counter(1))
        );
        assert_eq!(
            find("spotbot_exchange_retries_total", "reason=-1003"),
            Some(&DebugValue::Counter(1))
        );
        assert_eq!(
            find("spotbot_exchange_retries_total", "reason=503"),
            Some(&DebugValue::Counter(1))
        );
        assert_eq!(
            find("spotbot_exchange_weight_used", "exchange=127.0.0.1:8765"),
            Some(&DebugValue::Gauge(1_300.0.into()))
        );
        assert_eq!(
            find("spotbot_exchange_weight_limit", "interval=1M"),
            Some(&DebugValue::Gauge(6_000.0.into()))
        );
    }

    #[test]
    fn the_exchange_label_is_the_host_and_port() {
        assert_eq!(exchange("https://api.binance.com"), "api.binance.com");
        assert_eq!(exchange("http://127.0.0.1:8765/"), "127.0.0.1:8765");
        assert_eq!(exchange("127.0.0.1:8765"), "127.0.0.1:8765");
    }
}
