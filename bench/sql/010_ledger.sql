-- 010_ledger.sql — bench data: a grid-fund ledger of :postings postings for the spending
-- report (psql -v postings=N; bench/run passes 10,000,000) paying the 10,000 payee accounts
-- BENCH-PAYEE-00001.. of 005_payees.sql, and the fund_spending summary the report reads
-- (022_fund_reports.sql) of exactly those payments. Set-based and fast: the postings and
-- their two entries each are written with generate_series while row triggers are off
-- (session_replication_role = replica), then every touched balance is recomputed from the
-- entries in one statement, so the ledger stays exactly as consistent as the server keeps
-- it: entries sum to zero per posting, balances equal the sum of their entries, and
-- fund_spending holds per grid, category ('subsidies') and month the sum and count of the
-- disbursement postings. (The postings stand for posted disbursements without writing the
-- 10 M fund_disbursements rows; VerifyLedger's check of the summary against those rows would
-- name the difference.)
--
-- Shape: one deposit EXTERNAL → BENCH-LEDGER-SRC, one allocation from it to each grid
-- fund, then disbursement postings grid fund → payee spread evenly over the 208 grids,
-- the 10,000 payees and the last 24 months, 100..99,999 fen each.
\set ON_ERROR_STOP 1
\if :{?postings}
\else
\set postings 10000000
\endif

BEGIN;
SET LOCAL session_replication_role = replica;   -- no row triggers, no FK checks: bulk load
SET LOCAL synchronous_commit = off;
SET LOCAL maintenance_work_mem = '512MB';
SET LOCAL work_mem = '256MB';
-- Secondary indexes are rebuilt after the load (same definitions as 020_funds.sql): one sort
-- instead of millions of random insertions.
DROP INDEX fund_entries_account;
DROP INDEX fund_postings_disbursement;

INSERT INTO fund_accounts (code, name, kind, org_unit_id)
SELECT 'BENCH-LEDGER-SRC', 'Benchmark ledger source', 'source', id FROM org_units WHERE code = 'DC'
ON CONFLICT (code) DO NOTHING;
INSERT INTO fund_accounts (code, name, kind, org_unit_id)   -- as 005_payees.sql, if run alone
SELECT 'BENCH-PAYEE-' || lpad(n::text, 5, '0'), 'Benchmark payee ' || n, 'payee',
       (SELECT id FROM org_units WHERE code = 'DC')
FROM generate_series(1, 10000) n
ON CONFLICT (code) DO NOTHING;

CREATE TEMP TABLE bench_grid ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY a.id) - 1 AS g, a.id AS account_id, a.org_unit_id
FROM fund_accounts a WHERE a.kind = 'grid_fund';
CREATE TEMP TABLE bench_payee ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY a.id) - 1 AS p, a.id AS account_id
FROM fund_accounts a WHERE a.code LIKE 'BENCH-PAYEE-%';
CREATE TEMP TABLE bench_ctx ON COMMIT DROP AS
SELECT (SELECT id FROM users WHERE login = 'fin.officer') AS user_id,
       (SELECT id FROM fund_accounts WHERE code = 'EXTERNAL') AS external_id,
       (SELECT id FROM fund_accounts WHERE code = 'BENCH-LEDGER-SRC') AS source_id,
       (SELECT count(*) FROM bench_grid) AS n_grids,
       greatest(:postings::bigint - 1 - (SELECT count(*) FROM bench_grid), 0) AS n_disb,
       (SELECT coalesce(max(id), 0) FROM fund_postings) AS base;

-- Amount of disbursement i (1-based) and its grid and payee.
CREATE TEMP TABLE bench_disb ON COMMIT DROP AS
SELECT i, 100 + (i * 7919) % 99900 AS amount, i % c.n_grids AS g, i % 10000 AS p,
       now() - ((i % 730) * interval '1 day') - ((i % 86400) * interval '1 second') AS at
