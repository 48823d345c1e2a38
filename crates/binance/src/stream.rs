//! The kline WebSocket stream (`<stream_url>/ws/<symbol>@kline_<interval>`, Binance's and the
//! simulator's path): a background task keeps one connection open, parses each event into a
//! [`KlineEvent`] and hands it to the [`KlineStream`]; when the connection fails, drops or stays
//! silent for the client's read timeout, it reconnects after a backoff with full jitter (the
//! client's [`RetryPolicy`](crate::RetryPolicy) base and cap), without end, until the stream is
//! dropped.
//!
//! Events missed while disconnected are not replayed: a gap in `open_time_ms` between two events
//! tells the reader to fetch the missing closed candles with
//! [`Client::closed_klines`](crate::Client::closed_klines). Messages that are not kline events
//! (or are malformed) are skipped.

use futures_util::StreamExt;
use market::{Candle, Interval, Symbol};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::client::Client;
use crate::wire::Fields;

/// How many parsed events wait for the reader before the connection task waits too.
const CHANNEL_CAPACITY: usize = 1024;

/// One kline update: the candle so far (or final, when `closed`).
#[derive(Debug, Clone, PartialEq)]
pub struct KlineEvent {
    /// The symbol, as the exchange spells it (`BTCUSDT`).
    pub symbol: String,
    /// The candle's interval.
    pub interval: Interval,
    /// The event's time on the exchange, ms.
    pub event_time_ms: i64,
    /// The candle's close time, ms (its last millisecond).
    pub close_time_ms: i64,
    /// The candle: open time, OHLC and base volume.
    pub candle: Candle,
    /// Whether the candle is final (Binance's `x`).
    pub closed: bool,
}

/// The receiving end of [`Client::kline_stream`]. Dropping it closes the connection and ends the
/// background task.
#[derive(Debug)]
pub struct KlineStream {
    events: mpsc::Receiver<KlineEvent>,
    task: JoinHandle<()>,
}

impl KlineStream {
    /// The next event; waits across reconnections. `None` only if the background task ended,
    /// which it does not do on its own.
    pub async fn next(&mut self) -> Option<KlineEvent> {
        self.events.recv().await
    }
}

impl Drop for KlineStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Subscribes to `symbol`'s `interval` klines on
    /// [`stream_url`](crate::ClientConfig::stream_url), reconnecting with backoff whenever the
    /// connection is lost. Must be called inside a Tokio runtime.
    pub fn kline_stream(&self, symbol: &Symbol, interval: Interval) -> KlineStream {
        let url = format!(
            "{}/ws/{}@kline_{}",
            self.config().stream_url,
            symbol.as_str().to_ascii_lowercase(),
            interval.as_str()
        );
        let (sender, events) = mpsc::channel(CHANNEL_CAPACITY);
        let task = tokio::spawn(run_stream(self.clone(), url, sender));
        KlineStream { events, task }
    }
}

/// Connects, forwards, and reconnects after a backoff until the receiver is gone.
async fn run_stream(client: Client, url: String, sender: mpsc::Sender<KlineEvent>) {
    let mut retry = 0u32;
    loop {
        let delivered = tokio::select! {
            delivered = forward(&client, &url, &sender) => delivered,
            () = sender.closed() => return,
        };
        if sender.is_closed() {
            return;
        }
        if delivered {
            retry = 0;
        }
        let pause = client.config().retry.backoff(retry);
        retry = retry.saturating_add(1);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = sender.closed() => return,
        }
    }
}

/// One connection: forwards its kline events until it fails, closes or stays silent for the
/// read timeout. Returns whether it delivered any event.
async fn forward(client: &Client, url: &str, sender: &mpsc::Sender<KlineEvent>) -> bool {
    let config = client.config();
    let connected = tokio::time::timeout(
        config.connect_timeout,
        tokio_tungstenite::connect_async(url),
    )
    .await;
    let Ok(Ok((mut socket, _))) = connected else {
        return false;
    };
    let mut delivered = false;
    loop {
        let message = match tokio::time::timeout(config.read_timeout, socket.next()).await {
            Ok(Some(Ok(message))) => message,
            // Silent too long, failed, or closed.
            Err(_) | Ok(Some(Err(_)) | None) => return delivered,
        };
        match message {
            Message::Text(text) => {
                if let Some(event) = parse_kline_event(text.as_str()) {
                    if sender.send(event).await.is_err() {
                        return delivered;
                    }
                    delivered = true;
                }
            }
            Message::Close(_) => return delivered,
            // Pings are answered by the WebSocket layer on the next read.
            Message::Ping(_) | Message::Binary(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

/// A kline event `{"e":"kline","E":..,"s":..,"k":{"t","T","i","o","h","l","c","v","x",..}}`;
/// `None` for anything else.
pub(crate) fn parse_kline_event(text: &str) -> Option<KlineEvent> {
    let value: Value = serde_json::from_str(text).ok()?;
    let event = Fields::new(&value, "").ok()?;
    if event.str("e").ok()? != "kline" {
        return None;
    }
    let kline = Fields::new(value.get("k")?, "k").ok()?;
    let number = |name: &str| {
        kline
            .str(name)
            .ok()?
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
    };
    Some(KlineEvent {
        symbol: event.str("s").ok()?.to_owned(),
        interval: kline.str("i").ok()?.parse().ok()?,
        event_time_ms: event.i64("E").ok()?,
        close_time_ms: kline.i64("T").ok()?,
        candle: Candle {
            open_time_ms: kline.i64("t").ok()?,
            open: number("o")?,
            high: number("h")?,
            low: number("l")?,
            close: number("c")?,
            volume: number("v")?,
        },
        closed: value.get("k")?.get("x")?.as_bool()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_binance_kline_events_and_skips_the_rest() {
        let text = r#"{"e":"kline","E":1672515782136,"s":"BNBBTC","k":{"t":1672515780000,"T":1672515839999,"s":"BNBBTC","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}"#;
        let event = parse_kline_event(text).expect("a kline event");
        assert_eq!(event.symbol, "BNBBTC");
        assert_eq!(event.interval, Interval::M1);
        assert_eq!(event.event_time_ms, 1_672_515_782_136);
        assert_eq!(event.close_time_ms, 1_672_515_839_999);
        assert_eq!(event.candle.open_time_ms, 1_672_515_780_000);
        assert_eq!(
            (event.candle.open, event.candle.high, event.candle.low),
            (0.001, 0.0025, 0.0015)
        );
        assert_eq!((event.candle.close, event.candle.volume), (0.002, 1000.0));
        assert!(!event.closed);
        for other in [
            "",
            "{",
            "[]",
            r#"{"result":null,"id":1}"#,
            r#"{"e":"trade","E":1}"#,
            &text.replace(r#""x":false"#, r#""x":"no""#),
            &text.replace(r#""o":"0.0010""#, r#""o":"NaN""#),
            &text[..text.len() - 20],
        ] {
            assert_eq!(parse_kline_event(other), None, "{other:?}");
        }
    }
}
