-- +goose Up
-- Until when an email change the user asked for is pending (its link
-- mailed to the new address, or, for an address already registered, not
-- mailed at all, so that the answer does not tell which): GET /auth/me
-- says so. NULL: none.
ALTER TABLE users ADD COLUMN email_change_until timestamptz NULL;

-- +goose Down
ALTER TABLE users DROP COLUMN email_change_until;
