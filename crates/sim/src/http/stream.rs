//! The kline WebSocket stream `/ws/<symbol>@kline_<interval>` (reference § 8), with Binance's
//! payload: `{"e":"kline","E":..,"s":..,"k":{"t","T","s","i","f","L","o","c","h","l","v","n","x",
//! "q","V","Q","B"}}`.
//!
//! Each connection polls the exchange every [`POLL_INTERVAL`] of real time and pushes the open
//! kline whenever the server's time has entered a new second since the last push (so once a
//! second of server time at speed 1, and on every poll when the market runs faster). When klines
//! closed since the last push, each is pushed first with its final values and `x: true`. The
//! klines are the ones `GET /api/v3/klines` returns, and their close is the price orders fill
//! around. `f`/`L` number the simulated market's trades from the symbol's first one (`-1` for a
//! kline without trades).

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use market::Interval;

use crate::calendar::kline_open;
use crate::exchange::Exchange;
use crate::http::ExchangeHandle;
use crate::klines::{Kline, KlineQuery, MAX_LIMIT};
use crate::wire::decimal8;

/// How often a connection looks at the exchange, in real time.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A parsed stream name: `btcusdt@kline_1m`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KlineStream {
    symbol: String,
    interval: Interval,
}

impl KlineStream {
    /// Reads `<symbol>@kline_<interval>`, the symbol in lower case as Binance names streams.
    fn parse(name: &str) -> Result<KlineStream, String> {
        let (symbol, interval) = name.split_once("@kline_").ok_or_else(|| {
            format!("unknown stream {name:?}: expected <symbol>@kline_<interval>")
        })?;
        if symbol.is_empty()
            || symbol
                .bytes()
                .any(|byte| !byte.is_ascii_lowercase() && !byte.is_ascii_digit())
        {
            return Err(format!(
                "stream {name:?}: the symbol must be in lower case, e.g. btcusdt"
            ));
        }
        let interval = interval
            .parse::<Interval>()
            .map_err(|_| format!("stream {name:?}: unknown interval {interval:?}"))?;
        Ok(KlineStream {
            symbol: symbol.to_ascii_uppercase(),
            interval,
        })
    }
}

/// `GET /ws/{stream}`: upgrades to a WebSocket that pushes the stream's klines.
pub async fn kline_stream(
    State(exchange): State<ExchangeHandle>,
    Path(name): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let stream = match KlineStream::parse(&name) {
        Ok(stream) => stream,
        Err(reason) => return (StatusCode::BAD_REQUEST, reason).into_response(),
    };
    if exchange.lock().listing(&stream.symbol).is_none() {
        let reason = format!("stream {name:?}: no symbol {} is listed", stream.symbol);
        return (StatusCode::BAD_REQUEST, reason).into_response();
    }
    upgrade.on_upgrade(move |socket| push_klines(exchange, stream, socket))
}

/// What a connection remembers between polls.
#[derive(Debug, Default)]
struct Pushed {
    /// The server second of the last push.
    second: Option<i64>,
    /// The open time of the kline last pushed as open.
    open_ms: Option<i64>,
}

/// Pushes events until the client goes away or the server stops.
async fn push_klines(exchange: ExchangeHandle, stream: KlineStream, mut socket: WebSocket) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pushed = Pushed::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let events = due_events(&mut exchange.lock(), &stream, &mut pushed);
                for event in events {
                    if socket.send(Message::Text(event.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
            received = socket.recv() => match received {
                // Pings are answered by the WebSocket layer; anything else a client sends is ignored.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The events to push now: the klines closed since the last push (final, `x: true`), then the
/// open one, once per server second.
fn due_events(exchange: &mut Exchange, stream: &KlineStream, pushed: &mut Pushed) -> Vec<Value> {
    let now_ms = exchange.now_ms();
    let second = now_ms.div_euclid(1_000);
    if pushed.second == Some(second) {
        return Vec::new();
    }
    pushed.second = Some(second);
    let open_ms = kline_open(stream.interval, now_ms);
    let query = |start_ms, end_ms, limit| KlineQuery {
        interval: stream.interval,
        start_ms: Some(start_ms),
        end_ms,
        limit,
    };
    let mut klines: Vec<(Kline, bool)> = Vec::new();
    if let Some(previous_open_ms) = pushed.open_ms.filter(|previous| *previous < open_ms) {
        let closed = exchange
            .klines(
                &stream.symbol,
                query(previous_open_ms, Some(open_ms - 1), MAX_LIMIT),
            )
            .unwrap_or_default();
        klines.extend(closed.into_iter().map(|kline| (kline, true)));
    }
    let open = exchange
        .klines(&stream.symbol, query(open_ms, None, 1))
        .unwrap_or_default();
    klines.extend(open.into_iter().map(|kline| (kline, false)));
    pushed.open_ms = Some(open_ms);
    klines
        .into_iter()
        .map(|(kline, closed)| {
            let first_trade_id = exchange
                .trades_before(&stream.symbol, kline.open_time_ms)
                .map_or(-1, |count| {
                    i64::try_from(count).unwrap_or(i64::MAX).saturating_add(1)
                });
            kline_event(stream, &kline, closed, now_ms, first_trade_id)
        })
        .collect()
}

/// One kline event in Binance's shape.
fn kline_event(
    stream: &KlineStream,
    kline: &Kline,
    closed: bool,
    event_time_ms: i64,
    first_trade_id: i64,
) -> Value {
    let trades = i64::try_from(kline.trades).unwrap_or(i64::MAX);
    let (first, last) = if trades == 0 {
        (-1, -1)
    } else {
        (first_trade_id, first_trade_id.saturating_add(trades - 1))
    };
    json!({
        "e": "kline",
        "E": event_time_ms,
        "s": stream.symbol,
        "k": {
            "t": kline.open_time_ms,
            "T": kline.close_time_ms,
            "s": stream.symbol,
            "i": stream.interval.as_str(),
            "f": first,
            "L": last,
            "o": decimal8(kline.open),
            "c": decimal8(kline.close),
            "h": decimal8(kline.high),
            "l": decimal8(kline.low),
            "v": decimal8(kline.volume),
            "n": kline.trades,
            "x": closed,
            "q": decimal8(kline.quote_volume),
            "V": decimal8(kline.taker_buy_volume),
            "Q": decimal8(kline.taker_buy_quote_volume),
            "B": "0",
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_parsed_like_binances() {
        assert_eq!(
            KlineStream::parse("btcusdt@kline_1m"),
            Ok(KlineStream {
                symbol: "BTCUSDT".into(),
                interval: Interval::M1
            })
        );
        assert_eq!(
            KlineStream::parse("ethusdt@kline_1M").map(|stream| stream.interval),
            Ok(Interval::Mo1)
        );
        for bad in [
            "BTCUSDT@kline_1m",
            "btcusdt@trade",
            "btcusdt@kline_7m",
            "@kline_1m",
            "btcusdt",
        ] {
            assert!(KlineStream::parse(bad).is_err(), "{bad}");
        }
    }
}
