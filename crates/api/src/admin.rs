//! `/api/v1/admin`: what an operator of a fleet looks at, for users with the admin role only
//! (another user gets 403 `forbidden`).
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/admin/workers` | 200 `[`[`WorkerBody`]`]`: every worker, the most recently heard from first |
//! | `GET /api/v1/admin/users` | 200 `[`[`UserBody`]`]`: every user, by id |
//! | `GET /api/v1/admin/bots` | 200 `[`[`AdminBotBody`]`]`: every user's bots with their owner and status, by id |

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use store::{BotConfig, Role, User, WorkerRow};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
use crate::routes::UserBody;
use crate::{ApiState, now_ms};

/// A worker of the fleet as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WorkerBody {
    /// Its name (the owner its bots' leases carry).
    #[schema(example = "host-a-4242")]
    pub id: String,
    /// `running`, `silent` (not heard from for three heartbeats: dead, stalled or cut off from
    /// the database) or `stopped` (it stopped cleanly).
    #[schema(example = "running")]
    pub state: &'static str,
    /// The machine it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: i64,
    /// When it started, in ms since the epoch.
    pub started_at_ms: i64,
    /// Its last heartbeat, in ms since the epoch.
    pub heartbeat_at_ms: i64,
    /// How many bots it held then.
    pub bots_held: i64,
    /// When it stopped cleanly, in ms since the epoch.
    #[schema(required = true)]
    pub stopped_at_ms: Option<i64>,
}

impl WorkerBody {
    fn new(worker: WorkerRow, now_ms: i64) -> WorkerBody {
        WorkerBody {
            state: worker.state(now_ms).as_str(),
            id: worker.id,
            host: worker.host,
            pid: worker.pid,
            started_at_ms: worker.started_at_ms,
            heartbeat_at_ms: worker.heartbeat_at_ms,
            bots_held: worker.bots_held,
            stopped_at_ms: worker.stopped_at_ms,
        }
    }
}

/// A bot as an operator sees it: whose it is and how it runs (its strategy and money are its
/// owner's business).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AdminBotBody {
    /// The bot's id.
    pub id: i64,
    /// Its owner's id.
    pub user_id: i64,
    /// Its owner's login name.
    pub username: String,
    /// Its name.
    pub name: String,
    /// The symbol it trades.
    pub symbol: String,
    /// Its candle interval.
    pub interval: String,
    /// `paper`, `testnet` or `live`.
    #[schema(example = "paper")]
    pub mode: &'static str,
    /// Whether it should run.
    pub is_active: bool,
    /// `idle`, `running`, `error` or `paused`.
    #[schema(example = "running")]
    pub status: &'static str,
    /// Why its last cycle failed, if it did.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// How many cycles in a row have failed.
    pub consecutive_failures: i64,
    /// When its configuration or status last changed, in ms since the epoch.
    pub updated_at_ms: i64,
}

impl AdminBotBody {
    fn new(bot: BotConfig, owner: &str) -> AdminBotBody {
        AdminBotBody {
            id: bot.id.0,
            user_id: bot.user_id.0,
            username: owner.to_owned(),
            name: bot.name,
            symbol: bot.symbol,
            interval: bot.interval,
            mode: bot.mode.as_str(),
            is_active: bot.is_active,
            status: bot.status.as_str(),
            last_error: bot.last_error,
            consecutive_failures: bot.consecutive_failures,
            updated_at_ms: bot.updated_at_ms,
        }
    }
}

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/admin/workers", get(list_workers))
        .route("/api/v1/admin/users", get(list_users))
        .route("/api/v1/admin/bots", get(list_all_bots))
}

/// A 403 unless `caller` is an admin; `what` says what only an admin sees.
fn require_admin(caller: &AuthUser, what: &str) -> Result<(), ApiError> {
    if caller.user.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("only an admin sees {what}"),
        ))
    }
}

/// `GET /api/v1/admin/users`: every user.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every user, by id", body = [UserBody]),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller is not an admin", body = ErrorBody),
    ),
)]
pub(crate) async fn list_users(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<Json<Vec<UserBody>>, ApiError> {
    require_admin(&caller, "the users")?;
    let users = state.store.users().await?;
    Ok(Json(users.into_iter().map(UserBody::from).collect()))
}

/// `GET /api/v1/admin/bots`: every user's bots, with their owners and statuses.
#[utoipa::path(
    get,
    path = "/api/v1/admin/bots",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every bot, by id", body = [AdminBotBody]),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller is not an admin", body = ErrorBody),
    ),
)]
pub(crate) async fn list_all_bots(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<Json<Vec<AdminBotBody>>, ApiError> {
    require_admin(&caller, "every user's bots")?;
    let users: std::collections::BTreeMap<store::UserId, User> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|user| (user.id, user))
        .collect();
    let bots = state.store.bots(None).await?;
    Ok(Json(
        bots.into_iter()
            .map(|bot| {
                let owner = users
                    .get(&bot.user_id)
                    .map_or("", |user| user.username.as_str());
                AdminBotBody::new(bot, owner)
            })
            .collect(),
    ))
}

/// `GET /api/v1/admin/workers`: the fleet's workers.
#[utoipa::path(
    get,
    path = "/api/v1/admin/workers",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every worker, the most recently heard from first", body = [WorkerBody]),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller is not an admin", body = ErrorBody),
    ),
)]
pub(crate) async fn list_workers(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<Json<Vec<WorkerBody>>, ApiError> {
    require_admin(&caller, "the workers")?;
    let now_ms = now_ms();
    let workers = state.store.workers().await?;
    Ok(Json(
        workers
            .into_iter()
            .map(|worker| WorkerBody::new(worker, now_ms))
            .collect(),
    ))
}
