-- +goose Up
-- The currency of a trade's amounts (trading.TradeCurrency): its
-- instrument's when the instrument names one, else its account's. The
-- builder writes it with every trade; the trades stored before are given
-- it here. Their digest, which now covers the currency, then differs from
-- the one the code computes, so the next rebuild of a position rewrites
-- its trades whole (the figures do not change).
ALTER TABLE trades ADD COLUMN currency text NOT NULL DEFAULT '';
UPDATE trades t
SET currency = CASE WHEN i.currency <> '' THEN i.currency ELSE a.currency END
FROM instruments i, trading_accounts a
WHERE i.id = t.instrument_id AND a.id = t.account_id;

-- +goose Down
ALTER TABLE trades DROP COLUMN currency;
