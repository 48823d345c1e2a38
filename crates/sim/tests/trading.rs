//! MARKET orders, test orders, order queries, the order and trade lists and the account over
//! loopback HTTP: balance and commission arithmetic checked exactly, book walking, every MARKET
//! filter, and the order errors.

mod common;

use common::{START_MS, TestSim, assert_same_shape, code_and_msg, decimal, fixture};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;

use sim::{NewMarketOrder, OrderSize};

const COMMISSION_RATE: Decimal = dec!(0.001);

/// Request parameters, then the error code and message they must get.
type ErrorCase<'a> = (Vec<(&'a str, &'a str)>, i64, &'a str);
/// Request parameters, the order ids they must select, and what the case shows.
type Selection<'a> = (Vec<(&'a str, &'a str)>, Vec<u64>, &'a str);

async fn order(sim: &TestSim, params: &[(&str, &str)]) -> (StatusCode, Value) {
    sim.signed(Method::POST, "/api/v3/order", params).await
}

async fn balances(sim: &TestSim) -> (Decimal, Decimal) {
    let (status, account) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let balance = |asset: &str| {
        account["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["asset"] == asset)
            .map_or(Decimal::ZERO, |entry| decimal(&entry["free"]))
    };
    (balance("USDT"), balance("BTC"))
}

fn sum(fills: &Value, field: &str) -> Decimal {
    fills
        .as_array()
        .unwrap()
        .iter()
        .map(|fill| decimal(&fill[field]))
        .sum()
}

fn quote_of(fills: &Value) -> Decimal {
    fills
        .as_array()
        .unwrap()
        .iter()
        .map(|fill| decimal(&fill["price"]) * decimal(&fill["qty"]))
        .sum()
}

#[tokio::test]
async fn a_market_buy_and_sell_move_balances_with_exact_commissions() {
    let sim = TestSim::start().await;
    let (_, ticker) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    let price = decimal(&ticker["price"]);

    let (status, buy) = order(
        &sim,
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "0.01000"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{buy}");
    assert_same_shape(&buy, &fixture("rest-order.FULL.response.json"), &[]);
    assert_eq!(
        (buy["status"].as_str(), buy["executedQty"].as_str()),
        (Some("FILLED"), Some("0.01000000"))
    );
    let fill = &buy["fills"][0];
    let ask = decimal(&fill["price"]);
    assert!(
        ask > price,
        "a taker BUY pays the ask, above the last price {price}"
    );
    assert_eq!(decimal(&fill["commission"]), dec!(0.01) * COMMISSION_RATE);
    assert_eq!(
        fill["commissionAsset"], "BTC",
        "a BUY pays commission in the base asset it receives"
    );
    assert_eq!(decimal(&buy["cummulativeQuoteQty"]), ask * dec!(0.01));
    let (usdt, btc) = balances(&sim).await;
    assert_eq!(usdt, dec!(10000) - ask * dec!(0.01));
    assert_eq!(btc, dec!(0.5) + dec!(0.01) - dec!(0.00001));

    let (status, sell) = order(
        &sim,
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "MARKET"),
            ("quantity", "0.02"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sell}");
    let proceeds = decimal(&sell["cummulativeQuoteQty"]);
    let commission = sum(&sell["fills"], "commission");
    assert_eq!(sell["fills"][0]["commissionAsset"], "USDT");
    assert_eq!(commission, (proceeds * COMMISSION_RATE).round_dp(8));
    assert!(
        decimal(&sell["fills"][0]["price"]) < price,
        "a taker SELL gets the bid"
    );
    let (usdt_after, btc_after) = balances(&sim).await;
    assert_eq!(usdt_after, usdt + proceeds - commission);
    assert_eq!(btc_after, btc - dec!(0.02));

    // The order log is the ground truth and agrees with what the client was told.
    let exchange = sim.exchange().lock();
    let log = exchange.order_log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].cumulative_quote_qty(), proceeds);
    assert_eq!(log[1].total_commission(), commission);
    assert_eq!(log[0].order_id + 1, log[1].order_id);
}

