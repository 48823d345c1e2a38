//! A local receiver for tests of notifications: an HTTP server on loopback that records every
//! request (path, headers, body) and answers as told: accept, fail the first few with 503,
//! never answer, or answer as Telegram's Bot API does. It can be stopped and started again on
//! the same port, to play a receiver that is down for a while.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How a [`Receiver`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 to everything (`{"ok":true}`, which is also what Telegram answers).
    Accept,
    /// 503 to the first `n` requests, then 200.
    FailFirst(usize),
    /// Never answers (the request hangs until the client gives up).
    Hang,
    /// 401 `{"ok":false,...}`, as Telegram answers a bad bot token.
    Unauthorized,
    /// 503 with a body of this many bytes (a receiver that answers far more than anyone reads).
    FailWithBody(usize),
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its path and query.
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Vec<u8>,
}

impl Received {
    /// The header `name`, as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Debug)]
struct Shared {
    behaviour: Behaviour,
    received: Mutex<Vec<Received>>,
}

/// A recording HTTP receiver on loopback.
#[derive(Debug)]
pub struct Receiver {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

impl Receiver {
    /// A receiver answering as `behaviour`, on a free port, started.
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let mut receiver = Receiver {
            address: listener.local_addr().expect("its address"),
            shared: Arc::new(Shared {
                behaviour,
                received: Mutex::new(Vec::new()),
            }),
            server: None,
        };
        receiver.serve(listener);
        receiver
    }

    /// A receiver answering as `behaviour` on a port where nothing listens yet: it is down
    /// until [`Receiver::restart`].
    pub async fn down(behaviour: Behaviour) -> Receiver {
        let mut receiver = Receiver::start(behaviour).await;
        receiver.stop().await;
        receiver
    }

    fn serve(&mut self, listener: TcpListener) {
        let app = axum::Router::new()
            .fallback(record)
            .with_state(self.shared.clone());
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// Stops listening (connections are refused from now on).
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.address).await {
                Ok(listener) => break listener,
                Err(error) if tokio::time::Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("cannot listen on {} again: {error}", self.address),
            }
        };
        self.serve(listener);
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("not poisoned").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let count = {
        let mut received = shared.received.lock().expect("not poisoned");
        received.push(Received {
            path: uri.to_string(),
            headers,
            body: body.to_vec(),
        });
        received.len()
    };
    let ok = (StatusCode::OK, r#"{"ok":true,"result":{}}"#);
    match shared.behaviour {
        Behaviour::Accept => ok.into_response(),
        Behaviour::FailFirst(n) if count > n => ok.into_response(),
        Behaviour::FailFirst(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "busy, try later").into_response()
        }
        Behaviour::Hang => std::future::pending().await,
        Behaviour::FailWithBody(bytes) => {
            (StatusCode::SERVICE_UNAVAILABLE, "x".repeat(bytes)).into_response()
        }
        Behaviour::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
        )
            .into_response(),
    }
}