FROM bench_ctx c, generate_series(1, (SELECT n_disb FROM bench_ctx)) i;

-- Each grid fund receives what it pays out (plus a margin), the source what it allocates.
CREATE TEMP TABLE bench_alloc ON COMMIT DROP AS
SELECT g.g, g.account_id, coalesce(sum(d.amount), 0) + 1000000 AS amount
FROM bench_grid g LEFT JOIN bench_disb d ON d.g = g.g GROUP BY g.g, g.account_id;

-- posting ids: base+1 deposit, base+2.. allocations, then disbursements
INSERT INTO fund_postings (id, kind, memo, created_by, request_id, created_at)
SELECT c.base + 1, 'deposit', 'bench ledger', c.user_id, 'bench-ledger-deposit', now() - interval '731 days'
FROM bench_ctx c;
INSERT INTO fund_entries (posting_id, account_id, amount)
SELECT c.base + 1, c.external_id, -(SELECT sum(amount) FROM bench_alloc) FROM bench_ctx c
UNION ALL
SELECT c.base + 1, c.source_id, (SELECT sum(amount) FROM bench_alloc) FROM bench_ctx c;

INSERT INTO fund_postings (id, kind, memo, created_by, request_id, created_at)
SELECT c.base + 2 + a.g, 'allocation', 'bench ledger', c.user_id, 'bench-ledger-alloc-' || a.g,
       now() - interval '731 days'
FROM bench_ctx c, bench_alloc a;
INSERT INTO fund_entries (posting_id, account_id, amount)
SELECT c.base + 2 + a.g, c.source_id, -a.amount FROM bench_ctx c, bench_alloc a
UNION ALL
SELECT c.base + 2 + a.g, a.account_id, a.amount FROM bench_ctx c, bench_alloc a;

INSERT INTO fund_postings (id, kind, memo, created_by, request_id, created_at)
SELECT c.base + 1 + c.n_grids + d.i, 'disbursement', 'bench subsidy', c.user_id, '', d.at
FROM bench_ctx c, bench_disb d;
INSERT INTO fund_entries (posting_id, account_id, amount)
SELECT c.base + 1 + c.n_grids + d.i, g.account_id, -d.amount
FROM bench_ctx c, bench_disb d JOIN bench_grid g ON g.g = d.g;
INSERT INTO fund_entries (posting_id, account_id, amount)
SELECT c.base + 1 + c.n_grids + d.i, p.account_id, d.amount
FROM bench_ctx c, bench_disb d JOIN bench_payee p ON p.p = d.p;

-- The spending summary of those disbursements, as the posting trigger would have kept it.
INSERT INTO fund_spending AS s (org_unit_id, category, month, amount, disbursements)
SELECT g.org_unit_id, 'subsidies', date_trunc('month', d.at)::date, sum(d.amount), count(*)
FROM bench_disb d JOIN bench_grid g ON g.g = d.g
GROUP BY 1, 2, 3
ON CONFLICT (org_unit_id, category, month) DO UPDATE
    SET amount = s.amount + excluded.amount, disbursements = s.disbursements + excluded.disbursements;

CREATE INDEX fund_entries_account ON fund_entries (account_id, posting_id);
CREATE INDEX fund_postings_disbursement ON fund_postings (disbursement_id);

SELECT setval(pg_get_serial_sequence('fund_postings', 'id'), (SELECT max(id) FROM fund_postings));

-- Balances from the entries, as the row trigger would have kept them.
UPDATE fund_accounts a SET balance = s.total
FROM (SELECT account_id, sum(amount) AS total FROM fund_entries GROUP BY account_id) s
WHERE a.id = s.account_id AND a.balance <> s.total;

SELECT (SELECT count(*) FROM fund_postings) AS postings, (SELECT count(*) FROM fund_entries) AS entries,
       (SELECT count(*) FROM fund_spending) AS spending_rows;
COMMIT;
