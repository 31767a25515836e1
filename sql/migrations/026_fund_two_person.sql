-- 026_fund_two_person.sql — every movement of money by two people (issue 14). Deposits,
-- allocations (one grid or many) and reversals are fund movements: prepared by one finance
-- user, approved by another (who reserves the money the movement takes out of a source or
-- grid fund), then posted (by someone other than the preparer), exactly as disbursements
-- are. Maker ≠ checker is a CHECK here; approved movements not posted in time expire and
-- release their reservation. The single-person paths of 020 (fund_deposit, fund_allocate,
-- fund_reverse) stay as the posting step; the server no longer calls them directly.

-- The movement state machine (fund_movements.c mirrors it):
--   prepared → approved | rejected | voided;  approved → posted | voided | expired
CREATE TABLE fund_movement_transitions (
    from_state text NOT NULL,
    to_state   text NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
INSERT INTO fund_movement_transitions VALUES
    ('prepared', 'approved'), ('prepared', 'rejected'), ('prepared', 'voided'),
    ('approved', 'posted'), ('approved', 'voided'), ('approved', 'expired');

CREATE TABLE fund_movements (
    id                  bigserial PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('deposit', 'allocation', 'reversal')),
    state               text NOT NULL DEFAULT 'prepared'
                            CHECK (state IN ('prepared', 'approved', 'posted', 'rejected', 'voided', 'expired')),
    source_account_id   bigint REFERENCES fund_accounts(id),   -- deposit, allocation
    reverses_posting_id bigint REFERENCES fund_postings(id),   -- reversal
    total               bigint NOT NULL CHECK (total > 0),
    memo                text NOT NULL DEFAULT '' CHECK (length(memo) <= 500),  -- reversal: the reason
    preparer_id         bigint NOT NULL REFERENCES users(id),
    prepared_at         timestamptz NOT NULL DEFAULT now(),
    request_id          text NOT NULL DEFAULT '',
    approver_id         bigint REFERENCES users(id),
    approved_at         timestamptz,
    rejected_by         bigint REFERENCES users(id),
    rejected_at         timestamptz,
    reject_reason       text CHECK (length(reject_reason) <= 500),
    voided_by           bigint REFERENCES users(id),  -- NULL with voided_at: expired
    voided_at           timestamptz,
    void_reason         text CHECK (length(void_reason) <= 500),
    posted_by           bigint REFERENCES users(id),
    posted_at           timestamptz,
    batch               text NOT NULL DEFAULT '',
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fund_movements_approver_not_preparer CHECK (approver_id <> preparer_id),
    CONSTRAINT fund_movements_rejecter_not_preparer CHECK (rejected_by <> preparer_id),
    CONSTRAINT fund_movements_poster_not_preparer CHECK (posted_by <> preparer_id),
    CONSTRAINT fund_movements_target CHECK ((kind = 'reversal') = (reverses_posting_id IS NOT NULL)
                                            AND (kind = 'reversal') = (source_account_id IS NULL)),
    CONSTRAINT fund_movements_approval CHECK ((state IN ('approved', 'posted', 'expired')) <= (approver_id IS NOT NULL)
                                              AND (state <> 'prepared' OR approver_id IS NULL)),
    CONSTRAINT fund_movements_rejection CHECK ((state = 'rejected') = (rejected_by IS NOT NULL)),
    CONSTRAINT fund_movements_posting CHECK ((state = 'posted') = (posted_by IS NOT NULL)),
    CONSTRAINT fund_movements_void CHECK ((state IN ('voided', 'expired')) = (voided_at IS NOT NULL))
);
CREATE INDEX fund_movements_approved ON fund_movements (approved_at) WHERE state = 'approved';
-- a posting is reversed by at most one movement that is not dead
CREATE UNIQUE INDEX fund_movements_one_reversal ON fund_movements (reverses_posting_id)
    WHERE state IN ('prepared', 'approved', 'posted');
