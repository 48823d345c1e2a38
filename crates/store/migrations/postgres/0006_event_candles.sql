-- The candle a decision was about, PostgreSQL dialect (migrations/sqlite/0006_event_candles.sql is
-- the same): set on the events of a cycle's decision (hold, skip, trade) to the open time of the
-- candle whose close it answered, so that a chart can place each decision on its candle; NULL on
-- incidents (errors, pauses, resets, reconciliations), which belong to no candle. Rows written
-- before this column existed keep NULL.
ALTER TABLE events ADD COLUMN candle_open_ms BIGINT;
CREATE INDEX events_bot_candle ON events (bot_id, candle_open_ms);
