-- 083_charity_proposal_on_arrival.sql — a lot that arrives at a reserve point already
-- inside the near-expiry window (a receipt, a transfer in or a donation whose expiry is
-- within 30 days) is proposed to a charity station on the stock alert stream at once, in
-- the arrival's transaction (NOTIFY is delivered at its commit), as the arrival's own
-- near_expiry alert is (stock_lot_in). The periodic scan (072's stock_scan_near_expiry)
-- skips such lots — it announces only lots that were received outside the window and
-- have since entered it — so the proposal came from nowhere before.
--
-- A statement trigger over the movements each statement inserted, so a bulk import pays
-- one query, not one per row; the ledger writers stay as they are.

CREATE FUNCTION stock_movements_charity_proposals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lid bigint;
BEGIN
    FOR lid IN
        SELECT DISTINCT l.id
          FROM arrived m JOIN lots l ON l.id = m.lot_id JOIN sites s ON s.id = l.site_id
         WHERE m.kind IN ('receipt', 'transfer_in', 'donation_in') AND m.qty > 0
           AND s.kind = 'reserve_point' AND l.expires_on IS NOT NULL
           AND l.expires_on <= current_date + 30 AND NOT stock_expired(l.expires_on)
         ORDER BY l.id
    LOOP
        PERFORM charity_proposal_alert(lid);
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER stock_movements_charity_proposals AFTER INSERT ON stock_movements
    REFERENCING NEW TABLE AS arrived FOR EACH STATEMENT
    EXECUTE FUNCTION stock_movements_charity_proposals();