#[tokio::test]
async fn a_large_order_walks_the_book_and_gets_a_real_average_price() {
    let sim = TestSim::start().await;
    let (status, buy) = order(
        &sim,
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "0.16"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{buy}");
    let fills = buy["fills"].as_array().unwrap();
    assert_eq!(
        fills.len(),
        3,
        "0.05 + 0.10 at the first two levels, 0.01 at the third"
    );
    let prices: Vec<Decimal> = fills.iter().map(|fill| decimal(&fill["price"])).collect();
    assert!(
        prices.windows(2).all(|pair| pair[0] < pair[1]),
        "{prices:?}"
    );
    let executed = decimal(&buy["executedQty"]);
    let quote = decimal(&buy["cummulativeQuoteQty"]);
    assert_eq!(executed, sum(&buy["fills"], "qty"));
    assert_eq!(quote, quote_of(&buy["fills"]));
    let average = quote / executed;
    assert!(prices[0] < average && average < prices[2], "{average}");
    let trade_ids: Vec<u64> = fills
        .iter()
        .map(|fill| fill["tradeId"].as_u64().unwrap())
        .collect();
    assert_eq!(trade_ids, [1, 2, 3]);
}

#[tokio::test]
async fn a_quote_order_spends_at_most_its_amount() {
    let sim = TestSim::start().await;
    let (status, buy) = order(
        &sim,
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quoteOrderQty", "100"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{buy}");
    assert_eq!(buy["origQuoteOrderQty"], "100.00000000");
    let spent = decimal(&buy["cummulativeQuoteQty"]);
    assert!(spent <= dec!(100) && spent > dec!(99), "{spent}");
    let (usdt, _) = balances(&sim).await;
    assert_eq!(usdt, dec!(10000) - spent);
}

#[tokio::test]
async fn each_market_filter_rejects_with_binances_code_and_message() {
    let sim = TestSim::start().await;
    let cases: [(&str, &str, &str, i64, &str); 7] = [
        (
            "BUY",
            "quantity",
            "0.000015",
            -1013,
            "Filter failure: LOT_SIZE",
        ),
        (
            "BUY",
            "quantity",
            "6",
            -1013,
            "Filter failure: MARKET_LOT_SIZE",
        ),
        (
            "BUY",
            "quantity",
            "0.00005",
            -1013,
            "Filter failure: NOTIONAL",
        ),
        (
            "BUY",
            "quoteOrderQty",
            "4.99",
            -1013,
            "Filter failure: NOTIONAL",
        ),
        (
            "BUY",
            "quantity",
            "0.123456789",
            -1111,
            "Parameter 'quantity' has too much precision.",
        ),
        (
            "BUY",
            "quantity",
            "0.3",
            -2010,
            "Account has insufficient balance for requested action.",
        ),
        (
            "SELL",
            "quantity",
            "0.6",
            -2010,
            "Account has insufficient balance for requested action.",
        ),
    ];
    for (side, size_name, size, code, msg) in cases {
        let (status, error) = order(
            &sim,
            &[
                ("symbol", "BTCUSDT"),
                ("side", side),
                ("type", "MARKET"),
                (size_name, size),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{side} {size_name}={size}");
        assert_eq!(
            code_and_msg(&error),
            (code, msg),
            "{side} {size_name}={size}"
        );
    }
    assert!(
        sim.exchange().lock().order_log().is_empty(),
        "rejected orders do not execute"
    );
    assert_eq!(balances(&sim).await, (dec!(10000), dec!(0.5)));
}

#[tokio::test]
async fn order_parameters_that_binance_refuses_are_refused() {
    let sim = TestSim::start().await;
    let base = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.001"),
    ];
    let with = |name: &'static str, value: &'static str| {
        let mut params: Vec<(&str, &str)> = base
            .iter()
            .filter(|(key, _)| *key != name)
            .copied()
            .collect();
        params.push((name, value));
        params
    };
    let without = |name: &str| {
        base.iter()
            .filter(|(key, _)| *key != name)
            .copied()
            .collect::<Vec<_>>()
    };
    let cases: Vec<ErrorCase> = vec![
        (with("type", "LIMIT"), -1116, "Invalid orderType."),
        (with("side", "HOLD"), -1117, "Invalid side."),
        (with("symbol", "NOPEUSDT"), -1121, "Invalid symbol."),
        (
            with("timeInForce", "GTC"),
            -1114,
            "TimeInForce parameter sent when not required.",
        ),
        (
            with("price", "60000"),
            -1106,
            "Parameter 'price' sent when not required.",
        ),
        (
            with("quoteOrderQty", "10"),
            -1106,
            "Parameter 'quoteOrderQty' sent when not required.",
        ),
        (
            without("quantity"),
            -1102,
            "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
        ),
        (
            without("side"),
            -1102,
            "Mandatory parameter 'side' was not sent, was empty/null, or malformed.",
        ),
        (
            with("quantity", "1e-3"),
            -1100,
            "Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ),
        (
            with("newClientOrderId", "no spaces"),
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
        ),
        (
            with("newOrderRespType", "MOST"),
            -1130,
            "Data sent for parameter 'newOrderRespType' is not valid.",
        ),
        (
            with("colour", "red"),
            -1104,
            "Not all sent parameters were read; read '6' parameter(s) but was sent '7'.",
        ),
    ];
    for (params, code, msg) in cases {
        let (status, error) = order(&sim, &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}");
        assert_eq!(code_and_msg(&error), (code, msg), "{params:?}");
    }
}

#[tokio::test]
async fn ack_and_result_answers_have_the_fixtures_fields() {
    let sim = TestSim::start().await;
    let base = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.001"),
    ];
    for (response_type, fixture_name) in [
        ("ACK", "rest-order.ACK.response.json"),
        ("RESULT", "rest-order.RESULT.response.json"),
    ] {
        let mut params = base.to_vec();
        params.push(("newOrderRespType", response_type));
        let (status, answer) = order(&sim, &params).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_same_shape(&answer, &fixture(fixture_name), &[]);
    }
}

#[tokio::test]
async fn orders_are_found_by_id_or_client_id_and_duplicate_client_ids_execute_again() {
    let sim = TestSim::start().await;
    let params = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.001"),
        ("newClientOrderId", "bot-7_order-1"),
    ];
    let (_, first) = order(&sim, &params).await;
    assert_eq!(first["clientOrderId"], "bot-7_order-1");
    // Binance only refuses a client id in use by an OPEN order; a MARKET order is never open, so
    // resending it executes a second order. Clients must query before they resend.
    let (status, second) = order(&sim, &params).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(first["orderId"], second["orderId"]);
    assert_eq!(sim.exchange().lock().order_log().len(), 2);

    let (status, by_client_id) = sim
        .signed(
            Method::GET,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("origClientOrderId", "bot-7_order-1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{by_client_id}");
    assert_same_shape(
        &by_client_id,
        &fixture("rest-order-query.response.json"),
        &[],
    );
    assert_eq!(
        by_client_id["orderId"], second["orderId"],
        "the most recent order with that id"
    );
    assert_eq!(by_client_id["executedQty"], second["executedQty"]);
    assert_eq!(
        by_client_id["cummulativeQuoteQty"],
        second["cummulativeQuoteQty"]
    );

    let first_id = first["orderId"].to_string();
    let (_, by_id) = sim
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", &first_id)],
        )
        .await;
    assert_eq!(by_id["clientOrderId"], "bot-7_order-1");
    assert_eq!(by_id["time"], first["transactTime"]);

    let (_, generated) = order(&sim, &params[..4]).await;
    let generated_id = generated["clientOrderId"].as_str().unwrap();
    assert_eq!(generated_id.len(), 22, "{generated_id}");

    let cases: [ErrorCase; 4] = [
        (
            vec![("symbol", "BTCUSDT"), ("orderId", "999")],
            -2013,
            "Order does not exist.",
        ),
        (
            vec![("symbol", "ETHUSDT"), ("orderId", &first_id)],
            -2013,
            "Order does not exist.",
        ),
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("orderId", &first_id),
                ("origClientOrderId", generated_id),
            ],
            -2039,
            "Client order ID is not correct for this order ID.",
        ),
        (
            vec![("symbol", "BTCUSDT")],
            -1102,
            "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
        ),
    ];
    for (params, code, msg) in cases {
        let (status, error) = sim.signed(Method::GET, "/api/v3/order", &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}");
        assert_eq!(code_and_msg(&error), (code, msg), "{params:?}");
    }
}

