//! [`MarketData`]: the process's market-data hub. Per venue it keeps one kline subscription per
//! (symbol, interval) that any bot trades on, and one book-ticker subscription per symbol,
//! multiplexed over combined-stream connections ([`binance::MarketStream`], at most
//! [`binance::MAX_STREAMS_PER_CONNECTION`] streams each), so that:
//!
//! - every bot on a (symbol, interval) is fed from one [`CandleSeries`]: the closed candles are
//!   decoded once and copied to each bot, and a bot that holds costs the exchange nothing;
//! - a candle close pushed by the stream makes the bots on it due at once
//!   ([`CandleSeries::covered_through_ms`]), without waiting for a clock-based delay;
//! - after a dropped connection, as soon as the new one confirms a kline subscription, the
//!   series is completed by REST ([`CandleSeries::fill_gap`]), so no closed candle is missed;
//!   a closed candle arriving after a gap starts the same fill;
//! - an order is sized on the best price on its side of the book (the ask for a BUY, the bid
//!   for a SELL: what a MARKET order starts filling at) from the `bookTicker` stream; while a
//!   symbol's book is not live (not yet pushed, or its connection down) the caller falls back
//!   to one REST ticker call.
//!
//! Intervals whose candles do not align to the epoch (weeks start on Mondays, months vary) are
//! not streamed: their bots read REST, as before. Subscriptions are never dropped while the
//! process runs: a symbol's few streams cost nothing once no bot uses them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use accounts::Venues;
use binance::{
    BinanceError, Client, MAX_STREAMS_PER_CONNECTION, MarketEvent, MarketStream, StreamName,
};
use market::{Candle, Interval, Price, Side, Symbol};
use rust_decimal::Decimal;
use store::Mode;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::candle_series::CandleSeries;

/// The market data of every venue this process serves. Cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub struct MarketData {
    inner: Arc<MarketDataInner>,
}

#[derive(Debug)]
struct MarketDataInner {
    venues: Venues,
    /// Whether streams are used at all (see [`crate::EngineSettings::streams`]).
    enabled: bool,
    feeds: Mutex<HashMap<Mode, Arc<VenueFeed>>>,
}

