//! spotbot's web dashboard: the pages and their assets, embedded in the binary and served next
//! to the JSON API by whatever serves that API (`spotbot run`, `spotbot api`).
//!
//! The stack, and why:
//! - **Every page is a client of the public JSON API** (`/api/v1/...`), logged in with the
//!   API's session cookie (`POST /api/v1/auth/session`). The server renders no data into HTML: a
//!   page is one shell ([`shell`]) that names the page, and `assets/app.js` fills it from API
//!   answers. So the rules that scope every query to its caller, check every bot and word every
//!   error live in one place (the `api` crate); every request a page makes is in the OpenAPI
//!   document and fuzzed by schemathesis; and the browser test proves that the API is enough to
//!   run bots from a UI. Server-rendered templates would have been a second, unfuzzed way to read
//!   the same data.
//! - **Plain JavaScript, no build step**: ES modules (`app.js` and one module per page, a
//!   thousand lines in all) need no bundler, and the README's two commands keep doing everything
//!   (no Node.js, at build or run time).
//!   Pages are built with `textContent` and DOM calls, never `innerHTML` from data, so a bot
//!   named `<script>` is shown, not run.
//! - **Charts: TradingView's lightweight-charts 5.3.0** from the npm registry, vendored under
//!   `assets/vendor/` with its licence and notice (see `VENDORED.md` there): candles, line
//!   series, panes (the RSI below the price) and series markers are what a trading chart needs,
//!   in 200 KB, drawn on canvas fast enough for 10,000 candles.
//! - **Strict Content-Security-Policy** ([`CONTENT_SECURITY_POLICY`]): scripts, styles and
//!   connections from this origin only, no inline script or style, no frames. The chart's
//!   attribution logo (which injects a `<style>` element) is off; the attribution is in the
//!   page footer instead, as the licence allows.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | 303 to `/bots` |
//! | `GET /login`, `/register`, `/bots`, `/bots/{id}`, `/portfolio`, `/account`, `/admin`, `/backtest` | the page's HTML shell |
//! | `GET /assets/{file}` | a script, style sheet or the chart library |

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The Content-Security-Policy of every page and asset: this origin's scripts, styles, images
/// and connections (the API and its event streams) only; nothing inline, no plugins, no frames.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Log in.
    Login,
    /// Create an account.
    Register,
    /// The user's bots, with their controls and the form that creates one.
    Bots,
    /// One bot: its chart, decisions, trades and controls.
    Bot,
    /// All the user's bots' PnL, its curve, and the balances per venue.
    Portfolio,
    /// The user's exchange keys per venue, the paper account and the notifications.
    Account,
    /// For admins: every user, the fleet's workers, every bot's status.
    Admin,
    /// A backtest of one of the server's candle files.
    Backtest,
}

impl Page {
    /// The name `app.js` dispatches on (the body's `data-page`).
    pub const fn name(self) -> &'static str {
        match self {
            Page::Login => "login",
            Page::Register => "register",
            Page::Bots => "bots",
            Page::Bot => "bot",
            Page::Portfolio => "portfolio",
            Page::Account => "account",
            Page::Admin => "admin",
            Page::Backtest => "backtest",
        }
    }

    /// The page's title, before the page sets a more precise one.
    const fn title(self) -> &'static str {
        match self {
            Page::Login => "Log in",
            Page::Register => "Create an account",
            Page::Bots => "Bots",
            Page::Bot => "Bot",
            Page::Portfolio => "Portfolio",
            Page::Account => "Account",
            Page::Admin => "Admin",
            Page::Backtest => "Backtest",
        }
    }
}

/// The content type of scripts.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The content type of plain text.
const TEXT: &str = "text/plain; charset=utf-8";

/// Every asset, served as `/assets/{name}`: its name, bytes and content type. The script is ES
/// modules (`app.js` imports the others), which the browser fetches from here by name.
const ASSETS: &[(&str, &[u8], &str)] = &[
    ("app.js", include_bytes!("../assets/app.js"), JAVASCRIPT),
    ("api.js", include_bytes!("../assets/api.js"), JAVASCRIPT),
    ("dom.js", include_bytes!("../assets/dom.js"), JAVASCRIPT),
    (
        "session.js",
        include_bytes!("../assets/session.js"),
        JAVASCRIPT,
    ),
    (
        "page-auth.js",
        include_bytes!("../assets/page-auth.js"),
        JAVASCRIPT,
    ),
    (
        "page-bots.js",
        include_bytes!("../assets/page-bots.js"),
        JAVASCRIPT,
    ),
    (
        "page-bot.js",
        include_bytes!("../assets/page-bot.js"),
        JAVASCRIPT,
    ),
    (
        "page-portfolio.js",
        include_bytes!("../assets/page-portfolio.js"),
        JAVASCRIPT,
    ),
    (
        "page-account.js",
        include_bytes!("../assets/page-account.js"),
        JAVASCRIPT,
    ),
    (
        "page-notifications.js",
        include_bytes!("../assets/page-notifications.js"),
        JAVASCRIPT,
    ),
    (
        "page-admin.js",
        include_bytes!("../assets/page-admin.js"),
        JAVASCRIPT,
    ),
    (
        "candle-chart.js",
        include_bytes!("../assets/candle-chart.js"),
        JAVASCRIPT,
    ),
    (
        "page-backtest.js",
        include_bytes!("../assets/page-backtest.js"),
        JAVASCRIPT,
    ),
    (
        "app.css",
        include_bytes!("../assets/app.css"),
        "text/css; charset=utf-8",
    ),
    (
        "favicon.svg",
        include_bytes!("../assets/favicon.svg"),
        "image/svg+xml",
    ),
    (
        "lightweight-charts.js",
        include_bytes!(
            "../assets/vendor/lightweight-charts/lightweight-charts.standalone.production.js"
        ),
        JAVASCRIPT,
    ),
    (
        "lightweight-charts.LICENSE.txt",
        include_bytes!("../assets/vendor/lightweight-charts/LICENSE"),
        TEXT,
    ),
    (
        "lightweight-charts.NOTICE.txt",
        include_bytes!("../assets/vendor/lightweight-charts/NOTICE"),
        TEXT,
    ),
];