#[tokio::test]
async fn the_account_has_the_fixtures_fields_and_can_omit_zero_balances() {
    let sim = TestSim::start().await;
    let (status, account) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_same_shape(&account, &fixture("rest-account.response.json"), &[]);
    assert_eq!(account["takerCommission"], 10);
    assert_eq!(account["commissionRates"]["taker"], "0.00100000");

    let (_, sold_out) = order(
        &sim,
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "MARKET"),
            ("quantity", "0.5"),
        ],
    )
    .await;
    assert_eq!(sold_out["status"], "FILLED");
    let (_, omitted) = sim
        .signed(
            Method::GET,
            "/api/v3/account",
            &[("omitZeroBalances", "true")],
        )
        .await;
    let assets: Vec<&str> = omitted["balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["asset"].as_str().unwrap())
        .collect();
    assert_eq!(assets, ["USDT"]);
}

#[tokio::test]
async fn the_matching_engine_rechecks_the_recv_window_just_before_matching() {
    let sim = TestSim::start().await;
    let mut exchange = sim.exchange().lock();
    let order = NewMarketOrder {
        symbol: "BTCUSDT".into(),
        side: market::Side::Buy,
        size: OrderSize::Base(dec!(0.001)),
        client_order_id: None,
    };
    let now = exchange.clock().now_ms();
    let late = exchange
        .place_market_order(&sim.credentials.api_key, order.clone(), now - 1)
        .unwrap_err();
    assert_eq!(
        (late.code, late.msg.as_str()),
        (
            -1021,
            "Timestamp for this request is outside of the recvWindow."
        )
    );
    assert!(
        exchange
            .place_market_order(&sim.credentials.api_key, order, now)
            .is_ok()
    );
}

