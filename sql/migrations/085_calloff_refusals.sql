-- 085_calloff_refusals.sql — what became of a requisition's call-offs, seen by its requester
-- (issue 18).
--
-- * A call-off the agreement's fund or budget cannot pay (proc_order_reserve's GS409
--   refusals: an inactive account, an overdrawn fund, an exceeded budget) leaves a note on
--   the requisition: a requisition_history row of kind 'note' (the state does not change:
--   from_state = to_state) naming the agreement, the supplier, the units and the refusal,
--   and a 'note' event on the requisition watch stream (channel gs_requisitions).
-- * supply_calloff_shortfall catches only those refusals: any other GS409 raised while the
--   order is written (its INSERTs and their triggers) propagates and fails the call, as it
--   should; before this migration every GS409 in the block was taken for "cannot pay".
-- * A call-off has a delivery state that follows its purchase order (067): placed → partly
--   received → received, or cancelled (a requisition cancelled, an order closed short);
--   'recorded' for a call-off made before 067 (no order to follow). supply_calloff_states
--   derives it, with the units received against the call-off's order line, so it can never
--   disagree with the order.

-- ---------------------------------------------------------------- notes on a requisition
ALTER TABLE requisition_history ADD COLUMN kind text NOT NULL DEFAULT 'transition',
    ADD CONSTRAINT requisition_history_kind CHECK (kind IN ('transition', 'note')),
    -- a note records something that happened to the requisition, not a change of state
    ADD CONSTRAINT requisition_history_note_keeps_state CHECK (kind = 'transition' OR from_state = to_state);

-- Writes a note on requisition p_req (its history and its watchers): p_actor NULL is the
-- server. The requisition keeps its state.
CREATE FUNCTION req_note(p_req bigint, p_actor bigint, p_comment text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    q record;
BEGIN
    SELECT r.id, r.number, r.status, r.org_unit_id, r.priority, ou.code, ou.path::text AS path,
           coalesce(a.login, '') AS login INTO q
      FROM requisitions r JOIN org_units ou ON ou.id = r.org_unit_id LEFT JOIN users a ON a.id = p_actor
     WHERE r.id = p_req;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'requisition % not found', p_req USING ERRCODE = 'GS404';
    END IF;
    INSERT INTO requisition_history (requisition_id, from_state, to_state, actor_id, comment, kind)
    VALUES (q.id, q.status, q.status, p_actor, left(coalesce(p_comment, ''), 1000), 'note');
    PERFORM pg_notify('gs_requisitions', json_build_object(
        'kind', 'note', 'id', q.id, 'number', q.number, 'org_unit_id', q.org_unit_id,
        'org_unit_code', q.code, 'path', q.path, 'priority', q.priority,
        'from', q.status, 'to', q.status, 'actor', q.login,
        'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'comment', left(coalesce(p_comment, ''), 500))::text);
END $$;

-- ---------------------------------------------------------------- the call-off
-- As in 067, but only the money's refusal is caught (see the top of this file), and each
-- refusal is noted on the requisition.
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
    reserving boolean;
    why text;
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
    FOR b IN SELECT bo.line_id, bo.item_id, bo.qty, it.code AS item_code FROM requisition_backorders bo
               JOIN items it ON it.id = bo.item_id
              WHERE bo.requisition_id = p_req AND bo.status = 'open' AND bo.qty > 0
              ORDER BY bo.item_id FOR UPDATE OF bo
    LOOP
        need := b.qty;
        FOR g IN
            SELECT a.id, a.supplier_site_id, a.fund_account_id, a.budget_category, a.created_by,
                   a.delivery_hours, coalesce(p.unit_price_fen, i.price_cap_fen) AS price, s.code AS supplier_code
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
            reserving := false;  -- a variable: a rolled-back block does not undo it
            BEGIN  -- the money's refusal undoes the order and the next agreement is tried
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
                reserving := true;
                amt := proc_order_reserve(oid, placer);
                reserving := false;
            EXCEPTION WHEN SQLSTATE 'GS409' THEN
                IF NOT reserving THEN
                    RAISE;  -- not the money: writing the order failed, and so does the call
                END IF;
                GET STACKED DIAGNOSTICS why = MESSAGE_TEXT;
                paid := false;
            END;
            IF NOT paid THEN
                PERFORM req_note(p_req, NULL,
                                 format('call-off of %s %s from %s (supply agreement %s) refused: %s', take,
                                        b.item_code, g.supplier_code, g.id, why));
                CONTINUE;
            END IF;
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

-- ---------------------------------------------------------------- the call-off's state
-- Per call-off: its delivery state, following its purchase order (see the top of this file),
-- and the units received against it.
CREATE VIEW supply_calloff_states AS
SELECT c.id AS calloff_id,
       CASE WHEN o.id IS NULL THEN 'recorded' ELSE o.status END AS state,
       coalesce(l.received_qty, 0)::bigint AS qty_received
  FROM supply_calloffs c
  LEFT JOIN purchase_orders o ON o.id = c.purchase_order_id
  LEFT JOIN purchase_order_lines l ON l.order_id = o.id AND l.item_id = c.item_id;

INSERT INTO error_reasons (fmt, reason, arg_keys) VALUES
    ('constraint:requisition_history_note_keeps_state', 'CONSTRAINT_VIOLATED', '{}');
