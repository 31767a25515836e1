-- 030_requisitions.sql — requisitions (a grid's or community's request for supplies),
-- their lines, the stock reserved for them (allocations), backorders, the transition
-- history, readable numbers, and emergency mode with its per-grid caps.
--
-- The state machine is written once in C (server/requisitions.h: one enum, one
-- transition table) and mirrored here by requisition_state_transitions plus a trigger
-- that refuses any other change of status, whoever makes it. The trigger also records
-- every transition (who, when, comment) and notifies channel gs_requisitions, which
-- feeds WatchRequisitions in every server process.
--
-- Stock is only ever changed through 010_stock.sql's functions (stock_reserve via
-- req_allocate's lot picks, stock_release, stock_issue_reserved, stock_adjust), with
-- ref_type 'requisition' and ref_id the requisition's id.
--
-- Where allocation measures from: the delivery site's coordinates when the requisition
-- names one; otherwise the centroid of the active sites in the requesting unit's subtree,
-- or, when it has none (grids hold no sites), of its nearest ancestor that has some —
-- for a grid that is its community's reserve point and charity station.
--
-- Errors: GS400 bad argument, GS403 not allowed, GS404 unknown, GS409 wrong state.

-- ---------------------------------------------------------------- state machine
CREATE TABLE requisition_state_transitions (
    from_state text NOT NULL,
    to_state   text NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
-- Mirror of req_transitions[] in server/requisitions.h (tests compare the two).
INSERT INTO requisition_state_transitions (from_state, to_state) VALUES
    ('draft', 'submitted'), ('draft', 'cancelled'),
    ('submitted', 'approved'), ('submitted', 'rejected'), ('submitted', 'cancelled'),
    ('approved', 'allocated'), ('approved', 'cancelled'),
    ('allocated', 'dispatched'), ('allocated', 'cancelled'),
    ('allocated', 'approved'),   -- reservations expired: back in line for allocation
    ('dispatched', 'received'),
    ('received', 'closed');

-- ---------------------------------------------------------------- numbers
-- Last number handed out per community and year; the upsert's row lock serialises
-- concurrent creations, so numbers are unique and without gaps.
CREATE TABLE requisition_numbers (
    community_id bigint NOT NULL REFERENCES org_units(id),
    year         integer NOT NULL,
    last         integer NOT NULL CHECK (last > 0),
    PRIMARY KEY (community_id, year)
);

-- ---------------------------------------------------------------- requisitions
CREATE TABLE requisitions (
    id               bigserial PRIMARY KEY,
    number           text NOT NULL UNIQUE,
    org_unit_id      bigint NOT NULL REFERENCES org_units(id),
    requester_id     bigint NOT NULL REFERENCES users(id),
    priority         text NOT NULL DEFAULT 'routine' CHECK (priority IN ('routine', 'urgent', 'emergency')),
    needed_by        date,
    purpose          text NOT NULL DEFAULT '' CHECK (length(purpose) <= 1000),
    delivery_site_id bigint REFERENCES sites(id),
    delivery_address text NOT NULL DEFAULT '' CHECK (length(delivery_address) <= 500),
    status           text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'submitted',
                         'approved', 'rejected', 'allocated', 'dispatched', 'received', 'closed',
                         'cancelled')),
    -- the last transition: who (NULL: the server or a direct database change), why
    status_by        bigint REFERENCES users(id),
    status_comment   text NOT NULL DEFAULT '' CHECK (length(status_comment) <= 1000),
    status_seq       integer NOT NULL DEFAULT 0,
    auto_approved    boolean NOT NULL DEFAULT false,
    split_from_id    bigint REFERENCES requisitions(id),
    approved_by      bigint REFERENCES users(id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    submitted_at     timestamptz,
    approved_at      timestamptz,
    allocated_at     timestamptz,
    reserved_until   timestamptz,
    dispatched_at    timestamptz,
    received_at      timestamptz,
    closed_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- the requester never approves their own requisition, whatever the server does
    CONSTRAINT requisitions_not_self_approved CHECK (approved_by IS NULL OR approved_by <> requester_id),
    CONSTRAINT requisitions_auto_is_emergency CHECK (NOT auto_approved OR priority = 'emergency'),
    CONSTRAINT requisitions_reserved_when_allocated CHECK ((status = 'allocated') = (reserved_until IS NOT NULL))
);
CREATE INDEX requisitions_org_unit ON requisitions (org_unit_id, id);
CREATE INDEX requisitions_queue ON requisitions (submitted_at) WHERE status = 'submitted';
CREATE INDEX requisitions_reserved ON requisitions (reserved_until) WHERE status = 'allocated';