#[tokio::test]
async fn a_test_order_validates_like_a_real_one_and_moves_nothing() {
    let sim = TestSim::start().await;
    let buy = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.01"),
    ];
    let (status, answer) = sim.signed(Method::POST, "/api/v3/order/test", &buy).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, fixture("rest-order-test.response.json"));

    let mut with_rates = buy.to_vec();
    with_rates.push(("computeCommissionRates", "true"));
    let (status, rates) = sim
        .signed(Method::POST, "/api/v3/order/test", &with_rates)
        .await;
    assert_eq!(status, StatusCode::OK, "{rates}");
    assert_same_shape(
        &rates,
        &fixture("rest-order-test.computeCommissionRates.response.json"),
        &[],
    );
    assert_eq!(
        decimal(&rates["standardCommissionForOrder"]["taker"]),
        COMMISSION_RATE
    );

    // The same refusals as a real order.
    let cases: Vec<ErrorCase> = vec![
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "0.000000001"),
            ],
            -1111,
            "Parameter 'quantity' has too much precision.",
        ),
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "6"),
            ],
            -1013,
            "Filter failure: MARKET_LOT_SIZE",
        ),
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("quantity", "1"),
            ],
            -1116,
            "Invalid orderType.",
        ),
        (
            vec![("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET")],
            -1102,
            "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
        ),
    ];
    for (params, code, msg) in cases {
        let (status, error) = sim
            .signed(Method::POST, "/api/v3/order/test", &params)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            (error["code"].as_i64(), error["msg"].as_str()),
            (Some(code), Some(msg))
        );
    }

    // More than the balance is fine for a test order: the matching engine never sees it.
    let (status, _) = sim
        .signed(
            Method::POST,
            "/api/v3/order/test",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "4"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(sim.exchange().lock().order_log().is_empty());
    assert_eq!(balances(&sim).await, (dec!(10000), dec!(0.5)));
}

