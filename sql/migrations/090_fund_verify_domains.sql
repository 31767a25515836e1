-- 090_fund_verify_domains.sql — VerifyLedger as one check function per domain (issue 13).
-- Until now each domain that touched the ledger re-created fund_verify_ledger_core whole
-- (026 copied 020's body to add fund movements, 060 copied 026's to add purchases) and 022
-- wrapped it for the fund reports' summaries. Here each domain has its own check, and
-- fund_verify_ledger() — what VerifyLedger reads — is their UNION ALL, in the order the
-- problems came before: the same rows, the same words.
--
-- What a domain holds on the ledger is listed once: fund_verify_reserved() (what it
-- reserves on fund accounts, their `pending`) and fund_verify_budget_uses() (what it
-- charges to budgets). A new domain that touches the ledger adds its rows to those two
-- and its own fund_verify_<domain>() to fund_verify_ledger(); nothing else is copied.
-- fund_verify_ledger_core is dropped: nothing calls it any more.

-- ---------------------------------------------------------------- what domains hold
-- Reservations on fund accounts: approved disbursements, approved fund movements (their
-- debits), funded purchase orders (060; call-offs are orders too, 067).
CREATE FUNCTION fund_verify_reserved() RETURNS TABLE (account_id bigint, amount bigint)
LANGUAGE sql STABLE AS $$
    SELECT fund_account_id, amount FROM fund_disbursements WHERE state = 'approved'
    UNION ALL
    SELECT x.account_id, x.amount FROM fund_movements m, fund_movement_debits(m) x WHERE m.state = 'approved'
    UNION ALL
    SELECT fund_account_id, reserved_fen FROM purchase_orders WHERE reserved_fen > 0
$$;

-- Budget uses: a disbursement's charges (spent once posted, pending while approved, stray
-- in any other state) and a funded purchase order's charges (060).
CREATE FUNCTION fund_verify_budget_uses() RETURNS TABLE (budget_id bigint, spent bigint, pending bigint,
                                                         stray bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.budget_id, CASE WHEN d.state = 'posted' THEN c.amount ELSE 0 END,
           CASE WHEN d.state = 'approved' THEN c.amount ELSE 0 END,
           CASE WHEN d.state NOT IN ('posted', 'approved') THEN 1 ELSE 0 END
    FROM fund_budget_charges c JOIN fund_disbursements d ON d.id = c.disbursement_id
    UNION ALL
    SELECT budget_id, spent, reserved, 0 FROM purchase_order_charges
$$;

-- ---------------------------------------------------------------- the checks, by domain
-- The ledger itself: every posting balances, every account's balance is its entries,
-- its pending is what the domains reserve, and no account is on the wrong side of zero.
CREATE FUNCTION fund_verify_funds() RETURNS SETOF text LANGUAGE sql STABLE AS $$
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
    FROM fund_accounts a LEFT JOIN (SELECT account_id, sum(amount) total FROM fund_verify_reserved() GROUP BY 1) s
        ON s.account_id = a.id
    WHERE a.pending <> coalesce(s.total, 0)
    UNION ALL
    SELECT format('account %s: %s (balance %s, pending %s)', a.code,
                  CASE WHEN a.kind = 'external' THEN 'positive balance' ELSE 'below zero' END,
                  a.balance, a.pending)
    FROM fund_accounts a
    WHERE (a.kind IN ('source', 'grid_fund') AND a.balance - a.pending < 0)
       OR (a.kind IN ('payee', 'expense') AND a.balance < 0) OR (a.kind = 'external' AND a.balance > 0)
       OR a.pending < 0
$$;

-- Budgets: spent and pending are what their uses say, and within the amount.
CREATE FUNCTION fund_verify_budgets() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT format('%s: spent %s, pending %s but its charges say %s and %s', fund_budget_label(b), b.spent,
                  b.pending, coalesce(s.spent, 0), coalesce(s.pending, 0))
    FROM fund_budgets b LEFT JOIN (
        SELECT budget_id, sum(spent) spent, sum(pending) pending, sum(stray) stray
        FROM fund_verify_budget_uses() GROUP BY 1) s
        ON s.budget_id = b.id
    WHERE b.spent <> coalesce(s.spent, 0) OR b.pending <> coalesce(s.pending, 0) OR coalesce(s.stray, 0) > 0
    UNION ALL
    SELECT format('%s exceeded: %s spent, %s pending of %s', fund_budget_label(b), b.spent, b.pending, b.amount)
    FROM fund_budgets b WHERE b.spent + b.pending > b.amount
$$;

-- Disbursements: approved by another, unchanged since approval, posted as fund → payee.
CREATE FUNCTION fund_verify_disbursements() RETURNS SETOF text LANGUAGE sql STABLE AS $$
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

-- Fund movements (026): approved and posted by someone other than their preparer.
CREATE FUNCTION fund_verify_movements() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT format('fund movement %s (%s): approved or posted by its preparer', m.id, m.state)
    FROM fund_movements m WHERE m.approver_id = m.preparer_id OR m.posted_by = m.preparer_id
$$;

-- Funded purchase orders (060): reserved is the outstanding value at the order's prices
-- while open, nothing once closed; spent is what its receipts cost and what was posted;
-- every budget charge follows the order; approved by someone other than its author.
CREATE FUNCTION fund_verify_purchases() RETURNS SETOF text LANGUAGE sql STABLE AS $$
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

-- The spending summary (022, kept by triggers for the fund reports) is what the posted
-- disbursements say.
CREATE FUNCTION fund_verify_spending() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT format('spending summary %s/%s/%s: %s fen in %s disbursements, but the disbursements say %s fen in %s',
                  ou.code, coalesce(s.category, t.category), to_char(coalesce(s.month, t.month), 'YYYY-MM'),
                  coalesce(s.amount, 0), coalesce(s.disbursements, 0), coalesce(t.amount, 0), coalesce(t.n, 0))
    FROM fund_spending s
    FULL JOIN (SELECT f.org_unit_id, d.category, (d.period || '-01')::date AS month, sum(d.amount) amount,
                      count(*) n
               FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id
               WHERE d.state = 'posted' GROUP BY 1, 2, 3) t
        ON t.org_unit_id = s.org_unit_id AND t.category = s.category AND t.month = s.month
    JOIN org_units ou ON ou.id = coalesce(s.org_unit_id, t.org_unit_id)
    WHERE coalesce(s.amount, 0) <> coalesce(t.amount, 0) OR coalesce(s.disbursements, 0) <> coalesce(t.n, 0)
$$;

-- Programme runs (021): each item's disbursement pays its net to its payee.
CREATE FUNCTION fund_verify_programmes() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT format('programme run %s, payee %s: the item pays %s fen but disbursement %s is %s fen to %s',
                  i.run_id, i.payee_account_id, i.net, d.id, d.amount, d.payee_account_id)
    FROM fund_programme_run_items i JOIN fund_disbursements d ON d.id = i.disbursement_id
    WHERE d.amount <> i.net OR d.payee_account_id <> i.payee_account_id
$$;

-- ---------------------------------------------------------------- the entry point
CREATE OR REPLACE FUNCTION fund_verify_ledger() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT * FROM fund_verify_funds()
    UNION ALL SELECT * FROM fund_verify_budgets()
    UNION ALL SELECT * FROM fund_verify_disbursements()
    UNION ALL SELECT * FROM fund_verify_movements()
    UNION ALL SELECT * FROM fund_verify_purchases()
    UNION ALL SELECT * FROM fund_verify_spending()
    UNION ALL SELECT * FROM fund_verify_programmes()
$$;

DROP FUNCTION fund_verify_ledger_core();
