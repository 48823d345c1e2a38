//! The shutdown request of long-running commands: the first Ctrl-C (SIGINT) or SIGTERM. The
//! handlers are registered when the future is made, not when it is first awaited, so a signal
//! that arrives early stops the process cleanly instead of killing it.

use std::future::Future;

/// A future that completes on the first SIGINT or SIGTERM.
#[cfg(unix)]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupts = signal(SignalKind::interrupt())?;
    let mut terminations = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupts.recv() => {}
            _ = terminations.recv() => {}
        }
    })
}

/// A future that completes on the first Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        // If listening fails there is no Ctrl-C to wait for; stopping at once is the safe answer.
        let _ = tokio::signal::ctrl_c().await;
    })
}
