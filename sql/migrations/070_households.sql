-- 070_households.sql — the household register kept by community staff for their grids
-- (issue 19): head of household, members, compound and building, contact and need flags.
--
-- Identity: the head's ID number never reaches the database. gridstockd hashes it with
-- HMAC-SHA256 under a key from its household keyring (the household_keys file, never in
-- the database) and stores the hex hash and the key's id; the hash is unique across the
-- district, so one household cannot be registered twice.
--
-- History: a household's grid changes only by a move, and every move is a row of
-- household_moves (its registration is the first, from no grid). A deferred check keeps
-- households.grid_id equal to the destination of the household's last move.
--
-- Personal data (name, building, contact, need flags, the identity hash) stays out of the
-- audit diffs: the capture trigger strips those columns, and personal_rev (raised by the
-- database whenever one of them changes) shows that and when they changed.

CREATE TABLE households (
    id               bigserial PRIMARY KEY,
    grid_id          bigint NOT NULL REFERENCES org_units(id),
    head_name        text NOT NULL CHECK (length(head_name) BETWEEN 1 AND 100),
    members          integer NOT NULL CHECK (members BETWEEN 1 AND 30),
    compound_id      bigint REFERENCES compounds(id),
    building         text NOT NULL DEFAULT '' CHECK (length(building) <= 64),
    contact          text NOT NULL DEFAULT '' CHECK (length(contact) <= 100),
    elderly_alone    boolean NOT NULL DEFAULT false,
    disabled_member  boolean NOT NULL DEFAULT false,
    low_income       boolean NOT NULL DEFAULT false,
    infant           boolean NOT NULL DEFAULT false,
    chronic_illness  boolean NOT NULL DEFAULT false,
    id_hash          text NOT NULL CHECK (id_hash ~ '^[0-9a-f]{64}$'),
    id_kid           text NOT NULL CHECK (id_kid ~ '^[A-Za-z0-9._-]{1,32}$'),
    personal_rev     integer NOT NULL DEFAULT 1 CHECK (personal_rev >= 1),
    registered_by    bigint REFERENCES users(id),
    registered_at    timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT households_id_hash_key UNIQUE (id_hash)
);
CREATE INDEX households_grid ON households (grid_id, id);

CREATE TABLE household_moves (
    id            bigserial PRIMARY KEY,
    household_id  bigint NOT NULL REFERENCES households(id),
    from_grid_id  bigint REFERENCES org_units(id),   -- NULL: the registration
    to_grid_id    bigint NOT NULL REFERENCES org_units(id),
    reason        text NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    moved_by      bigint REFERENCES users(id),
    moved_at      timestamptz NOT NULL DEFAULT now(),
    request_id    text NOT NULL DEFAULT '',
    CHECK (from_grid_id IS DISTINCT FROM to_grid_id)
);
CREATE INDEX household_moves_household ON household_moves (household_id, id);
CREATE TRIGGER household_moves_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON household_moves
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();

-- A household lives in a grid, its compound (if any) in that grid's branch of the tree,
-- and personal_rev follows every change of the personal columns.
CREATE FUNCTION households_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    g record;
BEGIN
    SELECT kind, path INTO g FROM org_units WHERE id = NEW.grid_id;
    IF g.kind IS DISTINCT FROM 'grid' THEN
        RAISE EXCEPTION 'grid_id: a household lives in a grid' USING ERRCODE = 'GS400';
    END IF;
    IF NEW.compound_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM compounds c JOIN org_units ou ON ou.id = c.org_unit_id
             WHERE c.id = NEW.compound_id AND (ou.path @> g.path OR ou.path <@ g.path)) THEN
        RAISE EXCEPTION 'compound_id: the compound is not in the household''s grid' USING ERRCODE = 'GS400';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id_hash <> OLD.id_hash OR NEW.id_kid <> OLD.id_kid OR NEW.registered_at <> OLD.registered_at
           OR NEW.registered_by IS DISTINCT FROM OLD.registered_by THEN
            RAISE EXCEPTION 'a household''s identity and registration do not change' USING ERRCODE = 'GS400';
        END IF;
        NEW.personal_rev := OLD.personal_rev
            + CASE WHEN (NEW.head_name, NEW.building, NEW.contact, NEW.elderly_alone, NEW.disabled_member,
                         NEW.low_income, NEW.infant, NEW.chronic_illness)
                        IS DISTINCT FROM
                        (OLD.head_name, OLD.building, OLD.contact, OLD.elderly_alone, OLD.disabled_member,
                         OLD.low_income, OLD.infant, OLD.chronic_illness) THEN 1 ELSE 0 END;
        NEW.updated_at := now();
    ELSE
        NEW.personal_rev := 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER households_check BEFORE INSERT OR UPDATE ON households
    FOR EACH ROW EXECUTE FUNCTION households_check();

