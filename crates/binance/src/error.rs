//! The client's one error type, [`BinanceError`], and its classification into what the caller
//! may do next ([`ErrorClass`]): retry, find out whether an order executed, or give up. Refusals
//! of the API key or its signature are also told apart as a [`KeyProblem`], for a user to fix.

use std::fmt;
use std::time::Duration;

/// What a failure means for the request that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Nothing happened on the exchange: the same request may be sent again after a wait
    /// (-1003, -1015, -1008, 429, 418 with `Retry-After`, -1021 after a time resync, connection
    /// failures, and 5xx or lost answers on requests that change nothing).
    Transient,
    /// An order may or may not have executed (timeout or connection lost after sending, 5xx,
    /// -1006, -1007, an unreadable answer to `POST /api/v3/order`): query it, never re-send it.
    Ambiguous,
    /// The exchange refused the request and would refuse it again (filters, -2010, -1121, -1111,
    /// -1022, -2014/-2015: see [`KeyProblem`], ...), or the client could not make sense of it.
    Rejected,
}

/// Binance's code for "the API key's format is invalid".
const MALFORMED_KEY_CODE: i64 = -2014;
/// Binance's code for "invalid API key, IP, or permissions for action".
const KEY_REJECTED_CODE: i64 = -2015;
/// Binance's code for "signature for this request is not valid".
const BAD_SIGNATURE_CODE: i64 = -1022;

/// What is wrong with an account's API key, by the exchange's refusal
/// ([`BinanceError::key_problem`]). Never retried: only a new key or secret fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyProblem {
    /// -2014: the API key is not in a format the exchange accepts.
    MalformedKey,
    /// -2015: the exchange does not accept the key for this request: it is unknown, revoked or
    /// expired, the server's IP is not on its whitelist, or it lacks the permission.
    KeyRejected,
    /// -1022: the signature does not verify: the secret does not belong to the API key.
    BadSignature,
}

impl KeyProblem {
    /// The problem behind Binance's error `code`, if it is one.
    fn from_code(code: i64) -> Option<KeyProblem> {
        match code {
            MALFORMED_KEY_CODE => Some(KeyProblem::MalformedKey),
            KEY_REJECTED_CODE => Some(KeyProblem::KeyRejected),
            BAD_SIGNATURE_CODE => Some(KeyProblem::BadSignature),
            _ => None,
        }
    }

    /// A short explanation for the key's owner, saying what to check.
    pub fn explain(&self) -> &'static str {
        match self {
            KeyProblem::MalformedKey => {
                "the API key is not in a format the exchange accepts: check that it was copied \
                 whole, without spaces or line breaks"
            }
            KeyProblem::KeyRejected => {
                "the exchange rejected the API key: it is unknown, revoked or expired, this \
                 server's IP is not on the key's whitelist, or the key lacks the permission"
            }
            KeyProblem::BadSignature => {
                "the exchange could not verify the request's signature: the secret (or Ed25519 \
                 private key) does not belong to this API key"
            }
        }
    }
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.explain())
    }
}

/// Whether a request can have changed anything on the exchange, which decides how uncertain
/// failures are classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// Reads (and `/order/test`): repeating them is harmless.
    Read,
    /// `POST /api/v3/order`: repeating it may execute a second order.
    PlaceOrder,
}

/// The exchange answered with an error status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRefusal {
    /// The HTTP status.
    pub status: u16,
    /// Binance's error code (`-1013`, ...); `None` when the body was not a Binance error (a
    /// gateway's plain-text 5xx, say).
    pub code: Option<i64>,
    /// Binance's `msg`, or the start of the body when it was not a Binance error.
    pub message: String,
    /// The `Retry-After` header (sent with 418 and 429).
    pub retry_after: Option<Duration>,
    /// The `X-MBX-USED-WEIGHT-<interval>` headers: interval (`1M`) and the IP's used weight.
    pub used_weight: Vec<(String, u64)>,
}

