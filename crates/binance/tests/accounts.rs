//! One venue, many accounts, against the simulator over loopback: clients derived with
//! `Client::with_account` from one venue client see their own accounts but share the venue's
//! clock offset, rules cache and IP weight budget, while each account keeps its own order budget;
//! `account_info` and `exchange_listing` read what the simulator holds; a refused API key or
//! signature is a `KeyProblem`, returned after exactly one request.
//!
//! Requests are counted with the simulator's own weight counter for the IP (one window per day,
//! so that no window ends during a test).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use binance::{
    Client, ClientConfig, Credentials, ErrorClass, ErrorKind, KeyProblem, OrderSize,
    PlaceOrderError, RateLimitSettings, RetryPolicy,
};
use market::{Quantity, Side, Symbol};
use rust_decimal::Decimal;
use sim::{
    Account, Exchange, ExchangeConfig, ManualClock, RateLimit, RateLimitInterval, RateLimitType,
    RunningSim,
};

/// Where the simulator's clock starts: 2025-06-15 12:00:30 UTC, far from a day's end.
const START_MS: i64 = 1_749_988_830_000;
/// A day of price history keeps the simulator's start fast in debug builds.
const HISTORY_MS: i64 = 24 * 3_600_000;
const ALICE_KEY: &str = "aliceAccountsTestKey0123456789aliceAccountsTestKey0123456789abc";
const ALICE_SECRET: &str = "aliceAccountsTestSecret0123456789aliceAccountsTestSecret01234567";
const BOB_KEY: &str = "bobAccountsTestKey0123456789bobAccountsTestKey0123456789abcdefgh";
const BOB_SECRET: &str = "bobAccountsTestSecret0123456789bobAccountsTestSecret0123456789ab";
/// The simulator's name for the IP of every loopback client.
const LOOPBACK: &str = "127.0.0.1";
/// The documented weight of `GET /api/v3/account` (and of `exchangeInfo`).
const ACCOUNT_WEIGHT: u64 = 20;

fn alice_keys() -> Credentials {
    Credentials::hmac(ALICE_KEY, ALICE_SECRET)
}

fn bob_keys() -> Credentials {
    Credentials::hmac(BOB_KEY, BOB_SECRET)
}

fn btcusdt() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn base(text: &str) -> OrderSize {
    OrderSize::Base(text.parse::<Quantity>().unwrap())
}

/// `limit` of `limit_type` per day.
fn per_day(limit_type: RateLimitType, limit: u64) -> RateLimit {
    RateLimit {
        limit_type,
        interval: RateLimitInterval::Day,
        interval_num: 1,
        limit,
    }
}

/// A simulator allowing `weight_per_day` and `orders_per_day`, with Alice (USDT and BTC) and Bob
/// (USDT and ETH), on a clock that follows real time.
async fn start_sim(weight_per_day: u64, orders_per_day: u64) -> RunningSim {
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = ExchangeConfig {
        history_ms: HISTORY_MS,
        rate_limits: vec![
            per_day(RateLimitType::RequestWeight, weight_per_day),
            per_day(RateLimitType::Orders, orders_per_day),
        ],
        ..ExchangeConfig::default()
    };
    let mut exchange = Exchange::new(config, clock.clone()).expect("a valid exchange");
    let accounts = [
        (ALICE_KEY, ALICE_SECRET, [("USDT", 10_000), ("BTC", 1)]),
        (BOB_KEY, BOB_SECRET, [("USDT", 250), ("ETH", 3)]),
    ];
    for (key, secret, balances) in accounts {
        exchange.add_account(Account::with_key(
            key.to_owned(),
            sim::SignatureKey::Hmac(secret.to_owned()),
            balances.map(|(asset, amount)| (asset.to_owned(), Decimal::from(amount))),
            sim::STANDARD_COMMISSION_RATE,
        ));
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(10));
        loop {
            ticker.tick().await;
            clock.advance_ms(10);
        }
    });
    sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts")
}

/// A venue client without credentials, retrying fast, waiting at most `max_wait` for budget.
fn venue(server: &RunningSim, max_wait: Duration) -> Client {
    let mut config = ClientConfig::new(format!("http://{}", server.local_addr()));
    config.retry = RetryPolicy {
        max_attempts: 5,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        order_visibility_timeout: Duration::from_millis(300),
    };
    config.rate_limit = RateLimitSettings {
        max_wait,
        ..RateLimitSettings::default()
    };
    Client::new(config).expect("a valid configuration")
}

/// The weight the simulator has counted for the loopback IP today.
fn weight_used_today(server: &RunningSim) -> u64 {
    let ip: IpAddr = LOOPBACK.parse().unwrap();
    let headers = server.exchange().lock().usage_headers(ip, None);
    headers
        .iter()
        .find(|(name, _)| name == "X-MBX-USED-WEIGHT-1D")
        .map(|(_, used)| *used)
        .expect("a daily weight window")
}

/// The free balance of `asset`, zero when not listed.
fn free(balances: &[binance::Balance], asset: &str) -> Decimal {
    balances
        .iter()
        .find(|balance| balance.asset == asset)
        .map_or(Decimal::ZERO, |balance| balance.free)
}

