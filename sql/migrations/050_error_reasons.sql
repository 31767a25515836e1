-- 050_error_reasons.sql — the specific reason (google.rpc.ErrorInfo.reason, listed in
-- lib/gs_reasons.h and docs/errors.md) of each refusal our stock functions raise through
-- stock_fail, with the format arguments worth a client's reading as ErrorInfo metadata.
-- 05x: error reasons across the domains (after every function they describe exists).
--
-- stock_fail(state, fmt, args) looks its fmt up here and puts "REASON key=value ..." in the
-- error's HINT; the server (db.c) turns the HINT into the ErrorInfo. A fmt not listed
-- keeps the generic reason of its code (the name of the code). The table is read by the
-- application role, written only by migrations (sql/roles.sql).

CREATE TABLE error_reasons (
    fmt text PRIMARY KEY,   -- exactly the format a function passes to stock_fail
    reason text NOT NULL CHECK (reason ~ '^[A-Z][A-Z0-9_]*$'),
    arg_keys text[] NOT NULL DEFAULT '{}'  -- a metadata key per format argument; '' skips it
);

INSERT INTO error_reasons (fmt, reason, arg_keys) VALUES
    ('not enough %s at %s: %s available, %s requested', 'STOCK_INSUFFICIENT',
     '{item,site,available,requested}'),
    ('not enough %s in lot %s at %s: %s available, %s requested', 'STOCK_INSUFFICIENT',
     '{item,lot,site,available,requested}'),
    ('not enough reserved %s in lot %s: %s reserved, %s requested', 'RESERVATION_INSUFFICIENT',
     '{item,lot,reserved,requested}'),
    ('lot %s of %s has %s reserved, cannot release %s', 'RESERVATION_INSUFFICIENT',
     '{lot,item,reserved,requested}'),
    ('lot %s of %s: a variance of %s would leave less than the %s reserved (on hand %s)',
     'STOCK_RESERVED', '{lot,item,variance,reserved,on_hand}'),
    ('lot %s of %s at %s expired on %s: expired stock cannot be issued', 'LOT_EXPIRED',
     '{lot,item,site,expired_on}'),
    ('lot %s of %s expired on %s: expired stock cannot be received', 'LOT_EXPIRED',
     '{lot,item,expired_on}'),
    ('lot %s of %s at %s already exists with expiry %s, not %s', 'LOT_CONFLICT',
     '{lot,item,site,expires_on,given}'),
    ('lot %s of %s changed while it was being picked', 'CONCURRENT_CHANGE', '{lot,item}'),
    ('site %s is a supplier market: stock is not kept there', 'SITE_KEEPS_NO_STOCK', '{site}'),
    ('site %s is inactive', 'OBJECT_INACTIVE', '{site}'),
    ('charity station %s is inactive', 'OBJECT_INACTIVE', '{site}'),
    ('item %s is inactive', 'OBJECT_INACTIVE', '{item}'),
    ('items[%s]: quota for %s exceeded: household %s of %s has had %s of %s this %s, %s more is too many',
     'QUOTA_EXCEEDED', '{index,item,household,grid,received,quota,period,requested}'),
    ('lines[%s]: %s has no price for %s today; give unit_price_fen', 'PRICE_MISSING',
     '{index,supplier,item}'),
    ('%svalid_to: a price of %s fen from %s already follows; end this one before that day',
     'PRICE_PERIOD_CONFLICT', '{"",unit_price_fen,valid_from}'),
    ('lines[%s].qty: %s more %s is more than the %s outstanding on purchase order %s',
     'RECEIPT_EXCEEDS_ORDER', '{index,requested,item,outstanding,order}'),
    ('purchase order %s is %s: only a draft''s lines can change', 'WRONG_STATE', '{order,state}'),
    ('purchase order %s is %s: only a placed or partly received order can be received against',
     'WRONG_STATE', '{order,state}'),
    ('stocktake %s is %s, not open', 'WRONG_STATE', '{stocktake,state}'),
    ('stocktake %s has no counts yet', 'WRONG_STATE', '{stocktake}'),
    ('stocktake %s is already open at %s', 'WRONG_STATE', '{stocktake,site}'),
    ('transfer %s was already received', 'WRONG_STATE', '{transfer}');

-- Raises p_state with the formatted message and, when p_fmt is listed above, its reason and
-- metadata in the HINT (values with spaces have them replaced by '_': the HINT is split on
-- spaces).
CREATE OR REPLACE FUNCTION stock_fail(p_state text, p_fmt text, VARIADIC p_args text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r error_reasons;
    hint text := '';
BEGIN
    SELECT * INTO r FROM error_reasons WHERE fmt = p_fmt;
    IF FOUND THEN
        SELECT concat_ws(' ', r.reason,
                         string_agg(k || '=' || replace(coalesce(p_args[i], ''), ' ', '_'), ' ' ORDER BY i))
          INTO hint
          FROM unnest(r.arg_keys) WITH ORDINALITY AS a(k, i)
         WHERE k <> '' AND i <= coalesce(array_length(p_args, 1), 0);
    END IF;
    RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = format(p_fmt, VARIADIC p_args), HINT = hint;
END $$;
