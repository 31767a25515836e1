-- 016_stock_speed.sql — the stock write path without work that is planned again on every
-- call (issue 17). Same arguments, results and errors as before.
--   * stock_ledger_insert (015) was an SQL function: PostgreSQL plans the statement of a
--     non-inlined SQL function on every call. As PL/pgSQL its INSERT is planned once per
--     session.
--   * stock_issue: the same for its wrapper of stock_pick (below).

CREATE OR REPLACE FUNCTION stock_ledger_insert(
    p_kind text, p_site bigint, p_item bigint, p_lot bigint, p_qty bigint, p_reserved_delta bigint,
    p_reason text, p_ref_type text, p_ref_id bigint, p_actor bigint, p_request_id text,
    p_note text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    mid bigint;
BEGIN
    INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, reserved_delta, reason,
                                 ref_type, ref_id, actor_id, request_id, note)
    VALUES (p_kind, p_site, p_item, p_lot, p_qty, p_reserved_delta, coalesce(p_reason, ''),
            coalesce(p_ref_type, ''), p_ref_id, p_actor, coalesce(p_request_id, ''),
            coalesce(p_note, ''))
    RETURNING id INTO mid;
    RETURN mid;
END $$;

-- stock_issue (010) was an SQL wrapper of stock_pick, not inlined where it is called
-- (PL/pgSQL, a parameterised query), so planned on every call.
CREATE OR REPLACE FUNCTION stock_issue(
    p_site bigint, p_item bigint, p_qty bigint, p_lot_code text DEFAULT NULL,
    p_kind text DEFAULT 'issue', p_reason text DEFAULT '', p_ref_type text DEFAULT '',
    p_ref_id bigint DEFAULT NULL, p_actor bigint DEFAULT NULL, p_request_id text DEFAULT '',
    p_note text DEFAULT '')
RETURNS TABLE (lot_id bigint, lot_code text, expires_on date, qty bigint, remaining bigint,
               movement_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT * FROM stock_pick(p_site, p_item, p_qty, p_lot_code, p_kind, false, p_reason,
                                          p_ref_type, p_ref_id, p_actor, p_request_id, p_note);
END $$;
