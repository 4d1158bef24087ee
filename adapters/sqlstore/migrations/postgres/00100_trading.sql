-- +goose Up
-- Trading: accounts, instruments, executions (the source of truth) and
-- the trades derived from them. Money and quantities are NUMERIC (exact,
-- unconstrained scale); instants of fills and trades are BIGINT
-- nanoseconds since 1970 UTC (timestamptz keeps only microseconds).
-- Every child row carries user_id, and composite foreign keys on
-- (user_id, account_id) make a row of one user unable to point at
-- another user's account.
CREATE TABLE trading_accounts (
    id               uuid        PRIMARY KEY,
    user_id          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text        NOT NULL,
    name_key         text        NOT NULL,
    broker           text        NOT NULL DEFAULT '',
    broker_preset    text        NOT NULL DEFAULT '',
    currency         text        NOT NULL,
    starting_balance numeric     NULL,
    timezone         text        NOT NULL DEFAULT '',
    breakeven_band   numeric     NOT NULL DEFAULT 0,
    multipliers      text        NOT NULL DEFAULT '{}', -- JSON {"ES": "50"}
    archived         boolean     NOT NULL DEFAULT false,
    version          bigint      NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT trading_accounts_user_id_id_key UNIQUE (user_id, id),
    CONSTRAINT trading_accounts_name_key UNIQUE (user_id, name_key)
);

CREATE TABLE instruments (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    asset_class  text        NOT NULL,
    symbol       text        NOT NULL,
    currency     text        NOT NULL DEFAULT '',
    multiplier   numeric     NOT NULL,
    tick_size    numeric     NOT NULL DEFAULT 0,
    root         text        NOT NULL DEFAULT '',
    expiry       date        NULL,
    strike       numeric     NULL,
    option_right text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    CONSTRAINT instruments_symbol_key UNIQUE (user_id, asset_class, symbol)
);

CREATE TABLE executions (
    id                  uuid        PRIMARY KEY,
    user_id             uuid        NOT NULL,
    account_id          uuid        NOT NULL,
    instrument_id       uuid        NOT NULL REFERENCES instruments (id),
    side                text        NOT NULL,
    quantity            numeric     NOT NULL,
    price               numeric     NOT NULL,
    commission          numeric     NOT NULL,
    fees                numeric     NOT NULL,
    executed_at_ns      bigint      NOT NULL,
    broker_execution_id text        NOT NULL DEFAULT '',
    import_id           uuid        NULL,
    fingerprint         text        NOT NULL,
    version             bigint      NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
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
    id                   uuid        PRIMARY KEY,
    user_id              uuid        NOT NULL,
    account_id           uuid        NOT NULL,
    instrument_id        uuid        NOT NULL,
    symbol               text        NOT NULL,
    asset_class          text        NOT NULL,
    direction            text        NOT NULL,
    status               text        NOT NULL,
    opening_execution_id uuid        NOT NULL,
    multiplier           numeric     NOT NULL,
    quantity             numeric     NOT NULL,
    max_position         numeric     NOT NULL,
    open_quantity        numeric     NOT NULL,
    cost_basis           numeric     NOT NULL,
    avg_entry_price      numeric     NOT NULL,
    avg_exit_price       numeric     NULL,
    gross_pnl            numeric     NOT NULL,
    commission           numeric     NOT NULL,
    fees                 numeric     NOT NULL,
    net_pnl              numeric     NOT NULL,
    opened_at_ns         bigint      NOT NULL,
    closed_at_ns         bigint      NOT NULL,
    holding_ns           bigint      NULL,
    outcome              text        NOT NULL DEFAULT '',
    r_multiple           numeric     NULL,
    open_weekday         smallint    NOT NULL,
    open_hour            smallint    NOT NULL,
    digest               text        NOT NULL DEFAULT '', -- trading.Digest of the derived columns and legs
    playbook_id          uuid        NULL,
    notes                text        NOT NULL DEFAULT '',
    planned_stop         numeric     NULL,
    planned_target       numeric     NULL,
    initial_risk         numeric     NULL,
    rating               smallint    NOT NULL DEFAULT 0,
    confidence           smallint    NOT NULL DEFAULT 0,
    followed_rules       text        NOT NULL DEFAULT '[]', -- JSON array of rule IDs
    annotation_version   bigint      NOT NULL,
    annotated_at         timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    CONSTRAINT trades_opening_key UNIQUE (account_id, opening_execution_id)
);
CREATE INDEX trades_position_idx ON trades (account_id, instrument_id);
CREATE INDEX trades_user_opened_idx ON trades (user_id, opened_at_ns DESC, id DESC);
CREATE INDEX trades_user_closed_idx ON trades (user_id, closed_at_ns DESC, id DESC);
CREATE INDEX trades_user_playbook_idx ON trades (user_id, playbook_id) WHERE playbook_id IS NOT NULL;

-- The part of an execution a trade holds (a fill split at zero has a leg
-- in two trades).
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
CREATE INDEX trade_legs_execution_idx ON trade_legs (execution_id);

-- +goose StatementBegin
CREATE FUNCTION trading_accounts_delete_derived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM trade_legs WHERE trade_id IN (SELECT id FROM trades WHERE account_id = OLD.id);
    DELETE FROM trades WHERE account_id = OLD.id;
    RETURN OLD;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER trading_accounts_delete_derived BEFORE DELETE ON trading_accounts
    FOR EACH ROW EXECUTE FUNCTION trading_accounts_delete_derived();

-- Bumped in the same transaction as every write to a user's trading or
-- journal data: analytics caches are keyed by it.
CREATE TABLE user_data_versions (
    user_id uuid   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version bigint NOT NULL
);

-- +goose Down
DROP TRIGGER trading_accounts_delete_derived ON trading_accounts;
DROP FUNCTION trading_accounts_delete_derived();
DROP TABLE user_data_versions;
DROP TABLE trade_legs;
DROP TABLE trades;
DROP TABLE executions;
DROP TABLE instruments;
DROP TABLE trading_accounts;
