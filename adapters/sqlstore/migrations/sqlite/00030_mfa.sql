-- +goose Up
-- See migrations/postgres/00030_mfa.sql.
CREATE TABLE mfa_factors (
    user_id           TEXT     NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    key_id            TEXT     NOT NULL,
    secret_ciphertext BLOB     NOT NULL,
    last_step         INTEGER  NOT NULL,
    enabled_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL
);

CREATE TABLE mfa_backup_codes (
    user_id    TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       BLOB     NOT NULL,
    created_at DATETIME NOT NULL,
    used_at    DATETIME NULL,
    PRIMARY KEY (user_id, hash)
);

-- +goose Down
DROP TABLE mfa_backup_codes;
DROP TABLE mfa_factors;