CREATE TABLE requisition_lines (
    id                 bigserial PRIMARY KEY,
    requisition_id     bigint NOT NULL REFERENCES requisitions(id),
    line_no            integer NOT NULL CHECK (line_no > 0),
    item_id            bigint NOT NULL REFERENCES items(id),
    qty_requested      bigint NOT NULL CHECK (qty_requested > 0),
    qty_approved       bigint CHECK (qty_approved >= 0 AND qty_approved <= qty_requested),
    approve_reason     text NOT NULL DEFAULT '' CHECK (length(approve_reason) <= 500),
    qty_allocated      bigint NOT NULL DEFAULT 0 CHECK (qty_allocated >= 0),
    qty_dispatched     bigint NOT NULL DEFAULT 0 CHECK (qty_dispatched >= 0),
    qty_accepted       bigint CHECK (qty_accepted >= 0),
    qty_rejected       bigint CHECK (qty_rejected >= 0),
    reject_reason      text NOT NULL DEFAULT '' CHECK (length(reject_reason) <= 500),
    reject_disposition text NOT NULL DEFAULT '' CHECK (reject_disposition IN ('', 'return', 'write_off')),
    note               text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    UNIQUE (requisition_id, item_id),
    UNIQUE (requisition_id, line_no),
    CHECK (qty_approved IS NULL OR qty_approved = qty_requested OR approve_reason <> ''),
    CHECK (qty_allocated <= coalesce(qty_approved, 0)),
    CHECK (qty_dispatched <= qty_allocated),
    CHECK (qty_accepted IS NULL OR qty_accepted + qty_rejected = qty_dispatched),
    CHECK (coalesce(qty_rejected, 0) = 0 OR (reject_reason <> '' AND reject_disposition <> ''))
);

