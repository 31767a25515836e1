-- 082_household_key_rotation.sql — the household key can be rotated (issue 19).
--
-- A household's identity hash is HMAC(key, ID number) under the key that was first in the
-- servers' household keyring when it was registered (households.id_kid names it). A hash
-- cannot be re-keyed without the number, which is never kept, so older keys stay in the
-- keyring (after the first) and every registration is checked under all of them: the
-- server sends the number's hash under each key it holds, and a head whose household was
-- registered under any of those keys is a duplicate. Only the first key's hash is stored.
--
-- Races: households_id_hash_key catches two registrations under the same first key. Two
-- servers whose first keys differ (the middle of a rotation) share at least one key when
-- the rotation is done as docs/operations.md says; each registration takes a transaction
-- advisory lock on every hash it carries (in order, so no deadlock), so two registrations
-- of one head serialise on the shared key's hash and the second sees the first.

-- Registers a household like household_register (070), refusing a head already
-- registered under any of p_hashes (the number's hash under every key the server holds,
-- p_hash among them).
CREATE FUNCTION household_register_keyed(
    p_scope ltree, p_grid bigint, p_head text, p_members integer, p_compound bigint, p_building text,
    p_contact text, p_elderly_alone boolean, p_disabled boolean, p_low_income boolean, p_infant boolean,
    p_chronic boolean, p_hash text, p_kid text, p_hashes text[], p_actor bigint, p_request_id text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    other record;
BEGIN
    IF NOT p_hash = ANY(p_hashes) OR EXISTS (SELECT 1 FROM unnest(p_hashes) h WHERE h !~ '^[0-9a-f]{64}$') THEN
        RAISE EXCEPTION 'household_register_keyed: the hashes must be 64 hex digits and include the stored one'
            USING ERRCODE = 'GS400';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('household id ' || h, 0))
       FROM (SELECT DISTINCT h FROM unnest(p_hashes) h ORDER BY h) x;
    SELECT h.id, ou.path INTO other FROM households h JOIN org_units ou ON ou.id = h.grid_id
     WHERE h.id_hash = ANY(p_hashes) ORDER BY h.id LIMIT 1;
    IF FOUND THEN
        PERFORM household_grid(p_scope, p_grid, true, 'grid_id');  -- an unknown grid first
        IF other.path <@ p_scope THEN
            PERFORM stock_fail('23505', 'id_number: this head of household is already registered as household %s',
                               other.id::text);
        END IF;
        PERFORM stock_fail('23505', 'id_number: this head of household is already registered in the district');
    END IF;
    RETURN household_register(p_scope, p_grid, p_head, p_members, p_compound, p_building, p_contact,
                              p_elderly_alone, p_disabled, p_low_income, p_infant, p_chronic, p_hash, p_kid,
                              p_actor, p_request_id);
END $$;
