-- Login sessions, SQLite dialect (migrations/postgres/0002_sessions.sql describes the same table).
-- A session is a bearer token handed out at login; only its SHA-256 (hex) is stored, so a copy of
-- the database gives no working token. A session is live while expires_at_ms is in the future and
-- revoked_at_ms is NULL (logout sets it).

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
