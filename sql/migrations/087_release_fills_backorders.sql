-- 087_release_fills_backorders.sql — stock freed by a release fills backorders (issue 18).
--
-- 065 fills open backorders whenever stock arrives at a site. Stock also becomes available
-- again when a reservation is released: a requisition cancelled (req_release 'released'),
-- reservations expired (requisition_expire_reservations), or any other stock_release. Each
-- release writes a 'release' movement (reserved_delta < 0) on the lot; this trigger runs
-- 065's own fill (stock_movements_fill_backorders → req_backorders_fill) for that lot, at
-- COMMIT like an arrival's, so the freed units go to the open backorders its site can serve
-- (priority, then age) in the releasing transaction. The cancelled requisition is no longer
-- approved or allocated by then, so it is never served its own released stock; a requisition
-- whose reservations expired (back to approved) keeps only its open backorder in line.
CREATE CONSTRAINT TRIGGER stock_movements_fill_backorders_on_release AFTER INSERT ON stock_movements
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.kind = 'release' AND NEW.reserved_delta < 0)
    EXECUTE FUNCTION stock_movements_fill_backorders();
