//! What each market stream pushes, derived from the simulated market (the price walk or the
//! replayed candles) so that every stream tells the same story as the REST endpoints:
//!
//! - `<symbol>@kline_<interval>`: the klines `GET /api/v3/klines` returns. Once per server
//!   second the open kline is pushed (`x: false`); when klines closed since the last push, each
//!   is pushed first with its final values and `x: true`, oldest first (at most
//!   [`MAX_LIMIT`] of them), from the kline open when the stream was subscribed on (so a close
//!   right after a `SUBSCRIBE` is never lost between two looks at the market), and a client can
//!   check continuity against REST bit for bit. `f`/`L` number the market's trades from the symbol's first one (`-1` for a
//!   kline without trades).
//! - `<symbol>@trade`: the market trades one price per second (the 1s klines), so each second's
//!   `n` trades are pushed at that second's price, ids continuing the klines' `f`/`L`, times at
//!   the second's start, the second's volume split evenly over its trades in whole lot steps
//!   (a trade that would get nothing is left out; its id is then skipped, which happens only when
//!   a second traded fewer steps than trades). `m` (buyer is the maker) is true when takers
//!   bought less than half of the second's volume: the market reports who took per second, not
//!   per trade. The trades of a second are pushed once the server's clock is in it, with those
//!   of every second since the last push (the most recent [`MAX_TRADE_BACKLOG_SECONDS`] when the
//!   clock jumped further; the ids then jump too). A new subscription starts with the next
//!   second.
//! - `<symbol>@aggTrade`: each second's trades aggregated, as one taker order at one price: `a`
//!   counts the market's seconds from its first one (consecutive on the price walk, where every
//!   second trades; a replayed candle file has quiet seconds, whose numbers are skipped), `f`/`l`
//!   are the second's first and last trade ids, `q` its volume.
//! - `<symbol>@bookTicker`: the best level of each side of the synthetic book `GET
//!   /api/v3/depth` and `GET /api/v3/ticker/bookTicker` show (and MARKET orders walk), pushed
//!   when either changes (the book follows
//!   the price, which moves once a second). `u` is the server time (ms) of the second the book
//!   took that shape, so it is never above the `lastUpdateId` of a depth snapshot taken after.
//! - `<symbol>@miniTicker`: the last 24 hours of trades up to now (as `GET /api/v3/ticker/24hr`
//!   computes them), once per server second.
//! - `!miniTicker@arr`: the mini tickers of every listed symbol whose values changed since the
//!   last push, once per server second.
//!
//! The accounts' own MARKET orders are not part of these streams: they have no market impact in
//! the simulator (the book forgets them), exactly as they are not part of the klines.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::calendar::kline_open;
use crate::exchange::Exchange;
use crate::http::stream::names::StreamName;
use crate::klines::{Kline, KlineQuery, MAX_LIMIT};
use crate::wire::decimal8;
use sim_book::Level;

use market::Interval;

/// At most this many seconds of trades are pushed at once (see the module doc).
pub const MAX_TRADE_BACKLOG_SECONDS: i64 = 600;
/// The mini tickers' rolling window, ms.
const DAY_MS: i64 = 86_400_000;
const SECOND_MS: i64 = 1_000;

/// One subscription's state: what it pushed last, so the next push continues from there.
#[derive(Debug)]
pub enum Feed {
    /// `<symbol>@kline_<interval>`.
    Kline(KlineFeed),
    /// `<symbol>@trade` or `<symbol>@aggTrade`.
    Trades(TradeFeed),
    /// `<symbol>@bookTicker`.
    BookTicker(BookTickerFeed),
    /// `<symbol>@miniTicker`.
    MiniTicker(MiniTickerFeed),
    /// `!miniTicker@arr`.
    AllMiniTickers(AllMiniTickersFeed),
}

impl Feed {
    /// A subscription to `name`, made at `now_ms` (server time), that has pushed nothing yet.
    pub fn new(name: &StreamName, now_ms: i64) -> Feed {
        match name {
            StreamName::Kline { symbol, interval } => Feed::Kline(KlineFeed {
                symbol: symbol.clone(),
                interval: *interval,
                pushed_second: None,
                // The kline open at the subscription: its close is owed to the subscriber.
                pushed_open_ms: Some(kline_open(*interval, now_ms)),
            }),
            StreamName::Trade { symbol } => Feed::Trades(TradeFeed::new(symbol, false)),
            StreamName::AggTrade { symbol } => Feed::Trades(TradeFeed::new(symbol, true)),
            StreamName::BookTicker { symbol } => Feed::BookTicker(BookTickerFeed {
                symbol: symbol.clone(),
                last: None,
            }),
            StreamName::MiniTicker { symbol } => Feed::MiniTicker(MiniTickerFeed {
                symbol: symbol.clone(),
                pushed_second: None,
            }),
            StreamName::AllMiniTickers => Feed::AllMiniTickers(AllMiniTickersFeed {
                pushed_second: None,
                last: HashMap::new(),
            }),
        }
    }