-- The grid is where the last move took the household (checked at commit).
CREATE FUNCTION households_grid_follows_moves() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.grid_id IS DISTINCT FROM (SELECT to_grid_id FROM household_moves
                                      WHERE household_id = NEW.id ORDER BY id DESC LIMIT 1) THEN
        RAISE EXCEPTION 'household %: its grid changes only by a move', NEW.id USING ERRCODE = 'GS400';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER households_grid_follows_moves AFTER INSERT OR UPDATE ON households
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION households_grid_follows_moves();

-- Audit capture without the personal columns (040's entries, same shape).
CREATE FUNCTION households_audit_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    personal text[] := ARRAY['head_name', 'building', 'contact', 'elderly_alone', 'disabled_member',
                             'low_income', 'infant', 'chronic_illness', 'id_hash', 'id_kid'];
    olds jsonb;
    news jsonb;
    e jsonb;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        SELECT jsonb_agg(to_jsonb(x) - personal) INTO news FROM audit_new x;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        SELECT jsonb_agg(to_jsonb(x) - personal) INTO olds FROM audit_old x;
    END IF;
    IF olds IS NULL AND news IS NULL THEN
        RETURN NULL;
    END IF;
    e := audit_capture_entries(TG_TABLE_NAME, TG_OP, ARRAY['id'], true, coalesce(olds, '[]'),
                               coalesce(news, '[]'));
    IF e IS NOT NULL AND e <> '[]'::jsonb THEN
        PERFORM audit_note(e);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER households_audit_ins AFTER INSERT ON households REFERENCING NEW TABLE AS audit_new
    FOR EACH STATEMENT EXECUTE FUNCTION households_audit_capture();
CREATE TRIGGER households_audit_upd AFTER UPDATE ON households
    REFERENCING OLD TABLE AS audit_old NEW TABLE AS audit_new
    FOR EACH STATEMENT EXECUTE FUNCTION households_audit_capture();
CREATE TRIGGER households_audit_del AFTER DELETE ON households REFERENCING OLD TABLE AS audit_old
    FOR EACH STATEMENT EXECUTE FUNCTION households_audit_capture();
-- moves carry no personal data: the ordinary capture
SELECT audit_capture_attach('household_moves');

-- A grid of the district of p_scope, in p_scope when p_in_scope: GS404 otherwise (out of
-- scope is not found, exactly like missing).
CREATE FUNCTION household_grid(p_scope ltree, p_grid bigint, p_in_scope boolean, p_field text)
RETURNS ltree LANGUAGE plpgsql STABLE AS $$
DECLARE
    g record;
BEGIN
    SELECT kind, path, code INTO g FROM org_units WHERE id = p_grid;
    IF NOT FOUND OR NOT g.path <@ subpath(p_scope, 0, 1) OR (p_in_scope AND NOT g.path <@ p_scope) THEN
        PERFORM stock_fail('GS404', '%s: grid %s not found', p_field, p_grid::text);
    END IF;
    IF g.kind <> 'grid' THEN
        PERFORM stock_fail('GS400', '%s: %s is a %s, not a grid', p_field, g.code, g.kind);
    END IF;
    RETURN g.path;
END $$;

-- Registers a household in grid p_grid (within p_scope) under the identity hash p_hash.
-- A head already registered: ALREADY_EXISTS; the household is named only when it lies in
-- the caller's scope (elsewhere in the district the caller learns no more than that).
CREATE FUNCTION household_register(
    p_scope ltree, p_grid bigint, p_head text, p_members integer, p_compound bigint, p_building text,
    p_contact text, p_elderly_alone boolean, p_disabled boolean, p_low_income boolean, p_infant boolean,
    p_chronic boolean, p_hash text, p_kid text, p_actor bigint, p_request_id text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    hid bigint;
    other record;
BEGIN
    PERFORM household_grid(p_scope, p_grid, true, 'grid_id');
    INSERT INTO households (grid_id, head_name, members, compound_id, building, contact, elderly_alone,
                            disabled_member, low_income, infant, chronic_illness, id_hash, id_kid,
                            registered_by)
    VALUES (p_grid, p_head, p_members, nullif(p_compound, 0), coalesce(p_building, ''),
            coalesce(p_contact, ''), p_elderly_alone, p_disabled, p_low_income, p_infant, p_chronic,
            p_hash, p_kid, p_actor)
    ON CONFLICT ON CONSTRAINT households_id_hash_key DO NOTHING
    RETURNING id INTO hid;
    IF hid IS NULL THEN
        SELECT h.id, ou.path INTO other FROM households h JOIN org_units ou ON ou.id = h.grid_id
         WHERE h.id_hash = p_hash;
        IF other.path <@ p_scope THEN
            PERFORM stock_fail('23505', 'id_number: this head of household is already registered as household %s',
                               other.id::text);
        END IF;
        PERFORM stock_fail('23505', 'id_number: this head of household is already registered in the district');
    END IF;
    INSERT INTO household_moves (household_id, from_grid_id, to_grid_id, reason, moved_by, request_id)
    VALUES (hid, NULL, p_grid, 'registered', p_actor, coalesce(p_request_id, ''));
    RETURN hid;
END $$;

-- The household p_id, locked, when its grid lies in p_scope; GS404 otherwise.
CREATE FUNCTION household_in_scope(p_scope ltree, p_id bigint) RETURNS households
LANGUAGE plpgsql AS $$
DECLARE
    h households;
BEGIN
    SELECT x.* INTO h FROM households x JOIN org_units ou ON ou.id = x.grid_id
     WHERE x.id = p_id AND ou.path <@ p_scope FOR UPDATE OF x;
    IF NOT FOUND THEN
        PERFORM stock_fail('GS404', 'household %s not found', p_id::text);
    END IF;
    RETURN h;
END $$;

-- Moves household p_id (in p_scope) to grid p_to anywhere in the district, with its new
-- compound and building: one row of household_moves. The caller may no longer see it
-- afterwards when p_to lies outside their scope.
CREATE FUNCTION household_move(p_scope ltree, p_id bigint, p_to bigint, p_compound bigint,
    p_building text, p_reason text, p_actor bigint, p_request_id text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    h households;
    mid bigint;
BEGIN
    h := household_in_scope(p_scope, p_id);
    PERFORM household_grid(p_scope, p_to, false, 'to_grid_id');
    IF h.grid_id = p_to THEN
        PERFORM stock_fail('GS409', 'household %s already lives in grid %s', p_id::text, p_to::text);
    END IF;
    INSERT INTO household_moves (household_id, from_grid_id, to_grid_id, reason, moved_by, request_id)
    VALUES (p_id, h.grid_id, p_to, coalesce(p_reason, ''), p_actor, coalesce(p_request_id, ''))
    RETURNING id INTO mid;
    UPDATE households SET grid_id = p_to, compound_id = nullif(p_compound, 0),
                          building = coalesce(p_building, '')
     WHERE id = p_id;
    RETURN mid;
END $$;

INSERT INTO error_reasons (fmt, reason, arg_keys) VALUES
    ('id_number: this head of household is already registered as household %s', 'HOUSEHOLD_REGISTERED',
     '{household}'),
    ('id_number: this head of household is already registered in the district', 'HOUSEHOLD_REGISTERED', '{}'),
    ('household %s already lives in grid %s', 'WRONG_STATE', '{household,grid}');
