-- 020_funds.sql — grid work funds: a double-entry ledger in integer fen (accounts,
-- append-only postings whose entries sum to zero, balances kept by trigger in the same
-- transaction), budgets per grid/period/category, disbursements with a four-eyes state
-- machine, and the hash chain that seals the audit log. Every invariant is a CHECK or a
-- trigger here, so it holds even if the server is bypassed; the PL/pgSQL functions below
-- are what the server calls (one round trip per step) and raise GS400/GS403/GS404/GS409
-- with messages meant for the client.

-- ---------------------------------------------------------------- helpers
-- "12,000 fen"
CREATE FUNCTION fund_fmt(v bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v < 0 THEN '-' ELSE '' END
        || to_char(abs(v::numeric), 'FM999,999,999,999,999,999,990') || ' fen'
$$;

-- RFC 3339 UTC text of an instant, as the API shows times.
CREATE FUNCTION fund_ts(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- A period's first day and the day after its last: '2026' | '2026-Q4' | '2026-11'.
CREATE FUNCTION fund_period_bounds(p text, OUT first_day date, OUT end_day date)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p ~ '^[0-9]{4}$' THEN
        first_day := make_date(p::int, 1, 1);
        end_day := first_day + interval '1 year';
    ELSIF p ~ '^[0-9]{4}-Q[1-4]$' THEN
        first_day := make_date(substr(p, 1, 4)::int, (substr(p, 7, 1)::int - 1) * 3 + 1, 1);
        end_day := first_day + interval '3 months';
    ELSIF p ~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN
        first_day := make_date(substr(p, 1, 4)::int, substr(p, 6, 2)::int, 1);
        end_day := first_day + interval '1 month';
    ELSE
        RAISE EXCEPTION 'period: expected YYYY, YYYY-Qn or YYYY-MM, got "%"', left(p, 20)
            USING ERRCODE = 'GS400';
    END IF;
END $$;

-- ---------------------------------------------------------------- accounts
-- kind: external — where pooled money comes from (one account, EXTERNAL; its balance is
--                  minus what has been deposited);
--       source   — a funding source (the district's pooled funds), holds money;
--       grid_fund — one work fund per grid, holds money;
--       payee / expense — who or what is paid; only receives.
-- available = balance - pending; pending is what approved disbursements have reserved.
CREATE TABLE fund_accounts (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9._-]{1,80}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('external', 'source', 'grid_fund', 'payee', 'expense')),
    org_unit_id bigint REFERENCES org_units(id),  -- NULL: district-wide (EXTERNAL)
    balance     bigint NOT NULL DEFAULT 0,
    pending     bigint NOT NULL DEFAULT 0,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fund_accounts_grid_fund_has_grid CHECK (kind <> 'grid_fund' OR org_unit_id IS NOT NULL),
    CONSTRAINT fund_accounts_pending_nonneg CHECK (pending >= 0),
    CONSTRAINT fund_accounts_pending_only_funds CHECK (kind IN ('source', 'grid_fund') OR pending = 0),
    CONSTRAINT fund_accounts_not_overdrawn CHECK (kind NOT IN ('source', 'grid_fund') OR balance - pending >= 0),
    CONSTRAINT fund_accounts_receivers_nonneg CHECK (kind NOT IN ('payee', 'expense') OR balance >= 0),
    CONSTRAINT fund_accounts_external_nonpos CHECK (kind <> 'external' OR balance <= 0)
);
CREATE UNIQUE INDEX fund_accounts_one_per_grid ON fund_accounts (org_unit_id) WHERE kind = 'grid_fund';
CREATE INDEX fund_accounts_org_unit ON fund_accounts (org_unit_id);

-- A grid fund belongs to a grid; an account never changes kind or org unit.
CREATE FUNCTION fund_accounts_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.kind <> OLD.kind OR NEW.org_unit_id IS DISTINCT FROM OLD.org_unit_id
                             OR NEW.code <> OLD.code) THEN
        RAISE EXCEPTION 'account % cannot change code, kind or org unit', OLD.code USING ERRCODE = 'GS409';
    END IF;
    IF TG_OP = 'INSERT' AND NEW.kind = 'grid_fund'
       AND (SELECT kind FROM org_units WHERE id = NEW.org_unit_id) IS DISTINCT FROM 'grid' THEN
        RAISE EXCEPTION 'a grid fund must belong to a grid' USING ERRCODE = 'GS400';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fund_accounts_check BEFORE INSERT OR UPDATE ON fund_accounts
    FOR EACH ROW EXECUTE FUNCTION fund_accounts_check();
CREATE TRIGGER fund_accounts_no_delete BEFORE DELETE OR TRUNCATE ON fund_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

INSERT INTO fund_accounts (code, name, kind) VALUES ('EXTERNAL', 'Contributions into the pooled funds', 'external');

-- One work fund per grid: for the grids that exist now and every grid added later.
CREATE FUNCTION fund_open_grid_fund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fund_accounts (code, name, kind, org_unit_id)
    VALUES ('GF-' || NEW.code, 'Grid work fund ' || NEW.code, 'grid_fund', NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER org_units_grid_fund AFTER INSERT ON org_units
    FOR EACH ROW WHEN (NEW.kind = 'grid') EXECUTE FUNCTION fund_open_grid_fund();
INSERT INTO fund_accounts (code, name, kind, org_unit_id)
SELECT 'GF-' || code, 'Grid work fund ' || code, 'grid_fund', id FROM org_units WHERE kind = 'grid';

-- "grid fund GF-GR001", "source SRC-CITY": how messages name an account.
CREATE FUNCTION fund_account_label(a fund_accounts) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE a.kind WHEN 'grid_fund' THEN 'grid fund ' ELSE a.kind || ' ' END || a.code
$$;

-- ---------------------------------------------------------------- postings
-- A posting is one transfer; its entries (one per account) sum to zero. Never updated or
-- deleted: a mistake is reversed by a new posting whose reverses_id names it.
CREATE TABLE fund_postings (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('deposit', 'allocation', 'disbursement', 'reversal')),
    memo            text NOT NULL DEFAULT '' CHECK (length(memo) <= 500),
    batch           text NOT NULL DEFAULT '',   -- AllocateBatch: shared by one call's postings
    disbursement_id bigint,                     -- FK below
    reverses_id     bigint UNIQUE REFERENCES fund_postings(id),
    created_by      bigint NOT NULL REFERENCES users(id),
    request_id      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fund_postings_reversal_refs CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL))
);
CREATE INDEX fund_postings_disbursement ON fund_postings (disbursement_id);