#[tokio::test]
async fn my_trades_lists_the_fills_of_the_account() {
    let sim = TestSim::start().await;
    let mut order_ids = Vec::new();
    for qty in ["0.08", "0.001"] {
        let (status, placed) = order(
            &sim,
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", qty),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{placed}");
        order_ids.push(placed["orderId"].to_string());
        sim.clock.advance_ms(1_000);
    }
    let (status, trades) = sim
        .signed(Method::GET, "/api/v3/myTrades", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(status, StatusCode::OK, "{trades}");
    assert_same_shape(&trades, &fixture("rest-myTrades.response.json"), &[]);
    let trades = trades.as_array().unwrap();
    assert_eq!(trades.len(), 3, "0.08 takes two levels of 0.05 and 0.10");
    let log = sim.exchange().lock().order_log().to_vec();
    for (trade, (order, fill)) in trades.iter().zip(
        log.iter()
            .flat_map(|order| order.fills.iter().map(move |fill| (order, fill))),
    ) {
        assert_eq!(trade["id"], fill.trade_id);
        assert_eq!(trade["orderId"], order.order_id);
        assert_eq!(decimal(&trade["qty"]), fill.qty);
        assert_eq!(decimal(&trade["quoteQty"]), fill.price * fill.qty);
        assert_eq!(decimal(&trade["commission"]), fill.commission);
        assert_eq!(trade["time"], order.transact_time_ms);
        assert_eq!(
            (trade["isBuyer"].as_bool(), trade["isMaker"].as_bool()),
            (Some(true), Some(false))
        );
    }

    let (_, first) = sim
        .signed(
            Method::GET,
            "/api/v3/myTrades",
            &[("symbol", "BTCUSDT"), ("orderId", &order_ids[0])],
        )
        .await;
    assert_eq!(first.as_array().unwrap().len(), 2);
    let newest = trades[2]["id"].to_string();
    let (_, from) = sim
        .signed(
            Method::GET,
            "/api/v3/myTrades",
            &[("symbol", "BTCUSDT"), ("fromId", &newest)],
        )
        .await;
    assert_eq!(from.as_array().unwrap().len(), 1);
    let (_, last) = sim
        .signed(
            Method::GET,
            "/api/v3/myTrades",
            &[("symbol", "BTCUSDT"), ("limit", "1")],
        )
        .await;
    assert_eq!(
        last[0]["id"], trades[2]["id"],
        "without a start: the newest"
    );
    let start = (START_MS + 1_000).to_string();
    let (_, since) = sim
        .signed(
            Method::GET,
            "/api/v3/myTrades",
            &[("symbol", "BTCUSDT"), ("startTime", &start)],
        )
        .await;
    assert_eq!(since.as_array().unwrap().len(), 1);

    let day_and_a_ms = (START_MS + 24 * 3_600_000 + 1).to_string();
    let start_ms = START_MS.to_string();
    let errors: Vec<ErrorCase> = vec![
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("orderId", "1"),
                ("startTime", &start_ms),
            ],
            -1128,
            "Combination of optional parameters invalid.",
        ),
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("startTime", &start_ms),
                ("endTime", &day_and_a_ms),
            ],
            -1127,
            "More than 24 hours between startTime and endTime.",
        ),
        (vec![("symbol", "NOPE")], -1121, "Invalid symbol."),
    ];
    for (params, code, msg) in errors {
        let (status, error) = sim.signed(Method::GET, "/api/v3/myTrades", &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            (error["code"].as_i64(), error["msg"].as_str()),
            (Some(code), Some(msg))
        );
    }
}

