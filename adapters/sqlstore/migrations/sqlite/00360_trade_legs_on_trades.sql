-- +goose Up
-- A trade's legs are stored with the trade, as one JSON array in
-- trades.legs, instead of one trade_legs row each (see the PostgreSQL
-- migration of the same number for the reasons and the element's keys).
ALTER TABLE trades ADD COLUMN legs TEXT NOT NULL DEFAULT '[]';
UPDATE trades SET legs = COALESCE((
    SELECT json_group_array(json_object('e', l.execution_id, 'r', l.role, 's', l.side, 'q', l.quantity, 'p', l.price,
        'c', l.commission, 'f', l.fees, 'pnl', l.realized_pnl, 't', l.executed_at_ns, 'n', l.seq))
    FROM (SELECT * FROM trade_legs WHERE trade_id = trades.id ORDER BY seq) l), '[]');
DROP TRIGGER trading_accounts_delete_derived;
-- +goose StatementBegin
CREATE TRIGGER trading_accounts_delete_derived BEFORE DELETE ON trading_accounts FOR EACH ROW BEGIN
    DELETE FROM trades WHERE account_id = OLD.id;
END;
-- +goose StatementEnd
DROP TABLE trade_legs;

-- +goose Down
CREATE TABLE trade_legs (
    trade_id       TEXT    NOT NULL,
    execution_id   TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    side           TEXT    NOT NULL,
    quantity       TEXT NOT NULL,
    price          TEXT NOT NULL,
    commission     TEXT NOT NULL,
    fees           TEXT NOT NULL,
    realized_pnl   TEXT NOT NULL,
    executed_at_ns INTEGER  NOT NULL,
    seq            INTEGER NOT NULL,
    PRIMARY KEY (trade_id, execution_id)
);
INSERT INTO trade_legs (trade_id, execution_id, role, side, quantity, price, commission, fees, realized_pnl, executed_at_ns, seq)
SELECT t.id, json_extract(l.value, '$.e'), json_extract(l.value, '$.r'), json_extract(l.value, '$.s'), json_extract(l.value, '$.q'),
    json_extract(l.value, '$.p'), json_extract(l.value, '$.c'), json_extract(l.value, '$.f'), json_extract(l.value, '$.pnl'),
    json_extract(l.value, '$.t'), json_extract(l.value, '$.n')
FROM trades t, json_each(t.legs) l;
DROP TRIGGER trading_accounts_delete_derived;
-- +goose StatementBegin
CREATE TRIGGER trading_accounts_delete_derived BEFORE DELETE ON trading_accounts FOR EACH ROW BEGIN
    DELETE FROM trade_legs WHERE trade_id IN (SELECT id FROM trades WHERE account_id = OLD.id);
    DELETE FROM trades WHERE account_id = OLD.id;
END;
-- +goose StatementEnd
ALTER TABLE trades DROP COLUMN legs;
