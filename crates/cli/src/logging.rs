//! Log output of the long-running commands: `tracing` events to stderr, `info` and above by
//! default, `RUST_LOG` to change it (e.g. `RUST_LOG=engine=debug`). The database driver's
//! per-statement logs are kept at `warn` unless asked for.
//!
//! Two formats (`--log-format`, `SPOTBOT_LOG_FORMAT`): `text`, a line per event, coloured only
//! when stderr is a terminal; and `json`, an object per line with the event's fields and its
//! spans' (bot, user, venue, client order id), for a log system. In text, every value and
//! message is escaped: a control character (a newline, an ANSI escape) or a bidirectional
//! control coming from a user's name or a bot's is written as `\u{..}`, so that nobody can forge
//! a log line or colour one. JSON escapes control characters by its own rules.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;

/// How log events are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event, for people.
    #[default]
    Text,
    /// One JSON object per line, for a log system.
    Json,
}

/// Installs the subscriber once (later calls do nothing).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(
                tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
                    let text = format!("{value:?}");
                    if field.name() == "message" {
                        write!(writer, "{}", escaped(&text))
                    } else {
                        write!(writer, "{field}={}", escaped(&text))
                    }
                })
                .delimited(" "),
            )
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// `text` with every control character and bidirectional control written as `\u{..}`.
fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Control characters (C0, DEL, C1: newlines, escapes) and the characters that reorder the text
/// after them.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidirectional_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escaped("alice"), "alice");
        assert_eq!(escaped("café ✓"), "café ✓");
        assert_eq!(
            escaped("eve\n2026-12-06 INFO forged\u{1b}[31m"),
            "eve\\u{a}2026-12-06 INFO forged\\u{1b}[31m"
        );
        assert_eq!(escaped("a\u{202E}b\r"), "a\\u{202e}b\\u{d}");
    }
}