impl MarketData {
    /// The hub of `venues`; connections open when the first series of a venue is asked for.
    /// When not `enabled`, nothing is streamed: every candle and price is asked of REST.
    pub fn new(venues: Venues, enabled: bool) -> MarketData {
        MarketData {
            inner: Arc::new(MarketDataInner {
                venues,
                enabled,
                feeds: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The streamed series of `symbol`'s `interval` candles on `mode`'s venue, subscribing it
    /// (and the symbol's book ticker) the first time; `None` for an interval that is not
    /// streamed, a venue not served, or when streams are off. Must be called inside a Tokio runtime.
    pub fn series(
        &self,
        mode: Mode,
        symbol: &Symbol,
        interval: Interval,
    ) -> Option<Arc<CandleSeries>> {
        let interval_ms = streamed_interval_ms(interval)?;
        self.feed(mode)?.series(symbol, interval, interval_ms)
    }

    /// The closed candles of `symbol`'s `interval` opening from `from_ms` on and closed by
    /// `now_ms`, oldest first: from the venue's series, or by REST through `client` for an
    /// interval that is not streamed.
    pub async fn closed_candles(
        &self,
        mode: Mode,
        client: &Client,
        symbol: &Symbol,
        interval: Interval,
        (from_ms, now_ms): (i64, i64),
    ) -> Result<Vec<Candle>, BinanceError> {
        match self.series(mode, symbol, interval) {
            Some(series) => series.closed_between(client, from_ms, now_ms).await,
            None => {
                client
                    .closed_klines(symbol, interval, from_ms, now_ms)
                    .await
            }
        }
    }

    /// The best price a MARKET order on `side` of `symbol` starts filling at (the ask for a
    /// BUY, the bid for a SELL), while its book ticker is live; `None` otherwise.
    pub fn best_price(&self, mode: Mode, symbol: &Symbol, side: Side) -> Option<Price> {
        let feed = self.feed(mode)?;
        let books = lock(&feed.books);
        let book = books.get(symbol)?;
        let price = match side {
            Side::Buy => book.ask,
            Side::Sell => book.bid,
        };
        Price::new(price).ok()
    }

    fn feed(&self, mode: Mode) -> Option<Arc<VenueFeed>> {
        if !self.inner.enabled {
            return None;
        }
        let mut feeds = lock(&self.inner.feeds);
        if let Some(feed) = feeds.get(&mode) {
            return Some(feed.clone());
        }
        let venue = self.inner.venues.get(mode)?;
        let feed = Arc::new(VenueFeed {
            mode,
            client: venue.client().clone(),
            series: Mutex::new(HashMap::new()),
            books: Arc::default(),
            connections: Mutex::new(Vec::new()),
        });
        feeds.insert(mode, feed.clone());
        Some(feed)
    }
}

/// The length of `interval` when its candles align to the epoch (everything up to a day).
fn streamed_interval_ms(interval: Interval) -> Option<i64> {
    match interval {
        Interval::W1 | Interval::Mo1 => None,
        other => i64::try_from(other.nominal_duration().as_millis()).ok(),
    }
}

/// The best bid and ask of a symbol, as last pushed.
#[derive(Debug, Clone, Copy)]
struct BookTop {
    update_id: u64,
    bid: Decimal,
    ask: Decimal,
}

type SeriesMap = HashMap<(Symbol, Interval), Arc<CandleSeries>>;

/// One venue's series, books and connections.
#[derive(Debug)]
struct VenueFeed {
    mode: Mode,
    /// The venue's shared client: REST fills and the streams' URL.
    client: Client,
    series: Mutex<SeriesMap>,
    books: Arc<Mutex<HashMap<Symbol, BookTop>>>,
    connections: Mutex<Vec<Connection>>,
}

/// One combined-stream connection, run by its own task.
#[derive(Debug)]
struct Connection {
    requests: mpsc::UnboundedSender<StreamName>,
    streams: usize,
    task: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VenueFeed {
    /// The series of `symbol`'s `interval`, subscribed the first time.
    fn series(
        self: &Arc<Self>,
        symbol: &Symbol,
        interval: Interval,
        interval_ms: i64,
    ) -> Option<Arc<CandleSeries>> {
        let key = (symbol.clone(), interval);
        let (series, new_symbol) = {
            let mut all = lock(&self.series);
            if let Some(series) = all.get(&key) {
                return Some(series.clone());
            }
            let new_symbol = !all.keys().any(|(known, _)| known == symbol);
            let series = Arc::new(CandleSeries::new(symbol.clone(), interval, interval_ms));
            all.insert(key, series.clone());
            (series, new_symbol)
        };
        self.subscribe(StreamName::Kline {
            symbol: symbol.clone(),
            interval,
        });
        if new_symbol {
            self.subscribe(StreamName::BookTicker(symbol.clone()));
        }
        Some(series)
    }

    /// Adds `stream` to the connection with room, opening one when all are full.
    fn subscribe(self: &Arc<Self>, stream: StreamName) {
        let mut connections = lock(&self.connections);
        if connections
            .last()
            .is_none_or(|last| last.streams >= MAX_STREAMS_PER_CONNECTION)
        {
            let (requests, requested) = mpsc::unbounded_channel();
            let task = tokio::spawn(run_connection(
                Arc::downgrade(self),
                self.client.market_stream(),
                requested,
            ));
            connections.push(Connection {
                requests,
                streams: 0,
                task,
            });
            info!(venue = %self.mode, connections = connections.len(), "market stream connection opened");
        }
        if let Some(connection) = connections.last_mut() {
            connection.streams += 1;
            // The task ends only when the connection is dropped with the feed.
            let _ = connection.requests.send(stream);
        }
    }

    /// The series of an event's symbol and interval, if any bot asked for it.
    fn series_of(&self, symbol: &str, interval: Interval) -> Option<Arc<CandleSeries>> {
        let symbol = Symbol::new(symbol).ok()?;
        lock(&self.series).get(&(symbol, interval)).cloned()
    }

    /// Applies one event of a connection carrying `carried`.
    fn apply(self: &Arc<Self>, event: MarketEvent, carried: &[StreamName]) {
        match event {
            MarketEvent::Kline(kline) if kline.closed => {
                let Some(series) = self.series_of(&kline.symbol, kline.interval) else {
                    return;
                };
                let advanced = series.push_closed(kline.candle);
                let behind = series
                    .covered_through_ms()
                    .is_some_and(|through| through < kline.candle.open_time_ms);
                if !advanced && behind {
                    // A candle after a gap: the stream missed some; REST has them.
                    self.spawn_fill(series);
                }
            }
            MarketEvent::Kline(_) => {}
            MarketEvent::BookTicker(ticker) => {
                let Ok(symbol) = Symbol::new(&ticker.symbol) else {
                    return;
                };
                let mut books = lock(&self.books);
                let book = books.entry(symbol).or_insert(BookTop {
                    update_id: 0,
                    bid: ticker.bid,
                    ask: ticker.ask,
                });
                if ticker.update_id >= book.update_id {
                    *book = BookTop {
                        update_id: ticker.update_id,
                        bid: ticker.bid,
                        ask: ticker.ask,
                    };
                }
            }
            MarketEvent::Subscribed(streams) => {
                for stream in streams {
                    if let StreamName::Kline { symbol, interval } = stream
                        && let Some(series) = self.series_of(symbol.as_str(), interval)
                    {
                        series.set_live(true);
                        self.spawn_fill(series);
                    }
                }
            }
            MarketEvent::Disconnected => {
                warn!(venue = %self.mode, "market stream connection lost; reconnecting (prices from REST meanwhile)");
                let mut books = lock(&self.books);
                for stream in carried {
                    match stream {
                        StreamName::Kline { symbol, interval } => {
                            if let Some(series) = self.series_of(symbol.as_str(), *interval) {
                                series.set_live(false);
                            }
                        }
                        StreamName::BookTicker(symbol) => {
                            books.remove(symbol);
                        }
                    }
                }
            }
        }
    }

    /// Completes `series` by REST in the background.
    fn spawn_fill(&self, series: Arc<CandleSeries>) {
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(error) = series.fill_gap(&client).await {
                warn!(symbol = %series.symbol(), interval = %series.interval(), %error,
                    "cannot fill the candles missed by the stream; the bots' next cycles fetch them");
            }
        });
    }
}

/// Runs one connection: subscribes what is asked, applies what arrives, until the feed is gone.
async fn run_connection(
    feed: Weak<VenueFeed>,
    mut stream: MarketStream,
    mut requested: mpsc::UnboundedReceiver<StreamName>,
) {
    let mut carried = Vec::new();
    loop {
        tokio::select! {
            request = requested.recv() => {
                let Some(name) = request else { return };
                if stream.subscribe(name.clone()).is_ok() {
                    carried.push(name);
                }
            }
            event = stream.next() => {
                let (Some(event), Some(feed)) = (event, feed.upgrade()) else { return };
                feed.apply(event, &carried);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
