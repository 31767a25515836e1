-- 095_fund_write_path.sql — the fund ledger tables a disbursement or a programme run writes
-- are written only through their functions (issue 17): every function that INSERTs,
-- UPDATEs or DELETEs fund_programme_runs, fund_programme_run_items, fund_disbursements,
-- fund_budget_charges, fund_postings or fund_entries becomes SECURITY DEFINER (with a
-- fixed search_path), and sql/roles.sql takes INSERT, UPDATE and DELETE on those tables
-- from the application role. The write path is then the only path, and the foreign keys
-- that those functions already guarantee, set-based, go — they cost a per-row trigger
-- call each (about 80,000 per posted run of 10,000):
--
--   fund_programme_run_items.run_id, payee_account_id, grid_id, disbursement_id: written
--     only by fund_programme_run, with the run it has just inserted or locked, payees and
--     grids from joins with fund_accounts and org_units, and the disbursement ids it
--     inserts in the same statement. Runs, accounts and disbursements are never deleted
--     (their no-delete triggers); a grid cannot be deleted while its grid fund exists
--     (fund_accounts.org_unit_id keeps its foreign key, and an account never changes
--     org unit), and every item's grid has one (the run joins it).
--   fund_disbursements.fund_account_id, payee_account_id: every writer resolves them
--     through fund_account_use / fund_payee (prepare, update) or joins with
--     fund_accounts (programme runs).
--   fund_disbursements.posting_id: set only to the posting the same function has just
--     inserted (fund_disbursement_post, fund_run_post).
--   fund_postings.disbursement_id: fund_post is given a locked disbursement's id
--     (fund_disbursement_post) or an existing posting's (fund_reverse); fund_run_post
--     inserts postings from the disbursements it has locked.
--   fund_entries.posting_id, account_id: checked below for every INSERT, by any writer,
--     in the statement trigger that already applies the balances: one query per
--     statement instead of two foreign-key checks per entry.
--
-- The foreign keys to users (preparer, approver, poster, creator) and the reversal links
-- stay: the caller's id is the server's, not a row these functions have looked up.

-- ---------------------------------------------------------------- the only writers
ALTER FUNCTION fund_post(text, bigint[], bigint[], bigint, text, text, text, bigint, bigint)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_budgets_charge(fund_disbursements, boolean)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_disbursement_release(fund_disbursements)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_disbursement_prepare(bigint, ltree, bigint, bigint, text, bigint, text, text, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_disbursement_update(bigint, ltree, bigint, bigint, bigint, text, bigint, text, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_disbursement_approve(bigint, ltree, bigint, bytea)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_disbursement_reject(bigint, ltree, bigint, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_disbursement_post(bigint, ltree, text, bigint)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_disbursement_void(bigint, ltree, bigint, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_expire_disbursements(interval, timestamptz)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_reverse(bigint, ltree, text, bigint, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_set_budget(bigint, ltree, bigint, text, text, bigint)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_programme_run(bigint, ltree, bigint, text, text, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_run_approve(bigint, ltree, bigint, integer, bigint, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION fund_run_post(bigint, ltree, bigint, text)
    SECURITY DEFINER SET search_path = public, pg_temp;

-- ---------------------------------------------------------------- entries: one check per statement
-- As 025's, plus: every entry names an existing posting and an existing account (the
-- balance UPDATE must reach every account the entries name).
CREATE OR REPLACE FUNCTION fund_entries_apply_set() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    accounts integer;
    moved integer;
BEGIN
    UPDATE fund_accounts a SET balance = a.balance + s.total
    FROM (SELECT account_id, sum(amount)::bigint total FROM new_entries GROUP BY 1) s
    WHERE a.id = s.account_id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    SELECT count(DISTINCT account_id) INTO accounts FROM new_entries;
    IF moved <> accounts THEN
        SELECT e.posting_id, e.account_id INTO bad FROM new_entries e
        WHERE NOT EXISTS (SELECT 1 FROM fund_accounts a WHERE a.id = e.account_id)
        ORDER BY 1, 2 LIMIT 1;
        RAISE EXCEPTION 'posting %: account % not found', bad.posting_id, bad.account_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT p.posting_id, x.n, x.s, EXISTS (SELECT 1 FROM fund_postings fp WHERE fp.id = p.posting_id) known
    INTO bad
    FROM (SELECT DISTINCT posting_id FROM new_entries) p
    CROSS JOIN LATERAL (SELECT count(*) n, sum(e.amount) s FROM fund_entries e
                        WHERE e.posting_id = p.posting_id) x
    WHERE x.n < 2 OR x.s <> 0 OR NOT EXISTS (SELECT 1 FROM fund_postings fp WHERE fp.id = p.posting_id)
    ORDER BY 1
    LIMIT 1;
    IF FOUND AND NOT bad.known THEN
        RAISE EXCEPTION 'posting % not found', bad.posting_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'posting % does not balance (% entries, sum %)', bad.posting_id, bad.n, bad.s
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- ---------------------------------------------------------------- the foreign keys that go
ALTER TABLE fund_programme_run_items
    DROP CONSTRAINT fund_programme_run_items_run_id_fkey,
    DROP CONSTRAINT fund_programme_run_items_payee_account_id_fkey,
    DROP CONSTRAINT fund_programme_run_items_grid_id_fkey,
    DROP CONSTRAINT fund_programme_run_items_disbursement_id_fkey;
ALTER TABLE fund_disbursements
    DROP CONSTRAINT fund_disbursements_fund_account_id_fkey,
    DROP CONSTRAINT fund_disbursements_payee_account_id_fkey,
    DROP CONSTRAINT fund_disbursements_posting_id_fkey;
ALTER TABLE fund_postings DROP CONSTRAINT fund_postings_disbursement_fk;
ALTER TABLE fund_entries
    DROP CONSTRAINT fund_entries_posting_id_fkey,
    DROP CONSTRAINT fund_entries_account_id_fkey;
