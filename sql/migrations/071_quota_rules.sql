-- 071_quota_rules.sql — quotas by need across every station, for registered households,
-- and the walk-in rule (issue 19).
--
-- A quota rule (per district) covers one item or one category of items, per week or
-- month, per household or per member, with a multiplier in percent per need flag: a
-- household's quota is qty × (members when per member, else 1) × the highest multiplier
-- among its needs (100 without any) / 100, rounded down. Rules are counted per registered
-- household in charity_rule_usage with 012's pattern: the usage row is created if missing
-- and raised by one conditional UPDATE (used + qty <= quota), so distributions at any
-- stations on any servers queue on that row and the second re-checks against the first's
-- committed total. A registered household distributes under one charity_households row
-- ("REG-<id>", register_id) whatever grid it lives in now, so moving does not reset it.
--
-- Walk-ins (a household code not in the register): once the district sets its walk-in
-- rule, such a household is served at most `serves` times in all (counted the same way
-- in charity_households.walkin_served), and each of those distributions is flagged
-- walk_in, for registration. Without a rule, free-text households are served as before.

ALTER TABLE charity_households
    ADD COLUMN register_id bigint REFERENCES households(id),
    ADD COLUMN walkin_served integer NOT NULL DEFAULT 0 CHECK (walkin_served >= 0),
    ADD CONSTRAINT charity_households_register_key UNIQUE (register_id),
    -- "REG-" codes are the register's: exactly the households linked to it
    ADD CONSTRAINT charity_households_register_code
        CHECK ((register_id IS NOT NULL) = (upper(code) LIKE 'REG-%')
               AND (register_id IS NULL OR code = 'REG-' || register_id));

ALTER TABLE charity_distributions ADD COLUMN walk_in boolean NOT NULL DEFAULT false;

CREATE TABLE charity_quota_rules (
    id                  bigserial PRIMARY KEY,
    org_unit_id         bigint NOT NULL REFERENCES org_units(id), -- the district
    item_id             bigint REFERENCES items(id),
    category            text,
    period              text NOT NULL CHECK (period IN ('week', 'month')),
    basis               text NOT NULL CHECK (basis IN ('household', 'member')),
    qty                 bigint NOT NULL CHECK (qty > 0 AND qty <= 1000000),
    pct_elderly_alone   integer NOT NULL DEFAULT 100 CHECK (pct_elderly_alone BETWEEN 100 AND 1000),
    pct_disabled_member integer NOT NULL DEFAULT 100 CHECK (pct_disabled_member BETWEEN 100 AND 1000),
    pct_low_income      integer NOT NULL DEFAULT 100 CHECK (pct_low_income BETWEEN 100 AND 1000),
    pct_infant          integer NOT NULL DEFAULT 100 CHECK (pct_infant BETWEEN 100 AND 1000),
    pct_chronic_illness integer NOT NULL DEFAULT 100 CHECK (pct_chronic_illness BETWEEN 100 AND 1000),
    updated_by          bigint REFERENCES users(id),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((item_id IS NULL) <> (category IS NULL)),
    CHECK (category IS NULL OR category IN ('water', 'food', 'medicine', 'hygiene', 'protection', 'shelter',
                                            'tools', 'power', 'other'))
);
CREATE UNIQUE INDEX charity_quota_rules_key
    ON charity_quota_rules (org_unit_id, coalesce(item_id, 0), coalesce(category, ''), period);
SELECT audit_capture_attach('charity_quota_rules');

CREATE TABLE charity_rule_usage (
    household_id  bigint NOT NULL REFERENCES charity_households(id),
    rule_id       bigint NOT NULL REFERENCES charity_quota_rules(id) ON DELETE CASCADE,
    period_start  date NOT NULL,
    used          bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (household_id, rule_id, period_start)
);

