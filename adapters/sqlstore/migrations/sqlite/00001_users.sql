-- +goose Up
-- See migrations/postgres/00001_users.sql. Timestamps are stored as the
-- driver's text form of a UTC time; ids as their canonical text form.
CREATE TABLE users (
    id         TEXT     NOT NULL PRIMARY KEY,
    email      TEXT     NOT NULL,
    email_key  TEXT     NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT users_email_key_key UNIQUE (email_key)
);

-- +goose Down
DROP TABLE users;
