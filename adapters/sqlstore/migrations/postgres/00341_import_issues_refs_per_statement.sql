-- +goose Up
-- As 00340 for executions: the reference of import_issues to its import is
-- checked once per statement instead of once per row. An import of a large
-- file writes every rejected row and P&L mismatch in one COPY (50,000 rows
-- for the 100,000-fill benchmark file), and the foreign key's lookup per
-- row was ≈ 60 % of that COPY's CPU. The guarantees stay:
--
--   * an issue names an existing import: after each INSERT or UPDATE
--     statement the distinct import IDs it wrote are locked FOR KEY SHARE
--     and the statement fails with foreign_key_violation if any is missing;
--   * deleting an import (directly, or by its account's or user's
--     deletion) deletes its issues (was ON DELETE CASCADE);
--   * a referenced import's id cannot change (was NO ACTION).
ALTER TABLE import_issues DROP CONSTRAINT import_issues_import_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION import_issues_check_refs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    want bigint;
    got  bigint;
BEGIN
    SELECT count(*) INTO want FROM (SELECT DISTINCT import_id FROM new_rows) d;
    SELECT count(*) INTO got FROM (SELECT 1 FROM imports i
        WHERE i.id IN (SELECT import_id FROM new_rows) FOR KEY SHARE OF i) l;
    IF got <> want THEN
        RAISE EXCEPTION 'insert or update on table "import_issues" violates foreign key constraint "import_issues_import_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'import_issues_import_id_fkey', TABLE = 'import_issues';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER import_issues_check_refs_insert AFTER INSERT ON import_issues
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION import_issues_check_refs();
CREATE TRIGGER import_issues_check_refs_update AFTER UPDATE ON import_issues
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION import_issues_check_refs();

-- +goose StatementBegin
CREATE FUNCTION imports_delete_issues() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM import_issues WHERE import_id = OLD.id;
    RETURN OLD;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER imports_delete_issues BEFORE DELETE ON imports
    FOR EACH ROW EXECUTE FUNCTION imports_delete_issues();

-- +goose StatementBegin
CREATE FUNCTION imports_key_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id AND EXISTS (SELECT 1 FROM import_issues WHERE import_id = OLD.id) THEN
        RAISE EXCEPTION 'update on table "imports" violates foreign key constraint "import_issues_import_id_fkey" on table "import_issues"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'import_issues_import_id_fkey', TABLE = 'import_issues';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER imports_key_referenced AFTER UPDATE OF id ON imports
    FOR EACH ROW EXECUTE FUNCTION imports_key_referenced();

-- +goose Down
DROP TRIGGER imports_key_referenced ON imports;
DROP FUNCTION imports_key_referenced();
DROP TRIGGER imports_delete_issues ON imports;
DROP FUNCTION imports_delete_issues();
DROP TRIGGER import_issues_check_refs_update ON import_issues;
DROP TRIGGER import_issues_check_refs_insert ON import_issues;
DROP FUNCTION import_issues_check_refs();
ALTER TABLE import_issues ADD CONSTRAINT import_issues_import_id_fkey FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE;
