//! [`Client::all_orders`] against the simulator over loopback, on a manual clock the client reads
//! as the exchange's own: a span longer than Binance's 24 hours and more orders than one page
//! are read request by request with every order once, oldest first; an order that
//! `GET /api/v3/order` does not show yet is found in the history by its client order id; and the
//! requests the client refuses or the answers it cannot page are errors that say why.

use std::sync::Arc;

use binance::{BinanceError, Client, ClientConfig, Credentials, ErrorKind, OrderRef, ServerClock};
use market::{Side, Symbol};
use rust_decimal::Decimal;
use serde_json::json;
use sim::{
    Account, Clock, Exchange, ExchangeConfig, FaultPlan, ManualClock, NewMarketOrder, OrderRecord,
    OrderSize, RunningSim,
};

/// Where the simulator's clock starts: 2025-06-15 12:00:30 UTC.
const START_MS: i64 = 1_749_988_830_000;
const HOUR_MS: i64 = 3_600_000;
const API_KEY: &str = "orderHistoryTestKey0123456789orderHistoryTestKey0123456789abcdef";
const SECRET: &str = "orderHistoryTestSecret0123456789orderHistoryTestSecret0123456789";

/// The simulator's manual clock, read by the client as the exchange's.
#[derive(Debug)]
struct SimClock(Arc<ManualClock>);

impl ServerClock for SimClock {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
}

/// A simulator on a manual clock with a well-funded account, and a client for that account.
struct History {
    server: RunningSim,
    clock: Arc<ManualClock>,
    client: Client,
}