CREATE TABLE fund_entries (
    posting_id  bigint NOT NULL REFERENCES fund_postings(id),
    account_id  bigint NOT NULL REFERENCES fund_accounts(id),
    amount      bigint NOT NULL CHECK (amount <> 0),  -- + into the account, - out of it
    PRIMARY KEY (posting_id, account_id)
);
CREATE INDEX fund_entries_account ON fund_entries (account_id, posting_id);

CREATE TRIGGER fund_postings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fund_postings
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();
CREATE TRIGGER fund_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fund_entries
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- The balance moves with the entry, in the same transaction; the account CHECKs refuse an
-- overdraft whatever wrote the entry.
CREATE FUNCTION fund_entries_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fund_accounts SET balance = balance + NEW.amount WHERE id = NEW.account_id;
    RETURN NULL;
END $$;
CREATE TRIGGER fund_entries_apply AFTER INSERT ON fund_entries
    FOR EACH ROW EXECUTE FUNCTION fund_entries_apply();

-- At commit: every posting touched has at least two entries summing to zero.
CREATE FUNCTION fund_posting_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid bigint;
    n bigint;
    s numeric;
BEGIN
    IF TG_TABLE_NAME = 'fund_postings' THEN
        pid := NEW.id;
    ELSE
        pid := NEW.posting_id;
    END IF;
    SELECT count(*), coalesce(sum(amount), 0) INTO n, s FROM fund_entries WHERE posting_id = pid;
    IF n < 2 OR s <> 0 THEN
        RAISE EXCEPTION 'posting % does not balance (% entries, sum %)', pid, n, s
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER fund_entries_balanced AFTER INSERT ON fund_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fund_posting_balanced();
CREATE CONSTRAINT TRIGGER fund_postings_balanced AFTER INSERT ON fund_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fund_posting_balanced();

