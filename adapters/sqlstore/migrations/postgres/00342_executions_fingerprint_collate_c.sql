-- +goose Up
-- A fingerprint is 64 lower-case hex digits (trading.Fingerprint) and is
-- only ever compared for equality: byte order ("C") gives the same
-- answers as any collation and lets the unique index executions (account_id,
-- fingerprint) compare keys with memcmp instead of the database's locale
-- (strcoll on copies of both strings). An import probes and inserts into
-- that index twice per row (INSERT … ON CONFLICT); the comparisons were
-- ≈ 10 % of the database's CPU in recording 100,000 executions
-- (docs/benchmarks-imports.md, evening session 2026-12-01).
ALTER TABLE executions ALTER COLUMN fingerprint TYPE text COLLATE "C";

-- +goose Down
ALTER TABLE executions ALTER COLUMN fingerprint TYPE text COLLATE "default";