/// Where the transport failed, which says whether the exchange can have seen the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportStage {
    /// No connection was made: the request never left.
    NotSent,
    /// The request may have been received: the answer was lost, cut or late.
    MaybeSent,
}

/// The request or its answer was lost on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    /// Whether the exchange may have seen the request.
    pub stage: TransportStage,
    /// Whether a connect or read timeout ran out.
    pub timed_out: bool,
    /// The transport's description (without the URL, which carries the signature).
    pub detail: String,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The exchange answered with an error.
    Exchange(ExchangeRefusal),
    /// The network failed.
    Transport(TransportFailure),
    /// A success status with a body that is not what the endpoint documents: names the field and
    /// what was wrong with it.
    MalformedAnswer(String),
    /// The client refused to send the request (bad input), naming what was wrong.
    InvalidRequest(String),
    /// The request was not sent: the rate-limit budget (the IP's weight, shared by every client
    /// of the base URL, or for a new order the account's order count), or a 429/418
    /// `Retry-After`, would have made it wait longer than the configured maximum.
    BudgetExhausted {
        /// How long it would have had to wait.
        wait: Duration,
        /// Whether the wait was for a 429/418 to pass rather than for the budget.
        banned: bool,
    },
    /// The request was not sent: its caller's deadline for sending it had passed, or waiting for
    /// the budget or a retry would have passed it (an order that must reach the exchange while
    /// its worker still holds the bot, say).
    DeadlinePassed,
}

/// A failed Binance request: where it went, what happened, and what the caller may do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinanceError {
    endpoint: &'static str,
    kind: ErrorKind,
    class: ErrorClass,
}

impl BinanceError {
    /// Classifies `kind` for a request of `request_kind` to `endpoint` (`"GET /api/v3/time"`).
    pub(crate) fn new(endpoint: &'static str, request_kind: RequestKind, kind: ErrorKind) -> Self {
        let class = classify(&kind, request_kind);
        BinanceError {
            endpoint,
            kind,
            class,
        }
    }

    /// A malformed answer from `endpoint`, with what was wrong.
    pub(crate) fn malformed(
        endpoint: &'static str,
        request_kind: RequestKind,
        what: impl Into<String>,
    ) -> Self {
        BinanceError::new(
            endpoint,
            request_kind,
            ErrorKind::MalformedAnswer(what.into()),
        )
    }

    /// A request the client refuses to send.
    pub(crate) fn invalid_request(endpoint: &'static str, what: impl Into<String>) -> Self {
        BinanceError::new(
            endpoint,
            RequestKind::Read,
            ErrorKind::InvalidRequest(what.into()),
        )
    }

    /// The endpoint, e.g. `POST /api/v3/order`.
    pub fn endpoint(&self) -> &'static str {
        self.endpoint
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// What the caller may do about it.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// Binance's error code, when the exchange sent one.
    pub fn code(&self) -> Option<i64> {
        match &self.kind {
            ErrorKind::Exchange(refusal) => refusal.code,
            _ => None,
        }
    }

    /// The HTTP status, when the exchange answered.
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            ErrorKind::Exchange(refusal) => Some(refusal.status),
            _ => None,
        }
    }

    /// What is wrong with the API key, when the exchange refused the key (-2014, -2015) or the
    /// signature (-1022).
    pub fn key_problem(&self) -> Option<KeyProblem> {
        self.code().and_then(KeyProblem::from_code)
    }

    /// How long the exchange asked to wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            ErrorKind::Exchange(refusal) => refusal.retry_after,
            ErrorKind::BudgetExhausted { wait, .. } => Some(*wait),
            _ => None,
        }
    }
}

