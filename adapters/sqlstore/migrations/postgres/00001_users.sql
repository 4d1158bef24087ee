-- +goose Up
-- email is kept as the user typed it; email_key is its case-insensitive
-- identity (identity.EmailKey, lower-cased in Go so that PostgreSQL and
-- SQLite enforce the same uniqueness) and carries the unique index that
-- lookups by email use.
CREATE TABLE users (
    id         uuid        PRIMARY KEY,
    email      text        NOT NULL,
    email_key  text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT users_email_key_key UNIQUE (email_key)
);

-- +goose Down
DROP TABLE users;
