-- 097_fund_budget_charges_keys.sql — the two foreign keys of fund_budget_charges go (issue 17;
-- 20,000 per-row checks per approved run of 10,000). The table is written only through its
-- functions (095; sql/roles.sql revokes the application role's INSERT, UPDATE and DELETE),
-- and they guarantee both, set-based:
--   budget_id: fund_budgets_charge and fund_run_approve charge the budgets they have just
--     selected and locked (FOR UPDATE) in the same function; a budget is never deleted
--     (roles.sql also takes DELETE on fund_budgets from the role, and nothing deletes one).
--   disbursement_id: both charge the disbursements they have locked; a disbursement is
--     never deleted (fund_disbursements_no_delete).
ALTER TABLE fund_budget_charges
    DROP CONSTRAINT fund_budget_charges_budget_id_fkey,
    DROP CONSTRAINT fund_budget_charges_disbursement_id_fkey;
