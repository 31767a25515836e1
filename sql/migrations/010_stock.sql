-- 010_stock.sql — stock: lots with their balances, the append-only movement ledger,
-- adjustment reasons, transfers, stocktakes, the views reports and restocking read, and
-- the PL/pgSQL functions every stock change goes through. Procurement, charity stations
-- and requisitions post through the same functions (stock_receive, stock_issue,
-- stock_reserve, stock_release, stock_issue_reserved, stock_adjust), so a balance is
-- only ever changed together with its ledger row, by a conditional update on a locked lot.
--
-- Errors raised here use our SQLSTATEs (db.c maps them): GS400 bad argument (message
-- starts with the field), GS404 unknown object, GS409 wrong state or not enough stock.

-- ---------------------------------------------------------------- adjustment reasons
-- The managed list of reason codes for adjustments and transfer differences.
CREATE TABLE stock_reasons (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    direction   text NOT NULL CHECK (direction IN ('in', 'out', 'any')),
    active      boolean NOT NULL DEFAULT true,
    sort_order  integer NOT NULL DEFAULT 0
);
INSERT INTO stock_reasons (code, name, direction, sort_order) VALUES
    ('damaged',        'Damaged',                           'out', 10),
    ('lost',           'Lost or missing',                   'out', 20),
    ('stolen',         'Stolen',                            'out', 30),
    ('spoiled',        'Spoiled before its expiry date',    'out', 40),
    ('expired',        'Expired',                           'out', 50),
    ('transit_loss',   'Lost or damaged in transit',        'out', 60),
    ('found',          'Found',                             'in',  70),
    ('returned',       'Returned unused',                   'in',  80),
    ('over_delivery',  'More arrived than was dispatched',  'in',  90),
    ('correction',     'Correction of an earlier mistake',  'any', 100),
    ('count_error',    'Counting error',                    'any', 110);

-- ---------------------------------------------------------------- lots
CREATE TABLE lots (
    id           bigserial PRIMARY KEY,
    site_id      bigint NOT NULL REFERENCES sites(id),
    item_id      bigint NOT NULL REFERENCES items(id),
    lot_code     text NOT NULL CHECK (lot_code ~ '^[A-Za-z0-9._/-]{1,64}$'),
    expires_on   date,  -- NULL: does not expire
    source       text NOT NULL CHECK (source IN ('purchase', 'donation', 'transfer')),
    on_hand      bigint NOT NULL DEFAULT 0 CONSTRAINT lots_on_hand_nonneg CHECK (on_hand >= 0),
    reserved     bigint NOT NULL DEFAULT 0 CONSTRAINT lots_reserved_nonneg CHECK (reserved >= 0),
    received_at  timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lots_reserved_le_on_hand CHECK (reserved <= on_hand),
    UNIQUE (site_id, item_id, lot_code)
);
-- First expired first out: the picking order of a site's lots of an item.
CREATE INDEX lots_fefo ON lots (site_id, item_id, expires_on NULLS LAST, id) WHERE on_hand > 0;
CREATE INDEX lots_expiry ON lots (expires_on) WHERE on_hand > 0 AND expires_on IS NOT NULL;

-- ---------------------------------------------------------------- ledger
CREATE TABLE stock_movements (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL CHECK (kind IN ('receipt', 'issue', 'transfer_out', 'transfer_in',
                        'adjustment', 'stocktake_variance', 'expiry_writeoff', 'donation_in',
                        'distribution_out', 'reserve', 'release')),
    site_id         bigint NOT NULL REFERENCES sites(id),
    item_id         bigint NOT NULL REFERENCES items(id),
    lot_id          bigint NOT NULL REFERENCES lots(id),
    qty             bigint NOT NULL,             -- change of on_hand
    reserved_delta  bigint NOT NULL DEFAULT 0,   -- change of reserved
    reason          text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    ref_type        text NOT NULL DEFAULT '' CHECK (ref_type ~ '^[a-z_]{0,32}$'),
    ref_id          bigint,
    actor_id        bigint REFERENCES users(id),
    request_id      text NOT NULL DEFAULT '' CHECK (length(request_id) <= 128),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    -- the sign of each kind
    CONSTRAINT stock_movements_sign CHECK (CASE
        WHEN kind IN ('receipt', 'transfer_in', 'donation_in') THEN qty > 0 AND reserved_delta = 0
        WHEN kind IN ('issue', 'transfer_out', 'distribution_out', 'expiry_writeoff')
            THEN qty < 0 AND reserved_delta <= 0 AND reserved_delta >= qty
        WHEN kind IN ('adjustment', 'stocktake_variance') THEN qty <> 0 AND reserved_delta = 0
        WHEN kind = 'reserve' THEN qty = 0 AND reserved_delta > 0
        WHEN kind = 'release' THEN qty = 0 AND reserved_delta < 0
        END)
);
CREATE INDEX stock_movements_card ON stock_movements (site_id, item_id, id);
CREATE INDEX stock_movements_lot ON stock_movements (lot_id, id);
CREATE INDEX stock_movements_ref ON stock_movements (ref_type, ref_id) WHERE ref_id IS NOT NULL;
CREATE INDEX stock_movements_at ON stock_movements (at);
CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON stock_movements
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- ---------------------------------------------------------------- transfers
-- dispatch (transfer_out at the source) → in_transit → received (transfer_in at the
-- destination; a difference is an adjustment with its reason).
CREATE TABLE stock_transfers (
    id             bigserial PRIMARY KEY,
    from_site_id   bigint NOT NULL REFERENCES sites(id),
    to_site_id     bigint NOT NULL REFERENCES sites(id),
    status         text NOT NULL DEFAULT 'in_transit' CHECK (status IN ('in_transit', 'received')),
    note           text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    ref_type       text NOT NULL DEFAULT '' CHECK (ref_type ~ '^[a-z_]{0,32}$'),
    ref_id         bigint,
    dispatched_by  bigint REFERENCES users(id),
    dispatched_at  timestamptz NOT NULL DEFAULT now(),
    received_by    bigint REFERENCES users(id),
    received_at    timestamptz,
    receive_note   text NOT NULL DEFAULT '' CHECK (length(receive_note) <= 500),
    CHECK (from_site_id <> to_site_id),
    CHECK ((status = 'received') = (received_at IS NOT NULL))
);
CREATE INDEX stock_transfers_from ON stock_transfers (from_site_id, id);
CREATE INDEX stock_transfers_to ON stock_transfers (to_site_id, id);

