-- +goose Up
-- A user's reports, newest first (GET /api/v1/reports).
CREATE INDEX reports_user_created_idx ON reports (user_id, created_at DESC, id DESC);

-- +goose Down
DROP INDEX reports_user_created_idx;
