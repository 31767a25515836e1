-- 025_fund_speed.sql — the fund write paths without per-row work the database can skip
-- (issue 17). Every rule stays, checked by the database as before:
--   * fund_programme_set_members (021): a member's payee is looked up by id or by code
--     with two joins the indexes serve; the one join on a CASE of both compared every
--     member with every account (5,000 members × 10,000 payees: seconds, and a
--     SetProgrammeMembers of 5,000 could meet its deadline on a busy machine).
--   * fund_accounts_check (020) ran as PL/pgSQL on every balance update (10,000 per
--     posted run); its triggers now carry WHEN conditions, so it runs only for an insert
--     of a grid fund or an update that changes code, kind or org unit — the only rows it
--     can refuse.
--   * fund_disbursements_guard (020) ran per row with a query for the transition and two
--     content hashes, 20,000 times per approved and posted run. The transition check is
--     now one statement-level query over the changed rows (same error); the per-row part
--     runs only for rows whose id, preparer, key or hashed content changes (WHEN), the
--     only rows it can refuse.
--   * fund_entries_apply_set (023): each touched posting's balance is checked through the
--     primary key instead of a plan that could scan the whole ledger (see below).

-- ---------------------------------------------------------------- programme members
CREATE OR REPLACE FUNCTION fund_programme_set_members(p_user bigint, p_scope ltree, p_programme bigint, p_payees bigint[],
                                           p_codes text[], p_grids text[], p_amounts bigint[], p_remove boolean)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    p fund_programmes := fund_programme_visible(p_programme, p_scope);
    ppath ltree := (SELECT path FROM org_units WHERE id = p.org_unit_id);
    bad record;
    cnt integer := cardinality(p_payees);
BEGIN
    IF p.kind <> 'volunteer_allowance' THEN
        RAISE EXCEPTION 'programme % is a %: only volunteer_allowance programmes have members', p.code, p.kind
            USING ERRCODE = 'GS400';
    END IF;
    IF cnt = 0 OR cnt > 5000 THEN
        RAISE EXCEPTION 'members: 1 to 5000 members, got %', cnt USING ERRCODE = 'GS400';
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS fund_members_in (n integer, payee bigint, grid bigint, amount bigint) ON COMMIT DROP;
    TRUNCATE fund_members_in;
    INSERT INTO fund_members_in
    SELECT x.n, coalesce(a.id, ac.id), g.id, x.amount
    FROM unnest(p_payees, p_codes, p_grids, p_amounts) WITH ORDINALITY x(pid, code, grid, amount, n)
    LEFT JOIN fund_accounts a ON x.pid > 0 AND a.id = x.pid
         AND a.kind = 'payee' AND fund_account_visible(a, p_scope)
    LEFT JOIN fund_accounts ac ON NOT coalesce(x.pid > 0, false) AND ac.code = x.code
         AND ac.kind = 'payee' AND fund_account_visible(ac, p_scope)
    LEFT JOIN org_units g ON g.code = x.grid AND g.kind = 'grid' AND g.path <@ p_scope AND g.path <@ ppath;
    SELECT * INTO bad FROM fund_members_in WHERE payee IS NULL ORDER BY n LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'members[%]: payee account % not found', bad.n - 1,
            coalesce(nullif(p_payees[bad.n], 0)::text, '"' || left(p_codes[bad.n], 80) || '"') USING ERRCODE = 'GS404';
    END IF;
    SELECT payee, min(n) n INTO bad FROM fund_members_in GROUP BY payee HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'members[%]: payee appears twice', bad.n - 1 USING ERRCODE = 'GS400';
    END IF;
    IF p_remove THEN
        DELETE FROM fund_programme_members m USING fund_members_in i
        WHERE m.programme_id = p.id AND m.payee_account_id = i.payee;
        RETURN cnt;
    END IF;
    SELECT * INTO bad FROM fund_members_in WHERE grid IS NULL ORDER BY n LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'members[%]: grid "%" not found in the programme''s area', bad.n - 1,
            left(p_grids[bad.n], 64) USING ERRCODE = 'GS404';
    END IF;
    SELECT * INTO bad FROM fund_members_in WHERE amount < 0 ORDER BY n LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'members[%]: amount must not be negative', bad.n - 1 USING ERRCODE = 'GS400';
    END IF;
    INSERT INTO fund_programme_members (programme_id, payee_account_id, grid_id, amount, added_by)
    SELECT p.id, payee, grid, amount, p_user FROM fund_members_in ORDER BY payee
    ON CONFLICT (programme_id, payee_account_id) DO UPDATE SET grid_id = excluded.grid_id,
        amount = excluded.amount, added_by = excluded.added_by, added_at = now();
    RETURN cnt;
