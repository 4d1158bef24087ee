-- +goose Up
-- See the PostgreSQL 00400.
ALTER TABLE trades ADD COLUMN currency TEXT NOT NULL DEFAULT '';
UPDATE trades
SET currency = COALESCE((
    SELECT CASE WHEN i.currency <> '' THEN i.currency ELSE a.currency END
    FROM instruments i, trading_accounts a
    WHERE i.id = trades.instrument_id AND a.id = trades.account_id), '');

-- +goose Down
ALTER TABLE trades DROP COLUMN currency;
