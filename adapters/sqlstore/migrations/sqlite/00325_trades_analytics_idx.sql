-- +goose Up
-- The analytics stream (sqlstore.AnalyticsSource.ClosedTrades): a user's
-- trades in close order with every column a figure reads, a covering
-- index so that SQLite does not look each trade up in the table
-- (docs/benchmarks.md "Analytics"). SQLite has no INCLUDE: the columns
-- follow the key. followed_rules is left out (unbounded text).
CREATE INDEX trades_user_close_order_idx ON trades (user_id, closed_at_ns, id,
    status, account_id, direction, opened_at_ns, holding_ns, gross_pnl, commission, fees, net_pnl, initial_risk,
    symbol, asset_class, playbook_id, open_weekday, open_hour);

-- +goose Down
DROP INDEX trades_user_close_order_idx;
