//! Log output of the long-running commands: `tracing` events to stderr, `info` and above by
//! default, `RUST_LOG` to change it (e.g. `RUST_LOG=engine=debug`). The database driver's
//! per-statement logs are kept at `warn` unless asked for.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber once (later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
