-- spotbot's schema, PostgreSQL dialect. migrations/sqlite/0001_initial_schema.sql describes the same
-- tables and columns (a test compares them); the only differences are the auto-increment ids and
-- BYTEA for BLOB.
--
-- Conventions shared by both dialects, so one set of queries (sqlx's Any driver) serves both:
-- money and quantities are TEXT holding a canonical rust_decimal string, never a float; times are
-- BIGINT milliseconds since the epoch (UTC); booleans are BIGINT 0/1 (the Any driver cannot decode
-- SQLite's BOOLEAN columns); enums are their lower-case TEXT spelling.

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    role TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- One row per user; secret_ciphertext is encrypted by the caller, never plaintext.
CREATE TABLE exchange_credentials (
    user_id BIGINT NOT NULL PRIMARY KEY REFERENCES users (id),
    api_key TEXT NOT NULL,
    secret_ciphertext BYTEA NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- The lease_* columns are the guard that a bot never runs twice at once: a worker owns the bot
-- while lease_owner is set and lease_expires_at_ms is in the future; lease_token only grows (a
-- fencing token).
CREATE TABLE bot_configs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    symbol TEXT NOT NULL,
    candle_interval TEXT NOT NULL,
    strategy TEXT NOT NULL,
    strategy_params TEXT NOT NULL,
    quote_per_buy TEXT NOT NULL,
    mode TEXT NOT NULL,
    is_active BIGINT NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_token BIGINT NOT NULL DEFAULT 0,
    lease_expires_at_ms BIGINT NOT NULL DEFAULT 0,
    UNIQUE (user_id, name)
);

-- Write-ahead rows: committed before the order is sent.
CREATE TABLE orders (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_order_id TEXT NOT NULL UNIQUE,
    bot_id BIGINT NOT NULL REFERENCES bot_configs (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    requested_quantity TEXT NOT NULL,
    signal_candle_open_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    exchange_order_id BIGINT,
    error TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX orders_bot_id ON orders (bot_id, id);

-- One row per executed order: unique by our client order id, and by the exchange's order id
-- within its venue (the bot's mode) and symbol, since Binance numbers orders per symbol.
CREATE TABLE trades (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot_config_id BIGINT NOT NULL REFERENCES bot_configs (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    mode TEXT NOT NULL,
    binance_order_id BIGINT NOT NULL,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL DEFAULT 'MARKET',
    price TEXT NOT NULL,
    quantity_filled TEXT NOT NULL,
    quote_quantity_filled TEXT NOT NULL,
    commission TEXT NOT NULL,
    commission_asset TEXT NOT NULL,
    realized_pnl TEXT,
    executed_at_ms BIGINT NOT NULL,
    UNIQUE (mode, symbol, binance_order_id)
);
CREATE INDEX trades_user_id ON trades (user_id, id);
CREATE INDEX trades_bot_config_id ON trades (bot_config_id, id);

CREATE TABLE positions (
    bot_id BIGINT NOT NULL PRIMARY KEY REFERENCES bot_configs (id),
    quantity TEXT NOT NULL,
    cost_quote TEXT NOT NULL,
    realized_pnl TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- The audit trail of each cycle's decision.
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot_id BIGINT NOT NULL REFERENCES bot_configs (id),
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_bot_id ON events (bot_id, at_ms, id);
