-- +goose Up
-- See migrations/postgres/00100_trading.sql. Decimals are TEXT (SQLite
-- would turn a NUMERIC column into lossy REAL); comparisons and sorts on
-- them CAST to REAL, exact for values of up to 15 significant digits.
CREATE TABLE trading_accounts (
    id               TEXT        NOT NULL PRIMARY KEY,
    user_id          TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT        NOT NULL,
    name_key         TEXT        NOT NULL,
    broker           TEXT        NOT NULL DEFAULT '',
    broker_preset    TEXT        NOT NULL DEFAULT '',
    currency         TEXT        NOT NULL,
    starting_balance TEXT     NULL,
    timezone         TEXT        NOT NULL DEFAULT '',
    breakeven_band   TEXT     NOT NULL DEFAULT '0',
    multipliers      TEXT        NOT NULL DEFAULT '{}', -- JSON {"ES": "50"}
    archived         BOOLEAN     NOT NULL DEFAULT false,
    version          INTEGER      NOT NULL,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    CONSTRAINT trading_accounts_user_id_id_key UNIQUE (user_id, id),
    CONSTRAINT trading_accounts_name_key UNIQUE (user_id, name_key)
);

CREATE TABLE instruments (
    id           TEXT        NOT NULL PRIMARY KEY,
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    asset_class  TEXT        NOT NULL,
    symbol       TEXT        NOT NULL,
    currency     TEXT        NOT NULL DEFAULT '',
    multiplier   TEXT     NOT NULL,
    tick_size    TEXT     NOT NULL DEFAULT '0',
    root         TEXT        NOT NULL DEFAULT '',
    expiry       TEXT        NULL,
    strike       TEXT     NULL,
    option_right TEXT        NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    CONSTRAINT instruments_symbol_key UNIQUE (user_id, asset_class, symbol)
);

CREATE TABLE executions (
    id                  TEXT        NOT NULL PRIMARY KEY,
    user_id             TEXT        NOT NULL,
    account_id          TEXT        NOT NULL,
    instrument_id       TEXT        NOT NULL REFERENCES instruments (id),
    side                TEXT        NOT NULL,
    quantity            TEXT     NOT NULL,
    price               TEXT     NOT NULL,
    commission          TEXT     NOT NULL,
    fees                TEXT     NOT NULL,
    executed_at_ns      INTEGER      NOT NULL,
    broker_execution_id TEXT        NOT NULL DEFAULT '',
    import_id           TEXT        NULL,
    fingerprint         TEXT        NOT NULL,
    version             INTEGER      NOT NULL,
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL,
    FOREIGN KEY (user_id, account_id) REFERENCES trading_accounts (user_id, id) ON DELETE CASCADE,
    CONSTRAINT executions_fingerprint_key UNIQUE (account_id, fingerprint)
);
CREATE INDEX executions_position_idx ON executions (account_id, instrument_id);
CREATE INDEX executions_user_time_idx ON executions (user_id, executed_at_ns DESC, id DESC);
CREATE INDEX executions_import_idx ON executions (import_id) WHERE import_id IS NOT NULL;

-- Trades and their legs are derived data that only the ledger writes,
-- under the account's lock: they carry no foreign keys, which would cost a
-- lookup per row when a rebuild writes 150,000 of them (measured: 9 x the
-- time of a COPY without). The trigger below deletes them with their
-- account, and the ledger deletes a trade's legs with it.
-- A trade's annotation lives on its row (rebuilds update the derived
-- columns only). closed_at_ns is 9223372036854775807 while open, so that
-- one index serves both the close-date range and the sort by close.
CREATE TABLE trades (
    id                   TEXT        NOT NULL PRIMARY KEY,
    user_id              TEXT        NOT NULL,
    account_id           TEXT        NOT NULL,
    instrument_id        TEXT        NOT NULL,
    symbol               TEXT        NOT NULL,
    asset_class          TEXT        NOT NULL,
    direction            TEXT        NOT NULL,
    status               TEXT        NOT NULL,
    opening_execution_id TEXT        NOT NULL,
    multiplier           TEXT     NOT NULL,
    quantity             TEXT     NOT NULL,
    max_position         TEXT     NOT NULL,
    open_quantity        TEXT     NOT NULL,
    cost_basis           TEXT     NOT NULL,
    avg_entry_price      TEXT     NOT NULL,
    avg_exit_price       TEXT     NULL,
    gross_pnl            TEXT     NOT NULL,
    commission           TEXT     NOT NULL,
    fees                 TEXT     NOT NULL,
    net_pnl              TEXT     NOT NULL,
    opened_at_ns         INTEGER      NOT NULL,
    closed_at_ns         INTEGER      NOT NULL,
    holding_ns           INTEGER      NULL,
    outcome              TEXT        NOT NULL DEFAULT '',
    r_multiple           TEXT     NULL,
    open_weekday         INTEGER    NOT NULL,
    open_hour            INTEGER    NOT NULL,
    digest               TEXT        NOT NULL DEFAULT '', -- trading.Digest of the derived columns and legs
    playbook_id          TEXT        NULL,
    notes                TEXT        NOT NULL DEFAULT '',
    planned_stop         TEXT     NULL,
    planned_target       TEXT     NULL,
    initial_risk         TEXT     NULL,
    rating               INTEGER    NOT NULL DEFAULT 0,
    confidence           INTEGER    NOT NULL DEFAULT 0,
    followed_rules       TEXT        NOT NULL DEFAULT '[]', -- JSON array of rule IDs
    annotation_version   INTEGER      NOT NULL,
    annotated_at         DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL,
    CONSTRAINT trades_opening_key UNIQUE (account_id, opening_execution_id)
);
CREATE INDEX trades_position_idx ON trades (account_id, instrument_id);
CREATE INDEX trades_user_opened_idx ON trades (user_id, opened_at_ns DESC, id DESC);
CREATE INDEX trades_user_closed_idx ON trades (user_id, closed_at_ns DESC, id DESC);
CREATE INDEX trades_user_playbook_idx ON trades (user_id, playbook_id) WHERE playbook_id IS NOT NULL;

-- The part of an execution a trade holds (a fill split at zero has a leg
-- in two trades).
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
CREATE INDEX trade_legs_execution_idx ON trade_legs (execution_id);

-- +goose StatementBegin
CREATE TRIGGER trading_accounts_delete_derived BEFORE DELETE ON trading_accounts FOR EACH ROW BEGIN
    DELETE FROM trade_legs WHERE trade_id IN (SELECT id FROM trades WHERE account_id = OLD.id);
    DELETE FROM trades WHERE account_id = OLD.id;
END;
-- +goose StatementEnd

-- Bumped in the same transaction as every write to a user's trading or
-- journal data: analytics caches are keyed by it.
CREATE TABLE user_data_versions (
    user_id TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version INTEGER NOT NULL
);

-- +goose Down
DROP TRIGGER trading_accounts_delete_derived;
DROP TABLE user_data_versions;
DROP TABLE trade_legs;
DROP TABLE trades;
DROP TABLE executions;
DROP TABLE instruments;
DROP TABLE trading_accounts;
