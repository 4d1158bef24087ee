-- +goose Up
-- Journal: tags and playbooks (referenced by trades), the tags of each
-- trade, daily journal entries, and attachment metadata (the bytes are in
-- the blob store under blob_key).
CREATE TABLE tags (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL,
    name_key   text        NOT NULL,
    kind       text        NOT NULL,
    color      text        NOT NULL DEFAULT '',
    version    bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT tags_name_key UNIQUE (user_id, kind, name_key)
);

CREATE TABLE playbooks (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    name_key    text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    rules       text        NOT NULL DEFAULT '[]', -- JSON [{"id": "...", "text": "..."}]
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT playbooks_name_key UNIQUE (user_id, name_key)
);

-- Deleting a tag removes it from every trade.
CREATE TABLE trade_tags (
    trade_id uuid NOT NULL REFERENCES trades (id) ON DELETE CASCADE,
    tag_id   uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (trade_id, tag_id)
);
CREATE INDEX trade_tags_tag_idx ON trade_tags (tag_id, trade_id);

-- One entry per user per calendar day (the user's time zone). trade_ids
-- NULL means "that day's trades"; a JSON array is the explicit choice.
CREATE TABLE journal_entries (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day         text        NOT NULL, -- YYYY-MM-DD
    pre_market  text        NOT NULL DEFAULT '',
    post_market text        NOT NULL DEFAULT '',
    mood        smallint    NOT NULL DEFAULT 0,
    trade_ids   text        NULL,
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT journal_entries_day_key UNIQUE (user_id, day)
);

CREATE TABLE attachments (
    id               uuid        PRIMARY KEY,
    user_id          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    trade_id         uuid        NULL REFERENCES trades (id) ON DELETE SET NULL,
    journal_entry_id uuid        NULL REFERENCES journal_entries (id) ON DELETE SET NULL,
    blob_key         text        NOT NULL,
    content_type     text        NOT NULL,
    size_bytes       bigint      NOT NULL,
    width            integer     NOT NULL,
    height           integer     NOT NULL,
    sha256           text        NOT NULL,
    filename         text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL
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
