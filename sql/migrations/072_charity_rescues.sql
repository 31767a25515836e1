-- 072_charity_rescues.sql — near-expiry reserves turned into help (issue 19). Accepting a
-- charity transfer proposal dispatches the lot from its reserve point to a charity station
-- in one call (stock_transfer_dispatch, ref_type 'charity_rescue') and records the rescue;
-- the rescue report compares what was rescued with what still expired.

CREATE TABLE charity_rescues (
    id           bigserial PRIMARY KEY,
    lot_id       bigint NOT NULL REFERENCES lots(id),
    transfer_id  bigint NOT NULL UNIQUE REFERENCES stock_transfers(id),
    to_site_id   bigint NOT NULL REFERENCES sites(id),
    qty          bigint NOT NULL CHECK (qty > 0),
    expires_on   date NOT NULL,
    accepted_by  bigint REFERENCES users(id),
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    request_id   text NOT NULL DEFAULT ''
);
CREATE INDEX charity_rescues_lot ON charity_rescues (lot_id);
CREATE INDEX charity_rescues_at ON charity_rescues (accepted_at);
CREATE TRIGGER charity_rescues_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON charity_rescues
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();
SELECT audit_capture_attach('charity_rescues');

-- Accepts a proposal: p_qty (0: all that is available) of lot p_lot, at a reserve point in
-- p_scope and expiring within p_days (today included), goes to the active charity station
-- p_to in p_scope. Returns the rescue id; its transfer is dispatched (the station receives
-- it as any transfer).
CREATE FUNCTION charity_rescue_accept(p_scope ltree, p_lot bigint, p_to bigint, p_qty bigint, p_days integer,
    p_actor bigint, p_request_id text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    l record;
    dest record;
    q bigint;
    t bigint;
    rid bigint;
BEGIN
    SELECT x.id, x.site_id, x.item_id, x.lot_code, x.expires_on, x.on_hand - x.reserved AS available,
           s.kind, s.code AS site_code, i.code AS item_code INTO l
      FROM lots x JOIN sites s ON s.id = x.site_id JOIN org_units ou ON ou.id = s.org_unit_id
      JOIN items i ON i.id = x.item_id
     WHERE x.id = p_lot AND ou.path <@ p_scope FOR UPDATE OF x;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'lot %s not found', p_lot::text);
    END IF;
    IF l.kind <> 'reserve_point' THEN
        PERFORM stock_fail('GS400', 'lot_id: lot %s is at %s, not at a reserve point', l.lot_code, l.site_code);
    END IF;
    IF l.expires_on IS NULL OR l.expires_on < current_date OR l.expires_on > current_date + p_days THEN
        PERFORM stock_fail('GS409', 'lot %s of %s expires on %s: not within the %s days of a charity proposal',
                           l.lot_code, l.item_code, coalesce(l.expires_on::text, 'never'), p_days::text);
    END IF;
    SELECT s.id, s.code, s.kind, s.active INTO dest FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id
     WHERE s.id = p_to AND ou.path <@ p_scope;
    IF NOT FOUND OR dest.kind <> 'charity_station' THEN
        PERFORM stock_fail('GS404', 'to_site_id: charity station %s not found', p_to::text);
    END IF;
    q := CASE WHEN coalesce(p_qty, 0) = 0 THEN l.available ELSE p_qty END;
    IF q <= 0 THEN
        PERFORM stock_fail('GS409', 'not enough %s in lot %s at %s: %s available, %s requested', l.item_code,
                           l.lot_code, l.site_code, l.available::text, q::text);
    END IF;
    t := stock_transfer_dispatch(l.site_id, p_to, ARRAY[l.item_id], ARRAY[q], ARRAY[l.lot_code],
                                 'near-expiry reserve to charity station', 'charity_rescue', NULL, p_actor,
                                 p_request_id);
    INSERT INTO charity_rescues (lot_id, transfer_id, to_site_id, qty, expires_on, accepted_by, request_id)
    VALUES (p_lot, t, p_to, q, l.expires_on, p_actor, coalesce(p_request_id, ''))
    RETURNING id INTO rid;
    RETURN rid;
END $$;

INSERT INTO error_reasons (fmt, reason, arg_keys) VALUES
    ('lot %s of %s expires on %s: not within the %s days of a charity proposal', 'WRONG_STATE',
     '{lot,item,expires_on,days}');

-- Proposals on the stock alert stream: when the near-expiry scan announces a lot of a
-- reserve point that has unreserved stock, a "charity_proposal" alert follows, naming the
-- nearest active charity station of the district (one that stocks the item first), as
-- StockService.CharityTransferProposals would propose it.
CREATE FUNCTION charity_proposal_alert(p_lot bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    SELECT json_build_object(
               'kind', 'charity_proposal',
               'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'site_id', s.id, 'site_code', s.code, 'org_unit_path', ou.path::text,
               'item_id', i.id, 'item_code', i.code, 'item_name', i.name,
               'available', l.on_hand - l.reserved, 'lot_id', l.id, 'lot_code', l.lot_code,
               'expires_on', to_char(l.expires_on, 'YYYY-MM-DD'), 'qty', l.on_hand - l.reserved,
               'to_site_id', cs.id, 'to_site_code', cs.code,
               'message', left(format('lot %s of %s expires on %s: %s units could go to charity station %s',
                                      l.lot_code, i.code, l.expires_on, l.on_hand - l.reserved, cs.code), 500))::text
      INTO payload
      FROM lots l JOIN sites s ON s.id = l.site_id JOIN org_units ou ON ou.id = s.org_unit_id
      JOIN items i ON i.id = l.item_id
      CROSS JOIN LATERAL (
          SELECT c2.id, c2.code FROM sites c2 JOIN org_units cou ON cou.id = c2.org_unit_id
            LEFT JOIN site_items csi ON csi.site_id = c2.id AND csi.item_id = l.item_id
           WHERE c2.kind = 'charity_station' AND c2.active AND cou.path <@ subpath(ou.path, 0, 1)
           ORDER BY csi.item_id IS NULL, earth_distance(ll_to_earth(s.lat, s.lon), ll_to_earth(c2.lat, c2.lon)), c2.id
           LIMIT 1) cs
     WHERE l.id = p_lot AND s.kind = 'reserve_point' AND l.on_hand > l.reserved;
    IF payload IS NOT NULL THEN
        PERFORM pg_notify('gs_stock_alerts', payload);
    END IF;
END $$;

-- 013's scan, each announced lot followed by its charity proposal (when it has one).
CREATE OR REPLACE FUNCTION stock_scan_near_expiry(p_days int DEFAULT 30) RETURNS int LANGUAGE plpgsql AS $$
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
        PERFORM charity_proposal_alert(l.id);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
