//! Shared by the HTTP tests: an in-process simulator on a loopback port with a manual clock and
//! a funded account, a client that signs like Binance's docs say, and a comparison of JSON shapes
//! against the Binance doc fixtures in `tests/fixtures/`.

#![allow(dead_code)] // Each test binary uses its own subset of these helpers.

use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::Value;

use sim::{
    Account, Credentials, DurableState, Exchange, ExchangeConfig, ExchangeHandle, ManualClock,
    RunningSim, STANDARD_COMMISSION_RATE, ServeOptions, sign,
};

/// Where the manual clock starts: 2025-06-15 12:00:30 UTC (mid-minute on purpose).
pub const START_MS: i64 = 1_749_988_830_000;
/// A day of history keeps walk generation fast in debug builds.
pub const HISTORY_MS: i64 = 24 * 3_600_000;

/// A running simulator and a client for it.
pub struct TestSim {
    pub server: RunningSim,
    pub clock: Arc<ManualClock>,
    pub credentials: Credentials,
    client: reqwest::Client,
    base_url: String,
}

/// The funded test account's credentials (fixed, so failures are reproducible).
pub fn test_credentials() -> Credentials {
    Credentials {
        api_key: "simTestKey0123456789simTestKey0123456789simTestKey0123456789abcd".into(),
        secret: "simTestSecret0123456789simTestSecret0123456789simTestSecret01234".into(),
    }
}

/// What the test account holds at the start.
pub fn starting_balances() -> Vec<(String, Decimal)> {
    vec![
        ("USDT".to_owned(), Decimal::from(10_000)),
        ("BTC".to_owned(), Decimal::new(5, 1)),
    ]
}

impl TestSim {
    /// A simulator with the default symbols and one funded account.
    pub async fn start() -> TestSim {
        TestSim::start_with(test_config()).await
    }

    /// A simulator with `config` and one funded account.
    pub async fn start_with(config: ExchangeConfig) -> TestSim {
        let clock = Arc::new(ManualClock::new(START_MS));
        let mut exchange = Exchange::new(config, clock.clone()).expect("default config is valid");
        exchange.add_account(Account::new(
            test_credentials(),
            starting_balances(),
            STANDARD_COMMISSION_RATE,
        ));
        let server = sim::start(exchange, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the simulator starts on a free loopback port");
        TestSim::on(server, clock)
    }

    /// A simulator kept durably in `state`'s files, on a manual clock at `now_ms`, with the funded
    /// account added when the state does not have it yet.
    pub async fn start_durable(mut state: DurableState, now_ms: i64) -> TestSim {
        let clock = Arc::new(ManualClock::new(now_ms));
        let mut exchange =
            Exchange::new(test_config(), clock.clone()).expect("default config is valid");
        state
            .restore_into(&mut exchange)
            .expect("the state restores");
        let credentials = test_credentials();
        if exchange.account(&credentials.api_key).is_none() {
            exchange.add_account(Account::new(
                credentials,
                starting_balances(),
                STANDARD_COMMISSION_RATE,
            ));
        }
        let options = ServeOptions {
            durable: Some(state),
            ..ServeOptions::default()
        };
        let server = sim::start_with(exchange, "127.0.0.1:0".parse().unwrap(), options)
            .await
            .expect("the durable simulator starts");
        TestSim::on(server, clock)
    }

    /// The test client of `server`, whose clock is `clock`.
    fn on(server: RunningSim, clock: Arc<ManualClock>) -> TestSim {
        let base_url = format!("http://{}", server.local_addr());
        TestSim {
            server,
            clock,
            credentials: test_credentials(),
            client: reqwest::Client::new(),
            base_url,
        }
    }

    /// The exchange behind the server.
    pub fn exchange(&self) -> &ExchangeHandle {
        self.server.exchange()
    }

    /// A public GET with `query` (already encoded).
    pub async fn get(&self, path: &str, query: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, query, "", None).await
    }

    /// A SIGNED request with `params` in the query string, `timestamp` set to the server's now.
    pub async fn signed(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let timestamp = self.clock_now().to_string();
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.push(("timestamp", &timestamp));
        let query = encode(&all);
        self.signed_raw(method, path, &query, "", &self.credentials)
            .await
    }

    /// Like [`signed`](Self::signed), with the response headers too.
    pub async fn signed_with_headers(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let response = self
            .try_signed(method, path, params)
            .await
            .expect("the simulator answers");
        into_parts(response).await
    }

