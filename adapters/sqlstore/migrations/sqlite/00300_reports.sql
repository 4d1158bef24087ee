-- +goose Up
-- See migrations/postgres/00300_reports.sql.
CREATE TABLE reports (
    id           TEXT     PRIMARY KEY,
    user_id      TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    format       TEXT     NOT NULL,
    period       TEXT     NOT NULL,
    from_day     TEXT     NOT NULL,
    to_day       TEXT     NOT NULL,
    filter       TEXT     NOT NULL,
    basis        TEXT     NOT NULL,
    schedule_key TEXT     NOT NULL DEFAULT '',
    state        TEXT     NOT NULL,
    blob_key     TEXT     NOT NULL DEFAULT '',
    size_bytes   INTEGER  NOT NULL DEFAULT 0,
    error        TEXT     NOT NULL DEFAULT '',
    emailed      BOOLEAN  NOT NULL DEFAULT false,
    created_at   DATETIME NOT NULL,
    finished_at  DATETIME NULL,
    expires_at   DATETIME NULL,
    version      INTEGER  NOT NULL
);
CREATE UNIQUE INDEX reports_schedule_key ON reports (user_id, schedule_key) WHERE schedule_key <> '';
CREATE INDEX reports_expires_idx ON reports (expires_at) WHERE state = 'ready';

CREATE TABLE report_schedules (
    user_id    TEXT     PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    weekly     BOOLEAN  NOT NULL,
    monthly    BOOLEAN  NOT NULL,
    updated_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE report_schedules;
DROP TABLE reports;
