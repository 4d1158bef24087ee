-- +goose Up
-- See migrations/postgres/00050_identities.sql.
CREATE TABLE identities (
    id             TEXT     NOT NULL PRIMARY KEY,
    user_id        TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider       TEXT     NOT NULL,
    issuer         TEXT     NOT NULL,
    subject        TEXT     NOT NULL,
    email          TEXT     NOT NULL DEFAULT '',
    email_verified INTEGER  NOT NULL DEFAULT 0,
    display_name   TEXT     NOT NULL DEFAULT '',
    avatar_url     TEXT     NOT NULL DEFAULT '',
    claims         TEXT     NOT NULL DEFAULT '{}',
    confirmed      INTEGER  NOT NULL DEFAULT 0,
    created_at     DATETIME NOT NULL,
    last_login_at  DATETIME NOT NULL,
    CONSTRAINT identities_issuer_subject_key UNIQUE (issuer, subject),
    CONSTRAINT identities_user_provider_key UNIQUE (user_id, provider)
);

-- +goose Down
DROP TABLE identities;
