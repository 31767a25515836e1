-- 012_charity.sql — charity service stations: donations in (numbered receipts per station
-- and year, donation_in movements through stock_receive), distributions out to households
-- of a grid (distribution_out movements through stock_pick, FEFO), and per-household
-- quotas per item and period that hold across every station of the district.
--
-- Quotas without races: a usage row per household, item, period and period start is
-- created if missing and then raised by one conditional UPDATE (used + qty <= quota).
-- Concurrent distributions to the same household queue on that row's lock and the second
-- re-checks the condition against the first's committed total, so no interleaving of
-- stations or server processes can hand out more than the quota. Items are taken in id
-- order so two distributions lock usage rows and lots in the same order.

-- ---------------------------------------------------------------- households
-- A household is its identifier within a grid (made on first distribution).
CREATE TABLE charity_households (
    id          bigserial PRIMARY KEY,
    grid_id     bigint NOT NULL REFERENCES org_units(id),
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (grid_id, code)
);

-- ---------------------------------------------------------------- quotas
CREATE TABLE charity_quotas (
    id           bigserial PRIMARY KEY,
    org_unit_id  bigint NOT NULL REFERENCES org_units(id), -- the district
    item_id      bigint NOT NULL REFERENCES items(id),
    period       text NOT NULL CHECK (period IN ('week', 'month')),
    qty          bigint NOT NULL CHECK (qty > 0),
    updated_by   bigint REFERENCES users(id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_unit_id, item_id, period)
);

CREATE TABLE charity_quota_usage (
    household_id  bigint NOT NULL REFERENCES charity_households(id),
    item_id       bigint NOT NULL REFERENCES items(id),
    period        text NOT NULL CHECK (period IN ('week', 'month')),
    period_start  date NOT NULL,
    used          bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (household_id, item_id, period, period_start)
);

-- The first day of the period that contains p_day (weeks start on Monday).
CREATE FUNCTION charity_period_start(p_period text, p_day date) RETURNS date
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_period WHEN 'week' THEN date_trunc('week', p_day)::date
                         ELSE date_trunc('month', p_day)::date END
$$;

-- ---------------------------------------------------------------- donations
CREATE TABLE charity_receipt_counters (
    site_id  bigint NOT NULL REFERENCES sites(id),
    year     integer NOT NULL,
    last     bigint NOT NULL,
    PRIMARY KEY (site_id, year)
);

CREATE TABLE charity_donations (
    id              bigserial PRIMARY KEY,
    receipt_number  text NOT NULL UNIQUE,
    site_id         bigint NOT NULL REFERENCES sites(id),
    donor_name      text NOT NULL CHECK (length(donor_name) BETWEEN 1 AND 200),
    donor_contact   text NOT NULL DEFAULT '' CHECK (length(donor_contact) <= 200),
    anonymous       boolean NOT NULL DEFAULT false,
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    received_by     bigint REFERENCES users(id),
    received_at     timestamptz NOT NULL DEFAULT now(),
    request_id      text NOT NULL DEFAULT ''
);
CREATE INDEX charity_donations_site ON charity_donations (site_id, id);
CREATE TRIGGER charity_donations_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON charity_donations
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

CREATE TABLE charity_donation_lines (
    id           bigserial PRIMARY KEY,
    donation_id  bigint NOT NULL REFERENCES charity_donations(id),
    item_id      bigint NOT NULL REFERENCES items(id),
    lot_id       bigint NOT NULL REFERENCES lots(id),
    qty          bigint NOT NULL CHECK (qty > 0),
    movement_id  bigint NOT NULL REFERENCES stock_movements(id)
);
CREATE INDEX charity_donation_lines_donation ON charity_donation_lines (donation_id);
CREATE TRIGGER charity_donation_lines_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON charity_donation_lines
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- ---------------------------------------------------------------- distributions
CREATE TABLE charity_distributions (
    id              bigserial PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites(id),
    household_id    bigint NOT NULL REFERENCES charity_households(id),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    distributed_by  bigint REFERENCES users(id),
    distributed_at  timestamptz NOT NULL DEFAULT now(),
    request_id      text NOT NULL DEFAULT ''
);
CREATE INDEX charity_distributions_site ON charity_distributions (site_id, id);
CREATE INDEX charity_distributions_household ON charity_distributions (household_id, id);
CREATE TRIGGER charity_distributions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON charity_distributions
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

