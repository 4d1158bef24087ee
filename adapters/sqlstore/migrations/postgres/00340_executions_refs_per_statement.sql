-- +goose Up
-- The references of executions are checked once per statement instead of
-- once per row (docs/benchmarks-imports.md, evening session 2026-12-01):
-- a foreign key runs a lookup (SELECT … FOR KEY SHARE) for every row
-- written, two per execution here, and an import writes 100,000 of them in
-- 20 statements; the two foreign-key triggers were ≈ 30 % of the database's
-- CPU in recording an import's executions. What the foreign keys
-- guaranteed stays guaranteed, by the triggers below:
--
--   * an execution names an account of its own user (user_id, account_id)
--     and an existing instrument: after each INSERT or UPDATE statement the
--     distinct (user_id, account_id) pairs and instrument IDs it wrote are
--     locked FOR KEY SHARE, as a foreign key locks them (so a concurrent
--     delete waits for this transaction, or has won and the check fails),
--     and the statement fails with foreign_key_violation (23503, the
--     constraint's old name) if any is missing;
--   * deleting an account deletes its executions (was ON DELETE CASCADE):
--     trading_accounts_delete_derived, which already deletes the account's
--     trades and legs, deletes them first;
--   * an account's key or an instrument that executions still reference
--     cannot be changed or deleted (was NO ACTION).
ALTER TABLE executions DROP CONSTRAINT executions_user_id_account_id_fkey;
ALTER TABLE executions DROP CONSTRAINT executions_instrument_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION executions_check_refs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    want bigint;
    got  bigint;
BEGIN
    SELECT count(*) INTO want FROM (SELECT DISTINCT user_id, account_id FROM new_rows) d;
    SELECT count(*) INTO got FROM (SELECT 1 FROM trading_accounts a
        WHERE (a.user_id, a.id) IN (SELECT user_id, account_id FROM new_rows) FOR KEY SHARE OF a) l;
    IF got <> want THEN
        RAISE EXCEPTION 'insert or update on table "executions" violates foreign key constraint "executions_user_id_account_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'executions_user_id_account_id_fkey', TABLE = 'executions';
    END IF;
    SELECT count(*) INTO want FROM (SELECT DISTINCT instrument_id FROM new_rows) d;
    SELECT count(*) INTO got FROM (SELECT 1 FROM instruments i
        WHERE i.id IN (SELECT instrument_id FROM new_rows) FOR KEY SHARE OF i) l;
    IF got <> want THEN
        RAISE EXCEPTION 'insert or update on table "executions" violates foreign key constraint "executions_instrument_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'executions_instrument_id_fkey', TABLE = 'executions';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER executions_check_refs_insert AFTER INSERT ON executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION executions_check_refs();
CREATE TRIGGER executions_check_refs_update AFTER UPDATE ON executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION executions_check_refs();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION trading_accounts_delete_derived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM trade_legs WHERE trade_id IN (SELECT id FROM trades WHERE account_id = OLD.id);
    DELETE FROM trades WHERE account_id = OLD.id;
    DELETE FROM executions WHERE user_id = OLD.user_id AND account_id = OLD.id;
    RETURN OLD;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION trading_accounts_key_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.user_id) IS DISTINCT FROM (OLD.id, OLD.user_id)
        AND EXISTS (SELECT 1 FROM executions WHERE user_id = OLD.user_id AND account_id = OLD.id) THEN
        RAISE EXCEPTION 'update on table "trading_accounts" violates foreign key constraint "executions_user_id_account_id_fkey" on table "executions"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'executions_user_id_account_id_fkey', TABLE = 'executions';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER trading_accounts_key_referenced AFTER UPDATE OF id, user_id ON trading_accounts
    FOR EACH ROW EXECUTE FUNCTION trading_accounts_key_referenced();

-- +goose StatementBegin
CREATE FUNCTION instruments_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.id IS DISTINCT FROM OLD.id)
        AND EXISTS (SELECT 1 FROM executions WHERE instrument_id = OLD.id) THEN
        RAISE EXCEPTION '% on table "instruments" violates foreign key constraint "executions_instrument_id_fkey" on table "executions"', lower(TG_OP)
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'executions_instrument_id_fkey', TABLE = 'executions';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER instruments_referenced AFTER DELETE OR UPDATE OF id ON instruments
    FOR EACH ROW EXECUTE FUNCTION instruments_referenced();

-- +goose Down
DROP TRIGGER instruments_referenced ON instruments;
DROP FUNCTION instruments_referenced();
DROP TRIGGER trading_accounts_key_referenced ON trading_accounts;
DROP FUNCTION trading_accounts_key_referenced();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION trading_accounts_delete_derived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM trade_legs WHERE trade_id IN (SELECT id FROM trades WHERE account_id = OLD.id);
    DELETE FROM trades WHERE account_id = OLD.id;
    RETURN OLD;
END
$$;
-- +goose StatementEnd
DROP TRIGGER executions_check_refs_update ON executions;
DROP TRIGGER executions_check_refs_insert ON executions;
DROP FUNCTION executions_check_refs();
ALTER TABLE executions ADD CONSTRAINT executions_instrument_id_fkey FOREIGN KEY (instrument_id) REFERENCES instruments (id);
ALTER TABLE executions ADD CONSTRAINT executions_user_id_account_id_fkey FOREIGN KEY (user_id, account_id)
    REFERENCES trading_accounts (user_id, id) ON DELETE CASCADE;
