-- +goose Up
-- The unfinished jobs of the local profile's in-process job store, saved
-- when the program exits and taken back when it starts (core/jobs
-- Journal). One row per job; body is the job as JSON (sqlstore's row
-- format, see jobjournal.go).
CREATE TABLE job_journal (
    id       TEXT NOT NULL PRIMARY KEY,
    body     TEXT NOT NULL,
    saved_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE job_journal;
