-- +goose Up
-- MFA: one TOTP factor per user, its secret sealed with AES-256-GCM (key
-- ID beside the ciphertext for rotation) and the last accepted time step
-- (replay protection: advanced only by UPDATE ... WHERE last_step < $step);
-- backup codes stored only as HMAC-SHA256.
CREATE TABLE mfa_factors (
    user_id           uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    key_id            text        NOT NULL,
    secret_ciphertext bytea       NOT NULL,
    last_step         bigint      NOT NULL,
    enabled_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

CREATE TABLE mfa_backup_codes (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz NULL,
    PRIMARY KEY (user_id, hash)
);

-- +goose Down
DROP TABLE mfa_backup_codes;
DROP TABLE mfa_factors;
