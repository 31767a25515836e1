-- 061_stock_value.sql — stock in yuan (issue 18). Every lot carries a unit cost in fen:
-- the price paid for a receipt against a purchase order (060 passes it), a declared value
-- for donations and plain receipts (the request's unit_cost_fen), the sending lot's cost
-- for a transfer; when nothing is declared, the item's lowest supplier list price today,
-- else 0. Lots that existed before take the price their order paid, else that list price.
-- Every movement records its value (qty × the lot's cost then; a receipt at the cost it came
-- in at), so history does not change when a lot is later topped up at another cost.
-- stock_value_report values what is held now and the losses of a period.
--
-- A caller that knows the cost of its next receipts says so with stock_set_unit_costs
-- (060: a transaction-local list that stock_receive takes from, one cost per receipt).

ALTER TABLE lots ADD COLUMN unit_cost_fen bigint NOT NULL DEFAULT 0
    CONSTRAINT lots_unit_cost_nonneg CHECK (unit_cost_fen >= 0);
ALTER TABLE stock_movements ADD COLUMN value_fen bigint NOT NULL DEFAULT 0;

-- The item's lowest list price valid today (what a unit would cost to replace), or 0.
CREATE FUNCTION stock_list_cost(p_item bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT min(unit_price_fen) FROM supplier_prices_current WHERE item_id = p_item), 0)::bigint
$$;

-- The declared cost of this receipt (NULL: none declared), taken off the head of the list
-- stock_set_unit_costs made, so that each cost serves one receipt.
CREATE FUNCTION stock_take_unit_cost() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v text := nullif(current_setting('gridstock.unit_costs', true), '');
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('gridstock.unit_costs', CASE WHEN strpos(v, ',') > 0 THEN substr(v, strpos(v, ',') + 1)
                                                    ELSE '' END, true);
    RETURN nullif(split_part(v, ',', 1), '')::bigint;
END $$;

-- Backfill: what the order paid for lots received against one, else the list price.
UPDATE lots l SET unit_cost_fen = coalesce((
    SELECT max(pl.unit_price_fen) FROM stock_movements m
      JOIN purchase_orders o ON m.ref_type = 'purchase_order' AND o.id = m.ref_id
      JOIN purchase_order_lines pl ON pl.order_id = o.id AND pl.item_id = l.item_id
     WHERE m.lot_id = l.id), stock_list_cost(l.item_id));

