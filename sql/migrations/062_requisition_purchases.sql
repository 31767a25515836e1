-- 062_requisition_purchases.sql — one approval for goods and money (issue 18). When the
-- approver of a requisition asks for it, the approval also allocates what stock there is
-- and buys the shortfall: for each open backorder line, the supplier market with the
-- lowest price valid today (the nearest to the requisition on a tie), one order per
-- supplier, delivered to the reserve point nearest the requisition in the approver's
-- scope, paid from the requesting grid's fund under the budget category 'material_purchases'
-- ('emergency' for an emergency requisition). The requester is the order's author and the
-- approver places it (maker ≠ checker, 060), which reserves the money; all in the caller's
-- transaction. Cancelling the requisition cancels its open orders and releases their money
-- (a trigger, so it holds whatever cancels it).

ALTER TABLE purchase_orders ADD COLUMN requisition_id bigint REFERENCES requisitions(id);
CREATE INDEX purchase_orders_requisition ON purchase_orders (requisition_id) WHERE requisition_id IS NOT NULL;

-- Buys the open backorders of requisition p_req (already allocated as far as stock went).
-- Returns one row per order made. GS409 when the requisition is not from a grid, a line's
-- item has no price anywhere, or the fund or budget cannot take it (020's formats).
CREATE FUNCTION req_purchase_shortfall(p_req bigint, p_scope ltree, p_actor bigint)
RETURNS TABLE (order_id bigint, supplier_site_id bigint, lines int, reserved_fen bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r record;
    fund bigint;
    dest bigint;
    x record;
    cur_supplier bigint := NULL;
    oid bigint := NULL;
    n int := 0;
    amt bigint;
BEGIN
    SELECT q.id, q.number, q.org_unit_id, q.requester_id, q.priority, ou.code AS unit_code INTO r
      FROM requisitions q JOIN org_units ou ON ou.id = q.org_unit_id WHERE q.id = p_req;
    SELECT a.id INTO fund FROM fund_accounts a WHERE a.kind = 'grid_fund' AND a.org_unit_id = r.org_unit_id;
    IF fund IS NULL THEN
        PERFORM stock_fail('GS409', 'requisition %s is from %s, not a grid: no grid fund pays for its shortfall',
                           r.number, r.unit_code);
    END IF;
    -- delivered to the reserve point nearest the requisition, within the approver's scope
    SELECT s.id INTO dest FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id, req_origin(p_req) o
     WHERE s.active AND s.kind = 'reserve_point' AND ou.path <@ p_scope
     ORDER BY coalesce(earth_distance(ll_to_earth(o.lat, o.lon), ll_to_earth(s.lat, s.lon)), 0), s.id LIMIT 1;
    IF dest IS NULL THEN
        PERFORM stock_fail('GS409', 'requisition %s: no active reserve point in your scope to deliver a purchase to',
                           r.number);
    END IF;
    FOR x IN
        WITH need AS (
            SELECT b.item_id, b.qty, it.code FROM requisition_backorders b JOIN items it ON it.id = b.item_id
             WHERE b.requisition_id = p_req AND b.status = 'open' AND b.qty > 0
        ), choice AS (
            SELECT DISTINCT ON (n.item_id) n.item_id, n.qty, n.code, p.supplier_site_id, p.unit_price_fen
              FROM need n
              LEFT JOIN (supplier_prices_current p
                         JOIN sites sm ON sm.id = p.supplier_site_id AND sm.active AND sm.kind = 'supplier_market')
                     ON p.item_id = n.item_id
              LEFT JOIN LATERAL req_origin(p_req) o ON true
             ORDER BY n.item_id, p.unit_price_fen NULLS LAST,
                      earth_distance(ll_to_earth(o.lat, o.lon), ll_to_earth(sm.lat, sm.lon)) NULLS LAST,
                      p.supplier_site_id
        )
        SELECT * FROM choice ORDER BY supplier_site_id NULLS FIRST, item_id
    LOOP
        IF x.supplier_site_id IS NULL THEN
            PERFORM stock_fail('GS409', 'requisition %s: no supplier market has a price for %s today',
                               r.number, x.code);
        END IF;
        IF cur_supplier IS DISTINCT FROM x.supplier_site_id THEN
            IF oid IS NOT NULL THEN
                amt := proc_order_reserve(oid, p_actor);
                UPDATE purchase_orders SET status = 'placed', placed_by = p_actor, placed_at = now(),
                       reserved_fen = amt WHERE id = oid;
                order_id := oid; supplier_site_id := cur_supplier; lines := n; reserved_fen := amt;
                RETURN NEXT;
            END IF;
            INSERT INTO purchase_orders (supplier_site_id, site_id, note, created_by, fund_account_id,
                                         budget_category, requisition_id)
            VALUES (x.supplier_site_id, dest, left('shortfall of requisition ' || r.number, 500), r.requester_id,
                    fund, CASE WHEN r.priority = 'emergency' THEN 'emergency' ELSE 'material_purchases' END, p_req)
            RETURNING id INTO oid;
            cur_supplier := x.supplier_site_id;
            n := 0;
        END IF;
        INSERT INTO purchase_order_lines (order_id, item_id, qty, unit_price_fen)
        VALUES (oid, x.item_id, x.qty, x.unit_price_fen);
        n := n + 1;
    END LOOP;
    IF oid IS NOT NULL THEN
        amt := proc_order_reserve(oid, p_actor);
        UPDATE purchase_orders SET status = 'placed', placed_by = p_actor, placed_at = now(),
               reserved_fen = amt WHERE id = oid;
        order_id := oid; supplier_site_id := cur_supplier; lines := n; reserved_fen := amt;
        RETURN NEXT;
    END IF;
END $$;

-- A cancelled requisition cancels the orders bought for it that are still open, releasing
-- what they reserve (a partly received one is closed short).
CREATE FUNCTION requisitions_cancel_purchases() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT id FROM purchase_orders WHERE requisition_id = NEW.id
               AND status IN ('draft', 'placed', 'partly_received') ORDER BY id FOR UPDATE LOOP
        PERFORM proc_order_release(o.id);
        UPDATE purchase_orders SET status = 'cancelled', closed_at = now(),
               cancel_reason = left('requisition ' || NEW.number || ' cancelled', 500)
         WHERE id = o.id;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER requisitions_cancel_purchases AFTER UPDATE OF status ON requisitions
    FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status <> 'cancelled')
    EXECUTE FUNCTION requisitions_cancel_purchases();

INSERT INTO error_reasons (fmt, reason, arg_keys) VALUES
    ('requisition %s is from %s, not a grid: no grid fund pays for its shortfall', 'WRONG_STATE',
     '{requisition,unit}'),
    ('requisition %s: no active reserve point in your scope to deliver a purchase to', 'WRONG_STATE',
     '{requisition}'),
    ('requisition %s: no supplier market has a price for %s today', 'PRICE_MISSING', '{requisition,item}');
