-- +goose Up
-- Fewer indexes for a rebuild to maintain (docs/benchmarks-trading.md):
-- every index of trades and trade_legs is updated for each of the 50,000
-- trades and 100,000 legs a full rebuild of a large account writes, and
-- index maintenance was most of the database's time in it.
--
-- One index instead of two for a position's trades: an execution belongs
-- to one instrument, so the opener is unique per (account, instrument)
-- exactly when it is unique per account, and the same index serves the
-- position's reads (account_id, instrument_id = ?) that
-- trades_position_idx served.
ALTER TABLE trades ADD CONSTRAINT trades_position_opening_key UNIQUE (account_id, instrument_id, opening_execution_id);
ALTER TABLE trades DROP CONSTRAINT trades_opening_key;
DROP INDEX trades_position_idx;
-- No statement looks legs up by execution (they are read and deleted by
-- trade, through the primary key).
DROP INDEX trade_legs_execution_idx;

-- +goose Down
CREATE INDEX trade_legs_execution_idx ON trade_legs (execution_id);
CREATE INDEX trades_position_idx ON trades (account_id, instrument_id);
ALTER TABLE trades ADD CONSTRAINT trades_opening_key UNIQUE (account_id, opening_execution_id);
ALTER TABLE trades DROP CONSTRAINT trades_position_opening_key;
