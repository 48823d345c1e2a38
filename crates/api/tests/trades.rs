//! Trades, positions and performance over real HTTP, on SQLite and PostgreSQL: two users' trades
//! seeded through the store, then filters, cursor pages without gaps or repeats, the CSV export,
//! positions, performance figures computed by hand, every bad parameter's 422, 401 without a
//! token, and isolation (a user never sees another's data; naming another's bot is a 404).

use std::str::FromStr;

use reqwest::StatusCode;
use serde_json::{Value, json};
use store::{
    BotConfig, BotId, Execution, Mode, NewBot, NewOrder, NewTrade, OrderStatus, PositionRow, Store,
    UserId,
};

mod common;

use common::{Server, assert_error, config};

impl Server {
    /// `GET path` as `token`, expecting 200 and JSON.
    async fn ok(&self, path: &str, token: &str) -> Value {
        let answer = self.get(path, Some(token)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {answer:?}");
        answer.json()
    }

    /// Registers and logs in `username`: their id and a bearer token.
    async fn user(&self, username: &str) -> (UserId, String) {
        let (user, _, token) = self.sign_up(username).await;
        (UserId(user.body["id"].as_i64().unwrap()), token)
    }
}

/// `text` parsed as whatever the field needs (a decimal, a side): this crate names neither type.
fn p<T: FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().unwrap()
}

/// A bot of `user` trading `symbol`.
async fn bot(store: &Store, user: UserId, name: &str, symbol: &str) -> BotConfig {
    let bot = NewBot {
        user_id: user,
        name: name.to_owned(),
        symbol: symbol.to_owned(),
        interval: "1h".to_owned(),
        strategy: "ema_rsi_cross".to_owned(),
        strategy_params: "{}".to_owned(),
        quote_per_buy: p("200"),
        mode: Mode::Paper,
        is_active: true,
    };
    store.create_bot(&bot, 1).await.unwrap()
}

