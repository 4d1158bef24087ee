-- +goose Up
-- Broker imports (#14): one row per uploaded file (the file itself is in
-- the blob store under blob_key, deleted with the import), the rows it
-- rejected and the P&L mismatches it found (import_issues, every one kept,
-- in line order), and the saved column mappings of the generic preset.
-- The executions an import added carry its id (executions.import_id), so
-- undoing it deletes exactly those.
CREATE TABLE imports (
    id               uuid        PRIMARY KEY,
    user_id          uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    broker           text        NOT NULL,
    filename         text        NOT NULL DEFAULT '',
    blob_key         text        NOT NULL,
    size_bytes       bigint      NOT NULL,
    timezone         text        NOT NULL,
    mapping          text        NOT NULL DEFAULT '{}', -- JSON {"symbol": "Ticker"}
    strict           boolean     NOT NULL DEFAULT false,
    status           text        NOT NULL,
    rows_read        integer     NOT NULL DEFAULT 0,
    executions_added integer     NOT NULL DEFAULT 0,
    duplicates       integer     NOT NULL DEFAULT 0,
    rejected         integer     NOT NULL DEFAULT 0,
    trades_rebuilt   integer     NOT NULL DEFAULT 0,
    warnings         text        NOT NULL DEFAULT '[]', -- JSON array of strings
    error            text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    started_at       timestamptz NULL,
    finished_at      timestamptz NULL,
    version          bigint      NOT NULL,
    FOREIGN KEY (user_id, account_id) REFERENCES trading_accounts (user_id, id) ON DELETE CASCADE
);
CREATE INDEX imports_user_created_idx ON imports (user_id, created_at DESC, id DESC);

CREATE TABLE import_issues (
    import_id    uuid    NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    kind         text    NOT NULL, -- 'rejected' or 'mismatch'
    seq          integer NOT NULL,
    line         integer NOT NULL,
    raw          text    NOT NULL DEFAULT '',
    reason       text    NOT NULL DEFAULT '',
    broker_pnl   numeric NULL,
    computed_pnl numeric NULL,
    PRIMARY KEY (import_id, kind, seq)
);

CREATE TABLE import_mappings (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL,
    name_key   text        NOT NULL,
    columns    text        NOT NULL, -- JSON {"symbol": "Ticker"}
    version    bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT import_mappings_name_key UNIQUE (user_id, name_key)
);

-- +goose Down
DROP TABLE import_mappings;
DROP TABLE import_issues;
DROP TABLE imports;