    /// The events due now, oldest first.
    pub fn due(&mut self, exchange: &mut Exchange) -> Vec<Value> {
        match self {
            Feed::Kline(feed) => feed.due(exchange),
            Feed::Trades(feed) => feed.due(exchange),
            Feed::BookTicker(feed) => feed.due(exchange).into_iter().collect(),
            Feed::MiniTicker(feed) => feed.due(exchange).into_iter().collect(),
            Feed::AllMiniTickers(feed) => feed.due(exchange).into_iter().collect(),
        }
    }
}

/// The start of the server second `time_ms` is in.
fn second_start(time_ms: i64) -> i64 {
    time_ms.div_euclid(SECOND_MS) * SECOND_MS
}

/// A kline subscription.
#[derive(Debug)]
pub struct KlineFeed {
    symbol: String,
    interval: Interval,
    /// The server second of the last push.
    pushed_second: Option<i64>,
    /// The open time of the kline last pushed as open (at first, the one open at the
    /// subscription, whose close the subscriber is owed).
    pushed_open_ms: Option<i64>,
}

impl KlineFeed {
    /// The klines closed since the last push (final, `x: true`), then the open one, once per
    /// server second.
    fn due(&mut self, exchange: &mut Exchange) -> Vec<Value> {
        let now_ms = exchange.now_ms();
        let second = now_ms.div_euclid(SECOND_MS);
        if self.pushed_second == Some(second) {
            return Vec::new();
        }
        self.pushed_second = Some(second);
        let open_ms = kline_open(self.interval, now_ms);
        let query = |start_ms, end_ms, limit| KlineQuery {
            interval: self.interval,
            start_ms: Some(start_ms),
            end_ms,
            limit,
        };
        let mut klines: Vec<(Kline, bool)> = Vec::new();
        if let Some(previous_open_ms) = self.pushed_open_ms.filter(|previous| *previous < open_ms) {
            let closed = exchange
                .klines(
                    &self.symbol,
                    query(previous_open_ms, Some(open_ms - 1), MAX_LIMIT),
                )
                .unwrap_or_default();
            klines.extend(closed.into_iter().map(|kline| (kline, true)));
        }
        let open = exchange
            .klines(&self.symbol, query(open_ms, None, 1))
            .unwrap_or_default();
        klines.extend(open.into_iter().map(|kline| (kline, false)));
        self.pushed_open_ms = Some(open_ms);
        klines
            .into_iter()
            .map(|(kline, closed)| {
                let first_trade_id = exchange
                    .trades_before(&self.symbol, kline.open_time_ms)
                    .map_or(-1, |count| {
                        i64::try_from(count).unwrap_or(i64::MAX).saturating_add(1)
                    });
                self.event(&kline, closed, now_ms, first_trade_id)
            })
            .collect()
    }

