-- +goose Up
-- PostgreSQL compares fingerprints in byte order from here on (see its
-- 00342); SQLite's default collation (BINARY) already does.
SELECT 1;

-- +goose Down
SELECT 1;
