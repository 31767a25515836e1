-- 011_procurement.sql — supplier markets: price lists, purchase orders with their state
-- machine, receiving against an order (through stock_receive, so the ledger refers to the
-- order), the restock proposal turned into draft orders, and stock_on_order (010_stock.sql)
-- replaced so that LowStock counts what open orders will still bring.
--
-- The purchase order states and transitions are written once in C (po_transitions[] in
-- server/procurement.c) and mirrored here by purchase_order_transitions, which the
-- purchase_orders_guard trigger enforces (tests compare the two).
-- Errors: GS400 bad argument (message starts with the field), GS404 unknown, GS409 state.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- ---------------------------------------------------------------- price lists
CREATE TABLE supplier_prices (
    id                bigserial PRIMARY KEY,
    item_id           bigint NOT NULL REFERENCES items(id),
    supplier_site_id  bigint NOT NULL REFERENCES sites(id),
    unit_price_fen    bigint NOT NULL CHECK (unit_price_fen > 0),
    lead_time_days    integer NOT NULL DEFAULT 0 CHECK (lead_time_days BETWEEN 0 AND 365),
    valid_from        date NOT NULL,
    valid_to          date CHECK (valid_to IS NULL OR valid_to >= valid_from), -- NULL: open-ended
    updated_by        bigint REFERENCES users(id),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- the periods of one item at one supplier never overlap
    CONSTRAINT supplier_prices_no_overlap EXCLUDE USING gist (
        item_id WITH =, supplier_site_id WITH =, daterange(valid_from, valid_to, '[]') WITH &&)
);
CREATE INDEX supplier_prices_supplier ON supplier_prices (supplier_site_id, item_id);

