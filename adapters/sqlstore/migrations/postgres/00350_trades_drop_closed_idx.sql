-- +goose Up
-- One index fewer for a rebuild to maintain (docs/benchmarks-trading.md,
-- evening session 2026-12-01): trades_user_close_order_idx (00325) is
-- keyed (user_id, closed_at_ns, id), and a B-tree serves the trade list's
-- ORDER BY closed_at_ns DESC, id DESC, its close-date range and its keyset
-- condition (closed_at_ns, id) < (?, ?) by a backward scan of it, so
-- trades_user_closed_idx (the same key, descending) only cost every
-- written trade one more index insertion (≈ 120 ms of the server's CPU
-- per 50,000 trades written, measured with the backend's /proc CPU time).
DROP INDEX trades_user_closed_idx;

-- +goose Down
CREATE INDEX trades_user_closed_idx ON trades (user_id, closed_at_ns DESC, id DESC);
