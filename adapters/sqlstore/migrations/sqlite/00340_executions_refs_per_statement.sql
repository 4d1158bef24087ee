-- +goose Up
-- PostgreSQL replaces the foreign keys of executions by checks run once
-- per statement (see its 00340). SQLite keeps its foreign keys: it checks
-- them with an index probe in the writer's own process, and the two
-- dialects' migration lists stay the same.
SELECT 1;

-- +goose Down
SELECT 1;
