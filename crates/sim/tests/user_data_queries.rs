//! The USER_DATA queries added for other Binance clients, over loopback HTTP:
//! `GET /api/v3/openOrders` (always empty: MARKET orders never rest on the book) and
//! `GET /api/v3/account/commission`, against Binance's doc examples, with their parameters,
//! errors and weights; and times sent in microseconds to the history queries.

mod common;

use common::{
    START_MS, TestSim, assert_same_shape, code_and_msg, fixture, header_number, test_config,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use sim::ListingSpec;

const WEIGHT: &str = "X-MBX-USED-WEIGHT-1M";

fn market_buy(symbol: &str) -> [(&str, &str); 4] {
    [
        ("symbol", symbol),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.001"),
    ]
}

/// A signed GET's status, weight (the change of the used-weight header) and body.
async fn signed_get(
    sim: &TestSim,
    path: &str,
    params: &[(&str, &str)],
) -> (StatusCode, u64, Value) {
    let (_, before, _) = sim.get_with_headers("/api/v3/ping", "").await;
    let (status, after, body) = sim.signed_with_headers(Method::GET, path, params).await;
    let weight = header_number(&after, WEIGHT) - header_number(&before, WEIGHT);
    (status, weight, body)
}

#[tokio::test]
async fn open_orders_are_always_none_with_binances_parameters_weights_and_errors() {
    let sim = TestSim::start().await;
    let (status, weight, open) =
        signed_get(&sim, "/api/v3/openOrders", &[("symbol", "BTCUSDT")]).await;
    assert_eq!((status, weight, &open), (StatusCode::OK, 6, &json!([])));
    let (status, weight, open) = signed_get(&sim, "/api/v3/openOrders", &[]).await;
    assert_eq!(
        (status, weight, &open),
        (StatusCode::OK, 80, &json!([])),
        "all symbols weigh 80"
    );

    // A MARKET order fills (or expires) at once: it is in allOrders, never open.
    let (status, order) = sim
        .signed(Method::POST, "/api/v3/order", &market_buy("BTCUSDT"))
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let (_, _, open) = signed_get(&sim, "/api/v3/openOrders", &[("symbol", "BTCUSDT")]).await;
    assert_eq!(open, json!([]));
    let (_, all) = sim
        .signed(Method::GET, "/api/v3/allOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(all[0]["status"], "FILLED");
    // An open order would be listed as allOrders lists orders: the docs give both one shape.
    assert_same_shape(&all, &fixture("rest-openOrders.response.json"), &[]);

    let (status, weight, error) =
        signed_get(&sim, "/api/v3/openOrders", &[("symbol", "NOPEUSDT")]).await;
    assert_eq!((status, weight), (StatusCode::BAD_REQUEST, 6));
    assert_eq!(code_and_msg(&error), (-1121, "Invalid symbol."));
    let (_, _, error) = signed_get(
        &sim,
        "/api/v3/openOrders",
        &[("symbol", "BTCUSDT"), ("orderId", "1")],
    )
    .await;
    assert_eq!(
        code_and_msg(&error).0,
        -1104,
        "a parameter it does not take"
    );
    let (status, error) = sim
        .send(
            Method::GET,
            "/api/v3/openOrders",
            "symbol=BTCUSDT",
            "",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code_and_msg(&error).0, -2014, "USER_DATA needs a key");
}

#[tokio::test]
async fn account_commission_shows_the_accounts_rates_and_bnb_discount() {
    // ETHBTC's quote has no BNB pair: its commissions cannot be taken in BNB.
    let mut ethbtc = ListingSpec::ethusdt();
    ethbtc.symbol = "ETHBTC".into();
    ethbtc.quote_asset = "BTC".into();
    let mut config = test_config();
    config.listings.push(ethbtc);
    let sim = TestSim::start_with(config).await;

    let (status, weight, rates) =
        signed_get(&sim, "/api/v3/account/commission", &[("symbol", "BTCUSDT")]).await;
    assert_eq!((status, weight), (StatusCode::OK, 20), "{rates}");
    assert_same_shape(
        &rates,
        &fixture("rest-account-commission.response.json"),
        &[],
    );
    let zeros = json!({"maker": "0.00000000", "taker": "0.00000000",
                       "buyer": "0.00000000", "seller": "0.00000000"});
    assert_eq!(
        rates,
        json!({
            "symbol": "BTCUSDT",
            "standardCommission": {"maker": "0.00100000", "taker": "0.00100000",
                                   "buyer": "0.00000000", "seller": "0.00000000"},
            "specialCommission": zeros,
            "taxCommission": zeros,
            "discount": {"enabledForAccount": false, "enabledForSymbol": true,
                         "discountAsset": "BNB", "discount": "0.25000000"},
        })
    );
    // The same rate as the account shows.
    let (_, account) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(
        account["commissionRates"]["taker"],
        rates["standardCommission"]["taker"]
    );

    let key = sim.credentials.api_key.clone();
    let (status, _) = sim
        .admin(
            Method::PUT,
            &format!("/accounts/{key}/commission_in_bnb"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, rates) =
        signed_get(&sim, "/api/v3/account/commission", &[("symbol", "BTCUSDT")]).await;
    assert_eq!(rates["discount"]["enabledForAccount"], true);
    let (_, _, rates) =
        signed_get(&sim, "/api/v3/account/commission", &[("symbol", "ETHBTC")]).await;
    assert_eq!(rates["discount"]["enabledForSymbol"], false);
    // The test order's commission rates say the same.
    let (_, test) = sim
        .signed(
            Method::POST,
            "/api/v3/order/test",
            &[
                ("symbol", "ETHBTC"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "0.01"),
                ("computeCommissionRates", "true"),
            ],
        )
        .await;
    assert_eq!(test["discount"], rates["discount"]);

    let (status, _, error) = signed_get(&sim, "/api/v3/account/commission", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        code_and_msg(&error),
        (
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    );
    let (_, _, error) = signed_get(
        &sim,
        "/api/v3/account/commission",
        &[("symbol", "NOPEUSDT")],
    )
    .await;
    assert_eq!(code_and_msg(&error), (-1121, "Invalid symbol."));
}

#[tokio::test]
async fn history_queries_take_times_in_microseconds_too() {
    let sim = TestSim::start().await;
    let mut times = Vec::new();
    for _ in 0..2 {
        let (status, order) = sim
            .signed(Method::POST, "/api/v3/order", &market_buy("BTCUSDT"))
            .await;
        assert_eq!(status, StatusCode::OK, "{order}");
        times.push(order["transactTime"].as_i64().unwrap());
        sim.clock.advance_ms(1_000);
    }
    assert_eq!(times[0], START_MS);
    let micros = |ms: i64| (ms * 1_000).to_string();

    let (_, from_second) = sim
        .signed(
            Method::GET,
            "/api/v3/allOrders",
            &[("symbol", "BTCUSDT"), ("startTime", &micros(times[1]))],
        )
        .await;
    assert_eq!(from_second.as_array().unwrap().len(), 1, "{from_second}");
    assert_eq!(from_second[0]["time"], times[1]);

    let (_, until_first) = sim
        .signed(
            Method::GET,
            "/api/v3/myTrades",
            &[
                ("symbol", "BTCUSDT"),
                ("endTime", &(times[0] * 1_000 + 999).to_string()),
            ],
        )
        .await;
    let trades = until_first.as_array().unwrap();
    assert!(!trades.is_empty());
    assert!(
        trades.iter().all(|trade| trade["time"] == times[0]),
        "{until_first}"
    );

    let start_ms = START_MS - 10 * 60_000;
    let (_, in_ms) = sim
        .get(
            "/api/v3/klines",
            &format!("symbol=BTCUSDT&interval=1m&limit=3&startTime={start_ms}"),
        )
        .await;
    let (_, in_us) = sim
        .get(
            "/api/v3/klines",
            &format!(
                "symbol=BTCUSDT&interval=1m&limit=3&startTime={}",
                micros(start_ms)
            ),
        )
        .await;
    assert_eq!(in_us, in_ms);
    assert_eq!(in_ms.as_array().unwrap().len(), 3);
}
