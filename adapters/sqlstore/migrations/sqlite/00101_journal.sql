-- +goose Up
-- See migrations/postgres/00101_journal.sql.
CREATE TABLE tags (
    id         TEXT        NOT NULL PRIMARY KEY,
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT        NOT NULL,
    name_key   TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    color      TEXT        NOT NULL DEFAULT '',
    version    INTEGER      NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT tags_name_key UNIQUE (user_id, kind, name_key)
);

CREATE TABLE playbooks (
    id          TEXT        NOT NULL PRIMARY KEY,
    user_id     TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT        NOT NULL,
    name_key    TEXT        NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    rules       TEXT        NOT NULL DEFAULT '[]', -- JSON [{"id": "...", "TEXT": "..."}]
    version     INTEGER      NOT NULL,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    CONSTRAINT playbooks_name_key UNIQUE (user_id, name_key)
);

-- Deleting a tag removes it from every trade.
CREATE TABLE trade_tags (
    trade_id TEXT NOT NULL REFERENCES trades (id) ON DELETE CASCADE,
    tag_id   TEXT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (trade_id, tag_id)
);
CREATE INDEX trade_tags_tag_idx ON trade_tags (tag_id, trade_id);

-- One entry per user per calendar day (the user's time zone). trade_ids
-- NULL means "that day's trades"; a JSON array is the explicit choice.
CREATE TABLE journal_entries (
    id          TEXT        NOT NULL PRIMARY KEY,
    user_id     TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day         TEXT        NOT NULL, -- YYYY-MM-DD
    pre_market  TEXT        NOT NULL DEFAULT '',
    post_market TEXT        NOT NULL DEFAULT '',
    mood        INTEGER    NOT NULL DEFAULT 0,
    trade_ids   TEXT        NULL,
    version     INTEGER      NOT NULL,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    CONSTRAINT journal_entries_day_key UNIQUE (user_id, day)
);

CREATE TABLE attachments (
    id               TEXT        NOT NULL PRIMARY KEY,
    user_id          TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    trade_id         TEXT        NULL REFERENCES trades (id) ON DELETE SET NULL,
    journal_entry_id TEXT        NULL REFERENCES journal_entries (id) ON DELETE SET NULL,
    blob_key         TEXT        NOT NULL,
    content_type     TEXT        NOT NULL,
    size_bytes       INTEGER      NOT NULL,
    width            INTEGER     NOT NULL,
    height           INTEGER     NOT NULL,
    sha256           TEXT        NOT NULL,
    filename         TEXT        NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL
);
CREATE INDEX attachments_trade_idx ON attachments (trade_id) WHERE trade_id IS NOT NULL;
CREATE INDEX attachments_entry_idx ON attachments (journal_entry_id) WHERE journal_entry_id IS NOT NULL;
CREATE INDEX attachments_user_idx ON attachments (user_id, created_at);

-- +goose Down
DROP TABLE attachments;
DROP TABLE journal_entries;
DROP TABLE trade_tags;
DROP TABLE playbooks;
DROP TABLE tags;
