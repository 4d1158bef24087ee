-- +goose Up
-- Analytics reports (#15): one row per requested or scheduled report file;
-- the file itself is in the blob store under blob_key until expires_at.
-- A scheduled report has a schedule key ("weekly:2026-05-04"), unique per
-- user: the fan-out cannot make a second report of one period.
CREATE TABLE reports (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    format       text        NOT NULL,
    period       text        NOT NULL,
    from_day     text        NOT NULL, -- YYYY-MM-DD
    to_day       text        NOT NULL,
    filter       text        NOT NULL, -- JSON of the trade filter
    basis        text        NOT NULL,
    schedule_key text        NOT NULL DEFAULT '',
    state        text        NOT NULL,
    blob_key     text        NOT NULL DEFAULT '',
    size_bytes   bigint      NOT NULL DEFAULT 0,
    error        text        NOT NULL DEFAULT '',
    emailed      boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz NULL,
    expires_at   timestamptz NULL,
    version      bigint      NOT NULL
);
CREATE UNIQUE INDEX reports_schedule_key ON reports (user_id, schedule_key) WHERE schedule_key <> '';
CREATE INDEX reports_expires_idx ON reports (expires_at) WHERE state = 'ready';

CREATE TABLE report_schedules (
    user_id    uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    weekly     boolean     NOT NULL,
    monthly    boolean     NOT NULL,
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE report_schedules;
DROP TABLE reports;
