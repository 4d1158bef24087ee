-- +goose Up
-- See migrations/postgres/00102_idempotency.sql.
CREATE TABLE idempotency_keys (
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          TEXT        NOT NULL,
    request_hash TEXT        NOT NULL,
    state        TEXT        NOT NULL,
    status       INTEGER     NOT NULL DEFAULT 0,
    content_type TEXT        NOT NULL DEFAULT '',
    location     TEXT        NOT NULL DEFAULT '',
    body         BLOB       NULL,
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