CREATE TABLE stock_transfer_lines (
    id            bigserial PRIMARY KEY,
    transfer_id   bigint NOT NULL REFERENCES stock_transfers(id),
    item_id       bigint NOT NULL REFERENCES items(id),
    from_lot_id   bigint NOT NULL REFERENCES lots(id),
    lot_code      text NOT NULL,
    expires_on    date,
    qty           bigint NOT NULL CHECK (qty > 0),
    received_qty  bigint CHECK (received_qty >= 0),
    diff_reason   text REFERENCES stock_reasons(code),
    to_lot_id     bigint REFERENCES lots(id),
    CHECK (received_qty IS NULL OR received_qty = qty OR diff_reason IS NOT NULL)
);
CREATE INDEX stock_transfer_lines_transfer ON stock_transfer_lines (transfer_id, id);

-- ---------------------------------------------------------------- stocktakes
CREATE TABLE stocktakes (
    id            bigserial PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites(id),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'submitted')),
    note          text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    opened_by     bigint REFERENCES users(id),
    opened_at     timestamptz NOT NULL DEFAULT now(),
    submitted_by  bigint REFERENCES users(id),
    submitted_at  timestamptz,
    CHECK ((status = 'submitted') = (submitted_at IS NOT NULL))
);
CREATE UNIQUE INDEX stocktakes_one_open ON stocktakes (site_id) WHERE status = 'open';

-- Blind counts: system_qty is the lot's on hand when it was counted, kept for the
-- variance and never shown before the stocktake is submitted.
CREATE TABLE stocktake_counts (
    stocktake_id  bigint NOT NULL REFERENCES stocktakes(id),
    lot_id        bigint NOT NULL REFERENCES lots(id),
    counted       bigint NOT NULL CHECK (counted >= 0),
    system_qty    bigint NOT NULL CHECK (system_qty >= 0),
    variance      bigint,  -- set on submit
    counted_by    bigint REFERENCES users(id),
    counted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stocktake_id, lot_id)
);

-- ---------------------------------------------------------------- views
-- Quantity on order per site and item, for restock proposals. Nothing is on order until
-- purchase orders exist: the procurement migration replaces this view (CREATE OR REPLACE
-- VIEW stock_on_order with the same three columns; several rows per site and item are
-- summed by its readers).
CREATE VIEW stock_on_order (site_id, item_id, qty) AS
    SELECT NULL::bigint, NULL::bigint, NULL::bigint WHERE false;

-- A lot is expired from the day after its expiry date.
CREATE FUNCTION stock_expired(p_expires date) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_expires IS NOT NULL AND p_expires < current_date
$$;

-- Per site and item: on hand, reserved, available (unexpired lots only), expired.
CREATE VIEW stock_item_balances AS
SELECT site_id, item_id,
       sum(on_hand)::bigint AS on_hand,
       sum(reserved)::bigint AS reserved,
       coalesce(sum(on_hand - reserved) FILTER (WHERE NOT stock_expired(expires_on)), 0)::bigint AS available,
       coalesce(sum(on_hand) FILTER (WHERE stock_expired(expires_on)), 0)::bigint AS expired,
       count(*)::int AS lots
FROM lots
GROUP BY site_id, item_id;

-- Per site and item with levels: the balances, what is on order, and the restock
-- proposal (par level - available - on order). Low when available < reorder_point.
CREATE VIEW stock_levels AS
SELECT si.site_id, si.item_id, si.reorder_point, si.par_level,
       coalesce(b.on_hand, 0) AS on_hand, coalesce(b.reserved, 0) AS reserved,
       coalesce(b.available, 0) AS available, coalesce(b.expired, 0) AS expired,
       coalesce(o.qty, 0) AS on_order,
       greatest(0, si.par_level - coalesce(b.available, 0) - coalesce(o.qty, 0))::bigint AS proposed_qty,
       coalesce(b.available, 0) < si.reorder_point AS low
FROM site_items si
LEFT JOIN stock_item_balances b ON b.site_id = si.site_id AND b.item_id = si.item_id
LEFT JOIN (SELECT site_id, item_id, sum(qty)::bigint AS qty FROM stock_on_order GROUP BY 1, 2) o
       ON o.site_id = si.site_id AND o.item_id = si.item_id;

