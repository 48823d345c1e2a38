-- Usernames and emails unique whatever their case, SQLite dialect
-- (migrations/postgres/0008_users_case_insensitive.sql is the same): "Alice" and "alice" are one
-- account, so that nobody can register a look-alike of another user's name. Logins and lookups
-- compare lower(username) too. Usernames are ASCII (the API's rule); for an email with non-ASCII
-- letters, SQLite's lower() folds only the ASCII ones. On a database that already holds two
-- accounts differing only in case this migration fails (UNIQUE): rename one of them first.
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));
