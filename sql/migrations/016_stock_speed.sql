-- 016_stock_speed.sql — the stock write path without work that is planned again on every
-- call (issue 17). Same arguments, results and errors as before.
--   * stock_ledger_insert (015) was an SQL function: PostgreSQL plans the statement of a
--     non-inlined SQL function on every call. As PL/pgSQL its INSERT is planned once per
--     session.

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
