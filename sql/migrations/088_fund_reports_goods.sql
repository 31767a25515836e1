-- 088_fund_reports_goods.sql — the fund reports see goods too (issue 18).
--
-- * fund_purchase_spending: what purchases took from each fund (060: a receipt against a
--   funded order posts a 'purchase' posting, fund → the supplier's payee account), per
--   paying fund's org unit (a grid for a grid fund; a street or the district for a source),
--   the order's budget category and the district's month of the posting; a purchase posting
--   that was reversed counts for nothing. SpendingReport adds it to the disbursements of
--   fund_spending (022), which stays the disbursements' own summary (VerifyLedger checks it
--   against them).
-- * stock_unit_reserve_value: what the stock-keeping sites (not supplier markets) under a
--   unit hold now at the lots' unit costs (061), and how many such sites there are, so the
--   Balances report can show the reserves' value beside a grid's or street's fund.

CREATE VIEW fund_purchase_spending AS
SELECT f.org_unit_id, o.budget_category AS category, date_trunc('month', p.created_at)::date AS month,
       sum(-e.amount)::bigint AS amount, count(*)::bigint AS purchases
  FROM fund_postings p
  JOIN (SELECT DISTINCT order_id, posting_id FROM purchase_order_receipts WHERE posting_id IS NOT NULL) x
    ON x.posting_id = p.id
  JOIN purchase_orders o ON o.id = x.order_id
  JOIN fund_entries e ON e.posting_id = p.id AND e.account_id = o.fund_account_id
  JOIN fund_accounts f ON f.id = o.fund_account_id
 WHERE p.kind = 'purchase' AND NOT EXISTS (SELECT 1 FROM fund_postings r WHERE r.reverses_id = p.id)
 GROUP BY 1, 2, 3;

CREATE INDEX purchase_order_receipts_posting ON purchase_order_receipts (posting_id) WHERE posting_id IS NOT NULL;

CREATE FUNCTION stock_unit_reserve_value(p_path ltree, OUT sites bigint, OUT value_fen bigint)
LANGUAGE sql STABLE AS $$
    SELECT count(DISTINCT s.id)::bigint, coalesce(sum(l.on_hand * l.unit_cost_fen), 0)::bigint
      FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id
      LEFT JOIN lots l ON l.site_id = s.id AND l.on_hand > 0
     WHERE ou.path <@ p_path AND s.kind <> 'supplier_market'
$$;
