//! The account's own state (`GET /api/v3/account`): whether it may trade, its permissions, its
//! balances and its number. [`Client::balances`] reads the same answer as
//! [`Client::account_info`], through the same parser.

use rust_decimal::Decimal;

use crate::client::{ACCOUNT, Client, read};
use crate::error::BinanceError;
use crate::wire::Fields;

/// A free and a locked amount of one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The asset, e.g. `USDT`.
    pub asset: String,
    /// Available.
    pub free: Decimal,
    /// Held by open orders.
    pub locked: Decimal,
}

/// What `GET /api/v3/account` says about the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// Whether the account may place orders (`canTrade`).
    pub can_trade: bool,
    /// The account's permissions as Binance spells them (`SPOT`, ...).
    pub permissions: Vec<String>,
    /// Every asset with a non-zero balance.
    pub balances: Vec<Balance>,
    /// The account's number (`uid`), when the exchange sends it.
    pub uid: Option<u64>,
}

impl Client {
    /// The account's trading permission, permissions, non-zero balances and number (SIGNED
    /// `GET /api/v3/account`, weight 20). Assets with nothing free or locked are left out
    /// (`omitZeroBalances=true`): an asset not listed has a zero balance.
    pub async fn account_info(&self) -> Result<AccountInfo, BinanceError> {
        // A live account lists every asset Binance has, hundreds of them mostly at zero.
        let params = vec![("omitZeroBalances", "true".to_owned())];
        let body = self.call(&ACCOUNT, params).await?;
        read(&ACCOUNT, &body, read_account_info)
    }

    /// The account's non-zero balances: [`account_info`](Self::account_info)'s.
    pub async fn balances(&self) -> Result<Vec<Balance>, BinanceError> {
        Ok(self.account_info().await?.balances)
    }
}

/// Reads an account answer.
fn read_account_info(fields: &Fields<'_>) -> Result<AccountInfo, String> {
    let balances = fields
        .array("balances")?
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let balance = Fields::new(entry, format!("balances[{index}]"))?;
            Ok(Balance {
                asset: balance.str("asset")?.to_owned(),
                free: balance.decimal("free")?,
                locked: balance.decimal("locked")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(AccountInfo {
        can_trade: fields.bool("canTrade")?,
        permissions: fields.strings("permissions")?,
        balances,
        uid: fields.optional_u64("uid")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_account_answer_is_read_and_missing_or_mistyped_fields_are_named() {
        let answer = json!({
            "canTrade": true, "permissions": ["SPOT"], "uid": 354937868,
            "balances": [{"asset": "USDT", "free": "12.50000000", "locked": "0.00000000"}]
        });
        let info = read_account_info(&Fields::new(&answer, "").unwrap()).unwrap();
        assert_eq!(
            info,
            AccountInfo {
                can_trade: true,
                permissions: vec!["SPOT".to_owned()],
                balances: vec![Balance {
                    asset: "USDT".to_owned(),
                    free: Decimal::new(125, 1),
                    locked: Decimal::ZERO,
                }],
                uid: Some(354_937_868),
            }
        );
        let cases = [
            ("canTrade", json!("yes"), "canTrade: expected true or false"),
            (
                "permissions",
                json!("SPOT"),
                "permissions: expected an array",
            ),
            (
                "uid",
                json!("354937868"),
                "uid: expected a non-negative integer",
            ),
            (
                "balances",
                json!([{"asset": "BTC", "free": 1, "locked": "0"}]),
                "balances[0].free: expected a string",
            ),
        ];
        for (field, bad, expected) in cases {
            let mut broken = answer.clone();
            broken[field] = bad;
            let error = read_account_info(&Fields::new(&broken, "").unwrap()).unwrap_err();
            assert!(error.starts_with(expected), "{error}");
        }
        let mut without_trade_flag = answer.clone();
        without_trade_flag
            .as_object_mut()
            .unwrap()
            .remove("canTrade");
        assert_eq!(
            read_account_info(&Fields::new(&without_trade_flag, "").unwrap()).unwrap_err(),
            "canTrade: missing"
        );
    }
}
