-- +goose Up
-- A trade priced in another currency than its account's is classified
-- with a breakeven band of 0 (trading.OutcomeBand): the account's band is
-- an amount in the account's currency. Closed trades stored before under
-- a non-zero band are classified again (their digest then differs, and
-- the next rebuild of their position rewrites them whole).
UPDATE trades t
SET outcome = CASE WHEN t.net_pnl > 0 THEN 'win' WHEN t.net_pnl < 0 THEN 'loss' ELSE 'breakeven' END
FROM instruments i, trading_accounts a
WHERE t.status = 'closed' AND i.id = t.instrument_id AND a.id = t.account_id
  AND i.currency <> '' AND i.currency <> a.currency AND a.breakeven_band <> 0;

-- +goose Down
-- Nothing to undo: the next rebuild classifies under the code then running.
SELECT 1;