CREATE TABLE charity_distribution_lines (
    id               bigserial PRIMARY KEY,
    distribution_id  bigint NOT NULL REFERENCES charity_distributions(id),
    item_id          bigint NOT NULL REFERENCES items(id),
    lot_id           bigint NOT NULL REFERENCES lots(id),
    qty              bigint NOT NULL CHECK (qty > 0),
    movement_id      bigint NOT NULL REFERENCES stock_movements(id)
);
CREATE INDEX charity_distribution_lines_distribution ON charity_distribution_lines (distribution_id);
CREATE TRIGGER charity_distribution_lines_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON charity_distribution_lines
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- The charity station p_site: GS404 unless it is one; GS409 when inactive.
CREATE FUNCTION charity_station(p_site bigint, OUT code text, OUT district_id bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s record;
BEGIN
    SELECT x.code, x.kind, x.active, ou.path INTO s
      FROM sites x JOIN org_units ou ON ou.id = x.org_unit_id WHERE x.id = p_site;
    IF NOT FOUND OR s.kind <> 'charity_station' THEN
        PERFORM stock_fail('GS404', 'charity station %s not found', coalesce(s.code, p_site::text));
    END IF;
    IF NOT s.active THEN
        PERFORM stock_fail('GS409', 'charity station %s is inactive', s.code);
    END IF;
    code := s.code;
    district_id := ltree2text(subpath(s.path, 0, 1))::bigint;
END $$;

-- Records a donation at station p_site: p_qtys[i] of item p_items[i] as lot p_lots[i]
-- ('' → "<receipt number>-<i>") expiring p_expires[i], donation_in movements referring to
-- the donation. Returns the donation id; its receipt number is "<station>-<year>-<n>",
-- numbered without gaps per station and year.
CREATE FUNCTION charity_record_donation(
    p_site bigint, p_donor text, p_contact text, p_anonymous boolean, p_items bigint[],
    p_qtys bigint[], p_lots text[], p_expires date[], p_actor bigint DEFAULT NULL,
    p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    st record;
    n int := coalesce(array_length(p_items, 1), 0);
    k int;
    yr int := extract(year FROM current_date)::int;
    seq bigint;
    receipt text;
    did bigint;
    lot text;
    rcv record;
BEGIN
    st := charity_station(p_site);
    IF n = 0 THEN
        PERFORM stock_fail('GS400', 'items: at least one is required');
    END IF;
    IF coalesce(array_length(p_qtys, 1), 0) <> n OR coalesce(array_length(p_lots, 1), 0) <> n
       OR coalesce(array_length(p_expires, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'items: quantities, lots and expiry dates do not match the items');
    END IF;
    INSERT INTO charity_receipt_counters AS c (site_id, year, last) VALUES (p_site, yr, 1)
    ON CONFLICT (site_id, year) DO UPDATE SET last = c.last + 1
    RETURNING c.last INTO seq;
    receipt := st.code || '-' || yr || '-' || lpad(seq::text, 6, '0');
    INSERT INTO charity_donations (receipt_number, site_id, donor_name, donor_contact, anonymous, note,
                                   received_by, request_id)
    VALUES (receipt, p_site, p_donor, coalesce(p_contact, ''), coalesce(p_anonymous, false),
            coalesce(p_note, ''), p_actor, coalesce(p_request_id, ''))
    RETURNING id INTO did;
    FOR k IN 1 .. n LOOP
        IF p_qtys[k] IS NULL OR p_qtys[k] <= 0 THEN
            PERFORM stock_fail('GS400', 'items[%s].qty: must be positive, got %s', (k - 1)::text,
                               coalesce(p_qtys[k]::text, 'nothing'));
        END IF;
        lot := coalesce(nullif(p_lots[k], ''), receipt || '-' || k);
        SELECT * INTO rcv FROM stock_receive(p_site, p_items[k], p_qtys[k], lot, p_expires[k], 'donation',
                                             'donation_in', '', 'donation', did, p_actor, p_request_id,
                                             p_note);
        INSERT INTO charity_donation_lines (donation_id, item_id, lot_id, qty, movement_id)
        VALUES (did, p_items[k], rcv.lot_id, p_qtys[k], rcv.movement_id);
    END LOOP;
    RETURN did;
END $$;

-- Hands p_qtys[i] of item p_items[i] (from lot p_lots[i], or FEFO when '') at station
-- p_site to household p_household of grid p_grid, counting each item against its quotas
-- in the station's district first. Over a quota → GS409 naming the item; nothing moves.
-- Returns the distribution id.
CREATE FUNCTION charity_distribute(
    p_site bigint, p_household text, p_grid bigint, p_items bigint[], p_qtys bigint[],
    p_lots text[], p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    st record;
    g record;
    hid bigint;
    did bigint;
    n int := coalesce(array_length(p_items, 1), 0);
    k int;
    q record;
    pstart date;
    u bigint;
    p record;
    item_code text;
BEGIN
    st := charity_station(p_site);
    IF n = 0 THEN
        PERFORM stock_fail('GS400', 'items: at least one is required');
    END IF;
    IF coalesce(array_length(p_qtys, 1), 0) <> n OR coalesce(array_length(p_lots, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'items: quantities and lots do not match the items');
    END IF;
    SELECT code, kind, path INTO g FROM org_units WHERE id = p_grid;
    IF NOT FOUND OR ltree2text(subpath(g.path, 0, 1))::bigint <> st.district_id THEN
        PERFORM stock_fail('GS404', 'grid_id: grid %s not found', p_grid::text);
    END IF;
    IF g.kind <> 'grid' THEN
        PERFORM stock_fail('GS400', 'grid_id: %s is a %s, not a grid', g.code, g.kind);
    END IF;
    INSERT INTO charity_households (grid_id, code) VALUES (p_grid, p_household)
    ON CONFLICT (grid_id, code) DO NOTHING;
    SELECT id INTO hid FROM charity_households WHERE grid_id = p_grid AND code = p_household;
    INSERT INTO charity_distributions (site_id, household_id, note, distributed_by, request_id)
    VALUES (p_site, hid, coalesce(p_note, ''), p_actor, coalesce(p_request_id, ''))
    RETURNING id INTO did;
    FOR k IN SELECT x FROM generate_series(1, n) x ORDER BY p_items[x], x LOOP
        IF p_qtys[k] IS NULL OR p_qtys[k] <= 0 THEN
            PERFORM stock_fail('GS400', 'items[%s].qty: must be positive, got %s', (k - 1)::text,
                               coalesce(p_qtys[k]::text, 'nothing'));
        END IF;
        FOR q IN SELECT * FROM charity_quotas
                  WHERE org_unit_id = st.district_id AND item_id = p_items[k] ORDER BY period LOOP
            pstart := charity_period_start(q.period, current_date);
            INSERT INTO charity_quota_usage (household_id, item_id, period, period_start)
            VALUES (hid, p_items[k], q.period, pstart)
            ON CONFLICT DO NOTHING;
            UPDATE charity_quota_usage SET used = used + p_qtys[k], updated_at = now()
             WHERE household_id = hid AND item_id = p_items[k] AND period = q.period
               AND period_start = pstart AND used + p_qtys[k] <= q.qty
            RETURNING used INTO u;
            IF NOT FOUND THEN
                SELECT used INTO u FROM charity_quota_usage
                 WHERE household_id = hid AND item_id = p_items[k] AND period = q.period AND period_start = pstart;
                SELECT code INTO item_code FROM items WHERE id = p_items[k];
                PERFORM stock_fail('GS409', 'items[%s]: quota for %s exceeded: household %s of %s has had %s of %s this %s, %s more is too many',
                                   (k - 1)::text, item_code, p_household, g.code, u::text, q.qty::text,
                                   q.period, p_qtys[k]::text);
            END IF;
        END LOOP;
        FOR p IN SELECT * FROM stock_pick(p_site, p_items[k], p_qtys[k], nullif(p_lots[k], ''),
                                          'distribution_out', false, '', 'distribution', did, p_actor,
                                          p_request_id, p_note)
        LOOP
            INSERT INTO charity_distribution_lines (distribution_id, item_id, lot_id, qty, movement_id)
            VALUES (did, p_items[k], p.lot_id, p.qty, p.movement_id);
        END LOOP;
    END LOOP;
    RETURN did;
END $$;