    /// A SIGNED request as in [`signed`](Self::signed), returning the transport's outcome as is
    /// (for faults that break the connection).
    pub async fn try_signed(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> reqwest::Result<reqwest::Response> {
        let timestamp = self.clock_now().to_string();
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.push(("timestamp", &timestamp));
        let query = encode(&all);
        let signature = sign(&self.credentials.secret, &query);
        let url = format!("{}{path}?{query}&signature={signature}", self.base_url);
        self.client
            .request(method, url)
            .header("X-MBX-APIKEY", &self.credentials.api_key)
            .send()
            .await
    }

    /// A public GET with the response headers too.
    pub async fn get_with_headers(
        &self,
        path: &str,
        query: &str,
    ) -> (StatusCode, HeaderMap, Value) {
        let url = format!("{}{path}?{query}", self.base_url);
        let response = self
            .client
            .get(url)
            .send()
            .await
            .expect("the simulator answers");
        into_parts(response).await
    }

    /// An admin API request (`path` under `/_sim`), with an optional JSON body.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/_sim{path}", self.base_url));
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the admin API answers");
        let (status, _, json) = into_parts(response).await;
        (status, json)
    }

    /// A request signed with `credentials` over exactly `query` + `body`, the signature appended to
    /// the query string.
    pub async fn signed_raw(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: &str,
        credentials: &Credentials,
    ) -> (StatusCode, Value) {
        let signature = sign(&credentials.secret, &format!("{query}{body}"));
        let query = if query.is_empty() {
            format!("signature={signature}")
        } else {
            format!("{query}&signature={signature}")
        };
        self.send(method, path, &query, body, Some(&credentials.api_key))
            .await
    }

    /// Sends a request and returns the status and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: &str,
        api_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let url = if query.is_empty() {
            format!("{}{path}", self.base_url)
        } else {
            format!("{}{path}?{query}", self.base_url)
        };
        let mut request = self.client.request(method, url);
        if let Some(key) = api_key {
            request = request.header("X-MBX-APIKEY", key);
        }
        if !body.is_empty() {
            request = request
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.to_owned());
        }
        let response = request.send().await.expect("the simulator answers");
        let status = response.status();
        let text = response.text().await.expect("a readable body");
        let json =
            serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"));
        (status, json)
    }

    /// The manual clock's time.
    pub fn clock_now(&self) -> i64 {
        use sim::Clock;
        self.clock.now_ms()
    }
}

/// The test configuration: the default one with a day of history.
pub fn test_config() -> ExchangeConfig {
    ExchangeConfig {
        history_ms: HISTORY_MS,
        ..ExchangeConfig::default()
    }
}

/// A response's status, headers and JSON body.
async fn into_parts(response: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a readable body");
    let json = serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"));
    (status, headers, json)
}

/// A response header as a number.
pub fn header_number(headers: &HeaderMap, name: &str) -> u64 {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `k=v&k=v`, percent-encoded.
pub fn encode(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// A Binance doc fixture copied into `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// A decimal from a JSON string field.
pub fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"))
        .parse()
        .unwrap_or_else(|_| panic!("{value} is not a decimal"))
}

/// Asserts that `actual` has the fixture's fields with the same JSON types, recursively, and no
/// other fields. Arrays of equal length are compared element by element (kline rows), otherwise
/// every element against the fixture's first. Fields in `optional` may be missing from `actual`.
pub fn assert_same_shape(actual: &Value, fixture: &Value, optional: &[&str]) {
    compare_shape(actual, fixture, optional, "$");
}

fn compare_shape(actual: &Value, fixture: &Value, optional: &[&str], path: &str) {
    match (actual, fixture) {
        (Value::Object(actual), Value::Object(fixture)) => {
            for (key, fixture_value) in fixture {
                match actual.get(key) {
                    Some(actual_value) => compare_shape(
                        actual_value,
                        fixture_value,
                        optional,
                        &format!("{path}.{key}"),
                    ),
                    None => assert!(optional.contains(&key.as_str()), "{path}.{key} is missing"),
                }
            }
            for key in actual.keys() {
                assert!(
                    fixture.contains_key(key),
                    "{path}.{key} is not in the fixture"
                );
            }
        }
        (Value::Array(actual), Value::Array(fixture)) => {
            if fixture.is_empty() {
                return;
            }
            for (index, element) in actual.iter().enumerate() {
                let reference = if actual.len() == fixture.len() {
                    &fixture[index]
                } else {
                    &fixture[0]
                };
                compare_shape(element, reference, optional, &format!("{path}[{index}]"));
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => {}
        (Value::Number(actual), Value::Number(fixture)) => {
            assert_eq!(
                actual.is_i64() || actual.is_u64(),
                fixture.is_i64() || fixture.is_u64(),
                "{path}: integer vs float"
            );
        }
        _ => panic!("{path}: {actual} has another JSON type than the fixture's {fixture}"),
    }
}

/// A Binance error payload's `(code, msg)`.
pub fn code_and_msg(error: &Value) -> (i64, &str) {
    (
        error["code"].as_i64().expect("an error has a numeric code"),
        error["msg"].as_str().expect("an error has a message"),
    )
}
