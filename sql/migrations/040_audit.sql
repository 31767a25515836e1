-- 040_audit.sql — the audit trail auditors read and trust (issue 16):
--   * every audit row records the org-unit path of its object (scope_path), so a scoped
--     auditor sees the rows of objects in their subtree only, and what changed (changes,
--     a compact JSON diff captured by triggers on the object tables in the same
--     transaction);
--   * the chain of seals is keyed: gridstockd computes HMAC-SHA256 seals with a key from
--     its audit keyring file (never in the database) and appends them through
--     audit_seal_append(), the only way in for the application role, which loses INSERT
--     on audit_seal (sql/roles.sql).
-- What the schema owner can still do, and how it shows, is in docs/operations.md
-- ("The audit trail").

-- ---------------------------------------------------------------- audit rows
ALTER TABLE audit_log ADD COLUMN changes jsonb, ADD COLUMN scope_path ltree;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_user ON audit_log (user_id, id);
CREATE INDEX audit_log_request ON audit_log (request_id) WHERE request_id <> '';
CREATE INDEX audit_log_scope ON audit_log USING gist (scope_path);
CREATE INDEX audit_log_changes ON audit_log USING gin (changes jsonb_path_ops);

-- The org-unit path an audit row is filed under: the path of its object's org unit when
-- the object names one (site, lot, requisition, ...), else the path of the acting user's
-- scope (an object a user changed lies inside their scope, so this is never wider than
-- the object's own path), else the district root (system jobs on objects without a unit).
CREATE FUNCTION audit_object_path(p_object text, p_user bigint) RETURNS ltree
LANGUAGE plpgsql STABLE AS $$
DECLARE
    kind text := split_part(p_object, ':', 1);
    rest text := substr(p_object, length(kind) + 2);
    oid_ bigint;
    opath ltree;
BEGIN
    -- one statement per kind, so a call runs (and starts up) only the one it needs
    IF rest ~ '^[0-9]{1,18}$' THEN
        oid_ := rest::bigint;
        IF kind = 'site' THEN
            SELECT ou.path INTO opath FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id WHERE s.id = oid_;
        ELSIF kind = 'lot' THEN
            SELECT ou.path INTO opath FROM lots l JOIN sites s ON s.id = l.site_id
              JOIN org_units ou ON ou.id = s.org_unit_id WHERE l.id = oid_;
        ELSIF kind = 'stocktake' THEN
            SELECT ou.path INTO opath FROM stocktakes t JOIN sites s ON s.id = t.site_id
              JOIN org_units ou ON ou.id = s.org_unit_id WHERE t.id = oid_;
        ELSIF kind = 'transfer' THEN  -- the sending site's unit
            SELECT ou.path INTO opath FROM stock_transfers t JOIN sites s ON s.id = t.from_site_id
              JOIN org_units ou ON ou.id = s.org_unit_id WHERE t.id = oid_;
        ELSIF kind = 'purchase_order' THEN  -- the delivery site's unit
            SELECT ou.path INTO opath FROM purchase_orders o JOIN sites s ON s.id = o.site_id
              JOIN org_units ou ON ou.id = s.org_unit_id WHERE o.id = oid_;
        ELSIF kind = 'donation' THEN
            SELECT ou.path INTO opath FROM charity_donations d JOIN sites s ON s.id = d.site_id
              JOIN org_units ou ON ou.id = s.org_unit_id WHERE d.id = oid_;
        ELSIF kind = 'distribution' THEN
            SELECT ou.path INTO opath FROM charity_distributions d JOIN sites s ON s.id = d.site_id
              JOIN org_units ou ON ou.id = s.org_unit_id WHERE d.id = oid_;
        ELSIF kind = 'requisition' THEN
            SELECT ou.path INTO opath FROM requisitions r JOIN org_units ou ON ou.id = r.org_unit_id WHERE r.id = oid_;
        ELSIF kind = 'user' THEN
            SELECT ou.path INTO opath FROM users u JOIN org_units ou ON ou.id = u.scope_id WHERE u.id = oid_;
        ELSIF kind = 'fund_account' THEN
            SELECT ou.path INTO opath FROM fund_accounts a JOIN org_units ou ON ou.id = a.org_unit_id WHERE a.id = oid_;
        ELSIF kind = 'fund_budget' THEN
            SELECT ou.path INTO opath FROM fund_budgets b JOIN org_units ou ON ou.id = b.org_unit_id WHERE b.id = oid_;
        ELSIF kind = 'disbursement' THEN  -- the paying grid fund's unit
            SELECT ou.path INTO opath FROM fund_disbursements d JOIN fund_accounts a ON a.id = d.fund_account_id
              JOIN org_units ou ON ou.id = a.org_unit_id WHERE d.id = oid_;
        ELSIF kind = 'programme' THEN
            SELECT ou.path INTO opath FROM fund_programmes p JOIN org_units ou ON ou.id = p.org_unit_id WHERE p.id = oid_;
        ELSIF kind = 'programme_run' THEN
            SELECT ou.path INTO opath FROM fund_programme_runs r JOIN fund_programmes p ON p.id = r.programme_id
              JOIN org_units ou ON ou.id = p.org_unit_id WHERE r.id = oid_;
        END IF;
    ELSIF kind = 'emergency_mode' THEN
        SELECT path INTO opath FROM org_units WHERE code = rest;
    ELSIF kind = 'emergency_cap' THEN
        SELECT path INTO opath FROM org_units WHERE code = split_part(rest, ':', 1);
    ELSIF kind = 'org_unit' AND rest ~ '^[0-9]+(\.[0-9]+)*$' THEN
        opath := rest::ltree;
    END IF;
    IF opath IS NULL THEN
        SELECT ou.path INTO opath FROM users u JOIN org_units ou ON ou.id = u.scope_id WHERE u.id = p_user;
    END IF;
    IF opath IS NULL THEN
        SELECT path INTO opath FROM org_units WHERE parent_id IS NULL ORDER BY id LIMIT 1;
    END IF;
    RETURN opath;
END $$;

-- Every audit row is filled here, whoever inserts it: the time is the transaction's (no
-- back-dating), the id is the sequence's (no squatting ahead), the actor is a real user as
-- they are now (or the system), scope_path is derived (never the caller's choice), and
-- changes takes what the capture triggers collected in this transaction so far.
CREATE FUNCTION audit_log_fill() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pending text := nullif(current_setting('gs.audit_changes', true), '');
    omitted text := nullif(current_setting('gs.audit_omitted', true), '');
BEGIN
    IF NEW.id IS DISTINCT FROM currval('audit_log_id_seq'::regclass) THEN
        RAISE EXCEPTION 'audit rows take their id from the sequence' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT (NEW.user_id = 0 AND NEW.login = 'system' AND NEW.role = 'system')
       AND NOT EXISTS (SELECT FROM users u WHERE u.id = NEW.user_id AND u.login = NEW.login AND u.role = NEW.role) THEN
        RAISE EXCEPTION 'audit row names no such user (%/%/%)', NEW.user_id, NEW.login, NEW.role
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.at := now();
    NEW.scope_path := audit_object_path(NEW.object, NEW.user_id);
    IF pending IS NOT NULL THEN
        NEW.changes := coalesce(NEW.changes, '[]'::jsonb) || ('[' || pending || ']')::jsonb;
        PERFORM set_config('gs.audit_changes', '', true);
    END IF;
    IF omitted IS NOT NULL THEN
        NEW.changes := coalesce(NEW.changes, '[]'::jsonb) || jsonb_build_array(jsonb_build_object('omitted', omitted::bigint));
        PERFORM set_config('gs.audit_omitted', '', true);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_log_fill BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_fill();

-- ---------------------------------------------------------------- what changed
-- The key of a row: {"id": n} for tables keyed by id, else the named key columns.
CREATE FUNCTION audit_row_key(r jsonb, keys text[]) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_object_agg(k, r -> k) FROM unnest(keys) k
$$;

-- Appends entries (a JSON array) to the transaction's pending changes, which
-- audit_log_fill takes. Pending entries are kept as text (the array's elements joined by
-- commas) in a transaction-local setting, so appending costs a copy, not a JSON parse; a
-- transaction that changes a lot without writing an audit row (a bulk load) stops
-- collecting details at 256 kB and counts what it left out (gs.audit_omitted).
CREATE FUNCTION audit_note(entries jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    pending text := coalesce(current_setting('gs.audit_changes', true), '');
    add text := substr(entries::text, 2, length(entries::text) - 2);
BEGIN
    IF add = '' THEN
        RETURN;
    END IF;
    IF length(pending) + length(add) > 262144 THEN
        PERFORM set_config('gs.audit_omitted',
            (coalesce(nullif(current_setting('gs.audit_omitted', true), ''), '0')::bigint
             + jsonb_array_length(entries))::text, true);
    ELSIF pending = '' THEN
        PERFORM set_config('gs.audit_changes', add, true);
    ELSE
        PERFORM set_config('gs.audit_changes', pending || ',' || add, true);
    END IF;
END $$;

-- Statement-level capture, set-based over the transition tables. Entries (t = table):
--   {"t":..., "op":"insert", "id":n | "key":{...}, "new":{row}}
--   {"t":..., "op":"update", "id":n | "key":{...}, "set":{"column":[old, new], ...}}
--   {"t":..., "op":"delete", "id":n | "key":{...}, "old":{row}}
-- A statement that touches more than 20 rows is one compact entry instead:
--   {"t":..., "op":..., "n":rows, "ids":[...] | "keys":[...], "fields":[changed columns],
--    "set":{column:[old, new]} for the changes every row shares (e.g. a state transition)}
-- updated_at is left out of diffs. TG_ARGV: the key columns (default id).
CREATE FUNCTION audit_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys text[] := CASE WHEN TG_NARGS > 0 THEN TG_ARGV::text[] ELSE ARRAY['id'] END;
    by_id boolean := TG_NARGS = 0;
    t text := TG_TABLE_NAME;
    e jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH r AS (SELECT to_jsonb(x) j FROM audit_new x), c AS (SELECT count(*) n FROM r)
        SELECT CASE WHEN c.n <= 20 THEN
                   (SELECT coalesce(jsonb_agg(jsonb_build_object('t', t, 'op', 'insert')
                        || CASE WHEN by_id THEN jsonb_build_object('id', j -> 'id')
                                ELSE jsonb_build_object('key', audit_row_key(j, keys)) END
                        || jsonb_build_object('new', j)), '[]') FROM r)
               ELSE jsonb_build_array(jsonb_build_object('t', t, 'op', 'insert', 'n', c.n,
                   CASE WHEN by_id THEN 'ids' ELSE 'keys' END,
                   (SELECT jsonb_agg(CASE WHEN by_id THEN j -> 'id' ELSE audit_row_key(j, keys) END) FROM r)))
               END INTO e FROM c;
    ELSIF TG_OP = 'DELETE' THEN
        WITH r AS (SELECT to_jsonb(x) j FROM audit_old x), c AS (SELECT count(*) n FROM r)
        SELECT CASE WHEN c.n <= 20 THEN
                   (SELECT coalesce(jsonb_agg(jsonb_build_object('t', t, 'op', 'delete')
                        || CASE WHEN by_id THEN jsonb_build_object('id', j -> 'id')
                                ELSE jsonb_build_object('key', audit_row_key(j, keys)) END
                        || jsonb_build_object('old', j)), '[]') FROM r)
               ELSE jsonb_build_array(jsonb_build_object('t', t, 'op', 'delete', 'n', c.n,
                   CASE WHEN by_id THEN 'ids' ELSE 'keys' END,
                   (SELECT jsonb_agg(CASE WHEN by_id THEN j -> 'id' ELSE audit_row_key(j, keys) END) FROM r)))
               END INTO e FROM c;
    ELSE
        WITH o AS (SELECT audit_row_key(to_jsonb(x), keys) k, to_jsonb(x) j FROM audit_old x),
             n AS (SELECT audit_row_key(to_jsonb(x), keys) k, to_jsonb(x) j FROM audit_new x),
             d AS (SELECT n.k, f.key AS col, o.j -> f.key AS ov, f.value AS nv
                     FROM n JOIN o ON o.k = n.k, jsonb_each(n.j) f
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
    END IF;
    IF e IS NOT NULL AND e <> '[]'::jsonb THEN
        PERFORM audit_note(e);
    END IF;
    RETURN NULL;
END $$;

-- Attaches the three capture triggers to a table (key columns as for audit_capture).
CREATE FUNCTION audit_capture_attach(tbl regclass, keys text[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    args text := (SELECT string_agg(quote_literal(k), ', ') FROM unnest(keys) k);
    name text := (SELECT relname FROM pg_class WHERE oid = tbl);
BEGIN
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS audit_new'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION audit_capture(%s)', name || '_audit_ins', tbl, args);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS audit_old NEW TABLE AS audit_new'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION audit_capture(%s)', name || '_audit_upd', tbl, args);
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS audit_old'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION audit_capture(%s)', name || '_audit_del', tbl, args);
END $$;

-- The objects people change. Ledgers (stock_movements, fund_entries, fund_postings,
-- requisition_history, ...) are their own record of what changed and are not captured;
-- lots are (their balances change with every movement).
SELECT audit_capture_attach(t::regclass)
  FROM unnest(ARRAY['org_units', 'compounds', 'users', 'sites', 'items', 'lots', 'stock_transfers',
                    'stocktakes', 'supplier_prices', 'purchase_orders', 'charity_quotas',
                    'charity_donations', 'charity_distributions', 'fund_accounts', 'fund_budgets',
                    'fund_disbursements', 'fund_programmes', 'fund_programme_runs', 'requisitions']) t;
SELECT audit_capture_attach('site_items', ARRAY['site_id', 'item_id']);
SELECT audit_capture_attach('emergency_modes', ARRAY['org_unit_id']);
SELECT audit_capture_attach('emergency_caps', ARRAY['org_unit_id', 'item_id']);
SELECT audit_capture_attach('fund_assessment_scores', ARRAY['org_unit_id', 'period']);

-- ---------------------------------------------------------------- the keyed chain
-- kid: the audit key that sealed the row ('' = an unkeyed sha256 seal from before 040).
ALTER TABLE audit_seal ADD COLUMN kid text NOT NULL DEFAULT '';
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_seal FROM PUBLIC;

-- The sealer's only door (SECURITY DEFINER: runs as the schema owner). gridstockd computes
-- the seals (HMAC-SHA256 over seq, the previous seal and the row, see
-- server/runtime/audit_chain.c) and appends them here in one set-based INSERT. The
-- database cannot check an HMAC without the key; it checks what it can: the seals
-- continue the chain at its head, each names an existing unsealed audit row once, and
-- each hash is 32 bytes. A caller that is not the sealer can at worst append seals that
-- do not verify, which `gridstockd audit verify` reports.
CREATE FUNCTION audit_seal_append(p_kid text, p_first bigint, p_ids bigint[], p_hashes bytea[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    n integer := coalesce(cardinality(p_ids), 0);
    head_seq bigint;
    head_hash bytea;
BEGIN
    IF n = 0 THEN
        RETURN 0;
    END IF;
    IF n <> coalesce(cardinality(p_hashes), 0) OR p_kid IS NULL OR p_kid !~ '^[A-Za-z0-9._-]{1,32}$'
       OR EXISTS (SELECT FROM unnest(p_hashes) h WHERE h IS NULL OR length(h) <> 32) THEN
        RAISE EXCEPTION 'audit_seal_append: bad arguments' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('gridstock.audit_seal'));
    SELECT seq, hash INTO head_seq, head_hash FROM audit_seal ORDER BY seq DESC LIMIT 1;
    IF coalesce(head_seq, 0) + 1 <> p_first THEN
        RAISE EXCEPTION 'audit_seal_append: the chain head is % (seals must start at %)',
            coalesce(head_seq, 0), coalesce(head_seq, 0) + 1 USING ERRCODE = 'serialization_failure';
    END IF;
    IF (SELECT count(*) FROM audit_log l WHERE l.id = ANY (p_ids)) <> n THEN
        RAISE EXCEPTION 'audit_seal_append: seals only existing audit rows' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO audit_seal (seq, audit_id, prev_hash, hash, kid)
    SELECT p_first + u.o - 1, u.id,
           coalesce(lag(u.h) OVER (ORDER BY u.o), head_hash, audit_genesis()), u.h, p_kid
      FROM unnest(p_ids, p_hashes) WITH ORDINALITY AS u(id, h, o);
    PERFORM setval(pg_get_serial_sequence('audit_seal', 'seq'), p_first + n - 1);
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION audit_seal_append(text, bigint, bigint[], bytea[]) FROM PUBLIC;

-- The unkeyed sealer of 020 is retired: sealing needs the key, so gridstockd seals.
CREATE OR REPLACE FUNCTION audit_seal() RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;

-- What the database can check without the key (VerifyLedger): the links between seals,
-- seals whose row was removed, and the content of unkeyed (pre-040) seals. The content of
-- keyed seals is checked by `gridstockd audit verify` and AuditService/VerifyChain.
CREATE OR REPLACE FUNCTION audit_verify(OUT sealed bigint, OUT unsealed bigint, OUT head text, OUT problems text[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    prev bytea := audit_genesis();
    s record;
BEGIN
    sealed := 0;
    problems := '{}';
    FOR s IN SELECT x.seq, x.audit_id, x.prev_hash, x.hash, x.kid, l AS arow, l.id IS NOT NULL AS present
             FROM audit_seal x LEFT JOIN audit_log l ON l.id = x.audit_id ORDER BY x.seq LOOP
        sealed := sealed + 1;
        IF s.prev_hash <> prev THEN
            problems := problems || format('audit seal %s does not follow seal %s: the chain is broken',
                                           s.seq, s.seq - 1);
        END IF;
        IF NOT s.present THEN
            problems := problems || format('audit row %s was removed after it was sealed (seal %s)',
                                           s.audit_id, s.seq);
        ELSIF s.kid = '' AND audit_row_hash(s.prev_hash, s.arow) <> s.hash THEN
            problems := problems || format('audit row %s was changed after it was sealed (seal %s)',
                                           s.audit_id, s.seq);
        END IF;
        prev := s.hash;
    END LOOP;
    head := encode(prev, 'hex');
    SELECT count(*) INTO unsealed FROM audit_log l WHERE NOT EXISTS (SELECT 1 FROM audit_seal x WHERE x.audit_id = l.id);
END $$;
