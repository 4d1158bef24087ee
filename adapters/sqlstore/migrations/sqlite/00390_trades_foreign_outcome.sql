-- +goose Up
-- See the PostgreSQL 00390. Amounts are decimal text here: their sign is
-- all that is compared, which a REAL keeps.
UPDATE trades
SET outcome = CASE WHEN CAST(net_pnl AS REAL) > 0 THEN 'win' WHEN CAST(net_pnl AS REAL) < 0 THEN 'loss' ELSE 'breakeven' END
WHERE status = 'closed' AND EXISTS (
    SELECT 1 FROM instruments i, trading_accounts a
    WHERE i.id = trades.instrument_id AND a.id = trades.account_id
      AND i.currency <> '' AND i.currency <> a.currency AND CAST(a.breakeven_band AS REAL) <> 0);

-- +goose Down
SELECT 1;
