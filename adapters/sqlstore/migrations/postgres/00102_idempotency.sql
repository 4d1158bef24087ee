-- +goose Up
-- Idempotency keys of POST requests: the first response is kept and
-- replayed for 24 hours. state 'pending' while the first request runs.
CREATE TABLE idempotency_keys (
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    state        text        NOT NULL,
    status       integer     NOT NULL DEFAULT 0,
    content_type text        NOT NULL DEFAULT '',
    location     text        NOT NULL DEFAULT '',
    body         bytea       NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
