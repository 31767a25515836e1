-- 041_audit_batches.sql — a programme run, its approval and its posting each write ONE
-- audit row (the call's own, object programme_run:N, written by the runtime) instead of
-- one per disbursement: the row's changes (captured by 040's triggers) list every
-- disbursement the step touched ({"t":"fund_disbursements","n":...,"ids":[...]}) and,
-- for approval and posting, the shared state transition, so AuditService/History of a
-- disbursement still finds it. Bodies as in 021_programmes.sql, less the per-disbursement
-- INSERT INTO audit_log.

CREATE OR REPLACE FUNCTION fund_programme_run(p_user bigint, p_scope ltree, p_programme bigint, p_period text,
                                   p_pay_period text, p_request text, OUT run_id bigint,
                                   OUT created integer, OUT existing integer)
LANGUAGE plpgsql AS $$
DECLARE
    p fund_programmes;
    ppath ltree;
    r fund_programme_runs;
    new_ids bigint[];
    u users;
BEGIN
    SELECT x.* INTO p FROM fund_programmes x JOIN org_units ou ON ou.id = x.org_unit_id
    WHERE x.id = p_programme AND (ou.path <@ p_scope OR p_scope <@ ou.path);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'programme % not found', p_programme USING ERRCODE = 'GS404';
    END IF;
    IF NOT p.active THEN
        RAISE EXCEPTION 'programme % is inactive', p.code USING ERRCODE = 'GS409';
    END IF;
    PERFORM fund_period_bounds(p_period);
    PERFORM fund_period_bounds(p_pay_period);
    IF p.kind <> 'assessment' AND p_period <> p_pay_period THEN
        RAISE EXCEPTION 'pay_period: a % run pays in its own month %', p.kind, p_period USING ERRCODE = 'GS400';
    END IF;
    SELECT path INTO ppath FROM org_units WHERE id = p.org_unit_id;
    SELECT * INTO u FROM users WHERE id = p_user;

    -- one run per programme and period; concurrent runs queue here
    INSERT INTO fund_programme_runs (programme_id, period, pay_period, created_by)
    VALUES (p.id, p_period, p_pay_period, p_user) ON CONFLICT (programme_id, period) DO NOTHING;
    SELECT * INTO r FROM fund_programme_runs x WHERE x.programme_id = p.id AND x.period = p_period FOR UPDATE;
    IF r.pay_period <> p_pay_period THEN
        RAISE EXCEPTION 'programme % was already run for % paying in %, not %', p.code, p_period,
            r.pay_period, p_pay_period USING ERRCODE = 'GS409';
    END IF;
    run_id := r.id;
    -- deductions are shared between programmes: runs that could consume them queue too
    PERFORM pg_advisory_xact_lock(hashtext('gridstock.fund_deductions'));

    IF p.kind IN ('grid_leader_subsidy', 'assessment') THEN
        -- a payee account for every grid leader in scope who has none yet
        WITH leaders AS (
            SELECT us.id, us.login, us.display_name, g.id grid
            FROM users us JOIN org_units g ON g.id = us.scope_id
            WHERE us.role = 'community_staff' AND us.active AND g.kind = 'grid'
              AND g.path <@ ppath AND g.path <@ p_scope
              AND NOT EXISTS (SELECT 1 FROM fund_payee_users pu WHERE pu.user_id = us.id)),
        acc AS (
            INSERT INTO fund_accounts (code, name, kind, org_unit_id)
            SELECT 'P-' || upper(l.login), l.display_name, 'payee', l.grid FROM leaders l
            ON CONFLICT (code) DO NOTHING
            RETURNING id, code)
        INSERT INTO fund_payee_users (account_id, user_id)
        SELECT acc.id, l.id FROM acc JOIN leaders l ON 'P-' || upper(l.login) = acc.code;
    END IF;

    WITH cand AS (
        SELECT pu.account_id payee, g.id grid, NULL::numeric score, p.amount gross
        FROM users us JOIN org_units g ON g.id = us.scope_id
        JOIN fund_payee_users pu ON pu.user_id = us.id
        WHERE p.kind = 'grid_leader_subsidy' AND us.role = 'community_staff' AND us.active
          AND g.kind = 'grid' AND g.path <@ ppath AND g.path <@ p_scope
        UNION ALL
        SELECT pu.account_id, g.id, s.score,
               coalesce((SELECT b.amount FROM fund_programme_bands b WHERE b.programme_id = p.id
                         AND b.min_score <= s.score ORDER BY b.min_score DESC LIMIT 1), 0)
        FROM users us JOIN org_units g ON g.id = us.scope_id
        JOIN fund_payee_users pu ON pu.user_id = us.id
        JOIN fund_assessment_scores s ON s.org_unit_id = g.id AND s.period = p_period
        WHERE p.kind = 'assessment' AND us.role = 'community_staff' AND us.active
          AND g.kind = 'grid' AND g.path <@ ppath AND g.path <@ p_scope
        UNION ALL
        SELECT m.payee_account_id, g.id, NULL, CASE WHEN m.amount > 0 THEN m.amount ELSE p.amount END
        FROM fund_programme_members m JOIN org_units g ON g.id = m.grid_id
        WHERE p.kind = 'volunteer_allowance' AND m.programme_id = p.id
          AND g.path <@ ppath AND g.path <@ p_scope),
    fresh AS (
        SELECT DISTINCT ON (c.payee) c.* FROM cand c
        WHERE NOT EXISTS (SELECT 1 FROM fund_programme_run_items i WHERE i.run_id = r.id AND i.payee_account_id = c.payee)
        ORDER BY c.payee, c.grid),
    -- penalties still outstanding: recorded minus taken off live disbursements
    owed AS (
        SELECT i.payee_account_id payee,
               (coalesce(sum(-i.gross) FILTER (WHERE i.gross < 0), 0)
               - coalesce(sum(i.deducted) FILTER (WHERE d.state IN ('prepared', 'approved', 'posted')), 0))::bigint amount
        FROM fund_programme_run_items i LEFT JOIN fund_disbursements d ON d.id = i.disbursement_id
        WHERE i.payee_account_id IN (SELECT payee FROM fresh)
        GROUP BY 1),
    calc AS (
        SELECT x.*, greatest(x.gross, 0) - x.deducted net,
               CASE WHEN greatest(x.gross, 0) - x.deducted > 0 THEN nextval('fund_disbursements_id_seq') END did,
               left(p.name || ' ' || p_period
                    || CASE WHEN x.score IS NOT NULL THEN ' (score ' || x.score || ')' ELSE '' END
                    || CASE WHEN x.deducted > 0 THEN ', less ' || fund_fmt(x.deducted) || ' earlier penalty'
                            ELSE '' END, 500) purpose
        FROM (SELECT f.*, fa.id fund, pa.code payee_code,
                     least(greatest(f.gross, 0), greatest(coalesce(o.amount, 0), 0)) deducted
              FROM fresh f JOIN fund_accounts fa ON fa.org_unit_id = f.grid AND fa.kind = 'grid_fund'
              JOIN fund_accounts pa ON pa.id = f.payee
              LEFT JOIN owed o ON o.payee = f.payee
              ORDER BY fa.id, f.payee) x),
    disb AS (
        INSERT INTO fund_disbursements (id, fund_account_id, payee_account_id, category, amount, purpose,
                                        period, external_key, preparer_id)
        SELECT c.did, c.fund, c.payee, p.category, c.net, c.purpose, p_pay_period, 'programme:' || p.code || '/' || p_period || '/' || c.payee_code, p_user
        FROM calc c WHERE c.did IS NOT NULL
        RETURNING id, payee_account_id, amount, fund_account_id, purpose),
    items AS (
        INSERT INTO fund_programme_run_items (run_id, payee_account_id, grid_id, score, gross, deducted, net,
                                              disbursement_id)
        SELECT r.id, c.payee, c.grid, c.score, c.gross, c.deducted, c.net, c.did
        FROM calc c
        RETURNING disbursement_id)
    SELECT (SELECT array_agg(id) FROM disb), (SELECT count(*) FROM items) INTO new_ids, created;

    SELECT count(*) INTO existing FROM fund_programme_run_items i JOIN org_units g ON g.id = i.grid_id
    WHERE i.run_id = r.id AND g.path <@ p_scope;
    existing := existing - created;
    IF new_ids IS NOT NULL THEN
        PERFORM fund_batch_precheck(new_ids, format('run of programme %s for %s', p.code, p_period));
    END IF;
