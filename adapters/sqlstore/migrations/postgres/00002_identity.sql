-- +goose Up
-- Identity: credentials and profile on users; sessions (refresh-token
-- families), refresh tokens and email tokens (stored only as SHA-256);
-- the security audit log.
ALTER TABLE users
    ADD COLUMN display_name      text        NOT NULL DEFAULT '',
    ADD COLUMN timezone          text        NOT NULL DEFAULT '',
    ADD COLUMN password_hash     text        NOT NULL DEFAULT '',
    ADD COLUMN role              text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    ADD COLUMN email_verified_at timestamptz NULL,
    ADD COLUMN disabled_at       timestamptz NULL,
    ADD COLUMN mfa_enabled       boolean     NOT NULL DEFAULT false;

CREATE TABLE sessions (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    ip             text        NOT NULL DEFAULT '',
    user_agent     text        NOT NULL DEFAULT '',
    aal            smallint    NOT NULL DEFAULT 1,
    amr            text        NOT NULL DEFAULT '',
    revoked_at     timestamptz NULL,
    revoked_reason text        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_active_idx ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    hash       bytea       PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    rotated_at timestamptz NULL,
    successor  bytea       NULL
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE email_tokens (
    hash       bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz NULL
);
CREATE INDEX email_tokens_user_purpose_idx ON email_tokens (user_id, purpose);

CREATE TABLE security_events (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NULL,
    type       text        NOT NULL,
    at         timestamptz NOT NULL,
    ip         text        NOT NULL DEFAULT '',
    user_agent text        NOT NULL DEFAULT '',
    session_id uuid        NULL,
    details    text        NOT NULL DEFAULT '{}'
);
-- Events outlive their user (no foreign key): the audit trail of a
-- deleted account stays.
CREATE INDEX security_events_user_idx ON security_events (user_id, id DESC);

-- +goose Down
DROP TABLE security_events;
DROP TABLE email_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
ALTER TABLE users
    DROP COLUMN display_name,
    DROP COLUMN timezone,
    DROP COLUMN password_hash,
    DROP COLUMN role,
    DROP COLUMN email_verified_at,
    DROP COLUMN disabled_at,
    DROP COLUMN mfa_enabled;