-- Writes one posting. Locks the accounts in id order (no deadlock between postings), and
-- refuses with GS409 naming the account and the shortfall when a source or grid fund
-- would drop below what it has available. Returns the posting id.
CREATE FUNCTION fund_post(p_kind text, p_accounts bigint[], p_amounts bigint[], p_user bigint,
                          p_request text, p_memo text DEFAULT '', p_batch text DEFAULT '',
                          p_disbursement bigint DEFAULT NULL, p_reverses bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    a fund_accounts;
    pid bigint;
    amt bigint;
BEGIN
    IF cardinality(p_accounts) < 2 OR cardinality(p_accounts) <> cardinality(p_amounts) THEN
        RAISE EXCEPTION 'a posting needs two or more entries' USING ERRCODE = 'GS400';
    END IF;
    IF (SELECT sum(x) FROM unnest(p_amounts) x) <> 0 THEN
        RAISE EXCEPTION 'entries of a posting must sum to zero' USING ERRCODE = 'GS400';
    END IF;
    FOR a IN SELECT * FROM fund_accounts WHERE id = ANY (p_accounts) ORDER BY id FOR UPDATE LOOP
        SELECT sum(x) INTO amt FROM unnest(p_accounts, p_amounts) u(acc, x) WHERE acc = a.id;
        IF a.kind IN ('source', 'grid_fund') AND a.balance - a.pending + amt < 0 THEN
            RAISE EXCEPTION '% would be overdrawn by % (available %)', fund_account_label(a),
                fund_fmt(-(a.balance - a.pending + amt)), fund_fmt(a.balance - a.pending)
                USING ERRCODE = 'GS409';
        END IF;
        IF a.kind IN ('payee', 'expense') AND a.balance + amt < 0 THEN
            RAISE EXCEPTION '% would go below zero by %', fund_account_label(a), fund_fmt(-(a.balance + amt))
                USING ERRCODE = 'GS409';
        END IF;
        IF a.kind = 'external' AND a.balance + amt > 0 THEN
            RAISE EXCEPTION 'more would leave the ledger than was deposited (by %)', fund_fmt(a.balance + amt)
                USING ERRCODE = 'GS409';
        END IF;
    END LOOP;
    IF (SELECT count(*) FROM fund_accounts WHERE id = ANY (p_accounts)) <> cardinality(p_accounts) THEN
        RAISE EXCEPTION 'a posting names an unknown or repeated account' USING ERRCODE = 'GS400';
    END IF;
    INSERT INTO fund_postings (kind, memo, batch, disbursement_id, reverses_id, created_by, request_id)
    VALUES (p_kind, coalesce(p_memo, ''), coalesce(p_batch, ''), p_disbursement, p_reverses, p_user,
            coalesce(p_request, ''))
    RETURNING id INTO pid;
    INSERT INTO fund_entries (posting_id, account_id, amount)
    SELECT pid, acc, x FROM unnest(p_accounts, p_amounts) u(acc, x);
    RETURN pid;
END $$;

-- Visibility: an account is readable when its org unit is in the caller's subtree;
-- district-wide accounts (no org unit) and payees/expense accounts of an enclosing unit
-- are readable too. Changing money needs the account in the subtree (fund_account_use).
CREATE FUNCTION fund_account_visible(a fund_accounts, p_scope ltree) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT a.org_unit_id IS NULL
        OR EXISTS (SELECT 1 FROM org_units ou WHERE ou.id = a.org_unit_id
                   AND (ou.path <@ p_scope OR (a.kind IN ('payee', 'expense') AND p_scope <@ ou.path)))
$$;

-- The account `id` as one that the caller may take money from (source or grid fund in the
-- scope), locked; GS404 otherwise (out of scope looks like unknown).
CREATE FUNCTION fund_account_use(p_id bigint, p_kind text, p_scope ltree) RETURNS fund_accounts
LANGUAGE plpgsql AS $$
DECLARE
    a fund_accounts;
BEGIN
    SELECT f.* INTO a FROM fund_accounts f JOIN org_units ou ON ou.id = f.org_unit_id
    WHERE f.id = p_id AND ou.path <@ p_scope FOR UPDATE OF f;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % not found', p_id USING ERRCODE = 'GS404';
    END IF;
    IF a.kind <> p_kind THEN
        RAISE EXCEPTION 'account % is a %, not a %', a.code, a.kind, p_kind USING ERRCODE = 'GS400';
    END IF;
    IF NOT a.active THEN
        RAISE EXCEPTION 'account % is inactive', a.code USING ERRCODE = 'GS409';
    END IF;
    RETURN a;
END $$;

-- Money into a source from outside.
CREATE FUNCTION fund_deposit(p_user bigint, p_scope ltree, p_request text, p_source bigint,
                             p_amount bigint, p_memo text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    s fund_accounts := fund_account_use(p_source, 'source', p_scope);
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'amount: must be positive' USING ERRCODE = 'GS400';
    END IF;
    RETURN fund_post('deposit', ARRAY[(SELECT id FROM fund_accounts WHERE code = 'EXTERNAL'), s.id],
                     ARRAY[-p_amount, p_amount], p_user, p_request, p_memo);
END $$;

-- Source → grid funds: one posting per grid, all in the caller's transaction (a bad grid
-- or an overdraft anywhere and nothing is applied). p_funds[i] is a fund account id, or 0
-- with p_grids[i] a grid code. Returns the posting ids in item order.
CREATE FUNCTION fund_allocate(p_user bigint, p_scope ltree, p_request text, p_source bigint,
                              p_funds bigint[], p_grids text[], p_amounts bigint[], p_memo text,
                              p_batch text) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
    s fund_accounts := fund_account_use(p_source, 'source', p_scope);
    ids bigint[] := '{}';
    fid bigint;
    total numeric := 0;
    what text;
BEGIN
    IF cardinality(p_funds) = 0 THEN
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
    IF s.balance - s.pending < total THEN
        RAISE EXCEPTION '% would be overdrawn by % (available %, allocating %)', fund_account_label(s),
            fund_fmt((total - (s.balance - s.pending))::bigint), fund_fmt(s.balance - s.pending),
            fund_fmt(total::bigint) USING ERRCODE = 'GS409';
    END IF;
    FOR i IN 1 .. cardinality(ids) LOOP
        RETURN NEXT fund_post('allocation', ARRAY[s.id, ids[i]], ARRAY[-p_amounts[i], p_amounts[i]],
                              p_user, p_request, p_memo, p_batch);
    END LOOP;
END $$;

-- ---------------------------------------------------------------- budgets
-- Per grid, period (YYYY | YYYY-Qn | YYYY-MM) and category. Every budget whose period
-- contains a disbursement's month limits it; spent and pending are kept from the charges
-- below, and spent + pending never exceeds the amount.
CREATE TABLE fund_budgets (
    id           bigserial PRIMARY KEY,
    org_unit_id  bigint NOT NULL REFERENCES org_units(id),
    period       text NOT NULL CHECK (period ~ '^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$'),
    period_kind  text NOT NULL GENERATED ALWAYS AS (
                     CASE WHEN length(period) = 4 THEN 'year'
                          WHEN period LIKE '%Q%' THEN 'quarter' ELSE 'month' END) STORED,
    first_day    date NOT NULL,
    end_day      date NOT NULL,
    category     text NOT NULL CHECK (category IN ('subsidies', 'rewards', 'activities',
                     'material_purchases', 'emergency')),
    amount       bigint NOT NULL CHECK (amount >= 0),
    spent        bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
    pending      bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
    created_by   bigint NOT NULL REFERENCES users(id),
    updated_by   bigint NOT NULL REFERENCES users(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_unit_id, period, category),
    CHECK (first_day < end_day),
    CONSTRAINT fund_budgets_not_exceeded CHECK (spent + pending <= amount)
);
CREATE INDEX fund_budgets_lookup ON fund_budgets (org_unit_id, category, first_day);

-- "budget GR001/2026-11/subsidies"
CREATE FUNCTION fund_budget_label(b fund_budgets) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'budget ' || (SELECT code FROM org_units WHERE id = b.org_unit_id) || '/' || b.period
        || '/' || b.category
$$;

-- ---------------------------------------------------------------- disbursements
-- The state machine (server/funds.h has the same table as disb_transitions[]; VerifyLedger
-- compares the two):
--   prepared → approved → posted → reversed
--   prepared → rejected | voided          approved → voided | expired
--   prepared → prepared (edit)            approved → prepared (an edit voids the approval)
CREATE TABLE fund_disbursement_transitions (
    from_state text NOT NULL,
    to_state   text NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
INSERT INTO fund_disbursement_transitions VALUES
    ('prepared', 'prepared'), ('prepared', 'approved'), ('prepared', 'rejected'),
    ('prepared', 'voided'), ('approved', 'prepared'), ('approved', 'posted'),
    ('approved', 'voided'), ('approved', 'expired'), ('posted', 'reversed');

CREATE TABLE fund_disbursements (
    id                  bigserial PRIMARY KEY,
    fund_account_id     bigint NOT NULL REFERENCES fund_accounts(id),
    payee_account_id    bigint NOT NULL REFERENCES fund_accounts(id),
    category            text NOT NULL CHECK (category IN ('subsidies', 'rewards', 'activities',
                            'material_purchases', 'emergency')),
    amount              bigint NOT NULL CHECK (amount > 0),
    purpose             text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 500),
    period              text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    state               text NOT NULL DEFAULT 'prepared' CHECK (state IN ('prepared', 'approved',
                            'posted', 'rejected', 'voided', 'expired', 'reversed')),
    -- A caller's key that makes generated disbursements idempotent (programme runs).
    external_key        text UNIQUE CHECK (length(external_key) BETWEEN 1 AND 200),
    version             integer NOT NULL DEFAULT 1,
    preparer_id         bigint NOT NULL REFERENCES users(id),
    prepared_at         timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    approver_id         bigint REFERENCES users(id),
    approved_at         timestamptz,
    approved_hash       bytea,     -- fund_disbursement_hash() when approved
    rejected_by         bigint REFERENCES users(id),
    rejected_at         timestamptz,
    reject_reason       text CHECK (length(reject_reason) <= 500),
    posted_by           bigint REFERENCES users(id),
    posted_at           timestamptz,
    posting_id          bigint UNIQUE REFERENCES fund_postings(id),
    voided_by           bigint REFERENCES users(id),   -- NULL with voided_at: expired
    voided_at           timestamptz,
    void_reason         text CHECK (length(void_reason) <= 500),
    reversal_posting_id bigint UNIQUE REFERENCES fund_postings(id),
    -- four eyes, even if the server is bypassed
    CONSTRAINT fund_disbursements_approver_not_preparer CHECK (approver_id <> preparer_id),
    CONSTRAINT fund_disbursements_rejecter_not_preparer CHECK (rejected_by <> preparer_id),
    CONSTRAINT fund_disbursements_fund_not_payee CHECK (fund_account_id <> payee_account_id),
    CONSTRAINT fund_disbursements_approval CHECK (
        (state IN ('approved', 'posted', 'reversed', 'expired'))
        = (approver_id IS NOT NULL AND approved_at IS NOT NULL AND approved_hash IS NOT NULL)
        OR state = 'voided'),
    CONSTRAINT fund_disbursements_prepared_unapproved CHECK (state <> 'prepared' OR approver_id IS NULL),
    CONSTRAINT fund_disbursements_rejection CHECK ((state = 'rejected') = (rejected_at IS NOT NULL
        AND rejected_by IS NOT NULL AND length(btrim(reject_reason)) > 0)),
    CONSTRAINT fund_disbursements_posting CHECK ((state IN ('posted', 'reversed')) = (posting_id IS NOT NULL)),
    CONSTRAINT fund_disbursements_reversal CHECK ((state = 'reversed') = (reversal_posting_id IS NOT NULL))
);
CREATE INDEX fund_disbursements_fund ON fund_disbursements (fund_account_id, id);
CREATE INDEX fund_disbursements_state ON fund_disbursements (state, approved_at);
CREATE INDEX fund_disbursements_payee ON fund_disbursements (payee_account_id);
ALTER TABLE fund_postings ADD CONSTRAINT fund_postings_disbursement_fk
    FOREIGN KEY (disbursement_id) REFERENCES fund_disbursements(id);

-- What an approval is bound to: SHA-256 of the content (purpose last, so the text cannot
-- shift the other fields).
CREATE FUNCTION fund_disbursement_hash(d fund_disbursements) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(convert_to(concat_ws('|', 'gridstock-disbursement-v1', d.id, d.fund_account_id,
        d.payee_account_id, d.category, d.amount, d.period, d.preparer_id, d.purpose), 'UTF8'))
$$;

-- The state machine and the edit rule, in the database: a change of state not in the table
-- is refused, content changes only while prepared (or by voiding the approval), and a
-- disbursement is never deleted.
CREATE FUNCTION fund_disbursements_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state <> OLD.state AND NOT EXISTS (SELECT 1 FROM fund_disbursement_transitions
                   WHERE from_state = OLD.state AND to_state = NEW.state) THEN
        RAISE EXCEPTION 'disbursement % cannot go from % to %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'GS409';
    END IF;
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
CREATE TRIGGER fund_disbursements_guard BEFORE UPDATE ON fund_disbursements
    FOR EACH ROW EXECUTE FUNCTION fund_disbursements_guard();
CREATE TRIGGER fund_disbursements_no_delete BEFORE DELETE OR TRUNCATE ON fund_disbursements
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- Which budgets an approved or posted disbursement is charged to (the budgets whose
-- period held its month when it was approved). Budget spent/pending are the sums of
-- these rows by the disbursement's state; VerifyLedger recomputes them.
CREATE TABLE fund_budget_charges (
    budget_id       bigint NOT NULL REFERENCES fund_budgets(id),
    disbursement_id bigint NOT NULL REFERENCES fund_disbursements(id),
    amount          bigint NOT NULL CHECK (amount > 0),
    PRIMARY KEY (budget_id, disbursement_id)
);
CREATE INDEX fund_budget_charges_disbursement ON fund_budget_charges (disbursement_id);

-- The disbursement `id` if its grid fund is in the caller's scope, locked; GS404 otherwise.
CREATE FUNCTION fund_disbursement_lock(p_id bigint, p_scope ltree) RETURNS fund_disbursements
LANGUAGE plpgsql AS $$
DECLARE
    d fund_disbursements;
BEGIN
    SELECT x.* INTO d FROM fund_disbursements x
        JOIN fund_accounts f ON f.id = x.fund_account_id JOIN org_units ou ON ou.id = f.org_unit_id
    WHERE x.id = p_id AND ou.path <@ p_scope FOR UPDATE OF x;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'disbursement % not found', p_id USING ERRCODE = 'GS404';
    END IF;
    RETURN d;
END $$;

-- Checks (and with p_reserve, reserves) every budget that limits disbursement d. GS409
-- names the first budget that would be exceeded and by how much.
CREATE FUNCTION fund_budgets_charge(d fund_disbursements, p_reserve boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    b fund_budgets;
    grid bigint := (SELECT org_unit_id FROM fund_accounts WHERE id = d.fund_account_id);
    month date := (fund_period_bounds(d.period)).first_day;
BEGIN
    FOR b IN SELECT * FROM fund_budgets WHERE org_unit_id = grid AND category = d.category
             AND first_day <= month AND month < end_day ORDER BY id FOR UPDATE LOOP
        IF b.spent + b.pending + d.amount > b.amount THEN
            RAISE EXCEPTION '% would be exceeded by % (budget %, spent %, reserved %)',
                fund_budget_label(b), fund_fmt(b.spent + b.pending + d.amount - b.amount),
                fund_fmt(b.amount), fund_fmt(b.spent), fund_fmt(b.pending) USING ERRCODE = 'GS409';
        END IF;
        IF p_reserve THEN
            UPDATE fund_budgets SET pending = pending + d.amount WHERE id = b.id;
            INSERT INTO fund_budget_charges (budget_id, disbursement_id, amount) VALUES (b.id, d.id, d.amount);
        END IF;
    END LOOP;
END $$;

-- Releases an approved disbursement's reservations (fund pending, budget pending).
CREATE FUNCTION fund_disbursement_release(d fund_disbursements) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fund_accounts SET pending = pending - d.amount WHERE id = d.fund_account_id;
    UPDATE fund_budgets b SET pending = b.pending - c.amount
    FROM fund_budget_charges c WHERE c.disbursement_id = d.id AND c.budget_id = b.id;
    DELETE FROM fund_budget_charges WHERE disbursement_id = d.id;
END $$;

-- Checks that the fund can pay d now (available and budgets), without reserving.
CREATE FUNCTION fund_disbursement_precheck(d fund_disbursements) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    f fund_accounts;
BEGIN
    SELECT * INTO f FROM fund_accounts WHERE id = d.fund_account_id;
    IF f.balance - f.pending < d.amount THEN
        RAISE EXCEPTION '% would be overdrawn by % (available %)', fund_account_label(f),
            fund_fmt(d.amount - (f.balance - f.pending)), fund_fmt(f.balance - f.pending)
            USING ERRCODE = 'GS409';
    END IF;
    PERFORM fund_budgets_charge(d, false);
END $$;

-- Resolves and checks a payee: a payee or expense account the caller can see.
CREATE FUNCTION fund_payee(p_id bigint, p_scope ltree) RETURNS fund_accounts LANGUAGE plpgsql AS $$
DECLARE
    a fund_accounts;
BEGIN
    SELECT * INTO a FROM fund_accounts WHERE id = p_id;
    IF NOT FOUND OR NOT fund_account_visible(a, p_scope) THEN
        RAISE EXCEPTION 'payee account % not found', p_id USING ERRCODE = 'GS404';
    END IF;
    IF a.kind NOT IN ('payee', 'expense') THEN
        RAISE EXCEPTION 'payee: account % is a %, not a payee or expense account', a.code, a.kind
            USING ERRCODE = 'GS400';
    END IF;
    IF NOT a.active THEN
        RAISE EXCEPTION 'payee account % is inactive', a.code USING ERRCODE = 'GS409';
    END IF;
    RETURN a;
END $$;

-- Prepares a disbursement (state prepared). With p_key, a second call with the same key
-- returns the first one's id and changes nothing (programme runs pay nobody twice).
CREATE FUNCTION fund_disbursement_prepare(p_user bigint, p_scope ltree, p_fund bigint, p_payee bigint,
    p_category text, p_amount bigint, p_purpose text, p_period text, p_key text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d fund_disbursements;
    f fund_accounts;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT * INTO d FROM fund_disbursements WHERE external_key = p_key;
        IF FOUND THEN
            RETURN d.id;
        END IF;
    END IF;
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'amount: must be positive, got %', p_amount USING ERRCODE = 'GS400';
    END IF;
    PERFORM fund_period_bounds(p_period);
    f := fund_account_use(p_fund, 'grid_fund', p_scope);
    PERFORM fund_payee(p_payee, p_scope);
    INSERT INTO fund_disbursements (fund_account_id, payee_account_id, category, amount, purpose,
                                    period, external_key, preparer_id)
    VALUES (f.id, p_payee, p_category, p_amount, p_purpose, p_period, p_key, p_user)
    ON CONFLICT (external_key) DO NOTHING
    RETURNING * INTO d;
    IF NOT FOUND THEN  -- a concurrent call with the same key won
        RETURN (SELECT id FROM fund_disbursements WHERE external_key = p_key);
    END IF;
    PERFORM fund_disbursement_precheck(d);
    RETURN d.id;
END $$;

-- Changes a prepared or approved disbursement (NULL = keep). An approved one goes back to
-- prepared and its reservations are released: the approval was for other content.
-- Only the preparer edits. Returns true when an approval was voided.
CREATE FUNCTION fund_disbursement_update(p_user bigint, p_scope ltree, p_id bigint, p_fund bigint,
    p_payee bigint, p_category text, p_amount bigint, p_purpose text, p_period text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    d fund_disbursements := fund_disbursement_lock(p_id, p_scope);
    was_approved boolean := d.state = 'approved';
BEGIN
    IF d.state NOT IN ('prepared', 'approved') THEN
        RAISE EXCEPTION 'disbursement % is %: only a prepared or approved one can be changed', d.id, d.state
            USING ERRCODE = 'GS409';
    END IF;
    IF d.preparer_id <> p_user THEN
        RAISE EXCEPTION 'disbursement % can only be changed by the finance officer who prepared it', d.id
            USING ERRCODE = 'GS403';
    END IF;
    IF p_amount IS NOT NULL AND p_amount <= 0 THEN
        RAISE EXCEPTION 'amount: must be positive, got %', p_amount USING ERRCODE = 'GS400';
    END IF;
    IF p_period IS NOT NULL THEN
        PERFORM fund_period_bounds(p_period);
    END IF;
    IF p_fund IS NOT NULL THEN
        PERFORM fund_account_use(p_fund, 'grid_fund', p_scope);
    END IF;
    IF p_payee IS NOT NULL THEN
        PERFORM fund_payee(p_payee, p_scope);
    END IF;
    IF was_approved THEN
        PERFORM fund_disbursement_release(d);
    END IF;
    UPDATE fund_disbursements SET
        fund_account_id = coalesce(p_fund, fund_account_id),
        payee_account_id = coalesce(p_payee, payee_account_id),
        category = coalesce(p_category, category), amount = coalesce(p_amount, amount),
        purpose = coalesce(p_purpose, purpose), period = coalesce(p_period, period),
        state = 'prepared', approver_id = NULL, approved_at = NULL, approved_hash = NULL,
        version = version + 1, updated_at = now()
    WHERE id = d.id RETURNING * INTO d;
    PERFORM fund_disbursement_precheck(d);
    RETURN was_approved;
END $$;

-- Approves: never by the preparer (GS403; the CHECK refuses it too), reserves the amount
-- on the grid fund and every limiting budget, and binds the approval to the content hash.
-- p_expected: the hash the approver reviewed (NULL: the current content).
CREATE FUNCTION fund_disbursement_approve(p_user bigint, p_scope ltree, p_id bigint, p_expected bytea)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d fund_disbursements := fund_disbursement_lock(p_id, p_scope);
    f fund_accounts;
BEGIN
    IF d.state <> 'prepared' THEN
        RAISE EXCEPTION 'disbursement % is %: only a prepared disbursement can be approved', d.id, d.state
            USING ERRCODE = 'GS409';
    END IF;
    IF d.preparer_id = p_user THEN
        RAISE EXCEPTION 'disbursement % was prepared by you: another finance approver must approve it', d.id
            USING ERRCODE = 'GS403';
    END IF;
    IF p_expected IS NOT NULL AND p_expected <> fund_disbursement_hash(d) THEN
        RAISE EXCEPTION 'disbursement % changed since it was reviewed (content hash differs)', d.id
            USING ERRCODE = 'GS409';
    END IF;
    UPDATE fund_accounts SET pending = pending + d.amount
    WHERE id = d.fund_account_id AND balance - pending >= d.amount;
    IF NOT FOUND THEN
        SELECT * INTO f FROM fund_accounts WHERE id = d.fund_account_id;
        RAISE EXCEPTION '% would be overdrawn by % (available %)', fund_account_label(f),
            fund_fmt(d.amount - (f.balance - f.pending)), fund_fmt(f.balance - f.pending)
            USING ERRCODE = 'GS409';
    END IF;
    PERFORM fund_budgets_charge(d, true);
    UPDATE fund_disbursements SET state = 'approved', approver_id = p_user, approved_at = now(),
        approved_hash = fund_disbursement_hash(d), updated_at = now()
    WHERE id = d.id;
END $$;

CREATE FUNCTION fund_disbursement_reject(p_user bigint, p_scope ltree, p_id bigint, p_reason text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d fund_disbursements := fund_disbursement_lock(p_id, p_scope);
BEGIN
    IF d.state <> 'prepared' THEN
        RAISE EXCEPTION 'disbursement % is %: only a prepared disbursement can be rejected', d.id, d.state
            USING ERRCODE = 'GS409';
    END IF;
    IF d.preparer_id = p_user THEN
        RAISE EXCEPTION 'disbursement % was prepared by you: void it instead of rejecting it', d.id
            USING ERRCODE = 'GS403';
    END IF;
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'reason: required' USING ERRCODE = 'GS400';
    END IF;
    UPDATE fund_disbursements SET state = 'rejected', rejected_by = p_user, rejected_at = now(),
        reject_reason = p_reason, updated_at = now()
    WHERE id = d.id;
END $$;

-- Posts an approved disbursement: the content must still hash to what was approved; the
-- reservation becomes a posting fund → payee and the budgets' pending becomes spent.
CREATE FUNCTION fund_disbursement_post(p_user bigint, p_scope ltree, p_request text, p_id bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d fund_disbursements := fund_disbursement_lock(p_id, p_scope);
    pid bigint;
BEGIN
    IF d.state <> 'approved' THEN
        RAISE EXCEPTION 'disbursement % is %: only an approved disbursement can be posted', d.id, d.state
            USING ERRCODE = 'GS409';
    END IF;
    IF fund_disbursement_hash(d) <> d.approved_hash THEN
        RAISE EXCEPTION 'disbursement % changed after it was approved: the approval is void', d.id
            USING ERRCODE = 'GS409';
    END IF;
    UPDATE fund_accounts SET pending = pending - d.amount WHERE id = d.fund_account_id;
    UPDATE fund_budgets b SET pending = b.pending - c.amount, spent = b.spent + c.amount
    FROM fund_budget_charges c WHERE c.disbursement_id = d.id AND c.budget_id = b.id;
    pid := fund_post('disbursement', ARRAY[d.fund_account_id, d.payee_account_id],
                     ARRAY[-d.amount, d.amount], p_user, p_request, d.purpose, '', d.id);
    UPDATE fund_disbursements SET state = 'posted', posted_by = p_user, posted_at = now(),
        posting_id = pid, updated_at = now()
    WHERE id = d.id;
    RETURN pid;
END $$;

-- Voids a prepared or approved disbursement, releasing an approval's reservations.
CREATE FUNCTION fund_disbursement_void(p_user bigint, p_scope ltree, p_id bigint, p_reason text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d fund_disbursements := fund_disbursement_lock(p_id, p_scope);
BEGIN
    IF d.state NOT IN ('prepared', 'approved') THEN
        RAISE EXCEPTION 'disbursement % is %: only a prepared or approved one can be voided', d.id, d.state
            USING ERRCODE = 'GS409';
    END IF;
    IF d.state = 'approved' THEN
        PERFORM fund_disbursement_release(d);
    END IF;
    UPDATE fund_disbursements SET state = 'voided', voided_by = p_user, voided_at = now(),
        void_reason = nullif(p_reason, ''), updated_at = now()
    WHERE id = d.id;
    RETURN d.state;
END $$;

-- Approved disbursements not posted within p_ttl expire and release their reservations.
-- Safe from several processes at once (SKIP LOCKED): each one expires exactly once, with
-- an audit row by the system. p_now lets tests move the clock. Returns how many expired.
CREATE FUNCTION fund_expire_disbursements(p_ttl interval, p_now timestamptz DEFAULT now())
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    d fund_disbursements;
    n integer := 0;
BEGIN
    FOR d IN SELECT * FROM fund_disbursements WHERE state = 'approved' AND approved_at < p_now - p_ttl
             ORDER BY id FOR UPDATE SKIP LOCKED LOOP
        PERFORM fund_disbursement_release(d);
        UPDATE fund_disbursements SET state = 'expired', voided_at = p_now,
            void_reason = 'approval expired after ' || p_ttl::text, updated_at = now()
        WHERE id = d.id;
        INSERT INTO audit_log (user_id, login, role, method, object, summary)
        VALUES (0, 'system', 'system', 'fund_expire_disbursements', 'disbursement:' || d.id,
                format('approval of disbursement %s (%s) expired unposted; reservation released',
                       d.id, fund_fmt(d.amount)));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Reverses posting p_posting by a new posting with every entry negated. A reversal is not
-- reversed again, and a posting is reversed at most once (UNIQUE reverses_id). Reversing a
-- disbursement's posting moves it to reversed and gives its budgets the money back.
CREATE FUNCTION fund_reverse(p_user bigint, p_scope ltree, p_request text, p_posting bigint, p_reason text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    p fund_postings;
    d fund_disbursements;
    prior bigint;
    pid bigint;
    accs bigint[];
    amts bigint[];
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'reason: required' USING ERRCODE = 'GS400';
    END IF;
    SELECT * INTO p FROM fund_postings WHERE id = p_posting FOR UPDATE;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM fund_entries e JOIN fund_accounts a ON a.id = e.account_id
                            LEFT JOIN org_units ou ON ou.id = a.org_unit_id
                            WHERE e.posting_id = p.id AND a.kind IN ('source', 'grid_fund')
                            AND NOT coalesce(ou.path <@ p_scope, false)) THEN
        RAISE EXCEPTION 'posting % not found', p_posting USING ERRCODE = 'GS404';
    END IF;
    IF p.kind = 'reversal' THEN
        RAISE EXCEPTION 'posting % is itself a reversal: post a new entry instead', p.id USING ERRCODE = 'GS409';
    END IF;
    SELECT id INTO prior FROM fund_postings WHERE reverses_id = p.id;
    IF FOUND THEN
        RAISE EXCEPTION 'posting % was already reversed by posting %', p.id, prior USING ERRCODE = 'GS409';
    END IF;
    SELECT array_agg(account_id ORDER BY account_id), array_agg(-amount ORDER BY account_id)
    INTO accs, amts FROM fund_entries WHERE posting_id = p.id;
    IF p.disbursement_id IS NOT NULL THEN
        SELECT * INTO d FROM fund_disbursements WHERE id = p.disbursement_id FOR UPDATE;
        -- accounts before budgets, the order approvals and postings lock them in
        PERFORM 1 FROM fund_accounts WHERE id = ANY (accs) ORDER BY id FOR UPDATE;
        UPDATE fund_budgets b SET spent = b.spent - c.amount
        FROM fund_budget_charges c WHERE c.disbursement_id = d.id AND c.budget_id = b.id;
        DELETE FROM fund_budget_charges WHERE disbursement_id = d.id;
    END IF;
    pid := fund_post('reversal', accs, amts, p_user, p_request, p_reason, '', p.disbursement_id, p.id);
    IF p.disbursement_id IS NOT NULL THEN
        UPDATE fund_disbursements SET state = 'reversed', reversal_posting_id = pid, updated_at = now()
        WHERE id = d.id;
    END IF;
    RETURN pid;
END $$;

-- Creates or changes a budget. A new budget takes over the disbursements already approved
-- or posted against it; an amount below what is spent or reserved is GS409.
CREATE FUNCTION fund_set_budget(p_user bigint, p_scope ltree, p_grid bigint, p_period text,
                                p_category text, p_amount bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    b fund_budgets;
    g org_units;
    bounds record;
BEGIN
    SELECT * INTO bounds FROM fund_period_bounds(p_period);
    IF p_amount IS NULL OR p_amount < 0 THEN
        RAISE EXCEPTION 'amount: must not be negative, got %', p_amount USING ERRCODE = 'GS400';
    END IF;
    SELECT * INTO g FROM org_units WHERE id = p_grid AND path <@ p_scope;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'grid % not found', p_grid USING ERRCODE = 'GS404';
    END IF;
    IF g.kind <> 'grid' THEN
        RAISE EXCEPTION 'grid: % is a %, budgets are per grid', g.code, g.kind USING ERRCODE = 'GS400';
    END IF;
    -- serialises with approvals on this grid's fund, so none escapes a budget being created
    PERFORM 1 FROM fund_accounts WHERE org_unit_id = g.id AND kind = 'grid_fund' FOR UPDATE;
    IF NOT EXISTS (SELECT 1 FROM fund_budgets WHERE org_unit_id = g.id AND period = p_period
                   AND category = p_category) THEN
        -- new: it takes over what is already approved or posted in its period (the amount
        -- is checked against that below)
        WITH t AS (
            SELECT d.id, d.amount, d.state FROM fund_disbursements d
            JOIN fund_accounts f ON f.id = d.fund_account_id
            WHERE f.org_unit_id = g.id AND d.category = p_category AND d.state IN ('approved', 'posted')
              AND (fund_period_bounds(d.period)).first_day >= bounds.first_day
              AND (fund_period_bounds(d.period)).first_day < bounds.end_day),
        ins AS (
            INSERT INTO fund_budgets (org_unit_id, period, first_day, end_day, category, amount, spent,
                                      pending, created_by, updated_by)
            SELECT g.id, p_period, bounds.first_day, bounds.end_day, p_category,
                   greatest(p_amount, coalesce(sum(amount), 0)),
                   coalesce(sum(amount) FILTER (WHERE state = 'posted'), 0),
                   coalesce(sum(amount) FILTER (WHERE state = 'approved'), 0), p_user, p_user
            FROM t
            ON CONFLICT (org_unit_id, period, category) DO NOTHING
            RETURNING id)
        INSERT INTO fund_budget_charges (budget_id, disbursement_id, amount)
        SELECT ins.id, t.id, t.amount FROM ins, t;
    END IF;
    SELECT * INTO b FROM fund_budgets WHERE org_unit_id = g.id AND period = p_period
        AND category = p_category FOR UPDATE;
    IF b.spent + b.pending > p_amount THEN
        RAISE EXCEPTION '% has % spent or reserved: it cannot be set to % (short by %)',
            fund_budget_label(b), fund_fmt(b.spent + b.pending), fund_fmt(p_amount),
            fund_fmt(b.spent + b.pending - p_amount) USING ERRCODE = 'GS409';
    END IF;
    UPDATE fund_budgets SET amount = p_amount, updated_by = p_user, updated_at = now() WHERE id = b.id;
    RETURN b.id;
END $$;

-- ---------------------------------------------------------------- verification
-- Every problem the ledger has, as text (empty: clean). Recomputes balances from entries,
-- pending from approved disbursements, budget spent/pending from charges, and checks
-- postings balance, the CHECKed invariants and approvals' hashes.
CREATE FUNCTION fund_verify_ledger() RETURNS SETOF text LANGUAGE sql STABLE AS $$
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
    SELECT format('account %s: pending %s but approved disbursements reserve %s', a.code, a.pending,
                  coalesce(s.total, 0))
    FROM fund_accounts a LEFT JOIN (SELECT fund_account_id, sum(amount) total FROM fund_disbursements
                                    WHERE state = 'approved' GROUP BY 1) s ON s.fund_account_id = a.id
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
$$;

-- ---------------------------------------------------------------- audit hash chain
-- audit_seal chains the audit log: each sealed row's hash = sha256(previous hash || the
-- row's canonical content). Rows are sealed in the order the sealer finds them committed
-- (id order within a run), so a row whose transaction committed late is sealed later,
-- never skipped. VerifyLedger recomputes the chain: a changed audit row no longer hashes
-- to its seal, a removed one leaves a seal with no row.
CREATE TABLE audit_seal (
    seq        bigserial PRIMARY KEY,
    audit_id   bigint NOT NULL UNIQUE,  -- no FK: a removed audit row must leave its seal
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

CREATE FUNCTION audit_genesis() RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(convert_to('gridstock audit chain v1', 'UTF8'))
$$;

CREATE FUNCTION audit_row_hash(prev bytea, a audit_log) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(prev || convert_to(jsonb_build_array(a.id,
        to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), a.user_id, a.login, a.role,
        a.method, a.object, a.request_id, a.summary)::text, 'UTF8'))
$$;

-- Seals the audit rows not sealed yet (at most 10,000 a run). One sealer at a time across
-- processes (advisory lock; the others return 0). Returns how many rows were sealed.
CREATE FUNCTION audit_seal() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    prev bytea;
    a audit_log;
    n integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('gridstock.audit_seal')) THEN
        RETURN 0;
    END IF;
    SELECT hash INTO prev FROM audit_seal ORDER BY seq DESC LIMIT 1;
    prev := coalesce(prev, audit_genesis());
    FOR a IN SELECT l.* FROM audit_log l WHERE NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.audit_id = l.id)
             ORDER BY l.id LIMIT 10000 LOOP
        INSERT INTO audit_seal (audit_id, prev_hash, hash) VALUES (a.id, prev, audit_row_hash(prev, a))
        RETURNING hash INTO prev;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Recomputes the chain. problems: changed rows, removed rows, broken links.
CREATE FUNCTION audit_verify(OUT sealed bigint, OUT unsealed bigint, OUT head text, OUT problems text[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    prev bytea := audit_genesis();
    s record;
BEGIN
    sealed := 0;
    problems := '{}';
    FOR s IN SELECT x.seq, x.audit_id, x.prev_hash, x.hash, l AS arow, l.id IS NOT NULL AS present
             FROM audit_seal x LEFT JOIN audit_log l ON l.id = x.audit_id ORDER BY x.seq LOOP
        sealed := sealed + 1;
        IF s.prev_hash <> prev THEN
            problems := problems || format('audit seal %s does not follow seal %s: the chain is broken',
                                           s.seq, s.seq - 1);
        END IF;
        IF NOT s.present THEN
            problems := problems || format('audit row %s was removed after it was sealed (seal %s)',
                                           s.audit_id, s.seq);
        ELSIF audit_row_hash(s.prev_hash, s.arow) <> s.hash THEN
            problems := problems || format('audit row %s was changed after it was sealed (seal %s)',
                                           s.audit_id, s.seq);
        END IF;
        prev := s.hash;
    END LOOP;
    head := encode(prev, 'hex');
    SELECT count(*) INTO unsealed FROM audit_log l WHERE NOT EXISTS (SELECT 1 FROM audit_seal x WHERE x.audit_id = l.id);
END $$;
