//! The limits of `serve::serve` over real loopback TCP: the connection cap, the head and idle
//! timeout, the body timeout, the bounded drain at shutdown, and the client's address reaching
//! the handlers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use serve::{Drained, Limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

fn app() -> Router {
    Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3_600)).await;
                "late"
            }),
        )
}

/// A server with `limits`, its address, the way to stop it and its end.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    ended: tokio::task::JoinHandle<Drained>,
}

async fn start(limits: Limits) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let ended = tokio::spawn(serve(listener, app(), limits, async move {
        let _ = stopped.await;
    }));
    Running { addr, stop, ended }
}

/// Sends `request` (raw HTTP/1.1) on a new connection and reads the answer until the server
/// closes it or `within` passes; the text read, and whether it closed.
async fn exchange(addr: SocketAddr, request: &str, within: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_until_closed(&mut stream, within).await
}

async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&received).into_owned(), true);
            }
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
        }
    }
}

const GET_PEER: &str = "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn the_handlers_see_the_clients_address() {
    let server = start(Limits::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    stream.write_all(GET_PEER.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed && answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&local.to_string()), "{answer}");
    server.stop.send(()).unwrap();
    assert_eq!(server.ended.await.unwrap(), Drained { abandoned: 0 });
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let server = start(Limits::default().with_max_connections(2)).await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Both slots are held by idle connections: the third is accepted by the kernel, not served.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third.write_all(GET_PEER.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut third, Duration::from_millis(500)).await;
    assert!(answer.is_empty(), "served beyond the cap: {answer}");
    drop(idle.pop());
    let (answer, closed) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(closed && answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop.send(()).unwrap();
}

#[tokio::test]
async fn a_silent_or_idle_connection_is_closed_after_the_header_timeout() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start(limits).await;
    let started = Instant::now();
    let (_, closed) = exchange(server.addr, "", Duration::from_secs(5)).await;
    assert!(closed, "a connection that sends nothing is closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A head that never ends counts the same.
    let (_, closed) = exchange(
        server.addr,
        "GET /peer HTTP/1.1\r\nHost:",
        Duration::from_secs(5),
    )
    .await;
    assert!(closed);
    // Idle after a first request (keep-alive): closed too.
    let (answer, closed) = exchange(
        server.addr,
        "GET /peer HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(closed && answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop.send(()).unwrap();
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_an_error_answer() {
    let limits = Limits {
        body_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start(limits).await;
    let started = Instant::now();
    let (answer, _) = exchange(
        server.addr,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 4") || answer.starts_with("HTTP/1.1 5"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let (answer, _) = exchange(
        server.addr,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        answer.ends_with("hello"),
        "a body in time is read: {answer}"
    );
    server.stop.send(()).unwrap();
}

#[tokio::test]
async fn shutdown_waits_for_requests_in_flight_no_longer_than_the_drain() {
    let limits = Limits {
        drain_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = start(limits).await;
    // One request that never finishes, one client that drips its body.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut dripping = TcpStream::connect(server.addr).await.unwrap();
    dripping
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.stop.send(()).unwrap();
    let drained = server.ended.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(drained, Drained { abandoned: 2 });
}
