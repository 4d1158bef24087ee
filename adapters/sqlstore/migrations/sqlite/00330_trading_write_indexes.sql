-- +goose Up
-- No statement looks legs up by execution (they are read and deleted by
-- trade, through the primary key); one index fewer for a rebuild to
-- maintain. (PostgreSQL also merges trades_position_idx into the unique
-- opener key; SQLite cannot drop a table constraint without rebuilding
-- the table, and keeps both.)
DROP INDEX trade_legs_execution_idx;

-- +goose Down
CREATE INDEX trade_legs_execution_idx ON trade_legs (execution_id);