CREATE TABLE requisition_allocations (
    id             bigserial PRIMARY KEY,
    requisition_id bigint NOT NULL REFERENCES requisitions(id),
    line_id        bigint NOT NULL REFERENCES requisition_lines(id),
    site_id        bigint NOT NULL REFERENCES sites(id),
    lot_id         bigint NOT NULL REFERENCES lots(id),
    qty            bigint NOT NULL CHECK (qty > 0),
    distance_m     double precision NOT NULL DEFAULT 0,
    status         text NOT NULL DEFAULT 'reserved' CHECK (status IN ('reserved', 'dispatched', 'released', 'expired')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    CHECK ((status = 'reserved') = (closed_at IS NULL))
);
CREATE INDEX requisition_allocations_req ON requisition_allocations (requisition_id, id);
CREATE INDEX requisition_allocations_lot ON requisition_allocations (lot_id) WHERE status = 'reserved';

-- Approved quantities no stock could cover at allocation time. Open backorders are demand
-- the restock proposal reads (requisition_backorder_demand); they close when the
-- requisition is closed or cancelled.
CREATE TABLE requisition_backorders (
    line_id        bigint PRIMARY KEY REFERENCES requisition_lines(id),
    requisition_id bigint NOT NULL REFERENCES requisitions(id),
    item_id        bigint NOT NULL REFERENCES items(id),
    org_unit_id    bigint NOT NULL REFERENCES org_units(id),
    qty            bigint NOT NULL CHECK (qty >= 0),
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX requisition_backorders_open ON requisition_backorders (item_id) WHERE status = 'open' AND qty > 0;

-- Open backorder demand per item and requesting unit (ltree path), for restocking.
CREATE VIEW requisition_backorder_demand AS
SELECT b.item_id, b.org_unit_id, ou.path AS org_unit_path, sum(b.qty)::bigint AS qty,
       count(*)::int AS requisitions, min(b.created_at) AS oldest
FROM requisition_backorders b JOIN org_units ou ON ou.id = b.org_unit_id
WHERE b.status = 'open' AND b.qty > 0
GROUP BY b.item_id, b.org_unit_id, ou.path;

CREATE TABLE requisition_history (
    id             bigserial PRIMARY KEY,
    requisition_id bigint NOT NULL REFERENCES requisitions(id),
    from_state     text NOT NULL DEFAULT '',
    to_state       text NOT NULL,
    actor_id       bigint REFERENCES users(id),
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    comment        text NOT NULL DEFAULT ''
);
CREATE INDEX requisition_history_req ON requisition_history (requisition_id, id);
CREATE TRIGGER requisition_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON requisition_history
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- ---------------------------------------------------------------- emergency mode
CREATE TABLE emergency_modes (
    org_unit_id  bigint PRIMARY KEY REFERENCES org_units(id),
    active       boolean NOT NULL,
    reason       text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    switched_by  bigint NOT NULL REFERENCES users(id),
    switched_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE emergency_mode_log (
    id           bigserial PRIMARY KEY,
    org_unit_id  bigint NOT NULL REFERENCES org_units(id),
    active       boolean NOT NULL,
    reason       text NOT NULL,
    switched_by  bigint NOT NULL REFERENCES users(id),
    switched_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER emergency_mode_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON emergency_mode_log
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

CREATE FUNCTION emergency_modes_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT kind FROM org_units WHERE id = NEW.org_unit_id) NOT IN ('district', 'street') THEN
        RAISE EXCEPTION 'org_unit_id: emergency mode is switched for a district or street'
            USING ERRCODE = 'GS400';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER emergency_modes_check BEFORE INSERT OR UPDATE ON emergency_modes
    FOR EACH ROW EXECUTE FUNCTION emergency_modes_check();

-- Every switch, whoever makes it, lands in the log.
CREATE FUNCTION emergency_modes_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO emergency_mode_log (org_unit_id, active, reason, switched_by, switched_at)
    VALUES (NEW.org_unit_id, NEW.active, NEW.reason, NEW.switched_by, NEW.switched_at);
    RETURN NULL;
END $$;
CREATE TRIGGER emergency_modes_log AFTER INSERT OR UPDATE ON emergency_modes
    FOR EACH ROW EXECUTE FUNCTION emergency_modes_log();

-- Daily cap per grid and item for auto-approval; set on a grid or on a unit above it (the
-- nearest setting applies to each grid below).
CREATE TABLE emergency_caps (
    org_unit_id  bigint NOT NULL REFERENCES org_units(id),
    item_id      bigint NOT NULL REFERENCES items(id),
    daily_qty    bigint NOT NULL CHECK (daily_qty >= 0),
    updated_by   bigint REFERENCES users(id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_unit_id, item_id)
);

-- What each grid got by auto-approval per item and day (locked row per grant).
CREATE TABLE emergency_usage (
    grid_id  bigint NOT NULL REFERENCES org_units(id),
    item_id  bigint NOT NULL REFERENCES items(id),
    day      date NOT NULL,
    qty      bigint NOT NULL CHECK (qty >= 0),
    PRIMARY KEY (grid_id, item_id, day)
);

-- The widest active emergency mode covering a unit (NULL row when none).
CREATE FUNCTION req_emergency_area(p_unit bigint)
RETURNS TABLE (org_unit_id bigint, code text, path ltree)
LANGUAGE sql STABLE AS $$
    SELECT a.id, a.code, a.path
      FROM org_units u
      JOIN org_units a ON a.path @> u.path
      JOIN emergency_modes m ON m.org_unit_id = a.id AND m.active
     WHERE u.id = p_unit
     ORDER BY nlevel(a.path)
     LIMIT 1
$$;

-- The daily cap that applies to a grid for an item (nearest setting), NULL: none.
CREATE FUNCTION req_emergency_cap(p_grid bigint, p_item bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT c.daily_qty
      FROM org_units g
      JOIN org_units a ON a.path @> g.path
      JOIN emergency_caps c ON c.org_unit_id = a.id AND c.item_id = p_item
     WHERE g.id = p_grid
     ORDER BY nlevel(a.path) DESC
     LIMIT 1
$$;

-- ---------------------------------------------------------------- guard and history
CREATE FUNCTION requisitions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION 'a requisition starts as a draft, not %', NEW.status USING ERRCODE = 'GS409';
        END IF;
        IF (SELECT kind FROM org_units WHERE id = NEW.org_unit_id) NOT IN ('grid', 'community') THEN
            RAISE EXCEPTION 'org_unit_id: requisitions come from a grid or community' USING ERRCODE = 'GS400';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.number <> OLD.number OR NEW.requester_id <> OLD.requester_id
       OR NEW.org_unit_id <> OLD.org_unit_id THEN
        RAISE EXCEPTION 'requisition %: id, number, requester and unit never change', OLD.number
            USING ERRCODE = 'GS409';
    END IF;
    NEW.updated_at := now();
    IF NEW.status = OLD.status THEN
        IF OLD.status <> 'draft' AND (NEW.priority <> OLD.priority OR NEW.needed_by IS DISTINCT FROM OLD.needed_by
           OR NEW.purpose <> OLD.purpose) THEN
            RAISE EXCEPTION 'requisition % is %: only a draft can be changed', OLD.number, OLD.status
                USING ERRCODE = 'GS409';
        END IF;
        RETURN NEW;
    END IF;
    PERFORM 1 FROM requisition_state_transitions WHERE from_state = OLD.status AND to_state = NEW.status;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'requisition % is %: it cannot become %', OLD.number, OLD.status, NEW.status
            USING ERRCODE = 'GS409';
    END IF;
    -- a transition made without req_transition (e.g. by hand in psql) has no known actor
    IF NEW.status_seq <> OLD.status_seq + 1 THEN
        NEW.status_by := NULL;
        NEW.status_comment := 'changed directly in the database by ' || current_user;
        NEW.status_seq := OLD.status_seq + 1;
    END IF;
    IF NEW.status = 'approved' AND OLD.status = 'submitted' THEN
        IF NEW.auto_approved THEN
            IF NEW.approved_by IS NOT NULL
               OR NOT EXISTS (SELECT 1 FROM req_emergency_area(NEW.org_unit_id))
               OR (SELECT kind FROM org_units WHERE id = NEW.org_unit_id) <> 'grid' THEN
                RAISE EXCEPTION 'requisition %: auto-approval needs an emergency requisition from a grid in emergency mode',
                    OLD.number USING ERRCODE = 'GS403';
            END IF;
        ELSIF NEW.approved_by IS NULL THEN
            RAISE EXCEPTION 'requisition %: approval needs an approver', OLD.number USING ERRCODE = 'GS403';
        ELSIF NEW.approved_by = NEW.requester_id THEN
            RAISE EXCEPTION 'requisition %: the requester cannot approve their own requisition', OLD.number
                USING ERRCODE = 'GS403';
        ELSIF NEW.status_by IS DISTINCT FROM NEW.approved_by THEN
            RAISE EXCEPTION 'requisition %: an approval is recorded by its approver', OLD.number
                USING ERRCODE = 'GS403';
        END IF;
    END IF;
    IF NEW.status IN ('cancelled', 'approved', 'dispatched') AND EXISTS
           (SELECT 1 FROM requisition_allocations WHERE requisition_id = NEW.id AND status = 'reserved') THEN
        RAISE EXCEPTION 'requisition %: reservations must be released or issued before it becomes %',
            OLD.number, NEW.status USING ERRCODE = 'GS409';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER requisitions_guard BEFORE INSERT OR UPDATE ON requisitions
    FOR EACH ROW EXECUTE FUNCTION requisitions_guard();

-- History row for creation and every transition; the watch notification for every change.
CREATE FUNCTION requisitions_record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ev text;
    from_s text := '';
    u record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        ev := 'created';
        INSERT INTO requisition_history (requisition_id, from_state, to_state, actor_id, comment)
        VALUES (NEW.id, '', NEW.status, NEW.requester_id, NEW.status_comment);
    ELSIF NEW.status <> OLD.status THEN
        ev := 'transition';
        from_s := OLD.status;
        INSERT INTO requisition_history (requisition_id, from_state, to_state, actor_id, comment)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_by, NEW.status_comment);
        IF NEW.status IN ('closed', 'cancelled') THEN
            UPDATE requisition_backorders SET status = 'closed', updated_at = now()
             WHERE requisition_id = NEW.id AND status = 'open';
        END IF;
    ELSIF OLD.status = 'draft' THEN
        ev := 'updated';
        from_s := OLD.status;
    ELSE
        RETURN NULL;  -- a step inside a transition (approver, quantities): its transition tells
    END IF;
    SELECT ou.code, ou.path::text AS path, coalesce(a.login, '') AS login INTO u
      FROM org_units ou LEFT JOIN users a ON a.id = CASE WHEN TG_OP = 'INSERT' THEN NEW.requester_id ELSE NEW.status_by END
     WHERE ou.id = NEW.org_unit_id;
    PERFORM pg_notify('gs_requisitions', json_build_object(
        'kind', ev, 'id', NEW.id, 'number', NEW.number, 'org_unit_id', NEW.org_unit_id,
        'org_unit_code', u.code, 'path', u.path, 'priority', NEW.priority,
        'from', from_s, 'to', NEW.status, 'actor', CASE WHEN ev = 'updated' THEN '' ELSE u.login END,
        'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'comment', left(CASE WHEN ev = 'updated' THEN '' ELSE NEW.status_comment END, 500))::text);
    RETURN NULL;
END $$;
CREATE TRIGGER requisitions_record AFTER INSERT OR UPDATE ON requisitions
    FOR EACH ROW EXECUTE FUNCTION requisitions_record();

-- ---------------------------------------------------------------- functions
-- The next readable number for a requisition of a grid or community: CM01-2026-0007.
CREATE FUNCTION req_next_number(p_unit bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    cm record;
    n integer;
    y integer := extract(year FROM now())::int;
BEGIN
    SELECT c.id, c.code INTO cm FROM org_units u JOIN org_units c ON c.path @> u.path AND c.kind = 'community'
     WHERE u.id = p_unit;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'org_unit_id: requisitions come from a grid or community' USING ERRCODE = 'GS400';
    END IF;
    INSERT INTO requisition_numbers AS r (community_id, year, last) VALUES (cm.id, y, 1)
    ON CONFLICT (community_id, year) DO UPDATE SET last = r.last + 1
    RETURNING last INTO n;
    RETURN format('%s-%s-%s', cm.code, y, lpad(n::text, 4, '0'));
END $$;

-- Moves a requisition to p_to, recording who and why; sets the timestamp of the new state
-- (and reserved_until = now + p_ttl_s on allocation). The guard trigger refuses illegal
-- transitions.
CREATE FUNCTION req_transition(p_req bigint, p_to text, p_actor bigint, p_comment text,
                               p_ttl_s integer DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE requisitions SET status = p_to, status_by = p_actor,
           status_comment = left(coalesce(p_comment, ''), 1000), status_seq = status_seq + 1,
           submitted_at = CASE WHEN p_to = 'submitted' THEN now() ELSE submitted_at END,
           approved_at = CASE WHEN p_to = 'approved' AND approved_at IS NULL THEN now() ELSE approved_at END,
           allocated_at = CASE WHEN p_to = 'allocated' THEN now() ELSE allocated_at END,
           reserved_until = CASE WHEN p_to = 'allocated'
                                 THEN now() + make_interval(secs => coalesce(p_ttl_s, 86400)) END,
           dispatched_at = CASE WHEN p_to = 'dispatched' THEN now() ELSE dispatched_at END,
           received_at = CASE WHEN p_to = 'received' THEN now() ELSE received_at END,
           closed_at = CASE WHEN p_to IN ('closed', 'cancelled', 'rejected') THEN now() ELSE closed_at END
     WHERE id = p_req;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'requisition % not found', p_req USING ERRCODE = 'GS404';
    END IF;
END $$;

-- Where distances are measured from (see the top of this file).
CREATE FUNCTION req_origin(p_req bigint, OUT lat double precision, OUT lon double precision)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(d.lat, c.lat), coalesce(d.lon, c.lon)
      FROM requisitions r
      LEFT JOIN sites d ON d.id = r.delivery_site_id
      LEFT JOIN LATERAL (
          SELECT avg(s.lat) AS lat, avg(s.lon) AS lon
            FROM org_units u
            JOIN org_units a ON a.path @> u.path
            JOIN org_units su ON su.path <@ a.path
            JOIN sites s ON s.org_unit_id = su.id AND s.active
           WHERE u.id = r.org_unit_id
           GROUP BY a.id, nlevel(a.path)
           ORDER BY nlevel(a.path) DESC
           LIMIT 1) c ON true
     WHERE r.id = p_req
$$;

-- Reserves stock for every line whose approved quantity is not yet allocated: among the
-- active sites of the given kinds within p_scope, nearest to the requisition's origin
-- first, FEFO within a site, split across sites; what stock cannot cover becomes (or
-- updates) the line's open backorder. Lots are locked in id order first, so concurrent
-- allocations of the same item cannot deadlock, and each lot's available quantity is
-- re-read under its lock: two allocations never both get the last units.
CREATE FUNCTION req_allocate(p_req bigint, p_scope ltree, p_kinds text[], p_actor bigint,
                             p_request_id text DEFAULT '')
RETURNS TABLE (allocated bigint, backordered bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    o record;
    ln record;
    l record;
    need bigint;
    take bigint;
    tot_alloc bigint := 0;
    tot_back bigint := 0;
    got bigint;
BEGIN
    SELECT id, number, org_unit_id INTO r FROM requisitions WHERE id = p_req;
    SELECT * INTO o FROM req_origin(p_req);
    FOR ln IN SELECT * FROM requisition_lines
               WHERE requisition_id = p_req AND coalesce(qty_approved, 0) > qty_allocated
               ORDER BY item_id
    LOOP
        need := ln.qty_approved - ln.qty_allocated;
        got := 0;
        PERFORM 1 FROM lots x JOIN sites s ON s.id = x.site_id JOIN org_units ou ON ou.id = s.org_unit_id
         WHERE x.item_id = ln.item_id AND s.active AND s.kind = ANY (p_kinds) AND ou.path <@ p_scope
           AND x.on_hand > x.reserved AND NOT stock_expired(x.expires_on)
         ORDER BY x.id FOR UPDATE OF x;
        FOR l IN
            SELECT x.id, x.site_id, x.lot_code, x.on_hand - x.reserved AS avail,
                   coalesce(earth_distance(ll_to_earth(o.lat, o.lon), ll_to_earth(s.lat, s.lon)), 0) AS dist
              FROM lots x JOIN sites s ON s.id = x.site_id JOIN org_units ou ON ou.id = s.org_unit_id
             WHERE x.item_id = ln.item_id AND s.active AND s.kind = ANY (p_kinds) AND ou.path <@ p_scope
               AND x.on_hand > x.reserved AND NOT stock_expired(x.expires_on)
             ORDER BY 5, s.id, x.expires_on NULLS LAST, x.id
               FOR UPDATE OF x
        LOOP
            EXIT WHEN need = 0;
            take := least(need, l.avail);
            PERFORM stock_reserve(l.site_id, ln.item_id, take, l.lot_code, '', 'requisition', p_req,
                                  p_actor, coalesce(p_request_id, ''), 'requisition ' || r.number);
            INSERT INTO requisition_allocations (requisition_id, line_id, site_id, lot_id, qty, distance_m)
            VALUES (p_req, ln.id, l.site_id, l.id, take, l.dist);
            need := need - take;
            got := got + take;
        END LOOP;
        UPDATE requisition_lines SET qty_allocated = qty_allocated + got WHERE id = ln.id;
        INSERT INTO requisition_backorders AS b (line_id, requisition_id, item_id, org_unit_id, qty)
        VALUES (ln.id, p_req, ln.item_id, r.org_unit_id, need)
        ON CONFLICT (line_id) DO UPDATE SET qty = EXCLUDED.qty, status = 'open', updated_at = now();
        tot_alloc := tot_alloc + got;
        tot_back := tot_back + need;
    END LOOP;
    allocated := tot_alloc;
    backordered := tot_back;
    RETURN NEXT;
END $$;

-- Releases every reservation of a requisition (cancel: 'released', expiry: 'expired').
-- Returns the units released.
CREATE FUNCTION req_release(p_req bigint, p_status text, p_actor bigint, p_request_id text,
                            p_note text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    a record;
    n bigint := 0;
BEGIN
    FOR a IN SELECT * FROM requisition_allocations WHERE requisition_id = p_req AND status = 'reserved'
              ORDER BY lot_id, id
    LOOP
        PERFORM stock_release(a.lot_id, a.qty, p_status, 'requisition', p_req, p_actor,
                              coalesce(p_request_id, ''), p_note);
        UPDATE requisition_allocations SET status = p_status, closed_at = now() WHERE id = a.id;
        UPDATE requisition_lines SET qty_allocated = qty_allocated - a.qty WHERE id = a.line_id;
        n := n + a.qty;
    END LOOP;
    RETURN n;
END $$;

-- Issues every reservation of a requisition (issue movements referencing it). Returns
-- the units issued.
CREATE FUNCTION req_dispatch(p_req bigint, p_actor bigint, p_request_id text, p_note text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    a record;
    n bigint := 0;
BEGIN
    FOR a IN SELECT * FROM requisition_allocations WHERE requisition_id = p_req AND status = 'reserved'
              ORDER BY lot_id, id
    LOOP
        PERFORM stock_issue_reserved(a.lot_id, a.qty, 'issue', '', 'requisition', p_req, p_actor,
                                     coalesce(p_request_id, ''), p_note);
        UPDATE requisition_allocations SET status = 'dispatched', closed_at = now() WHERE id = a.id;
        UPDATE requisition_lines SET qty_dispatched = qty_dispatched + a.qty WHERE id = a.line_id;
        n := n + a.qty;
    END LOOP;
    RETURN n;
END $$;

-- Proof of delivery. p_lines[i] (a line id) had p_accepted[i] accepted and p_rejected[i]
-- rejected (reason p_reasons[i], disposition p_disp[i]: 'return' | 'write_off'); lines not
-- listed were accepted in full. Returned units go back into the lots they came from
-- (adjustment, reason 'returned', referencing the requisition), latest allocation first.
CREATE FUNCTION req_receive(p_req bigint, p_lines bigint[], p_accepted bigint[], p_rejected bigint[],
                            p_reasons text[], p_disp text[], p_actor bigint, p_request_id text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(p_lines, 1), 0);
    k int;
    ln record;
    a record;
    left_qty bigint;
    q bigint;
    returned bigint := 0;
    num text;
BEGIN
    SELECT number INTO num FROM requisitions WHERE id = p_req;
    FOR k IN 1 .. n LOOP
        SELECT * INTO ln FROM requisition_lines WHERE id = p_lines[k] AND requisition_id = p_req;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'lines[%].line_id: line % is not part of requisition %', k - 1, p_lines[k], num
                USING ERRCODE = 'GS404';
        END IF;
        IF ln.qty_accepted IS NOT NULL THEN
            RAISE EXCEPTION 'lines[%].line_id: line % is listed twice', k - 1, ln.id USING ERRCODE = 'GS400';
        END IF;
        IF p_accepted[k] < 0 OR p_rejected[k] < 0 THEN
            RAISE EXCEPTION 'lines[%]: quantities must not be negative', k - 1 USING ERRCODE = 'GS400';
        END IF;
        IF p_accepted[k] + p_rejected[k] <> ln.qty_dispatched THEN
            RAISE EXCEPTION 'lines[%]: accepted (%) + rejected (%) must equal the % dispatched', k - 1,
                p_accepted[k], p_rejected[k], ln.qty_dispatched USING ERRCODE = 'GS400';
        END IF;
        IF p_rejected[k] > 0 THEN
            IF coalesce(p_reasons[k], '') = '' THEN
                RAISE EXCEPTION 'lines[%].reason: required for rejected units', k - 1 USING ERRCODE = 'GS400';
            END IF;
            IF coalesce(p_disp[k], '') NOT IN ('return', 'write_off') THEN
                RAISE EXCEPTION 'lines[%].disposition: "return" or "write_off" for rejected units', k - 1
                    USING ERRCODE = 'GS400';
            END IF;
        END IF;
        UPDATE requisition_lines SET qty_accepted = p_accepted[k], qty_rejected = p_rejected[k],
               reject_reason = CASE WHEN p_rejected[k] > 0 THEN left(p_reasons[k], 500) ELSE '' END,
               reject_disposition = CASE WHEN p_rejected[k] > 0 THEN p_disp[k] ELSE '' END
         WHERE id = ln.id;
        IF p_rejected[k] > 0 AND p_disp[k] = 'return' THEN
            left_qty := p_rejected[k];
            FOR a IN SELECT * FROM requisition_allocations
                      WHERE line_id = ln.id AND status = 'dispatched' ORDER BY id DESC
            LOOP
                EXIT WHEN left_qty = 0;
                q := least(left_qty, a.qty);
                PERFORM stock_adjust(a.lot_id, q, 'returned', 'adjustment', 'requisition', p_req, p_actor,
                                     coalesce(p_request_id, ''),
                                     format('rejected on delivery of %s: %s', num, left(p_reasons[k], 400)));
                left_qty := left_qty - q;
                returned := returned + q;
            END LOOP;
        END IF;
    END LOOP;
    UPDATE requisition_lines SET qty_accepted = qty_dispatched, qty_rejected = 0
     WHERE requisition_id = p_req AND qty_accepted IS NULL;
    RETURN returned;
END $$;

-- Releases the reservations of allocated requisitions whose reserved_until has passed and
-- puts them back to 'approved'. Run by every server's monitor: SKIP LOCKED and the status
-- re-check under the row lock make each expiry happen exactly once (a requisition being
-- dispatched at that moment is locked and skipped). Returns how many expired.
CREATE FUNCTION requisition_expire_reservations(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
    units bigint;
BEGIN
    FOR r IN SELECT id, number, reserved_until FROM requisitions
              WHERE status = 'allocated' AND reserved_until < now()
              ORDER BY reserved_until LIMIT p_limit
                FOR UPDATE SKIP LOCKED
    LOOP
        units := req_release(r.id, 'expired', NULL, '', 'reservation of ' || r.number || ' expired');
        PERFORM req_transition(r.id, 'approved', NULL,
                               format('reservations expired at %s (%s units released)',
                                      to_char(r.reserved_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), units));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Emergency auto-approval at submission: when the requisition is an emergency one from a
-- grid inside an active emergency area and caps allow, each line is approved up to what is
-- left of the grid's daily cap for its item; what exceeds the caps moves to a new
-- requisition (split_from_id) that waits in the normal queue. The approved part is
-- allocated at once from every active reserve point and charity station of the area.
-- Returns the area code ('' when nothing was auto-approved) and the split-off id.
CREATE FUNCTION req_emergency_submit(p_req bigint, p_actor bigint, p_request_id text,
                                     p_ttl_s integer, OUT area text, OUT split_id bigint,
                                     OUT allocated bigint, OUT backordered bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    ar record;
    ln record;
    cap bigint;
    used bigint;
    g bigint;
    line_ids bigint[] := '{}';
    grants bigint[] := '{}';
    granted bigint := 0;
    rest_lines int := 0;
    child_id bigint;
    child_number text := '';
    al record;
    k int := 0;
BEGIN
    area := '';
    allocated := 0;
    backordered := 0;
    SELECT q.*, ou.kind AS unit_kind INTO r FROM requisitions q JOIN org_units ou ON ou.id = q.org_unit_id
     WHERE q.id = p_req;
    IF r.priority <> 'emergency' OR r.unit_kind <> 'grid' THEN
        RETURN;
    END IF;
    SELECT * INTO ar FROM req_emergency_area(r.org_unit_id);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    FOR ln IN SELECT * FROM requisition_lines WHERE requisition_id = p_req ORDER BY item_id LOOP
        cap := req_emergency_cap(r.org_unit_id, ln.item_id);
        g := 0;
        IF cap IS NOT NULL AND cap > 0 THEN
            INSERT INTO emergency_usage (grid_id, item_id, day, qty) VALUES (r.org_unit_id, ln.item_id, current_date, 0)
            ON CONFLICT DO NOTHING;
            SELECT qty INTO used FROM emergency_usage
             WHERE grid_id = r.org_unit_id AND item_id = ln.item_id AND day = current_date FOR UPDATE;
            g := greatest(0, least(ln.qty_requested, cap - used));
            IF g > 0 THEN
                UPDATE emergency_usage SET qty = qty + g
                 WHERE grid_id = r.org_unit_id AND item_id = ln.item_id AND day = current_date;
            END IF;
        END IF;
        line_ids := line_ids || ln.id;
        grants := grants || g;
        granted := granted + g;
        IF g < ln.qty_requested THEN
            rest_lines := rest_lines + 1;
        END IF;
    END LOOP;
    IF granted = 0 THEN
        RETURN;
    END IF;
    area := ar.code;
    IF rest_lines > 0 THEN
        child_number := req_next_number(r.org_unit_id);
        INSERT INTO requisitions (number, org_unit_id, requester_id, priority, needed_by, purpose,
                                  delivery_site_id, delivery_address, split_from_id, status_comment)
        VALUES (child_number, r.org_unit_id, r.requester_id, r.priority, r.needed_by,
                r.purpose, r.delivery_site_id, r.delivery_address, p_req,
                format('the part of %s above the emergency caps', r.number))
        RETURNING id INTO child_id;
        FOR ln IN SELECT l.*, x.g AS granted FROM requisition_lines l
                    JOIN unnest(line_ids, grants) AS x(id, g) ON x.id = l.id
                   WHERE x.g < l.qty_requested ORDER BY l.line_no
        LOOP
            k := k + 1;
            INSERT INTO requisition_lines (requisition_id, line_no, item_id, qty_requested, note)
            VALUES (child_id, k, ln.item_id, ln.qty_requested - ln.granted, ln.note);
        END LOOP;
        PERFORM req_transition(child_id, 'submitted', p_actor,
                               format('split from %s: above the daily emergency caps', r.number));
        split_id := child_id;
    END IF;
    UPDATE requisition_lines l SET qty_approved = x.g,
           approve_reason = CASE WHEN x.g < l.qty_requested
               THEN format('emergency cap: %s moved to %s', l.qty_requested - x.g, child_number) ELSE '' END
      FROM unnest(line_ids, grants) AS x(id, g) WHERE x.id = l.id;
    UPDATE requisitions SET auto_approved = true WHERE id = p_req;
    PERFORM req_transition(p_req, 'approved', p_actor,
                           format('approved automatically: emergency mode in %s', ar.code));
    SELECT * INTO al FROM req_allocate(p_req, ar.path, ARRAY['reserve_point', 'charity_station'], p_actor, p_request_id);
    allocated := al.allocated;
    backordered := al.backordered;
    IF al.allocated > 0 THEN
        PERFORM req_transition(p_req, 'allocated', p_actor,
                               format('allocated at once in emergency mode (%s units, %s backordered)',
                                      al.allocated, al.backordered), p_ttl_s);
    END IF;
END $$;
