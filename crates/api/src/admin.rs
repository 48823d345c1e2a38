//! `/api/v1/admin`: what an operator of a fleet looks at, for users with the admin role only
//! (another user gets 403 `forbidden`).
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/admin/workers` | 200 `[`[`WorkerBody`]`]`: every worker, the most recently heard from first |

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use store::{Role, WorkerRow};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
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

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/admin/workers", get(list_workers))
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
    if caller.user.role != Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an admin sees the workers",
        ));
    }
    let now_ms = now_ms();
    let workers = state.store.workers().await?;
    Ok(Json(
        workers
            .into_iter()
            .map(|worker| WorkerBody::new(worker, now_ms))
            .collect(),
    ))
}