CREATE TRIGGER fund_movements_no_delete BEFORE DELETE OR TRUNCATE ON fund_movements
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- What a deposit puts into its source, or an allocation into each grid fund; the posting
-- that moved it once posted.
CREATE TABLE fund_movement_items (
    movement_id bigint NOT NULL REFERENCES fund_movements(id),
    line_no     integer NOT NULL CHECK (line_no >= 0),
    account_id  bigint NOT NULL REFERENCES fund_accounts(id),
    amount      bigint NOT NULL CHECK (amount > 0),
    posting_id  bigint UNIQUE REFERENCES fund_postings(id),
    PRIMARY KEY (movement_id, line_no),
    UNIQUE (movement_id, account_id)
);
CREATE TRIGGER fund_movement_items_no_delete BEFORE DELETE OR TRUNCATE ON fund_movement_items
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- The state machine and what never changes, whoever writes.
CREATE FUNCTION fund_movements_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.kind <> OLD.kind OR NEW.source_account_id IS DISTINCT FROM OLD.source_account_id
       OR NEW.reverses_posting_id IS DISTINCT FROM OLD.reverses_posting_id OR NEW.total <> OLD.total
       OR NEW.memo <> OLD.memo OR NEW.preparer_id <> OLD.preparer_id OR NEW.prepared_at <> OLD.prepared_at THEN
        RAISE EXCEPTION 'fund movement %: only its state and who moved it change', OLD.id USING ERRCODE = 'GS409';
    END IF;
    IF NEW.state <> OLD.state AND NOT EXISTS (SELECT 1 FROM fund_movement_transitions
                                              WHERE from_state = OLD.state AND to_state = NEW.state) THEN
        RAISE EXCEPTION 'fund movement % is %: it cannot become %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'GS409';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER fund_movements_guard BEFORE UPDATE ON fund_movements
    FOR EACH ROW EXECUTE FUNCTION fund_movements_guard();

-- Is movement m within scope p_scope? Its source and items (deposit, allocation), or every
-- source and grid fund of the posting it reverses.
CREATE FUNCTION fund_movement_visible(m fund_movements, p_scope ltree) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN m.kind = 'reversal' THEN
        NOT EXISTS (SELECT 1 FROM fund_entries e JOIN fund_accounts a ON a.id = e.account_id
                      LEFT JOIN org_units ou ON ou.id = a.org_unit_id
                     WHERE e.posting_id = m.reverses_posting_id AND a.kind IN ('source', 'grid_fund')
                       AND NOT coalesce(ou.path <@ p_scope, false))
    ELSE
        NOT EXISTS (SELECT 1 FROM fund_accounts a LEFT JOIN org_units ou ON ou.id = a.org_unit_id
                     WHERE (a.id = m.source_account_id
                            OR a.id IN (SELECT account_id FROM fund_movement_items WHERE movement_id = m.id))
                       AND NOT coalesce(ou.path <@ p_scope, false))
    END
$$;

-- What posting m takes out of sources and grid funds (reserved while it is approved).
CREATE FUNCTION fund_movement_debits(m fund_movements)
RETURNS TABLE (account_id bigint, amount bigint) LANGUAGE sql STABLE AS $$
    SELECT m.source_account_id, m.total WHERE m.kind = 'allocation'
    UNION ALL
    SELECT e.account_id, e.amount FROM fund_entries e JOIN fund_accounts a ON a.id = e.account_id
     WHERE m.kind = 'reversal' AND e.posting_id = m.reverses_posting_id AND e.amount > 0
       AND a.kind IN ('source', 'grid_fund')
$$;

-- The movement p_id within scope, locked; GS404 otherwise (out of scope looks like unknown).
CREATE FUNCTION fund_movement_lock(p_id bigint, p_scope ltree) RETURNS fund_movements
LANGUAGE plpgsql AS $$
DECLARE
    m fund_movements;
BEGIN
    SELECT * INTO m FROM fund_movements WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR NOT fund_movement_visible(m, p_scope) THEN
        RAISE EXCEPTION 'fund movement % not found', p_id USING ERRCODE = 'GS404';
    END IF;
    RETURN m;
END $$;

