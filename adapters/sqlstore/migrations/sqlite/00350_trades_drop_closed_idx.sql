-- +goose Up
-- trades_user_close_order_idx (00325) starts with (user_id, closed_at_ns,
-- id): SQLite walks it backwards for the trade list's sort by close, its
-- close-date range and its keyset condition, so trades_user_closed_idx
-- (the same key, descending) is one index a rebuild maintains for nothing.
DROP INDEX trades_user_closed_idx;

-- +goose Down
CREATE INDEX trades_user_closed_idx ON trades (user_id, closed_at_ns DESC, id DESC);
