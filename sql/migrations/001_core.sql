-- 001_core.sql — directory (org units, compounds, users), sites, catalog, and the two
-- tables every mutating call writes: request_log (exactly-once) and audit_log.
-- Applied by `gridstockd migrate` inside one transaction under an advisory lock.

CREATE EXTENSION IF NOT EXISTS ltree;
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;

-- Raises on UPDATE/DELETE: attached to every append-only table.
CREATE FUNCTION gs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- ---------------------------------------------------------------- org units
CREATE TABLE org_units (
    id         bigserial PRIMARY KEY,
    code       text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9._-]{1,64}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind       text NOT NULL CHECK (kind IN ('district', 'street', 'community', 'grid', 'building')),
    parent_id  bigint REFERENCES org_units(id),
    path       ltree NOT NULL UNIQUE,
    residents  integer NOT NULL DEFAULT 0 CHECK (residents >= 0),
    area_km2   numeric(10,3) NOT NULL DEFAULT 0 CHECK (area_km2 >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'district') = (parent_id IS NULL))
);
CREATE INDEX org_units_path_gist ON org_units USING gist (path);
CREATE INDEX org_units_parent ON org_units (parent_id);

-- The kind of a child must be one level below its parent's; path = parent.path || id.
CREATE FUNCTION org_units_set_path() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p org_units%ROWTYPE;
    levels text[] := ARRAY['district', 'street', 'community', 'grid', 'building'];
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.parent_id IS DISTINCT FROM OLD.parent_id OR NEW.kind <> OLD.kind) THEN
        RAISE EXCEPTION 'org unit % cannot change parent or kind', OLD.code USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.parent_id IS NULL THEN
        NEW.path := text2ltree(NEW.id::text);
    ELSE
        SELECT * INTO p FROM org_units WHERE id = NEW.parent_id;
        IF array_position(levels, NEW.kind) <> array_position(levels, p.kind) + 1 THEN
            RAISE EXCEPTION 'a % cannot be placed under a %', NEW.kind, p.kind USING ERRCODE = 'check_violation';
        END IF;
        NEW.path := p.path || text2ltree(NEW.id::text);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER org_units_path BEFORE INSERT OR UPDATE ON org_units
    FOR EACH ROW EXECUTE FUNCTION org_units_set_path();

-- ---------------------------------------------------------------- compounds
CREATE TABLE compounds (
    id                 bigserial PRIMARY KEY,
    code               text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9._-]{1,64}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    org_unit_id        bigint NOT NULL REFERENCES org_units(id),
    address            text NOT NULL DEFAULT '',
    buildings          integer NOT NULL DEFAULT 0 CHECK (buildings >= 0),
    households         integer NOT NULL DEFAULT 0 CHECK (households >= 0),
    no_property_mgmt   boolean NOT NULL DEFAULT false,
    no_competent_dept  boolean NOT NULL DEFAULT false,
    no_civil_defence   boolean NOT NULL DEFAULT false,
    three_no           boolean GENERATED ALWAYS AS (no_property_mgmt AND no_competent_dept AND no_civil_defence) STORED
);
CREATE INDEX compounds_org_unit ON compounds (org_unit_id);

-- ---------------------------------------------------------------- users
CREATE TABLE users (
    id                 bigserial PRIMARY KEY,
    login              text NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9._-]{1,64}$'),
    display_name       text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role               text NOT NULL CHECK (role IN ('admin', 'logistics_officer', 'community_staff',
                           'finance_officer', 'finance_approver', 'point_leader', 'auditor', 'service')),
    scope_id           bigint NOT NULL REFERENCES org_units(id),
    phone              text NOT NULL DEFAULT '',
    active             boolean NOT NULL DEFAULT true,
    -- tokens issued before this instant are refused (revocation)
    tokens_valid_after timestamptz NOT NULL DEFAULT '-infinity',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- sites
CREATE TABLE sites (
    id             bigserial PRIMARY KEY,
    code           text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9._-]{1,64}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind           text NOT NULL CHECK (kind IN ('reserve_point', 'charity_station', 'supplier_market')),
    org_unit_id    bigint NOT NULL REFERENCES org_units(id),
    address        text NOT NULL DEFAULT '',
    lat            double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon            double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    capacity_m3    integer NOT NULL DEFAULT 0 CHECK (capacity_m3 >= 0),
    contact_name   text NOT NULL DEFAULT '',
    contact_phone  text NOT NULL DEFAULT '',
    opening_hours  text NOT NULL DEFAULT '',
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_org_unit ON sites (org_unit_id);
CREATE INDEX sites_earth ON sites USING gist (ll_to_earth(lat, lon));

-- ---------------------------------------------------------------- catalog
CREATE TABLE items (
    id               bigserial PRIMARY KEY,
    code             text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9._-]{1,64}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    category         text NOT NULL CHECK (category IN ('water', 'food', 'medicine', 'hygiene',
                         'protection', 'shelter', 'tools', 'power', 'other')),
    unit             text NOT NULL CHECK (length(unit) BETWEEN 1 AND 32),
    shelf_life_days  integer CHECK (shelf_life_days IS NULL OR shelf_life_days > 0),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_name_lower ON items (lower(name));
CREATE INDEX items_category ON items (category);

-- Per site and item: restock when available < reorder_point, up to par_level.
CREATE TABLE site_items (
    site_id        bigint NOT NULL REFERENCES sites(id),
    item_id        bigint NOT NULL REFERENCES items(id),
    reorder_point  bigint NOT NULL CHECK (reorder_point >= 0),
    par_level      bigint NOT NULL CHECK (par_level >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, item_id),
    CHECK (par_level >= reorder_point)
);

-- ---------------------------------------------------------------- exactly-once
-- One row per (user, request id) of a mutating call, written in the call's transaction.
CREATE TABLE request_log (
    user_id       bigint NOT NULL,
    request_id    text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 128),
    method        text NOT NULL,
    request_hash  bytea NOT NULL,
    status        integer,
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, request_id)
);
CREATE INDEX request_log_created ON request_log (created_at);

-- ---------------------------------------------------------------- audit
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    user_id     bigint NOT NULL,
    login       text NOT NULL,
    role        text NOT NULL,
    method      text NOT NULL,
    object      text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    summary     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_object ON audit_log (object);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION gs_append_only();
