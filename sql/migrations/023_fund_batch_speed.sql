-- 023_fund_batch_speed.sql — the ledger triggers of 020 made set-wise, so a programme run's
-- batch of 10,000 postings costs one statement per step rather than 30,000 trigger calls:
--  * balances: fund_entries_apply moved every account with one UPDATE per entry; now one
--    statement trigger applies each INSERT's entries as one UPDATE per account, in the same
--    statement (same transaction, same CHECKs: an overdraft is still refused).
--  * balance of each posting: the deferred per-entry check becomes a per-statement check
--    of every posting the INSERT touched (all writers — fund_post and fund_run_post —
--    insert a posting's entries in one statement). The deferred per-posting check stays,
--    so a posting without entries is still refused at commit.
-- Callers lock the accounts in id order before inserting entries (fund_post, fund_run_post),
-- so the aggregated UPDATE takes no lock it does not already hold.

CREATE FUNCTION fund_entries_apply_set() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    UPDATE fund_accounts a SET balance = a.balance + s.total
    FROM (SELECT account_id, sum(amount)::bigint total FROM new_entries GROUP BY 1) s
    WHERE a.id = s.account_id;
    SELECT e.posting_id, count(*) n, sum(e.amount) s INTO bad
    FROM fund_entries e WHERE e.posting_id IN (SELECT DISTINCT posting_id FROM new_entries)
    GROUP BY 1 HAVING count(*) < 2 OR sum(e.amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting % does not balance (% entries, sum %)', bad.posting_id, bad.n, bad.s
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER fund_entries_apply ON fund_entries;
DROP TRIGGER fund_entries_balanced ON fund_entries;
CREATE TRIGGER fund_entries_apply AFTER INSERT ON fund_entries REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION fund_entries_apply_set();
