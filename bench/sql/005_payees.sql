-- 005_payees.sql — bench data: 10,000 payee accounts BENCH-PAYEE-00001..10000 of the district
-- (the fund.subsidy-batch programme's members; the generated ledger pays them too). One
-- INSERT; a repeat on the same database adds nothing.
\set ON_ERROR_STOP 1
INSERT INTO fund_accounts (code, name, kind, org_unit_id)
SELECT 'BENCH-PAYEE-' || lpad(n::text, 5, '0'), 'Benchmark payee ' || n, 'payee',
       (SELECT id FROM org_units WHERE code = 'DC')
FROM generate_series(1, 10000) n
ON CONFLICT (code) DO NOTHING;