impl fmt::Display for BinanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.endpoint)?;
        match &self.kind {
            ErrorKind::Exchange(refusal) => {
                write!(f, "HTTP {}", refusal.status)?;
                if let Some(code) = refusal.code {
                    write!(f, ", code {code}")?;
                }
                write!(f, ": {}", refusal.message)?;
                if let Some(wait) = refusal.retry_after {
                    write!(f, " (retry after {} s)", wait.as_secs())?;
                }
                Ok(())
            }
            ErrorKind::Transport(failure) => {
                let stage = match failure.stage {
                    TransportStage::NotSent => "request not sent",
                    TransportStage::MaybeSent => "answer lost after sending",
                };
                let timeout = if failure.timed_out { ", timed out" } else { "" };
                write!(f, "{stage}{timeout}: {}", failure.detail)
            }
            ErrorKind::MalformedAnswer(what) => write!(f, "malformed answer: {what}"),
            ErrorKind::InvalidRequest(what) => write!(f, "invalid request: {what}"),
            ErrorKind::BudgetExhausted { wait, banned } => {
                let cause = if *banned {
                    "the exchange asked to wait (429/418)"
                } else {
                    "the shared rate-limit budget is spent"
                };
                write!(f, "not sent: {cause} for {} ms more", wait.as_millis())
            }
            ErrorKind::DeadlinePassed => {
                write!(f, "not sent: its deadline for sending passed first")
            }
        }
    }
}

impl std::error::Error for BinanceError {}

