-- Who held a bot before, SQLITE dialect (migrations/postgres/0010_lease_takeovers.sql is the same):
-- each acquisition of a bot's lease writes the owner whose lease it replaced (one that expired
-- without being released: its worker died or stalled), NULL when the bot was free. The engine
-- counts takeovers from it (spotbot_lease_takeovers_total) and logs who it took the bot from.
ALTER TABLE bot_configs ADD COLUMN lease_previous_owner TEXT;
