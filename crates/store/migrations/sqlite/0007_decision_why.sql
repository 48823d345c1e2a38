-- Why each decision was taken, SQLite dialect (migrations/postgres/0007_decision_why.sql is the
-- same): the engine's record of what its strategy read at the candle, its rule, the bot's
-- position, the signal, the price and each sizing step, as JSON text. `orders.decision` is
-- written with the write-ahead row, before the order is sent; `events.detail` with the
-- decision's event (a hold, a skip, or the trade, which takes its order's). NULL on incidents and
-- on rows written before these columns existed.
ALTER TABLE orders ADD COLUMN decision TEXT;
ALTER TABLE events ADD COLUMN detail TEXT;
