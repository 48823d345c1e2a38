//! The symbols the simulator lists: a [`ListingSpec`] says what a symbol is (assets, filters,
//! price walk, book shape); it becomes the `exchangeInfo` entry clients read, and the
//! [`SymbolRules`] the exchange enforces are parsed back from that same JSON by
//! `market::SymbolRules::from_symbol_json`, so what is published and what is enforced cannot drift
//! apart.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use market::{RulesError, SymbolRules, SymbolStatus};

use crate::walk::WalkParams;
use crate::wire::decimal8;
use sim_book::BookShape;

/// The decimals every Binance spot asset is published with.
const ASSET_PRECISION: u32 = 8;

/// What one listed symbol is.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingSpec {
    /// The symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// The base asset, e.g. `BTC`.
    pub base_asset: String,
    /// The quote asset, e.g. `USDT`.
    pub quote_asset: String,
    /// PRICE_FILTER `tickSize`; also the grid the walk's prices are rounded to.
    pub tick_size: Decimal,
    /// LOT_SIZE `stepSize` (and `minQty`).
    pub step_size: Decimal,
    /// LOT_SIZE `maxQty`.
    pub max_qty: Decimal,
    /// MARKET_LOT_SIZE `maxQty` (its `minQty` and `stepSize` are 0, as on the live exchange).
    pub market_max_qty: Decimal,
    /// NOTIONAL `minNotional`, applied to MARKET orders.
    pub min_notional: Decimal,
    /// How the price moves.
    pub walk: WalkParams,
    /// The synthetic book around the price.
    pub book: BookShape,
}

impl ListingSpec {
    /// BTCUSDT with the live exchange's filter values (tick 0.01, step 0.00001, NOTIONAL min 5)
    /// and a price starting at 60,000.
    pub fn btcusdt() -> ListingSpec {
        ListingSpec {
            symbol: "BTCUSDT".into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            tick_size: dec!(0.01),
            step_size: dec!(0.00001),
            max_qty: dec!(9000),
            market_max_qty: dec!(5),
            min_notional: dec!(5),
            walk: WalkParams {
                start_price: 60_000.0,
                volatility_per_second: 0.0001,
                mean_volume_units_per_second: 5_000,
            },
            book: BookShape::standard(dec!(0.05)),
        }
    }

    /// ETHUSDT (tick 0.01, step 0.0001, NOTIONAL min 5) with a price starting at 3,000.
    pub fn ethusdt() -> ListingSpec {
        ListingSpec {
            symbol: "ETHUSDT".into(),
            base_asset: "ETH".into(),
            quote_asset: "USDT".into(),
            tick_size: dec!(0.01),
            step_size: dec!(0.0001),
            max_qty: dec!(9000),
            market_max_qty: dec!(100),
            min_notional: dec!(5),
            walk: WalkParams {
                start_price: 3_000.0,
                volatility_per_second: 0.00012,
                mean_volume_units_per_second: 10_000,
            },
            book: BookShape::standard(dec!(1)),
        }
    }

    /// BNBUSDT (tick 0.01, step 0.001, NOTIONAL min 5) with a price starting at 600: the price
    /// commissions paid in BNB are converted at.
    pub fn bnbusdt() -> ListingSpec {
        ListingSpec {
            symbol: "BNBUSDT".into(),
            base_asset: "BNB".into(),
            quote_asset: "USDT".into(),
            tick_size: dec!(0.01),
            step_size: dec!(0.001),
            max_qty: dec!(9000),
            market_max_qty: dec!(1000),
            min_notional: dec!(5),
            walk: WalkParams {
                start_price: 600.0,
                volatility_per_second: 0.00012,
                mean_volume_units_per_second: 10_000,
            },
            book: BookShape::standard(dec!(5)),
        }
    }

    /// The symbol's entry in `exchangeInfo.symbols`, shaped like the live exchange's. Only MARKET
    /// orders are listed because they are all the simulator executes. Filters other than the
    /// MARKET-order ones are published for realism and not enforced: they constrain order kinds
    /// the simulator does not take.
    pub fn exchange_info_entry(&self) -> Value {
        json!({
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base_asset,
            "baseAssetPrecision": ASSET_PRECISION,
            "quoteAsset": self.quote_asset,
            "quotePrecision": ASSET_PRECISION,
            "quoteAssetPrecision": ASSET_PRECISION,
            "baseCommissionPrecision": ASSET_PRECISION,
            "quoteCommissionPrecision": ASSET_PRECISION,
            "orderTypes": ["MARKET"],
            "icebergAllowed": false,
            "ocoAllowed": false,
            "otoAllowed": false,
            "opoAllowed": false,
            "quoteOrderQtyMarketAllowed": true,
            "allowTrailingStop": false,
            "cancelReplaceAllowed": false,
            "amendAllowed": false,
            "pegInstructionsAllowed": false,
            "isSpotTradingAllowed": true,
            "isMarginTradingAllowed": false,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": decimal8(self.tick_size),
                    "maxPrice": "1000000.00000000",
                    "tickSize": decimal8(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": decimal8(self.step_size),
                    "maxQty": decimal8(self.max_qty),
                    "stepSize": decimal8(self.step_size),
                },
                {"filterType": "ICEBERG_PARTS", "limit": 100},
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.00000000",
                    "maxQty": decimal8(self.market_max_qty),
                    "stepSize": "0.00000000",
                },
                {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10,
                 "maxTrailingAboveDelta": 2000, "minTrailingBelowDelta": 10,
                 "maxTrailingBelowDelta": 2000},
                {
                    "filterType": "PERCENT_PRICE_BY_SIDE",
                    "bidMultiplierUp": "5",
                    "bidMultiplierDown": "0.2",
                    "askMultiplierUp": "5",
                    "askMultiplierDown": "0.2",
                    "avgPriceMins": 5,
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": decimal8(self.min_notional),
                    "applyMinToMarket": true,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": false,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
        })
    }

    /// The published entry and the rules read back from it.
    pub fn into_listing(self) -> Result<Listing, RulesError> {
        let exchange_info_entry = self.exchange_info_entry();
        let rules = SymbolRules::from_symbol_json(&exchange_info_entry)?;
        Ok(Listing {
            spec: self,
            rules,
            exchange_info_entry,
        })
    }
}

/// A listed symbol: its spec, its `exchangeInfo` entry and the rules enforced on its orders.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// What the symbol was made from.
    pub spec: ListingSpec,
    /// The rules parsed from [`exchange_info_entry`](Self::exchange_info_entry).
    pub rules: SymbolRules,
    /// The JSON published in `exchangeInfo.symbols`.
    pub exchange_info_entry: Value,
}

impl Listing {
    /// Switches the symbol to `status`, in the published entry and in the enforced rules alike.
    pub fn set_status(&mut self, status: SymbolStatus) {
        self.exchange_info_entry["status"] = Value::from(status.as_str());
        self.rules.status = status;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_symbols_publish_rules_the_market_crate_reads() {
        let btc = ListingSpec::btcusdt().into_listing().unwrap();
        assert_eq!(btc.rules.lot_size.unwrap().step_size.get(), dec!(0.00001));
        assert_eq!(btc.rules.market_lot_size.unwrap().max_qty.get(), dec!(5));
        let notional = btc.rules.notional.unwrap();
        assert!(notional.apply_min_to_market);
        assert_eq!(notional.min_notional, dec!(5));
        assert_eq!(btc.rules.price_filter.unwrap().tick_size.get(), dec!(0.01));
        assert!(ListingSpec::ethusdt().into_listing().is_ok());
        assert!(ListingSpec::bnbusdt().into_listing().is_ok());
    }
}
