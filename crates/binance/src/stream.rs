//! Market streams over one combined-stream connection (`<stream_url>/stream`, Binance's and the
//! simulator's path): [`Client::market_stream`] starts a background task that keeps the
//! connection open, subscribes the streams asked for with live `SUBSCRIBE` requests, parses each
//! `{"stream", "data"}` message into a [`MarketEvent`] and hands it to the [`MarketStream`].
//!
//! - One connection carries at most [`MAX_STREAMS_PER_CONNECTION`] streams (Binance's limit);
//!   a caller needing more opens more streams.
//! - `SUBSCRIBE` requests are paced to at most [`MAX_REQUESTS_PER_SECOND`] a second (Binance
//!   closes a connection that sends more than 5 messages a second), each carrying every stream
//!   asked for since the last one.
//! - Every confirmed `SUBSCRIBE` is reported as [`MarketEvent::Subscribed`]: from then on, the
//!   exchange pushes those streams' events. A reader that needs continuity (candles) fills
//!   what it missed before that moment by REST.
//! - When the connection fails, is closed, or stays silent for [`SILENCE_LIMIT`] (Binance
//!   pings every 20 seconds), [`MarketEvent::Disconnected`] is reported and the task reconnects
//!   after a backoff with full jitter (the client's [`RetryPolicy`](crate::RetryPolicy)),
//!   subscribing every stream again, until the [`MarketStream`] is dropped.
//!
//! Messages that are neither a known event nor an answer to our requests are skipped; an
//! answer refusing a `SUBSCRIBE` is logged and the connection started over.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use market::{Candle, Interval, Symbol};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

use crate::client::Client;
use crate::wire::Fields;

/// Binance's limit of streams on one connection.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;
/// `SUBSCRIBE` requests sent a second at most, below Binance's 5 incoming messages a second
/// (the pongs the WebSocket layer sends count too).
pub const MAX_REQUESTS_PER_SECOND: u32 = 4;
/// A connection that receives nothing (not even a ping) this long is taken for dead.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// How many parsed events wait for the reader before the connection task waits too.
const CHANNEL_CAPACITY: usize = 4096;

/// A market stream, named as Binance names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamName {
    /// `<symbol>@kline_<interval>`: the candle so far, and the final one when it closes.
    Kline {
        /// The symbol.
        symbol: Symbol,
        /// The candles' interval.
        interval: Interval,
    },
    /// `<symbol>@bookTicker`: the best bid and ask, whenever either changes.
    BookTicker(Symbol),
}

impl StreamName {
    /// The name in a `SUBSCRIBE` request (`btcusdt@kline_1m`).
    pub fn wire_name(&self) -> String {
        match self {
            StreamName::Kline { symbol, interval } => format!(
                "{}@kline_{}",
                symbol.as_str().to_ascii_lowercase(),
                interval.as_str()
            ),
            StreamName::BookTicker(symbol) => {
                format!("{}@bookTicker", symbol.as_str().to_ascii_lowercase())
            }
        }
    }
}

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

/// The best bid and ask of a symbol (a `bookTicker` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookTickerEvent {
    /// The symbol, as the exchange spells it.
    pub symbol: String,
    /// The book's update id (`u`); a higher one is newer.
    pub update_id: u64,
    /// The best bid price.
    pub bid: Decimal,
    /// The quantity at the best bid.
    pub bid_quantity: Decimal,
    /// The best ask price.
    pub ask: Decimal,
    /// The quantity at the best ask.
    pub ask_quantity: Decimal,
}

/// What a [`MarketStream`] reports.
#[derive(Debug, Clone, PartialEq)]
pub enum MarketEvent {
    /// A kline update.
    Kline(KlineEvent),
    /// A best bid and ask.
    BookTicker(BookTickerEvent),
    /// The exchange confirmed these streams on the current connection: their events flow from
    /// now on.
    Subscribed(Vec<StreamName>),
    /// The connection was lost; every stream is subscribed again on the next one. Events in
    /// between are not replayed.
    Disconnected,
}

