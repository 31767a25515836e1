-- 070_funds.sql — demo grid work funds: two funding sources with deposits, an allocation to
-- every grid's work fund, budgets per grid and category for the current month, quarter and
-- year, three programmes (the grid leader monthly subsidy for the 208 grid leaders, an
-- assessment reward with scores for last quarter, a volunteer allowance), six months of
-- subsidy runs already paid, and some activity and material spending, so the reports and
-- the README tour have something to show. The current month's subsidy is left for the tour.
-- Everything goes through the ledger functions of 020/021/026, as fin.officer (prepares) and
-- fin.approver (approves and posts): deposits and allocations are fund movements too.
--
-- Skipped for the database of tests/integration/test_funds.py, whose assertions count the
-- ledger from zero (total deposited, balances, budgets of 2026-11).

SELECT current_database() = 'gs_test_funds' AS skip_funds_demo \gset
\if :skip_funds_demo
\echo 070_funds.sql: skipped for gs_test_funds
\quit
\endif

BEGIN;

CREATE TEMP TABLE demo_ctx ON COMMIT DROP AS
SELECT (SELECT id FROM users WHERE login = 'fin.officer') AS officer,
       (SELECT id FROM users WHERE login = 'fin.approver') AS approver,
       (SELECT path FROM org_units WHERE code = 'DC') AS scope,
       date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date AS this_month;

-- ---------------------------------------------------------------- sources and deposits
INSERT INTO fund_accounts (code, name, kind, org_unit_id)
SELECT x.code, x.name, 'source', (SELECT id FROM org_units WHERE code = 'DC')
FROM (VALUES ('SRC-DISTRICT', 'Dachuan district pooled grid work funds'),
             ('SRC-CITY', 'City grid governance subsidy')) x(code, name);

-- Money moves by two people: prepared by fin.officer, approved and posted by fin.approver.
CREATE TEMP TABLE demo_moves (id bigint) ON COMMIT DROP;
INSERT INTO demo_moves
SELECT fund_movement_prepare_deposit(c.officer, c.scope, 'demo-deposit-1',
                                     (SELECT id FROM fund_accounts WHERE code = 'SRC-DISTRICT'), 800000000,
                                     'District appropriation for grid work funds ' || to_char(c.this_month, 'YYYY'))
FROM demo_ctx c
UNION ALL
SELECT fund_movement_prepare_deposit(c.officer, c.scope, 'demo-deposit-2',
                                     (SELECT id FROM fund_accounts WHERE code = 'SRC-CITY'), 200000000,
                                     'City subsidy for grid governance, first instalment')
FROM demo_ctx c;
SELECT count(fund_movement_approve(c.approver, c.scope, m.id)) FROM demo_ctx c, demo_moves m;
SELECT count(*) FROM demo_ctx c, demo_moves m, LATERAL fund_movement_post(c.approver, c.scope, 'demo-post-' || m.id, m.id);
DELETE FROM demo_moves;

-- Expense accounts the grids buy from (material and activities), district-wide.
INSERT INTO fund_accounts (code, name, kind, org_unit_id)
SELECT x.code, x.name, 'expense', (SELECT id FROM org_units WHERE code = 'DC')
FROM (VALUES ('EXP-MATERIAL', 'Material purchases (supplier markets)'),
             ('EXP-ACTIVITIES', 'Grid activities (meetings, training, publicity)'),
             ('EXP-EMERGENCY', 'Emergency response costs')) x(code, name);

-- ---------------------------------------------------------------- allocations
-- 30,000 yuan from the district pool to every grid, as one batch; larger grids get more
-- from the city subsidy.
INSERT INTO demo_moves
SELECT fund_movement_prepare_allocation(c.officer, c.scope, 'demo-allocate-1',
    (SELECT id FROM fund_accounts WHERE code = 'SRC-DISTRICT'),
    (SELECT array_agg(0::bigint ORDER BY code) FROM org_units WHERE kind = 'grid'),
    (SELECT array_agg(code ORDER BY code) FROM org_units WHERE kind = 'grid'),
    (SELECT array_agg(3000000::bigint ORDER BY code) FROM org_units WHERE kind = 'grid'),
    'Grid work fund allocation ' || to_char(c.this_month, 'YYYY'), 'demo-batch-district')
FROM demo_ctx c
UNION ALL
SELECT fund_movement_prepare_allocation(c.officer, c.scope, 'demo-allocate-2',
    (SELECT id FROM fund_accounts WHERE code = 'SRC-CITY'),
    (SELECT array_agg(0::bigint ORDER BY code) FROM org_units WHERE kind = 'grid'),
    (SELECT array_agg(code ORDER BY code) FROM org_units WHERE kind = 'grid'),
    (SELECT array_agg((200000 + residents * 100)::bigint ORDER BY code) FROM org_units WHERE kind = 'grid'),
    'City subsidy share by residents', 'demo-batch-city')
FROM demo_ctx c;
SELECT count(fund_movement_approve(c.approver, c.scope, m.id)) FROM demo_ctx c, demo_moves m;
SELECT count(*) FROM demo_ctx c, demo_moves m, LATERAL fund_movement_post(c.approver, c.scope, 'demo-post-' || m.id, m.id);

-- ---------------------------------------------------------------- budgets
-- Per grid and category for this month, this quarter and this year (fen).
SELECT count(fund_set_budget(c.officer, c.scope, g.id, p.period, b.category, b.amount * p.mult))
FROM demo_ctx c CROSS JOIN org_units g
CROSS JOIN (VALUES ('subsidies', 100000), ('rewards', 60000), ('activities', 80000),
                   ('material_purchases', 150000), ('emergency', 100000)) b(category, amount)