END $$;

CREATE OR REPLACE FUNCTION fund_run_approve(p_user bigint, p_scope ltree, p_run bigint, p_count integer,
                                 p_total bigint, p_request text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r fund_programme_runs := fund_run_check(p_run, p_scope);
    ids bigint[] := fund_run_lock(p_run, p_scope, 'prepared');
    n integer;
    total bigint;
    mine integer;
    u users;
BEGIN
    SELECT count(*), coalesce(sum(amount), 0), count(*) FILTER (WHERE preparer_id = p_user)
    INTO n, total, mine FROM fund_disbursements WHERE id = ANY (ids);
    IF n = 0 THEN
        RAISE EXCEPTION 'run % has no prepared disbursements in your scope', p_run USING ERRCODE = 'GS409';
    END IF;
    IF mine > 0 THEN
        RAISE EXCEPTION '% of the % disbursements of run % were prepared by you: another finance approver must approve them',
            mine, n, p_run USING ERRCODE = 'GS403';
    END IF;
    IF (p_count IS NOT NULL AND p_count <> n) OR (p_total IS NOT NULL AND p_total <> total) THEN
        RAISE EXCEPTION 'run % changed since it was reviewed: % disbursements, % (reviewed: %, %)', p_run, n,
            fund_fmt(total), coalesce(p_count::text, '-'), coalesce(fund_fmt(p_total), '-') USING ERRCODE = 'GS409';
    END IF;
    PERFORM 1 FROM fund_accounts WHERE id IN (SELECT fund_account_id FROM fund_disbursements WHERE id = ANY (ids))
        ORDER BY id FOR UPDATE;
    PERFORM 1 FROM fund_budgets b WHERE b.id IN (
        SELECT b2.id FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id
        JOIN fund_budgets b2 ON b2.org_unit_id = f.org_unit_id AND b2.category = d.category
             AND b2.first_day <= (d.period || '-01')::date
             AND (d.period || '-01')::date < b2.end_day
        WHERE d.id = ANY (ids)) ORDER BY b.id FOR UPDATE;
    PERFORM fund_batch_precheck(ids, format('approval of run %s', p_run));
    UPDATE fund_accounts f SET pending = f.pending + s.total
    FROM (SELECT fund_account_id, sum(amount) total FROM fund_disbursements WHERE id = ANY (ids) GROUP BY 1) s
    WHERE f.id = s.fund_account_id;
    WITH ch AS (
        INSERT INTO fund_budget_charges (budget_id, disbursement_id, amount)
        SELECT b.id, d.id, d.amount
        FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id
        JOIN fund_budgets b ON b.org_unit_id = f.org_unit_id AND b.category = d.category
             AND b.first_day <= (d.period || '-01')::date
             AND (d.period || '-01')::date < b.end_day
        WHERE d.id = ANY (ids)
        RETURNING budget_id, amount)
    UPDATE fund_budgets b SET pending = b.pending + s.total
    FROM (SELECT budget_id, sum(amount) total FROM ch GROUP BY 1) s WHERE b.id = s.budget_id;
    UPDATE fund_disbursements d SET state = 'approved', approver_id = p_user, approved_at = now(),
        approved_hash = fund_disbursement_hash(d), updated_at = now()
    WHERE d.id = ANY (ids);
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION fund_run_post(p_user bigint, p_scope ltree, p_run bigint, p_request text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r fund_programme_runs := fund_run_check(p_run, p_scope);
    ids bigint[] := fund_run_lock(p_run, p_scope, 'approved');
    bad bigint;
    u users;
BEGIN
    IF cardinality(ids) = 0 THEN
        RAISE EXCEPTION 'run % has no approved disbursements in your scope', p_run USING ERRCODE = 'GS409';
    END IF;
    SELECT id INTO bad FROM fund_disbursements d WHERE d.id = ANY (ids)
        AND fund_disbursement_hash(d) <> d.approved_hash ORDER BY id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'disbursement % changed after it was approved: the approval is void', bad
            USING ERRCODE = 'GS409';
    END IF;
    PERFORM 1 FROM fund_accounts WHERE id IN (SELECT fund_account_id FROM fund_disbursements WHERE id = ANY (ids))
        ORDER BY id FOR UPDATE;
    PERFORM 1 FROM fund_budgets WHERE id IN (SELECT c.budget_id FROM fund_budget_charges c
                                             WHERE c.disbursement_id = ANY (ids)) ORDER BY id FOR UPDATE;
    PERFORM 1 FROM fund_accounts WHERE id IN (SELECT payee_account_id FROM fund_disbursements WHERE id = ANY (ids))
        ORDER BY id FOR UPDATE;
    UPDATE fund_accounts f SET pending = f.pending - s.total
    FROM (SELECT fund_account_id, sum(amount) total FROM fund_disbursements WHERE id = ANY (ids) GROUP BY 1) s
    WHERE f.id = s.fund_account_id;
    UPDATE fund_budgets b SET pending = b.pending - s.total, spent = b.spent + s.total
    FROM (SELECT budget_id, sum(amount) total FROM fund_budget_charges WHERE disbursement_id = ANY (ids)
          GROUP BY 1) s
    WHERE b.id = s.budget_id;
    WITH p AS (
        INSERT INTO fund_postings (kind, memo, disbursement_id, created_by, request_id)
        SELECT 'disbursement', d.purpose, d.id, p_user, coalesce(p_request, '')
        FROM fund_disbursements d WHERE d.id = ANY (ids) ORDER BY d.id
        RETURNING id, disbursement_id),
    e AS (
        INSERT INTO fund_entries (posting_id, account_id, amount)
        SELECT p.id, x.account_id, x.amount FROM p JOIN fund_disbursements d ON d.id = p.disbursement_id
        CROSS JOIN LATERAL (VALUES (d.fund_account_id, -d.amount), (d.payee_account_id, d.amount)) x(account_id, amount)
        ORDER BY x.account_id)
    UPDATE fund_disbursements d SET state = 'posted', posted_by = p_user, posted_at = now(), posting_id = p.id,
        updated_at = now()
    FROM p WHERE d.id = p.disbursement_id;
    RETURN cardinality(ids);
END $$;
