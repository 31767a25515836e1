-- 044_audit_capture_bulk.sql — the change capture of 040/043 for large statements, same
-- entries at a fraction of the cost. 043 turned every captured statement's transition
-- tables into JSON arrays and diffed them cell by cell: for a statement of 10,000 rows (a
-- subsidy run, its approval, its posting) that is 20,000 rows through to_jsonb and 150,000
-- cells through jsonb_each, about 0.6 s per statement, to produce one compact entry (ids,
-- changed fields, the change every row shares). Statements of tables keyed by id that
-- touch more than 20 rows now compute that entry straight from the transition tables with
-- one query built from the table's columns: native comparisons to find the changed rows and
-- fields, JSON only for the shared change's candidates. Statements of at most 20 rows (most
-- calls) take 043's path unchanged, and so do tables keyed by other columns. The entries
-- are exactly those of 040/043 (same keys, values and order).

-- The bulk path reads the trigger's transition tables (audit_old, audit_new), which only
-- the trigger function itself can see (a function it calls cannot): so it is written
-- inside audit_capture. Its queries are built with EXECUTE, planned on each large
-- statement, which costs far less than the rows they replace.

CREATE OR REPLACE FUNCTION audit_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    olds jsonb;
    news jsonb;
    e jsonb;
    cnt bigint;
    names text[];
    changed_expr text;
    counts bigint[];
    n_changed bigint;
    ids jsonb;
    fields jsonb;
    cand text[];
    cand_distinct bigint[];
    cand_pair text[];
    set_ jsonb := '{}';
BEGIN
    -- At most 21 rows through JSON: 21 says "more than 20", and then the bulk path below
    -- reads the transition tables directly.
    IF TG_OP = 'DELETE' THEN
        SELECT jsonb_agg(to_jsonb(x)), count(*) INTO olds, cnt FROM (SELECT * FROM audit_old LIMIT 21) x;
    ELSE
        SELECT jsonb_agg(to_jsonb(x)), count(*) INTO news, cnt FROM (SELECT * FROM audit_new LIMIT 21) x;
    END IF;
    IF cnt > 20 AND TG_NARGS = 0 THEN
        IF TG_OP = 'INSERT' THEN
            SELECT jsonb_build_array(jsonb_build_object('t', TG_TABLE_NAME, 'op', 'insert', 'n', count(*),
                                                        'ids', jsonb_agg(to_jsonb(x.id))))
              INTO e FROM audit_new x;
        ELSIF TG_OP = 'DELETE' THEN
            SELECT jsonb_build_array(jsonb_build_object('t', TG_TABLE_NAME, 'op', 'delete', 'n', count(*),
                                                        'ids', jsonb_agg(to_jsonb(x.id))))
              INTO e FROM audit_old x;
        ELSE
            -- the columns compared (040 leaves updated_at out of diffs), in table order
            SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO names
              FROM pg_attribute a
             WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attname <> 'updated_at';
            SELECT string_agg(format('o.%1$I IS DISTINCT FROM n.%1$I', c), ' OR ') INTO changed_expr
              FROM unnest(names) c;
            EXECUTE format('SELECT count(*), jsonb_agg(to_jsonb(n.id) ORDER BY n.id), ARRAY[%s]::bigint[]'
                           ' FROM audit_new n JOIN audit_old o ON o.id = n.id WHERE %s',
                           (SELECT string_agg(format('count(*) FILTER (WHERE o.%1$I IS DISTINCT FROM n.%1$I)', c), ', ')
                              FROM unnest(names) c),
                           changed_expr)
               INTO n_changed, ids, counts;
            IF n_changed = 0 THEN
                RETURN NULL;
            ELSIF n_changed <= 20 THEN
                -- a few rows changed among many: 043's per-row entries, from those rows only
                EXECUTE format('SELECT jsonb_agg(to_jsonb(o)), jsonb_agg(to_jsonb(n))'
                               ' FROM audit_new n JOIN audit_old o ON o.id = n.id WHERE %s', changed_expr)
                   INTO olds, news;
                e := audit_capture_entries(TG_TABLE_NAME, TG_OP, ARRAY['id'], true, olds, news);
            ELSE
                SELECT jsonb_agg(DISTINCT c) INTO fields FROM unnest(names, counts) u(c, k) WHERE k > 0;
                -- a change every row shares: a column changed in every changed row, with one
                -- (old, new) pair; counted natively, then the pair read from one row as JSON
                SELECT array_agg(c) INTO cand FROM unnest(names, counts) u(c, k) WHERE k = n_changed;
                IF cand IS NOT NULL THEN
                    EXECUTE format('SELECT ARRAY[%s]::bigint[] FROM audit_new n JOIN audit_old o ON o.id = n.id'
                                   ' WHERE %s',
                                   (SELECT string_agg(format('count(DISTINCT (o.%1$I, n.%1$I))', c), ', ')
                                      FROM unnest(cand) c),
                                   changed_expr)
                       INTO cand_distinct;
                    SELECT array_agg(c) INTO cand FROM unnest(cand, cand_distinct) u(c, d) WHERE d = 1;
                END IF;
                IF cand IS NOT NULL THEN
                    EXECUTE format('SELECT ARRAY[%s]::text[] FROM audit_new n JOIN audit_old o ON o.id = n.id'
                                   ' WHERE %s LIMIT 1',
                                   (SELECT string_agg(format('jsonb_build_array(to_jsonb(o.%1$I), to_jsonb(n.%1$I))::text', c), ', ')
                                      FROM unnest(cand) c),
                                   changed_expr)
                       INTO cand_pair;
                    SELECT jsonb_object_agg(c, p::jsonb) INTO set_ FROM unnest(cand, cand_pair) u(c, p);
                END IF;
                e := jsonb_build_array(jsonb_build_object('t', TG_TABLE_NAME, 'op', 'update', 'n', n_changed,
                                                          'ids', ids, 'fields', fields, 'set', set_));
            END IF;
        END IF;
        IF e IS NOT NULL AND e <> '[]'::jsonb THEN
            PERFORM audit_note(e);
        END IF;
        RETURN NULL;
    END IF;
    IF cnt > 20 THEN -- keyed by other columns: 043's path over every row
        IF TG_OP <> 'DELETE' THEN
            SELECT jsonb_agg(to_jsonb(x)) INTO news FROM audit_new x;
        ELSE
            SELECT jsonb_agg(to_jsonb(x)) INTO olds FROM audit_old x;
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT jsonb_agg(to_jsonb(x)) INTO olds FROM audit_old x;
    END IF;
    IF olds IS NULL AND news IS NULL THEN
        RETURN NULL;
    END IF;
    e := audit_capture_entries(TG_TABLE_NAME, TG_OP,
                               CASE WHEN TG_NARGS > 0 THEN TG_ARGV::text[] ELSE ARRAY['id'] END,
                               TG_NARGS = 0, coalesce(olds, '[]'), coalesce(news, '[]'));
    IF e IS NOT NULL AND e <> '[]'::jsonb THEN
        PERFORM audit_note(e);
    END IF;
    RETURN NULL;
END $$;
