//! What the tests of `spotbot run` share: [`spotbot`], the binary with a clean environment, and
//! [`Running`], a `spotbot run` (or `spotbot sim`) in the background whose log lines the test
//! waits for.

#![allow(dead_code)] // Each test file uses its own part of the harness.

pub mod proxy;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// README.md's text.
pub fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md is readable")
}

/// The code of the README block whose info string is `sh {name}`.
pub fn readme_block(readme: &str, name: &str) -> String {
    let opening = format!("```sh {name}\n");
    let start = readme
        .find(&opening)
        .unwrap_or_else(|| panic!("README.md has no block `{opening}`"))
        + opening.len();
    let length = readme[start..]
        .find("\n```")
        .unwrap_or_else(|| panic!("README.md's block {name} is not closed"));
    readme[start..start + length + 1].to_owned()
}

/// Runs `script` with bash in `dir` with `environment` on top of this one's (less the variables
/// that would point it elsewhere), stopping at the first failing command; its stdout, or a panic
/// with everything it printed.
pub fn run_bash(dir: &Path, environment: &[(&str, String)], script: &str) -> String {
    let mut command = Command::new("bash");
    command
        .args(["-e", "-o", "pipefail", "-c", script])
        .current_dir(dir)
        .env_remove("SPOTBOT_DATABASE_URL")
        .env_remove("SPOTBOT_PASSWORD");
    for (name, value) in environment {
        command.env(name, value);
    }
    let output = command.output().expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the script failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `spotbot` in `dir`, without the environment that would point it elsewhere.
pub fn spotbot(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spotbot"));
    command
        .current_dir(dir)
        .env_remove("SPOTBOT_DATABASE_URL")
        .env_remove("SPOTBOT_EXCHANGE")
        .env("RUST_LOG", "info");
    command
}

/// A running `spotbot run`, and its log lines as they come.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Starts `spotbot run` in `dir` with the market at 600x and the API on a free port.
    pub fn start(dir: &Path) -> Running {
        Running::start_with(dir, &[])
    }

    /// [`Running::start`] with `extra` arguments.
    pub fn start_with(dir: &Path, extra: &[&str]) -> Running {
        // Port 0: a test machine may have 8080 taken.
        let mut args = vec!["run", "--sim-speed", "600", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Running::spawn(spotbot(dir).args(args))
    }

    /// Starts `spotbot sim` in `dir` on a free port, its admin API open to this machine (as the
    /// README's testnet stand-in: `--open-admin`).
    pub fn sim(dir: &Path) -> Running {
        Running::spawn(spotbot(dir).args(["sim", "--listen", "127.0.0.1:0", "--open-admin"]))
    }

    /// Starts `command` with its output read line by line.
    pub fn spawn(command: &mut Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spotbot starts");
        let (sender, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The address (`127.0.0.1:PORT`) of the HTTP API, from the line that announces it.
    pub fn api_address(&mut self) -> String {
        self.address_after("HTTP API at http://")
    }

    /// The address (`127.0.0.1:PORT`) a `spotbot sim` serves, from the line that announces it.
    pub fn exchange_address(&mut self) -> String {
        self.address_after("spot exchange at http://")
    }

    /// The address at the end of the line containing `text`.
    fn address_after(&mut self, text: &str) -> String {
        let line = self.wait_for(text, Duration::from_secs(30));
        line.rsplit("http://").next().unwrap().trim().to_owned()
    }

    /// Waits up to `within` for a line containing `text`.
    pub fn wait_for(&mut self, text: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {text:?} within {within:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The next line it prints, waiting up to `within`; `None` when none came.
    pub fn next_line(&mut self, within: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(within).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// The last `count` lines seen, for a failure's message.
    pub fn last_lines(&self, count: usize) -> String {
        self.seen[self.seen.len().saturating_sub(count)..].join("\n")
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and returns whether it exited successfully, with every line it printed.
    pub fn stop(mut self, signal: &str) -> (bool, Vec<String>) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (status.success(), std::mem::take(&mut self.seen))
    }
}

impl Drop for Running {
    /// A test that panicked before [`Running::stop`] must not leave `spotbot run` behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
