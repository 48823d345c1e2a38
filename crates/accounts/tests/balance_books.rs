//! [`AccountClients::balance_book`] against a real simulator over loopback: the book of a user's
//! account is made once and kept with its client, answers from the user data stream after an
//! order with no REST read, and is closed (its subscription ended at the exchange) when the
//! user's key is replaced or deleted, the next book following the new key.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accounts::{AccountClients, KeySubmission, MasterKey, Venue, Venues};
use market::{Quantity, Side, Symbol};
use rust_decimal::Decimal;
use serde_json::Value;
use sim::{
    Account, Exchange, ExchangeConfig, RateLimit, RateLimitInterval, RateLimitType, RunningSim,
    SystemClock,
};
use store::testing::TestDatabase;
use store::{Mode, NewUser, Role, UserId};
use zeroize::Zeroizing;

const FIRST_KEY: &str = "firstBookKey0123456789firstBookKey0123456789firstBookKey01234567";
const FIRST_SECRET: &str = "firstBookSecret0123456789firstBookSecret0123456789firstBookSecr";
const SECOND_KEY: &str = "secondBookKey0123456789secondBookKey0123456789secondBookKey01234";
const SECOND_SECRET: &str = "secondBookSecret0123456789secondBookSecret0123456789secondBookS";
const WAIT: Duration = Duration::from_secs(10);

/// A simulator with two accounts: the first holds USDT and BTC, the second USDT only.
async fn exchange() -> RunningSim {
    // One weight window a day, so that none ends during the test.
    let config = ExchangeConfig {
        rate_limits: vec![RateLimit {
            limit_type: RateLimitType::RequestWeight,
            interval: RateLimitInterval::Day,
            interval_num: 1,
            limit: 1_000_000,
        }],
        ..ExchangeConfig::default()
    };
    let mut exchange =
        Exchange::new(config, Arc::new(SystemClock::new())).expect("a valid exchange");
    let accounts = [
        (FIRST_KEY, FIRST_SECRET, vec![("USDT", 10_000), ("BTC", 1)]),
        (SECOND_KEY, SECOND_SECRET, vec![("USDT", 500)]),
    ];
    for (key, secret, balances) in accounts {
        exchange.add_account(Account::with_key(
            key.to_owned(),
            sim::SignatureKey::Hmac(secret.to_owned()),
            balances
                .into_iter()
                .map(|(asset, amount)| (asset.to_owned(), Decimal::from(amount))),
            sim::STANDARD_COMMISSION_RATE,
        ));
    }
    sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts")
}

/// Account clients on `exchange` as the testnet venue, and a user.
async fn accounts(database: &TestDatabase, exchange: &RunningSim) -> (AccountClients, UserId) {
    let mut config = binance::ClientConfig::new(format!("http://{}", exchange.local_addr()));
    config.retry.backoff_base = Duration::from_millis(20);
    let venue_client = binance::Client::new(config).unwrap();
    let venues = Venues::new().with(Venue::new(Mode::Testnet, venue_client));
    let store = database.store().clone();
    let user = store
        .create_user(
            &NewUser {
                email: "books@example.com".to_owned(),
                username: "books".to_owned(),
                password_hash: None,
                role: Role::User,
            },
            1,
        )
        .await
        .unwrap();
    let clients = AccountClients::new(store, MasterKey::from_bytes([5; 32]), venues);
    (clients, user.id)
}

fn hmac(key: &str, secret: &str) -> KeySubmission {
    KeySubmission::hmac(key.to_owned(), Zeroizing::new(secret.to_owned()))
}

/// The API keys the simulator's WebSocket API connections are subscribed to.
async fn subscribed_keys(exchange: &RunningSim) -> Vec<String> {
    let url = format!("http://{}/_sim/sockets", exchange.local_addr());
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let listed: Value = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|socket| socket["service"] == "ws_api")
        .flat_map(|socket| socket["accounts"].as_array().unwrap().clone())
        .map(|key| key.as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

/// The weight the simulator has counted for the loopback IP today.
fn weight_used(exchange: &RunningSim) -> u64 {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let headers = exchange.exchange().lock().usage_headers(ip, None);
    headers
        .iter()
        .find(|(name, _)| name == "X-MBX-USED-WEIGHT-1D")
        .map(|(_, used)| *used)
        .expect("a daily weight window")
}

async fn wait_until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn free(balances: &[binance::Balance], asset: &str) -> Decimal {
    balances
        .iter()
        .find(|balance| balance.asset == asset)
        .map_or(Decimal::ZERO, |balance| balance.free)
}

#[tokio::test]
async fn a_users_book_follows_the_stream_and_is_unsubscribed_when_the_key_changes() {
    let database = TestDatabase::sqlite().await;
    let exchange = exchange().await;
    let (clients, user) = accounts(&database, &exchange).await;
    clients
        .set_key(user, Mode::Testnet, &hmac(FIRST_KEY, FIRST_SECRET))
        .await
        .unwrap();

    let book = clients.balance_book(user, Mode::Testnet).await.unwrap();
    assert_eq!(book.api_key(), FIRST_KEY);
    book.balances().await.unwrap();
    wait_until("the book is live", async || book.is_live()).await;
    let again = clients.balance_book(user, Mode::Testnet).await.unwrap();
    assert!(again.is_live(), "the same book, kept with the client");
    assert_eq!(subscribed_keys(&exchange).await, [FIRST_KEY]);

    let client = clients.client(user, Mode::Testnet).await.unwrap();
    client
        .place_market_order(
            &Symbol::new("BTCUSDT").unwrap(),
            Side::Buy,
            binance::OrderSize::Base("0.01".parse::<Quantity>().unwrap()),
            "book-1",
        )
        .await
        .unwrap();
    let weight = weight_used(&exchange);
    let mut seen = Vec::new();
    wait_until("the order shows in the book", async || {
        seen = again.balances().await.unwrap();
        free(&seen, "BTC") > Decimal::ONE
    })
    .await;
    assert_eq!(weight_used(&exchange), weight, "answered from memory");
    let mut rest = client.balances().await.unwrap();
    rest.sort_by(|left, right| left.asset.cmp(&right.asset));
    assert_eq!(seen, rest);

    // Replacing the key closes the old book and unsubscribes it; the next book is the new key's.
    clients
        .set_key(user, Mode::Testnet, &hmac(SECOND_KEY, SECOND_SECRET))
        .await
        .unwrap();
    assert!(!book.is_live());
    wait_until("the old key is unsubscribed", async || {
        subscribed_keys(&exchange).await.is_empty()
    })
    .await;
    let replaced = clients.balance_book(user, Mode::Testnet).await.unwrap();
    assert_eq!(replaced.api_key(), SECOND_KEY);
    let balances = replaced.balances().await.unwrap();
    assert_eq!(free(&balances, "USDT"), Decimal::from(500));
    assert_eq!(free(&balances, "BTC"), Decimal::ZERO);
    wait_until("the new key is subscribed", async || {
        subscribed_keys(&exchange).await == [SECOND_KEY]
    })
    .await;

    // Deleting it unsubscribes it too.
    assert!(
        clients
            .delete_key(user, Mode::Testnet, "key deleted by the test")
            .await
            .unwrap()
    );
    wait_until("the deleted key is unsubscribed", async || {
        subscribed_keys(&exchange).await.is_empty()
    })
    .await;
    assert!(!replaced.is_live());
}