/// Why a stream was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The connection carries [`MAX_STREAMS_PER_CONNECTION`] streams already.
    #[error(
        "this connection carries {MAX_STREAMS_PER_CONNECTION} streams already (Binance's limit): open another"
    )]
    Full,
}

/// The receiving end of [`Client::market_stream`]. Dropping it closes the connection and ends
/// the background task.
#[derive(Debug)]
pub struct MarketStream {
    requests: mpsc::UnboundedSender<StreamName>,
    events: mpsc::Receiver<MarketEvent>,
    subscribed: HashSet<StreamName>,
    task: JoinHandle<()>,
}

impl MarketStream {
    /// Adds `stream` to the connection (now, or on the next connection when it is down); a
    /// stream added before is ignored.
    pub fn subscribe(&mut self, stream: StreamName) -> Result<(), SubscribeError> {
        if self.subscribed.contains(&stream) {
            return Ok(());
        }
        if self.subscribed.len() >= MAX_STREAMS_PER_CONNECTION {
            return Err(SubscribeError::Full);
        }
        self.subscribed.insert(stream.clone());
        // The task ends only when this stream is dropped.
        let _ = self.requests.send(stream);
        Ok(())
    }

    /// How many streams the connection carries (or will, once connected).
    pub fn len(&self) -> usize {
        self.subscribed.len()
    }

    /// Whether no stream was added yet.
    pub fn is_empty(&self) -> bool {
        self.subscribed.is_empty()
    }

    /// The next event; waits across reconnections. `None` only if the background task ended,
    /// which it does not do on its own.
    pub async fn next(&mut self) -> Option<MarketEvent> {
        self.events.recv().await
    }
}

impl Drop for MarketStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// A combined-stream connection to [`stream_url`](crate::ClientConfig::stream_url)
    /// carrying the streams given to [`MarketStream::subscribe`], reconnecting with backoff
    /// whenever it is lost. Must be called inside a Tokio runtime.
    pub fn market_stream(&self) -> MarketStream {
        let (requests, requested) = mpsc::unbounded_channel();
        let (sender, events) = mpsc::channel(CHANNEL_CAPACITY);
        let url = format!("{}/stream", self.config().stream_url);
        let task = tokio::spawn(run_connections(self.clone(), url, requested, sender));
        MarketStream {
            requests,
            events,
            subscribed: HashSet::new(),
            task,
        }
    }
}

/// The streams wanted, in the order asked, and the connection's request ids.
struct Wanted {
    streams: Vec<StreamName>,
    requested: mpsc::UnboundedReceiver<StreamName>,
}

impl Wanted {
    /// Takes every stream asked for since the last call; `None` once the [`MarketStream`] is
    /// gone.
    fn drain(&mut self) -> Option<Vec<StreamName>> {
        let mut added = Vec::new();
        loop {
            match self.requested.try_recv() {
                Ok(stream) => added.push(stream),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return None,
            }
        }
        self.streams.extend(added.iter().cloned());
        Some(added)
    }
}

