-- Sessions by expiry, PostgreSQL dialect (migrations/sqlite/0003_sessions_expiry.sql is the same index):
-- logins delete the sessions that ended long ago (Store::purge_sessions), so that the table holds
-- recent history rather than every login ever made, and the delete finds them by this index.

CREATE INDEX sessions_expires_at_ms ON sessions (expires_at_ms);