-- Only supplier markets have prices.
CREATE FUNCTION supplier_prices_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM sites WHERE id = NEW.supplier_site_id AND kind = 'supplier_market';
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'GS400',
            MESSAGE = format('supplier_site_id: site %s is not a supplier market', NEW.supplier_site_id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER supplier_prices_check BEFORE INSERT OR UPDATE OF supplier_site_id ON supplier_prices
    FOR EACH ROW EXECUTE FUNCTION supplier_prices_check();

-- Sets the price of an item at a supplier from p_from (NULL: today) to p_to (NULL: open).
-- A price starting the same day is replaced; an earlier one still running on p_from ends
-- the day before; a later one inside the new period → GS409. p_label prefixes messages
-- (an import names its row). Returns the price id and whether one was replaced.
CREATE FUNCTION proc_set_price(
    p_item bigint, p_supplier bigint, p_price bigint, p_lead int, p_from date, p_to date,
    p_actor bigint DEFAULT NULL, p_label text DEFAULT '')
RETURNS TABLE (price_id bigint, replaced boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    f date := coalesce(p_from, current_date);
    later record;
    pid bigint;
BEGIN
    IF p_price IS NULL OR p_price <= 0 THEN
        PERFORM stock_fail('GS400', '%sunit_price_fen: must be positive, got %s', p_label,
                           coalesce(p_price::text, 'nothing'));
    END IF;
    IF p_lead IS NULL OR p_lead < 0 OR p_lead > 365 THEN
        PERFORM stock_fail('GS400', '%slead_time_days: must be 0 to 365, got %s', p_label,
                           coalesce(p_lead::text, 'nothing'));
    END IF;
    IF p_to IS NOT NULL AND p_to < f THEN
        PERFORM stock_fail('GS400', '%svalid_to: %s is before valid_from %s', p_label, p_to::text, f::text);
    END IF;
    -- one writer per item and supplier at a time
    PERFORM pg_advisory_xact_lock(hashtextextended(format('supplier_price:%s:%s', p_item, p_supplier), 0));
    SELECT x.valid_from, x.unit_price_fen INTO later FROM supplier_prices x
     WHERE x.item_id = p_item AND x.supplier_site_id = p_supplier AND x.valid_from > f
       AND (p_to IS NULL OR x.valid_from <= p_to)
     ORDER BY x.valid_from LIMIT 1;
    IF FOUND THEN
        PERFORM stock_fail('GS409', '%svalid_to: a price of %s fen from %s already follows; end this one before that day',
                           p_label, later.unit_price_fen::text, later.valid_from::text);
    END IF;
    UPDATE supplier_prices x SET unit_price_fen = p_price, lead_time_days = p_lead, valid_to = p_to,
           updated_by = p_actor, updated_at = now()
     WHERE x.item_id = p_item AND x.supplier_site_id = p_supplier AND x.valid_from = f
    RETURNING x.id INTO pid;
    IF FOUND THEN
        price_id := pid;
        replaced := true;
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE supplier_prices x SET valid_to = f - 1, updated_at = now()
     WHERE x.item_id = p_item AND x.supplier_site_id = p_supplier AND x.valid_from < f
       AND (x.valid_to IS NULL OR x.valid_to >= f);
    INSERT INTO supplier_prices (item_id, supplier_site_id, unit_price_fen, lead_time_days, valid_from,
                                 valid_to, updated_by)
    VALUES (p_item, p_supplier, p_price, p_lead, f, p_to, p_actor)
    RETURNING id INTO pid;
    price_id := pid;
    replaced := false;
    RETURN NEXT;
END $$;

-- The price of an item at a supplier valid on a day.
CREATE VIEW supplier_prices_current AS
SELECT * FROM supplier_prices
 WHERE valid_from <= current_date AND (valid_to IS NULL OR valid_to >= current_date);

-- ---------------------------------------------------------------- purchase orders
CREATE TABLE purchase_order_transitions (
    from_state  text NOT NULL,
    to_state    text NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
-- Mirror of po_transitions[] in server/procurement.c.
INSERT INTO purchase_order_transitions (from_state, to_state) VALUES
    ('draft', 'placed'),
    ('draft', 'cancelled'),
    ('placed', 'partly_received'),
    ('placed', 'received'),
    ('placed', 'cancelled'),
    ('partly_received', 'received'),
    ('partly_received', 'cancelled');

CREATE TABLE purchase_orders (
    id                bigserial PRIMARY KEY,
    number            text NOT NULL UNIQUE,
    status            text NOT NULL DEFAULT 'draft'
                          CHECK (status IN ('draft', 'placed', 'partly_received', 'received', 'cancelled')),
    supplier_site_id  bigint NOT NULL REFERENCES sites(id),
    site_id           bigint NOT NULL REFERENCES sites(id),
    note              text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    expected_on       date,
    proposed          boolean NOT NULL DEFAULT false,
    created_by        bigint REFERENCES users(id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    placed_by         bigint REFERENCES users(id),
    placed_at         timestamptz,
    closed_by         bigint REFERENCES users(id),
    closed_at         timestamptz,
    cancel_reason     text NOT NULL DEFAULT '' CHECK (length(cancel_reason) <= 500),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (supplier_site_id <> site_id),
    CHECK ((status IN ('received', 'cancelled')) = (closed_at IS NOT NULL)),
    CHECK (status IN ('draft', 'cancelled') OR placed_at IS NOT NULL)
);
CREATE INDEX purchase_orders_site ON purchase_orders (site_id, id);
CREATE INDEX purchase_orders_supplier ON purchase_orders (supplier_site_id, id);
CREATE INDEX purchase_orders_open ON purchase_orders (site_id) WHERE status IN ('draft', 'placed', 'partly_received');

CREATE TABLE purchase_order_lines (
    id              bigserial PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES purchase_orders(id),
    item_id         bigint NOT NULL REFERENCES items(id),
    qty             bigint NOT NULL CHECK (qty > 0),
    unit_price_fen  bigint NOT NULL CHECK (unit_price_fen > 0),
    received_qty    bigint NOT NULL DEFAULT 0 CHECK (received_qty >= 0 AND received_qty <= qty),
    UNIQUE (order_id, item_id)
);

-- New orders are drafts with a number; a status change must be in the transition table;
-- the supplier must be a supplier market and the destination a site that keeps stock.
CREATE FUNCTION purchase_orders_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION USING ERRCODE = 'GS409',
                MESSAGE = format('a new purchase order must be a draft, not %s', NEW.status);
        END IF;
        NEW.number := 'PO-' || to_char(now(), 'YYYYMMDD') || '-' || lpad(NEW.id::text, 6, '0');
        SELECT kind INTO k FROM sites WHERE id = NEW.supplier_site_id;
        IF k IS DISTINCT FROM 'supplier_market' THEN
            RAISE EXCEPTION USING ERRCODE = 'GS400',
                MESSAGE = format('supplier_site_id: site %s is not a supplier market', NEW.supplier_site_id);
        END IF;
        SELECT kind INTO k FROM sites WHERE id = NEW.site_id;
        IF k IS NULL OR k = 'supplier_market' THEN
            RAISE EXCEPTION USING ERRCODE = 'GS400',
                MESSAGE = format('site_id: site %s does not keep stock', NEW.site_id);
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.supplier_site_id <> OLD.supplier_site_id OR NEW.site_id <> OLD.site_id OR NEW.number <> OLD.number THEN
        RAISE EXCEPTION USING ERRCODE = 'GS409',
            MESSAGE = format('purchase order %s: supplier, site and number cannot change', OLD.number);
    END IF;
    IF NEW.status <> OLD.status THEN
        PERFORM 1 FROM purchase_order_transitions WHERE from_state = OLD.status AND to_state = NEW.status;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'GS409',
                MESSAGE = format('purchase order %s is %s: it cannot become %s', OLD.number, OLD.status, NEW.status);
        END IF;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER purchase_orders_guard BEFORE INSERT OR UPDATE ON purchase_orders
    FOR EACH ROW EXECUTE FUNCTION purchase_orders_guard();

-- Lines change only while the order is a draft; received quantities only while it is
-- placed or partly received.
CREATE FUNCTION purchase_order_lines_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o record;
BEGIN
    SELECT number, status INTO o FROM purchase_orders
     WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.order_id ELSE NEW.order_id END;
    IF TG_OP = 'UPDATE' AND NEW.order_id = OLD.order_id AND NEW.item_id = OLD.item_id
       AND NEW.qty = OLD.qty AND NEW.unit_price_fen = OLD.unit_price_fen THEN
        IF NEW.received_qty <> OLD.received_qty AND o.status NOT IN ('placed', 'partly_received') THEN
            RAISE EXCEPTION USING ERRCODE = 'GS409',
                MESSAGE = format('purchase order %s is %s: nothing can be received against it', o.number, o.status);
        END IF;
        RETURN NEW;
    END IF;
    IF o.status <> 'draft' THEN
        RAISE EXCEPTION USING ERRCODE = 'GS409',
            MESSAGE = format('purchase order %s is %s: only a draft''s lines can change', o.number, o.status);
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF NEW.received_qty <> 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'GS409',
            MESSAGE = format('purchase order %s is a draft: nothing can be received against it', o.number);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER purchase_order_lines_guard BEFORE INSERT OR UPDATE OR DELETE ON purchase_order_lines
    FOR EACH ROW EXECUTE FUNCTION purchase_order_lines_guard();

-- What open orders will still bring: LowStock's on_order and the restock proposal.
CREATE OR REPLACE VIEW stock_on_order (site_id, item_id, qty) AS
SELECT o.site_id, l.item_id, (l.qty - l.received_qty)::bigint
  FROM purchase_orders o JOIN purchase_order_lines l ON l.order_id = o.id
 WHERE o.status IN ('placed', 'partly_received') AND l.qty > l.received_qty;

-- Replaces the lines of draft p_order: item p_items[i], p_qtys[i] units at p_prices[i] fen
-- (0: the supplier's price valid today). GS409 when an item has no price.
CREATE FUNCTION proc_set_lines(p_order bigint, p_items bigint[], p_qtys bigint[], p_prices bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    o record;
    n int := coalesce(array_length(p_items, 1), 0);
    k int;
    price bigint;
BEGIN
    SELECT po.id, po.number, po.status, po.supplier_site_id, s.code AS supplier_code INTO o
      FROM purchase_orders po JOIN sites s ON s.id = po.supplier_site_id WHERE po.id = p_order FOR UPDATE OF po;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'purchase order %s not found', p_order::text);
    END IF;
    IF o.status <> 'draft' THEN
        PERFORM stock_fail('GS409', 'purchase order %s is %s: only a draft''s lines can change', o.number, o.status);
    END IF;
    IF coalesce(array_length(p_qtys, 1), 0) <> n OR coalesce(array_length(p_prices, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'lines: quantities and prices do not match the items');
    END IF;
    DELETE FROM purchase_order_lines WHERE order_id = p_order;
    FOR k IN 1 .. n LOOP
        IF p_qtys[k] IS NULL OR p_qtys[k] <= 0 THEN
            PERFORM stock_fail('GS400', 'lines[%s].qty: must be positive, got %s', (k - 1)::text,
                               coalesce(p_qtys[k]::text, 'nothing'));
        END IF;
        price := nullif(p_prices[k], 0);
        IF price IS NULL THEN
            SELECT unit_price_fen INTO price FROM supplier_prices_current
             WHERE item_id = p_items[k] AND supplier_site_id = o.supplier_site_id;
            IF NOT FOUND THEN
                PERFORM stock_fail('GS409', 'lines[%s]: %s has no price for %s today; give unit_price_fen',
                                   (k - 1)::text, o.supplier_code,
                                   coalesce((SELECT code FROM items WHERE id = p_items[k]), p_items[k]::text));
            END IF;
        END IF;
        IF p_items[k] = ANY (p_items[1:k - 1]) THEN
            PERFORM stock_fail('GS400', 'lines[%s].item_id: %s is on the order twice', (k - 1)::text,
                               (SELECT code FROM items WHERE id = p_items[k]));
        END IF;
        INSERT INTO purchase_order_lines (order_id, item_id, qty, unit_price_fen)
        VALUES (p_order, p_items[k], p_qtys[k], price);
    END LOOP;
END $$;

-- Receives p_qtys[i] units of order line p_lines[i] as lot p_lots[i] expiring p_expires[i]
-- at the order's site (receipt movements referring to the order); the order becomes
-- partly_received or received. Returns the movement ids in the order of the lines.
CREATE FUNCTION proc_order_receive(
    p_order bigint, p_lines bigint[], p_qtys bigint[], p_lots text[], p_expires date[],
    p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS TABLE (k int, movement_id bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    o record;
    ln record;
    n int := coalesce(array_length(p_lines, 1), 0);
    i int;
    mid bigint;
    outstanding bigint;
BEGIN
    SELECT * INTO o FROM purchase_orders WHERE id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'purchase order %s not found', p_order::text);
    END IF;
    IF o.status NOT IN ('placed', 'partly_received') THEN
        PERFORM stock_fail('GS409', 'purchase order %s is %s: only a placed or partly received order can be received against',
                           o.number, o.status);
    END IF;
    IF n = 0 THEN
        PERFORM stock_fail('GS400', 'lines: at least one is required');
    END IF;
    IF coalesce(array_length(p_qtys, 1), 0) <> n OR coalesce(array_length(p_lots, 1), 0) <> n
       OR coalesce(array_length(p_expires, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'lines: quantities, lots and expiry dates do not match the lines');
    END IF;
    FOR i IN 1 .. n LOOP
        IF p_qtys[i] IS NULL OR p_qtys[i] <= 0 THEN
            PERFORM stock_fail('GS400', 'lines[%s].qty: must be positive, got %s', (i - 1)::text,
                               coalesce(p_qtys[i]::text, 'nothing'));
        END IF;
        UPDATE purchase_order_lines SET received_qty = received_qty + p_qtys[i]
         WHERE id = p_lines[i] AND order_id = p_order AND received_qty + p_qtys[i] <= qty
        RETURNING item_id INTO ln;
        IF NOT FOUND THEN
            SELECT l.qty - l.received_qty AS left_qty, it.code INTO ln
              FROM purchase_order_lines l JOIN items it ON it.id = l.item_id
             WHERE l.id = p_lines[i] AND l.order_id = p_order;
            IF NOT FOUND THEN
                PERFORM stock_fail('GS404', 'lines[%s].line_id: line %s is not part of purchase order %s',
                                   (i - 1)::text, coalesce(p_lines[i]::text, 'nothing'), o.number);
            END IF;
            PERFORM stock_fail('GS409', 'lines[%s].qty: %s more %s is more than the %s outstanding on purchase order %s',
                               (i - 1)::text, p_qtys[i]::text, ln.code, ln.left_qty::text, o.number);
        END IF;
        SELECT r.movement_id INTO mid
          FROM stock_receive(o.site_id, ln.item_id, p_qtys[i], p_lots[i], p_expires[i], 'purchase', 'receipt',
                             '', 'purchase_order', p_order, p_actor, p_request_id, p_note) r;
        k := i - 1;
        movement_id := mid;
        RETURN NEXT;
    END LOOP;
    SELECT coalesce(sum(qty - received_qty), 0) INTO outstanding FROM purchase_order_lines WHERE order_id = p_order;
    UPDATE purchase_orders
       SET status = CASE WHEN outstanding = 0 THEN 'received' ELSE 'partly_received' END,
           closed_at = CASE WHEN outstanding = 0 THEN now() END,
           closed_by = CASE WHEN outstanding = 0 THEN p_actor END
     WHERE id = p_order AND status IS DISTINCT FROM CASE WHEN outstanding = 0 THEN 'received' ELSE 'partly_received' END;
END $$;

-- The restock proposal of the stock-keeping sites under p_path (or site p_site) as order
-- lines: what stock_levels proposes for low items, less what draft orders already hold,
-- each from the supplier of the district with the lowest price valid today, the nearest
-- on a tie (earthdistance). Rows with supplier_site_id NULL have no price anywhere.
-- Unless p_dry, makes one draft order per site and supplier and returns its id. Proposals
-- run one at a time (an advisory lock), so two at once do not order the same thing twice.
CREATE FUNCTION proc_propose_orders(p_path ltree, p_site bigint, p_actor bigint, p_dry boolean)
RETURNS TABLE (order_id bigint, site_id bigint, item_id bigint, qty bigint, supplier_site_id bigint,
               unit_price_fen bigint, distance_m double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r record;
    cur_site bigint := NULL;
    cur_supplier bigint := NULL;
    oid bigint := NULL;
BEGIN
    IF NOT p_dry THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('proc_propose_orders', 0));
    END IF;
    FOR r IN
        WITH need AS (
            SELECT lv.site_id, lv.item_id, s.lat, s.lon, ou.path,
                   lv.proposed_qty - coalesce((
                       SELECT sum(l.qty) FROM purchase_orders po JOIN purchase_order_lines l ON l.order_id = po.id
                        WHERE po.status = 'draft' AND po.site_id = lv.site_id AND l.item_id = lv.item_id), 0) AS qty
              FROM stock_levels lv
              JOIN sites s ON s.id = lv.site_id
              JOIN org_units ou ON ou.id = s.org_unit_id
             WHERE lv.low AND lv.proposed_qty > 0 AND s.active AND s.kind <> 'supplier_market'
               AND ou.path <@ p_path AND (p_site IS NULL OR p_site = 0 OR s.id = p_site)
        ), choice AS (
            SELECT DISTINCT ON (n.site_id, n.item_id)
                   n.site_id, n.item_id, n.qty, p.supplier_site_id, p.unit_price_fen,
                   CASE WHEN sm.id IS NOT NULL
                        THEN earth_distance(ll_to_earth(n.lat, n.lon), ll_to_earth(sm.lat, sm.lon)) END AS dist
              FROM need n
              LEFT JOIN (supplier_prices_current p
                         JOIN sites sm ON sm.id = p.supplier_site_id AND sm.active AND sm.kind = 'supplier_market'
                         JOIN org_units smu ON smu.id = sm.org_unit_id)
                     ON p.item_id = n.item_id AND smu.path <@ subpath(n.path, 0, 1)
             WHERE n.qty > 0
             ORDER BY n.site_id, n.item_id, p.unit_price_fen NULLS LAST, dist NULLS LAST, p.supplier_site_id
        )
        SELECT * FROM choice ORDER BY choice.site_id, choice.supplier_site_id NULLS LAST, choice.item_id
    LOOP
        IF r.supplier_site_id IS NOT NULL AND NOT p_dry
           AND (cur_site IS DISTINCT FROM r.site_id OR cur_supplier IS DISTINCT FROM r.supplier_site_id) THEN
            INSERT INTO purchase_orders (supplier_site_id, site_id, note, proposed, created_by)
            VALUES (r.supplier_site_id, r.site_id, 'restock proposal', true, p_actor)
            RETURNING id INTO oid;
            cur_site := r.site_id;
            cur_supplier := r.supplier_site_id;
        END IF;
        IF r.supplier_site_id IS NOT NULL AND NOT p_dry THEN
            INSERT INTO purchase_order_lines (order_id, item_id, qty, unit_price_fen)
            VALUES (oid, r.item_id, r.qty, r.unit_price_fen);
        END IF;
        order_id := CASE WHEN r.supplier_site_id IS NULL THEN NULL WHEN p_dry THEN 0 ELSE oid END;
        site_id := r.site_id;
        item_id := r.item_id;
        qty := r.qty;
        supplier_site_id := r.supplier_site_id;
        unit_price_fen := r.unit_price_fen;
        distance_m := r.dist;
        RETURN NEXT;
    END LOOP;
END $$;