CREATE TABLE charity_walkin_rules (
    org_unit_id  bigint PRIMARY KEY REFERENCES org_units(id), -- the district
    serves       integer NOT NULL CHECK (serves BETWEEN 0 AND 100),
    updated_by   bigint REFERENCES users(id),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
SELECT audit_capture_attach('charity_walkin_rules', ARRAY['org_unit_id']);

-- A household's quota under rule r (see the top of this file).
CREATE FUNCTION charity_rule_quota(r charity_quota_rules, h households) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT r.qty * CASE r.basis WHEN 'member' THEN h.members ELSE 1 END
           * greatest(100,
                      CASE WHEN h.elderly_alone THEN r.pct_elderly_alone ELSE 100 END,
                      CASE WHEN h.disabled_member THEN r.pct_disabled_member ELSE 100 END,
                      CASE WHEN h.low_income THEN r.pct_low_income ELSE 100 END,
                      CASE WHEN h.infant THEN r.pct_infant ELSE 100 END,
                      CASE WHEN h.chronic_illness THEN r.pct_chronic_illness ELSE 100 END) / 100
$$;

-- 012's distribution, now over a resolved charity_households row p_hid (p_label names the
-- household in messages): item quotas for everyone, quota rules for registered
-- households, the walk-in rule for the others.
CREATE FUNCTION charity_distribute_to(
    p_site bigint, p_hid bigint, p_label text, p_items bigint[], p_qtys bigint[], p_lots text[],
    p_actor bigint, p_request_id text, p_note text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    st record;
    ch charity_households;
    hh households;
    g record;
    did bigint;
    n int := coalesce(array_length(p_items, 1), 0);
    k int;
    q record;
    rl charity_quota_rules;
    pstart date;
    lim bigint;
    u bigint;
    p record;
    item record;
    walkin int;
BEGIN
    st := charity_station(p_site);
    IF n = 0 THEN
        PERFORM stock_fail('GS400', 'items: at least one is required');
    END IF;
    IF coalesce(array_length(p_qtys, 1), 0) <> n OR coalesce(array_length(p_lots, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'items: quantities and lots do not match the items');
    END IF;
    SELECT * INTO ch FROM charity_households WHERE id = p_hid;
    SELECT code INTO g FROM org_units WHERE id = ch.grid_id;
    IF ch.register_id IS NOT NULL THEN
        SELECT * INTO hh FROM households WHERE id = ch.register_id;
    ELSE
        SELECT serves INTO walkin FROM charity_walkin_rules WHERE org_unit_id = st.district_id;
        IF FOUND THEN
            UPDATE charity_households SET walkin_served = walkin_served + 1
             WHERE id = p_hid AND walkin_served < walkin;
            IF NOT FOUND THEN
                PERFORM stock_fail('GS409', 'household %s of %s is not in the register and has had the %s walk-in distribution(s) the district allows: register it first',
                                   p_label, g.code, walkin::text);
            END IF;
        END IF;
    END IF;
    INSERT INTO charity_distributions (site_id, household_id, note, distributed_by, request_id, walk_in)
    VALUES (p_site, p_hid, coalesce(p_note, ''), p_actor, coalesce(p_request_id, ''), walkin IS NOT NULL)
    RETURNING id INTO did;
    FOR k IN SELECT x FROM generate_series(1, n) x ORDER BY p_items[x], x LOOP
        IF p_qtys[k] IS NULL OR p_qtys[k] <= 0 THEN
            PERFORM stock_fail('GS400', 'items[%s].qty: must be positive, got %s', (k - 1)::text,
                               coalesce(p_qtys[k]::text, 'nothing'));
        END IF;
        SELECT id, code, category INTO item FROM items WHERE id = p_items[k];
        FOR q IN SELECT * FROM charity_quotas
                  WHERE org_unit_id = st.district_id AND item_id = p_items[k] ORDER BY period LOOP
            pstart := charity_period_start(q.period, current_date);
            INSERT INTO charity_quota_usage (household_id, item_id, period, period_start)
            VALUES (p_hid, p_items[k], q.period, pstart)
            ON CONFLICT DO NOTHING;
            UPDATE charity_quota_usage SET used = used + p_qtys[k], updated_at = now()
             WHERE household_id = p_hid AND item_id = p_items[k] AND period = q.period
               AND period_start = pstart AND used + p_qtys[k] <= q.qty
            RETURNING used INTO u;
            IF NOT FOUND THEN
                SELECT used INTO u FROM charity_quota_usage
                 WHERE household_id = p_hid AND item_id = p_items[k] AND period = q.period AND period_start = pstart;
                PERFORM stock_fail('GS409', 'items[%s]: quota for %s exceeded: household %s of %s has had %s of %s this %s, %s more is too many',
                                   (k - 1)::text, item.code, p_label, g.code, u::text, q.qty::text,
                                   q.period, p_qtys[k]::text);
            END IF;
        END LOOP;
        IF hh.id IS NOT NULL THEN
            -- rules of the item itself, then of its category, in id order (one lock order)
            FOR rl IN SELECT * FROM charity_quota_rules
                       WHERE org_unit_id = st.district_id
                         AND (item_id = p_items[k] OR category = item.category) ORDER BY id LOOP
                pstart := charity_period_start(rl.period, current_date);
                lim := charity_rule_quota(rl, hh);
                INSERT INTO charity_rule_usage (household_id, rule_id, period_start)
                VALUES (p_hid, rl.id, pstart)
                ON CONFLICT DO NOTHING;
                UPDATE charity_rule_usage SET used = used + p_qtys[k], updated_at = now()
                 WHERE household_id = p_hid AND rule_id = rl.id AND period_start = pstart
                   AND used + p_qtys[k] <= lim
                RETURNING used INTO u;
                IF NOT FOUND THEN
                    SELECT used INTO u FROM charity_rule_usage
                     WHERE household_id = p_hid AND rule_id = rl.id AND period_start = pstart;
                    PERFORM stock_fail('GS409', 'items[%s]: quota for %s exceeded: household %s of %s has had %s of %s this %s, %s more is too many',
                                       (k - 1)::text, coalesce(rl.category, item.code), p_label, g.code,
                                       u::text, lim::text, rl.period, p_qtys[k]::text);
                END IF;
            END LOOP;
        END IF;
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

-- 012's signature (free-text households of a grid): "REG-" codes are the register's.
CREATE OR REPLACE FUNCTION charity_distribute(
    p_site bigint, p_household text, p_grid bigint, p_items bigint[], p_qtys bigint[],
    p_lots text[], p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    st record;
    g record;
    hid bigint;
BEGIN
    st := charity_station(p_site);
    SELECT code, kind, path INTO g FROM org_units WHERE id = p_grid;
    IF NOT FOUND OR ltree2text(subpath(g.path, 0, 1))::bigint <> st.district_id THEN
        PERFORM stock_fail('GS404', 'grid_id: grid %s not found', p_grid::text);
    END IF;
    IF g.kind <> 'grid' THEN
        PERFORM stock_fail('GS400', 'grid_id: %s is a %s, not a grid', g.code, g.kind);
    END IF;
    IF upper(p_household) LIKE 'REG-%' THEN
        PERFORM stock_fail('GS400', 'household: "REG-" names registered households: give household_id');
    END IF;
    INSERT INTO charity_households (grid_id, code) VALUES (p_grid, p_household)
    ON CONFLICT (grid_id, code) DO NOTHING;
    SELECT id INTO hid FROM charity_households WHERE grid_id = p_grid AND code = p_household;
    RETURN charity_distribute_to(p_site, hid, p_household, p_items, p_qtys, p_lots, p_actor, p_request_id,
                                 p_note);
END $$;

-- Distributes to registered household p_register (anywhere in the station's district):
-- its charity_households row follows it to its current grid.
CREATE FUNCTION charity_distribute_household(
    p_site bigint, p_register bigint, p_items bigint[], p_qtys bigint[], p_lots text[],
    p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '', p_note text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    st record;
    h record;
    hid bigint;
BEGIN
    st := charity_station(p_site);
    SELECT x.id, x.grid_id INTO h FROM households x JOIN org_units ou ON ou.id = x.grid_id
     WHERE x.id = p_register AND ltree2text(subpath(ou.path, 0, 1))::bigint = st.district_id;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'household_id: household %s not found', p_register::text);
    END IF;
    INSERT INTO charity_households (grid_id, code, register_id) VALUES (h.grid_id, 'REG-' || h.id, h.id)
    ON CONFLICT (register_id) DO UPDATE SET grid_id = EXCLUDED.grid_id
    RETURNING id INTO hid;
    RETURN charity_distribute_to(p_site, hid, 'REG-' || h.id, p_items, p_qtys, p_lots, p_actor, p_request_id,
                                 p_note);
END $$;

INSERT INTO error_reasons (fmt, reason, arg_keys) VALUES
    ('household %s of %s is not in the register and has had the %s walk-in distribution(s) the district allows: register it first',
     'WALK_IN_SERVED', '{household,grid,serves}');
