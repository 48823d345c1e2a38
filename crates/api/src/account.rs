//! `/api/v1/account`: the caller's own exchange account on a venue, as the exchange reports it,
//! and the reset of their paper account.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/account/{venue}` | 200 [`AccountBody`]: balances, `can_trade`, permissions (a paper account is opened with the starting balances the first time) |
//! | `POST /api/v1/account/paper/reset` | 200 [`PaperResetBody`]: the paper account back to its starting balances, the paper bots' positions cleared; 409 while a paper order is in doubt |

use accounts::{AccountError, ResetError};
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use binance::AccountInfo;
use serde::Serialize;
use store::Mode;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;

/// One asset's balance, amounts as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BalanceBody {
    /// The asset, e.g. `USDT`.
    #[schema(example = "USDT")]
    pub asset: String,
    /// Available (decimal string).
    #[schema(example = "9950.5")]
    pub free: String,
    /// Held by open orders (decimal string).
    #[schema(example = "0")]
    pub locked: String,
}

/// The caller's account on a venue, as its exchange reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccountBody {
    /// `paper`, `testnet` or `live`.
    #[schema(example = "paper")]
    pub venue: &'static str,
    /// Whether the exchange lets the account trade.
    pub can_trade: bool,
    /// The account's permissions (e.g. `["SPOT"]`).
    pub permissions: Vec<String>,
    /// Every asset it holds (assets at zero left out).
    pub balances: Vec<BalanceBody>,
}

impl AccountBody {
    fn new(venue: Mode, info: AccountInfo) -> AccountBody {
        AccountBody {
            venue: venue.as_str(),
            can_trade: info.can_trade,
            permissions: info.permissions,
            balances: info
                .balances
                .into_iter()
                .filter(|balance| !(balance.free.is_zero() && balance.locked.is_zero()))
                .map(|balance| BalanceBody {
                    asset: balance.asset,
                    free: balance.free.normalize().to_string(),
                    locked: balance.locked.normalize().to_string(),
                })
                .collect(),
        }
    }
}

/// A paper account after its reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaperResetBody {
    /// The account now.
    pub account: AccountBody,
    /// The paper bots whose positions were cleared.
    pub cleared_bots: Vec<i64>,
}

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/account/{venue}", get(get_account))
        .route("/api/v1/account/paper/reset", post(reset_paper))
}

/// A user's account that could not be used, as answered.
pub(crate) fn account_error(error: AccountError) -> ApiError {
    match &error {
        AccountError::VenueNotServed(_) | AccountError::NoKey(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
        }
        AccountError::Undecryptable(_) | AccountError::Unusable { .. } => {
            ApiError::new(StatusCode::CONFLICT, "key_unusable", error.to_string())
        }
        AccountError::Exchange(cause) if cause.key_problem().is_some() => {
            ApiError::new(StatusCode::CONFLICT, "key_rejected", error.to_string())
        }
        AccountError::PaperAccount(_) | AccountError::Exchange(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "exchange_unavailable",
            error.to_string(),
        ),
        AccountError::Store(_) => ApiError::internal(error),
    }
}

/// The venue of the path; text that is no venue names no account, so it is a 404.
fn venue(path: Result<Path<String>, PathRejection>) -> Result<Mode, ApiError> {
    path.ok()
        .and_then(|Path(venue)| venue.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such venue: paper, testnet or live",
            )
        })
}

/// `GET /api/v1/account/{venue}`: the caller's balances on the venue.
#[utoipa::path(
    get,
    path = "/api/v1/account/{venue}",
    tag = "account",
    security(("bearer" = [])),
    params(("venue" = String, Path, description = "`paper`, `testnet` or `live`", pattern = "^(paper|testnet|live)$")),
    responses(
        (status = 200, description = "The account as the exchange reports it", body = AccountBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: no key is stored for the venue, this server does not trade there, or it is not a venue", body = ErrorBody),
        (status = 409, description = "`key_rejected` or `key_unusable`: the exchange refuses the stored key, or it cannot be used; store it again (a paper account the paper exchange lost: reset it)", body = ErrorBody),
        (status = 503, description = "`exchange_unavailable`: the exchange could not be asked", body = ErrorBody),
    ),
)]
pub(crate) async fn get_account(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<AccountBody>, ApiError> {
    let venue = venue(path)?;
    let info = state
        .accounts
        .account_info(caller.user.id, venue)
        .await
        .map_err(|error| match error {
            // Paper keys are made by the server, never stored by the user: the account is gone
            // from the paper exchange (restarted without its state), and a reset opens another.
            AccountError::Exchange(cause) if venue == Mode::Paper && cause.key_problem().is_some() => {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "key_rejected",
                    format!(
                        "the paper exchange no longer knows your paper account ({cause}); reset it with POST /api/v1/account/paper/reset to open a new one with the starting balances"
                    ),
                )
            }
            error => account_error(error),
        })?;
    Ok(Json(AccountBody::new(venue, info)))
}

/// `POST /api/v1/account/paper/reset`: the caller's paper account back to its starting balances.
#[utoipa::path(
    post,
    path = "/api/v1/account/paper/reset",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account after the reset, and the bots whose positions were cleared (their trades and realised PnL stay)", body = PaperResetBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: this server has no paper exchange", body = ErrorBody),
        (status = 409, description = "`orders_in_doubt`: a paper order's fate is not known yet; try again once reconciliation has settled it", body = ErrorBody),
        (status = 503, description = "`exchange_unavailable`: the paper exchange could not be reached", body = ErrorBody),
    ),
)]
pub(crate) async fn reset_paper(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<Json<PaperResetBody>, ApiError> {
    let user = caller.user.id;
    let reset = state
        .accounts
        .reset_paper(user)
        .await
        .map_err(|error| match error {
            ResetError::OrdersInDoubt(_) => {
                ApiError::new(StatusCode::CONFLICT, "orders_in_doubt", error.to_string())
            }
            ResetError::Account(error) => account_error(error),
        })?;
    let info = state
        .accounts
        .account_info(user, Mode::Paper)
        .await
        .map_err(account_error)?;
    Ok(Json(PaperResetBody {
        account: AccountBody::new(Mode::Paper, info),
        cleared_bots: reset.cleared_bots.iter().map(|bot| bot.0).collect(),
    }))
}