END $$;


-- ---------------------------------------------------------------- account check
DROP TRIGGER fund_accounts_check ON fund_accounts;
CREATE TRIGGER fund_accounts_check_insert BEFORE INSERT ON fund_accounts
    FOR EACH ROW WHEN (NEW.kind = 'grid_fund') EXECUTE FUNCTION fund_accounts_check();
CREATE TRIGGER fund_accounts_check_update BEFORE UPDATE ON fund_accounts
    FOR EACH ROW WHEN (NEW.kind <> OLD.kind OR NEW.org_unit_id IS DISTINCT FROM OLD.org_unit_id
                       OR NEW.code <> OLD.code)
    EXECUTE FUNCTION fund_accounts_check();

-- ---------------------------------------------------------------- disbursement guard
-- Per row: id, preparer and key never change; the hashed content only while prepared.
CREATE OR REPLACE FUNCTION fund_disbursements_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.preparer_id <> OLD.preparer_id OR NEW.prepared_at <> OLD.prepared_at
       OR NEW.external_key IS DISTINCT FROM OLD.external_key THEN
        RAISE EXCEPTION 'disbursement %: id, preparer and key never change', OLD.id USING ERRCODE = 'GS409';
    END IF;
    IF fund_disbursement_hash(NEW) <> fund_disbursement_hash(OLD) AND NEW.state <> 'prepared' THEN
        RAISE EXCEPTION 'disbursement % is %: only a prepared disbursement can be edited (an edit voids the approval)',
            OLD.id, OLD.state USING ERRCODE = 'GS409';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER fund_disbursements_guard ON fund_disbursements;
-- The WHEN lists every column fund_disbursement_hash reads, and the never-changing ones.
CREATE TRIGGER fund_disbursements_guard BEFORE UPDATE ON fund_disbursements
    FOR EACH ROW WHEN (NEW.id <> OLD.id OR NEW.preparer_id <> OLD.preparer_id
                       OR NEW.prepared_at <> OLD.prepared_at
                       OR NEW.external_key IS DISTINCT FROM OLD.external_key
                       OR (NEW.fund_account_id, NEW.payee_account_id, NEW.category, NEW.amount,
                           NEW.period, NEW.purpose)
                          IS DISTINCT FROM (OLD.fund_account_id, OLD.payee_account_id, OLD.category,
                                            OLD.amount, OLD.period, OLD.purpose))
    EXECUTE FUNCTION fund_disbursements_guard();

-- Per statement: every change of state is in fund_disbursement_transitions (rows keep their
-- id: the guard above refuses any change of it before this runs).
CREATE FUNCTION fund_disbursements_transitions_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT o.id, o.state AS from_state, n.state AS to_state INTO bad
      FROM fund_old_rows o JOIN fund_new_rows n ON n.id = o.id
     WHERE n.state <> o.state
       AND NOT EXISTS (SELECT 1 FROM fund_disbursement_transitions t
                        WHERE t.from_state = o.state AND t.to_state = n.state)
     ORDER BY o.id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'disbursement % cannot go from % to %', bad.id, bad.from_state, bad.to_state
            USING ERRCODE = 'GS409';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER fund_disbursements_transitions AFTER UPDATE ON fund_disbursements
    REFERENCING OLD TABLE AS fund_old_rows NEW TABLE AS fund_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fund_disbursements_transitions_check();

-- ---------------------------------------------------------------- posting balance check
-- fund_entries_apply_set (023): the balance check of the postings an INSERT touched read
-- them with `posting_id IN (SELECT DISTINCT posting_id FROM new_entries)`; a transition
-- table has no statistics, and over a large ledger the planner scanned every entry (6.5 s
-- per posted run of 10,000 over a ledger of 1 M postings). Each touched posting's entries
-- are now summed through the primary key (posting_id, account_id): the same check, the
-- same error, the same balance update.
CREATE OR REPLACE FUNCTION fund_entries_apply_set() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    UPDATE fund_accounts a SET balance = a.balance + s.total
    FROM (SELECT account_id, sum(amount)::bigint total FROM new_entries GROUP BY 1) s
    WHERE a.id = s.account_id;
    SELECT p.posting_id, x.n, x.s INTO bad
    FROM (SELECT DISTINCT posting_id FROM new_entries) p
    CROSS JOIN LATERAL (SELECT count(*) n, sum(e.amount) s FROM fund_entries e
                        WHERE e.posting_id = p.posting_id) x
    WHERE x.n < 2 OR x.s <> 0
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting % does not balance (% entries, sum %)', bad.posting_id, bad.n, bad.s
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