-- Reserves (p_sign 1) or releases (-1) what m takes out, accounts locked in id order.
CREATE FUNCTION fund_movement_reserve(m fund_movements, p_sign integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    FOR d IN SELECT x.account_id, sum(x.amount)::bigint AS amount, a.code, a.kind, a.balance, a.pending
               FROM fund_movement_debits(m) x JOIN fund_accounts a ON a.id = x.account_id
              GROUP BY x.account_id, a.code, a.kind, a.balance, a.pending ORDER BY x.account_id
    LOOP
        PERFORM 1 FROM fund_accounts WHERE id = d.account_id FOR UPDATE;
        IF p_sign > 0 AND (SELECT balance - pending FROM fund_accounts WHERE id = d.account_id) < d.amount THEN
            RAISE EXCEPTION '% has % available, the movement takes %',
                (SELECT fund_account_label(f) FROM fund_accounts f WHERE f.id = d.account_id),
                fund_fmt((SELECT balance - pending FROM fund_accounts WHERE id = d.account_id)), fund_fmt(d.amount)
                USING ERRCODE = 'GS409';
        END IF;
        UPDATE fund_accounts SET pending = pending + p_sign * d.amount WHERE id = d.account_id;
    END LOOP;
END $$;

-- ---------------------------------------------------------------- prepare
CREATE FUNCTION fund_movement_prepare_deposit(p_user bigint, p_scope ltree, p_request text, p_source bigint,
                                              p_amount bigint, p_memo text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s fund_accounts := fund_account_use(p_source, 'source', p_scope);
    mid bigint;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'amount: must be positive' USING ERRCODE = 'GS400';
    END IF;
    INSERT INTO fund_movements (kind, source_account_id, total, memo, preparer_id, request_id)
    VALUES ('deposit', s.id, p_amount, coalesce(p_memo, ''), p_user, coalesce(p_request, ''))
    RETURNING fund_movements.id INTO mid;
    INSERT INTO fund_movement_items (movement_id, line_no, account_id, amount) VALUES (mid, 0, s.id, p_amount);
    RETURN mid;
END $$;

-- p_funds[i] a grid fund id, or 0 with p_grids[i] a grid code (as fund_allocate).
CREATE FUNCTION fund_movement_prepare_allocation(p_user bigint, p_scope ltree, p_request text, p_source bigint,
                                                 p_funds bigint[], p_grids text[], p_amounts bigint[],
                                                 p_memo text, p_batch text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s fund_accounts := fund_account_use(p_source, 'source', p_scope);
    ids bigint[] := '{}';
    fid bigint;
    total numeric := 0;
    what text;
    mid bigint;
BEGIN
    IF coalesce(cardinality(p_funds), 0) = 0 THEN
        RAISE EXCEPTION 'items: at least one allocation is required' USING ERRCODE = 'GS400';
    END IF;
    FOR i IN 1 .. cardinality(p_funds) LOOP
        what := CASE WHEN cardinality(p_funds) > 1 THEN format('items[%s]: ', i - 1) ELSE '' END;
        IF p_amounts[i] IS NULL OR p_amounts[i] <= 0 THEN
            RAISE EXCEPTION '%amount: must be positive, got %', what, p_amounts[i] USING ERRCODE = 'GS400';
        END IF;
        IF p_funds[i] <> 0 THEN
            SELECT f.id INTO fid FROM fund_accounts f JOIN org_units ou ON ou.id = f.org_unit_id
            WHERE f.id = p_funds[i] AND f.kind = 'grid_fund' AND ou.path <@ p_scope;
            IF NOT FOUND THEN
                RAISE EXCEPTION '%grid fund % not found', what, p_funds[i] USING ERRCODE = 'GS404';
            END IF;
        ELSE
            SELECT f.id INTO fid FROM fund_accounts f JOIN org_units ou ON ou.id = f.org_unit_id
            WHERE ou.code = p_grids[i] AND f.kind = 'grid_fund' AND ou.path <@ p_scope;
            IF NOT FOUND THEN
                RAISE EXCEPTION '%grid % not found', what, left(p_grids[i], 64) USING ERRCODE = 'GS404';
            END IF;
        END IF;
        IF fid = ANY (ids) THEN
            RAISE EXCEPTION '%grid fund % appears twice', what, (SELECT code FROM fund_accounts WHERE id = fid)
                USING ERRCODE = 'GS400';
        END IF;
        ids := ids || fid;
        total := total + p_amounts[i];
    END LOOP;
    IF total > 9000000000000000 THEN
        RAISE EXCEPTION 'items: the total is too large' USING ERRCODE = 'GS400';
    END IF;
    INSERT INTO fund_movements (kind, source_account_id, total, memo, preparer_id, request_id, batch)
    VALUES ('allocation', s.id, total::bigint, coalesce(p_memo, ''), p_user, coalesce(p_request, ''),
            coalesce(p_batch, ''))
    RETURNING fund_movements.id INTO mid;
    INSERT INTO fund_movement_items (movement_id, line_no, account_id, amount)
    SELECT mid, k - 1, x.acc, x.amt FROM unnest(ids, p_amounts) WITH ORDINALITY AS x(acc, amt, k);
    RETURN mid;
END $$;

CREATE FUNCTION fund_movement_prepare_reversal(p_user bigint, p_scope ltree, p_request text, p_posting bigint,
                                               p_reason text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    p fund_postings;
    mid bigint;
    amt bigint;
    prior bigint;
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'reason: required' USING ERRCODE = 'GS400';
    END IF;
    SELECT * INTO p FROM fund_postings WHERE id = p_posting;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM fund_entries e JOIN fund_accounts a ON a.id = e.account_id
                            LEFT JOIN org_units ou ON ou.id = a.org_unit_id
                            WHERE e.posting_id = p.id AND a.kind IN ('source', 'grid_fund')
                            AND NOT coalesce(ou.path <@ p_scope, false)) THEN
        RAISE EXCEPTION 'posting % not found', p_posting USING ERRCODE = 'GS404';
    END IF;
    IF p.kind = 'reversal' THEN
        RAISE EXCEPTION 'posting % is itself a reversal: post a new entry instead', p.id USING ERRCODE = 'GS409';
    END IF;
    SELECT fp.id INTO prior FROM fund_postings fp WHERE fp.reverses_id = p.id;
    IF FOUND THEN
        RAISE EXCEPTION 'posting % was already reversed by posting %', p.id, prior USING ERRCODE = 'GS409';
    END IF;
    IF EXISTS (SELECT 1 FROM fund_movements WHERE reverses_posting_id = p.id AND state IN ('prepared', 'approved')) THEN
        RAISE EXCEPTION 'posting % already has a reversal waiting for approval or posting', p.id USING ERRCODE = 'GS409';
    END IF;
    SELECT sum(amount) INTO amt FROM fund_entries WHERE posting_id = p.id AND amount > 0;
    INSERT INTO fund_movements (kind, reverses_posting_id, total, memo, preparer_id, request_id)
    VALUES ('reversal', p.id, amt, left(p_reason, 500), p_user, coalesce(p_request, ''))
    RETURNING fund_movements.id INTO mid;
    RETURN mid;
END $$;

-- ---------------------------------------------------------------- approve, reject, post, void
CREATE FUNCTION fund_movement_approve(p_user bigint, p_scope ltree, p_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m fund_movements := fund_movement_lock(p_id, p_scope);
BEGIN
    IF m.state <> 'prepared' THEN
        RAISE EXCEPTION 'fund movement % is %: only a prepared one is approved', m.id, m.state USING ERRCODE = 'GS409';
    END IF;
    IF m.preparer_id = p_user THEN
        RAISE EXCEPTION 'fund movement %: its preparer cannot approve it', m.id USING ERRCODE = 'GS403';
    END IF;
    PERFORM fund_movement_reserve(m, 1);
    UPDATE fund_movements SET state = 'approved', approver_id = p_user, approved_at = now() WHERE id = m.id;
END $$;

CREATE FUNCTION fund_movement_reject(p_user bigint, p_scope ltree, p_id bigint, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m fund_movements := fund_movement_lock(p_id, p_scope);
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'reason: required' USING ERRCODE = 'GS400';
    END IF;
    IF m.state <> 'prepared' THEN
        RAISE EXCEPTION 'fund movement % is %: only a prepared one is rejected', m.id, m.state USING ERRCODE = 'GS409';
    END IF;
    IF m.preparer_id = p_user THEN
        RAISE EXCEPTION 'fund movement %: its preparer voids it, not rejects it', m.id USING ERRCODE = 'GS403';
    END IF;
    UPDATE fund_movements SET state = 'rejected', rejected_by = p_user, rejected_at = now(),
           reject_reason = left(p_reason, 500) WHERE id = m.id;
END $$;

-- Posts approved movement p_id: releases its reservation and writes its postings through
-- the 020 functions, in the caller's transaction. Returns the posting ids.
CREATE FUNCTION fund_movement_post(p_user bigint, p_scope ltree, p_request text, p_id bigint)
RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
    m fund_movements := fund_movement_lock(p_id, p_scope);
    pid bigint;
    funds bigint[];
    grids text[];
    amts bigint[];
    k integer := 0;
BEGIN
    IF m.state <> 'approved' THEN
        RAISE EXCEPTION 'fund movement % is %: only an approved one is posted', m.id, m.state USING ERRCODE = 'GS409';
    END IF;
    IF m.preparer_id = p_user THEN
        RAISE EXCEPTION 'fund movement %: its preparer cannot post it', m.id USING ERRCODE = 'GS403';
    END IF;
    PERFORM fund_movement_reserve(m, -1);
    IF m.kind = 'deposit' THEN
        pid := fund_deposit(p_user, p_scope, p_request, m.source_account_id, m.total,
                            format('%s (movement %s)', m.memo, m.id));
        UPDATE fund_movement_items SET posting_id = pid WHERE movement_id = m.id;
        RETURN NEXT pid;
    ELSIF m.kind = 'allocation' THEN
        SELECT array_agg(account_id ORDER BY line_no), array_agg(''::text ORDER BY line_no),
               array_agg(amount ORDER BY line_no)
          INTO funds, grids, amts FROM fund_movement_items WHERE movement_id = m.id;
        FOR pid IN SELECT * FROM fund_allocate(p_user, p_scope, p_request, m.source_account_id, funds, grids, amts,
                                               format('%s (movement %s)', m.memo, m.id),
                                               coalesce(nullif(m.batch, ''), 'movement:' || m.id)) LOOP
            UPDATE fund_movement_items SET posting_id = pid WHERE movement_id = m.id AND line_no = k;
            k := k + 1;
            RETURN NEXT pid;
        END LOOP;
    ELSE
        pid := fund_reverse(p_user, p_scope, p_request, m.reverses_posting_id, m.memo);
        RETURN NEXT pid;
    END IF;
    UPDATE fund_movements SET state = 'posted', posted_by = p_user, posted_at = now() WHERE id = m.id;
END $$;

-- Withdraws a prepared or approved movement (a finance user of either side, as for
-- disbursements: withdrawing moves no money); an approved one releases its reservation.
CREATE FUNCTION fund_movement_void(p_user bigint, p_scope ltree, p_id bigint, p_reason text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    m fund_movements := fund_movement_lock(p_id, p_scope);
BEGIN
    IF m.state NOT IN ('prepared', 'approved') THEN
        RAISE EXCEPTION 'fund movement % is %: only a prepared or approved one can be voided', m.id, m.state
            USING ERRCODE = 'GS409';
    END IF;
    IF m.state = 'approved' THEN
        PERFORM fund_movement_reserve(m, -1);
    END IF;
    UPDATE fund_movements SET state = 'voided', voided_by = p_user, voided_at = now(),
           void_reason = nullif(left(coalesce(p_reason, ''), 500), '') WHERE id = m.id;
    RETURN m.state;
END $$;

-- Approved movements not posted within p_ttl expire and release their reservations; safe
-- from several processes at once (SKIP LOCKED), each with an audit row by the system.
CREATE FUNCTION fund_expire_movements(p_ttl interval, p_now timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m fund_movements;
    n integer := 0;
BEGIN
    FOR m IN SELECT * FROM fund_movements WHERE state = 'approved' AND approved_at < p_now - p_ttl
             ORDER BY id FOR UPDATE SKIP LOCKED LOOP
        PERFORM fund_movement_reserve(m, -1);
        UPDATE fund_movements SET state = 'expired', voided_at = p_now,
               void_reason = 'approval expired after ' || p_ttl::text WHERE id = m.id;
        INSERT INTO audit_log (user_id, login, role, method, object, summary)
        VALUES (0, 'system', 'system', 'fund_expire_movements', 'fund_movement:' || m.id,
                format('approval of %s %s (%s) expired unposted; reservation released', m.kind, m.id,
                       fund_fmt(m.total)));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- ---------------------------------------------------------------- VerifyLedger
-- As in 020 (022 wraps it as fund_verify_ledger_core), with the movements' reservations in
-- what accounts have pending, and no movement approved or posted by its preparer.
CREATE OR REPLACE FUNCTION fund_verify_ledger_core() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT format('posting %s does not balance: %s entries sum to %s', p.id, count(e.posting_id),
                  coalesce(sum(e.amount), 0))
    FROM fund_postings p LEFT JOIN fund_entries e ON e.posting_id = p.id
    GROUP BY p.id HAVING count(e.posting_id) < 2 OR coalesce(sum(e.amount), 0) <> 0
    UNION ALL
    SELECT format('account %s: balance %s but its entries sum to %s', a.code, a.balance, coalesce(s.total, 0))
    FROM fund_accounts a LEFT JOIN (SELECT account_id, sum(amount) total FROM fund_entries GROUP BY 1) s
        ON s.account_id = a.id
    WHERE a.balance <> coalesce(s.total, 0)
    UNION ALL
    SELECT format('account %s: pending %s but approved disbursements and fund movements reserve %s', a.code,
                  a.pending, coalesce(s.total, 0))
    FROM fund_accounts a LEFT JOIN (
        SELECT acc, sum(amount) total FROM (
            SELECT fund_account_id AS acc, amount FROM fund_disbursements WHERE state = 'approved'
            UNION ALL
            SELECT x.account_id, x.amount FROM fund_movements m, fund_movement_debits(m) x
             WHERE m.state = 'approved') r GROUP BY 1) s ON s.acc = a.id
    WHERE a.pending <> coalesce(s.total, 0)
    UNION ALL
    SELECT format('account %s: %s (balance %s, pending %s)', a.code,
                  CASE WHEN a.kind = 'external' THEN 'positive balance' ELSE 'below zero' END,
                  a.balance, a.pending)
    FROM fund_accounts a
    WHERE (a.kind IN ('source', 'grid_fund') AND a.balance - a.pending < 0)
       OR (a.kind IN ('payee', 'expense') AND a.balance < 0) OR (a.kind = 'external' AND a.balance > 0)
       OR a.pending < 0
    UNION ALL
    SELECT format('%s: spent %s, pending %s but its charges say %s and %s', fund_budget_label(b), b.spent,
                  b.pending, coalesce(s.spent, 0), coalesce(s.pending, 0))
    FROM fund_budgets b LEFT JOIN (
        SELECT c.budget_id, sum(c.amount) FILTER (WHERE d.state = 'posted') spent,
               sum(c.amount) FILTER (WHERE d.state = 'approved') pending,
               count(*) FILTER (WHERE d.state NOT IN ('posted', 'approved')) stray
        FROM fund_budget_charges c JOIN fund_disbursements d ON d.id = c.disbursement_id GROUP BY 1) s
        ON s.budget_id = b.id
    WHERE b.spent <> coalesce(s.spent, 0) OR b.pending <> coalesce(s.pending, 0) OR coalesce(s.stray, 0) > 0
    UNION ALL
    SELECT format('%s exceeded: %s spent, %s pending of %s', fund_budget_label(b), b.spent, b.pending, b.amount)
    FROM fund_budgets b WHERE b.spent + b.pending > b.amount
    UNION ALL
    SELECT format('disbursement %s (%s): %s', d.id, d.state, CASE
        WHEN d.approver_id = d.preparer_id THEN 'approved by its preparer'
        WHEN d.state IN ('approved', 'posted', 'reversed') AND d.approved_hash <> fund_disbursement_hash(d)
            THEN 'content differs from what was approved'
        ELSE 'posting does not move its amount from fund to payee' END)
    FROM fund_disbursements d
    WHERE d.approver_id = d.preparer_id
       OR (d.state IN ('approved', 'posted', 'reversed') AND d.approved_hash <> fund_disbursement_hash(d))
       OR (d.posting_id IS NOT NULL AND (
           SELECT count(*) FILTER (WHERE (e.account_id = d.fund_account_id AND e.amount = -d.amount)
                                      OR (e.account_id = d.payee_account_id AND e.amount = d.amount))
           FROM fund_entries e WHERE e.posting_id = d.posting_id) <> 2)
    UNION ALL
    SELECT format('fund movement %s (%s): approved or posted by its preparer', m.id, m.state)
    FROM fund_movements m WHERE m.approver_id = m.preparer_id OR m.posted_by = m.preparer_id
$$;