/// Connects, forwards, and reconnects after a backoff until the receiver is gone.
async fn run_connections(
    client: Client,
    url: String,
    requested: mpsc::UnboundedReceiver<StreamName>,
    sender: mpsc::Sender<MarketEvent>,
) {
    let mut wanted = Wanted {
        streams: Vec::new(),
        requested,
    };
    let mut retry = 0u32;
    loop {
        // Nothing to carry yet: no connection until the first stream is asked for.
        if wanted.streams.is_empty() {
            match wanted.requested.recv().await {
                Some(stream) => wanted.streams.push(stream),
                None => return,
            }
        }
        let delivered = tokio::select! {
            delivered = connection(&client, &url, &mut wanted, &sender) => delivered,
            () = sender.closed() => return,
        };
        let Some(delivered) = delivered else {
            return;
        };
        if sender.send(MarketEvent::Disconnected).await.is_err() {
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

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One connection's requests in flight and its pacing.
struct Requests {
    next_id: u64,
    pending: HashMap<u64, Vec<StreamName>>,
    last_sent: Option<Instant>,
}

impl Requests {
    /// Sends `SUBSCRIBE` for `streams`, no sooner than the pacing allows.
    async fn subscribe(
        &mut self,
        socket: &mut Socket,
        streams: Vec<StreamName>,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        if streams.is_empty() {
            return Ok(());
        }
        let spacing = Duration::from_secs(1) / MAX_REQUESTS_PER_SECOND;
        if let Some(last) = self.last_sent {
            tokio::time::sleep_until(last + spacing).await;
        }
        self.next_id += 1;
        let names: Vec<String> = streams.iter().map(StreamName::wire_name).collect();
        let request = json!({"method": "SUBSCRIBE", "params": names, "id": self.next_id});
        socket
            .send(Message::Text(request.to_string().into()))
            .await?;
        self.last_sent = Some(Instant::now());
        self.pending.insert(self.next_id, streams);
        Ok(())
    }
}

/// One connection: subscribes every wanted stream, forwards events and subscribes new streams
/// until it fails. Returns whether it delivered any event, or `None` once the
/// [`MarketStream`] is gone.
async fn connection(
    client: &Client,
    url: &str,
    wanted: &mut Wanted,
    sender: &mpsc::Sender<MarketEvent>,
) -> Option<bool> {
    let connected = tokio::time::timeout(
        client.config().connect_timeout,
        tokio_tungstenite::connect_async(url),
    )
    .await;
    let Ok(Ok((mut socket, _))) = connected else {
        return Some(false);
    };
    let mut requests = Requests {
        next_id: 0,
        pending: HashMap::new(),
        last_sent: None,
    };
    wanted.drain()?;
    if requests
        .subscribe(&mut socket, wanted.streams.clone())
        .await
        .is_err()
    {
        return Some(false);
    }
    let mut delivered = false;
    loop {
        let message = tokio::select! {
            message = tokio::time::timeout(SILENCE_LIMIT, socket.next()) => message,
            added = wanted.requested.recv() => {
                let first = added?;
                wanted.streams.push(first.clone());
                let mut streams = vec![first];
                streams.extend(wanted.drain()?);
                if requests.subscribe(&mut socket, streams).await.is_err() {
                    return Some(delivered);
                }
                continue;
            }
        };
        let text = match message {
            Ok(Some(Ok(Message::Text(text)))) => text,
            // Pings are answered by the WebSocket layer on the next read.
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_)))) => continue,
            Ok(Some(Ok(Message::Frame(_)))) => continue,
            // Closed, failed, or silent too long.
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) | Err(_) => return Some(delivered),
        };
        let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let event = match answer_to(&value, &mut requests.pending) {
            Answer::Confirmed(streams) => MarketEvent::Subscribed(streams),
            Answer::Refused(error) => {
                warn!(%url, %error, "the exchange refused a stream subscription; reconnecting");
                return Some(delivered);
            }
            Answer::Unrelated => match parse_combined_event(&value) {
                Some(event) => event,
                None => {
                    debug!(message = %text.as_str(), "skipped a stream message");
                    continue;
                }
            },
        };
        if sender.send(event).await.is_err() {
            return None;
        }
        delivered = true;
    }
}

/// What a message says about our requests.
enum Answer {
    /// `{"result": null, "id": N}` for a pending `SUBSCRIBE`.
    Confirmed(Vec<StreamName>),
    /// `{"error": {..}, "id": N}`.
    Refused(String),
    /// An event, or an answer to nothing we asked.
    Unrelated,
}

fn answer_to(value: &Value, pending: &mut HashMap<u64, Vec<StreamName>>) -> Answer {
    let Some(id) = value.get("id").and_then(Value::as_u64) else {
        return Answer::Unrelated;
    };
    if let Some(error) = value.get("error") {
        pending.remove(&id);
        return Answer::Refused(error.to_string());
    }
    match pending.remove(&id) {
        Some(streams) if value.get("result").is_some_and(Value::is_null) => {
            Answer::Confirmed(streams)
        }
        Some(_) => Answer::Refused(format!("unexpected answer {value}")),
        None => Answer::Unrelated,
    }
}

