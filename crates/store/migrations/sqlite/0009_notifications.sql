-- Notifications per user, SQLITE dialect (migrations/postgres/0009_notifications.sql is the same).
--
-- notification_channels: where a user is told: a webhook (target = its URL; secret = the signing
-- key spotbot made for it) or a Telegram chat (target = the chat id; secret = the user's Telegram
-- bot token). The secret is encrypted by the caller (the master key), never plaintext.
--
-- notification_subscriptions: which events of which bot go to which channel, each opted into
-- (event = trade, order_in_doubt, bot_error or daily_summary).
--
-- notification_deliveries: the persistent queue and the user's delivery log in one. A row is
-- written in the same transaction as what it tells of (the trade, the incident), so nothing is
-- told that did not happen and nothing that happened is lost to a crash; (channel_id,
-- idempotency_key) is unique, so writing a row twice (two workers enqueueing one day's summary)
-- keeps one. source_id is what the payload is built from when it is sent: the trade's id, the
-- event's id, or the summary's day (ms since the epoch). A sender claims a row until
-- claimed_until_ms; a sender that dies mid-send leaves it to be sent again after that (at least
-- once; receivers dedupe on the idempotency key).
CREATE TABLE notification_channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    target TEXT NOT NULL,
    secret_ciphertext BLOB NOT NULL,
    enabled BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE notification_subscriptions (
    bot_id BIGINT NOT NULL REFERENCES bot_configs (id),
    channel_id BIGINT NOT NULL REFERENCES notification_channels (id),
    event TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (bot_id, channel_id, event)
);
CREATE INDEX notification_subscriptions_channel ON notification_subscriptions (channel_id);

CREATE TABLE notification_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    channel_id BIGINT NOT NULL REFERENCES notification_channels (id),
    bot_id BIGINT REFERENCES bot_configs (id),
    event TEXT NOT NULL,
    source_id BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    claimed_until_ms BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    last_status_code BIGINT,
    created_at_ms BIGINT NOT NULL,
    delivered_at_ms BIGINT,
    UNIQUE (channel_id, idempotency_key)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_attempt_at_ms);
CREATE INDEX notification_deliveries_user ON notification_deliveries (user_id, id);
