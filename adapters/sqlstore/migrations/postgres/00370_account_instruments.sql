-- +goose Up
-- The contract multiplier of each account's position in an instrument.
-- Instruments stay one per (user, asset class, symbol), but the multiplier
-- the first fill of an account resolved to (given by the fill or the
-- built-in one) is the account's, so one account's multiplier no longer
-- decides another's. Existing positions keep the multiplier they were
-- built with: the instrument's.
CREATE TABLE account_instruments (
    user_id       uuid    NOT NULL,
    account_id    uuid    NOT NULL,
    instrument_id uuid    NOT NULL REFERENCES instruments (id) ON DELETE CASCADE,
    multiplier    numeric NOT NULL,
    PRIMARY KEY (account_id, instrument_id),
    FOREIGN KEY (user_id, account_id) REFERENCES trading_accounts (user_id, id) ON DELETE CASCADE
);

INSERT INTO account_instruments (user_id, account_id, instrument_id, multiplier)
SELECT p.user_id, p.account_id, p.instrument_id, i.multiplier
FROM (SELECT DISTINCT user_id, account_id, instrument_id FROM executions) p
JOIN instruments i ON i.id = p.instrument_id;

-- +goose Down
DROP TABLE account_instruments;
