-- +goose Up
-- A trade's legs are stored with the trade, as one JSON array in
-- trades.legs, instead of one trade_legs row each (issue #13, docs/
-- benchmarks-trading.md, session of 2026-12-01 night): a full rebuild of
-- 100,000 executions wrote 100,000 leg rows with a primary key beside its
-- 50,000 trades (≈ 0.2 s of the server's CPU of the rebuild's single
-- backend), and every reader takes a trade's legs with the trade (the
-- trade detail, Reconcile's leg keys, the changed trades of a rebuild):
-- none looks legs up on their own. Each element is
-- {"e": execution id, "r": role, "s": side, "q": quantity, "p": price,
--  "c": commission, "f": fees, "pnl": realised P&L, "t": executed at (ns),
--  "n": seq}, decimals as strings, in seq order. The column is the last
-- of the row, so statements that do not select it never deform it.
ALTER TABLE trades ADD COLUMN legs text NOT NULL DEFAULT '[]';
UPDATE trades t SET legs = l.legs FROM (
    SELECT trade_id, json_agg(json_build_object('e', execution_id, 'r', role, 's', side, 'q', quantity::text, 'p', price::text,
        'c', commission::text, 'f', fees::text, 'pnl', realized_pnl::text, 't', executed_at_ns, 'n', seq) ORDER BY seq)::text AS legs
    FROM trade_legs GROUP BY trade_id) l
WHERE l.trade_id = t.id;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION trading_accounts_delete_derived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM trades WHERE account_id = OLD.id;
    DELETE FROM executions WHERE user_id = OLD.user_id AND account_id = OLD.id;
    RETURN OLD;
END
$$;
-- +goose StatementEnd
DROP TABLE trade_legs;

-- +goose Down
CREATE TABLE trade_legs (
    trade_id       uuid    NOT NULL,
    execution_id   uuid    NOT NULL,
    role           text    NOT NULL,
    side           text    NOT NULL,
    quantity       numeric NOT NULL,
    price          numeric NOT NULL,
    commission     numeric NOT NULL,
    fees           numeric NOT NULL,
    realized_pnl   numeric NOT NULL,
    executed_at_ns bigint  NOT NULL,
    seq            integer NOT NULL,
    PRIMARY KEY (trade_id, execution_id)
);
INSERT INTO trade_legs (trade_id, execution_id, role, side, quantity, price, commission, fees, realized_pnl, executed_at_ns, seq)
SELECT t.id, (l->>'e')::uuid, l->>'r', l->>'s', (l->>'q')::numeric, (l->>'p')::numeric, (l->>'c')::numeric, (l->>'f')::numeric,
    (l->>'pnl')::numeric, (l->>'t')::bigint, (l->>'n')::integer
FROM trades t, json_array_elements(t.legs::json) l;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION trading_accounts_delete_derived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM trade_legs WHERE trade_id IN (SELECT id FROM trades WHERE account_id = OLD.id);
    DELETE FROM trades WHERE account_id = OLD.id;
    DELETE FROM executions WHERE user_id = OLD.user_id AND account_id = OLD.id;
    RETURN OLD;
END
$$;
-- +goose StatementEnd
ALTER TABLE trades DROP COLUMN legs;
