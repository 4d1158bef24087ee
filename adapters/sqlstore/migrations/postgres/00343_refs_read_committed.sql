-- +goose Up
-- The reference triggers of 00340/00341 take the place of foreign keys,
-- but their queries read the transaction's snapshot, where a foreign key
-- uses a cross-check one: under REPEATABLE READ or SERIALIZABLE, deleting
-- an account could miss executions another transaction committed after
-- the snapshot was taken and leave them orphaned (a foreign key would fail
-- with a serialization error). The application only runs READ COMMITTED
-- (each statement of the trigger functions then sees every committed
-- row, and the FOR KEY SHARE locks make the delete wait for uncommitted
-- inserts), so a delete or key change of a referenced table under any
-- other level is refused with the serialization failure a foreign key
-- would raise; retrying under READ COMMITTED succeeds.

-- +goose StatementBegin
CREATE FUNCTION refs_require_read_committed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION '% on table "%" needs READ COMMITTED: its references to it are checked by triggers, not foreign keys', lower(TG_OP), TG_TABLE_NAME
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER trading_accounts_refs_read_committed BEFORE DELETE OR UPDATE OF id, user_id ON trading_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION refs_require_read_committed();
CREATE TRIGGER instruments_refs_read_committed BEFORE DELETE OR UPDATE OF id ON instruments
    FOR EACH STATEMENT EXECUTE FUNCTION refs_require_read_committed();
CREATE TRIGGER imports_refs_read_committed BEFORE DELETE OR UPDATE OF id ON imports
    FOR EACH STATEMENT EXECUTE FUNCTION refs_require_read_committed();

-- +goose Down
DROP TRIGGER imports_refs_read_committed ON imports;
DROP TRIGGER instruments_refs_read_committed ON instruments;
DROP TRIGGER trading_accounts_refs_read_committed ON trading_accounts;
DROP FUNCTION refs_require_read_committed();
