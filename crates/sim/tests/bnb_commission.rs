//! Commissions paid in BNB over loopback HTTP: switched on by the admin API, charged at the
//! BNBUSDT price less the configurable discount (checked exactly in `Decimal`), and charged in the
//! received asset instead when the account does not hold enough BNB.

mod common;

use common::{TestSim, decimal, test_config};
use reqwest::{Method, StatusCode};
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use sim::{ConfigError, Exchange, ExchangeConfig, ManualClock};

const RATE: Decimal = dec!(0.001);

/// Funds the test account with `bnb` BNB and switches BNB commissions on.
async fn pay_in_bnb(sim: &TestSim, bnb: &str) {
    let key = sim.credentials.api_key.clone();
    if bnb != "0" {
        let (status, body) = sim
            .admin(
                Method::POST,
                &format!("/accounts/{key}/balances"),
                Some(json!({"asset": "BNB", "amount": bnb})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = sim
        .admin(
            Method::PUT,
            &format!("/accounts/{key}/commission_in_bnb"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["commission_in_bnb"], true);
}

fn balance(sim: &TestSim, asset: &str) -> Decimal {
    sim.exchange()
        .lock()
        .account(&sim.credentials.api_key)
        .unwrap()
        .balance(asset)
}

/// The expected BNB commission of one fill.
fn expected_bnb(fill: &Value, discount: Decimal, bnb_price: Decimal) -> Decimal {
    let value = decimal(&fill["price"]) * decimal(&fill["qty"]);
    (value * RATE * (Decimal::ONE - discount) / bnb_price)
        .round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero)
}

async fn market(sim: &TestSim, side: &str, quantity: &str) -> Value {
    let (status, body) = sim
        .signed(
            Method::POST,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", side),
                ("type", "MARKET"),
                ("quantity", quantity),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn commissions_are_paid_in_bnb_at_the_discounted_rate() {
    let sim = TestSim::start().await;
    pay_in_bnb(&sim, "1").await;
    let bnb_price = sim.exchange().lock().last_price("BNBUSDT").unwrap();
    let (usdt, btc) = (balance(&sim, "USDT"), balance(&sim, "BTC"));

    // 0.12 BTC walks several levels of the book: one commission per fill.
    let buy = market(&sim, "BUY", "0.12").await;
    let fills = buy["fills"].as_array().unwrap();
    assert!(fills.len() > 1, "{buy}");
    let mut charged = Decimal::ZERO;
    for fill in fills {
        assert_eq!(fill["commissionAsset"], "BNB");
        let expected = expected_bnb(fill, dec!(0.25), bnb_price);
        assert_eq!(decimal(&fill["commission"]), expected, "{fill}");
        charged += expected;
    }
    // The whole quantity bought arrives; the commission comes out of the BNB.
    assert_eq!(balance(&sim, "BTC"), btc + dec!(0.12));
    assert_eq!(
        balance(&sim, "USDT"),
        usdt - decimal(&buy["cummulativeQuoteQty"])
    );
    assert_eq!(balance(&sim, "BNB"), dec!(1) - charged);

    // A SELL pays in BNB too, on the quote value of each fill.
    let sell = market(&sim, "SELL", "0.01").await;
    let fill = &sell["fills"][0];
    assert_eq!(fill["commissionAsset"], "BNB");
    assert_eq!(
        decimal(&fill["commission"]),
        expected_bnb(fill, dec!(0.25), bnb_price)
    );
    assert_eq!(
        balance(&sim, "USDT"),
        usdt - decimal(&buy["cummulativeQuoteQty"]) + decimal(&sell["cummulativeQuoteQty"])
    );

    // The order log (the ground truth) and the test order's commission rates agree.
    let log = sim.exchange().lock().order_log().to_vec();
    assert_eq!(log[0].fills[0].commission_asset, "BNB");
    let (status, rates) = sim
        .signed(
            Method::POST,
            "/api/v3/order/test",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "0.01"),
                ("computeCommissionRates", "true"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rates}");
    assert_eq!(rates["discount"]["enabledForAccount"], true);
    assert_eq!(rates["discount"]["discount"], "0.25000000");
}

#[tokio::test]
async fn without_enough_bnb_the_commission_is_taken_from_what_is_received() {
    let sim = TestSim::start().await;
    pay_in_bnb(&sim, "0.00000001").await;
    let btc = balance(&sim, "BTC");
    let buy = market(&sim, "BUY", "0.01").await;
    let fill = &buy["fills"][0];
    assert_eq!(fill["commissionAsset"], "BTC");
    assert_eq!(decimal(&fill["commission"]), dec!(0.00001));
    assert_eq!(balance(&sim, "BTC"), btc + dec!(0.01) - dec!(0.00001));
    assert_eq!(balance(&sim, "BNB"), dec!(0.00000001));
}

#[tokio::test]
async fn the_discount_is_configurable_and_checked() {
    let sim = TestSim::start_with(ExchangeConfig {
        bnb_discount: dec!(0.1),
        ..test_config()
    })
    .await;
    pay_in_bnb(&sim, "1").await;
    let bnb_price = sim.exchange().lock().last_price("BNBUSDT").unwrap();
    let buy = market(&sim, "BUY", "0.01").await;
    let fill = &buy["fills"][0];
    assert_eq!(
        decimal(&fill["commission"]),
        expected_bnb(fill, dec!(0.1), bnb_price)
    );

    let clock = std::sync::Arc::new(ManualClock::new(common::START_MS));
    let refused = Exchange::new(
        ExchangeConfig {
            bnb_discount: dec!(1.5),
            ..test_config()
        },
        clock,
    );
    assert!(matches!(refused, Err(ConfigError::InvalidBnbDiscount(_))));
}

#[tokio::test]
async fn accounts_created_by_the_admin_api_can_pay_in_bnb() {
    let sim = TestSim::start().await;
    let (status, created) = sim
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"balances": {"BNB": "3"}, "commission_in_bnb": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let key = created["api_key"].as_str().unwrap();
    assert!(
        sim.exchange()
            .lock()
            .account(key)
            .unwrap()
            .commission_in_bnb
    );
    let (status, _) = sim
        .admin(
            Method::PUT,
            "/accounts/nosuchkey/commission_in_bnb",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