/// A combined-stream message `{"stream": .., "data": {..}}` as an event; `None` for anything
/// else.
fn parse_combined_event(value: &Value) -> Option<MarketEvent> {
    let stream = value.get("stream")?.as_str()?;
    let data = value.get("data")?;
    if stream.ends_with("@bookTicker") {
        return parse_book_ticker(data).map(MarketEvent::BookTicker);
    }
    parse_kline(data).map(MarketEvent::Kline)
}

/// A `bookTicker` event `{"u", "s", "b", "B", "a", "A"}`.
fn parse_book_ticker(data: &Value) -> Option<BookTickerEvent> {
    let fields = Fields::new(data, "data").ok()?;
    Some(BookTickerEvent {
        symbol: fields.str("s").ok()?.to_owned(),
        update_id: data.get("u")?.as_u64()?,
        bid: fields.decimal("b").ok()?,
        bid_quantity: fields.decimal("B").ok()?,
        ask: fields.decimal("a").ok()?,
        ask_quantity: fields.decimal("A").ok()?,
    })
}

/// A kline event `{"e":"kline","E":..,"s":..,"k":{"t","T","i","o","h","l","c","v","x",..}}`;
/// `None` for anything else.
pub(crate) fn parse_kline(value: &Value) -> Option<KlineEvent> {
    let event = Fields::new(value, "").ok()?;
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

    fn parse_kline_text(text: &str) -> Option<KlineEvent> {
        parse_kline(&serde_json::from_str(text).ok()?)
    }

    #[test]
    fn reads_binance_kline_events_and_skips_the_rest() {
        let text = r#"{"e":"kline","E":1672515782136,"s":"BNBBTC","k":{"t":1672515780000,"T":1672515839999,"s":"BNBBTC","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}"#;
        let event = parse_kline_text(text).expect("a kline event");
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
            assert_eq!(parse_kline_text(other), None, "{other:?}");
        }
    }

    #[test]
    fn reads_the_combined_wrapper_of_klines_and_book_tickers() {
        // Binance's documented bookTicker payload, wrapped as a combined stream sends it.
        let book: Value = serde_json::from_str(
            r#"{"stream":"bnbusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}"#,
        )
        .unwrap();
        let Some(MarketEvent::BookTicker(event)) = parse_combined_event(&book) else {
            panic!("a book ticker");
        };
        assert_eq!(event.symbol, "BNBUSDT");
        assert_eq!(event.update_id, 400_900_217);
        assert_eq!(event.bid.to_string(), "25.35190000");
        assert_eq!(event.ask.to_string(), "25.36520000");
        assert_eq!(event.ask_quantity.to_string(), "40.66000000");
        let kline = json!({"stream": "bnbbtc@kline_1m", "data": serde_json::from_str::<Value>(
            r#"{"e":"kline","E":1,"s":"BNBBTC","k":{"t":0,"T":59999,"i":"1m","o":"1","c":"1","h":"1","l":"1","v":"0","x":true}}"#,
        ).unwrap()});
        assert!(matches!(
            parse_combined_event(&kline),
            Some(MarketEvent::Kline(KlineEvent { closed: true, .. }))
        ));
        assert_eq!(
            parse_combined_event(&json!({"result": null, "id": 1})),
            None
        );
    }

    #[test]
    fn answers_are_matched_to_pending_requests() {
        let symbol = Symbol::new("BTCUSDT").unwrap();
        let stream = StreamName::BookTicker(symbol);
        assert_eq!(stream.wire_name(), "btcusdt@bookTicker");
        let mut pending = HashMap::from([(7, vec![stream.clone()])]);
        assert!(matches!(
            answer_to(&json!({"result": null, "id": 8}), &mut pending),
            Answer::Unrelated
        ));
        assert!(matches!(
            answer_to(&json!({"result": null, "id": 7}), &mut pending),
            Answer::Confirmed(streams) if streams == [stream.clone()]
        ));
        pending.insert(9, vec![stream]);
        assert!(matches!(
            answer_to(
                &json!({"error": {"code": 2, "msg": "Invalid request"}, "id": 9}),
                &mut pending
            ),
            Answer::Refused(_)
        ));
        assert!(pending.is_empty());
    }
}
