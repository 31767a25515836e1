-- 065_backorder_fill.sql — backorders that fill themselves (issue 18).
--
-- * Each backorder remembers the rule of the allocation that wrote it: the scope
--   (scope_path) and site kinds (site_kinds) req_allocate searched — the allocating
--   officer's scope and reserve points, or an emergency activation's area with its reserve
--   points and charity stations. A site "can serve" a backorder when it is active, of one
--   of those kinds and inside that scope: the same rule, never a second one.
-- * Whenever stock arrives (a movement that raises on hand: receipt, transfer_in,
--   donation_in, a positive adjustment or stocktake variance; purchase receipts and
--   donations post receipts and donation_ins), the arrived lot's available units go to the
--   open backorders that its site can serve, highest priority first (emergency, urgent,
--   routine), then oldest backorder, through req_allocate_line — the candidate rule,
--   locks, FEFO and distance of req_allocate (033), limited to that one lot. It runs in
--   the arrival's own transaction from a deferred constraint trigger on stock_movements,
--   i.e. at COMMIT, once the arrival's whole work is done (a transfer's shortfall
--   adjustment comes after its transfer_in). The trigger's WHEN and an index probe make an
--   arrival of an item nobody waits for cost next to nothing.
-- * A requisition still approved becomes allocated; an allocated one is topped up
--   (allocated → allocated, a transition of its own: history row, watch notification).
--   Each top-up renews the reservation time (gs.reservation_ttl_s, set by gridstockd from
--   its reservation_ttl_s on every session; one day when unset).
-- * Fills are exactly once and never more than asked: every fill locks the requisitions it
--   may serve in id order and re-reads each backorder and line under those locks; the lot
--   is the one its own arrival already holds. Each fill writes one audit row (object
--   lot:N, the arrival's actor and request id) carrying the captured changes.
-- * Open backorders feed restocking: requisition_backorder_demand now also names the site
--   whose restock serves each backorder first (the nearest site that keeps levels for the
--   item and can serve it), and stock_levels adds that demand to its proposal (what 030's
--   comment promised).

-- ---------------------------------------------------------------- the state machine
-- Mirror of {REQ_ALLOCATED, REQ_ALLOCATED} in server/services/requisitions/requisitions.c.
INSERT INTO requisition_state_transitions (from_state, to_state) VALUES ('allocated', 'allocated');

-- A transition that keeps the state (status_seq moves, status does not) must be in the
-- table too; requisitions_guard (030/032) lets any same-state update through.
CREATE FUNCTION requisitions_self_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM requisition_state_transitions WHERE from_state = OLD.status AND to_state = NEW.status;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'requisition % is %: it cannot become %', OLD.number, OLD.status, NEW.status
            USING ERRCODE = 'GS409';
    END IF;
    IF NEW.status_seq <> OLD.status_seq + 1 THEN
        NEW.status_by := NULL;
        NEW.status_comment := 'changed directly in the database by ' || current_user;
        NEW.status_seq := OLD.status_seq + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER requisitions_self_transition BEFORE UPDATE ON requisitions
    FOR EACH ROW WHEN (NEW.status = OLD.status AND NEW.status_seq <> OLD.status_seq)
    EXECUTE FUNCTION requisitions_self_transition();

-- History row and watch notification of a same-state transition (requisitions_record of
-- 032 records those that change the state; same payload).
CREATE FUNCTION requisitions_record_self() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    u record;
BEGIN
    INSERT INTO requisition_history (requisition_id, from_state, to_state, actor_id, comment)
    VALUES (NEW.id, OLD.status, NEW.status, NEW.status_by, NEW.status_comment);
    SELECT ou.code, ou.path::text AS path, coalesce(a.login, '') AS login INTO u
      FROM org_units ou LEFT JOIN users a ON a.id = NEW.status_by
     WHERE ou.id = NEW.org_unit_id;
    PERFORM pg_notify('gs_requisitions', json_build_object(
        'kind', 'transition', 'id', NEW.id, 'number', NEW.number, 'org_unit_id', NEW.org_unit_id,
        'org_unit_code', u.code, 'path', u.path, 'priority', NEW.priority,
        'from', OLD.status, 'to', NEW.status, 'actor', u.login,
        'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'comment', left(NEW.status_comment, 500))::text);
    RETURN NULL;
END $$;
CREATE TRIGGER requisitions_record_self AFTER UPDATE ON requisitions
    FOR EACH ROW WHEN (NEW.status = OLD.status AND NEW.status_seq <> OLD.status_seq)
    EXECUTE FUNCTION requisitions_record_self();

-- ---------------------------------------------------------------- the rule on the backorder
ALTER TABLE requisition_backorders ADD COLUMN scope_path ltree, ADD COLUMN site_kinds text[],
    ADD CONSTRAINT requisition_backorders_rule CHECK ((scope_path IS NULL) = (site_kinds IS NULL)
        AND (site_kinds IS NULL OR (cardinality(site_kinds) > 0
             AND site_kinds <@ ARRAY['reserve_point', 'charity_station'])));
-- Backorders written before this migration: an emergency approval's activation area, else
-- the approver's scope (the officers over the unit allocate); none known: filled only by
-- an officer's allocation, as before.
UPDATE requisition_backorders b
   SET scope_path = x.path, site_kinds = x.kinds
  FROM (SELECT r.id,
               CASE WHEN r.approved_by_activation IS NOT NULL THEN au.path ELSE su.path END AS path,
               CASE WHEN r.approved_by_activation IS NOT NULL THEN ARRAY['reserve_point', 'charity_station']
                    ELSE ARRAY['reserve_point'] END AS kinds
          FROM requisitions r
          LEFT JOIN emergency_activations ea ON ea.id = r.approved_by_activation
          LEFT JOIN org_units au ON au.id = ea.org_unit_id
          LEFT JOIN users ap ON ap.id = r.approved_by
          LEFT JOIN org_units su ON su.id = ap.scope_id) x
 WHERE x.id = b.requisition_id AND b.status = 'open' AND x.path IS NOT NULL;

-- ---------------------------------------------------------------- allocation, one line
-- Reserves up to p_need units of line p_line (item p_item) of requisition p_req among the
-- active sites of kinds p_kinds within p_scope, nearest to p_origin first, then site id,
-- FEFO, lot id; only lot p_lot when given. Candidate lots are locked in id order first,
-- then each is re-read under its lock (as in 033). Adds what it reserved to the line's
-- qty_allocated and returns it.
CREATE FUNCTION req_allocate_line(p_req bigint, p_number text, p_line bigint, p_item bigint, p_need bigint,
                                  p_origin earth, p_scope ltree, p_kinds text[], p_lot bigint,
                                  p_actor bigint, p_request_id text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    l record;
    need bigint := p_need;
    take bigint;
    got bigint := 0;
BEGIN
    IF need IS NULL OR need <= 0 THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM lots x JOIN sites s ON s.id = x.site_id JOIN org_units ou ON ou.id = s.org_unit_id
     WHERE x.item_id = p_item AND (p_lot IS NULL OR x.id = p_lot)
       AND s.active AND s.kind = ANY (p_kinds) AND ou.path <@ p_scope
       AND x.on_hand > x.reserved AND NOT stock_expired(x.expires_on)
     ORDER BY x.id FOR UPDATE OF x;
    FOR l IN
        WITH sd AS MATERIALIZED (
            SELECT s.id, coalesce(earth_distance(p_origin, ll_to_earth(s.lat, s.lon)), 0) AS dist
              FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id
             WHERE s.active AND s.kind = ANY (p_kinds) AND ou.path <@ p_scope)
        SELECT x.id, x.site_id, x.lot_code, x.on_hand - x.reserved AS avail, sd.dist
          FROM lots x JOIN sd ON sd.id = x.site_id
         WHERE x.item_id = p_item AND (p_lot IS NULL OR x.id = p_lot)
           AND x.on_hand > x.reserved AND NOT stock_expired(x.expires_on)
         ORDER BY sd.dist, x.site_id, x.expires_on NULLS LAST, x.id
           FOR UPDATE OF x
    LOOP
        EXIT WHEN need = 0;
        take := least(need, l.avail);
        PERFORM stock_reserve(l.site_id, p_item, take, l.lot_code, '', 'requisition', p_req,
                              p_actor, coalesce(p_request_id, ''), 'requisition ' || p_number);
        INSERT INTO requisition_allocations (requisition_id, line_id, site_id, lot_id, qty, distance_m)
        VALUES (p_req, p_line, l.site_id, l.id, take, l.dist);
        need := need - take;
        got := got + take;
    END LOOP;
    IF got > 0 THEN
        UPDATE requisition_lines SET qty_allocated = qty_allocated + got WHERE id = p_line;
    END IF;
    RETURN got;
END $$;

-- As in 033 (same candidates, order, locks and results), one line at a time through
-- req_allocate_line; each backorder it writes records p_scope and p_kinds.
CREATE OR REPLACE FUNCTION req_allocate(p_req bigint, p_scope ltree, p_kinds text[], p_actor bigint,
                             p_request_id text DEFAULT '')
RETURNS TABLE (allocated bigint, backordered bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    o record;
    ln record;
    need bigint;
    tot_alloc bigint := 0;
    tot_back bigint := 0;
    got bigint;
    oe earth;
BEGIN
    SELECT id, number, org_unit_id INTO r FROM requisitions WHERE id = p_req;
    SELECT * INTO o FROM req_origin(p_req);
    oe := ll_to_earth(o.lat, o.lon);
    FOR ln IN SELECT * FROM requisition_lines
               WHERE requisition_id = p_req AND coalesce(qty_approved, 0) > qty_allocated
               ORDER BY item_id
    LOOP
        need := ln.qty_approved - ln.qty_allocated;
        got := req_allocate_line(p_req, r.number, ln.id, ln.item_id, need, oe, p_scope, p_kinds, NULL,
                                 p_actor, p_request_id);
        need := need - got;
        INSERT INTO requisition_backorders AS b (line_id, requisition_id, item_id, org_unit_id, qty,
                                                 scope_path, site_kinds)
        VALUES (ln.id, p_req, ln.item_id, r.org_unit_id, need, p_scope, p_kinds)
        ON CONFLICT (line_id) DO UPDATE SET qty = EXCLUDED.qty, status = 'open', scope_path = EXCLUDED.scope_path,
            site_kinds = EXCLUDED.site_kinds, updated_at = now();
        tot_alloc := tot_alloc + got;
        tot_back := tot_back + need;
    END LOOP;
    allocated := tot_alloc;
    backordered := tot_back;
    RETURN NEXT;
END $$;

-- ---------------------------------------------------------------- the fill
-- Gives lot p_lot's available units to the open backorders its site can serve (see the
-- top of this file), priority then age; p_actor and p_request_id are the arrival's.
-- Returns the units allocated.
CREATE FUNCTION req_backorders_fill(p_lot bigint, p_actor bigint, p_request_id text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    x record;
    bo record;
    need bigint;
    got bigint;
    left_qty bigint;
    total bigint := 0;
    ttl integer := coalesce(nullif(current_setting('gs.reservation_ttl_s', true), '')::integer, 86400);
    done text[] := '{}';
    who record;
BEGIN
    SELECT l.id, l.item_id, l.site_id, l.lot_code, l.on_hand - l.reserved AS avail, l.expires_on,
           s.code AS site_code, s.kind AS site_kind, s.active, ou.path, i.code AS item_code
      INTO x
      FROM lots l JOIN sites s ON s.id = l.site_id JOIN org_units ou ON ou.id = s.org_unit_id
      JOIN items i ON i.id = l.item_id
     WHERE l.id = p_lot;
    IF NOT FOUND OR x.avail <= 0 OR NOT x.active OR stock_expired(x.expires_on) THEN
        RETURN 0;
    END IF;
    -- every requisition this lot may serve, locked in id order (two fills never deadlock)
    PERFORM 1 FROM requisitions r
     WHERE r.id IN (SELECT b.requisition_id FROM requisition_backorders b
                     WHERE b.item_id = x.item_id AND b.status = 'open' AND b.qty > 0
                       AND x.site_kind = ANY (b.site_kinds) AND x.path <@ b.scope_path)
       AND r.status IN ('approved', 'allocated')
     ORDER BY r.id FOR UPDATE;
    left_qty := x.avail;
    -- re-read under those locks
    FOR bo IN SELECT b.line_id, b.requisition_id, b.qty, b.scope_path, b.site_kinds, r.number,
                    r.status AS r_status, l.qty_approved, l.qty_allocated
               FROM requisition_backorders b
               JOIN requisitions r ON r.id = b.requisition_id
               JOIN requisition_lines l ON l.id = b.line_id
              WHERE b.item_id = x.item_id AND b.status = 'open' AND b.qty > 0
                AND r.status IN ('approved', 'allocated')
                AND x.site_kind = ANY (b.site_kinds) AND x.path <@ b.scope_path
              ORDER BY CASE r.priority WHEN 'emergency' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END,
                       b.created_at, b.line_id
                FOR UPDATE OF b, r
    LOOP
        EXIT WHEN left_qty <= 0;
        need := least(bo.qty, coalesce(bo.qty_approved, 0) - bo.qty_allocated, left_qty);
        got := req_allocate_line(bo.requisition_id, bo.number, bo.line_id, x.item_id, need,
                                 (SELECT ll_to_earth(o.lat, o.lon) FROM req_origin(bo.requisition_id) o),
                                 bo.scope_path, bo.site_kinds, p_lot, p_actor, p_request_id);
        IF got <= 0 THEN
            CONTINUE;
        END IF;
        UPDATE requisition_backorders SET qty = qty - got, updated_at = now() WHERE line_id = bo.line_id;
        left_qty := left_qty - got;
        total := total + got;
        done := done || format('%s +%s', bo.number, got);
        PERFORM req_transition(bo.requisition_id, 'allocated', p_actor,
                               format('backorder filled: %s %s from lot %s at %s (%s still backordered)',
                                      got, x.item_code, x.lot_code, x.site_code, bo.qty - got), ttl);
    END LOOP;
    IF total > 0 THEN
        SELECT id, login, role INTO who FROM users WHERE id = p_actor;
        INSERT INTO audit_log (user_id, login, role, method, object, request_id, summary)
        VALUES (coalesce(who.id, 0), coalesce(who.login, 'system'), coalesce(who.role, 'system'),
                'req_backorders_fill', 'lot:' || p_lot, coalesce(p_request_id, ''),
                left(format('backorders filled from lot %s of %s at %s: %s', x.lot_code, x.item_code,
                            x.site_code, array_to_string(done, ', ')), 1000));
    END IF;
    RETURN total;
END $$;

CREATE FUNCTION stock_movements_fill_backorders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM requisition_backorders
                WHERE item_id = NEW.item_id AND status = 'open' AND qty > 0) THEN
        PERFORM req_backorders_fill(NEW.lot_id, NEW.actor_id, NEW.request_id);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER stock_movements_fill_backorders AFTER INSERT ON stock_movements
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.qty > 0 AND NEW.kind IN ('receipt', 'transfer_in', 'donation_in', 'adjustment', 'stocktake_variance'))
    EXECUTE FUNCTION stock_movements_fill_backorders();

-- ---------------------------------------------------------------- restocking
-- As in 030, one row more per requesting unit and item when its backorders are first served
-- by different sites: site_id is the site whose restock serves the backorder first (the
-- nearest to the requisition's origin, then lowest id, of the active sites that keep levels
-- for the item and can serve it; NULL: none does).
CREATE OR REPLACE VIEW requisition_backorder_demand AS
SELECT b.item_id, b.org_unit_id, ou.path AS org_unit_path, sum(b.qty)::bigint AS qty,
       count(*)::int AS requisitions, min(b.created_at) AS oldest, sv.site_id
FROM requisition_backorders b JOIN org_units ou ON ou.id = b.org_unit_id
LEFT JOIN LATERAL (
    SELECT s.id AS site_id
      FROM req_origin(b.requisition_id) o, site_items si
      JOIN sites s ON s.id = si.site_id JOIN org_units su ON su.id = s.org_unit_id
     WHERE si.item_id = b.item_id AND s.active AND s.kind = ANY (b.site_kinds) AND su.path <@ b.scope_path
     ORDER BY earth_distance(ll_to_earth(o.lat, o.lon), ll_to_earth(s.lat, s.lon)) NULLS LAST, s.id
     LIMIT 1) sv ON true
WHERE b.status = 'open' AND b.qty > 0
GROUP BY b.item_id, b.org_unit_id, ou.path, sv.site_id;

-- As in 010, plus the backorder demand each site serves first (backordered): the proposal
-- is par_level + backordered - available - on_order, and a site is low also when its
-- available stock cannot cover that demand.
CREATE OR REPLACE VIEW stock_levels AS
SELECT si.site_id, si.item_id, si.reorder_point, si.par_level,
       coalesce(b.on_hand, 0) AS on_hand, coalesce(b.reserved, 0) AS reserved,
       coalesce(b.available, 0) AS available, coalesce(b.expired, 0) AS expired,
       coalesce(o.qty, 0) AS on_order,
       greatest(0, si.par_level + coalesce(d.qty, 0) - coalesce(b.available, 0) - coalesce(o.qty, 0))::bigint
           AS proposed_qty,
       (coalesce(b.available, 0) < si.reorder_point OR coalesce(b.available, 0) < coalesce(d.qty, 0)) AS low,
       coalesce(d.qty, 0)::bigint AS backordered
FROM site_items si
LEFT JOIN stock_item_balances b ON b.site_id = si.site_id AND b.item_id = si.item_id
LEFT JOIN (SELECT site_id, item_id, sum(qty)::bigint AS qty FROM stock_on_order GROUP BY 1, 2) o
       ON o.site_id = si.site_id AND o.item_id = si.item_id
LEFT JOIN (SELECT site_id, item_id, sum(qty)::bigint AS qty FROM requisition_backorder_demand
            WHERE site_id IS NOT NULL GROUP BY 1, 2) d
       ON d.site_id = si.site_id AND d.item_id = si.item_id;
