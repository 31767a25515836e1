-- 043_audit_capture_speed.sql — the change capture of 040 at a fraction of the cost, same
-- entries. 040's audit_capture ran its diff query straight over the transition tables;
-- PostgreSQL cannot keep a plan for a query that reads a transition table, so that large
-- query was planned again on every captured statement (about 0.8 ms of CPU per captured
-- statement: most of a stock issue's database time). Now the trigger only turns the
-- transition tables into JSON arrays (two trivial queries) and hands them to
-- audit_capture_entries, whose queries read its arguments, so PL/pgSQL plans them once
-- per session. audit_row_key (an SQL function, planned on every call) is inlined as an
-- expression. The entries are exactly those of 040 (same keys, values and order).

CREATE OR REPLACE FUNCTION audit_capture_entries(t text, op text, keys text[], by_id boolean, olds jsonb,
                                      news jsonb) RETURNS jsonb LANGUAGE plpgsql STABLE
-- a custom plan per call would cost more than the whole capture: plan once per session
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    rows_ jsonb := CASE op WHEN 'INSERT' THEN news ELSE olds END;
    cnt integer;
    e jsonb;
    oj jsonb;
    nj jsonb;
    k1 jsonb;
    chg jsonb;
BEGIN
    -- one row updated (most calls): the same entry as the general query below, directly
    IF op = 'UPDATE' AND jsonb_array_length(olds) = 1 AND jsonb_array_length(news) = 1 THEN
        oj := olds -> 0;
        nj := news -> 0;
        IF by_id THEN
            k1 := jsonb_build_object('id', nj -> 'id');
            IF k1 IS DISTINCT FROM jsonb_build_object('id', oj -> 'id') THEN
                RETURN '[]'::jsonb;
            END IF;
        ELSE
            k1 := (SELECT jsonb_object_agg(k, nj -> k) FROM unnest(keys) k);
            IF k1 IS DISTINCT FROM (SELECT jsonb_object_agg(k, oj -> k) FROM unnest(keys) k) THEN
                RETURN '[]'::jsonb;
            END IF;
        END IF;
        SELECT jsonb_object_agg(f.key, jsonb_build_array(oj -> f.key, f.value)) INTO chg
          FROM jsonb_each(nj) f
         WHERE f.key <> 'updated_at' AND (oj -> f.key) IS DISTINCT FROM f.value;
        IF chg IS NULL THEN
            RETURN '[]'::jsonb;
        END IF;
        RETURN jsonb_build_array(jsonb_build_object('t', t, 'op', 'update')
                                 || CASE WHEN by_id THEN jsonb_build_object('id', k1 -> 'id')
                                         ELSE jsonb_build_object('key', k1) END
                                 || jsonb_build_object('set', chg));
    END IF;
    IF op IN ('INSERT', 'DELETE') THEN
        cnt := jsonb_array_length(rows_);
        IF cnt = 0 THEN
            RETURN NULL;
        ELSIF cnt <= 20 THEN
            SELECT jsonb_agg(jsonb_build_object('t', t, 'op', lower(op))
                       || CASE WHEN by_id THEN jsonb_build_object('id', j -> 'id')
                               ELSE jsonb_build_object('key', (SELECT jsonb_object_agg(k, j -> k) FROM unnest(keys) k)) END
                       || jsonb_build_object(CASE op WHEN 'INSERT' THEN 'new' ELSE 'old' END, j))
              INTO e FROM jsonb_array_elements(rows_) j;
        ELSE
            SELECT jsonb_build_array(jsonb_build_object('t', t, 'op', lower(op), 'n', cnt,
                       CASE WHEN by_id THEN 'ids' ELSE 'keys' END,
                       jsonb_agg(CASE WHEN by_id THEN j -> 'id'
                                      ELSE (SELECT jsonb_object_agg(k, j -> k) FROM unnest(keys) k) END)))
              INTO e FROM jsonb_array_elements(rows_) j;
        END IF;
        RETURN e;
    END IF;
    WITH o AS (SELECT CASE WHEN by_id THEN jsonb_build_object('id', j -> 'id')
                           ELSE (SELECT jsonb_object_agg(k, j -> k) FROM unnest(keys) k) END k, j
                 FROM jsonb_array_elements(olds) j),
         nw AS (SELECT CASE WHEN by_id THEN jsonb_build_object('id', j -> 'id')
                            ELSE (SELECT jsonb_object_agg(k, j -> k) FROM unnest(keys) k) END k, j
                  FROM jsonb_array_elements(news) j),
         d AS (SELECT nw.k, f.key AS col, o.j -> f.key AS ov, f.value AS nv
                 FROM nw JOIN o ON o.k = nw.k, jsonb_each(nw.j) f
                WHERE f.key <> 'updated_at' AND (o.j -> f.key) IS DISTINCT FROM f.value),
         per AS (SELECT k, jsonb_object_agg(col, jsonb_build_array(ov, nv)) s FROM d GROUP BY k),
         c AS (SELECT count(*) n FROM per)
    SELECT CASE WHEN c.n = 0 THEN '[]'::jsonb
                WHEN c.n <= 20 THEN
               (SELECT jsonb_agg(jsonb_build_object('t', t, 'op', 'update')
                    || CASE WHEN by_id THEN jsonb_build_object('id', k -> 'id')
                            ELSE jsonb_build_object('key', k) END
                    || jsonb_build_object('set', s) ORDER BY k) FROM per)
           ELSE jsonb_build_array(jsonb_build_object('t', t, 'op', 'update', 'n', c.n,
               CASE WHEN by_id THEN 'ids' ELSE 'keys' END,
               (SELECT jsonb_agg(CASE WHEN by_id THEN k -> 'id' ELSE k END ORDER BY k) FROM per),
               'fields', (SELECT jsonb_agg(DISTINCT col) FROM d),
               'set', (SELECT coalesce(jsonb_object_agg(col, pair), '{}') FROM (
                          SELECT col, min(jsonb_build_array(ov, nv)::text)::jsonb pair FROM d GROUP BY col
                          HAVING count(DISTINCT jsonb_build_array(ov, nv)) = 1
                             AND count(*) = (SELECT n FROM c)) u)))
           END INTO e FROM c;
    RETURN e;
END $$;

-- Same trigger function name and attachments as 040 (TG_ARGV: the key columns, default id).
CREATE OR REPLACE FUNCTION audit_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    olds jsonb;
    news jsonb;
    e jsonb;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        SELECT jsonb_agg(to_jsonb(x)) INTO news FROM audit_new x;
    END IF;
    IF TG_OP <> 'INSERT' THEN
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