CROSS JOIN LATERAL (VALUES (to_char(c.this_month, 'YYYY-MM'), 1),
                           (to_char(c.this_month, 'YYYY-"Q"Q'), 3),
                           (to_char(c.this_month, 'YYYY'), 12)) p(period, mult)
WHERE g.kind = 'grid';

-- ---------------------------------------------------------------- programmes
INSERT INTO fund_programmes (code, name, kind, category, amount, org_unit_id, created_by)
SELECT x.code, x.name, x.kind, x.category, x.amount, (SELECT id FROM org_units WHERE code = 'DC'), c.officer
FROM demo_ctx c, (VALUES
    ('GL-SUBSIDY', 'Grid leader monthly subsidy', 'grid_leader_subsidy', 'subsidies', 80000),
    ('ASSESS-REWARD', 'Grid management assessment reward', 'assessment', 'rewards', 0),
    ('VOLUNTEER', 'Grid volunteer allowance', 'volunteer_allowance', 'activities', 20000)) x(code, name, kind, category, amount);

-- score >= 90: 500 yuan; >= 80: 300; >= 70: 100; >= 60: nothing; below 60: 200 yuan penalty
INSERT INTO fund_programme_bands (programme_id, min_score, amount)
SELECT (SELECT id FROM fund_programmes WHERE code = 'ASSESS-REWARD'), b.min_score, b.amount
FROM (VALUES (0, -20000), (60, 0), (70, 10000), (80, 30000), (90, 50000)) b(min_score, amount);

-- Assessment scores for last quarter, every grid (deterministic, 52..99).
SELECT fund_enter_scores(c.officer, c.scope,
    to_char(c.this_month - interval '3 months', 'YYYY-"Q"Q'),
    (SELECT array_agg(code ORDER BY code) FROM org_units WHERE kind = 'grid'),
    (SELECT array_agg((52 + (id * 37 + residents) % 48 + ((id * 13) % 4) * 0.25)::numeric ORDER BY code)
     FROM org_units WHERE kind = 'grid'),
    (SELECT array_agg(''::text ORDER BY code) FROM org_units WHERE kind = 'grid'))
FROM demo_ctx c;

-- Two volunteers per community's first grid, paid from that grid's fund.
INSERT INTO fund_accounts (code, name, kind, org_unit_id)
SELECT 'V-' || g.code || '-' || n, 'Volunteer ' || n || ' of ' || g.code, 'payee', g.id
FROM org_units g CROSS JOIN generate_series(1, 2) n
WHERE g.kind = 'grid' AND g.code IN (SELECT min(code) FROM org_units WHERE kind = 'grid' GROUP BY parent_id);
INSERT INTO fund_programme_members (programme_id, payee_account_id, grid_id, amount, added_by)
SELECT (SELECT id FROM fund_programmes WHERE code = 'VOLUNTEER'), a.id, a.org_unit_id, 0, c.officer
FROM fund_accounts a, demo_ctx c WHERE a.code LIKE 'V-GR%';

-- ---------------------------------------------------------------- history
-- The subsidy for the six months before this one: run, approved, posted.
SELECT fund_run_post(c.approver, c.scope, r.run_id, 'demo-post-' || m.n)
FROM demo_ctx c CROSS JOIN generate_series(6, 1, -1) m(n)
CROSS JOIN LATERAL fund_programme_run(c.officer, c.scope, (SELECT id FROM fund_programmes WHERE code = 'GL-SUBSIDY'),
    to_char(c.this_month - make_interval(months => m.n), 'YYYY-MM'),
    to_char(c.this_month - make_interval(months => m.n), 'YYYY-MM'), 'demo-run-' || m.n) r
CROSS JOIN LATERAL fund_run_approve(c.approver, c.scope, r.run_id, NULL, NULL, 'demo-approve-' || m.n) a;

-- Volunteer allowance for last month.
SELECT fund_run_post(c.approver, c.scope, r.run_id, 'demo-post-vol')
FROM demo_ctx c
CROSS JOIN LATERAL fund_programme_run(c.officer, c.scope, (SELECT id FROM fund_programmes WHERE code = 'VOLUNTEER'),
    to_char(c.this_month - interval '1 month', 'YYYY-MM'), to_char(c.this_month - interval '1 month', 'YYYY-MM'),
    'demo-run-vol') r
CROSS JOIN LATERAL fund_run_approve(c.approver, c.scope, r.run_id, NULL, NULL, 'demo-approve-vol') a;

-- Activities and material purchases in some grids over the last months.
CREATE TEMP TABLE demo_spend ON COMMIT DROP AS
SELECT fund_disbursement_prepare(c.officer, c.scope, f.id,
           (SELECT id FROM fund_accounts WHERE code = CASE WHEN k % 3 = 0 THEN 'EXP-ACTIVITIES' ELSE 'EXP-MATERIAL' END),
           CASE WHEN k % 3 = 0 THEN 'activities' ELSE 'material_purchases' END,
           (20000 + (g.id * 131 + k * 977) % 60000)::bigint,
           CASE WHEN k % 3 = 0 THEN 'Grid meeting and publicity ' ELSE 'Masks, disinfectant and flood bags ' END || g.code,
           to_char(c.this_month - make_interval(months => 1 + k % 5), 'YYYY-MM')) AS id
FROM demo_ctx c JOIN org_units g ON g.kind = 'grid' AND g.id % 4 = 0
JOIN fund_accounts f ON f.org_unit_id = g.id AND f.kind = 'grid_fund'
CROSS JOIN generate_series(1, 3) k;
SELECT count(fund_disbursement_approve(c.approver, c.scope, s.id, NULL)) FROM demo_ctx c, demo_spend s;
SELECT count(fund_disbursement_post(c.approver, c.scope, 'demo-spend', s.id)) FROM demo_ctx c, demo_spend s;

COMMIT;
