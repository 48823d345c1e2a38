//! The web dashboard in a real headless Chromium, driven through ChromeDriver (WebDriver), against
//! a real `spotbot run` on a fresh database: register, log out and in, create a paper bot with
//! fast parameters, see its first trade marker appear on the chart without a reload, read the
//! trade and its decision, pause the bot, see it in the portfolio, reset the paper account, run
//! a backtest on the shared 100k-candle file that matches `spotbot backtest --json`, and
//! check that another user sees none of it (then that user deletes a bot of their own), and that
//! an admin sees every user, the worker and every bot. No page
//! may log an error to the console (a script error, a CSP violation, a failed request), but for
//! the 404 the other user is meant to get. Screenshots of each page are written under
//! `target/dashboard-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs them). Without them
//! the test says so and passes, unless `SPOTBOT_REQUIRE_BROWSER=1` (as `scripts/test` sets)
//! makes that a failure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::actions::InputSource;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

#[path = "support/browser.rs"]
mod browser;
mod common;

use browser::{CHROMEDRIVER, CHROMIUM, Driver};
use common::Running;
use notify::testing::{Behaviour, Receiver};

/// ChromeDriver's `POST /session/{id}/se/log` for the browser's console: what fantoccini has no
/// call for.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// The browser session and where its screenshots go.
struct Browser {
    client: Client,
    base: String,
    shots: PathBuf,
}