/// The `orderId`s of an allOrders answer, in the order given.
fn order_ids_of(orders: &Value) -> Vec<u64> {
    orders
        .as_array()
        .unwrap_or_else(|| panic!("{orders} is not an array"))
        .iter()
        .map(|order| order["orderId"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn all_orders_lists_the_orders_of_the_account_as_binance_documents() {
    let sim = TestSim::start().await;
    let mut placed = Vec::new();
    for (index, qty) in ["0.001", "0.002", "0.003"].into_iter().enumerate() {
        let client_order_id = format!("all-orders-{index}");
        let (status, answer) = order(
            &sim,
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", qty),
                ("newClientOrderId", &client_order_id),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        placed.push(answer);
        sim.clock.advance_ms(1_000);
    }
    // Another symbol's order and another account's order are not listed.
    let (status, other_symbol) = order(
        &sim,
        &[
            ("symbol", "ETHUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quoteOrderQty", "20"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{other_symbol}");
    {
        let mut exchange = sim.exchange().lock();
        let other_key = "otherAccountKey0123456789otherAccountKey0123456789otherAccount0";
        exchange.add_account(sim::Account::new(
            sim::Credentials {
                api_key: other_key.into(),
                secret: "otherAccountSecret0123456789otherAccountSecret0123456789other01".into(),
            },
            [("USDT".to_owned(), Decimal::from(1_000))],
            COMMISSION_RATE,
        ));
        let now = exchange.now_ms();
        let foreign = NewMarketOrder {
            symbol: "BTCUSDT".into(),
            side: market::Side::Buy,
            size: OrderSize::Base(dec!(0.001)),
            client_order_id: Some("all-orders-0".into()),
        };
        exchange
            .place_market_order(other_key, foreign, now + 5_000)
            .unwrap();
    }
    let ids: Vec<u64> = placed
        .iter()
        .map(|answer| answer["orderId"].as_u64().unwrap())
        .collect();

    let (status, all) = sim
        .signed(Method::GET, "/api/v3/allOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_same_shape(&all, &fixture("rest-allOrders.response.json"), &[]);
    assert_eq!(
        order_ids_of(&all),
        ids,
        "the account's own orders, oldest first"
    );
    // Each entry is what GET /api/v3/order answers for that order.
    for (listed, answer) in all.as_array().unwrap().iter().zip(&placed) {
        let order_id = answer["orderId"].to_string();
        let (_, queried) = sim
            .signed(
                Method::GET,
                "/api/v3/order",
                &[("symbol", "BTCUSDT"), ("orderId", &order_id)],
            )
            .await;
        assert_eq!(listed, &queried);
        assert_eq!(listed["clientOrderId"], answer["clientOrderId"]);
        assert_eq!(listed["executedQty"], answer["executedQty"]);
        assert_eq!(listed["updateTime"], answer["transactTime"]);
    }

    let second_time = placed[1]["transactTime"].to_string();
    let third_time = placed[2]["transactTime"].to_string();
    let second_id = ids[1].to_string();
    let selections: Vec<Selection> = vec![
        (
            vec![("symbol", "BTCUSDT"), ("limit", "2")],
            ids[1..].to_vec(),
            "without a starting point: the newest",
        ),
        (
            vec![("symbol", "BTCUSDT"), ("orderId", &second_id)],
            ids[1..].to_vec(),
            "from orderId on",
        ),
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("orderId", &second_id),
                ("limit", "1"),
            ],
            ids[1..2].to_vec(),
            "from orderId on: the oldest",
        ),
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("startTime", &second_time),
                ("limit", "1"),
            ],
            ids[1..2].to_vec(),
            "from startTime on: the oldest",
        ),
        (
            vec![("symbol", "BTCUSDT"), ("endTime", &second_time)],
            ids[..2].to_vec(),
            "up to endTime",
        ),
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("startTime", &second_time),
                ("endTime", &second_time),
            ],
            ids[1..2].to_vec(),
            "equal times select that millisecond",
        ),
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("orderId", "1"),
                ("startTime", &third_time),
            ],
            ids[2..].to_vec(),
            "with a time, orderId is ignored",
        ),
    ];
    for (params, expected, what) in selections {
        let (status, selected) = sim.signed(Method::GET, "/api/v3/allOrders", &params).await;
        assert_eq!(status, StatusCode::OK, "{what}: {selected}");
        assert_eq!(order_ids_of(&selected), expected, "{what}");
    }

    let start_ms = START_MS.to_string();
    let day_later = (START_MS + 24 * 3_600_000).to_string();
    let (status, day) = sim
        .signed(
            Method::GET,
            "/api/v3/allOrders",
            &[
                ("symbol", "BTCUSDT"),
                ("startTime", &start_ms),
                ("endTime", &day_later),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "exactly 24 hours is allowed: {day}");
    assert_eq!(order_ids_of(&day), ids);

    let day_and_a_ms = (START_MS + 24 * 3_600_000 + 1).to_string();
    let before_start = (START_MS - 1).to_string();
    let errors: Vec<ErrorCase> = vec![
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("startTime", &start_ms),
                ("endTime", &day_and_a_ms),
            ],
            -1127,
            "More than 24 hours between startTime and endTime.",
        ),
        (
            vec![
                ("symbol", "BTCUSDT"),
                ("startTime", &start_ms),
                ("endTime", &before_start),
            ],
            -1023,
            "Start time is greater than end time.",
        ),
        (
            vec![("symbol", "BTCUSDT"), ("limit", "1001")],
            -1102,
            "'limit' contains unexpected value. Cannot be greater than 1000.",
        ),
        (
            vec![("symbol", "BTCUSDT"), ("limit", "0")],
            -1130,
            "Data sent for parameter 'limit' is not valid.",
        ),
        (
            vec![("symbol", "BTCUSDT"), ("orderId", "-1")],
            -1100,
            "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'.",
        ),
        (
            vec![("limit", "5")],
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        (
            vec![("symbol", "BTCUSDT"), ("fromId", "1")],
            -1104,
            "Not all sent parameters were read; read '3' parameter(s) but was sent '4'.",
        ),
        (vec![("symbol", "NOPE")], -1121, "Invalid symbol."),
    ];
    for (params, code, msg) in errors {
        let (status, error) = sim.signed(Method::GET, "/api/v3/allOrders", &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {error}");
        assert_eq!(code_and_msg(&error), (code, msg), "{params:?}");
    }
}
