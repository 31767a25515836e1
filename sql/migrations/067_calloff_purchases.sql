-- 067_calloff_purchases.sql — a call-off is paid from its fund the way a purchase order is
-- (issue 18): each call-off made by supply_calloff_shortfall is, in the same transaction, a
-- purchase order (060) against the agreement's supplier market, one line at the call-off's
-- quantity and price, paid from the agreement's fund and budget category, for the
-- requisition (062: cancelling the requisition cancels it and releases its money), and
-- already placed, so its value is reserved on the fund and the limiting budgets when the
-- call-off is made and posted when goods are received against the order.
--
-- Maker and checker (060's CHECK placed_by <> created_by): the agreement is the standing
-- approval, so its creator is the order's author; the emergency requisition was approved by
-- the rule of an activation made by two people (032), and the order is placed by that
-- activation's confirmer, or by its proposer when the confirmer made the agreement: never
-- the author, as the CHECK demands.
--
-- Delivery: at the requisition's delivery site when it names an active one (not a supplier
-- market); else, a grid having no site of its own, at the active reserve point nearest the
-- requisition inside the activation's area (where emergency stock is drawn from). The
-- order's note carries the requisition's delivery address. No such site: nothing is called
-- off (the shortfall stays backordered).
--
-- A fund or budget that cannot pay (proc_order_reserve's GS409 refusals) leaves that
-- call-off unmade, order and commitment usage undone, and the next agreement is tried; what
-- no agreement can pay for stays backordered. Never a call-off without money: a new call-off
-- names its order (a CHECK, NOT VALID so call-offs made before this migration stay as they
-- were) and the order must match it (supply_calloffs_fill).

ALTER TABLE supply_calloffs ADD COLUMN purchase_order_id bigint REFERENCES purchase_orders(id),
    ADD CONSTRAINT supply_calloffs_paid CHECK (purchase_order_id IS NOT NULL) NOT VALID;
CREATE UNIQUE INDEX supply_calloffs_order ON supply_calloffs (purchase_order_id);

-- As in 066, and the call-off's order must be the agreement's supplier, fund and category,
-- for the call-off's requisition, placed with the call-off's amount reserved, with one line
-- of the call-off's item, quantity and price.
CREATE OR REPLACE FUNCTION supply_calloffs_fill() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a record;
BEGIN
    SELECT g.id, g.ended_at, g.valid_from, g.valid_until, g.fund_account_id, g.budget_category,
           g.delivery_hours, g.supplier_site_id, i.daily_qty, i.price_cap_fen
      INTO a
      FROM supply_agreements g JOIN supply_agreement_items i ON i.agreement_id = g.id AND i.item_id = NEW.item_id
     WHERE g.id = NEW.agreement_id
       FOR SHARE OF g;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'supply agreement % does not cover item %', NEW.agreement_id, NEW.item_id
            USING ERRCODE = 'GS404';
    END IF;
    IF a.ended_at IS NOT NULL OR current_date NOT BETWEEN a.valid_from AND a.valid_until THEN
        RAISE EXCEPTION 'supply agreement % is not in force on %', a.id, current_date USING ERRCODE = 'GS409';
    END IF;
    IF NEW.unit_price_fen > a.price_cap_fen THEN
        RAISE EXCEPTION 'a call-off at % fen is above the cap of % fen of supply agreement %',
            NEW.unit_price_fen, a.price_cap_fen, a.id USING ERRCODE = 'GS409';
    END IF;
    NEW.day := current_date;
    NEW.price_cap_fen := a.price_cap_fen;
    NEW.amount_fen := NEW.qty * NEW.unit_price_fen;
    NEW.fund_account_id := a.fund_account_id;
    NEW.budget_category := a.budget_category;
    NEW.due_at := now() + make_interval(hours => a.delivery_hours);
    NEW.created_at := now();
    INSERT INTO supply_commitment_usage (agreement_id, item_id, day, committed)
    VALUES (a.id, NEW.item_id, NEW.day, a.daily_qty) ON CONFLICT DO NOTHING;
    UPDATE supply_commitment_usage SET used = used + NEW.qty
     WHERE agreement_id = a.id AND item_id = NEW.item_id AND day = NEW.day AND used + NEW.qty <= committed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'supply agreement % has % of % left today: a call-off of % is more',
            a.id, (SELECT committed - used FROM supply_commitment_usage
                    WHERE agreement_id = a.id AND item_id = NEW.item_id AND day = NEW.day),
            a.daily_qty, NEW.qty USING ERRCODE = 'GS409';
    END IF;
    IF NEW.purchase_order_id IS NOT NULL THEN
        PERFORM 1 FROM purchase_orders o
         WHERE o.id = NEW.purchase_order_id AND o.supplier_site_id = a.supplier_site_id
           AND o.fund_account_id = a.fund_account_id AND o.budget_category = a.budget_category
           AND o.requisition_id = NEW.requisition_id AND o.status = 'placed' AND o.reserved_fen = NEW.amount_fen
           AND (SELECT array_agg(ARRAY[l.item_id, l.qty, l.unit_price_fen]) FROM purchase_order_lines l
                 WHERE l.order_id = o.id) = ARRAY[ARRAY[NEW.item_id, NEW.qty, NEW.unit_price_fen]];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'a call-off of supply agreement % is paid by a placed order of its supplier, fund and category for exactly it: purchase order % is not',
                a.id, NEW.purchase_order_id USING ERRCODE = 'GS409';
        END IF;
    END IF;
    RETURN NEW;
END $$;

INSERT INTO error_reasons (fmt, reason, arg_keys) VALUES
    ('a call-off of supply agreement % is paid by a placed order of its supplier, fund and category for exactly it: purchase order % is not',
     'CONSTRAINT_VIOLATED', '{agreement,order}'),
    ('constraint:supply_calloffs_paid', 'CONSTRAINT_VIOLATED', '{}');

-- As in 066, each call-off with its placed, funded purchase order (see the top of this file).
CREATE OR REPLACE FUNCTION supply_calloff_shortfall(p_req bigint, p_actor bigint, p_request_id text,
                                                    OUT units bigint, OUT calloffs integer)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    b record;
    g record;
    need bigint;
    take bigint;
    oe earth;
    dest bigint;
    oid bigint;
    placer bigint;
    amt bigint;
    paid boolean;
BEGIN
    units := 0;
    calloffs := 0;
    SELECT q.id, q.number, q.org_unit_id, q.priority, q.delivery_address, q.delivery_site_id, ou.path, ou.kind, ou.code,
           ea.proposed_by, ea.confirmed_by, eu.path AS area_path INTO r
      FROM requisitions q JOIN org_units ou ON ou.id = q.org_unit_id
      LEFT JOIN emergency_activations ea ON ea.id = q.approved_by_activation
      LEFT JOIN org_units eu ON eu.id = ea.org_unit_id
     WHERE q.id = p_req;
    IF NOT FOUND OR r.priority <> 'emergency' OR r.kind <> 'grid' OR r.confirmed_by IS NULL
       OR NOT EXISTS (SELECT 1 FROM req_emergency_activation(r.org_unit_id)) THEN
        RETURN;
    END IF;
    oe := (SELECT ll_to_earth(o.lat, o.lon) FROM req_origin(p_req) o);
    SELECT s.id INTO dest FROM sites s JOIN org_units su ON su.id = s.org_unit_id
     WHERE s.active AND s.kind <> 'supplier_market'
       AND (s.id = r.delivery_site_id OR (s.kind = 'reserve_point' AND su.path <@ r.area_path))
     ORDER BY s.id = r.delivery_site_id DESC NULLS LAST, coalesce(earth_distance(oe, ll_to_earth(s.lat, s.lon)), 0), s.id LIMIT 1;
    IF dest IS NULL THEN
        RETURN;
    END IF;
    FOR b IN SELECT bo.line_id, bo.item_id, bo.qty FROM requisition_backorders bo
              WHERE bo.requisition_id = p_req AND bo.status = 'open' AND bo.qty > 0
              ORDER BY bo.item_id FOR UPDATE
    LOOP
        need := b.qty;
        FOR g IN
            SELECT a.id, a.supplier_site_id, a.fund_account_id, a.budget_category, a.created_by,
                   a.delivery_hours, coalesce(p.unit_price_fen, i.price_cap_fen) AS price
              FROM supply_agreements a
              JOIN supply_agreement_items i ON i.agreement_id = a.id AND i.item_id = b.item_id
              JOIN org_units au ON au.id = a.org_unit_id
              JOIN sites s ON s.id = a.supplier_site_id AND s.active
              LEFT JOIN supplier_prices_current p ON p.item_id = b.item_id AND p.supplier_site_id = s.id
             WHERE a.ended_at IS NULL AND current_date BETWEEN a.valid_from AND a.valid_until
               AND au.path @> r.path AND coalesce(p.unit_price_fen, i.price_cap_fen) <= i.price_cap_fen
             ORDER BY coalesce(p.unit_price_fen, i.price_cap_fen), earth_distance(oe, ll_to_earth(s.lat, s.lon))
                      NULLS LAST, a.id
        LOOP
            EXIT WHEN need = 0;
            INSERT INTO supply_commitment_usage (agreement_id, item_id, day, committed)
            SELECT g.id, b.item_id, current_date, daily_qty FROM supply_agreement_items
             WHERE agreement_id = g.id AND item_id = b.item_id
            ON CONFLICT DO NOTHING;
            SELECT least(need, committed - used) INTO take FROM supply_commitment_usage
             WHERE agreement_id = g.id AND item_id = b.item_id AND day = current_date FOR UPDATE;
            CONTINUE WHEN take <= 0;
            placer := CASE WHEN r.confirmed_by <> g.created_by THEN r.confirmed_by ELSE r.proposed_by END;
            paid := true;
            BEGIN  -- a refusal of the money undoes the order and tries the next agreement
                INSERT INTO purchase_orders (supplier_site_id, site_id, note, expected_on, created_by,
                                             fund_account_id, budget_category, requisition_id)
                VALUES (g.supplier_site_id, dest,
                        left(format('call-off of supply agreement %s for requisition %s (%s): deliver to %s', g.id,
                                    r.number, r.code, coalesce(nullif(r.delivery_address, ''), r.code)), 500),
                        (now() + make_interval(hours => g.delivery_hours))::date, g.created_by,
                        g.fund_account_id, g.budget_category, p_req)
                RETURNING id INTO oid;
                INSERT INTO purchase_order_lines (order_id, item_id, qty, unit_price_fen)
                VALUES (oid, b.item_id, take, g.price);
                amt := proc_order_reserve(oid, placer);
            EXCEPTION WHEN SQLSTATE 'GS409' THEN
                paid := false;
            END;
            CONTINUE WHEN NOT paid;
            UPDATE purchase_orders SET status = 'placed', placed_by = placer, placed_at = now(), reserved_fen = amt
             WHERE id = oid;
            INSERT INTO supply_calloffs (agreement_id, item_id, requisition_id, line_id, grid_id, day, qty,
                                         unit_price_fen, price_cap_fen, amount_fen, fund_account_id,
                                         budget_category, delivery_address, due_at, actor_id, request_id,
                                         purchase_order_id)
            VALUES (g.id, b.item_id, p_req, b.line_id, r.org_unit_id, current_date, take, g.price, 0, 0, 0,
                    '', r.delivery_address, now(), p_actor, coalesce(p_request_id, ''), oid);
            need := need - take;
            units := units + take;
            calloffs := calloffs + 1;
        END LOOP;
        IF need < b.qty THEN
            UPDATE requisition_backorders SET qty = need, updated_at = now() WHERE line_id = b.line_id;
        END IF;
    END LOOP;
END $$;