impl Browser {
    async fn open(driver: &Driver, base: String, profile: &Path) -> Browser {
        let client = driver.session(profile).await;
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../dashboard-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            base,
            shots,
        }
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn fill(&self, css: &str, text: &str) {
        let input = self
            .client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap();
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Clicks the element `css` names, once there is one. Lists refresh themselves (the bots
    /// every 3 s), so the element found may be replaced before the click lands: then it is
    /// found again.
    async fn click(&self, css: &str) {
        for _ in 0..5 {
            let element = self
                .client
                .wait()
                .for_element(Locator::Css(css))
                .await
                .unwrap();
            match element.click().await {
                Ok(()) => return,
                Err(fantoccini::error::CmdError::Standard(error))
                    if error.error == fantoccini::error::ErrorStatus::StaleElementReference => {}
                Err(error) => panic!("clicking {css}: {error}"),
            }
        }
        panic!("{css} was replaced five times before a click landed");
    }

    async fn script(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits up to `within` until `script` returns something truthy, and returns it.
    async fn until(&self, what: &str, within: Duration, script: &str) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self.script(script).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                self.shot("timeout").await;
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_for_path(&self, prefix: &str) {
        let script = format!("return location.pathname.startsWith({prefix:?})");
        self.until(
            &format!("the page {prefix}"),
            Duration::from_secs(15),
            &script,
        )
        .await;
    }

    /// At 360 px wide, the page must not scroll sideways; screenshot `name`, then back to the
    /// desktop size.
    async fn narrow(&self, name: &str) {
        self.client.set_window_size(360, 800).await.unwrap();
        let fits = "return document.documentElement.scrollWidth <= window.innerWidth \
             && (document.getElementById('chart')?.clientWidth ?? 0) <= window.innerWidth";
        self.until("a page 360 px wide", Duration::from_secs(5), fits)
            .await;
        self.shot(name).await;
        self.client.set_window_size(1280, 1000).await.unwrap();
    }

    /// Shows the last trade marker of the chart in `#container_id` in the middle of it, then moves
    /// the pointer over it (found from the chart's own coordinates, then down or up a few pixels
    /// at a time from the candle's wick, where the arrow is drawn) until its tooltip shows;
    /// returns the tooltip's text.
    async fn hover_trade(&self, container_id: &str) -> String {
        // The last trade brought to the middle of the chart, an hour of candles around it.
        self.script(&format!(
            "const box = document.getElementById('{container_id}'); const chart = box.candleChart;\
             box.scrollIntoView({{block: 'center'}});\
             const mark = chart.marks.filter((m) => m.kind !== 'skip').pop();\
             chart.showRange(mark.timeMs - 30 * 60000, mark.timeMs + 30 * 60000); return true"
        ))
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let point = self
            .script(&format!(
                "const box = document.getElementById('{container_id}'); const chart = box.candleChart;\
                 const rect = box.getBoundingClientRect();\
                 const at = (mark) => chart.chart.timeScale().timeToCoordinate(Math.floor(mark.timeMs / 1000));\
                 const mark = chart.marks.filter((m) => m.kind !== 'skip').pop();\
                 const candle = chart.candleData.find((c) => c.open_time_ms === mark.timeMs);\
                 const below = mark.kind === 'BUY';\
                 const y = chart.candles.priceToCoordinate(below ? candle.low : candle.high);\
                 return [rect.left + at(mark), rect.top + y, below ? 1 : -1];"
            ))
            .await;
        let [x, y, direction] = [0, 1, 2].map(|i| point[i].as_f64().unwrap());
        for offset in (2..60).step_by(3) {
            let moved = fantoccini::actions::MouseActions::new("mouse".into()).then(
                fantoccini::actions::PointerAction::MoveTo {
                    duration: None,
                    x: x.round(),
                    y: (y + direction * f64::from(offset)).round(),
                },
            );
            self.client.perform_actions(moved).await.unwrap();
            let shown = self
                .script(&format!(
                    "const tip = document.querySelector('#{container_id} .tooltip');\
                     return tip.classList.contains('hidden') ? null : tip.textContent"
                ))
                .await;
            if let Some(text) = shown.as_str() {
                return text.to_owned();
            }
        }
        panic!("no tooltip over the last trade marker of #{container_id} near ({x}, {y})");
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// The console entries since the last call that are errors, but those `allowed` matches.
    async fn console_errors(&self, allowed: &[&str]) -> Vec<String> {
        let entries = self.client.issue_cmd(BrowserLog).await.unwrap();
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .filter(|message| !allowed.iter().any(|allowed| message.contains(allowed)))
            .collect()
    }

    /// No console error since the last look, and no JavaScript value shown as text (`null`,
    /// `undefined`, `NaN`, `[object ...]`): a page that printed one lost a value on the way.
    async fn assert_no_console_errors(&self, step: &str) {
        let errors = self.console_errors(&[]).await;
        assert!(errors.is_empty(), "{step}: console errors: {errors:#?}");
        let text = self.script("return document.body.innerText").await;
        let text = text.as_str().unwrap();
        for leaked in ["null", "undefined", "NaN", "[object"] {
            assert!(
                !text.split_whitespace().any(|word| word
                    .trim_matches(|c: char| !c.is_alphanumeric() && c != '[')
                    == leaked),
                "{step}: the page shows {leaked:?}:\n{text}"
            );
        }
    }

    /// The page's text as shown.
    async fn page_text(&self) -> String {
        let text = self.script("return document.body.innerText").await;
        text.as_str().unwrap().to_owned()
    }

    async fn register(&self, username: &str) {
        self.goto("/register").await;
        self.fill("#field-email", &format!("{username}@example.com"))
            .await;
        self.fill("#field-username", username).await;
        self.fill("#field-password", "a long enough password").await;
        self.click("#register-form button[type=submit]").await;
        self.wait_for_path("/bots").await;
    }
}

fn browser_installed() -> bool {
    let installed = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !installed {
        assert!(
            std::env::var("SPOTBOT_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "{CHROMIUM} or {CHROMEDRIVER} is missing: install Debian's chromium and chromium-driver"
        );
        eprintln!("skipped: {CHROMIUM} or {CHROMEDRIVER} is missing (scripts/test installs them)");
    }
    installed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trader_runs_a_bot_from_the_dashboard() {
    if !browser_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shared_data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .canonicalize()
        .expect("the shared data next to the repository");
    let candles_dir = shared_data.to_str().unwrap();
    // Webhooks to this machine: the test's receiver listens on loopback.
    let config = dir.path().join("spotbot.toml");
    std::fs::write(&config, "[notifications]\nallow_private_targets = true\n").unwrap();
    let config = config.to_str().unwrap();
    let mut spotbot = Running::start_with(
        dir.path(),
        &["--candles-dir", candles_dir, "--config", config],
    );
    let base = format!("http://{}", spotbot.api_address());
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::open(&driver, base, profile.path()).await;

    // 1. Register (which logs in), log out, log in.
    browser.register("alice").await;
    browser.shot("bots-empty").await;
    browser.click("#logout").await;
    browser.wait_for_path("/login").await;
    browser.shot("login").await;
    browser.fill("#field-username", "alice").await;
    browser
        .fill("#field-password", "a long enough password")
        .await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_path("/bots").await;
    let whoami = browser
        .until(
            "the user's name",
            Duration::from_secs(10),
            "return document.getElementById('whoami')?.textContent",
        )
        .await;
    assert_eq!(whoami, "alice");
    browser.assert_no_console_errors("login").await;

    // A mistake is shown next to its field, with the API's own words.
    browser.fill("#field-name", "fast one").await;
    browser.fill("#field-quote_per_buy", "0.0001").await;
    browser.click("#bot-form button[type=submit]").await;
    let error = browser
        .until(
            "the quote's error",
            Duration::from_secs(10),
            "return document.getElementById('error-quote_per_buy').textContent",
        )
        .await;
    assert!(error.as_str().unwrap().contains("minimum order"), "{error}");
    browser.shot("bot-form-error").await;
    // The 422 itself is logged by Chromium as a failed request: expected here.
    let errors = browser.console_errors(&["422"]).await;
    assert!(errors.is_empty(), "the form: {errors:#?}");

    // 2. A paper bot with fast parameters: it trades within seconds at the test's market speed.
    browser.fill("#field-quote_per_buy", "20").await;
    browser.fill("#field-fast", "2").await;
    browser.fill("#field-slow", "4").await;
    browser.fill("#field-rsi_period", "2").await;
    browser.fill("#field-overbought", "99").await;
    browser.click("#bot-form button[type=submit]").await;
    browser.wait_for_path("/bots/").await;
    let bot_path = browser.script("return location.pathname").await;
    browser
        .until(
            "the chart's candles",
            Duration::from_secs(20),
            "return Number(document.getElementById('chart')?.dataset.candles || 0) > 0",
        )
        .await;
    browser
        .script("window.notReloaded = true; return true")
        .await;

    // 3. Its first trade marker appears without a reload.
    browser
        .until(
            "a trade marker",
            Duration::from_secs(90),
            "return Number(document.getElementById('chart').dataset.markers || 0) > 0",
        )
        .await;
    assert_eq!(
        browser.script("return window.notReloaded === true").await,
        true,
        "the page reloaded"
    );
    // Hovering the marker shows the fill.
    let fill = browser.hover_trade("chart").await;
    assert!(
        fill.contains("Price") && fill.contains("Quantity") && fill.contains("Fee"),
        "{fill}"
    );
    browser.shot("bot-marker-hover").await;

    // A signal that sent no order is marked on its candle too (written as the engine writes a
    // skip: a fast bot above the minimum order rarely skips on its own).
    let bot_id: i64 = bot_path
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let candle = browser
        .script("return Number(document.getElementById('chart').dataset.lastCandle)")
        .await;
    let database = format!("sqlite://{}", dir.path().join("data/spotbot.db").display());
    let store = store::Store::connect(&database).await.unwrap();
    store
        .record_new_event(&store::NewEvent {
            bot_id: store::BotId(bot_id),
            at_ms: 1,
            kind: store::SKIP_EVENT.to_owned(),
            message: "order skipped: BUY below the minimum notional".to_owned(),
            candle_open_ms: candle.as_i64(),
            detail: None,
        })
        .await
        .unwrap();
    browser
        .until(
            "the skip marker",
            Duration::from_secs(30),
            "return Number(document.getElementById('chart').dataset.skips || 0) > 0",
        )
        .await;
    browser.shot("bot").await;

    // The realised-PnL and position curves are drawn from the bot's trades.
    browser
        .until(
            "the bot's PnL curve",
            Duration::from_secs(10),
            "return Number(document.getElementById('bot-pnl-chart')?.dataset.positionPoints || 0) > 0",
        )
        .await;

    // 4. The trade's fill is in the trades table.
    let trade_row = browser
        .until(
            "a row in the trades table",
            Duration::from_secs(10),
            "return document.querySelector('#trades tbody tr')?.textContent",
        )
        .await;
    let side = |text: &Value| {
        ["BUY", "SELL"]
            .iter()
            .any(|side| text.as_str().unwrap().contains(side))
    };
    assert!(side(&trade_row), "{trade_row}");
    // Its "why": the indicators at its signal's candle, the rule, the sizing and the fill.
    browser.click("#trades tbody tr button.why").await;
    let why = browser
        .until(
            "the trade's why",
            Duration::from_secs(10),
            "return document.querySelector('#why:not(.hidden) .why-steps')?.textContent",
        )
        .await;
    // As the engine recorded it: the readings at the candle and the one before, each sizing
    // step down to the filters.
    for part in [
        "EMA 2 at the candle before",
        "EMA 4",
        "RSI 2",
        "Rule",
        "Position",
        "Signal",
        "Price",
        "made legal by the symbol's filters",
        "Outcome",
        "Executed",
    ] {
        assert!(why.as_str().unwrap().contains(part), "{part} in {why}");
    }
    assert!(side(&why), "{why}");
    browser.shot("bot-why").await;
    browser.assert_no_console_errors("the bot's page").await;

    // The page works 360 px wide: nothing sticks out sideways, the chart fits.
    browser.narrow("bot-360").await;

    // 5. Pause it.
    browser.click("#controls button[data-action=pause]").await;
    browser
        .until("the paused status", Duration::from_secs(10), "return document.querySelector('#bot-facts [data-status]')?.dataset.status === 'paused'")
        .await;
    browser.shot("bot-paused").await;
    browser.goto("/bots").await;
    let status = browser
        .until(
            "the list",
            Duration::from_secs(10),
            "return document.querySelector('#bots-body [data-status]')?.dataset.status",
        )
        .await;
    assert_eq!(status, "paused");
    browser.shot("bots").await;
    browser.narrow("bots-360").await;
    browser.assert_no_console_errors("pausing").await;

    // The portfolio: the bot with its figures, and the paper account's balances.
    browser.goto("/portfolio").await;
    browser
        .until(
            "the portfolio's bot",
            Duration::from_secs(15),
            "return document.querySelectorAll('#portfolio tbody tr').length === 1",
        )
        .await;
    browser
        .until("the paper balances", Duration::from_secs(15), "return document.querySelector('#balances [data-venue=paper] [data-asset=USDT]')?.textContent")
        .await;
    browser.shot("portfolio").await;
    browser.assert_no_console_errors("the portfolio").await;

    // The account: the paper account is reset to its starting balance, after a confirmation.
    browser.goto("/account").await;
    browser.click("#paper-reset").await;
    browser.client.accept_alert().await.unwrap();
    browser
        .until("the reset balance", Duration::from_secs(15), "return document.querySelector('#paper [data-asset=USDT] td:nth-child(2)')?.textContent === '10000'")
        .await;
    browser.shot("account").await;
    browser.assert_no_console_errors("the account").await;

    // Notifications: a webhook added from the account page shows its signing secret once; a
    // test message reaches the receiver signed with it and shows as delivered in the log; the
    // bot's trades are opted in with a tick, which a reload shows kept.
    let receiver = Receiver::start(Behaviour::Accept).await;
    // The Telegram form shows its own fields only; back to a webhook.
    let kind = "const kind = document.getElementById('field-kind-channel'); kind.value = '{}'; \
                kind.dispatchEvent(new Event('change')); \
                return getComputedStyle(document.getElementById('field-chat_id-channel')).display";
    let shown = browser.script(&kind.replace("{}", "telegram")).await;
    assert_ne!(shown, "none", "the chat id field shows for Telegram");
    browser
        .script("document.getElementById('channel-form').scrollIntoView(); return true")
        .await;
    browser.shot("account-telegram-form").await;
    browser.script(&kind.replace("{}", "webhook")).await;
    browser.fill("#field-name-channel", "ops <b>hook</b>").await;
    browser
        .fill("#field-url-channel", &format!("{}/in", receiver.url()))
        .await;
    browser.click("#channel-form button[type=submit]").await;
    let secret = browser
        .until(
            "the signing secret",
            Duration::from_secs(10),
            "return document.querySelector('#signing-secret code')?.textContent",
        )
        .await;
    let secret = secret.as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let name = browser
        .until(
            "the channel",
            Duration::from_secs(10),
            "return document.querySelector('#channels tbody td')?.textContent",
        )
        .await;
    assert_eq!(name, "ops <b>hook</b>", "shown as typed, never as markup");
    browser.click("#channels button[data-action=test]").await;
    browser
        .until("the delivered test", Duration::from_secs(20), "document.querySelector('#notifications .page-head button').click(); return document.querySelector('#deliveries tr[data-status=delivered]') !== null")
        .await;
    let tests = receiver.received();
    assert_eq!(tests.len(), 1);
    let timestamp: i64 = tests[0].header("x-spotbot-timestamp").parse().unwrap();
    let signature = notify::send::signature(secret.as_bytes(), timestamp, &tests[0].body);
    assert_eq!(
        tests[0].header("x-spotbot-signature"),
        format!("v1={signature}")
    );
    browser.click("#events input[value=trade]").await;
    browser
        .until(
            "the saved choice",
            Duration::from_secs(10),
            "return document.querySelector('#events [role=status]')?.textContent === 'saved'",
        )
        .await;
    browser.shot("account-notifications").await;
    browser
        .script("document.getElementById('deliveries').scrollIntoView(); return true")
        .await;
    browser.shot("account-deliveries").await;
    browser.narrow("account-360").await;
    browser.goto("/account").await;
    browser
        .until("the kept choice", Duration::from_secs(10), "return document.querySelector('#events input[value=trade]')?.checked && !document.querySelector('#events input[value=bot_error]').checked")
        .await;
    assert!(browser.page_text().await.contains("ops <b>hook</b>"));
    assert!(
        !browser.page_text().await.contains(&secret),
        "the secret is shown once"
    );
    browser.assert_no_console_errors("the notifications").await;

    // 6. A backtest on the shared 100k-candle file, run from the page, shows exactly the
    // figures `spotbot backtest --json` prints for the same file and the same defaults.
    browser.goto("/backtest").await;
    browser
        .click("#field-file option[value='server:candles-100k.csv']")
        .await;
    browser.click("#backtest-form button[type=submit]").await;
    browser
        .until(
            "the backtest's figures",
            Duration::from_secs(60),
            "return document.querySelector('#backtest-metrics [data-metric=final_equity]')?.dataset.value",
        )
        .await;
    let shown = browser
        .script(
            "return Object.fromEntries([...document.querySelectorAll('#backtest-metrics tr')]\
             .map((row) => [row.dataset.metric, row.dataset.value]))",
        )
        .await;
    let cli = common::spotbot(dir.path())
        .args(["backtest", "--json", "--data"])
        .arg(shared_data.join("candles-100k.csv"))
        .output()
        .unwrap();
    assert!(cli.status.success(), "{cli:?}");
    let expected: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let metrics = shown.as_object().unwrap();
    assert!(metrics.len() >= 10, "{shown}");
    for (key, value) in metrics {
        let value = value.as_str().unwrap();
        match &expected[key] {
            Value::Null => assert_eq!(value, "", "{key}"),
            number => assert_eq!(
                value.parse::<f64>().unwrap(),
                number.as_f64().unwrap(),
                "{key}: the page shows {value}, the command {number}"
            ),
        }
    }
    assert_eq!(expected["round_trips"], 2334, "the published figure");
    browser.shot("backtest").await;
    browser
        .script("document.getElementById('equity-chart').scrollIntoView(); return true")
        .await;
    browser.shot("backtest-equity").await;
    // Its chart marks the trades, and a marker shows its round trip.
    let trades = browser
        .script("return Number(document.getElementById('backtest-chart').dataset.markers)")
        .await;
    assert!(trades.as_i64().unwrap() > 10, "{trades}");
    let trip = browser.hover_trade("backtest-chart").await;
    assert!(trip.contains("Bought") && trip.contains("PnL"), "{trip}");
    browser.shot("backtest-chart").await;
    browser.assert_no_console_errors("the backtest").await;

    // A file of the user's own, uploaded from the page, is listed as theirs and selected.
    let upload = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(shared_data.join("candles-100k.csv")).unwrap();
    let head: String = text
        .lines()
        .take(5_001)
        .map(|line| format!("{line}\n"))
        .collect();
    let mine = upload.path().join("first-5k.csv");
    std::fs::write(&mine, head).unwrap();
    browser
        .client
        .find(Locator::Css("#upload-file"))
        .await
        .unwrap()
        .send_keys(mine.to_str().unwrap())
        .await
        .unwrap();
    browser
        .until(
            "the uploaded file selected",
            Duration::from_secs(20),
            "return document.getElementById('field-file').value === 'upload:first-5k.csv'",
        )
        .await;
    browser
        .click("#field-file option[value='server:candles-100k.csv']")
        .await;

    // A sweep shows its progress, then a heatmap; a cell opens its run, whose figures are the
    // cell's.
    browser.fill("#field-fast-sweep", "5..13:2").await;
    browser.fill("#field-slow-sweep", "20..40:5").await;
    browser.fill("#field-overbought-sweep", "60..80:10").await;
    browser.click("#sweep-form button[type=submit]").await;
    browser
        .until(
            "the sweep's heatmap",
            Duration::from_secs(120),
            "return document.querySelectorAll('#sweep-heatmap button.cell').length === 25",
        )
        .await;
    browser
        .script("document.getElementById('sweep-heatmap').scrollIntoView(); return true")
        .await;
    browser.shot("backtest-sweep").await;
    let best = browser
        .script(
            "const cells = [...document.querySelectorAll('#sweep-heatmap button.cell')];\
             const best = cells.reduce((a, b) => (Number(b.dataset.value) > Number(a.dataset.value) ? b : a));\
             best.click(); return [Number(best.dataset.x), Number(best.dataset.y), Number(best.dataset.value)]",
        )
        .await;
    let opened = browser
        .until(
            "the cell's run",
            Duration::from_secs(60),
            &format!(
                "const fast = document.getElementById('field-fast').value;\
                 const value = document.querySelector('#backtest-metrics [data-metric=total_return]')?.dataset.value;\
                 return fast === '{}' && value && Number(value) === {} ? [Number(fast), Number(document.getElementById('field-slow').value)] : null",
                best[0], best[2]
            ),
        )
        .await;
    assert_eq!(opened, serde_json::json!([best[0], best[1]]));
    browser.assert_no_console_errors("the sweep").await;
    browser.narrow("backtest-360").await;

    // 7. Another user sees none of it: no bot in their list, and a 404 for alice's bot's page.
    browser.click("#logout").await;
    browser.wait_for_path("/login").await;
    browser.register("bob").await;
    browser
        .until(
            "bob's empty list",
            Duration::from_secs(10),
            "return !document.getElementById('no-bots').classList.contains('hidden')",
        )
        .await;
    assert_eq!(
        browser
            .script("return document.querySelectorAll('#bots-body tr').length")
            .await,
        0
    );
    browser.goto(bot_path.as_str().unwrap()).await;
    let heading = browser
        .until(
            "the 404 page",
            Duration::from_secs(10),
            "return document.querySelector('main h1')?.textContent",
        )
        .await;
    assert_eq!(heading, "No such bot");
    browser.shot("other-user").await;
    let errors = browser.console_errors(&["404"]).await;
    assert!(errors.is_empty(), "the other user: {errors:#?}");

    // Bob's own bot: created, stopped, and deleted from the list after a confirmation.
    browser.goto("/bots").await;
    browser.fill("#field-name", "short-lived").await;
    // It must not trade before it is stopped, or it could not be deleted (its trades stay as a
    // record): an RSI below 0.5 never happens, so it never buys.
    browser.fill("#field-overbought", "0.5").await;
    browser.click("#bot-form button[type=submit]").await;
    browser.wait_for_path("/bots/").await;
    browser.click("#controls button[data-action=stop]").await;
    browser
        .until(
            "the stopped bot",
            Duration::from_secs(10),
            "return document.querySelector('#controls button[data-action=start]') !== null",
        )
        .await;
    browser.goto("/bots").await;
    // A bot still finishing its last cycle is refused with a 409, shown in an alert: then the
    // user tries again, as this does.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        browser.click("#bots-body button[data-action=delete]").await;
        browser.client.accept_alert().await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        match browser.client.get_alert_text().await {
            Ok(refusal) => {
                assert!(refusal.contains("stop it first"), "{refusal}");
                browser.client.accept_alert().await.unwrap();
                assert!(
                    Instant::now() < deadline,
                    "the stopped bot is never deletable"
                );
            }
            Err(_) => break,
        }
    }
    browser
        .until(
            "the list without the deleted bot",
            Duration::from_secs(10),
            "return document.querySelectorAll('#bots-body tr').length === 0",
        )
        .await;
    // A refused attempt is logged by Chromium as a failed request (409): expected here.
    let errors = browser.console_errors(&["409"]).await;
    assert!(errors.is_empty(), "deleting a bot: {errors:#?}");

    // An admin (made with `spotbot user add --admin`, as the README says) sees every user, the
    // worker and every bot with its owner; a user does not even get the link.
    assert_eq!(
        browser
            .script("return document.querySelector('nav a[href=\"/admin\"]') === null")
            .await,
        true
    );
    let added = common::spotbot(dir.path())
        .env("SPOTBOT_PASSWORD", "a long enough password")
        .args([
            "user",
            "add",
            "--username",
            "root",
            "--email",
            "root@example.com",
            "--admin",
        ])
        .args(["--database", &database])
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    browser.click("#logout").await;
    browser.wait_for_path("/login").await;
    browser.fill("#field-username", "root").await;
    browser
        .fill("#field-password", "a long enough password")
        .await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_path("/bots").await;
    browser.click("nav a[href=\"/admin\"]").await;
    let owners = browser
        .until(
            "every bot with its owner",
            Duration::from_secs(15),
            "return [...document.querySelectorAll('#admin-bots tbody tr')].map((row) => row.cells[1].textContent + ' ' + row.cells[2].textContent).join(', ')",
        )
        .await;
    assert!(
        owners.as_str().unwrap().contains("alice fast one"),
        "{owners}"
    );
    let users = browser
        .script("return document.querySelector('#admin-users tbody').textContent")
        .await;
    for name in ["alice", "bob", "root"] {
        assert!(users.as_str().unwrap().contains(name), "{name} in {users}");
    }
    browser
        .until(
            "the running worker",
            Duration::from_secs(10),
            "return document.querySelector('#admin-workers tbody')?.textContent.includes('running')",
        )
        .await;
    browser.shot("admin").await;
    browser.assert_no_console_errors("the admin page").await;

    browser.client.close().await.unwrap();
    let (clean, lines) = spotbot.stop("-TERM");
    assert!(clean, "spotbot stops cleanly:\n{}", lines.join("\n"));
}
