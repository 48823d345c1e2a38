//! Values changed behind the store's back are reported as corrupt, naming table, column and row,
//! never a panic.

use market::Side;
use store::{Store, StoreError, TradeFilter};

use crate::common::{bot, new_order, traded, user};

/// Runs `sql` (one `$1` placeholder, bound to `id`) against the database directly.
async fn tamper(store: &Store, sql: &str, id: i64) {
    let done = sqlx::query(sql)
        .bind(id)
        .execute(store.raw_pool())
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

/// Asserts `result` is `Corrupt` about `table`.`column` of row `row_id`.
fn assert_corrupt<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    table: &str,
    column: &str,
    row_id: i64,
) {
    match result {
        Err(StoreError::Corrupt {
            table: t,
            column: c,
            row_id: r,
            detail,
        }) if t == table && c == column && r == row_id.to_string() => {
            let shown = StoreError::Corrupt {
                table: t,
                column: c,
                row_id: r,
                detail,
            }
            .to_string();
            assert!(
                shown.starts_with(&format!(
                    "corrupt data in {table}.{column} (row {row_id}): "
                )),
                "{shown}"
            );
        }
        other => panic!("expected corrupt {table}.{column} of row {row_id}, got {other:?}"),
    }
}

store::backend_tests! {
    async fn garbage_in_a_decimal_column_is_corrupt(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        tamper(
            &store,
            "UPDATE bot_configs SET quote_per_buy = 'twelve' WHERE id = $1",
            one.id.0,
        )
        .await;
        assert_corrupt(
            store.bot(one.id).await,
            "bot_configs",
            "quote_per_buy",
            one.id.0,
        );
        assert_corrupt(
            store.bots(None).await,
            "bot_configs",
            "quote_per_buy",
            one.id.0,
        );
        assert_corrupt(
            store.runnable_bots().await,
            "bot_configs",
            "quote_per_buy",
            one.id.0,
        );
        if let Err(StoreError::Corrupt { detail, .. }) = store.bot(one.id).await {
            assert!(detail.contains("\"twelve\" is not a decimal"), "{detail}");
        }

        let trade = traded(&store, &one, "sb-1", 1, Side::Sell, 1_000).await;
        tamper(
            &store,
            "UPDATE trades SET price = '1.2.3' WHERE id = $1",
            trade.id.0,
        )
        .await;
        assert_corrupt(
            store.trades(&TradeFilter::default()).await,
            "trades",
            "price",
            trade.id.0,
        );
        tamper(
            &store,
            "UPDATE trades SET price = '1', realized_pnl = '' WHERE id = $1",
            trade.id.0,
        )
        .await;
        assert_corrupt(
            store.trades(&TradeFilter::default()).await,
            "trades",
            "realized_pnl",
            trade.id.0,
        );
        // More digits than a Decimal holds: corrupt, not silently rounded.
        tamper(
            &store,
            "UPDATE positions SET cost_quote = '1.00000000000000000000000000001' WHERE bot_id = $1",
            one.id.0,
        )
        .await;
        assert_corrupt(
            store.position(one.id).await,
            "positions",
            "cost_quote",
            one.id.0,
        );
        assert_corrupt(
            store.positions(None).await,
            "positions",
            "cost_quote",
            one.id.0,
        );
    }

    async fn unknown_spellings_and_booleans_are_corrupt(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        tamper(
            &store,
            "UPDATE bot_configs SET is_active = 2 WHERE id = $1",
            one.id.0,
        )
        .await;
        assert_corrupt(
            store.bot(one.id).await,
            "bot_configs",
            "is_active",
            one.id.0,
        );
        tamper(
            &store,
            "UPDATE bot_configs SET is_active = 1, status = 'sleeping' WHERE id = $1",
            one.id.0,
        )
        .await;
        assert_corrupt(store.bot(one.id).await, "bot_configs", "status", one.id.0);
        tamper(
            &store,
            "UPDATE bot_configs SET status = 'idle', mode = 'LIVE' WHERE id = $1",
            one.id.0,
        )
        .await;
        assert_corrupt(store.bot(one.id).await, "bot_configs", "mode", one.id.0);

        tamper(
            &store,
            "UPDATE users SET role = 'root' WHERE id = $1",
            alice.id.0,
        )
        .await;
        assert_corrupt(store.user(alice.id).await, "users", "role", alice.id.0);
        assert_corrupt(store.users().await, "users", "role", alice.id.0);

        tamper(
            &store,
            "UPDATE bot_configs SET mode = 'live' WHERE id = $1",
            one.id.0,
        )
        .await;
        let order = store
            .insert_pending_order(&new_order(&one, "sb-1", Side::Buy), 1)
            .await
            .unwrap();
        tamper(
            &store,
            "UPDATE orders SET side = 'buy' WHERE id = $1",
            order.id,
        )
        .await;
        assert_corrupt(store.order("sb-1").await, "orders", "side", order.id);
        tamper(
            &store,
            "UPDATE orders SET side = 'BUY', status = 'lost' WHERE id = $1",
            order.id,
        )
        .await;
        assert_corrupt(store.orders(one.id).await, "orders", "status", order.id);
        tamper(
            &store,
            "UPDATE orders SET status = 'pending', requested_quantity = 'NaN' WHERE id = $1",
            order.id,
        )
        .await;
        assert_corrupt(
            store.unresolved_orders(None).await,
            "orders",
            "requested_quantity",
            order.id,
        );
    }
}
