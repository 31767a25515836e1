-- 021_programmes.sql — subsidy programmes paid out of the grid work funds (020_funds.sql):
-- programmes and their rules (a fixed amount per payee, or score bands for the grid
-- management assessment), enrolled members, assessment scores per grid and period,
-- per-person payee accounts, and runs. A run generates its disbursements in one statement
-- (fund_programme_run), and a run's batch is approved and posted set-wise
-- (fund_run_approve, fund_run_post) under the same rules and locks as one disbursement:
-- four eyes per disbursement, reservation on fund and budgets, content hash, audit rows.
-- Idempotence: a run is unique per (programme, period), its items per payee, and each
-- disbursement carries external_key 'programme:<code>/<period>/<payee code>' (UNIQUE).

-- ---------------------------------------------------------------- programmes
CREATE TABLE fund_programmes (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9._-]{1,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('grid_leader_subsidy', 'volunteer_allowance', 'assessment')),
    category    text NOT NULL CHECK (category IN ('subsidies', 'rewards', 'activities',
                    'material_purchases', 'emergency')),
    amount      bigint NOT NULL DEFAULT 0 CHECK (amount >= 0),  -- fen per payee
    org_unit_id bigint NOT NULL REFERENCES org_units(id),       -- the subtree covered
    active      boolean NOT NULL DEFAULT true,
    created_by  bigint NOT NULL REFERENCES users(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fund_programmes_amount CHECK ((kind = 'assessment') = (amount = 0))
);

-- Assessment rule: the band with the greatest min_score <= score gives the amount
-- (negative: a penalty, recorded as a deduction).
CREATE TABLE fund_programme_bands (
    programme_id bigint NOT NULL REFERENCES fund_programmes(id),
    min_score    numeric(5,2) NOT NULL CHECK (min_score BETWEEN 0 AND 100),
    amount       bigint NOT NULL CHECK (amount BETWEEN -100000000 AND 100000000),
    PRIMARY KEY (programme_id, min_score)
);

-- Volunteer allowance members: who is paid from which grid's fund (amount 0: the
-- programme's amount).
CREATE TABLE fund_programme_members (
    programme_id     bigint NOT NULL REFERENCES fund_programmes(id),
    payee_account_id bigint NOT NULL REFERENCES fund_accounts(id),
    grid_id          bigint NOT NULL REFERENCES org_units(id),
    amount           bigint NOT NULL DEFAULT 0 CHECK (amount >= 0),
    added_by         bigint NOT NULL REFERENCES users(id),
    added_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, payee_account_id)
);

-- A person's payee account (grid leaders: "P-<LOGIN>", opened by the first run paying them).
CREATE TABLE fund_payee_users (
    account_id bigint PRIMARY KEY REFERENCES fund_accounts(id),
    user_id    bigint NOT NULL UNIQUE REFERENCES users(id)
);

