//! The API's HTTP test harness, shared by the integration tests: a [`Server`] running
//! `api::serve` on 127.0.0.1:0 with a oneshot shutdown and a reqwest client for it, sending raw
//! bodies with any content type or JSON; the [`Answer`] it gets back; [`assert_error`] for the
//! JSON error bodies; the register/login helpers; and [`config`], cheap password hashes.
//!
//! The server trades on two real simulators on loopback: one as its paper venue (users' paper
//! accounts are opened there through its admin API), one as its testnet (tests open accounts on
//! it and store their keys through the API).

#![allow(dead_code)] // Each test file uses its own part of the harness.

use std::sync::Arc;

use accounts::{AccountClients, MasterKey, PaperAccounts, PasswordCost, Venue, Venues};
use api::{ApiConfig, ApiState};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sim::{Account, Credentials, Exchange, ExchangeConfig, RunningSim, SystemClock};
use store::testing::TestDatabase;
use store::{Mode, Store};
use tokio::sync::oneshot;

/// The password of every user the helpers register.
pub const PASSWORD: &str = "correct horse battery";

/// Cheap password hashes (still argon2id), so that the tests do not spend seconds per login.
pub fn config() -> ApiConfig {
    ApiConfig {
        password_cost: PasswordCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        ..ApiConfig::default()
    }
}

/// A running API and a client for it.
pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    /// The paper venue's exchange.
    pub paper: RunningSim,
    /// The testnet venue's exchange.
    pub testnet: RunningSim,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<serve::Drained>,
    /// The database the server owns (see [`Server::start_sqlite`]), removed by [`Server::stop`].
    database: Option<TestDatabase>,
}

/// An answer: status, `Content-Type`, `WWW-Authenticate` and `Retry-After`, the body as text, and
/// the body as JSON (`null` when empty, a string when not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<u64>,
    pub text: String,
    pub body: Value,
}

impl Answer {
    /// The body as JSON; panics when it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }
}

impl Server {
    /// Serves `store` with `config`.
    pub async fn start(store: &Store, config: ApiConfig) -> Server {
        Server::serve(store, config, None).await
    }

    /// Serves a new SQLite database with `config`; [`Server::stop`] removes it.
    pub async fn start_sqlite(config: ApiConfig) -> Server {
        let database = TestDatabase::sqlite().await;
        let store = database.store().clone();
        Server::serve(&store, config, Some(database)).await
    }

    async fn serve(store: &Store, config: ApiConfig, database: Option<TestDatabase>) -> Server {
        let paper = start_exchange().await;
        let testnet = start_exchange().await;
        let paper_url = format!("http://{}", paper.local_addr());
        let venues = Venues::new()
            .with(
                Venue::new(Mode::Paper, venue_client(&paper)).with_paper_accounts(
                    PaperAccounts::new(&paper_url, accounts::default_starting_balances()).unwrap(),
                ),
            )
            .with(Venue::new(Mode::Testnet, venue_client(&testnet)));
        let accounts = Arc::new(AccountClients::new(
            store.clone(),
            MasterKey::from_bytes([9; 32]),
            venues,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(
            listener,
            ApiState::new(store.clone(), accounts, config),
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            base,
            client: reqwest::Client::new(),
            paper,
            testnet,
            stop: Some(stop),
            task,
            database,
        }
    }

    /// Sends `method path` with `body` as `content_type` (no header when `None`) and `token`.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
    ) -> Answer {
        let mut request = self.request(method, path, token).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        answer(request).await
    }

    /// Sends `method path` with `body` as JSON (no body when `None`) and `token`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Answer {
        let mut request = self.request(method, path, token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        answer(request).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(Method::GET, path, None, token).await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Answer {
        self.send(Method::POST, path, Some(body), token).await
    }

    /// Registers `username` (`username@example.com`, [`PASSWORD`]).
    pub async fn register(&self, username: &str) -> Answer {
        self.post(
            "/api/v1/auth/register",
            json!({"email": format!("{username}@example.com"), "username": username, "password": PASSWORD}),
            None,
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Answer {
        self.post(
            "/api/v1/auth/login",
            json!({"username": username, "password": password}),
            None,
        )
        .await
    }

    /// Registers `username` and logs in, checking that both succeed: the answers of both, and
    /// the token.
    pub async fn sign_up(&self, username: &str) -> (Answer, Answer, String) {
        let registered = self.register(username).await;
        assert_eq!(registered.status, StatusCode::CREATED, "{registered:?}");
        let login = self.login(username, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{login:?}");
        let token = login.body["token"].as_str().unwrap().to_owned();
        (registered, login, token)
    }

    /// A new account on the testnet exchange holding `usdt`, and its HMAC key.
    pub fn open_testnet_account(&self, usdt: u32) -> Credentials {
        let credentials = Credentials::generate();
        self.testnet.exchange().lock().add_account(Account::new(
            credentials.clone(),
            [("USDT".to_owned(), Decimal::from(usdt))],
            sim::STANDARD_COMMISSION_RATE,
        ));
        credentials
    }

    /// Stops the server, checks that it stopped cleanly, and removes its own database if any.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        assert_eq!(
            self.task.await.unwrap().abandoned,
            0,
            "every request finished"
        );
        if let Some(database) = self.database.take() {
            database.cleanup().await;
        }
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// A simulator on loopback, its market in real time.
async fn start_exchange() -> RunningSim {
    let exchange = Exchange::new(ExchangeConfig::default(), Arc::new(SystemClock::new()))
        .expect("the default exchange");
    sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts")
}

/// The shared client of a venue on `exchange`.
fn venue_client(exchange: &RunningSim) -> binance::Client {
    binance::Client::new(binance::ClientConfig::new(format!(
        "http://{}",
        exchange.local_addr()
    )))
    .expect("a valid client configuration")
}

/// Sends `request` and reads the answer.
pub async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let (content_type, www_authenticate, retry_after) = (
        header("content-type"),
        header("www-authenticate"),
        header("retry-after").map(|secs| secs.parse().unwrap()),
    );
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
    };
    Answer {
        status,
        content_type,
        www_authenticate,
        retry_after,
        text,
        body,
    }
}

/// Asserts that `answer` is the JSON error `status`/`code` about `field`: only those.
#[track_caller]
pub fn assert_error_code(answer: &Answer, status: StatusCode, code: &str, field: Option<&str>) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.body["code"], code, "{answer:?}");
    assert_eq!(answer.body["field"], json!(field), "{answer:?}");
}

/// Asserts that `answer` is the JSON error `status`/`code` about `field`, with a message and
/// nothing else.
#[track_caller]
pub fn assert_error(answer: &Answer, status: StatusCode, code: &str, field: Option<&str>) {
    assert_eq!(answer.status, status, "{answer:?}");
    let body = answer.json();
    assert_eq!(body["code"], code, "{answer:?}");
    assert_eq!(body["field"], json!(field), "{answer:?}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{answer:?}"
    );
    assert_eq!(body.as_object().unwrap().len(), 3, "{answer:?}");
}
