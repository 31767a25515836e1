-- 015_stock_ledger_insert.sql — one ledger insert for stock movements.
-- 010_stock.sql wrote the INSERT INTO stock_movements seven times, once in each posting
-- function. stock_ledger_insert is now the one place a movement row is written; the
-- posting functions below are those of 010_stock.sql, unchanged but for calling it
-- (same arguments, same results, same errors). A NULL reason, ref_type, request_id or
-- note is stored as '' as before.

CREATE OR REPLACE FUNCTION stock_ledger_insert(
    p_kind text, p_site bigint, p_item bigint, p_lot bigint, p_qty bigint, p_reserved_delta bigint,
    p_reason text, p_ref_type text, p_ref_id bigint, p_actor bigint, p_request_id text,
    p_note text)
RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, reserved_delta, reason,
                                 ref_type, ref_id, actor_id, request_id, note)
    VALUES (p_kind, p_site, p_item, p_lot, p_qty, p_reserved_delta, coalesce(p_reason, ''),
            coalesce(p_ref_type, ''), p_ref_id, p_actor, coalesce(p_request_id, ''),
            coalesce(p_note, ''))
    RETURNING id
$$;

-- stock_receive: as in 010_stock.sql, its movement rows through stock_ledger_insert.
CREATE OR REPLACE FUNCTION stock_receive(
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
    mid := stock_ledger_insert(p_kind, p_site, p_item, lid, p_qty, 0, p_reason, p_ref_type,
        p_ref_id, p_actor, p_request_id, p_note);
    IF p_expires IS NOT NULL AND p_expires <= current_date + 30 AND NOT stock_expired(p_expires) THEN
        PERFORM stock_alert('near_expiry', p_site, p_item, lid, p_qty,
                            format('lot %s received %s units expiring on %s', p_lot_code, p_qty, p_expires));
    END IF;
    lot_id := lid;
    on_hand := oh;
    movement_id := mid;
    RETURN NEXT;
END $$;

-- stock_pick: as in 010_stock.sql, its movement rows through stock_ledger_insert.
CREATE OR REPLACE FUNCTION stock_pick(
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
        mid := stock_ledger_insert(CASE WHEN p_reserve THEN 'reserve' ELSE p_kind END, p_site,
            p_item, l.id, CASE WHEN p_reserve THEN 0 ELSE -take END,
            CASE WHEN p_reserve THEN take ELSE 0 END, p_reason, p_ref_type, p_ref_id, p_actor,
            p_request_id, p_note);
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

-- stock_release: as in 010_stock.sql, its movement rows through stock_ledger_insert.
CREATE OR REPLACE FUNCTION stock_release(
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
    mid := stock_ledger_insert('release', l.site_id, l.item_id, p_lot, 0, -p_qty, p_reason,
        p_ref_type, p_ref_id, p_actor, p_request_id, p_note);
    RETURN mid;
END $$;

-- stock_issue_reserved: as in 010_stock.sql, its movement rows through stock_ledger_insert.
CREATE OR REPLACE FUNCTION stock_issue_reserved(
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
    mid := stock_ledger_insert(p_kind, l.site_id, l.item_id, p_lot, -p_qty, -p_qty, p_reason,
        p_ref_type, p_ref_id, p_actor, p_request_id, p_note);
    RETURN mid;
END $$;

-- stock_adjust: as in 010_stock.sql, its movement rows through stock_ledger_insert.
CREATE OR REPLACE FUNCTION stock_adjust(
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
    mid := stock_ledger_insert(p_kind, l.site_id, l.item_id, p_lot, p_qty, 0, p_reason, p_ref_type,
        p_ref_id, p_actor, p_request_id, p_note);
    IF p_qty < 0 THEN
        PERFORM stock_check_low(l.site_id, l.item_id, -p_qty);
    END IF;
    lot_id := p_lot;
    on_hand := l.on_hand;
    movement_id := mid;
    RETURN NEXT;
END $$;

-- stock_writeoff_expired: as in 010_stock.sql, its movement rows through stock_ledger_insert.
CREATE OR REPLACE FUNCTION stock_writeoff_expired(
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
        mid := stock_ledger_insert('expiry_writeoff', p_site, l.item_id, l.id,
            -(l.on_hand - l.reserved), 0, 'expired', '', NULL, p_actor, p_request_id, p_note);
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

-- stock_stocktake_submit: as in 010_stock.sql, its movement rows through stock_ledger_insert.
CREATE OR REPLACE FUNCTION stock_stocktake_submit(
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
            PERFORM stock_ledger_insert('stocktake_variance', l.site_id, l.item_id, cnt.lot_id, v,
                0, 'count_error', 'stocktake', p_stocktake, p_actor, p_request_id, '');
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
