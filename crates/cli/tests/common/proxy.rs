//! [`CuttableProxy`]: a TCP proxy on loopback between one process and the database, to fail that
//! link while the process keeps running and keeps reaching everything else:
//! - [`cut`](CuttableProxy::cut): every connection closes at once and new ones are refused (a
//!   network partition) until [`restore`](CuttableProxy::restore);
//! - [`freeze`](CuttableProxy::freeze): connections stay open but nothing moves, so every
//!   statement in flight hangs (a stall: the process waits on the database, then carries on late)
//!   until [`thaw`](CuttableProxy::thaw).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The state every connection of the proxy watches.
struct Link {
    /// Set while cut: new connections are refused.
    cut: AtomicBool,
    /// Bumped by each cut: open connections close.
    cuts: watch::Sender<u64>,
    /// True while frozen: nothing is forwarded.
    frozen: watch::Sender<bool>,
}

/// A proxy to one address (see the module's documentation).
pub struct CuttableProxy {
    address: SocketAddr,
    link: Arc<Link>,
}

impl CuttableProxy {
    /// A proxy to `target`, listening on a free loopback port.
    pub async fn start(target: SocketAddr) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let link = Arc::new(Link {
            cut: AtomicBool::new(false),
            cuts: watch::channel(0).0,
            frozen: watch::channel(false).0,
        });
        let accepting = link.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accepting.cut.load(Ordering::SeqCst) {
                    continue;
                }
                let link = accepting.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut cuts = link.cuts.subscribe();
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        () = forward(client_read, server_write, link.frozen.subscribe()) => {}
                        () = forward(server_read, client_write, link.frozen.subscribe()) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        CuttableProxy { address, link }
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Cuts the link: every connection closes, new ones are refused.
    pub fn cut(&self) {
        self.link.cut.store(true, Ordering::SeqCst);
        self.link.cuts.send_modify(|cuts| *cuts += 1);
    }

    /// Restores the link after a cut.
    pub fn restore(&self) {
        self.link.cut.store(false, Ordering::SeqCst);
    }

    /// Freezes the link: connections stay open, nothing is forwarded.
    pub fn freeze(&self) {
        self.link.frozen.send_replace(true);
    }

    /// Lets what waited through.
    pub fn thaw(&self) {
        self.link.frozen.send_replace(false);
    }
}

/// Copies `from` to `to`, holding each chunk while the link is frozen; ends when either side
/// closes.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if frozen.wait_for(|frozen| !*frozen).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