#[tokio::test]
async fn accounts_of_one_venue_see_their_own_balances_and_share_the_venue() {
    let server = start_sim(100_000, 1_000).await;
    let venue = venue(&server, Duration::from_secs(5));
    assert!(venue.credentials().is_none());
    let alice = venue.with_account(alice_keys());
    let bob = venue.with_account(bob_keys());
    assert_eq!(
        alice.credentials().map(Credentials::api_key),
        Some(ALICE_KEY)
    );
    assert_eq!(bob.credentials().map(Credentials::api_key), Some(BOB_KEY));
    assert_eq!(alice.config().base_url, venue.config().base_url);
    assert!(alice.config().credentials.is_none(), "the shared part only");

    let alice_info = alice.account_info().await.unwrap();
    assert!(alice_info.can_trade);
    assert_eq!(alice_info.permissions, ["SPOT"]);
    assert_eq!(free(&alice_info.balances, "USDT"), Decimal::from(10_000));
    assert_eq!(free(&alice_info.balances, "BTC"), Decimal::from(1));
    assert!(
        alice_info
            .balances
            .iter()
            .all(|balance| balance.asset != "ETH")
    );
    let bob_info = bob.account_info().await.unwrap();
    assert_eq!(free(&bob_info.balances, "USDT"), Decimal::from(250));
    assert_eq!(free(&bob_info.balances, "ETH"), Decimal::from(3));
    assert!(
        bob_info
            .balances
            .iter()
            .all(|balance| balance.asset != "BTC")
    );
    let uids = (alice_info.uid, bob_info.uid);
    assert!(
        uids.0.is_some() && uids.1.is_some() && uids.0 != uids.1,
        "{uids:?}"
    );
    assert_eq!(alice.balances().await.unwrap(), alice_info.balances);

    // One clock offset for the venue: sampled by Alice's request, known to the venue client and
    // to Bob without a request of their own.
    let offset = alice.clock_offset_ms();
    assert!(offset.is_some());
    assert_eq!(venue.clock_offset_ms(), offset);
    assert_eq!(bob.clock_offset_ms(), offset);
    // One rules cache: Bob is served what Alice fetched.
    let rules = alice.symbol_rules(&btcusdt()).await.unwrap();
    assert!(Arc::ptr_eq(
        &rules,
        &bob.symbol_rules(&btcusdt()).await.unwrap()
    ));

    // Bob's order moves Bob's balances, not Alice's.
    let fill = bob
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "bob-1")
        .await
        .unwrap();
    let log = server.exchange().lock().order_log().to_vec();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].api_key.as_str(), log[0].order_id),
        (BOB_KEY, fill.order_id)
    );
    let bob_after = bob.balances().await.unwrap();
    assert!(free(&bob_after, "BTC") > Decimal::ZERO);
    assert!(free(&bob_after, "USDT") < Decimal::from(250));
    assert_eq!(alice.balances().await.unwrap(), alice_info.balances);

    // The secrets stay hidden, whether the credentials or a client holding them is printed.
    for shown in [format!("{:?}", alice_keys()), format!("{alice:?}")] {
        assert!(!shown.contains(ALICE_SECRET), "{shown}");
        assert!(shown.contains("Hmac(<redacted>)"), "{shown}");
    }
}

/// The IP's weight is one budget for the whole venue: once Alice has spent it, Bob's request
/// waits for it too (here: fails fast, the wait being a day) and never reaches the exchange.
#[tokio::test]
async fn accounts_of_one_venue_share_the_ip_weight_budget() {
    // 10 % head-room: 180 of 200 usable, nine account reads at most.
    let server = start_sim(200, 1_000).await;
    let venue = venue(&server, Duration::from_millis(200));
    let alice = venue.with_account(alice_keys());
    let bob = venue.with_account(bob_keys());
    let mut reads = 0;
    let spent = loop {
        match alice.account_info().await {
            Ok(_) => reads += 1,
            Err(error) => break error,
        }
        assert!(reads < 10, "the budget never ran out");
    };
    assert!(
        matches!(
            spent.kind(),
            ErrorKind::BudgetExhausted { banned: false, .. }
        ),
        "{spent}"
    );
    assert!(reads >= 5, "{reads} reads");
    let used = weight_used_today(&server);
    assert!(used + ACCOUNT_WEIGHT > 180, "{used}");

    let error = bob.account_info().await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::BudgetExhausted { banned: false, .. }
        ),
        "{error}"
    );
    assert_eq!(
        weight_used_today(&server),
        used,
        "Bob's request was not sent"
    );
    // A client built separately for the same base URL shares the IP budget as well.
    let separate = Client::new(venue.config().clone().with_credentials(bob_keys())).unwrap();
    assert!(matches!(
        separate.account_info().await.unwrap_err().kind(),
        ErrorKind::BudgetExhausted { .. }
    ));
}

