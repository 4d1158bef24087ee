-- +goose Up
-- The contract multiplier of each account's position in an instrument
-- (see the PostgreSQL 00370).
CREATE TABLE account_instruments (
    user_id       TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    instrument_id TEXT NOT NULL REFERENCES instruments (id) ON DELETE CASCADE,
    multiplier    TEXT NOT NULL,
    PRIMARY KEY (account_id, instrument_id),
    FOREIGN KEY (user_id, account_id) REFERENCES trading_accounts (user_id, id) ON DELETE CASCADE
);

INSERT INTO account_instruments (user_id, account_id, instrument_id, multiplier)
SELECT p.user_id, p.account_id, p.instrument_id, i.multiplier
FROM (SELECT DISTINCT user_id, account_id, instrument_id FROM executions) p
JOIN instruments i ON i.id = p.instrument_id;

-- +goose Down
DROP TABLE account_instruments;
