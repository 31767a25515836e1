-- 060_purchase_funds.sql — purchases paid from a fund (issue 18). A purchase order may name
-- the fund (a grid fund or a source in the author's reach) and the budget category it is
-- paid from. Such an order is placed only by someone other than its author, and placing it
-- is its approval: the order's value is reserved on the fund (pending) and on every budget
-- of the fund's unit, category and month that limits it (the same rule as disbursements).
-- Each receipt releases what its lines reserved (received qty × order price) and posts what
-- was received at the price actually paid (fund → the supplier's payee account, a real
-- posting of kind 'purchase'); cancelling (closing short) releases the rest. A receipt at a
-- price other than the order's needs a reason (purchase_order_receipts keeps both prices).
-- VerifyLedger (fund_verify_ledger_core) counts the orders' reservations and charges.
--
-- Errors: GS400 bad argument, GS403 the author approving, GS404 unknown, GS409 state or
-- money (the formats of 020 for an overdrawn fund or an exceeded budget).

-- ---------------------------------------------------------------- orders name their fund
ALTER TABLE purchase_orders
    ADD COLUMN fund_account_id bigint REFERENCES fund_accounts(id),
    ADD COLUMN budget_category text CHECK (budget_category IN ('subsidies', 'rewards', 'activities',
                                                               'material_purchases', 'emergency')),
    ADD COLUMN reserved_fen bigint NOT NULL DEFAULT 0 CHECK (reserved_fen >= 0),
    ADD COLUMN spent_fen bigint NOT NULL DEFAULT 0 CHECK (spent_fen >= 0),
    ADD CONSTRAINT purchase_orders_fund_and_category CHECK ((fund_account_id IS NULL) = (budget_category IS NULL)),
    ADD CONSTRAINT purchase_orders_funded_has_author CHECK (fund_account_id IS NULL OR created_by IS NOT NULL),
    -- maker ≠ checker: a funded order is placed (approved) by someone other than its author
    ADD CONSTRAINT purchase_orders_approver_not_author CHECK (fund_account_id IS NULL OR placed_by <> created_by),
    ADD CONSTRAINT purchase_orders_funded_placed_by CHECK (fund_account_id IS NULL OR placed_at IS NULL
                                                           OR placed_by IS NOT NULL),
    ADD CONSTRAINT purchase_orders_unfunded_no_money CHECK (fund_account_id IS NOT NULL
                                                            OR (reserved_fen = 0 AND spent_fen = 0));
CREATE INDEX purchase_orders_fund ON purchase_orders (fund_account_id) WHERE fund_account_id IS NOT NULL;

-- Which budgets a placed funded order is charged to (those whose period held the day it
-- was approved): reserved is what is still outstanding, spent what receipts posted.
CREATE TABLE purchase_order_charges (
    order_id   bigint NOT NULL REFERENCES purchase_orders(id),
    budget_id  bigint NOT NULL REFERENCES fund_budgets(id),
    reserved   bigint NOT NULL CHECK (reserved >= 0),
    spent      bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
    PRIMARY KEY (order_id, budget_id)
);
CREATE INDEX purchase_order_charges_budget ON purchase_order_charges (budget_id);

-- One row per received line: the price of the order line, the price paid (a different one
-- only with a reason), the receipt movement and, for a funded order, the fund posting.
CREATE TABLE purchase_order_receipts (
    id               bigserial PRIMARY KEY,
    order_id         bigint NOT NULL REFERENCES purchase_orders(id),
    line_id          bigint NOT NULL REFERENCES purchase_order_lines(id),
    movement_id      bigint NOT NULL,
    qty              bigint NOT NULL CHECK (qty > 0),
    order_price_fen  bigint NOT NULL CHECK (order_price_fen > 0),
    unit_price_fen   bigint NOT NULL CHECK (unit_price_fen > 0),
    price_reason     text NOT NULL DEFAULT '' CHECK (length(price_reason) <= 500),
    posting_id       bigint REFERENCES fund_postings(id),
    created_by       bigint REFERENCES users(id),
    request_id       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT purchase_order_receipts_price_reason CHECK (unit_price_fen = order_price_fen
                                                           OR length(btrim(price_reason)) > 0)
);
CREATE INDEX purchase_order_receipts_order ON purchase_order_receipts (order_id, id);
CREATE TRIGGER purchase_order_receipts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON purchase_order_receipts
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- The order price on a receipt row is the line's, whoever writes the row.
CREATE FUNCTION purchase_order_receipts_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM purchase_order_lines WHERE id = NEW.line_id AND order_id = NEW.order_id
                                          AND unit_price_fen = NEW.order_price_fen;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'GS409',
            MESSAGE = format('purchase order receipt: line %s of order %s is not at %s fen', NEW.line_id,
                             NEW.order_id, NEW.order_price_fen);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER purchase_order_receipts_check BEFORE INSERT ON purchase_order_receipts
    FOR EACH ROW EXECUTE FUNCTION purchase_order_receipts_check();

ALTER TABLE fund_postings DROP CONSTRAINT fund_postings_kind_check;
ALTER TABLE fund_postings ADD CONSTRAINT fund_postings_kind_check
    CHECK (kind IN ('deposit', 'allocation', 'disbursement', 'reversal', 'purchase'));

-- The money rules of a funded order, whatever writes it: the fund and category change only
-- while it is a draft; it is placed only with its value reserved; it closes (received or
-- cancelled) only with nothing left reserved.
CREATE FUNCTION purchase_orders_money_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status <> 'draft'
       AND (NEW.fund_account_id IS DISTINCT FROM OLD.fund_account_id
            OR NEW.budget_category IS DISTINCT FROM OLD.budget_category) THEN
        RAISE EXCEPTION USING ERRCODE = 'GS409',
            MESSAGE = format('purchase order %s is %s: only a draft''s fund can change', OLD.number, OLD.status);
    END IF;
    IF NEW.fund_account_id IS NULL THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.status = 'draft' AND NEW.status = 'placed'
       AND NEW.reserved_fen <> (SELECT coalesce(sum(qty * unit_price_fen), 0) FROM purchase_order_lines
                                 WHERE order_id = NEW.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'GS409',
            MESSAGE = format('purchase order %s: a funded order is placed with its value reserved', OLD.number);
    END IF;
    IF NEW.status IN ('received', 'cancelled', 'draft') AND NEW.reserved_fen <> 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'GS409',
            MESSAGE = format('purchase order %s: %s fen is still reserved on its fund', NEW.number,
                             NEW.reserved_fen);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER purchase_orders_money_guard BEFORE INSERT OR UPDATE ON purchase_orders
    FOR EACH ROW EXECUTE FUNCTION purchase_orders_money_guard();

-- ---------------------------------------------------------------- functions the server calls
-- The fund an order may be paid from: a grid fund or source in p_scope, active; by id, or
-- by code when p_id is 0. GS404 when unknown or out of reach (they look alike).
CREATE FUNCTION proc_order_fund(p_id bigint, p_code text, p_scope ltree) RETURNS fund_accounts
LANGUAGE plpgsql AS $$
DECLARE
    a fund_accounts;
BEGIN
    SELECT f.* INTO a FROM fund_accounts f JOIN org_units ou ON ou.id = f.org_unit_id
     WHERE (f.id = p_id OR (coalesce(p_id, 0) = 0 AND f.code = p_code)) AND ou.path <@ p_scope;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'fund_account_id: fund %s not found',
                           CASE WHEN coalesce(p_id, 0) <> 0 THEN p_id::text ELSE left(coalesce(p_code, ''), 80) END);
    END IF;
    IF a.kind NOT IN ('grid_fund', 'source') THEN
        PERFORM stock_fail('GS400', 'fund_account_id: account %s is a %s, not a grid fund or source', a.code, a.kind);
    END IF;
    IF NOT a.active THEN
        RAISE EXCEPTION 'account % is inactive', a.code USING ERRCODE = 'GS409';
    END IF;
    RETURN a;
END $$;

-- The supplier market's payee account (SUP-<site code>), opened on its first payment.
CREATE FUNCTION proc_supplier_payee(p_site bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    s sites;
    c text;
    aid bigint;
BEGIN
    SELECT * INTO s FROM sites WHERE id = p_site;
    c := left('SUP-' || upper(regexp_replace(s.code, '[^A-Za-z0-9._-]', '-', 'g')), 80);
    SELECT id INTO aid FROM fund_accounts WHERE code = c;
    IF NOT FOUND THEN
        INSERT INTO fund_accounts (code, name, kind, org_unit_id)
        VALUES (c, left('Supplier market ' || s.name, 200), 'payee', s.org_unit_id)
        ON CONFLICT (code) DO NOTHING RETURNING id INTO aid;
        IF aid IS NULL THEN  -- a concurrent first payment opened it
            SELECT id INTO aid FROM fund_accounts WHERE code = c;
        END IF;
    END IF;
    RETURN aid;
END $$;

-- Approval of draft p_order by p_actor (the caller has locked the order): refused to its
-- author (GS403); reserves its value on the fund and on every limiting budget. Returns the
-- amount reserved (0 for an order paid from no fund), which the caller writes as
-- reserved_fen when it places the order.
CREATE FUNCTION proc_order_reserve(p_order bigint, p_actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    o purchase_orders;
    f fund_accounts;
    b fund_budgets;
    total bigint;
BEGIN
    SELECT * INTO o FROM purchase_orders WHERE id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'purchase order %s not found', p_order::text);
    END IF;
    IF o.fund_account_id IS NULL THEN
        RETURN 0;
    END IF;
    IF o.created_by = p_actor THEN
        PERFORM stock_fail('GS403', 'purchase order %s: its author cannot approve it; another officer places it',
                           o.number);
    END IF;
    SELECT coalesce(sum(qty * unit_price_fen), 0) INTO total FROM purchase_order_lines WHERE order_id = o.id;
    UPDATE fund_accounts SET pending = pending + total
     WHERE id = o.fund_account_id AND active AND balance - pending >= total;
    IF NOT FOUND THEN
        SELECT * INTO f FROM fund_accounts WHERE id = o.fund_account_id;
        IF NOT f.active THEN
            RAISE EXCEPTION 'account % is inactive', f.code USING ERRCODE = 'GS409';
        END IF;
        RAISE EXCEPTION '% would be overdrawn by % (available %)', fund_account_label(f),
            fund_fmt(total - (f.balance - f.pending)), fund_fmt(f.balance - f.pending) USING ERRCODE = 'GS409';
    END IF;
    FOR b IN SELECT x.* FROM fund_budgets x JOIN fund_accounts a ON a.org_unit_id = x.org_unit_id
              WHERE a.id = o.fund_account_id AND x.category = o.budget_category
                AND x.first_day <= current_date AND current_date < x.end_day
              ORDER BY x.id FOR UPDATE OF x LOOP
        IF b.spent + b.pending + total > b.amount THEN
            RAISE EXCEPTION '% would be exceeded by % (budget %, spent %, reserved %)',
                fund_budget_label(b), fund_fmt(b.spent + b.pending + total - b.amount),
                fund_fmt(b.amount), fund_fmt(b.spent), fund_fmt(b.pending) USING ERRCODE = 'GS409';
        END IF;
        UPDATE fund_budgets SET pending = pending + total WHERE id = b.id;
        INSERT INTO purchase_order_charges (order_id, budget_id, reserved) VALUES (o.id, b.id, total);
    END LOOP;
    RETURN total;
END $$;

-- Releases what is still reserved for order p_order (cancelling or closing short): fund
-- pending, budgets' pending, the order's reserved_fen. Returns the amount released.
CREATE FUNCTION proc_order_release(p_order bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    o purchase_orders;
BEGIN
    SELECT * INTO o FROM purchase_orders WHERE id = p_order FOR UPDATE;
    IF o.fund_account_id IS NULL OR o.reserved_fen = 0 THEN
        RETURN 0;
    END IF;
    UPDATE fund_accounts SET pending = pending - o.reserved_fen WHERE id = o.fund_account_id;
    UPDATE fund_budgets b SET pending = b.pending - c.reserved
      FROM purchase_order_charges c WHERE c.order_id = o.id AND c.budget_id = b.id;
    UPDATE purchase_order_charges SET reserved = 0 WHERE order_id = o.id;
    UPDATE purchase_orders SET reserved_fen = 0 WHERE id = o.id;
    RETURN o.reserved_fen;
END $$;

-- The unit costs of this transaction's next receipts, in order: 061's stock_receive takes
-- one per lot it receives into, so a lot costs what was paid for it.
CREATE FUNCTION stock_set_unit_costs(p_fen bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_fen) x WHERE x < 0) THEN
        PERFORM stock_fail('GS400', 'unit_cost_fen: must not be negative');
    END IF;
    PERFORM set_config('gridstock.unit_costs', coalesce(array_to_string(p_fen, ',', ''), ''), true);
END $$;

-- Receives against order p_order as proc_order_receive does, at p_prices[i] fen a unit
-- (0: the order line's price; another price needs p_reasons[i]), and for a funded order
-- releases what the lines reserved (qty × order price) and posts what they cost (qty ×
-- price paid; fund → supplier, one posting per call). The money moves before the goods so
-- that the order closes with nothing reserved; a bad line (unknown, too many) is left to
-- proc_order_receive's refusal, which undoes it all. Returns the receipt movements in the
-- order of the lines.
CREATE FUNCTION proc_order_receive_paid(
    p_order bigint, p_lines bigint[], p_qtys bigint[], p_lots text[], p_expires date[], p_prices bigint[],
    p_reasons text[], p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS TABLE (k int, movement_id bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    o purchase_orders;
    n int := coalesce(array_length(p_lines, 1), 0);
    mids bigint[] := '{}';
    lprice bigint[] := '{}';
    paid bigint[] := '{}';
    whys text[] := '{}';
    r record;
    ln record;
    price bigint;
    why text;
    rel bigint := 0;
    spend bigint := 0;
    sane boolean := true;
    pid bigint;
    b record;
BEGIN
    IF coalesce(array_length(p_prices, 1), 0) <> n OR coalesce(array_length(p_reasons, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'lines: prices and reasons do not match the lines');
    END IF;
    SELECT * INTO o FROM purchase_orders WHERE id = p_order FOR UPDATE;
    FOR i IN 1 .. n LOOP
        SELECT l.unit_price_fen, l.qty - l.received_qty AS left_qty, it.code INTO ln
          FROM purchase_order_lines l JOIN items it ON it.id = l.item_id
         WHERE l.id = p_lines[i] AND l.order_id = p_order;
        IF NOT FOUND OR p_qtys[i] IS NULL OR p_qtys[i] <= 0 OR p_qtys[i] > ln.left_qty THEN
            sane := false;
            lprice := lprice || 0::bigint;
            paid := paid || 0::bigint;
            whys := whys || ''::text;
            CONTINUE;
        END IF;
        price := coalesce(nullif(p_prices[i], 0), ln.unit_price_fen);
        why := btrim(coalesce(p_reasons[i], ''));
        IF price < 0 THEN
            PERFORM stock_fail('GS400', 'lines[%s].unit_price_fen: must be positive, got %s', (i - 1)::text,
                               price::text);
        END IF;
        IF price <> ln.unit_price_fen AND why = '' THEN
            PERFORM stock_fail('GS400', 'lines[%s].price_reason: %s at %s fen is not the order''s %s fen: give a reason',
                               (i - 1)::text, ln.code, price::text, ln.unit_price_fen::text);
        END IF;
        lprice := lprice || ln.unit_price_fen;
        paid := paid || price;
        whys := whys || CASE WHEN price <> ln.unit_price_fen THEN left(why, 500) ELSE '' END;
        rel := rel + p_qtys[i] * ln.unit_price_fen;
        spend := spend + p_qtys[i] * price;
    END LOOP;
    IF o.id IS NOT NULL AND sane AND o.fund_account_id IS NOT NULL AND o.status IN ('placed', 'partly_received')
       AND rel <= o.reserved_fen AND n > 0 THEN
        -- release what these lines reserved, then spend what they cost
        UPDATE fund_accounts SET pending = pending - rel WHERE id = o.fund_account_id;
        FOR b IN SELECT x.id, x.amount, x.spent, x.pending FROM purchase_order_charges c
                   JOIN fund_budgets x ON x.id = c.budget_id
                  WHERE c.order_id = o.id ORDER BY x.id FOR UPDATE OF x, c LOOP
            IF b.spent + b.pending - rel + spend > b.amount THEN
                RAISE EXCEPTION '% would be exceeded by % (budget %, spent %, reserved %)',
                    (SELECT fund_budget_label(y) FROM fund_budgets y WHERE y.id = b.id),
                    fund_fmt(b.spent + b.pending - rel + spend - b.amount), fund_fmt(b.amount), fund_fmt(b.spent),
                    fund_fmt(b.pending) USING ERRCODE = 'GS409';
            END IF;
            UPDATE fund_budgets SET pending = pending - rel, spent = spent + spend WHERE id = b.id;
            UPDATE purchase_order_charges SET reserved = reserved - rel, spent = spent + spend
             WHERE order_id = o.id AND budget_id = b.id;
        END LOOP;
        pid := fund_post('purchase', ARRAY[o.fund_account_id, proc_supplier_payee(o.supplier_site_id)],
                         ARRAY[-spend, spend], coalesce(p_actor, 0), p_request_id,
                         format('purchase order %s', o.number));
        UPDATE purchase_orders SET reserved_fen = reserved_fen - rel, spent_fen = spent_fen + spend
         WHERE id = o.id;
    END IF;
    PERFORM stock_set_unit_costs(paid);
    FOR r IN SELECT x.k, x.movement_id FROM proc_order_receive(p_order, p_lines, p_qtys, p_lots, p_expires, p_actor,
                                                               p_request_id, p_note) x ORDER BY x.k LOOP
        mids := mids || r.movement_id;
    END LOOP;
    PERFORM stock_set_unit_costs('{}');
    FOR i IN 1 .. n LOOP
        INSERT INTO purchase_order_receipts (order_id, line_id, movement_id, qty, order_price_fen, unit_price_fen,
                                             price_reason, posting_id, created_by, request_id)
        VALUES (p_order, p_lines[i], mids[i], p_qtys[i], lprice[i], paid[i], whys[i], pid, p_actor,
                coalesce(p_request_id, ''));
        k := i - 1;
        movement_id := mids[i];
        RETURN NEXT;
    END LOOP;
END $$;

-- ---------------------------------------------------------------- VerifyLedger
-- As in 026, with the funded purchase orders' reservations in what accounts and budgets
-- have pending, their receipts in what budgets have spent, and the orders' own sums.
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
             WHERE m.state = 'approved'
            UNION ALL
            SELECT fund_account_id, reserved_fen FROM purchase_orders WHERE reserved_fen > 0) r GROUP BY 1) s
        ON s.acc = a.id
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
        SELECT budget_id, sum(spent) spent, sum(pending) pending, sum(stray) stray FROM (
            SELECT c.budget_id, CASE WHEN d.state = 'posted' THEN c.amount ELSE 0 END spent,
                   CASE WHEN d.state = 'approved' THEN c.amount ELSE 0 END pending,
                   CASE WHEN d.state NOT IN ('posted', 'approved') THEN 1 ELSE 0 END stray
            FROM fund_budget_charges c JOIN fund_disbursements d ON d.id = c.disbursement_id
            UNION ALL
            SELECT budget_id, spent, reserved, 0 FROM purchase_order_charges) x GROUP BY 1) s
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
    UNION ALL
    -- funded purchase orders (060): reserved is the outstanding value at the order's prices
    -- while open, nothing once closed; spent is what its receipts cost and what was posted;
    -- every budget charge follows the order; approved by someone other than its author
    SELECT format('purchase order %s (%s): %s', o.number, o.status, CASE
        WHEN o.placed_by = o.created_by THEN 'placed by its author'
        WHEN o.reserved_fen <> CASE WHEN o.status IN ('placed', 'partly_received') THEN coalesce(l.outstanding, 0)
                                    ELSE 0 END
            THEN format('reserves %s but %s is outstanding', o.reserved_fen, coalesce(l.outstanding, 0))
        WHEN o.spent_fen <> coalesce(rc.cost, 0)
            THEN format('spent %s but its receipts cost %s', o.spent_fen, coalesce(rc.cost, 0))
        WHEN o.spent_fen <> coalesce(pp.posted, 0)
            THEN format('spent %s but its postings took %s from the fund', o.spent_fen, coalesce(pp.posted, 0))
        ELSE 'a budget charge differs from the order' END)
    FROM purchase_orders o
    LEFT JOIN (SELECT order_id, sum((qty - received_qty) * unit_price_fen) outstanding FROM purchase_order_lines
                GROUP BY 1) l ON l.order_id = o.id
    LEFT JOIN (SELECT order_id, sum(qty * unit_price_fen) cost FROM purchase_order_receipts GROUP BY 1) rc
        ON rc.order_id = o.id
    LEFT JOIN (SELECT x.order_id, sum(-e.amount) posted
                 FROM (SELECT DISTINCT order_id, posting_id FROM purchase_order_receipts WHERE posting_id IS NOT NULL) x
                 JOIN purchase_orders oo ON oo.id = x.order_id
                 JOIN fund_entries e ON e.posting_id = x.posting_id AND e.account_id = oo.fund_account_id
                GROUP BY 1) pp ON pp.order_id = o.id
    WHERE o.fund_account_id IS NOT NULL AND (
          o.placed_by = o.created_by
       OR o.reserved_fen <> CASE WHEN o.status IN ('placed', 'partly_received') THEN coalesce(l.outstanding, 0)
                                 ELSE 0 END
       OR o.spent_fen <> coalesce(rc.cost, 0) OR o.spent_fen <> coalesce(pp.posted, 0)
       OR EXISTS (SELECT 1 FROM purchase_order_charges c WHERE c.order_id = o.id
                   AND (c.reserved <> o.reserved_fen OR c.spent <> o.spent_fen)))
$$;

-- ---------------------------------------------------------------- audit and reasons
SELECT audit_capture_attach('purchase_order_charges'::regclass, ARRAY['order_id', 'budget_id']);
SELECT audit_capture_attach('purchase_order_receipts'::regclass);

INSERT INTO error_reasons (fmt, reason, arg_keys) VALUES
    ('purchase order %s: its author cannot approve it; another officer places it', 'SECOND_PERSON_REQUIRED',
     '{order}'),
    ('purchase order %s is %s: only a draft''s fund can change', 'WRONG_STATE', '{order,state}'),
    ('purchase order %s: a funded order is placed with its value reserved', 'CONSTRAINT_VIOLATED', '{order}'),
    ('purchase order %s: %s fen is still reserved on its fund', 'CONSTRAINT_VIOLATED', '{order,reserved}'),
    ('purchase order receipt: line %s of order %s is not at %s fen', 'CONSTRAINT_VIOLATED', '{line,order,price}'),
    ('constraint:purchase_orders_approver_not_author', 'SECOND_PERSON_REQUIRED', '{}');
