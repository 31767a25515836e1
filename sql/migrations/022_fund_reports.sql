-- 022_fund_reports.sql — what the fund reports read fast: fund_spending, the posted
-- disbursements per grid, category and month (net of reversals), kept by a statement
-- trigger in the transaction that posts or reverses (a batch of 10,000 is one upsert per
-- grid/category/month), so the spending report reads a few thousand rows however long the
-- ledger grows. VerifyLedger recomputes it, and checks that every programme run item
-- still matches its disbursement.

CREATE TABLE fund_spending (
    org_unit_id   bigint NOT NULL REFERENCES org_units(id),  -- the grid
    category      text NOT NULL,
    month         date NOT NULL,                             -- first day of the disbursement's period
    amount        bigint NOT NULL,                           -- fen posted minus fen reversed
    disbursements bigint NOT NULL,                           -- posted minus reversed
    PRIMARY KEY (org_unit_id, category, month)
);
CREATE INDEX fund_spending_month ON fund_spending (month);

CREATE FUNCTION fund_spending_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fund_spending AS s (org_unit_id, category, month, amount, disbursements)
    SELECT f.org_unit_id, n.category, (n.period || '-01')::date,
           sum(CASE WHEN n.state = 'posted' THEN n.amount ELSE -n.amount END),
           sum(CASE WHEN n.state = 'posted' THEN 1 ELSE -1 END)
    FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN fund_accounts f ON f.id = n.fund_account_id
    WHERE n.state <> o.state AND n.state IN ('posted', 'reversed')
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (org_unit_id, category, month) DO UPDATE
        SET amount = s.amount + excluded.amount, disbursements = s.disbursements + excluded.disbursements;
    RETURN NULL;
END $$;
CREATE TRIGGER fund_spending_apply AFTER UPDATE ON fund_disbursements
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fund_spending_apply();

-- what is there already (nothing on a new database)
INSERT INTO fund_spending (org_unit_id, category, month, amount, disbursements)
SELECT f.org_unit_id, d.category, (d.period || '-01')::date, sum(d.amount), count(*)
FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id
WHERE d.state = 'posted' GROUP BY 1, 2, 3;

-- VerifyLedger: the core checks (020) and these.
ALTER FUNCTION fund_verify_ledger() RENAME TO fund_verify_ledger_core;
CREATE FUNCTION fund_verify_ledger() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT * FROM fund_verify_ledger_core()
    UNION ALL
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
    UNION ALL
    SELECT format('programme run %s, payee %s: the item pays %s fen but disbursement %s is %s fen to %s',
                  i.run_id, i.payee_account_id, i.net, d.id, d.amount, d.payee_account_id)
    FROM fund_programme_run_items i JOIN fund_disbursements d ON d.id = i.disbursement_id
    WHERE d.amount <> i.net OR d.payee_account_id <> i.payee_account_id
$$;

-- The register and the flags look disbursements up by approval time.
CREATE INDEX fund_disbursements_approved_at ON fund_disbursements (approved_at) WHERE approved_at IS NOT NULL;
