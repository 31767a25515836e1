-- 024_fund_budget_bound.sql — a budget is at most 10^13 fen (100 billion yuan), the cap on
-- any one posting (GS_AMOUNT_MAX), which SetBudget checks in C too. NOT VALID: rows
-- already there are left as they are; every new or changed row is checked.
ALTER TABLE fund_budgets
    ADD CONSTRAINT fund_budgets_amount_bound CHECK (amount <= 10000000000000) NOT VALID;
