-- +goose Up
-- See migrations/postgres/00002_identity.sql.
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN timezone TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN email_verified_at DATETIME NULL;
ALTER TABLE users ADD COLUMN disabled_at DATETIME NULL;
ALTER TABLE users ADD COLUMN mfa_enabled INTEGER NOT NULL DEFAULT 0;

CREATE TABLE sessions (
    id             TEXT     NOT NULL PRIMARY KEY,
    user_id        TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     DATETIME NOT NULL,
    last_used_at   DATETIME NOT NULL,
    expires_at     DATETIME NOT NULL,
    ip             TEXT     NOT NULL DEFAULT '',
    user_agent     TEXT     NOT NULL DEFAULT '',
    aal            INTEGER  NOT NULL DEFAULT 1,
    amr            TEXT     NOT NULL DEFAULT '',
    revoked_at     DATETIME NULL,
    revoked_reason TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_active_idx ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    hash       BLOB     NOT NULL PRIMARY KEY,
    session_id TEXT     NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    rotated_at DATETIME NULL,
    successor  BLOB     NULL
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE email_tokens (
    hash       BLOB     NOT NULL PRIMARY KEY,
    user_id    TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT     NOT NULL,
    email      TEXT     NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME NULL
);
CREATE INDEX email_tokens_user_purpose_idx ON email_tokens (user_id, purpose);

CREATE TABLE security_events (
    id         TEXT     NOT NULL PRIMARY KEY,
    user_id    TEXT     NULL,
    type       TEXT     NOT NULL,
    at         DATETIME NOT NULL,
    ip         TEXT     NOT NULL DEFAULT '',
    user_agent TEXT     NOT NULL DEFAULT '',
    session_id TEXT     NULL,
    details    TEXT     NOT NULL DEFAULT '{}'
);
CREATE INDEX security_events_user_idx ON security_events (user_id, id DESC);

-- +goose Down
DROP TABLE security_events;
DROP TABLE email_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN mfa_enabled;
ALTER TABLE users DROP COLUMN disabled_at;
ALTER TABLE users DROP COLUMN email_verified_at;
ALTER TABLE users DROP COLUMN role;
ALTER TABLE users DROP COLUMN password_hash;
ALTER TABLE users DROP COLUMN timezone;
ALTER TABLE users DROP COLUMN display_name;
