//! Balance books kept from the user data stream, against the simulator's WebSocket API over
//! loopback: a MARKET order changes the book with no REST read once it is primed, and the book
//! then equals `GET /api/v3/account`; two accounts (one HMAC, one Ed25519 key) share one
//! connection and each book sees only its own account; a dropped connection puts the books on
//! REST, then they reconnect, resubscribe and are live and right again; a key revoked at the
//! exchange makes its own book report the refusal while the other stays live; a closed book is
//! unsubscribed; past the per-connection limit a second connection opens.
//!
//! REST reads are counted with the simulator's own weight counter for the loopback IP (one
//! window per day, so that no window ends during a test): a `GET /api/v3/account` weighs 20,
//! and a book answering from memory adds nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use binance::{
    Balance, BalanceBook, Client, ClientConfig, Credentials, KeyProblem, OrderSize, RetryPolicy,
    UserDataHub, UserDataSettings,
};
use market::{Quantity, Side, Symbol};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sim::{
    Account, Exchange, ExchangeConfig, ManualClock, RateLimit, RateLimitInterval, RateLimitType,
    RunningSim,
};

/// Where the simulator's clock starts: 2025-06-15 12:00:30 UTC, far from a day's end.
const START_MS: i64 = 1_749_988_830_000;
/// A day of price history keeps the simulator's start fast in debug builds.
const HISTORY_MS: i64 = 24 * 3_600_000;
const ALICE_KEY: &str = "aliceUserDataKey0123456789aliceUserDataKey0123456789aliceUserDat";
const ALICE_SECRET: &str = "aliceUserDataSecret0123456789aliceUserDataSecret0123456789alice";
const BOB_KEY: &str = "bobUserDataKey0123456789bobUserDataKey0123456789bobUserDataKey01";
/// Bob's Ed25519 private key seed.
const BOB_SEED: [u8; 32] = [23; 32];
/// The weight of `GET /api/v3/account`.
const ACCOUNT_WEIGHT: u64 = 20;
const WAIT: Duration = Duration::from_secs(10);

fn alice_keys() -> Credentials {
    Credentials::hmac(ALICE_KEY, ALICE_SECRET)
}

fn bob_keys() -> Credentials {
    Credentials::ed25519(BOB_KEY, ed25519_dalek::SigningKey::from_bytes(&BOB_SEED))
}

fn symbol(name: &str) -> Symbol {
    Symbol::new(name).unwrap()
}

fn base(text: &str) -> OrderSize {
    OrderSize::Base(text.parse::<Quantity>().unwrap())
}