/// One seeded trade: side, time, price, base and quote quantities, commission and its asset,
/// realised PnL (SELLs), and the bot's position after it (quantity, cost, realised PnL).
struct Seed {
    client_order_id: String,
    side: &'static str,
    at_ms: i64,
    price: &'static str,
    quantity: &'static str,
    quote: &'static str,
    commission: &'static str,
    asset: &'static str,
    pnl: Option<&'static str>,
    position: (&'static str, &'static str, &'static str),
}

/// Writes the order of `seed` and records its execution by `bot`; returns the trade's id.
async fn trade(store: &Store, bot: &BotConfig, seed: &Seed) -> i64 {
    store
        .insert_pending_order(
            &NewOrder {
                client_order_id: seed.client_order_id.clone(),
                bot_id: bot.id,
                user_id: bot.user_id,
                symbol: bot.symbol.clone(),
                side: p(seed.side),
                requested_quantity: p(seed.quantity),
                signal_candle_open_ms: seed.at_ms - 100,
                decision: None,
            },
            seed.at_ms - 10,
        )
        .await
        .unwrap();
    let position_before = store.position(bot.id).await.unwrap();
    let execution = Execution {
        trade: NewTrade {
            bot_id: bot.id,
            user_id: bot.user_id,
            binance_order_id: seed.at_ms,
            client_order_id: seed.client_order_id.clone(),
            symbol: bot.symbol.clone(),
            side: p(seed.side),
            price: p(seed.price),
            quantity_filled: p(seed.quantity),
            quote_quantity_filled: p(seed.quote),
            commission: p(seed.commission),
            commission_asset: seed.asset.to_owned(),
            realized_pnl: seed.pnl.map(p),
            executed_at_ms: seed.at_ms,
        },
        order_status: OrderStatus::Filled,
        position_before,
        position_after: PositionRow {
            bot_id: bot.id,
            quantity: p(seed.position.0),
            cost_quote: p(seed.position.1),
            realized_pnl: p(seed.position.2),
            updated_at_ms: seed.at_ms + 1,
        },
    };
    store
        .record_execution(&execution, seed.at_ms + 1)
        .await
        .unwrap()
        .0
        .id
        .0
}

/// A BUY of 0.01 BTC at 20000.
fn buy(
    client_order_id: &'static str,
    at_ms: i64,
    commission: &'static str,
    asset: &'static str,
) -> Seed {
    Seed {
        client_order_id: client_order_id.to_owned(),
        side: "BUY",
        at_ms,
        price: "20000",
        quantity: "0.01",
        quote: "200",
        commission,
        asset,
        pnl: None,
        position: ("0.01", "200.2", "0"),
    }
}

/// A SELL of 0.01 BTC at `price` realising `pnl`, leaving `realized` realised in all.
fn sell(
    client_order_id: &'static str,
    at_ms: i64,
    price: &'static str,
    commission: &'static str,
    asset: &'static str,
    pnl: &'static str,
    realized: &'static str,
) -> Seed {
    Seed {
        client_order_id: client_order_id.to_owned(),
        side: "SELL",
        at_ms,
        price,
        quantity: "0.01",
        quote: "210",
        commission,
        asset,
        pnl: Some(pnl),
        position: ("0", "0", realized),
    }
}

/// A trade of 1 ETH for `price` BTC, by a bot that held nothing before its BUY and realised
/// nothing before its SELL.
fn eth(
    client_order_id: &'static str,
    side: &'static str,
    at_ms: i64,
    price: &'static str,
    commission: &'static str,
    asset: &'static str,
    pnl: Option<&'static str>,
) -> Seed {
    Seed {
        client_order_id: client_order_id.to_owned(),
        side,
        at_ms,
        price,
        quantity: "1",
        quote: price,
        commission,
        asset,
        pnl,
        position: match pnl {
            Some(pnl) => ("0", "0", pnl),
            None => ("1", "0.05005", "0"),
        },
    }
}

/// Two users and their trades, seeded through the store.
struct World {
    server: Server,
    alice: String,
    bob: String,
    /// Alice's BTCUSDT bot.
    a1: BotId,
    /// Alice's ETHBTC bot.
    a2: BotId,
    /// Bob's BTCUSDT bot.
    b1: BotId,
    /// Trade ids by name (`t1`..`t10`), Alice's `t1`..`t8`, Bob's `t9`, `t10`.
    ids: std::collections::HashMap<&'static str, i64>,
}

impl World {
    /// Alice's bot a1 (BTCUSDT) trades t1..t6, her bot a2 (ETHBTC) t7, t8; Bob's b1 trades t9,
    /// t10. They are recorded in time order, so Bob's ids fall between Alice's.
    async fn seed(store: &Store) -> World {
        let server = Server::start(store, config()).await;
        let (alice_id, alice) = server.user("alice").await;
        let (bob_id, bob) = server.user("bob").await;
        let a1 = bot(store, alice_id, "a1", "BTCUSDT").await;
        let a2 = bot(store, alice_id, "a2", "ETHBTC").await;
        let b1 = bot(store, bob_id, "b1", "BTCUSDT").await;
        let seeds: Vec<(&'static str, &BotConfig, Seed)> = vec![
            ("t1", &a1, buy("t1", 1000, "0.2", "USDT")),
            ("t9", &b1, buy("t9", 1200, "0.2", "USDT")),
            (
                "t7",
                &a2,
                eth("t7", "BUY", 1500, "0.05", "0.001", "ETH", None),
            ),
            (
                "t2",
                &a1,
                sell("t2", 2000, "21000", "0.00001", "BTC", "9.59", "9.59"),
            ),
            (
                "t10",
                &b1,
                sell("t10", 2200, "20100", "0.2", "USDT", "1", "1"),
            ),
            (
                "t8",
                &a2,
                eth(
                    "t8",
                    "SELL",
                    2500,
                    "0.06",
                    "0.00006",
                    "BTC",
                    Some("0.00989"),
                ),
            ),
            // A client order id that CSV must quote.
            ("t3", &a1, buy("a1,\"3\"", 3000, "0.0005", "BNB")),
            (
                "t4",
                &a1,
                sell("t4", 4000, "19000", "0.2", "USDT", "-11.4", "-1.81"),
            ),
            ("t5", &a1, buy("t5", 5000, "0.2", "USDT")),
            (
                "t6",
                &a1,
                sell("t6", 6000, "20500", "0.0003", "BNB", "5", "3.19"),
            ),
        ];
        let mut ids = std::collections::HashMap::new();
        for (name, bot, seed) in &seeds {
            ids.insert(*name, trade(store, bot, seed).await);
        }
        World {
            server,
            alice,
            bob,
            a1: a1.id,
            a2: a2.id,
            b1: b1.id,
            ids,
        }
    }