/// Orders count per account: Alice's tiny daily order allowance is spent after one order, and
/// her next one fails fast without reaching the exchange, while Bob's goes through. A second
/// client of Alice's key shares her spent allowance.
#[tokio::test]
async fn each_account_has_its_own_order_budget() {
    // 10 % head-room on 2 orders a day: one order per account.
    let server = start_sim(100_000, 2).await;
    let venue = venue(&server, Duration::from_secs(5));
    let alice = venue.with_account(alice_keys());
    let bob = venue.with_account(bob_keys());
    alice
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "alice-1")
        .await
        .expect("Alice's first order");

    let started = Instant::now();
    let error = alice
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "alice-2")
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "failed fast");
    let PlaceOrderError::NotExecuted { cause, .. } = &error else {
        panic!("expected NotExecuted, got {error}");
    };
    assert!(
        matches!(
            cause.kind(),
            ErrorKind::BudgetExhausted { banned: false, .. }
        ),
        "{cause}"
    );

    let fill = bob
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "bob-1")
        .await
        .expect("Bob has his own order budget");
    assert_eq!(fill.client_order_id, "bob-1");

    let alice_again = venue.with_account(alice_keys());
    let error = alice_again
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "alice-3")
        .await
        .unwrap_err();
    assert!(
        matches!(error.cause().kind(), ErrorKind::BudgetExhausted { .. }),
        "{error}"
    );

    let log = server.exchange().lock().order_log().to_vec();
    let sent: Vec<&str> = log
        .iter()
        .map(|order| order.client_order_id.as_str())
        .collect();
    assert_eq!(sent, ["alice-1", "bob-1"]);
}

/// An unknown key, a malformed key and a wrong secret are each told apart, returned after one
/// request (the simulator counted the weight of exactly one), and never retried.
#[tokio::test]
async fn key_problems_are_classified_after_exactly_one_request() {
    let server = start_sim(100_000, 1_000).await;
    let venue = venue(&server, Duration::from_secs(5));
    // Loads the limits and samples the clock, so that what follows is one request each.
    venue.exchange_listing().await.unwrap();
    let cases = [
        (
            Credentials::hmac("unknownKey0123456789", ALICE_SECRET),
            KeyProblem::KeyRejected,
        ),
        (
            Credentials::hmac("not a key!", ALICE_SECRET),
            KeyProblem::MalformedKey,
        ),
        (
            Credentials::hmac(ALICE_KEY, "not Alice's secret"),
            KeyProblem::BadSignature,
        ),
    ];
    for (credentials, problem) in cases {
        let client = venue.with_account(credentials);
        let before = weight_used_today(&server);
        let error = client.account_info().await.unwrap_err();
        assert_eq!(error.key_problem(), Some(problem), "{error}");
        assert_eq!(error.class(), ErrorClass::Rejected, "{error}");
        assert_eq!(
            weight_used_today(&server) - before,
            ACCOUNT_WEIGHT,
            "{problem:?}: one request, no retry"
        );
        assert!(!problem.explain().is_empty());
    }

    // An order with a rejected key is not executed, and not retried either.
    let stranger = venue.with_account(Credentials::hmac("unknownKey0123456789", ALICE_SECRET));
    let before = weight_used_today(&server);
    let error = stranger
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "stranger-1")
        .await
        .unwrap_err();
    assert!(
        matches!(error, PlaceOrderError::NotExecuted { .. }),
        "{error}"
    );
    assert_eq!(error.cause().key_problem(), Some(KeyProblem::KeyRejected));
    assert_eq!(weight_used_today(&server) - before, 1, "one order request");
    assert!(server.exchange().lock().order_log().is_empty());
}

#[tokio::test]
async fn the_exchange_listing_has_every_symbol_with_its_rules_and_fills_the_cache() {
    let server = start_sim(100_000, 1_000).await;
    let venue = venue(&server, Duration::from_secs(5));
    let listing = venue.exchange_listing().await.unwrap();
    assert!(listing.unreadable.is_empty(), "{:?}", listing.unreadable);
    let mut names: Vec<&str> = listing
        .symbols
        .iter()
        .map(|rules| rules.symbol.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["BNBUSDT", "BTCUSDT", "ETHUSDT"]);
    let spec = sim::ListingSpec::btcusdt();
    let btc = listing
        .symbols
        .iter()
        .find(|rules| rules.symbol == btcusdt())
        .unwrap();
    assert_eq!(
        (btc.base_asset.as_str(), btc.quote_asset.as_str()),
        (spec.base_asset.as_str(), spec.quote_asset.as_str())
    );
    let lot_size = btc.lot_size.as_ref().expect("a LOT_SIZE filter");
    assert_eq!(lot_size.step_size.get(), spec.step_size);

    // Every symbol's rules are now cached for every account of the venue: no request.
    let alice = venue.with_account(alice_keys());
    let before = weight_used_today(&server);
    for rules in &listing.symbols {
        let cached = alice.symbol_rules(&rules.symbol).await.unwrap();
        assert_eq!(&*cached, rules);
    }
    assert_eq!(weight_used_today(&server), before, "served from the cache");
}
