-- 096_fund_post_speed.sql — the two content hashes of each disbursement and the balance update
-- of a posted programme run, cheaper (issue 17); same results.
--
-- fund_disbursement_hash (020) was declared IMMUTABLE over a body that calls concat_ws and
-- convert_to, which are only STABLE; PostgreSQL inlines an SQL function only when its body
-- is no more volatile than its declaration, so every call was a separate SQL function
-- execution (20,000 per approved and posted run of 10,000). Declared STABLE (what its body
-- is; no index or constraint uses it), it is inlined into the approval's UPDATE and the
-- posting's check: the same bytes, about 40 % less time for the hashing query.
CREATE OR REPLACE FUNCTION fund_disbursement_hash(d fund_disbursements) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to(concat_ws('|', 'gridstock-disbursement-v1', d.id, d.fund_account_id,
        d.payee_account_id, d.category, d.amount, d.period, d.preparer_id, d.purpose), 'UTF8'))
$$;

-- A posted run moves the balance of every payee and grid fund it pays (10,208 rows for the
-- bench's run). Balances are in no index, but full pages made every such update a new
-- tuple on another page plus an entry in each of the four indexes. With room left in each
-- page the update stays on its page (HOT) and touches no index: half the time of that
-- UPDATE on the bench's cluster. CLUSTER rewrites the table once so the existing pages get
-- the room too (a short exclusive lock on a table of accounts, once; no lasting CLUSTER mark).
ALTER TABLE fund_accounts SET (fillfactor = 50);
CLUSTER fund_accounts USING fund_accounts_pkey;
ALTER TABLE fund_accounts SET WITHOUT CLUSTER;
