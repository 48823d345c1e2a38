//! The OpenAPI 3 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the bodies' `ToSchema` derives, and served at `GET /api/v1/openapi.json`.
//!
//! Routes that need a login carry the `bearer` security requirement (`Authorization: Bearer
//! <token>`, see [`crate::AuthUser`]); every operation that touches the database may also answer
//! 500 `internal` with an [`ErrorBody`], which [`ApiDoc`] adds to each of them.

use std::sync::OnceLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::auth::SESSION_COOKIE;
use crate::error::ErrorBody;
use crate::json::Json;
use crate::{
    account, admin, backtests, bots, browser_session, chart, credentials, notifications, routes,
    trades,
};

/// The name of the bearer security scheme that authenticated operations require.
pub const BEARER_SCHEME: &str = "bearer";

/// The paths whose handlers never touch the database, so never answer 500.
const NO_DATABASE: &[&str] = &["/health", "/api/v1/openapi.json"];

/// The API's OpenAPI document: `ApiDoc::openapi()`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "spotbot API",
        description = "spotbot's HTTP API: users and bearer sessions, exchange keys and accounts \
            per venue, bots, trades, positions and performance, notifications, each scoped to the caller. Every error is a \
            JSON `ErrorBody` `{code, message, field}`; decimals are JSON strings."
    ),
    paths(
        routes::health,
        routes::ready,
        openapi_json,
        routes::register,
        routes::login,
        routes::logout,
        routes::me,
        browser_session::open_browser_session,
        browser_session::browser_session,
        browser_session::close_browser_session,
        credentials::put_credentials,
        credentials::get_credentials,
        credentials::delete_credentials,
        credentials::list_venues,
        account::get_account,
        account::reset_paper,
        admin::list_workers,
        admin::list_users,
        admin::list_all_bots,
        bots::create_bot,
        bots::list_bots,
        bots::get_bot,
        bots::patch_bot,
        bots::delete_bot,
        bots::start_bot,
        bots::stop_bot,
        bots::pause_bot,
        backtests::list_files,
        backtests::uploads::upload,
        backtests::uploads::delete_upload,
        backtests::run::run,
        backtests::sweeps::start_sweep,
        backtests::sweeps::sweep,
        chart::bot_chart,
        chart::bot_updates,
        trades::list_trades,
        trades::trades_csv,
        trades::positions,
        trades::performance,
        notifications::list_channels,
        notifications::create_channel,
        notifications::patch_channel,
        notifications::delete_channel,
        notifications::test_channel,
        notifications::list_deliveries,
        notifications::bot_notifications,
        notifications::put_bot_notifications,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Additions),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "This document"),
        (name = "auth", description = "Registration, login, logout and the caller"),
        (name = "credentials", description = "The caller's exchange keys per venue, verified with the exchange before they are stored (the secret is never returned)"),
        (name = "account", description = "The caller's own exchange accounts: balances, and the paper account's reset"),
        (name = "admin", description = "What an operator looks at: the fleet's workers, every user and every bot (admins only)"),
        (name = "bots", description = "The caller's bots"),
        (name = "trades", description = "The caller's trades, positions and performance"),
        (name = "notifications", description = "The caller's notification channels (webhooks signed with HMAC-SHA256, Telegram chats), which events of each bot go where, and the delivery log"),
        (name = "backtests", description = "Backtests and parameter sweeps run on the server, on its candle files or the caller's uploads"),
    )
)]
pub struct ApiDoc;

/// What the annotations cannot say once for all operations: the bearer scheme, and the 500 every
/// operation that touches the database may answer.
struct Additions;

impl Modify for Additions {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The token of `POST /api/v1/auth/login`, as `Authorization: Bearer <token>`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The dashboard's session (`POST /api/v1/auth/session`); a request that changes \
                 something must also send the session's `csrf_token` as `X-CSRF-Token`",
            ))),
        );
        let internal = ResponseBuilder::new()
            .description("`internal`: the server failed (see its log)")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        ErrorBody::name(),
                    ))))
                    .build(),
            )
            .build();
        for (path, item) in &mut openapi.paths.paths {
            if NO_DATABASE.contains(&path.as_str()) {
                continue;
            }
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .responses
                    .responses
                    .entry("500".to_owned())
                    .or_insert_with(|| RefOr::T(internal.clone()));
            }
        }
    }
}

/// `GET /api/v1/openapi.json`: this document, built once.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The API's OpenAPI 3 document", body = Object)),
)]
pub(crate) async fn openapi_json() -> Json<&'static Document> {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    Json(DOCUMENT.get_or_init(ApiDoc::openapi))
}
