-- 086_purchase_serves_requisition.sql — goods bought for a requisition serve it first
-- (issue 18).
--
-- An order bought for a requisition (purchase_orders.requisition_id: an emergency call-off
-- of 067, or the shortfall bought at approval by 062) delivers goods for that requisition.
-- Until now its receipt became free stock at the receiving site, and 065's fill gave it to
-- whichever open backorder came first. Now each received line (a purchase_order_receipts
-- row, written by proc_order_receive_paid in the receipt's transaction) is first reserved
-- for the order's requisition, when it is still approved or allocated:
--   * a call-off's order serves the requisition line it was called off for; that line's
--     backorder already left out the called-off units (066), so it stays as it is;
--   * a 062 order serves the requisition's lines of the item, in line order, and their
--     open backorders shrink by what is reserved (the order was bought for them);
-- never more than the line still needs (approved − allocated) nor than arrived, from the
-- arrived lot only (req_allocate_line: its locks, FEFO and accounting), and the
-- requisition becomes allocated, or is topped up (allocated → allocated), with a history
-- row and a watch event. What is left of the lot is free stock, and 065's fill (at
-- COMMIT, after this) serves the other backorders with it as before.

CREATE FUNCTION purchase_receipts_serve_requisition() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o record;
    x record;
    ln record;
    q record;
    left_qty bigint := NEW.qty;
    got bigint;
    total bigint := 0;
    ttl integer := coalesce(nullif(current_setting('gs.reservation_ttl_s', true), '')::integer, 86400);
BEGIN
    SELECT po.id, po.number, po.requisition_id, c.line_id AS calloff_line INTO o
      FROM purchase_orders po LEFT JOIN supply_calloffs c ON c.purchase_order_id = po.id
     WHERE po.id = NEW.order_id;
    IF o.requisition_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT r.id, r.number, r.status INTO q FROM requisitions r WHERE r.id = o.requisition_id FOR UPDATE;
    IF q.status NOT IN ('approved', 'allocated') THEN
        RETURN NULL;  -- dispatched, closed or cancelled: the goods are free stock
    END IF;
    SELECT m.lot_id, m.item_id, l.lot_code, s.code AS site_code, s.kind AS site_kind, su.path, i.code AS item_code
      INTO x
      FROM stock_movements m JOIN lots l ON l.id = m.lot_id JOIN sites s ON s.id = m.site_id
      JOIN org_units su ON su.id = s.org_unit_id JOIN items i ON i.id = m.item_id
     WHERE m.id = NEW.movement_id;
    FOR ln IN SELECT rl.id, coalesce(rl.qty_approved, 0) - rl.qty_allocated AS need
                FROM requisition_lines rl
               WHERE rl.requisition_id = q.id AND rl.item_id = x.item_id
                 AND (o.calloff_line IS NULL OR rl.id = o.calloff_line)
               ORDER BY rl.line_no, rl.id FOR UPDATE
    LOOP
        EXIT WHEN left_qty <= 0;
        CONTINUE WHEN ln.need <= 0;
        got := req_allocate_line(q.id, q.number, ln.id, x.item_id, least(ln.need, left_qty),
                                 (SELECT ll_to_earth(g.lat, g.lon) FROM req_origin(q.id) g),
                                 x.path, ARRAY[x.site_kind], x.lot_id, NEW.created_by, NEW.request_id);
        CONTINUE WHEN got <= 0;
        IF o.calloff_line IS NULL THEN
            UPDATE requisition_backorders SET qty = greatest(qty - got, 0), updated_at = now()
             WHERE line_id = ln.id AND status = 'open';
        END IF;
        left_qty := left_qty - got;
        total := total + got;
    END LOOP;
    IF total > 0 THEN
        PERFORM req_transition(q.id, 'allocated', NEW.created_by,
                               format('goods of purchase order %s received for it: %s %s reserved from lot %s at %s',
                                      o.number, total, x.item_code, x.lot_code, x.site_code), ttl);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER purchase_receipts_serve_requisition AFTER INSERT ON purchase_order_receipts
    FOR EACH ROW EXECUTE FUNCTION purchase_receipts_serve_requisition();
