//! `spotbot perf`: how bots have done, from their trades in the database, computed by
//! [`store::Store::performance`] exactly as `GET /api/v1/performance` computes it: realised PnL, fees,
//! win rate, trade counts and the max drawdown of realised equity, one row per bot and, over
//! several bots, a total. Amounts are in each bot's quote asset, so the total only adds up when
//! the bots share one.

use clap::Args;
use rust_decimal::Decimal;
use store::{Performance, TradeFilter};

use crate::Failure;
use crate::commands::listing::{BotScope, DatabaseArgs, block_on, print_table, runtime};

/// Options of `spotbot perf`.
#[derive(Debug, Args)]
pub struct PerfArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    scope: BotScope,
}

/// Prints the performance of the chosen bots.
pub fn run(args: PerfArgs) -> Result<(), Failure> {
    block_on(async move {
        let store = args.database.open().await?;
        let loaded = async {
            let (user, bot) = args.scope.resolve(&store).await?;
            let bots = match &bot {
                Some(bot) => vec![bot.clone()],
                None => store.bots(user).await.map_err(runtime)?,
            };
            let filter = TradeFilter {
                user,
                bot: bot.map(|bot| bot.id),
                ..TradeFilter::default()
            };
            let performance = store.performance(&filter).await.map_err(runtime)?;
            Ok::<_, Failure>((bots, performance))
        }
        .await;
        store.close().await;
        let (bots, mut performance) = loaded?;
        let mut rows = vec![
            [
                "bot",
                "user",
                "name",
                "symbol",
                "trades",
                "buys",
                "sells",
                "win rate",
                "realised PnL",
                "fees (quote)",
                "fees (other)",
                "max drawdown",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for bot in &bots {
            let of_bot = performance.per_bot.remove(&bot.id).unwrap_or_default();
            rows.push(row(
                [
                    bot.id.to_string(),
                    bot.user_id.to_string(),
                    bot.name.clone(),
                    bot.symbol.clone(),
                ],
                &of_bot,
            ));
        }
        if bots.len() > 1 {
            rows.push(row(
                [
                    "total".to_owned(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
                &performance.total,
            ));
        }
        print_table(&rows)
    })
}

/// One table row: `label` then `performance`'s figures.
fn row(label: [String; 4], performance: &Performance) -> Vec<String> {
    let amount = |value: Decimal| value.round_dp(8).normalize().to_string();
    let win_rate = performance
        .win_rate
        .map(|rate| format!("{}%", (rate * Decimal::ONE_HUNDRED).normalize()))
        .unwrap_or_else(|| "-".to_owned());
    let fees_other = performance
        .fees_other
        .iter()
        .map(|(asset, total)| format!("{total} {asset}"))
        .collect::<Vec<_>>()
        .join(" + ");
    let mut drawdown = amount(performance.max_drawdown);
    if let Some(share) = performance.max_drawdown_share {
        drawdown.push_str(&format!(
            " ({}%)",
            (share * Decimal::ONE_HUNDRED).normalize()
        ));
    }
    let mut row = label.to_vec();
    row.extend([
        performance.trades().to_string(),
        performance.buys.to_string(),
        performance.sells.to_string(),
        win_rate,
        amount(performance.realized_pnl),
        amount(performance.fees_quote),
        fees_other,
        drawdown,
    ]);
    row
}
