-- 080_site_earth_restorable.sql — the nearest-site index rebuilt on a wrapper that a plain
-- pg_restore can evaluate. PostgreSQL 15's earthdistance ll_to_earth() is an SQL function
-- whose body names cube() and earth() without a schema; pg_restore runs with an empty
-- search_path, so building sites_earth (001) on ll_to_earth(lat, lon) failed there and only
-- scripts/restore (which rewrites the search_path) could restore a dump. site_earth() pins
-- its own search_path (a function with SET is never inlined, so the body always runs with
-- it); the index and the queries that use it (NearestSites) say site_earth(lat, lon).
CREATE OR REPLACE FUNCTION site_earth(lat float8, lon float8) RETURNS earth
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = public, pg_catalog
    AS $$ SELECT ll_to_earth(lat, lon) $$;

DROP INDEX IF EXISTS sites_earth;
CREATE INDEX sites_earth ON sites USING gist (site_earth(lat, lon));