/// The chart library the dashboard draws with (lightweight-charts, from npm, vendored), for
/// documents that must carry it inline, such as a backtest's report file.
pub const CHART_LIBRARY: &str =
    include_str!("../assets/vendor/lightweight-charts/lightweight-charts.standalone.production.js");

/// The chart library's licence notice, to go with every copy of it.
pub const CHART_LIBRARY_NOTICE: &str = include_str!("../assets/vendor/lightweight-charts/NOTICE");

/// The HTML shell of `page`: the document `app.js` fills from the API.
pub fn shell(page: Page) -> String {
    include_str!("../assets/shell.html")
        .replace("{{page}}", page.name())
        .replace("{{title}}", page.title())
}

/// The dashboard's routes. They hold no state: the pages get everything from the API, which the
/// caller merges into the same router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/bots") }))
        .route("/login", get(|| page(Page::Login)))
        .route("/register", get(|| page(Page::Register)))
        .route("/bots", get(|| page(Page::Bots)))
        .route("/bots/{id}", get(|| page(Page::Bot)))
        .route("/portfolio", get(|| page(Page::Portfolio)))
        .route("/account", get(|| page(Page::Account)))
        .route("/admin", get(|| page(Page::Admin)))
        .route("/backtest", get(|| page(Page::Backtest)))
        .route("/assets/{name}", get(serve_asset))
}

/// The headers every dashboard answer carries: the CSP and its companions, and no caching
/// across versions of the binary (the assets are small, and served from memory).
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `page`'s shell as an HTML answer.
async fn page(page: Page) -> Response {
    secured(
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            shell(page),
        )
            .into_response(),
    )
}

/// `GET /assets/{name}`.
async fn serve_asset(Path(name): Path<String>) -> Response {
    let found = ASSETS.iter().find(|(known, ..)| *known == name);
    let response = match found {
        Some((_, bytes, content_type)) => {
            ([(header::CONTENT_TYPE, *content_type)], *bytes).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such asset",
        )
            .into_response(),
    };
    secured(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> Response {
        router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_page_is_its_shell_with_the_security_headers() {
        for (path, page) in [
            ("/login", Page::Login),
            ("/register", Page::Register),
            ("/bots", Page::Bots),
            ("/bots/7", Page::Bot),
            ("/portfolio", Page::Portfolio),
            ("/account", Page::Account),
            ("/admin", Page::Admin),
            ("/backtest", Page::Backtest),
        ] {
            let response = get(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let html = String::from_utf8(body.to_vec()).unwrap();
            assert!(
                html.contains(&format!("data-page=\"{}\"", page.name())),
                "{path}"
            );
            assert!(!html.contains("{{"), "{path}: a placeholder is left");
        }
    }

    #[tokio::test]
    async fn the_root_goes_to_the_bots() {
        let response = get("/").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/bots");
    }

    #[tokio::test]
    async fn every_module_an_import_names_is_served() {
        for (name, bytes, _) in ASSETS.iter().filter(|(name, ..)| name.ends_with(".js")) {
            let text = std::str::from_utf8(bytes).unwrap();
            for line in text.lines().filter(|line| line.starts_with("import ")) {
                let module = line
                    .split("from './")
                    .nth(1)
                    .unwrap()
                    .trim_end_matches("';");
                let response = get(&format!("/assets/{module}")).await;
                assert_eq!(response.status(), StatusCode::OK, "{name} imports {module}");
            }
        }
    }

    #[tokio::test]
    async fn assets_have_their_types_and_unknown_ones_are_404() {
        for (name, content_type) in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("app.css", "text/css; charset=utf-8"),
            ("lightweight-charts.js", "text/javascript; charset=utf-8"),
            ("lightweight-charts.NOTICE.txt", "text/plain; charset=utf-8"),
        ] {
            let response = get(&format!("/assets/{name}")).await;
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], content_type);
        }
        assert_eq!(
            get("/assets/../Cargo.toml").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get("/assets/nothing.js").await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn no_script_in_the_shell_is_inline() {
        let html = shell(Page::Bots);
        for tag in html.match_indices("<script") {
            let rest = &html[tag.0..];
            let end = rest.find('>').unwrap();
            assert!(
                rest[..end].contains("src="),
                "an inline script: {}",
                &rest[..end]
            );
        }
        assert!(!html.contains("style="), "an inline style");
    }
}