    /// One kline event in Binance's shape.
    fn event(&self, kline: &Kline, closed: bool, event_time_ms: i64, first_trade_id: i64) -> Value {
        let trades = i64::try_from(kline.trades).unwrap_or(i64::MAX);
        let (first, last) = if trades == 0 {
            (-1, -1)
        } else {
            (first_trade_id, first_trade_id.saturating_add(trades - 1))
        };
        json!({
            "e": "kline",
            "E": event_time_ms,
            "s": self.symbol,
            "k": {
                "t": kline.open_time_ms,
                "T": kline.close_time_ms,
                "s": self.symbol,
                "i": self.interval.as_str(),
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
}

/// A `trade` or `aggTrade` subscription.
#[derive(Debug)]
pub struct TradeFeed {
    symbol: String,
    aggregate: bool,
    /// The first server second (its start, ms) whose trades are not pushed yet.
    next_second_ms: Option<i64>,
}

impl TradeFeed {
    fn new(symbol: &str, aggregate: bool) -> TradeFeed {
        TradeFeed {
            symbol: symbol.to_owned(),
            aggregate,
            next_second_ms: None,
        }
    }

    /// The trades of every second since the last push, up to the current one.
    fn due(&mut self, exchange: &mut Exchange) -> Vec<Value> {
        let now_ms = exchange.now_ms();
        let current_ms = second_start(now_ms);
        let Some(next_ms) = self.next_second_ms else {
            self.next_second_ms = Some(current_ms + SECOND_MS);
            return Vec::new();
        };
        if next_ms > current_ms {
            return Vec::new();
        }
        self.next_second_ms = Some(current_ms + SECOND_MS);
        let from_ms = next_ms.max(current_ms - (MAX_TRADE_BACKLOG_SECONDS - 1) * SECOND_MS);
        let step = exchange
            .listing(&self.symbol)
            .map(|listing| listing.spec.step_size);
        let (Some(step), Some(genesis_ms), Some(trades_before)) = (
            step,
            exchange.market_genesis_ms(&self.symbol),
            exchange.trades_before(&self.symbol, from_ms),
        ) else {
            // Not listed: a silent stream, as Binance's for an unknown symbol.
            return Vec::new();
        };
        let mut next_trade_id = trades_before + 1;
        let mut events = Vec::new();
        let mut second_ms = from_ms;
        while second_ms <= current_ms {
            if let Some(second) =
                exchange.market_span(&self.symbol, second_ms, second_ms + SECOND_MS)
                && second.trades > 0
            {
                let traded = TradedSecond {
                    symbol: &self.symbol,
                    second: &second,
                    step,
                    first_trade_id: next_trade_id,
                    event_time_ms: now_ms,
                };
                if self.aggregate {
                    let aggregate_id = (second_ms - genesis_ms).div_euclid(SECOND_MS) + 1;
                    events.push(traded.aggregate_event(aggregate_id));
                } else {
                    events.extend(traded.trade_events());
                }
                next_trade_id += second.trades;
            }
            second_ms += SECOND_MS;
        }
        events
    }
}

/// One second of the market's trades, as the trade streams publish them.
struct TradedSecond<'a> {
    symbol: &'a str,
    /// The second as a 1s kline.
    second: &'a Kline,
    /// The symbol's lot step: volumes are whole multiples of it.
    step: Decimal,
    first_trade_id: u64,
    event_time_ms: i64,
}

impl TradedSecond<'_> {
    /// Whether the buyers were the makers: takers bought less than half the volume.
    fn buyer_is_maker(&self) -> bool {
        self.second.taker_buy_volume * Decimal::TWO < self.second.volume
    }

    /// One `trade` event per trade, the volume split evenly in whole steps.
    fn trade_events(&self) -> Vec<Value> {
        let trades = u128::from(self.second.trades);
        let steps = if self.step.is_zero() {
            0
        } else {
            u128::try_from((self.second.volume / self.step).trunc()).unwrap_or(0)
        };
        (0..trades)
            .filter_map(|index| {
                // Steps up to the end of this trade minus steps up to its start: the shares add
                // up to the whole volume, and differ by at most one step.
                let share = steps * (index + 1) / trades - steps * index / trades;
                let share = u64::try_from(share).ok().filter(|share| *share > 0)?;
                let trade_id = self.first_trade_id + u64::try_from(index).ok()?;
                Some(json!({
                    "e": "trade",
                    "E": self.event_time_ms,
                    "s": self.symbol,
                    "t": trade_id,
                    "p": decimal8(self.second.close),
                    "q": decimal8(Decimal::from(share) * self.step),
                    "T": self.second.open_time_ms,
                    "m": self.buyer_is_maker(),
                    "M": true,
                }))
            })
            .collect()
    }

    /// The second's trades as one `aggTrade` event numbered `aggregate_id`.
    fn aggregate_event(&self, aggregate_id: i64) -> Value {
        json!({
            "e": "aggTrade",
            "E": self.event_time_ms,
            "s": self.symbol,
            "a": aggregate_id,
            "p": decimal8(self.second.close),
            "q": decimal8(self.second.volume),
            "f": self.first_trade_id,
            "l": self.first_trade_id + self.second.trades - 1,
            "T": self.second.open_time_ms,
            "m": self.buyer_is_maker(),
            "M": true,
        })
    }
}

/// A `bookTicker` subscription.
#[derive(Debug)]
pub struct BookTickerFeed {
    symbol: String,
    /// The best bid and ask last pushed.
    last: Option<(Level, Level)>,
}

impl BookTickerFeed {
    /// The best levels, when they changed since the last push.
    fn due(&mut self, exchange: &mut Exchange) -> Option<Value> {
        let now_ms = exchange.now_ms();
        let (bids, asks) = exchange.depth(&self.symbol, 1).ok()?;
        let best = (*bids.first()?, *asks.first()?);
        if self.last == Some(best) {
            return None;
        }
        self.last = Some(best);
        let (bid, ask) = best;
        Some(json!({
            "u": second_start(now_ms),
            "s": self.symbol,
            "b": decimal8(bid.price),
            "B": decimal8(bid.qty),
            "a": decimal8(ask.price),
            "A": decimal8(ask.qty),
        }))
    }
}

/// The mini ticker of `symbol` at `now_ms`: the last 24 hours of trades.
fn mini_ticker(exchange: &mut Exchange, symbol: &str, now_ms: i64) -> Option<Value> {
    let window = exchange.market_span(symbol, now_ms - DAY_MS, now_ms + 1)?;
    Some(json!({
        "e": "24hrMiniTicker",
        "E": now_ms,
        "s": symbol,
        "c": decimal8(window.close),
        "o": decimal8(window.open),
        "h": decimal8(window.high),
        "l": decimal8(window.low),
        "v": decimal8(window.volume),
        "q": decimal8(window.quote_volume),
    }))
}

/// A `miniTicker` subscription.
#[derive(Debug)]
pub struct MiniTickerFeed {
    symbol: String,
    /// The server second of the last push.
    pushed_second: Option<i64>,
}

impl MiniTickerFeed {
    /// The mini ticker, once per server second.
    fn due(&mut self, exchange: &mut Exchange) -> Option<Value> {
        let now_ms = exchange.now_ms();
        let second = now_ms.div_euclid(SECOND_MS);
        if self.pushed_second == Some(second) {
            return None;
        }
        self.pushed_second = Some(second);
        mini_ticker(exchange, &self.symbol, now_ms)
    }
}

/// The `!miniTicker@arr` subscription.
#[derive(Debug)]
pub struct AllMiniTickersFeed {
    /// The server second of the last push.
    pushed_second: Option<i64>,
    /// Per symbol, the values last pushed (without the event time).
    last: HashMap<String, Value>,
}

impl AllMiniTickersFeed {
    /// The mini tickers that changed, once per server second; nothing when none did.
    fn due(&mut self, exchange: &mut Exchange) -> Option<Value> {
        let now_ms = exchange.now_ms();
        let second = now_ms.div_euclid(SECOND_MS);
        if self.pushed_second == Some(second) {
            return None;
        }
        self.pushed_second = Some(second);
        let symbols: Vec<String> = exchange
            .listings()
            .map(|listing| listing.spec.symbol.clone())
            .collect();
        let mut changed = Vec::new();
        for symbol in symbols {
            let Some(ticker) = mini_ticker(exchange, &symbol, now_ms) else {
                continue;
            };
            let mut values = ticker.clone();
            if let Some(values) = values.as_object_mut() {
                values.remove("E");
            }
            if self.last.get(&symbol) != Some(&values) {
                self.last.insert(symbol, values);
                changed.push(ticker);
            }
        }
        (!changed.is_empty()).then_some(Value::Array(changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rust_decimal_macros::dec;

    fn second(volume: Decimal, taker_buy_volume: Decimal, trades: u64) -> Kline {
        Kline {
            open_time_ms: 5_000,
            close_time_ms: 5_999,
            open: dec!(100),
            high: dec!(100),
            low: dec!(100),
            close: dec!(100),
            volume,
            quote_volume: volume * dec!(100),
            trades,
            taker_buy_volume,
            taker_buy_quote_volume: taker_buy_volume * dec!(100),
        }
    }

    fn traded(second: &Kline) -> TradedSecond<'_> {
        TradedSecond {
            symbol: "BTCUSDT",
            second,
            step: dec!(0.001),
            first_trade_id: 41,
            event_time_ms: 5_500,
        }
    }

    #[test]
    fn a_seconds_volume_is_split_over_its_trades_in_whole_steps() {
        let kline = second(dec!(0.010), dec!(0.004), 3);
        let trades = traded(&kline).trade_events();
        let quantities: Vec<&str> = trades
            .iter()
            .map(|trade| trade["q"].as_str().unwrap())
            .collect();
        assert_eq!(quantities, ["0.00300000", "0.00300000", "0.00400000"]);
        let ids: Vec<i64> = trades
            .iter()
            .map(|trade| trade["t"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [41, 42, 43]);
        assert!(
            trades.iter().all(|trade| trade["m"] == true),
            "takers bought 40 %"
        );
        assert!(
            trades
                .iter()
                .all(|trade| trade["T"] == 5_000 && trade["E"] == 5_500)
        );
    }

    #[test]
    fn trades_that_would_get_nothing_are_left_out() {
        let kline = second(dec!(0.002), dec!(0.002), 3);
        let trades = traded(&kline).trade_events();
        let ids: Vec<i64> = trades
            .iter()
            .map(|trade| trade["t"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [42, 43], "two steps for three trades");
        assert!(
            trades.iter().all(|trade| trade["m"] == false),
            "takers bought it all"
        );
    }

    #[test]
    fn an_aggregate_trade_covers_the_seconds_trades() {
        let kline = second(dec!(0.010), dec!(0.005), 4);
        let aggregate = traded(&kline).aggregate_event(9);
        assert_eq!(aggregate["a"], 9);
        assert_eq!(
            (aggregate["f"].as_u64(), aggregate["l"].as_u64()),
            (Some(41), Some(44))
        );
        assert_eq!(aggregate["q"], "0.01000000");
        assert_eq!(aggregate["m"], false, "takers bought half");
    }
}
