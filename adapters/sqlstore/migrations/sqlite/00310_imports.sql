-- +goose Up
-- See migrations/postgres/00200_imports.sql.
CREATE TABLE imports (
    id               TEXT     PRIMARY KEY,
    user_id          TEXT     NOT NULL,
    account_id       TEXT     NOT NULL,
    broker           TEXT     NOT NULL,
    filename         TEXT     NOT NULL DEFAULT '',
    blob_key         TEXT     NOT NULL,
    size_bytes       INTEGER  NOT NULL,
    timezone         TEXT     NOT NULL,
    mapping          TEXT     NOT NULL DEFAULT '{}',
    strict           BOOLEAN  NOT NULL DEFAULT false,
    status           TEXT     NOT NULL,
    rows_read        INTEGER  NOT NULL DEFAULT 0,
    executions_added INTEGER  NOT NULL DEFAULT 0,
    duplicates       INTEGER  NOT NULL DEFAULT 0,
    rejected         INTEGER  NOT NULL DEFAULT 0,
    trades_rebuilt   INTEGER  NOT NULL DEFAULT 0,
    warnings         TEXT     NOT NULL DEFAULT '[]',
    error            TEXT     NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    started_at       DATETIME NULL,
    finished_at      DATETIME NULL,
    version          INTEGER  NOT NULL,
    FOREIGN KEY (user_id, account_id) REFERENCES trading_accounts (user_id, id) ON DELETE CASCADE
);
CREATE INDEX imports_user_created_idx ON imports (user_id, created_at DESC, id DESC);

CREATE TABLE import_issues (
    import_id    TEXT    NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    line         INTEGER NOT NULL,
    raw          TEXT    NOT NULL DEFAULT '',
    reason       TEXT    NOT NULL DEFAULT '',
    broker_pnl   TEXT    NULL,
    computed_pnl TEXT    NULL,
    PRIMARY KEY (import_id, kind, seq)
);

CREATE TABLE import_mappings (
    id         TEXT     PRIMARY KEY,
    user_id    TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT     NOT NULL,
    name_key   TEXT     NOT NULL,
    columns    TEXT     NOT NULL,
    version    INTEGER  NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT import_mappings_name_key UNIQUE (user_id, name_key)
);

-- +goose Down
DROP TABLE import_mappings;
DROP TABLE import_issues;
DROP TABLE imports;