    /// The ids of the trades named `names`.
    fn ids(&self, names: &[&str]) -> Vec<i64> {
        names.iter().map(|name| self.ids[name]).collect()
    }

    /// The trade ids of one page of `GET /api/v1/trades?query` as Alice, and its next cursor.
    async fn page(&self, query: &str) -> (Vec<i64>, Option<String>) {
        let page = self
            .server
            .ok(&format!("/api/v1/trades?{query}"), &self.alice)
            .await;
        assert_eq!(page.as_object().unwrap().len(), 2, "{page}");
        let ids = page["trades"]
            .as_array()
            .unwrap()
            .iter()
            .map(|trade| trade["id"].as_i64().unwrap())
            .collect();
        (ids, page["next_cursor"].as_str().map(str::to_owned))
    }
}

store::backend_tests! {
    async fn trades_are_filtered_and_shown_whole(store: Store) {
        let world = World::seed(&store).await;
        let all = world.ids(&["t1", "t7", "t2", "t8", "t3", "t4", "t5", "t6"]);
        assert_eq!(world.page("").await, (all.clone(), None));
        let cases: [(String, &[&str]); 8] = [
            (format!("bot={}", world.a2), &["t7", "t8"]),
            ("symbol=ETHBTC".to_owned(), &["t7", "t8"]),
            ("side=SELL".to_owned(), &["t2", "t8", "t4", "t6"]),
            // from_ms is inclusive, to_ms exclusive.
            ("from_ms=2000&to_ms=4000".to_owned(), &["t2", "t8", "t3"]),
            (format!("bot={}&side=BUY&from_ms=3000", world.a1), &["t3", "t5"]),
            ("to_ms=1000".to_owned(), &[]),
            ("from_ms=3000&to_ms=3000".to_owned(), &[]),
            ("symbol=XRPUSDT".to_owned(), &[]),
        ];
        for (query, expected) in cases {
            assert_eq!(world.page(&query).await, (world.ids(expected), None), "{query}");
        }

        let page = world.server.ok(&format!("/api/v1/trades?bot={}", world.a1), &world.alice).await;
        assert_eq!(
            page["trades"][1],
            json!({
                "id": world.ids["t2"], "bot_id": world.a1.0, "symbol": "BTCUSDT", "side": "SELL",
                "order_type": "MARKET", "price": "21000", "quantity_filled": "0.01",
                "quote_quantity_filled": "210", "commission": "0.00001", "commission_asset": "BTC",
                "realized_pnl": "9.59", "binance_order_id": 2000, "client_order_id": "t2",
                "executed_at_ms": 2000,
            })
        );
        assert_eq!(page["trades"][0]["realized_pnl"], Value::Null);

        // Each bot in the list shows its newest trade: the last of its own trades.
        let bots = world.server.ok("/api/v1/bots", &world.alice).await;
        for bot in bots.as_array().unwrap() {
            let trades = world.server.ok(&format!("/api/v1/trades?bot={}", bot["id"]), &world.alice).await;
            let newest = trades["trades"].as_array().unwrap().last().unwrap();
            assert_eq!(
                bot["last_trade"],
                json!({"side": newest["side"], "price": newest["price"],
                       "quantity": newest["quantity_filled"], "executed_at_ms": newest["executed_at_ms"]}),
                "{bot}"
            );
        }

        // Bob sees his own trades only, and Alice's bot is not his to name.
        let bob = world.server.ok("/api/v1/trades", &world.bob).await;
        let bobs: Vec<i64> = bob["trades"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
        assert_eq!(bobs, world.ids(&["t9", "t10"]));
        for query in [format!("bot={}", world.a1), "bot=999999".to_owned()] {
            for path in ["/api/v1/trades", "/api/v1/trades.csv", "/api/v1/performance"] {
                let answer = world.server.get(&format!("{path}?{query}"), Some(&world.bob)).await;
                assert_error(&answer, StatusCode::NOT_FOUND, "not_found", Some("bot"));
            }
        }
        // A cursor taken from Alice's trades only moves Bob's page along his own trades.
        let answer = world
            .server
            .ok(&format!("/api/v1/trades?cursor={}", world.ids["t1"]), &world.bob)
            .await;
        assert_eq!(answer["trades"].as_array().unwrap().len(), 2);
        assert_eq!(
            world.server.ok(&format!("/api/v1/trades?bot={}", world.b1), &world.bob).await["trades"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        world.server.stop().await;
    }

    async fn pages_follow_cursors_without_gaps_or_repeats(store: Store) {
        let world = World::seed(&store).await;
        let all = world.ids(&["t1", "t7", "t2", "t8", "t3", "t4", "t5", "t6"]);
        for (limit, sizes) in [(1, vec![1; 8]), (3, vec![3, 3, 2]), (4, vec![4, 4]), (8, vec![8]), (500, vec![8])] {
            let (mut seen, mut got_sizes, mut cursor) = (Vec::new(), Vec::new(), None::<String>);
            loop {
                let query = match &cursor {
                    Some(cursor) => format!("limit={limit}&cursor={cursor}"),
                    None => format!("limit={limit}"),
                };
                let (ids, next) = world.page(&query).await;
                got_sizes.push(ids.len());
                seen.extend(ids);
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(seen, all, "limit {limit}");
            assert_eq!(got_sizes, sizes, "limit {limit}");
        }
        // Paging composes with filters.
        let (first, cursor) = world.page("side=SELL&limit=3").await;
        assert_eq!(first, world.ids(&["t2", "t8", "t4"]));
        let rest = world.page(&format!("side=SELL&limit=3&cursor={}", cursor.unwrap())).await;
        assert_eq!(rest, (world.ids(&["t6"]), None));
        world.server.stop().await;
    }

    async fn the_csv_export_holds_every_selected_trade_quoted(store: Store) {
        let world = World::seed(&store).await;
        let answer = world
            .server
            .get(&format!("/api/v1/trades.csv?bot={}&side=BUY", world.a1), Some(&world.alice))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.content_type.as_deref(), Some("text/csv; charset=utf-8"));
        let a1 = world.a1;
        let (t1, t3, t5) = (world.ids["t1"], world.ids["t3"], world.ids["t5"]);
        assert_eq!(
            answer.text,
            format!(
                "id,bot_id,symbol,side,order_type,price,quantity_filled,quote_quantity_filled,\
                 commission,commission_asset,realized_pnl,binance_order_id,client_order_id,\
                 executed_at_ms\r\n\
                 {t1},{a1},BTCUSDT,BUY,MARKET,20000,0.01,200,0.2,USDT,,1000,t1,1000\r\n\
                 {t3},{a1},BTCUSDT,BUY,MARKET,20000,0.01,200,0.0005,BNB,,3000,\"a1,\"\"3\"\"\",3000\r\n\
                 {t5},{a1},BTCUSDT,BUY,MARKET,20000,0.01,200,0.2,USDT,,5000,t5,5000\r\n"
            )
        );
        // Without filters: all of Alice's trades, none of Bob's; a SELL has its PnL.
        let all = world.server.get("/api/v1/trades.csv", Some(&world.alice)).await;
        let lines: Vec<&str> = all.text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 1 + 8, "{}", all.text);
        assert!(lines[3].ends_with(",9.59,2000,t2,2000"), "{}", lines[3]);
        let bob = world.server.get("/api/v1/trades.csv", Some(&world.bob)).await;
        assert_eq!(bob.text.split_terminator("\r\n").count(), 1 + 2, "{}", bob.text);
        // No trades: the header alone.
        let none = world.server.get("/api/v1/trades.csv?symbol=XRPUSDT", Some(&world.alice)).await;
        assert_eq!(none.text.split_terminator("\r\n").count(), 1);
        world.server.stop().await;
    }

    /// More trades than the export reads at a time: every one arrives, once, in id order.
    async fn the_csv_export_streams_every_batch(store: Store) {
        // Two full batches of the export (500 each) and one more trade.
        const TRADES: i64 = 1_001;
        let server = Server::start(&store, config()).await;
        let (alice_id, alice) = server.user("alice").await;
        let a1 = bot(&store, alice_id, "a1", "BTCUSDT").await;
        let mut ids = Vec::new();
        for i in 0..TRADES {
            let seed = Seed {
                client_order_id: format!("bulk-{i}"),
                ..buy("", 10_000 + i * 1_000, "0.2", "USDT")
            };
            ids.push(trade(&store, &a1, &seed).await);
        }
        let answer = server.get("/api/v1/trades.csv", Some(&alice)).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        let lines: Vec<&str> = answer.text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 1 + ids.len());
        let got: Vec<i64> = lines[1..]
            .iter()
            .map(|line| line.split(',').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(got, ids);
        assert!(lines[TRADES as usize].ends_with(",bulk-1000,1010000"), "{}", lines[TRADES as usize]);
        server.stop().await;
    }

    async fn positions_are_the_callers_with_their_symbols(store: Store) {
        let world = World::seed(&store).await;
        let positions = world.server.ok("/api/v1/positions", &world.alice).await;
        assert_eq!(
            positions,
            json!({"positions": [
                {"bot_id": world.a1.0, "symbol": "BTCUSDT", "quantity": "0", "cost_quote": "0",
                 "realized_pnl": "3.19", "updated_at_ms": 6001},
                {"bot_id": world.a2.0, "symbol": "ETHBTC", "quantity": "0", "cost_quote": "0",
                 "realized_pnl": "0.00989", "updated_at_ms": 2501},
            ]})
        );
        let bob = world.server.ok("/api/v1/positions", &world.bob).await;
        assert_eq!(bob["positions"].as_array().unwrap().len(), 1);
        assert_eq!(bob["positions"][0]["bot_id"], world.b1.0);
        assert_eq!(bob["positions"][0]["realized_pnl"], "1");
        world.server.stop().await;
    }

    async fn performance_per_bot_and_per_user_by_hand(store: Store) {
        let world = World::seed(&store).await;
        // a1: equity after its SELLs 9.59, -1.81, 3.19: the drop from 9.59 to -1.81 is 11.4,
        // 1.188738 of the peak. Fees: 0.2 + 0.00001 BTC * 21000 + 0.2 + 0.2 USDT, BNB apart.
        let a1 = json!({
            "bot_id": world.a1.0, "symbol": "BTCUSDT", "realized_pnl": "3.19", "fees_quote": "0.81",
            "fees_other": {"BNB": "0.0008"}, "trades": 6, "buys": 3, "sells": 3,
            "winning_sells": 2, "win_rate": "0.666667", "max_drawdown": "11.4",
            "max_drawdown_share": "1.188738",
        });
        // a2: the ETH commission at 0.05 is 0.00005 BTC, plus 0.00006 BTC; one winning SELL.
        let a2 = json!({
            "bot_id": world.a2.0, "symbol": "ETHBTC", "realized_pnl": "0.00989",
            "fees_quote": "0.00011", "fees_other": {}, "trades": 2, "buys": 1, "sells": 1,
            "winning_sells": 1, "win_rate": "1", "max_drawdown": "0", "max_drawdown_share": null,
        });
        let path = |bot: BotId| format!("/api/v1/performance?bot={bot}");
        assert_eq!(world.server.ok(&path(world.a1), &world.alice).await, a1);
        assert_eq!(world.server.ok(&path(world.a2), &world.alice).await, a2);
        // Alice in all: her SELLs in time order are t2, t8, t4, t6: equity 9.59, 9.59989,
        // -1.80011, 3.19989; the drop is 11.4 from 9.59989 (1.1875136...).
        assert_eq!(
            world.server.ok("/api/v1/performance", &world.alice).await,
            json!({
                "realized_pnl": "3.19989", "fees_quote": "0.81011", "fees_other": {"BNB": "0.0008"},
                "trades": 8, "buys": 4, "sells": 4, "winning_sells": 3, "win_rate": "0.75",
                "max_drawdown": "11.4", "max_drawdown_share": "1.187514", "bots": [a1, a2],
            })
        );
        // Bob's figures hold his trades alone.
        let bob = world.server.ok("/api/v1/performance", &world.bob).await;
        assert_eq!((&bob["trades"], &bob["realized_pnl"], &bob["fees_quote"]), (&json!(2), &json!("1"), &json!("0.4")));
        assert_eq!(bob["bots"].as_array().unwrap().len(), 1);
        assert_eq!(bob["bots"][0]["bot_id"], world.b1.0);
        world.server.stop().await;
    }

    async fn a_user_without_bots_has_empty_answers(store: Store) {
        let server = Server::start(&store, config()).await;
        let (_, token) = server.user("carol").await;
        assert_eq!(server.ok("/api/v1/trades", &token).await, json!({"trades": [], "next_cursor": null}));
        assert_eq!(server.ok("/api/v1/positions", &token).await, json!({"positions": []}));
        assert_eq!(
            server.ok("/api/v1/performance", &token).await,
            json!({
                "realized_pnl": "0", "fees_quote": "0", "fees_other": {}, "trades": 0, "buys": 0,
                "sells": 0, "winning_sells": 0, "win_rate": null, "max_drawdown": "0",
                "max_drawdown_share": null, "bots": [],
            })
        );
        server.stop().await;
    }

    async fn bad_parameters_are_422_naming_them(store: Store) {
        let server = Server::start(&store, config()).await;
        let (_, token) = server.user("dave").await;
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        let cases: &[(&str, &str, &str)] = &[
            ("/api/v1/trades?limit=0", "invalid_value", "limit"),
            ("/api/v1/trades?limit=501", "invalid_value", "limit"),
            ("/api/v1/trades?limit=ten", "invalid_value", "limit"),
            ("/api/v1/trades?limit=-1", "invalid_value", "limit"),
            ("/api/v1/trades?side=HOLD", "invalid_value", "side"),
            ("/api/v1/trades?side=", "invalid_value", "side"),
            ("/api/v1/trades?from_ms=yesterday", "invalid_value", "from_ms"),
            ("/api/v1/trades?to_ms=99999999999999999999", "invalid_value", "to_ms"),
            // Swapped bounds are a mistake to report, not an empty answer.
            ("/api/v1/trades?from_ms=4000&to_ms=2000", "invalid_value", "to_ms"),
            ("/api/v1/trades.csv?from_ms=4000&to_ms=2000", "invalid_value", "to_ms"),
            ("/api/v1/trades?order=latest", "invalid_value", "order"),
            ("/api/v1/trades?cursor=not-a-cursor", "invalid_value", "cursor"),
            ("/api/v1/trades?cursor=-5", "invalid_value", "cursor"),
            // Only cursors in the form the API gives out (the document's pattern).
            ("/api/v1/trades?cursor=%2B5", "invalid_value", "cursor"),
            ("/api/v1/trades?cursor=05", "invalid_value", "cursor"),
            ("/api/v1/trades?bot=abc", "invalid_value", "bot"),
            ("/api/v1/trades?bot=0", "invalid_value", "bot"),
            ("/api/v1/trades?bot=1&bot=2", "invalid_value", "bot"),
            ("/api/v1/trades?symbol=btc%2Dusdt", "invalid_value", "symbol"),
            ("/api/v1/trades?symbol=ABCDEFGHIJKLMNOPQRSTU", "invalid_value", "symbol"),
            ("/api/v1/trades?user=1", "unknown_field", "user"),
            ("/api/v1/trades.csv?side=HOLD", "invalid_value", "side"),
            ("/api/v1/trades.csv?limit=5", "unknown_field", "limit"),
            ("/api/v1/trades.csv?cursor=5", "unknown_field", "cursor"),
            ("/api/v1/positions?bot=1", "unknown_field", "bot"),
            ("/api/v1/performance?bot=x", "invalid_value", "bot"),
            ("/api/v1/performance?symbol=BTCUSDT", "unknown_field", "symbol"),
        ];
        for (path, code, field) in cases {
            let answer = server.get(path, Some(&token)).await;
            assert_error(&answer, unprocessable, code, Some(field));
        }
        let answer = server.get("/api/v1/trades?limit=%ZZ", Some(&token)).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "malformed_query", None);
        server.stop().await;
    }

    async fn every_route_needs_a_live_token(store: Store) {
        let server = Server::start(&store, config()).await;
        for path in ["/api/v1/trades", "/api/v1/trades.csv", "/api/v1/positions", "/api/v1/performance", "/api/v1/performance?bot=1"] {
            for token in [None, Some("not-a-token")] {
                let answer = server.get(path, token).await;
                assert_error(&answer, StatusCode::UNAUTHORIZED, "unauthorized", None);
            }
            // Who is asking comes first: bad parameters without a token are still a 401.
            let answer = server.get(&format!("{path}{}limit=0", if path.contains('?') { '&' } else { '?' }), None).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        }
        server.stop().await;
    }
}