-- A programme the caller can see (its subtree and the caller's overlap); GS404 otherwise.
CREATE FUNCTION fund_programme_visible(p_id bigint, p_scope ltree) RETURNS fund_programmes
LANGUAGE plpgsql STABLE AS $$
DECLARE
    p fund_programmes;
BEGIN
    SELECT x.* INTO p FROM fund_programmes x JOIN org_units ou ON ou.id = x.org_unit_id
    WHERE x.id = p_id AND (ou.path <@ p_scope OR p_scope <@ ou.path);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'programme % not found', p_id USING ERRCODE = 'GS404';
    END IF;
    RETURN p;
END $$;

-- Enrols, changes or (p_remove) removes members of a volunteer_allowance programme, all or
-- none. Member i: payee account p_payees[i], or by code p_codes[i] when 0; paid from the
-- fund of grid p_grids[i] (in the caller's scope and the programme's subtree).
CREATE FUNCTION fund_programme_set_members(p_user bigint, p_scope ltree, p_programme bigint, p_payees bigint[],
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
    SELECT x.n, a.id, g.id, x.amount
    FROM unnest(p_payees, p_codes, p_grids, p_amounts) WITH ORDINALITY x(pid, code, grid, amount, n)
    LEFT JOIN fund_accounts a ON (CASE WHEN x.pid > 0 THEN a.id = x.pid ELSE a.code = x.code END)
         AND a.kind = 'payee' AND fund_account_visible(a, p_scope)
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

-- ---------------------------------------------------------------- assessment scores
CREATE TABLE fund_assessment_scores (
    org_unit_id bigint NOT NULL REFERENCES org_units(id),
    period      text NOT NULL CHECK (period ~ '^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$'),
    score       numeric(5,2) NOT NULL CHECK (score BETWEEN 0 AND 100),
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    entered_by  bigint NOT NULL REFERENCES users(id),
    entered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_unit_id, period)
);
CREATE INDEX fund_assessment_scores_period ON fund_assessment_scores (period);

-- Enters or replaces scores (all or none): p_grids are grid codes in the caller's scope.
-- Returns (new, replaced).
CREATE FUNCTION fund_enter_scores(p_user bigint, p_scope ltree, p_period text, p_grids text[],
                                  p_scores numeric[], p_notes text[], OUT entered integer,
                                  OUT replaced integer) LANGUAGE plpgsql AS $$
DECLARE
    bad text;
BEGIN
    PERFORM fund_period_bounds(p_period);
    SELECT x.g INTO bad FROM unnest(p_grids) WITH ORDINALITY x(g, n)
    LEFT JOIN org_units ou ON ou.code = x.g AND ou.kind = 'grid' AND ou.path <@ p_scope
    WHERE ou.id IS NULL ORDER BY x.n LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'scores: grid % not found', left(bad, 64) USING ERRCODE = 'GS404';
    END IF;
    SELECT x.g INTO bad FROM unnest(p_grids) x(g) GROUP BY 1 HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'scores: grid % appears twice', bad USING ERRCODE = 'GS400';
    END IF;
    SELECT count(*) FILTER (WHERE s.org_unit_id IS NULL), count(*) FILTER (WHERE s.org_unit_id IS NOT NULL)
    INTO entered, replaced
    FROM unnest(p_grids) x(g) JOIN org_units ou ON ou.code = x.g
    LEFT JOIN fund_assessment_scores s ON s.org_unit_id = ou.id AND s.period = p_period;
    INSERT INTO fund_assessment_scores (org_unit_id, period, score, note, entered_by)
    SELECT ou.id, p_period, x.s, coalesce(x.note, ''), p_user
    FROM unnest(p_grids, p_scores, p_notes) x(g, s, note) JOIN org_units ou ON ou.code = x.g
    ON CONFLICT (org_unit_id, period) DO UPDATE SET score = excluded.score, note = excluded.note,
        entered_by = excluded.entered_by, entered_at = now();
END $$;

-- ---------------------------------------------------------------- runs
CREATE TABLE fund_programme_runs (
    id           bigserial PRIMARY KEY,
    programme_id bigint NOT NULL REFERENCES fund_programmes(id),
    period       text NOT NULL CHECK (period ~ '^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$'),
    pay_period   text NOT NULL CHECK (pay_period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    created_by   bigint NOT NULL REFERENCES users(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (programme_id, period)
);

-- One row per payee of a run, never changed. gross: the rule's amount (negative: a
-- penalty, recorded here as the deduction); deducted: earlier penalties taken off it;
-- net = max(gross, 0) - deducted is what the disbursement pays (none when 0).
CREATE TABLE fund_programme_run_items (
    run_id           bigint NOT NULL REFERENCES fund_programme_runs(id),
    payee_account_id bigint NOT NULL REFERENCES fund_accounts(id),
    grid_id          bigint NOT NULL REFERENCES org_units(id),
    score            numeric(5,2),
    gross            bigint NOT NULL,
    deducted         bigint NOT NULL DEFAULT 0 CHECK (deducted >= 0),
    net              bigint NOT NULL CHECK (net >= 0),
    disbursement_id  bigint UNIQUE REFERENCES fund_disbursements(id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, payee_account_id),
    CONSTRAINT fund_run_items_net CHECK (net = greatest(gross, 0) - deducted),
    CONSTRAINT fund_run_items_paid CHECK ((net > 0) = (disbursement_id IS NOT NULL))
);
CREATE INDEX fund_run_items_payee ON fund_programme_run_items (payee_account_id);
CREATE TRIGGER fund_run_items_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fund_programme_run_items
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();
CREATE TRIGGER fund_programme_runs_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fund_programme_runs
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- The first p_max problems of a list, and how many more: "a; b; c (and 4 more)".
CREATE FUNCTION fund_problem_list(p text[], p_max integer DEFAULT 5) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT array_to_string(p[1:p_max], '; ')
        || CASE WHEN cardinality(p) > p_max THEN format(' (and %s more)', cardinality(p) - p_max) ELSE '' END
$$;

-- Checks that the grid funds and budgets can carry the disbursements p_ids on top of what
-- they already hold or reserve (p_what names the batch). GS409 naming the first shortfalls.
CREATE FUNCTION fund_batch_precheck(p_ids bigint[], p_what text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    problems text[];
BEGIN
    SELECT array_agg(format('%s would be overdrawn by %s (available %s, batch %s)', fund_account_label(f),
                            fund_fmt(s.total - (f.balance - f.pending)), fund_fmt(f.balance - f.pending),
                            fund_fmt(s.total)) ORDER BY f.id)
    INTO problems
    FROM (SELECT fund_account_id, sum(amount)::bigint total FROM fund_disbursements
          WHERE id = ANY (p_ids) GROUP BY 1) s
    JOIN fund_accounts f ON f.id = s.fund_account_id
    WHERE f.balance - f.pending < s.total;
    IF problems IS NULL THEN
        SELECT array_agg(format('%s would be exceeded by %s (budget %s, spent %s, reserved %s, batch %s)',
                                fund_budget_label(b), fund_fmt(b.spent + b.pending + s.total - b.amount),
                                fund_fmt(b.amount), fund_fmt(b.spent), fund_fmt(b.pending), fund_fmt(s.total))
                         ORDER BY b.id)
        INTO problems
        FROM (SELECT b.id, sum(d.amount)::bigint total
              FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id
              JOIN fund_budgets b ON b.org_unit_id = f.org_unit_id AND b.category = d.category
                   AND b.first_day <= (d.period || '-01')::date
                   AND (d.period || '-01')::date < b.end_day
              WHERE d.id = ANY (p_ids) GROUP BY 1) s
        JOIN fund_budgets b ON b.id = s.id
        WHERE b.spent + b.pending + s.total > b.amount;
    END IF;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION '% cannot go ahead: %', p_what, fund_problem_list(problems) USING ERRCODE = 'GS409';
    END IF;
END $$;

-- Runs programme p_programme for p_period (the disbursements' month p_pay_period) over the
-- grids in the caller's scope: opens payee accounts for grid leaders who have none,
-- computes every new payee's amount, prepares their disbursements and writes the items,
-- all in one statement; then checks funds and budgets for the new batch. Repeating a run
-- adds only payees it does not have. Returns the run id and how many payees this call
-- added and the run already had (in the caller's scope).
CREATE FUNCTION fund_programme_run(p_user bigint, p_scope ltree, p_programme bigint, p_period text,
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
        RETURNING disbursement_id),
    aud AS (
        INSERT INTO audit_log (user_id, login, role, method, object, request_id, summary)
        SELECT p_user, u.login, u.role, 'ProgrammeService/RunProgramme', 'disbursement:' || c.did,
               coalesce(p_request, ''),
               format('prepared %s fen from GF-%s to %s (%s, %s): %s', c.net, g.code, c.payee_code,
                      p.category, p_pay_period, c.purpose)
        FROM calc c JOIN org_units g ON g.id = c.grid WHERE c.did IS NOT NULL)
    SELECT (SELECT array_agg(id) FROM disb), (SELECT count(*) FROM items) INTO new_ids, created;

    SELECT count(*) INTO existing FROM fund_programme_run_items i JOIN org_units g ON g.id = i.grid_id
    WHERE i.run_id = r.id AND g.path <@ p_scope;
    existing := existing - created;
    IF new_ids IS NOT NULL THEN
        PERFORM fund_batch_precheck(new_ids, format('run of programme %s for %s', p.code, p_period));
    END IF;
END $$;

-- The run's disbursements in the caller's scope in state p_state, locked in id order.
CREATE FUNCTION fund_run_lock(p_run bigint, p_scope ltree, p_state text) RETURNS bigint[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM (
        SELECT d.id FROM fund_programme_run_items i JOIN fund_disbursements d ON d.id = i.disbursement_id
        JOIN org_units g ON g.id = i.grid_id
        WHERE i.run_id = p_run AND g.path <@ p_scope AND d.state = p_state
        ORDER BY d.id FOR UPDATE OF d) x
$$;

CREATE FUNCTION fund_run_check(p_run bigint, p_scope ltree) RETURNS fund_programme_runs
LANGUAGE plpgsql AS $$
DECLARE
    r fund_programme_runs;
BEGIN
    SELECT x.* INTO r FROM fund_programme_runs x JOIN fund_programmes p ON p.id = x.programme_id
    JOIN org_units ou ON ou.id = p.org_unit_id
    WHERE x.id = p_run AND (ou.path <@ p_scope OR p_scope <@ ou.path);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % not found', p_run USING ERRCODE = 'GS404';
    END IF;
    RETURN r;
END $$;

-- Approves every prepared disbursement of run p_run in the caller's scope, as
-- fund_disbursement_approve does for one (same lock order: disbursements, grid funds,
-- budgets). p_count / p_total: what the approver reviewed (NULL: not checked). Returns
-- how many were approved.
CREATE FUNCTION fund_run_approve(p_user bigint, p_scope ltree, p_run bigint, p_count integer,
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
    SELECT * INTO u FROM users WHERE id = p_user;
    INSERT INTO audit_log (user_id, login, role, method, object, request_id, summary)
    SELECT p_user, u.login, u.role, 'ProgrammeService/ApproveRun', 'disbursement:' || d.id, coalesce(p_request, ''),
           format('approved %s fen from %s to %s prepared by %s (run %s); hash %s', d.amount, f.code, pa.code,
                  up.login, p_run, left(encode(d.approved_hash, 'hex'), 16))
    FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id
    JOIN fund_accounts pa ON pa.id = d.payee_account_id JOIN users up ON up.id = d.preparer_id
    WHERE d.id = ANY (ids);
    RETURN n;
END $$;

-- Posts every approved disbursement of run p_run in the caller's scope: one posting each
-- (fund → payee), reservations become spending. Locks disbursements, grid funds, budgets,
-- then payees, each in id order. Returns how many were posted.
CREATE FUNCTION fund_run_post(p_user bigint, p_scope ltree, p_run bigint, p_request text)
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
    SELECT * INTO u FROM users WHERE id = p_user;
    INSERT INTO audit_log (user_id, login, role, method, object, request_id, summary)
    SELECT p_user, u.login, u.role, 'ProgrammeService/PostRun', 'disbursement:' || d.id, coalesce(p_request, ''),
           format('posted %s fen from %s to %s as posting %s (run %s)', d.amount, f.code, pa.code, d.posting_id, p_run)
    FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id
    JOIN fund_accounts pa ON pa.id = d.payee_account_id
    WHERE d.id = ANY (ids);
    RETURN cardinality(ids);
END $$;

-- The programme that generated disbursement d, if any (for the register).
CREATE INDEX fund_programme_runs_programme ON fund_programme_runs (programme_id);
