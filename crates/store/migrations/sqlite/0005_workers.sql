-- The workers of a fleet, SQLite dialect (migrations/postgres/0005_workers.sql is the same):
-- every process that runs bots (`spotbot worker`, `spotbot run`) registers
-- itself here at start and beats its heart every few seconds, so that an operator sees who runs
-- what (`spotbot workers`, GET /api/v1/admin/workers) and which worker went silent. The leases
-- on bot_configs stay the guard that a bot never runs twice; this table only reports.
--
-- id is the worker's name (the lease owner written in bot_configs.lease_owner); bots_held how
-- many leases it held at its last heartbeat; stopped_at_ms is set by a clean shutdown and stays
-- NULL for a worker that died or still runs (its heartbeat's age tells which).
CREATE TABLE workers (
    id TEXT NOT NULL PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL,
    bots_held BIGINT NOT NULL DEFAULT 0,
    stopped_at_ms BIGINT
);
