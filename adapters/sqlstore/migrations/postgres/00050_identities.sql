-- +goose Up
-- OAuth / OpenID Connect identities: a provider account tied to a local
-- user, keyed by (issuer, subject) and never by email. One identity per
-- provider per user. claims holds a few non-secret claims as JSON text.
CREATE TABLE identities (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider       text        NOT NULL,
    issuer         text        NOT NULL,
    subject        text        NOT NULL,
    email          text        NOT NULL DEFAULT '',
    email_verified boolean     NOT NULL DEFAULT false,
    display_name   text        NOT NULL DEFAULT '',
    avatar_url     text        NOT NULL DEFAULT '',
    claims         text        NOT NULL DEFAULT '{}',
    confirmed      boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    last_login_at  timestamptz NOT NULL,
    CONSTRAINT identities_issuer_subject_key UNIQUE (issuer, subject),
    CONSTRAINT identities_user_provider_key UNIQUE (user_id, provider)
);

-- +goose Down
DROP TABLE identities;
