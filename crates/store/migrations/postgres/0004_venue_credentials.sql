-- Credentials per venue, PostgreSQL dialect (migrations/sqlite/0004_venue_credentials.sql describes
-- the same table). A user trades on their own exchange account on each venue (a bot's mode:
-- paper, testnet or live), so the key is (user_id, venue) instead of one row per user.
--
-- secret_ciphertext is encrypted by the caller, never plaintext. verified_at_ms, can_trade (0/1)
-- and permissions (a JSON array of the exchange's permission names) are set together when the
-- exchange last accepted the key, and are all NULL while it never has. is_paper_account is 1 for
-- an account spotbot created itself on its paper exchange.

CREATE TABLE venue_credentials (
    user_id BIGINT NOT NULL REFERENCES users (id),
    venue TEXT NOT NULL,
    key_type TEXT NOT NULL,
    api_key TEXT NOT NULL,
    secret_ciphertext BYTEA NOT NULL,
    set_at_ms BIGINT NOT NULL,
    verified_at_ms BIGINT,
    can_trade BIGINT,
    permissions TEXT,
    is_paper_account BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, venue)
);

-- The single key of exchange_credentials said nothing about its venue. No bot ever used those
-- keys, so no venue is known for them; they move to 'testnet', the venue where a wrong guess
-- costs nothing (no real money, and a key that does not belong there merely fails to verify).
-- They were never verified, and they are 'hmac': an API key with a secret string is Binance's HMAC
-- kind (an Ed25519 key comes with a private key instead).
INSERT INTO venue_credentials (user_id, venue, key_type, api_key, secret_ciphertext, set_at_ms)
SELECT user_id, 'testnet', 'hmac', api_key, secret_ciphertext, updated_at_ms
FROM exchange_credentials;

DROP TABLE exchange_credentials;
