-- 066_supply_agreements.sql — supplier markets on call in emergencies (issue 18).
--
-- A supply agreement binds a supplier market to serve an area (a district, street or
-- community) for a
-- valid period: per item a quantity it commits per day and a price cap, a delivery time,
-- and the fund and budget category the call-offs are charged to. When an emergency
-- requisition from a grid inside a running activation is auto-approved and the reserves of
-- the area cannot cover it (its open backorders after req_emergency_submit), the shortfall
-- becomes call-offs (supply_calloff_shortfall): against the agreements serving the grid,
-- valid today (the district's day: sessions run on its clock) and not ended, cheapest
-- first (the supplier's listed price today, else the cap), then nearest supplier, then
-- oldest agreement; each within what is left of the day's commitment for the item, and
-- never above the cap. The call-off is delivered straight to the requesting grid; its
-- backorder shrinks by what was called off.
--
-- Invariants held by the database whoever writes: an agreement's supplier is a supplier
-- market, its area a district, street or community, its fund a grid fund or source account; its terms
-- never change (it can only be ended, with a reason); a call-off takes its cap, fund and
-- budget from the agreement (never from the caller), is refused above the cap, outside the
-- valid period or after the end, and adds its quantity to the day's usage row, whose CHECK
-- (used <= committed) makes racing call-offs queue on that row and never exceed the day.
-- Money: a call-off records the fund and budget category; posting it to the fund is left
-- to the purchase-from-fund mechanism (issue 18, another branch).

CREATE TABLE supply_agreements (
    id               bigserial PRIMARY KEY,
    supplier_site_id bigint NOT NULL REFERENCES sites(id),
    org_unit_id      bigint NOT NULL REFERENCES org_units(id),  -- the area it serves
    delivery_hours   integer NOT NULL CHECK (delivery_hours BETWEEN 1 AND 168),
    valid_from       date NOT NULL,
    valid_until      date NOT NULL,
    fund_account_id  bigint NOT NULL REFERENCES fund_accounts(id),
    budget_category  text NOT NULL DEFAULT 'emergency' CHECK (budget_category IN ('subsidies', 'rewards',
                         'activities', 'material_purchases', 'emergency')),
    note             text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    created_by       bigint NOT NULL REFERENCES users(id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    ended_by         bigint REFERENCES users(id),
    end_reason       text NOT NULL DEFAULT '' CHECK (length(end_reason) <= 500),
    CHECK (valid_until >= valid_from),
    CHECK ((ended_at IS NULL) = (end_reason = ''))
);
CREATE INDEX supply_agreements_supplier ON supply_agreements (supplier_site_id, id);

CREATE TABLE supply_agreement_items (
    agreement_id   bigint NOT NULL REFERENCES supply_agreements(id),
    item_id        bigint NOT NULL REFERENCES items(id),
    daily_qty      bigint NOT NULL CHECK (daily_qty BETWEEN 1 AND 1000000000),
    price_cap_fen  bigint NOT NULL CHECK (price_cap_fen BETWEEN 1 AND 100000000),
    PRIMARY KEY (agreement_id, item_id)
);
CREATE INDEX supply_agreement_items_item ON supply_agreement_items (item_id);

-- What each agreement has called off per item and day; committed is the agreement's
-- daily quantity when the row was made. The row lock serialises the day's call-offs.
CREATE TABLE supply_commitment_usage (
    agreement_id  bigint NOT NULL,
    item_id       bigint NOT NULL,
    day           date NOT NULL,
    committed     bigint NOT NULL CHECK (committed > 0),
    used          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (agreement_id, item_id, day),
    FOREIGN KEY (agreement_id, item_id) REFERENCES supply_agreement_items (agreement_id, item_id),
    CONSTRAINT supply_commitment_not_exceeded CHECK (used >= 0 AND used <= committed)
);

CREATE TABLE supply_calloffs (
    id               bigserial PRIMARY KEY,
    agreement_id     bigint NOT NULL REFERENCES supply_agreements(id),
    item_id          bigint NOT NULL REFERENCES items(id),
    requisition_id   bigint NOT NULL REFERENCES requisitions(id),
    line_id          bigint NOT NULL REFERENCES requisition_lines(id),
    grid_id          bigint NOT NULL REFERENCES org_units(id),  -- delivered straight to it
    day              date NOT NULL,
    qty              bigint NOT NULL CHECK (qty > 0),
    unit_price_fen   bigint NOT NULL CHECK (unit_price_fen > 0),
    price_cap_fen    bigint NOT NULL,
    amount_fen       bigint NOT NULL,
    fund_account_id  bigint NOT NULL REFERENCES fund_accounts(id),
    budget_category  text NOT NULL,
    delivery_address text NOT NULL DEFAULT '',
    due_at           timestamptz NOT NULL,
    actor_id         bigint REFERENCES users(id),
    request_id       text NOT NULL DEFAULT '' CHECK (length(request_id) <= 128),
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (agreement_id, item_id, day) REFERENCES supply_commitment_usage (agreement_id, item_id, day),
    CONSTRAINT supply_calloffs_within_cap CHECK (unit_price_fen <= price_cap_fen),
    CHECK (amount_fen = qty * unit_price_fen)
);
CREATE INDEX supply_calloffs_agreement ON supply_calloffs (agreement_id, day, id);
CREATE INDEX supply_calloffs_requisition ON supply_calloffs (requisition_id, id);
-- a call-off is a record of an order placed: it never changes or goes away
CREATE TRIGGER supply_calloffs_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON supply_calloffs
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- ---------------------------------------------------------------- guards
CREATE FUNCTION supply_agreements_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF (SELECT kind FROM sites WHERE id = NEW.supplier_site_id) <> 'supplier_market' THEN
            RAISE EXCEPTION 'supplier_site_id: site % is not a supplier market',
                (SELECT code FROM sites WHERE id = NEW.supplier_site_id) USING ERRCODE = 'GS400';
        END IF;
        IF (SELECT kind FROM org_units WHERE id = NEW.org_unit_id) NOT IN ('district', 'street', 'community') THEN
            RAISE EXCEPTION 'org_unit_id: an agreement serves a district, street or community' USING ERRCODE = 'GS400';
        END IF;
        IF (SELECT kind FROM fund_accounts WHERE id = NEW.fund_account_id) NOT IN ('grid_fund', 'source') THEN
            RAISE EXCEPTION 'fund_account_id: call-offs are charged to a grid fund or a source account'
                USING ERRCODE = 'GS400';
        END IF;
        IF NEW.ended_at IS NOT NULL THEN
            RAISE EXCEPTION 'an agreement starts in force' USING ERRCODE = 'GS400';
        END IF;
        NEW.created_at := now();  -- its items can be added in this transaction only
        RETURN NEW;
    END IF;
    IF OLD.ended_at IS NOT NULL THEN
        RAISE EXCEPTION 'supply agreement % was ended: it cannot change', OLD.id USING ERRCODE = 'GS409';
    END IF;
    IF (NEW.id, NEW.supplier_site_id, NEW.org_unit_id, NEW.delivery_hours, NEW.valid_from, NEW.valid_until,
        NEW.fund_account_id, NEW.budget_category, NEW.note, NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.supplier_site_id, OLD.org_unit_id, OLD.delivery_hours, OLD.valid_from, OLD.valid_until,
        OLD.fund_account_id, OLD.budget_category, OLD.note, OLD.created_by, OLD.created_at) THEN
        RAISE EXCEPTION 'supply agreement %: its terms never change (end it and make another)', OLD.id
            USING ERRCODE = 'GS409';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER supply_agreements_guard BEFORE INSERT OR UPDATE ON supply_agreements
    FOR EACH ROW EXECUTE FUNCTION supply_agreements_guard();
CREATE TRIGGER supply_agreements_no_delete BEFORE DELETE OR TRUNCATE ON supply_agreements
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- The items are part of the terms: added in the transaction that made the agreement (its
-- created_at is that transaction's now()), never after.
CREATE FUNCTION supply_agreement_items_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' OR (SELECT created_at FROM supply_agreements WHERE id = NEW.agreement_id) <> now() THEN
        RAISE EXCEPTION 'supply agreement %: its terms never change (end it and make another)',
            coalesce(NEW.agreement_id, OLD.agreement_id) USING ERRCODE = 'GS409';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER supply_agreement_items_guard BEFORE INSERT OR UPDATE OR DELETE ON supply_agreement_items
    FOR EACH ROW EXECUTE FUNCTION supply_agreement_items_guard();

-- A call-off's terms come from its agreement; it must be in force today and within the
-- day's commitment (the usage row's CHECK), never above the cap.
CREATE FUNCTION supply_calloffs_fill() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a record;
BEGIN
    SELECT g.id, g.ended_at, g.valid_from, g.valid_until, g.fund_account_id, g.budget_category,
           g.delivery_hours, i.daily_qty, i.price_cap_fen
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
    RETURN NEW;
END $$;
CREATE TRIGGER supply_calloffs_fill BEFORE INSERT ON supply_calloffs
    FOR EACH ROW EXECUTE FUNCTION supply_calloffs_fill();

INSERT INTO error_reasons (fmt, reason, arg_keys) VALUES
    ('supply agreement % was ended: it cannot change', 'WRONG_STATE', '{agreement}'),
    ('supply agreement %: its terms never change (end it and make another)', 'WRONG_STATE', '{agreement}'),
    ('supply agreement % is not in force on %', 'WRONG_STATE', '{agreement,day}'),
    ('a call-off at % fen is above the cap of % fen of supply agreement %', 'QUOTA_EXCEEDED',
     '{price,cap,agreement}'),
    ('supply agreement % has % of % left today: a call-off of % is more', 'QUOTA_EXCEEDED',
     '{agreement,left,committed,requested}');

-- ---------------------------------------------------------------- the call-off
-- Turns the open backorders of emergency requisition p_req (from a grid inside a running
-- activation) into call-offs, as described at the top of this file. Returns what was
-- called off (units, call-offs).
CREATE FUNCTION supply_calloff_shortfall(p_req bigint, p_actor bigint, p_request_id text,
                                         OUT units bigint, OUT calloffs integer)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    b record;
    g record;
    need bigint;
    take bigint;
    oe earth;
BEGIN
    units := 0;
    calloffs := 0;
    SELECT q.id, q.org_unit_id, q.priority, q.delivery_address, ou.path, ou.kind INTO r
      FROM requisitions q JOIN org_units ou ON ou.id = q.org_unit_id WHERE q.id = p_req;
    IF NOT FOUND OR r.priority <> 'emergency' OR r.kind <> 'grid'
       OR NOT EXISTS (SELECT 1 FROM req_emergency_activation(r.org_unit_id)) THEN
        RETURN;
    END IF;
    oe := (SELECT ll_to_earth(o.lat, o.lon) FROM req_origin(p_req) o);
    FOR b IN SELECT bo.line_id, bo.item_id, bo.qty FROM requisition_backorders bo
              WHERE bo.requisition_id = p_req AND bo.status = 'open' AND bo.qty > 0
              ORDER BY bo.item_id FOR UPDATE
    LOOP
        need := b.qty;
        FOR g IN
            SELECT a.id, coalesce(p.unit_price_fen, i.price_cap_fen) AS price
              FROM supply_agreements a
              JOIN supply_agreement_items i ON i.agreement_id = a.id AND i.item_id = b.item_id
              JOIN org_units au ON au.id = a.org_unit_id
              JOIN sites s ON s.id = a.supplier_site_id AND s.active
              LEFT JOIN supplier_prices_current p ON p.item_id = b.item_id AND p.supplier_site_id = s.id
             WHERE a.ended_at IS NULL AND current_date BETWEEN a.valid_from AND a.valid_until
               AND au.path @> r.path AND coalesce(p.unit_price_fen, i.price_cap_fen) <= i.price_cap_fen
             ORDER BY 2, earth_distance(oe, ll_to_earth(s.lat, s.lon)) NULLS LAST, a.id
        LOOP
            EXIT WHEN need = 0;
            INSERT INTO supply_commitment_usage (agreement_id, item_id, day, committed)
            SELECT g.id, b.item_id, current_date, daily_qty FROM supply_agreement_items
             WHERE agreement_id = g.id AND item_id = b.item_id
            ON CONFLICT DO NOTHING;
            SELECT least(need, committed - used) INTO take FROM supply_commitment_usage
             WHERE agreement_id = g.id AND item_id = b.item_id AND day = current_date FOR UPDATE;
            CONTINUE WHEN take <= 0;
            INSERT INTO supply_calloffs (agreement_id, item_id, requisition_id, line_id, grid_id, day, qty,
                                         unit_price_fen, price_cap_fen, amount_fen, fund_account_id,
                                         budget_category, delivery_address, due_at, actor_id, request_id)
            VALUES (g.id, b.item_id, p_req, b.line_id, r.org_unit_id, current_date, take, g.price, 0, 0, 0,
                    '', r.delivery_address, now(), p_actor, coalesce(p_request_id, ''));
            need := need - take;
            units := units + take;
            calloffs := calloffs + 1;
        END LOOP;
        IF need < b.qty THEN
            UPDATE requisition_backorders SET qty = need, updated_at = now() WHERE line_id = b.line_id;
        END IF;
    END LOOP;
END $$;

SELECT audit_capture_attach('supply_agreements');
