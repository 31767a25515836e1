-- 013_import_expiry_scan.sql — the batch functions behind ImportService (catalog items and
-- supplier prices, all rows or none, errors naming the CSV line and row index), and the
-- periodic near-expiry scan: lots that came within 30 days of expiry since the last scan
-- are announced once each on gs_stock_alerts (010_stock.sql's stock_alert payload).

-- ---------------------------------------------------------------- import items
-- Creates or updates (by code) one item per row. p_lines are the CSV lines for messages.
-- Returns how many were created, updated and already as given.
CREATE FUNCTION import_items(
    p_lines int[], p_codes text[], p_names text[], p_categories text[], p_units text[],
    p_shelf int[], p_active boolean[])
RETURNS TABLE (created int, updated int, unchanged int) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n int := coalesce(array_length(p_codes, 1), 0);
    d record;
    c int;
    u int;
BEGIN
    IF n = 0 THEN
        PERFORM stock_fail('GS400', 'rows: at least one is required');
    END IF;
    IF coalesce(array_length(p_lines, 1), 0) <> n OR coalesce(array_length(p_names, 1), 0) <> n
       OR coalesce(array_length(p_categories, 1), 0) <> n OR coalesce(array_length(p_units, 1), 0) <> n
       OR coalesce(array_length(p_shelf, 1), 0) <> n OR coalesce(array_length(p_active, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'rows: the columns do not have the same length');
    END IF;
    SELECT t.code, min(t.k) AS first_k, max(t.k) AS dup_k INTO d
      FROM unnest(p_codes) WITH ORDINALITY AS t(code, k)
     GROUP BY t.code HAVING count(*) > 1 ORDER BY max(t.k) LIMIT 1;
    IF FOUND THEN
        PERFORM stock_fail('GS400', 'line %s: rows[%s].code: %s is also on line %s', p_lines[d.dup_k]::text,
                           (d.dup_k - 1)::text, d.code, p_lines[d.first_k]::text);
    END IF;
    WITH src AS (
        SELECT * FROM unnest(p_codes, p_names, p_categories, p_units, p_shelf, p_active)
                 AS t(code, name, category, unit, shelf, active)
    ), up AS (
        INSERT INTO items AS i (code, name, category, unit, shelf_life_days, active)
        SELECT code, name, category, unit, nullif(shelf, 0), active FROM src ORDER BY code
        ON CONFLICT (code) DO UPDATE
            SET name = EXCLUDED.name, category = EXCLUDED.category, unit = EXCLUDED.unit,
                shelf_life_days = EXCLUDED.shelf_life_days, active = EXCLUDED.active, updated_at = now()
            WHERE (i.name, i.category, i.unit, i.shelf_life_days, i.active)
                  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.category, EXCLUDED.unit,
                                    EXCLUDED.shelf_life_days, EXCLUDED.active)
        RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) INTO c, u FROM up;
    created := c;
    updated := u;
    unchanged := n - c - u;
    RETURN NEXT;
END $$;

-- ---------------------------------------------------------------- import prices
-- Sets one price per row through proc_set_price (011_procurement.sql); suppliers must be
-- supplier markets under p_scope. Returns how many were created and how many replaced.
CREATE FUNCTION import_prices(
    p_scope ltree, p_lines int[], p_items text[], p_suppliers text[], p_prices bigint[],
    p_leads int[], p_from date[], p_to date[], p_actor bigint DEFAULT NULL)
RETURNS TABLE (created int, updated int) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n int := coalesce(array_length(p_items, 1), 0);
    k int;
    lbl text;
    iid bigint;
    sid bigint;
    r record;
    c int := 0;
    u int := 0;
BEGIN
    IF n = 0 THEN
        PERFORM stock_fail('GS400', 'rows: at least one is required');
    END IF;
    IF coalesce(array_length(p_lines, 1), 0) <> n OR coalesce(array_length(p_suppliers, 1), 0) <> n
       OR coalesce(array_length(p_prices, 1), 0) <> n OR coalesce(array_length(p_leads, 1), 0) <> n
       OR coalesce(array_length(p_from, 1), 0) <> n OR coalesce(array_length(p_to, 1), 0) <> n THEN
        PERFORM stock_fail('GS400', 'rows: the columns do not have the same length');
    END IF;
    FOR k IN 1 .. n LOOP
        lbl := format('line %s: rows[%s].', p_lines[k], k - 1);
        SELECT id INTO iid FROM items WHERE code = p_items[k];
        IF NOT FOUND THEN
            PERFORM stock_fail('GS404', '%sitem_code: item %s not found', lbl, left(p_items[k], 64));
        END IF;
        SELECT s.id INTO sid FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id
         WHERE s.code = p_suppliers[k] AND s.kind = 'supplier_market' AND ou.path <@ p_scope;
        IF NOT FOUND THEN
            PERFORM stock_fail('GS404', '%ssupplier_site_code: supplier market %s not found', lbl,
                               left(p_suppliers[k], 64));
        END IF;
        SELECT * INTO r FROM proc_set_price(iid, sid, p_prices[k], p_leads[k], p_from[k], p_to[k], p_actor, lbl);
        IF r.replaced THEN
            u := u + 1;
        ELSE
            c := c + 1;
        END IF;
    END LOOP;
    created := c;
    updated := u;
    RETURN NEXT;
END $$;

-- ---------------------------------------------------------------- near-expiry scan
-- Lots announced by the scan, so each is announced once however many servers scan.
CREATE TABLE stock_expiry_alerted (
    lot_id      bigint PRIMARY KEY REFERENCES lots(id),
    expires_on  date NOT NULL,
    alerted_at  timestamptz NOT NULL DEFAULT now()
);

-- Announces (near_expiry alerts) every lot with stock at a stock-keeping site that now
-- expires within p_days, had not been announced yet, and was not already that close to
-- expiry when first received (stock_receive announced those). Several servers may run it
-- at once: the INSERT ... ON CONFLICT DO NOTHING claims each lot for one of them. Returns
-- how many lots were announced.
CREATE FUNCTION stock_scan_near_expiry(p_days int DEFAULT 30) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    l record;
    n int := 0;
BEGIN
    FOR l IN
        WITH due AS (
            SELECT x.id, x.site_id, x.item_id, x.lot_code, x.expires_on, x.on_hand
              FROM lots x JOIN sites s ON s.id = x.site_id
             WHERE x.on_hand > 0 AND x.expires_on IS NOT NULL AND NOT stock_expired(x.expires_on)
               AND x.expires_on <= current_date + p_days
               AND x.expires_on > x.received_at::date + 30
               AND s.kind <> 'supplier_market'
               AND NOT EXISTS (SELECT 1 FROM stock_expiry_alerted a WHERE a.lot_id = x.id)
        ), claimed AS (
            INSERT INTO stock_expiry_alerted (lot_id, expires_on)
            SELECT id, expires_on FROM due ORDER BY id
            ON CONFLICT (lot_id) DO NOTHING
            RETURNING lot_id
        )
        SELECT due.* FROM due JOIN claimed ON claimed.lot_id = due.id ORDER BY due.id
    LOOP
        PERFORM stock_alert('near_expiry', l.site_id, l.item_id, l.id, l.on_hand,
                            format('lot %s expires on %s (in %s days): %s units on hand', l.lot_code,
                                   l.expires_on, l.expires_on - current_date, l.on_hand));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