impl History {
    async fn start() -> History {
        let clock = Arc::new(ManualClock::new(START_MS));
        let config = ExchangeConfig {
            history_ms: HOUR_MS,
            ..ExchangeConfig::default()
        };
        let mut exchange = Exchange::new(config, clock.clone()).expect("a valid exchange");
        exchange.add_account(Account::with_key(
            API_KEY.to_owned(),
            sim::SignatureKey::Hmac(SECRET.to_owned()),
            [("USDT".to_owned(), Decimal::from(1_000_000))],
            sim::STANDARD_COMMISSION_RATE,
        ));
        let server = sim::start(exchange, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the simulator starts");
        let config = ClientConfig::new(format!("http://{}", server.local_addr()))
            .with_credentials(Credentials::hmac(API_KEY, SECRET))
            .with_server_clock(Arc::new(SimClock(clock.clone())));
        History {
            server,
            clock,
            client: Client::new(config).expect("a valid configuration"),
        }
    }

    /// Executes a small MARKET BUY on `symbol` directly on the exchange (no request, no rate
    /// limit), `ms_apart` ms after the previous one; returns it as the order log keeps it.
    fn buy(&self, symbol: &str, client_order_id: &str, ms_apart: i64) -> OrderRecord {
        self.clock.advance_ms(ms_apart);
        let order = NewMarketOrder {
            symbol: symbol.to_owned(),
            side: Side::Buy,
            size: OrderSize::Quote(Decimal::from(10)),
            client_order_id: Some(client_order_id.to_owned()),
        };
        let mut exchange = self.server.exchange().lock();
        let deadline_ms = exchange.now_ms() + 5_000;
        exchange
            .place_market_order(API_KEY, order, deadline_ms)
            .expect("the order executes")
    }

    fn set_faults(&self, plan: serde_json::Value) {
        let plan: FaultPlan = serde_json::from_value(plan).expect("a valid fault plan");
        self.server
            .exchange()
            .lock()
            .set_faults(plan)
            .expect("faults accepted");
    }
}

fn btcusdt() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn order_ids(orders: &[binance::OrderReport]) -> Vec<u64> {
    orders.iter().map(|order| order.order_id).collect()
}

#[tokio::test]
async fn a_span_longer_than_a_day_with_more_than_a_page_is_read_whole_oldest_first() {
    let history = History::start().await;
    // 1,001 orders a millisecond apart (one more than a page), one on another symbol, then two
    // more thirty hours later (beyond one request's 24 hours).
    let mut expected: Vec<OrderRecord> = (0..1_001)
        .map(|index| history.buy("BTCUSDT", &format!("first-day-{index}"), 1))
        .collect();
    history.buy("ETHUSDT", "other-symbol", 1);
    history.clock.advance_ms(30 * HOUR_MS);
    expected.push(history.buy("BTCUSDT", "next-day-0", 1));
    expected.push(history.buy("BTCUSDT", "next-day-1", 1));
    let now_ms = history.clock.now_ms();

    let orders = history
        .client
        .all_orders(&btcusdt(), START_MS - 60_000, now_ms)
        .await
        .unwrap();
    assert_eq!(
        order_ids(&orders),
        expected
            .iter()
            .map(|order| order.order_id)
            .collect::<Vec<_>>(),
        "every BTCUSDT order once, oldest first"
    );
    for (report, record) in orders.iter().zip(&expected) {
        assert_eq!(report.client_order_id, record.client_order_id);
        assert_eq!(report.executed_qty, record.executed_qty());
        assert_eq!(report.cumulative_quote_qty, record.cumulative_quote_qty());
        assert_eq!(report.update_time_ms, record.transact_time_ms);
        assert_eq!(report.side, Side::Buy);
    }

    let next_day = history
        .client
        .all_orders(&btcusdt(), now_ms - 1, now_ms)
        .await
        .unwrap();
    assert_eq!(order_ids(&next_day), order_ids(&orders[1_001..]));
    let nothing = history
        .client
        .all_orders(&btcusdt(), now_ms + 1, now_ms + 1)
        .await
        .unwrap();
    assert!(nothing.is_empty(), "{nothing:?}");
}

#[tokio::test]
async fn an_order_the_order_query_does_not_show_yet_is_found_in_the_history() {
    let history = History::start().await;
    let written_ms = history.clock.now_ms();
    let executed = history.buy("BTCUSDT", "lagging-query", 5);
    history.set_faults(json!({"rules": [
        {"fault": {"not_queryable_ms": HOUR_MS}, "endpoints": ["GET /api/v3/order"]}
    ]}));
    let reference = OrderRef::ClientOrderId("lagging-query".to_owned());
    let not_yet = history
        .client
        .query_order(&btcusdt(), &reference)
        .await
        .unwrap_err();
    assert_eq!(not_yet.code(), Some(-2013), "{not_yet}");

    let now_ms = history.clock.now_ms();
    let orders = history
        .client
        .all_orders(&btcusdt(), written_ms, now_ms)
        .await
        .unwrap();
    let found: Vec<_> = orders
        .iter()
        .filter(|order| order.client_order_id == "lagging-query")
        .collect();
    assert_eq!(found.len(), 1, "{orders:?}");
    assert_eq!(found[0].order_id, executed.order_id);
    assert_eq!(found[0].executed_qty, executed.executed_qty());
    // Its trades are there too, so its fill can be recorded as if the query had shown it.
    let trades = history
        .client
        .order_trades(&btcusdt(), executed.order_id)
        .await
        .unwrap();
    assert_eq!(trades.len(), executed.fills.len());

    // Hidden from the history as well, it is simply not listed.
    history.set_faults(json!({"rules": [
        {"fault": {"not_queryable_ms": HOUR_MS},
         "endpoints": ["GET /api/v3/order", "GET /api/v3/allOrders"]}
    ]}));
    let hidden = history
        .client
        .all_orders(&btcusdt(), written_ms, now_ms)
        .await
        .unwrap();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[tokio::test]
async fn spans_the_client_cannot_ask_for_and_histories_it_cannot_page_are_errors() {
    let history = History::start().await;
    let refused = |error: &BinanceError| match error.kind() {
        ErrorKind::InvalidRequest(what) => what.clone(),
        other => panic!("expected an invalid request, got {other:?}"),
    };
    let backwards = history
        .client
        .all_orders(&btcusdt(), START_MS, START_MS - 1)
        .await
        .unwrap_err();
    assert_eq!(
        refused(&backwards),
        format!(
            "startTime {START_MS} must be at least 0 and not after endTime {}",
            START_MS - 1
        )
    );
    let negative = history
        .client
        .all_orders(&btcusdt(), -1, START_MS)
        .await
        .unwrap_err();
    assert!(refused(&negative).starts_with("startTime -1 must be at least 0"));

    // More orders in one millisecond than a page holds: no later start time pages past them.
    for index in 0..1_001 {
        history.buy("BTCUSDT", &format!("same-ms-{index}"), 0);
    }
    let now_ms = history.clock.now_ms();
    let error = history
        .client
        .all_orders(&btcusdt(), now_ms, now_ms)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "GET /api/v3/allOrders: malformed answer: more than 1000 orders were updated at {now_ms} ms: they cannot be read page by page"
        )
    );
}
