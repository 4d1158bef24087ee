-- +goose Up
-- PostgreSQL refuses deletes of referenced tables outside READ COMMITTED
-- (see its 00343); SQLite checks real foreign keys and has one writer.
SELECT 1;

-- +goose Down
SELECT 1;