/// The class of `kind` on a request of `request_kind` (reference §§ 3-4).
fn classify(kind: &ErrorKind, request_kind: RequestKind) -> ErrorClass {
    let uncertain = match request_kind {
        RequestKind::PlaceOrder => ErrorClass::Ambiguous,
        RequestKind::Read => ErrorClass::Transient,
    };
    match kind {
        ErrorKind::Exchange(refusal) => match (refusal.code, refusal.status) {
            // Refused at authentication, whatever the status: nothing ran, and sending the same
            // key and signature again cannot succeed.
            (Some(code), _) if KeyProblem::from_code(code).is_some() => ErrorClass::Rejected,
            // Throttled, busy, or a stale timestamp: refused before anything happened.
            (Some(-1003 | -1015 | -1008 | -1021), _) | (_, 429) => ErrorClass::Transient,
            (_, 418) if refusal.retry_after.is_some() => ErrorClass::Transient,
            // "Execution status unknown" and internal errors.
            (Some(-1000 | -1001 | -1006 | -1007), _) => uncertain,
            (_, 500..=599) => uncertain,
            _ => ErrorClass::Rejected,
        },
        ErrorKind::Transport(failure) => match failure.stage {
            TransportStage::NotSent => ErrorClass::Transient,
            TransportStage::MaybeSent => uncertain,
        },
        ErrorKind::MalformedAnswer(_) => match request_kind {
            // A success status on an order means it executed; the fill must be read another way.
            RequestKind::PlaceOrder => ErrorClass::Ambiguous,
            RequestKind::Read => ErrorClass::Rejected,
        },
        ErrorKind::InvalidRequest(_) => ErrorClass::Rejected,
        // Nothing was sent; it may go once the wait is over.
        ErrorKind::BudgetExhausted { .. } => ErrorClass::Transient,
        // Nothing was sent, and the caller does not want it sent any more.
        ErrorKind::DeadlinePassed => ErrorClass::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: u16, code: Option<i64>, retry_after_s: Option<u64>) -> ErrorKind {
        ErrorKind::Exchange(ExchangeRefusal {
            status,
            code,
            message: "msg".into(),
            retry_after: retry_after_s.map(Duration::from_secs),
            used_weight: Vec::new(),
        })
    }

    fn class_of(kind: ErrorKind, request_kind: RequestKind) -> ErrorClass {
        BinanceError::new("POST /api/v3/order", request_kind, kind).class()
    }

    #[test]
    fn throttling_and_timestamp_errors_are_transient_everywhere() {
        for request_kind in [RequestKind::Read, RequestKind::PlaceOrder] {
            for kind in [
                refusal(429, Some(-1003), Some(1)),
                refusal(429, Some(-1015), None),
                refusal(418, Some(-1003), Some(120)),
                refusal(503, Some(-1008), None),
                refusal(400, Some(-1021), None),
            ] {
                assert_eq!(
                    class_of(kind.clone(), request_kind),
                    ErrorClass::Transient,
                    "{kind:?}"
                );
            }
        }
        assert_eq!(
            class_of(refusal(418, None, None), RequestKind::Read),
            ErrorClass::Rejected,
            "a ban without an end is not waited out"
        );
    }

    #[test]
    fn unknown_execution_is_ambiguous_on_orders_and_transient_on_reads() {
        let lost = ErrorKind::Transport(TransportFailure {
            stage: TransportStage::MaybeSent,
            timed_out: true,
            detail: "read timeout".into(),
        });
        for kind in [
            refusal(502, None, None),
            refusal(500, Some(-1006), None),
            refusal(400, Some(-1007), None),
            lost,
        ] {
            assert_eq!(
                class_of(kind.clone(), RequestKind::PlaceOrder),
                ErrorClass::Ambiguous
            );
            assert_eq!(class_of(kind, RequestKind::Read), ErrorClass::Transient);
        }
        let refused = ErrorKind::Transport(TransportFailure {
            stage: TransportStage::NotSent,
            timed_out: false,
            detail: "connection refused".into(),
        });
        assert_eq!(
            class_of(refused, RequestKind::PlaceOrder),
            ErrorClass::Transient
        );
        assert_eq!(
            class_of(
                ErrorKind::MalformedAnswer("x".into()),
                RequestKind::PlaceOrder
            ),
            ErrorClass::Ambiguous
        );
        assert_eq!(
            class_of(ErrorKind::MalformedAnswer("x".into()), RequestKind::Read),
            ErrorClass::Rejected
        );
    }

    #[test]
    fn filter_balance_symbol_precision_signature_and_key_errors_are_rejected() {
        for code in [
            -1013, -2010, -1121, -1111, -1022, -2014, -2015, -2013, -1102,
        ] {
            for request_kind in [RequestKind::Read, RequestKind::PlaceOrder] {
                assert_eq!(
                    class_of(refusal(400, Some(code), None), request_kind),
                    ErrorClass::Rejected,
                    "{code}"
                );
            }
        }
    }

    #[test]
    fn key_and_signature_refusals_are_key_problems_rejected_even_on_a_5xx() {
        let cases = [
            (-2014, KeyProblem::MalformedKey),
            (-2015, KeyProblem::KeyRejected),
            (-1022, KeyProblem::BadSignature),
        ];
        for (code, problem) in cases {
            for status in [400, 401, 503] {
                let error = BinanceError::new(
                    "GET /api/v3/account",
                    RequestKind::Read,
                    refusal(status, Some(code), None),
                );
                assert_eq!(error.key_problem(), Some(problem), "{code}");
                assert_eq!(error.class(), ErrorClass::Rejected, "{code} with {status}");
            }
            assert!(!problem.explain().is_empty());
        }
        let throttled = BinanceError::new(
            "GET /api/v3/account",
            RequestKind::Read,
            refusal(429, Some(-1003), Some(1)),
        );
        assert_eq!(throttled.key_problem(), None);
        assert!(
            KeyProblem::KeyRejected
                .to_string()
                .contains("not on the key's whitelist")
        );
    }

    #[test]
    fn display_names_the_endpoint_status_code_and_wait() {
        let error = BinanceError::new(
            "POST /api/v3/order",
            RequestKind::PlaceOrder,
            refusal(429, Some(-1003), Some(3)),
        );
        assert_eq!(
            error.to_string(),
            "POST /api/v3/order: HTTP 429, code -1003: msg (retry after 3 s)"
        );
        assert_eq!(error.code(), Some(-1003));
        assert_eq!(error.status(), Some(429));
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    }
}