-- ---------------------------------------------------------------- helpers
CREATE FUNCTION stock_fail(p_state text, p_fmt text, VARIADIC p_args text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = format(p_fmt, VARIADIC p_args);
END $$;

-- Text → timestamptz, or GS400 naming the field.
CREATE FUNCTION stock_ts(p_text text, p_field text) RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_text IS NULL OR p_text = '' THEN
        RETURN NULL;
    END IF;
    RETURN p_text::timestamptz;
EXCEPTION WHEN data_exception THEN
    RAISE EXCEPTION USING ERRCODE = 'GS400',
        MESSAGE = format('%s: not a timestamp (RFC 3339): "%s"', p_field, left(p_text, 40));
END $$;

-- Sends an alert on channel gs_stock_alerts (delivered when the transaction commits).
-- The payload's keys are the fields of the StockAlert message (stock.proto).
CREATE FUNCTION stock_alert(p_kind text, p_site bigint, p_item bigint, p_lot bigint, p_qty bigint,
                            p_message text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    SELECT json_build_object(
               'kind', p_kind,
               'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'site_id', s.id, 'site_code', s.code, 'org_unit_path', ou.path::text,
               'item_id', i.id, 'item_code', i.code, 'item_name', i.name,
               'available', coalesce(lv.available, b.available, 0),
               'reorder_point', coalesce(lv.reorder_point, 0),
               'par_level', coalesce(lv.par_level, 0),
               'lot_id', coalesce(l.id, 0), 'lot_code', coalesce(l.lot_code, ''),
               'expires_on', coalesce(to_char(l.expires_on, 'YYYY-MM-DD'), ''),
               'qty', coalesce(p_qty, 0), 'message', left(p_message, 500))::text
      INTO payload
      FROM sites s
      JOIN org_units ou ON ou.id = s.org_unit_id
      JOIN items i ON i.id = p_item
      LEFT JOIN lots l ON l.id = p_lot
      LEFT JOIN stock_levels lv ON lv.site_id = s.id AND lv.item_id = i.id
      LEFT JOIN stock_item_balances b ON b.site_id = s.id AND b.item_id = i.id
     WHERE s.id = p_site;
    IF payload IS NOT NULL THEN
        PERFORM pg_notify('gs_stock_alerts', payload);
    END IF;
END $$;

-- After available stock of an item at a site went down by p_decrease: alerts when that
-- took it from at or above the reorder point to below it.
CREATE FUNCTION stock_check_low(p_site bigint, p_item bigint, p_decrease bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    rop bigint;
    avail bigint;
BEGIN
    SELECT reorder_point INTO rop FROM site_items WHERE site_id = p_site AND item_id = p_item;
    IF NOT FOUND OR p_decrease <= 0 THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(on_hand - reserved), 0) INTO avail FROM lots
     WHERE site_id = p_site AND item_id = p_item AND NOT stock_expired(expires_on);
    IF avail < rop AND avail + p_decrease >= rop THEN
        PERFORM stock_alert('low_stock', p_site, p_item, NULL, p_decrease,
                            format('available %s is below the reorder point %s', avail, rop));
    END IF;
END $$;

-- The codes of a site and an item for messages; GS404 when either is unknown.
CREATE FUNCTION stock_names(p_site bigint, p_item bigint, OUT site_code text, OUT item_code text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT code INTO site_code FROM sites WHERE id = p_site;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'site %s not found', p_site::text);
    END IF;
    SELECT code INTO item_code FROM items WHERE id = p_item;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'item %s not found', p_item::text);
    END IF;
END $$;

-- The lot of an item at a site by its code; GS404 when there is none.
CREATE FUNCTION stock_lot_find(p_site bigint, p_item bigint, p_lot_code text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n record;
    lid bigint;
BEGIN
    SELECT id INTO lid FROM lots WHERE site_id = p_site AND item_id = p_item AND lot_code = p_lot_code;
    IF NOT FOUND THEN
        n := stock_names(p_site, p_item);
        PERFORM stock_fail('GS404', 'lot %s of %s not found at %s', p_lot_code, n.item_code, n.site_code);
    END IF;
    RETURN lid;
END $$;

-- ---------------------------------------------------------------- receive
-- Puts qty units of a lot into stock at a site: receipt (source purchase), donation_in
-- (source donation) or transfer_in (source transfer). An existing lot of the same code is
-- topped up when its expiry matches.
CREATE FUNCTION stock_receive(
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

    INSERT INTO lots AS l (site_id, item_id, lot_code, expires_on, source, on_hand)
    VALUES (p_site, p_item, p_lot_code, p_expires, p_source, p_qty)
    ON CONFLICT (site_id, item_id, lot_code) DO UPDATE
        SET on_hand = l.on_hand + EXCLUDED.on_hand, updated_at = now()
        WHERE l.expires_on IS NOT DISTINCT FROM EXCLUDED.expires_on
    RETURNING l.id, l.on_hand INTO lid, oh;
    IF lid IS NULL THEN
        PERFORM stock_fail('GS409', 'lot %s of %s at %s already exists with expiry %s, not %s',
                           p_lot_code, i.code, s.code,
                           (SELECT coalesce(x.expires_on::text, 'none') FROM lots x
                             WHERE x.site_id = p_site AND x.item_id = p_item AND x.lot_code = p_lot_code),
                           coalesce(p_expires::text, 'none'));
    END IF;
    INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, reason, ref_type, ref_id,
                                 actor_id, request_id, note)
    VALUES (p_kind, p_site, p_item, lid, p_qty, coalesce(p_reason, ''), coalesce(p_ref_type, ''),
            p_ref_id, p_actor, coalesce(p_request_id, ''), coalesce(p_note, ''))
    RETURNING id INTO mid;
    IF p_expires IS NOT NULL AND p_expires <= current_date + 30 AND NOT stock_expired(p_expires) THEN
        PERFORM stock_alert('near_expiry', p_site, p_item, lid, p_qty,
                            format('lot %s received %s units expiring on %s', p_lot_code, p_qty, p_expires));
    END IF;
    lot_id := lid;
    on_hand := oh;
    movement_id := mid;
    RETURN NEXT;
END $$;

-- ---------------------------------------------------------------- issue and reserve
-- Takes qty units of an item at a site from available (unreserved), unexpired stock,
-- first expired first out across lots (or from the lot named by p_lot_code), locking
-- each lot in picking order. p_reserve: set the units aside (reserve movements) instead
-- of taking them out (p_kind: issue, transfer_out or distribution_out). All or nothing:
-- not enough → GS409 naming the item, the site, what is available and what was asked.
CREATE FUNCTION stock_pick(
    p_site bigint, p_item bigint, p_qty bigint, p_lot_code text, p_kind text, p_reserve boolean,
    p_reason text, p_ref_type text, p_ref_id bigint, p_actor bigint, p_request_id text, p_note text)
RETURNS TABLE (lot_id bigint, lot_code text, expires_on date, qty bigint, remaining bigint,
               movement_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    need bigint := p_qty;
    take bigint;
    l record;
    n record;
    left_qty bigint;
    mid bigint;
BEGIN
    IF p_qty IS NULL OR p_qty <= 0 THEN
        PERFORM stock_fail('GS400', 'qty: must be positive, got %s', coalesce(p_qty::text, 'nothing'));
    END IF;
    IF NOT p_reserve AND p_kind NOT IN ('issue', 'transfer_out', 'distribution_out') THEN
        PERFORM stock_fail('GS400', 'kind: %s is not an issuing movement', p_kind);
    END IF;
    n := stock_names(p_site, p_item);
    IF p_lot_code IS NOT NULL AND p_lot_code <> '' THEN
        PERFORM stock_lot_find(p_site, p_item, p_lot_code);
    END IF;

    FOR l IN
        SELECT x.id, x.lot_code, x.expires_on, x.on_hand, x.reserved FROM lots x
         WHERE x.site_id = p_site AND x.item_id = p_item AND x.on_hand > x.reserved
           AND NOT stock_expired(x.expires_on)
           AND (p_lot_code IS NULL OR p_lot_code = '' OR x.lot_code = p_lot_code)
         ORDER BY x.expires_on NULLS LAST, x.id
           FOR UPDATE
    LOOP
        take := least(need, l.on_hand - l.reserved);
        IF p_reserve THEN
            UPDATE lots SET reserved = reserved + take, updated_at = now()
             WHERE id = l.id AND on_hand - reserved >= take
            RETURNING on_hand - reserved INTO left_qty;
        ELSE
            UPDATE lots SET on_hand = on_hand - take, updated_at = now()
             WHERE id = l.id AND on_hand - reserved >= take
            RETURNING on_hand INTO left_qty;
        END IF;
        IF NOT FOUND THEN  -- cannot happen: the row is locked and was re-read
            PERFORM stock_fail('GS409', 'lot %s of %s changed while it was being picked', l.lot_code, n.item_code);
        END IF;
        INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, reserved_delta, reason,
                                     ref_type, ref_id, actor_id, request_id, note)
        VALUES (CASE WHEN p_reserve THEN 'reserve' ELSE p_kind END, p_site, p_item, l.id,
                CASE WHEN p_reserve THEN 0 ELSE -take END, CASE WHEN p_reserve THEN take ELSE 0 END,
                coalesce(p_reason, ''), coalesce(p_ref_type, ''), p_ref_id, p_actor,
                coalesce(p_request_id, ''), coalesce(p_note, ''))
        RETURNING id INTO mid;
        lot_id := l.id;
        lot_code := l.lot_code;
        expires_on := l.expires_on;
        qty := take;
        remaining := left_qty;
        movement_id := mid;
        RETURN NEXT;
        need := need - take;
        EXIT WHEN need = 0;
    END LOOP;

    IF need > 0 THEN
        IF p_lot_code IS NOT NULL AND p_lot_code <> '' THEN
            SELECT x.expires_on INTO l FROM lots x
             WHERE x.site_id = p_site AND x.item_id = p_item AND x.lot_code = p_lot_code;
            IF stock_expired(l.expires_on) THEN
                PERFORM stock_fail('GS409', 'lot %s of %s at %s expired on %s: expired stock cannot be issued',
                                   p_lot_code, n.item_code, n.site_code, l.expires_on::text);
            END IF;
            PERFORM stock_fail('GS409', 'not enough %s in lot %s at %s: %s available, %s requested',
                               n.item_code, p_lot_code, n.site_code, (p_qty - need)::text, p_qty::text);
        END IF;
        PERFORM stock_fail('GS409', 'not enough %s at %s: %s available, %s requested',
                           n.item_code, n.site_code, (p_qty - need)::text, p_qty::text);
    END IF;
    PERFORM stock_check_low(p_site, p_item, p_qty);
END $$;

-- Issues (takes out) qty units: p_kind issue | transfer_out | distribution_out.
CREATE FUNCTION stock_issue(
    p_site bigint, p_item bigint, p_qty bigint, p_lot_code text DEFAULT NULL,
    p_kind text DEFAULT 'issue', p_reason text DEFAULT '', p_ref_type text DEFAULT '',
    p_ref_id bigint DEFAULT NULL, p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '',
    p_note text DEFAULT '')
RETURNS TABLE (lot_id bigint, lot_code text, expires_on date, qty bigint, remaining bigint,
               movement_id bigint)
LANGUAGE sql AS $$
    SELECT * FROM stock_pick(p_site, p_item, p_qty, p_lot_code, p_kind, false, p_reason,
                             p_ref_type, p_ref_id, p_actor, p_request_id, p_note)
$$;

-- Reserves qty units FEFO for a reference (requisition allocation); `remaining` is the
-- lot's available quantity afterwards.
CREATE FUNCTION stock_reserve(
    p_site bigint, p_item bigint, p_qty bigint, p_lot_code text DEFAULT NULL,
    p_reason text DEFAULT '', p_ref_type text DEFAULT '', p_ref_id bigint DEFAULT NULL,
    p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS TABLE (lot_id bigint, lot_code text, expires_on date, qty bigint, remaining bigint,
               movement_id bigint)
LANGUAGE sql AS $$
    SELECT * FROM stock_pick(p_site, p_item, p_qty, p_lot_code, 'reserve', true, p_reason,
                             p_ref_type, p_ref_id, p_actor, p_request_id, p_note)
$$;

-- Releases qty reserved units of a lot (cancelled allocation). Returns the movement id.
CREATE FUNCTION stock_release(
    p_lot bigint, p_qty bigint, p_reason text DEFAULT '', p_ref_type text DEFAULT '',
    p_ref_id bigint DEFAULT NULL, p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '',
    p_note text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    l record;
    mid bigint;
BEGIN
    IF p_qty IS NULL OR p_qty <= 0 THEN
        PERFORM stock_fail('GS400', 'qty: must be positive, got %s', coalesce(p_qty::text, 'nothing'));
    END IF;
    UPDATE lots SET reserved = reserved - p_qty, updated_at = now()
     WHERE id = p_lot AND reserved >= p_qty
    RETURNING id, site_id, item_id INTO l;
    IF NOT FOUND THEN
        SELECT x.lot_code, x.reserved, i.code AS item_code INTO l
          FROM lots x JOIN items i ON i.id = x.item_id WHERE x.id = p_lot;
        IF NOT FOUND THEN
            PERFORM stock_fail('GS404', 'lot %s not found', p_lot::text);
        END IF;
        PERFORM stock_fail('GS409', 'lot %s of %s has %s reserved, cannot release %s',
                           l.lot_code, l.item_code, l.reserved::text, p_qty::text);
    END IF;
    INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, reserved_delta, reason,
                                 ref_type, ref_id, actor_id, request_id, note)
    VALUES ('release', l.site_id, l.item_id, p_lot, 0, -p_qty, coalesce(p_reason, ''),
            coalesce(p_ref_type, ''), p_ref_id, p_actor, coalesce(p_request_id, ''), coalesce(p_note, ''))
    RETURNING id INTO mid;
    RETURN mid;
END $$;

-- Takes qty units out of a lot's reserved stock (dispatch of an allocation): on hand and
-- reserved both go down. p_kind issue | transfer_out | distribution_out. Returns the
-- movement id.
CREATE FUNCTION stock_issue_reserved(
    p_lot bigint, p_qty bigint, p_kind text DEFAULT 'issue', p_reason text DEFAULT '',
    p_ref_type text DEFAULT '', p_ref_id bigint DEFAULT NULL, p_actor bigint DEFAULT NULL,
    p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    l record;
    mid bigint;
BEGIN
    IF p_qty IS NULL OR p_qty <= 0 THEN
        PERFORM stock_fail('GS400', 'qty: must be positive, got %s', coalesce(p_qty::text, 'nothing'));
    END IF;
    IF p_kind NOT IN ('issue', 'transfer_out', 'distribution_out') THEN
        PERFORM stock_fail('GS400', 'kind: %s is not an issuing movement', p_kind);
    END IF;
    UPDATE lots SET on_hand = on_hand - p_qty, reserved = reserved - p_qty, updated_at = now()
     WHERE id = p_lot AND reserved >= p_qty
    RETURNING id, site_id, item_id INTO l;
    IF NOT FOUND THEN
        SELECT x.lot_code, x.reserved, i.code AS item_code INTO l
          FROM lots x JOIN items i ON i.id = x.item_id WHERE x.id = p_lot;
        IF NOT FOUND THEN
            PERFORM stock_fail('GS404', 'lot %s not found', p_lot::text);
        END IF;
        PERFORM stock_fail('GS409', 'not enough reserved %s in lot %s: %s reserved, %s requested',
                           l.item_code, l.lot_code, l.reserved::text, p_qty::text);
    END IF;
    INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, reserved_delta, reason,
                                 ref_type, ref_id, actor_id, request_id, note)
    VALUES (p_kind, l.site_id, l.item_id, p_lot, -p_qty, -p_qty, coalesce(p_reason, ''),
            coalesce(p_ref_type, ''), p_ref_id, p_actor, coalesce(p_request_id, ''), coalesce(p_note, ''))
    RETURNING id INTO mid;
    RETURN mid;
END $$;

-- ---------------------------------------------------------------- adjust
-- Changes a lot's on hand by p_qty (signed) with a reason code whose direction allows
-- the sign. p_kind adjustment | stocktake_variance.
CREATE FUNCTION stock_adjust(
    p_lot bigint, p_qty bigint, p_reason text, p_kind text DEFAULT 'adjustment',
    p_ref_type text DEFAULT '', p_ref_id bigint DEFAULT NULL, p_actor bigint DEFAULT NULL,
    p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS TABLE (lot_id bigint, on_hand bigint, movement_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r record;
    l record;
    mid bigint;
BEGIN
    IF p_qty IS NULL OR p_qty = 0 THEN
        PERFORM stock_fail('GS400', 'qty: must not be zero');
    END IF;
    IF p_kind NOT IN ('adjustment', 'stocktake_variance') THEN
        PERFORM stock_fail('GS400', 'kind: %s is not an adjusting movement', p_kind);
    END IF;
    IF p_kind = 'adjustment' THEN
        SELECT code, direction INTO r FROM stock_reasons WHERE code = p_reason AND active;
        IF NOT FOUND THEN
            PERFORM stock_fail('GS400', 'reason: "%s" is not an adjustment reason (see ListAdjustmentReasons)',
                               left(coalesce(p_reason, ''), 64));
        END IF;
        IF (r.direction = 'out' AND p_qty > 0) OR (r.direction = 'in' AND p_qty < 0) THEN
            PERFORM stock_fail('GS400', 'reason: "%s" only %s stock', p_reason,
                               CASE r.direction WHEN 'out' THEN 'decreases' ELSE 'increases' END);
        END IF;
    END IF;
    UPDATE lots SET on_hand = on_hand + p_qty, updated_at = now()
     WHERE id = p_lot AND on_hand + p_qty >= reserved
    RETURNING id, site_id, item_id, on_hand INTO l;
    IF NOT FOUND THEN
        SELECT x.lot_code, x.on_hand - x.reserved AS avail, i.code AS item_code, s.code AS site_code
          INTO l FROM lots x JOIN items i ON i.id = x.item_id JOIN sites s ON s.id = x.site_id
         WHERE x.id = p_lot;
        IF NOT FOUND THEN
            PERFORM stock_fail('GS404', 'lot %s not found', coalesce(p_lot::text, 'nothing'));
        END IF;
        PERFORM stock_fail('GS409', 'not enough %s in lot %s at %s: %s available, %s requested',
                           l.item_code, l.lot_code, l.site_code, l.avail::text, (-p_qty)::text);
    END IF;
    INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, reason, ref_type, ref_id,
                                 actor_id, request_id, note)
    VALUES (p_kind, l.site_id, l.item_id, p_lot, p_qty, coalesce(p_reason, ''),
            coalesce(p_ref_type, ''), p_ref_id, p_actor, coalesce(p_request_id, ''), coalesce(p_note, ''))
    RETURNING id INTO mid;
    IF p_qty < 0 THEN
        PERFORM stock_check_low(l.site_id, l.item_id, -p_qty);
    END IF;
    lot_id := p_lot;
    on_hand := l.on_hand;
    movement_id := mid;
    RETURN NEXT;
END $$;

-- ---------------------------------------------------------------- expiry write-off
-- Writes off the unreserved stock of every expired lot at a site (expiry_writeoff
-- movements, reason "expired"); reserved expired units stay until released.
CREATE FUNCTION stock_writeoff_expired(
    p_site bigint, p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS TABLE (lot_id bigint, item_id bigint, lot_code text, expires_on date, qty bigint,
               remaining bigint, movement_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    l record;
    mid bigint;
BEGIN
    PERFORM 1 FROM sites WHERE id = p_site;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'site %s not found', p_site::text);
    END IF;
    FOR l IN
        SELECT x.id, x.item_id, x.lot_code, x.expires_on, x.on_hand, x.reserved FROM lots x
         WHERE x.site_id = p_site AND stock_expired(x.expires_on) AND x.on_hand > x.reserved
         ORDER BY x.id
           FOR UPDATE
    LOOP
        UPDATE lots SET on_hand = reserved, updated_at = now() WHERE id = l.id;
        INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, reason, actor_id,
                                     request_id, note)
        VALUES ('expiry_writeoff', p_site, l.item_id, l.id, -(l.on_hand - l.reserved), 'expired',
                p_actor, coalesce(p_request_id, ''), coalesce(p_note, ''))
        RETURNING id INTO mid;
        PERFORM stock_alert('expired', p_site, l.item_id, l.id, l.on_hand - l.reserved,
                            format('lot %s expired on %s: %s units written off', l.lot_code,
                                   l.expires_on, l.on_hand - l.reserved));
        lot_id := l.id;
        item_id := l.item_id;
        lot_code := l.lot_code;
        expires_on := l.expires_on;
        qty := l.on_hand - l.reserved;
        remaining := l.reserved;
        movement_id := mid;
        RETURN NEXT;
    END LOOP;
END $$;

-- ---------------------------------------------------------------- transfers
-- Dispatches a transfer: for each i, p_qtys[i] of item p_items[i] (from lot
-- p_lot_codes[i], or FEFO when NULL/'') leaves p_from (transfer_out), one transfer line
-- per lot taken. Lines are picked in item order so that concurrent transfers lock lots in
-- the same order. Returns the transfer id.
CREATE FUNCTION stock_transfer_dispatch(
    p_from bigint, p_to bigint, p_items bigint[], p_qtys bigint[], p_lot_codes text[],
    p_note text DEFAULT '', p_ref_type text DEFAULT '', p_ref_id bigint DEFAULT NULL,
    p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t bigint;
    dest record;
    n int := coalesce(array_length(p_items, 1), 0);
    k int;
    p record;
BEGIN
    IF n = 0 THEN
        PERFORM stock_fail('GS400', 'items: at least one is required');
    END IF;
    IF coalesce(array_length(p_qtys, 1), 0) <> n OR coalesce(array_length(p_lot_codes, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'items: quantities and lots do not match the items');
    END IF;
    IF p_from = p_to THEN
        PERFORM stock_fail('GS400', 'to_site_id: must differ from the source site');
    END IF;
    FOR k IN 1 .. n LOOP
        IF p_qtys[k] IS NULL OR p_qtys[k] <= 0 THEN
            PERFORM stock_fail('GS400', 'items[%s].qty: must be positive, got %s', (k - 1)::text,
                               coalesce(p_qtys[k]::text, 'nothing'));
        END IF;
    END LOOP;
    SELECT code, kind, active INTO dest FROM sites WHERE id = p_to;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'site %s not found', p_to::text);
    END IF;
    IF dest.kind = 'supplier_market' THEN
        PERFORM stock_fail('GS409', 'site %s is a supplier market: stock is not kept there', dest.code);
    END IF;
    IF NOT dest.active THEN
        PERFORM stock_fail('GS409', 'site %s is inactive', dest.code);
    END IF;
    INSERT INTO stock_transfers (from_site_id, to_site_id, note, ref_type, ref_id, dispatched_by)
    VALUES (p_from, p_to, coalesce(p_note, ''), coalesce(p_ref_type, ''), p_ref_id, p_actor)
    RETURNING id INTO t;
    FOR k IN SELECT g FROM generate_series(1, n) g ORDER BY p_items[g], g LOOP
        FOR p IN SELECT * FROM stock_pick(p_from, p_items[k], p_qtys[k], nullif(p_lot_codes[k], ''),
                                          'transfer_out', false, '', 'transfer', t, p_actor,
                                          p_request_id, p_note)
        LOOP
            INSERT INTO stock_transfer_lines (transfer_id, item_id, from_lot_id, lot_code, expires_on, qty)
            VALUES (t, p_items[k], p.lot_id, p.lot_code, p.expires_on, p.qty);
        END LOOP;
    END LOOP;
    RETURN t;
END $$;

-- Receives a transfer at its destination. p_line_ids[i] arrived as p_received[i] units
-- (reason p_reasons[i] when that differs from what was dispatched); lines not listed
-- arrived in full. Each line is received into the same lot code and expiry at the
-- destination (transfer_in of the dispatched quantity) and a difference is posted as an
-- adjustment with its reason, both referring to the transfer.
CREATE FUNCTION stock_transfer_receive(
    p_transfer bigint, p_line_ids bigint[], p_received bigint[], p_reasons text[],
    p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t record;
    ln record;
    r record;
    n int := coalesce(array_length(p_line_ids, 1), 0);
    k int;
    src record;
    diff bigint;
BEGIN
    SELECT * INTO t FROM stock_transfers WHERE id = p_transfer FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'transfer %s not found', p_transfer::text);
    END IF;
    IF t.status <> 'in_transit' THEN
        PERFORM stock_fail('GS409', 'transfer %s was already received', p_transfer::text);
    END IF;
    IF coalesce(array_length(p_received, 1), 0) <> n OR coalesce(array_length(p_reasons, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'lines: quantities and reasons do not match the lines');
    END IF;
    FOR k IN 1 .. n LOOP
        SELECT * INTO ln FROM stock_transfer_lines WHERE id = p_line_ids[k] AND transfer_id = p_transfer;
        IF NOT FOUND THEN
            PERFORM stock_fail('GS404', 'lines[%s].line_id: line %s is not part of transfer %s',
                               (k - 1)::text, coalesce(p_line_ids[k]::text, 'nothing'), p_transfer::text);
        END IF;
        IF ln.received_qty IS NOT NULL THEN
            PERFORM stock_fail('GS400', 'lines[%s].line_id: line %s is listed twice', (k - 1)::text,
                               ln.id::text);
        END IF;
        IF p_received[k] IS NULL OR p_received[k] < 0 THEN
            PERFORM stock_fail('GS400', 'lines[%s].received_qty: must not be negative, got %s',
                               (k - 1)::text, coalesce(p_received[k]::text, 'nothing'));
        END IF;
        IF p_received[k] <> ln.qty THEN
            IF coalesce(p_reasons[k], '') = '' THEN
                PERFORM stock_fail('GS400', 'lines[%s].reason: required when the received quantity (%s) differs from the dispatched (%s)',
                                   (k - 1)::text, p_received[k]::text, ln.qty::text);
            END IF;
            SELECT code, direction INTO r FROM stock_reasons WHERE code = p_reasons[k] AND active;
            IF NOT FOUND THEN
                PERFORM stock_fail('GS400', 'lines[%s].reason: "%s" is not an adjustment reason',
                                   (k - 1)::text, left(p_reasons[k], 64));
            END IF;
            IF (r.direction = 'out' AND p_received[k] > ln.qty) OR (r.direction = 'in' AND p_received[k] < ln.qty) THEN
                PERFORM stock_fail('GS400', 'lines[%s].reason: "%s" only %s stock', (k - 1)::text,
                                   p_reasons[k], CASE r.direction WHEN 'out' THEN 'decreases' ELSE 'increases' END);
            END IF;
        END IF;
        UPDATE stock_transfer_lines SET received_qty = p_received[k],
               diff_reason = CASE WHEN p_received[k] <> qty THEN p_reasons[k] END
         WHERE id = ln.id;
    END LOOP;
    UPDATE stock_transfer_lines SET received_qty = qty WHERE transfer_id = p_transfer AND received_qty IS NULL;

    FOR ln IN SELECT * FROM stock_transfer_lines WHERE transfer_id = p_transfer ORDER BY id LOOP
        SELECT * INTO src FROM stock_receive(t.to_site_id, ln.item_id, ln.qty, ln.lot_code, ln.expires_on,
                                             'transfer', 'transfer_in', '', 'transfer', p_transfer,
                                             p_actor, p_request_id, p_note);
        diff := ln.received_qty - ln.qty;
        IF diff <> 0 THEN
            PERFORM stock_adjust(src.lot_id, diff, ln.diff_reason, 'adjustment', 'transfer',
                                 p_transfer, p_actor, p_request_id,
                                 format('transfer %s: %s dispatched, %s received', p_transfer, ln.qty,
                                        ln.received_qty));
        END IF;
        UPDATE stock_transfer_lines SET to_lot_id = src.lot_id WHERE id = ln.id;
    END LOOP;
    UPDATE stock_transfers SET status = 'received', received_by = p_actor, received_at = now(),
           receive_note = coalesce(p_note, '')
     WHERE id = p_transfer;
END $$;

-- ---------------------------------------------------------------- stocktakes
CREATE FUNCTION stock_stocktake_open(p_site bigint, p_actor bigint DEFAULT NULL, p_note text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    s record;
    open_id bigint;
    t bigint;
BEGIN
    SELECT id, code, kind INTO s FROM sites WHERE id = p_site FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'site %s not found', p_site::text);
    END IF;
    IF s.kind = 'supplier_market' THEN
        PERFORM stock_fail('GS409', 'site %s is a supplier market: stock is not kept there', s.code);
    END IF;
    SELECT id INTO open_id FROM stocktakes WHERE site_id = p_site AND status = 'open';
    IF FOUND THEN
        PERFORM stock_fail('GS409', 'stocktake %s is already open at %s', open_id::text, s.code);
    END IF;
    INSERT INTO stocktakes (site_id, opened_by, note) VALUES (p_site, p_actor, coalesce(p_note, ''))
    RETURNING id INTO t;
    RETURN t;
END $$;

-- Records blind counts: lot p_lot_ids[i] (or, when 0/NULL, the lot p_lot_codes[i] of item
-- p_item_codes[i]) at the stocktake's site counted p_counts[i]. The lot's on hand at that
-- moment is kept as its system quantity. Returns the number of lots counted so far.
CREATE FUNCTION stock_stocktake_count(
    p_stocktake bigint, p_lot_ids bigint[], p_item_codes text[], p_lot_codes text[],
    p_counts bigint[], p_actor bigint DEFAULT NULL)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    st record;
    n int := coalesce(array_length(p_counts, 1), 0);
    k int;
    lid bigint;
    oh bigint;
    done int;
BEGIN
    SELECT x.id, x.site_id, x.status, s.code AS site_code INTO st
      FROM stocktakes x JOIN sites s ON s.id = x.site_id WHERE x.id = p_stocktake FOR SHARE OF x;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'stocktake %s not found', p_stocktake::text);
    END IF;
    IF st.status <> 'open' THEN
        PERFORM stock_fail('GS409', 'stocktake %s is %s, not open', p_stocktake::text, st.status);
    END IF;
    IF n = 0 THEN
        PERFORM stock_fail('GS400', 'counts: at least one is required');
    END IF;
    IF coalesce(array_length(p_lot_ids, 1), 0) <> n OR coalesce(array_length(p_item_codes, 1), 0) <> n
       OR coalesce(array_length(p_lot_codes, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'counts: lots and counts do not match');
    END IF;
    FOR k IN 1 .. n LOOP
        IF p_counts[k] IS NULL OR p_counts[k] < 0 THEN
            PERFORM stock_fail('GS400', 'counts[%s].counted: must not be negative, got %s',
                               (k - 1)::text, coalesce(p_counts[k]::text, 'nothing'));
        END IF;
        IF coalesce(p_lot_ids[k], 0) > 0 THEN
            SELECT id, on_hand INTO lid, oh FROM lots WHERE id = p_lot_ids[k] AND site_id = st.site_id FOR SHARE;
            IF NOT FOUND THEN
                PERFORM stock_fail('GS404', 'counts[%s]: lot %s not found at %s', (k - 1)::text,
                                   p_lot_ids[k]::text, st.site_code);
            END IF;
        ELSE
            SELECT l.id, l.on_hand INTO lid, oh FROM lots l JOIN items i ON i.id = l.item_id
             WHERE l.site_id = st.site_id AND i.code = p_item_codes[k] AND l.lot_code = p_lot_codes[k]
               FOR SHARE OF l;
            IF NOT FOUND THEN
                PERFORM stock_fail('GS404', 'counts[%s]: lot %s of %s not found at %s', (k - 1)::text,
                                   left(coalesce(p_lot_codes[k], ''), 64),
                                   left(coalesce(p_item_codes[k], ''), 64), st.site_code);
            END IF;
        END IF;
        INSERT INTO stocktake_counts (stocktake_id, lot_id, counted, system_qty, counted_by)
        VALUES (p_stocktake, lid, p_counts[k], oh, p_actor)
        ON CONFLICT (stocktake_id, lot_id) DO UPDATE
            SET counted = EXCLUDED.counted, system_qty = EXCLUDED.system_qty,
                counted_by = EXCLUDED.counted_by, counted_at = now();
    END LOOP;
    SELECT count(*) INTO done FROM stocktake_counts WHERE stocktake_id = p_stocktake;
    RETURN done;
END $$;

-- Posts counted - system_qty of every counted lot as a stocktake_variance movement (on
-- top of whatever moved since the count) and closes the stocktake.
CREATE FUNCTION stock_stocktake_submit(
    p_stocktake bigint, p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '')
RETURNS TABLE (lot_id bigint, system_qty bigint, counted bigint, variance bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    st record;
    cnt record;
    v bigint;
    l record;
BEGIN
    SELECT * INTO st FROM stocktakes WHERE id = p_stocktake FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'stocktake %s not found', p_stocktake::text);
    END IF;
    IF st.status <> 'open' THEN
        PERFORM stock_fail('GS409', 'stocktake %s is %s, not open', p_stocktake::text, st.status);
    END IF;
    PERFORM 1 FROM stocktake_counts WHERE stocktake_id = p_stocktake;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS409', 'stocktake %s has no counts yet', p_stocktake::text);
    END IF;
    FOR cnt IN SELECT * FROM stocktake_counts c WHERE c.stocktake_id = p_stocktake ORDER BY c.lot_id LOOP
        v := cnt.counted - cnt.system_qty;
        IF v <> 0 THEN
            UPDATE lots SET on_hand = on_hand + v, updated_at = now()
             WHERE id = cnt.lot_id AND on_hand + v >= reserved
            RETURNING id, site_id, item_id INTO l;
            IF NOT FOUND THEN
                SELECT x.lot_code, x.on_hand, x.reserved, i.code AS item_code INTO l
                  FROM lots x JOIN items i ON i.id = x.item_id WHERE x.id = cnt.lot_id;
                PERFORM stock_fail('GS409', 'lot %s of %s: a variance of %s would leave less than the %s reserved (on hand %s)',
                                   l.lot_code, l.item_code, v::text, l.reserved::text, l.on_hand::text);
            END IF;
            INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, reason, ref_type, ref_id,
                                         actor_id, request_id)
            VALUES ('stocktake_variance', l.site_id, l.item_id, cnt.lot_id, v, 'count_error', 'stocktake',
                    p_stocktake, p_actor, coalesce(p_request_id, ''));
            IF v < 0 THEN
                PERFORM stock_check_low(l.site_id, l.item_id, -v);
            END IF;
        END IF;
        UPDATE stocktake_counts c SET variance = v WHERE c.stocktake_id = p_stocktake AND c.lot_id = cnt.lot_id;
        lot_id := cnt.lot_id;
        system_qty := cnt.system_qty;
        counted := cnt.counted;
        variance := v;
        RETURN NEXT;
    END LOOP;
    UPDATE stocktakes SET status = 'submitted', submitted_by = p_actor, submitted_at = now()
     WHERE id = p_stocktake;
END $$;

-- ---------------------------------------------------------------- verification
-- Every lot whose on hand or reserved differs from the sum of its movements.
CREATE VIEW stock_ledger_differences AS
SELECT l.id AS lot_id, l.site_id, l.item_id, l.lot_code, l.on_hand,
       coalesce(m.qty, 0)::bigint AS ledger_on_hand, l.reserved,
       coalesce(m.reserved, 0)::bigint AS ledger_reserved
FROM lots l
LEFT JOIN (SELECT lot_id, sum(qty) AS qty, sum(reserved_delta) AS reserved
             FROM stock_movements GROUP BY lot_id) m ON m.lot_id = l.id
WHERE l.on_hand <> coalesce(m.qty, 0) OR l.reserved <> coalesce(m.reserved, 0);