-- The value of a movement: qty × the lot's unit cost at the time (a receipt: the cost it
-- came in at, which stock_receive passes). Set on insert whatever writes the row.
CREATE FUNCTION stock_movements_value() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c text := nullif(current_setting('gridstock.movement_unit_cost', true), '');
BEGIN
    IF c IS NOT NULL AND NEW.kind IN ('receipt', 'transfer_in', 'donation_in') THEN
        NEW.value_fen := NEW.qty * c::bigint;
    ELSE
        NEW.value_fen := NEW.qty * (SELECT unit_cost_fen FROM lots WHERE id = NEW.lot_id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER stock_movements_value BEFORE INSERT ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION stock_movements_value();

-- Backfill the movements that exist (the ledger is append-only; this one migration writes
-- the new column of its past rows).
ALTER TABLE stock_movements DISABLE TRIGGER stock_movements_append_only;
UPDATE stock_movements m SET value_fen = m.qty * l.unit_cost_fen FROM lots l WHERE l.id = m.lot_id AND m.qty <> 0;
ALTER TABLE stock_movements ENABLE TRIGGER stock_movements_append_only;

-- As in 015, with the unit cost above.
CREATE OR REPLACE FUNCTION stock_receive(
    p_site bigint, p_item bigint, p_qty bigint, p_lot_code text, p_expires date,
    p_source text DEFAULT 'purchase', p_kind text DEFAULT 'receipt', p_reason text DEFAULT '',
    p_ref_type text DEFAULT '', p_ref_id bigint DEFAULT NULL, p_actor bigint DEFAULT NULL,
    p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS TABLE (lot_id bigint, on_hand bigint, movement_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s record;
    i record;
    lid bigint;
    oh bigint;
    mid bigint;
    cost bigint := stock_take_unit_cost();
BEGIN
    IF p_qty IS NULL OR p_qty <= 0 THEN
        PERFORM stock_fail('GS400', 'qty: must be positive, got %s', coalesce(p_qty::text, 'nothing'));
    END IF;
    IF p_kind NOT IN ('receipt', 'donation_in', 'transfer_in') THEN
        PERFORM stock_fail('GS400', 'kind: %s is not a receiving movement', p_kind);
    END IF;
    IF p_source NOT IN ('purchase', 'donation', 'transfer') THEN
        PERFORM stock_fail('GS400', 'source: "%s" is not one of purchase, donation, transfer', p_source);
    END IF;
    IF p_lot_code IS NULL OR p_lot_code !~ '^[A-Za-z0-9._/-]{1,64}$' THEN
        PERFORM stock_fail('GS400', 'lot_code: required, 1-64 of A-Z a-z 0-9 . _ / -');
    END IF;
    SELECT id, code, kind, active INTO s FROM sites WHERE id = p_site;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'site %s not found', p_site::text);
    END IF;
    SELECT id, code, active, shelf_life_days INTO i FROM items WHERE id = p_item;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'item %s not found', p_item::text);
    END IF;
    IF s.kind = 'supplier_market' THEN
        PERFORM stock_fail('GS409', 'site %s is a supplier market: stock is not kept there', s.code);
    END IF;
    IF p_kind <> 'transfer_in' THEN
        IF NOT s.active THEN
            PERFORM stock_fail('GS409', 'site %s is inactive', s.code);
        END IF;
        IF NOT i.active THEN
            PERFORM stock_fail('GS409', 'item %s is inactive', i.code);
        END IF;
        IF p_expires IS NULL AND i.shelf_life_days IS NOT NULL THEN
            PERFORM stock_fail('GS400', 'expires_on: required for %s (shelf life %s days)', i.code,
                               i.shelf_life_days::text);
        END IF;
        IF stock_expired(p_expires) THEN
            PERFORM stock_fail('GS409', 'lot %s of %s expired on %s: expired stock cannot be received',
                               p_lot_code, i.code, p_expires::text);
        END IF;
    END IF;

    -- the unit cost (061): what the caller declared, else the sending lot's for a transfer,
    -- else the item's lowest list price today, else 0
    IF cost IS NULL AND p_kind = 'transfer_in' AND p_ref_type = 'transfer' THEN
        SELECT x.unit_cost_fen INTO cost FROM lots x JOIN stock_transfers t ON t.from_site_id = x.site_id
         WHERE t.id = p_ref_id AND x.item_id = p_item AND x.lot_code = p_lot_code;
    END IF;
    cost := coalesce(cost, stock_list_cost(p_item));
    INSERT INTO lots AS l (site_id, item_id, lot_code, expires_on, source, on_hand, unit_cost_fen)
    VALUES (p_site, p_item, p_lot_code, p_expires, p_source, p_qty, cost)
    ON CONFLICT (site_id, item_id, lot_code) DO UPDATE
        SET on_hand = l.on_hand + EXCLUDED.on_hand, updated_at = now(),
            -- a lot topped up at another cost: the average of what it holds (no fen lost to
            -- rounding beyond half a fen a unit)
            unit_cost_fen = round((l.unit_cost_fen::numeric * l.on_hand + EXCLUDED.unit_cost_fen::numeric * EXCLUDED.on_hand)
                                  / nullif(l.on_hand + EXCLUDED.on_hand, 0))::bigint
        WHERE l.expires_on IS NOT DISTINCT FROM EXCLUDED.expires_on
    RETURNING l.id, l.on_hand INTO lid, oh;
    IF lid IS NULL THEN
        PERFORM stock_fail('GS409', 'lot %s of %s at %s already exists with expiry %s, not %s',
                           p_lot_code, i.code, s.code,
                           (SELECT coalesce(x.expires_on::text, 'none') FROM lots x
                             WHERE x.site_id = p_site AND x.item_id = p_item AND x.lot_code = p_lot_code),
                           coalesce(p_expires::text, 'none'));
    END IF;
    PERFORM set_config('gridstock.movement_unit_cost', cost::text, true);
    mid := stock_ledger_insert(p_kind, p_site, p_item, lid, p_qty, 0, p_reason, p_ref_type,
        p_ref_id, p_actor, p_request_id, p_note);
    PERFORM set_config('gridstock.movement_unit_cost', '', true);
    IF p_expires IS NOT NULL AND p_expires <= current_date + 30 AND NOT stock_expired(p_expires) THEN
        PERFORM stock_alert('near_expiry', p_site, p_item, lid, p_qty,
                            format('lot %s received %s units expiring on %s', p_lot_code, p_qty, p_expires));
    END IF;
    lot_id := lid;
    on_hand := oh;
    movement_id := mid;
    RETURN NEXT;
END $$;


-- ---------------------------------------------------------------- valuation
-- What the stock-keeping sites under p_path hold now, at the lots' unit costs, and the
-- losses of the days p_from .. p_to (the session's time zone, the district's) in positive fen, grouped by p_group:
-- 'site', 'community' (the site's unit at level 3), 'street' (level 2) or 'category'.
CREATE FUNCTION stock_value_report(p_path ltree, p_group text, p_from date, p_to date)
RETURNS TABLE (key text, name text, lots bigint, on_hand bigint, value_fen bigint, expired_fen bigint,
               damaged_fen bigint, variance_fen bigint)
LANGUAGE sql STABLE AS $$
    WITH site_keys AS (
        SELECT s.id AS site_id,
               CASE p_group WHEN 'site' THEN s.code ELSE coalesce(g.code, ou.code) END AS key,
               CASE p_group WHEN 'site' THEN s.name ELSE coalesce(g.name, ou.name) END AS name
          FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id
          LEFT JOIN org_units g ON p_group IN ('community', 'street')
               AND g.path = subpath(ou.path, 0, least(nlevel(ou.path), CASE p_group WHEN 'community' THEN 3 ELSE 2 END))
         WHERE ou.path <@ p_path AND s.kind <> 'supplier_market'
    ), held AS (
        SELECT CASE WHEN p_group = 'category' THEN i.category ELSE k.key END AS key,
               CASE WHEN p_group = 'category' THEN i.category ELSE k.name END AS name,
               count(*) AS lots, sum(l.on_hand) AS on_hand, sum(l.on_hand * l.unit_cost_fen) AS value_fen
          FROM lots l JOIN site_keys k ON k.site_id = l.site_id JOIN items i ON i.id = l.item_id
         WHERE l.on_hand > 0
         GROUP BY 1, 2
    ), lost AS (
        SELECT CASE WHEN p_group = 'category' THEN i.category ELSE k.key END AS key,
               CASE WHEN p_group = 'category' THEN i.category ELSE k.name END AS name,
               -sum(m.value_fen) FILTER (WHERE m.kind = 'expiry_writeoff'
                                          OR (m.kind = 'adjustment' AND m.qty < 0 AND m.reason = 'expired')) AS expired,
               -sum(m.value_fen) FILTER (WHERE m.kind = 'adjustment' AND m.qty < 0 AND m.reason <> 'expired') AS damaged,
               -sum(m.value_fen) FILTER (WHERE m.kind = 'stocktake_variance') AS variance
          FROM stock_movements m JOIN site_keys k ON k.site_id = m.site_id JOIN items i ON i.id = m.item_id
         WHERE m.at >= p_from::timestamptz AND m.at < (p_to + 1)::timestamptz
           AND m.kind IN ('expiry_writeoff', 'adjustment', 'stocktake_variance')
         GROUP BY 1, 2
    )
    SELECT coalesce(h.key, x.key), coalesce(h.name, x.name), coalesce(h.lots, 0)::bigint,
           coalesce(h.on_hand, 0)::bigint, coalesce(h.value_fen, 0)::bigint, coalesce(x.expired, 0)::bigint,
           coalesce(x.damaged, 0)::bigint, coalesce(x.variance, 0)::bigint
      FROM held h FULL JOIN lost x ON x.key = h.key
     ORDER BY 1
$$;