/// A simulator with Alice (HMAC; USDT and BTC) and Bob (Ed25519; USDT and ETH), on a clock
/// that follows real time, allowing a million weight a day.
async fn start_sim() -> RunningSim {
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = ExchangeConfig {
        history_ms: HISTORY_MS,
        rate_limits: vec![RateLimit {
            limit_type: RateLimitType::RequestWeight,
            interval: RateLimitInterval::Day,
            interval_num: 1,
            limit: 1_000_000,
        }],
        ..ExchangeConfig::default()
    };
    let mut exchange = Exchange::new(config, clock.clone()).expect("a valid exchange");
    let bob_public = ed25519_dalek::SigningKey::from_bytes(&BOB_SEED).verifying_key();
    let accounts = [
        (
            ALICE_KEY,
            sim::SignatureKey::Hmac(ALICE_SECRET.to_owned()),
            [("USDT", 10_000), ("BTC", 1)],
        ),
        (
            BOB_KEY,
            sim::SignatureKey::Ed25519(bob_public),
            [("USDT", 250), ("ETH", 3)],
        ),
    ];
    for (key, signature_key, balances) in accounts {
        exchange.add_account(Account::with_key(
            key.to_owned(),
            signature_key,
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

/// A venue client without credentials, retrying and reconnecting fast.
fn venue(server: &RunningSim) -> Client {
    let mut config = ClientConfig::new(format!("http://{}", server.local_addr()));
    config.retry = RetryPolicy {
        max_attempts: 5,
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(5),
        order_visibility_timeout: Duration::from_millis(300),
    };
    Client::new(config).expect("a valid configuration")
}

/// The weight the simulator has counted for the loopback IP today.
fn weight_used_today(server: &RunningSim) -> u64 {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let headers = server.exchange().lock().usage_headers(ip, None);
    headers
        .iter()
        .find(|(name, _)| name == "X-MBX-USED-WEIGHT-1D")
        .map(|(_, used)| *used)
        .expect("a daily weight window")
}

/// Sends an admin request to the simulator; its JSON answer.
async fn admin(server: &RunningSim, method: reqwest::Method, path: &str, body: Value) -> Value {
    let url = format!("http://{}/_sim{path}", server.local_addr());
    let answer = reqwest::Client::new()
        .request(method, url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    serde_json::from_str(&answer.text().await.unwrap()).unwrap()
}

/// The simulator's WebSocket API sockets and the API keys each is subscribed to.
async fn ws_api_sockets(server: &RunningSim) -> Vec<Vec<String>> {
    let url = format!("http://{}/_sim/sockets", server.local_addr());
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let listed: Value = serde_json::from_str(&text).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|socket| socket["service"] == "ws_api")
        .map(|socket| {
            let mut keys: Vec<String> = socket["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|key| key.as_str().unwrap().to_owned())
                .collect();
            keys.sort();
            keys
        })
        .collect()
}

/// Waits until `ready` holds, checking every few milliseconds; panics after [`WAIT`].
async fn wait_until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The account's balances by REST, sorted by asset as a book lists them.
async fn rest_balances(account: &Client) -> Vec<Balance> {
    let mut balances = account.balances().await.unwrap();
    balances.sort_by(|left, right| left.asset.cmp(&right.asset));
    balances
}

fn free(balances: &[Balance], asset: &str) -> Decimal {
    balances
        .iter()
        .find(|balance| balance.asset == asset)
        .map_or(Decimal::ZERO, |balance| balance.free)
}

/// A book that has been asked for and is live (subscribed and primed).
async fn live_book(hub: &UserDataHub, account: &Client) -> BalanceBook {
    let book = hub.book(account).unwrap();
    book.balances().await.unwrap();
    wait_until("the book is live", async || book.is_live()).await;
    book
}

/// A simulator, one hub, and Alice's and Bob's accounts with live books on it.
struct Pair {
    server: RunningSim,
    hub: UserDataHub,
    alice: Client,
    bob: Client,
    alice_book: BalanceBook,
    bob_book: BalanceBook,
}

impl Pair {
    async fn live() -> Pair {
        let server = start_sim().await;
        let venue = venue(&server);
        let hub = UserDataHub::new(venue.clone(), UserDataSettings::default());
        let alice = venue.with_account(alice_keys());
        let bob = venue.with_account(bob_keys());
        let alice_book = live_book(&hub, &alice).await;
        let bob_book = live_book(&hub, &bob).await;
        Pair {
            server,
            hub,
            alice,
            bob,
            alice_book,
            bob_book,
        }
    }
}

/// Waits until the book (answering from memory) shows `asset`'s free balance other than
/// `before`; its balances then.
async fn changed(book: &BalanceBook, asset: &str, before: Decimal) -> Vec<Balance> {
    let mut seen = Vec::new();
    wait_until("the book shows the change", async || {
        seen = book.balances().await.unwrap();
        free(&seen, asset) != before
    })
    .await;
    seen
}

#[tokio::test]
async fn a_market_order_changes_the_book_without_a_rest_read() {
    let server = start_sim().await;
    let venue = venue(&server);
    let hub = UserDataHub::new(venue.clone(), UserDataSettings::default());
    let alice = venue.with_account(alice_keys());
    let book = live_book(&hub, &alice).await;
    let primed = book.balances().await.unwrap();
    assert_eq!(primed, rest_balances(&alice).await);
    assert_eq!(free(&primed, "BTC"), Decimal::ONE);

    alice
        .place_market_order(&symbol("BTCUSDT"), Side::Buy, base("0.01"), "alice-1")
        .await
        .unwrap();
    let weight_after_order = weight_used_today(&server);
    let seen = changed(&book, "BTC", Decimal::ONE).await;
    for _ in 0..20 {
        assert_eq!(book.balances().await.unwrap(), seen);
    }
    assert_eq!(
        weight_used_today(&server),
        weight_after_order,
        "the book answered 20+ asks from memory, with no request"
    );
    assert!(free(&seen, "BTC") > Decimal::ONE);
    assert!(free(&seen, "USDT") < Decimal::from(10_000));
    assert_eq!(seen, rest_balances(&alice).await);
}

#[tokio::test]
async fn two_accounts_share_one_connection_and_each_book_sees_only_its_own() {
    let Pair {
        server,
        hub,
        alice,
        bob,
        alice_book,
        bob_book,
    } = Pair::live().await;
    assert_eq!(hub.connections(), 1);
    assert_eq!(
        ws_api_sockets(&server).await,
        [vec![ALICE_KEY.to_owned(), BOB_KEY.to_owned()]]
    );
    let alice_before = alice_book.balances().await.unwrap();

    bob.place_market_order(&symbol("ETHUSDT"), Side::Sell, base("0.1"), "bob-1")
        .await
        .unwrap();
    let weight = weight_used_today(&server);
    let bob_after = changed(&bob_book, "ETH", Decimal::from(3)).await;
    assert_eq!(alice_book.balances().await.unwrap(), alice_before);
    assert_eq!(weight_used_today(&server), weight, "from memory");
    assert_eq!(bob_after, rest_balances(&bob).await);

    alice
        .place_market_order(&symbol("BTCUSDT"), Side::Buy, base("0.001"), "alice-1")
        .await
        .unwrap();
    let alice_after = changed(&alice_book, "BTC", Decimal::ONE).await;
    assert_eq!(bob_book.balances().await.unwrap(), bob_after);
    assert_eq!(alice_after, rest_balances(&alice).await);
    assert_eq!(free(&alice_after, "ETH"), Decimal::ZERO);
    assert_eq!(free(&bob_after, "BTC"), Decimal::ZERO);

    // A closed book is unsubscribed; the other stays.
    alice_book.close();
    wait_until("Alice is unsubscribed", async || {
        ws_api_sockets(&server).await == [vec![BOB_KEY.to_owned()]]
    })
    .await;
    assert!(!alice_book.is_live());
    assert!(bob_book.is_live());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_falls_back_to_rest_then_resubscribes_and_is_right_again() {
    let Pair {
        server,
        hub,
        alice,
        bob,
        alice_book,
        bob_book,
    } = Pair::live().await;

    let dropped = admin(
        &server,
        reqwest::Method::POST,
        "/sockets/drop",
        json!({"service": "ws_api"}),
    )
    .await;
    assert_eq!(dropped["dropped"], 1);
    // The reconnection takes a backoff, a connection, a subscription and a REST read: the
    // book is off memory until then.
    let deadline = Instant::now() + WAIT;
    while alice_book.is_live() {
        assert!(Instant::now() < deadline, "the book never left memory");
        tokio::task::yield_now().await;
    }
    // Meanwhile an order moves Alice's balances: the book answers by REST, and right.
    alice
        .place_market_order(&symbol("BTCUSDT"), Side::Buy, base("0.002"), "alice-1")
        .await
        .unwrap();
    let fallback = alice_book.balances().await.unwrap();
    assert_eq!(fallback, rest_balances(&alice).await);

    wait_until("both books are live again", async || {
        alice_book.is_live() && bob_book.is_live()
    })
    .await;
    assert_eq!(hub.connections(), 1);
    assert_eq!(
        ws_api_sockets(&server).await,
        [vec![ALICE_KEY.to_owned(), BOB_KEY.to_owned()]],
        "one new connection carries both again"
    );
    assert_eq!(alice_book.balances().await.unwrap(), fallback);

    alice
        .place_market_order(&symbol("BTCUSDT"), Side::Sell, base("0.001"), "alice-2")
        .await
        .unwrap();
    let weight = weight_used_today(&server);
    let after = changed(&alice_book, "BTC", free(&fallback, "BTC")).await;
    assert_eq!(weight_used_today(&server), weight, "from memory again");
    assert_eq!(after, rest_balances(&alice).await);
    assert_eq!(
        bob_book.balances().await.unwrap(),
        rest_balances(&bob).await
    );
}

#[tokio::test]
async fn a_revoked_key_gives_its_book_the_refusal_and_leaves_the_other_live() {
    let Pair {
        server,
        hub: _hub,
        alice: _,
        bob,
        alice_book,
        bob_book,
    } = Pair::live().await;

    admin(
        &server,
        reqwest::Method::PUT,
        &format!("/accounts/{ALICE_KEY}/key"),
        json!({"enabled": false}),
    )
    .await;
    // The exchange checks the key when it subscribes: on the next connection.
    admin(
        &server,
        reqwest::Method::POST,
        "/sockets/drop",
        json!({"service": "ws_api"}),
    )
    .await;
    wait_until("Alice is refused and Bob live again", async || {
        alice_book.refusal().is_some() && bob_book.is_live()
    })
    .await;
    let weight = weight_used_today(&server);
    let error = alice_book.balances().await.unwrap_err();
    assert_eq!(
        error.key_problem(),
        Some(KeyProblem::KeyRejected),
        "{error}"
    );
    assert_eq!(error.code(), Some(-2015));
    assert_eq!(
        weight_used_today(&server),
        weight,
        "a refused key is reported without asking the exchange again"
    );
    assert_eq!(ws_api_sockets(&server).await, [vec![BOB_KEY.to_owned()]]);

    bob.place_market_order(&symbol("ETHUSDT"), Side::Sell, base("0.1"), "bob-1")
        .await
        .unwrap();
    let weight = weight_used_today(&server);
    let after = changed(&bob_book, "ETH", Decimal::from(3)).await;
    assert_eq!(weight_used_today(&server), weight, "Bob's book from memory");
    assert_eq!(after, rest_balances(&bob).await);
}

#[tokio::test]
async fn past_the_per_connection_limit_another_connection_opens() {
    let server = start_sim().await;
    let venue = venue(&server);
    let settings = UserDataSettings {
        max_subscriptions_per_connection: 1,
        ..UserDataSettings::default()
    };
    let hub = UserDataHub::new(venue.clone(), settings);
    let alice_book = live_book(&hub, &venue.with_account(alice_keys())).await;
    let bob_book = live_book(&hub, &venue.with_account(bob_keys())).await;
    assert_eq!(hub.connections(), 2);
    let mut sockets = ws_api_sockets(&server).await;
    sockets.sort();
    assert_eq!(
        sockets,
        [vec![ALICE_KEY.to_owned()], vec![BOB_KEY.to_owned()]]
    );
    assert!(alice_book.is_live() && bob_book.is_live());
}

#[tokio::test]
async fn a_deposit_sends_the_next_ask_to_rest_once() {
    let server = start_sim().await;
    let venue = venue(&server);
    let hub = UserDataHub::new(venue.clone(), UserDataSettings::default());
    let alice = venue.with_account(alice_keys());
    let book = live_book(&hub, &alice).await;

    admin(
        &server,
        reqwest::Method::POST,
        &format!("/accounts/{ALICE_KEY}/balances"),
        json!({"asset": "USDT", "amount": "250"}),
    )
    .await;
    wait_until("the balanceUpdate marks the book stale", async || {
        !book.is_live()
    })
    .await;
    let weight = weight_used_today(&server);
    let read = book.balances().await.unwrap();
    assert_eq!(weight_used_today(&server), weight + ACCOUNT_WEIGHT);
    assert_eq!(free(&read, "USDT"), Decimal::from(10_250));
    assert!(book.is_live(), "the REST read primed it again");
    assert_eq!(book.balances().await.unwrap(), read);
    assert_eq!(weight_used_today(&server), weight + ACCOUNT_WEIGHT);
}

#[tokio::test]
async fn only_books_asked_for_are_reconciled_by_rest() {
    let server = start_sim().await;
    let venue = venue(&server);
    let period = Duration::from_millis(200);
    let settings = UserDataSettings {
        reconcile_every: period,
        ..UserDataSettings::default()
    };
    let hub = UserDataHub::new(venue.clone(), settings);
    let alice = venue.with_account(alice_keys());
    let book = live_book(&hub, &alice).await;

    let idle = weight_used_today(&server);
    tokio::time::sleep(period * 4).await;
    assert_eq!(
        weight_used_today(&server),
        idle,
        "an idle book costs nothing"
    );

    book.balances().await.unwrap();
    wait_until("the reconcile reads the account", async || {
        weight_used_today(&server) > idle
    })
    .await;
    assert_eq!(weight_used_today(&server), idle + ACCOUNT_WEIGHT);
    tokio::time::sleep(period * 4).await;
    assert_eq!(
        weight_used_today(&server),
        idle + ACCOUNT_WEIGHT,
        "one read per period the book was asked in"
    );
    assert!(book.is_live());
    assert_eq!(book.balances().await.unwrap(), rest_balances(&alice).await);
}

#[test]
fn websocket_api_urls_follow_the_rest_url_and_are_validated() {
    let live = ClientConfig::new(binance::BINANCE_LIVE_URL);
    assert_eq!(live.ws_api_url, binance::BINANCE_LIVE_WS_API_URL);
    assert_eq!(live.ws_api_url, "wss://ws-api.binance.com:443/ws-api/v3");
    let testnet = ClientConfig::new(binance::BINANCE_SPOT_TESTNET_URL);
    assert_eq!(
        testnet.ws_api_url,
        "wss://ws-api.testnet.binance.vision/ws-api/v3"
    );
    let local = ClientConfig::new("http://127.0.0.1:8080");
    assert_eq!(local.ws_api_url, "ws://127.0.0.1:8080/ws-api/v3");
    let mut broken = ClientConfig::new("http://127.0.0.1:8080");
    broken.ws_api_url = "http://127.0.0.1:8080/ws-api/v3".to_owned();
    assert_eq!(
        Client::new(broken).unwrap_err(),
        binance::ConfigError::WsApiUrl("http://127.0.0.1:8080/ws-api/v3".to_owned())
    );
}
