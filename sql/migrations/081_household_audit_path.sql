-- 081_household_audit_path.sql — household audit rows are filed under the household's
-- grid (issue 19), not under the acting user's scope: an auditor of that grid sees them,
-- auditors and staff of other grids do not.
--
-- audit_log_fill() (040) derives scope_path from the row's object with audit_object_path(),
-- which does not know 'household:N' and falls back to the actor's scope. Rather than
-- redefine that shared function, this trigger refines the path for household rows only.
-- It must run after audit_log_fill: PostgreSQL fires BEFORE ROW triggers of one event in
-- the order of their names, and 'audit_log_household_path' sorts after 'audit_log_fill'.
--
-- A move concerns two grids: its row is filed under their lowest common ancestor (the
-- community or street over both), so it is never visible to the auditor of one grid
-- only. Every other household row: the grid the household lives in after the change.
-- Rows written before this migration keep the actor's scope (audit rows never change).

CREATE FUNCTION audit_log_household_path() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rest text := substr(NEW.object, length('household:') + 1);
    hid bigint;
    p ltree;
BEGIN
    IF rest !~ '^[0-9]{1,18}$' THEN
        RETURN NEW;
    END IF;
    hid := rest::bigint;
    -- a move made by this request, in this transaction
    SELECT lca(f.path, t.path) INTO p
      FROM household_moves m JOIN org_units f ON f.id = m.from_grid_id JOIN org_units t ON t.id = m.to_grid_id
     WHERE m.household_id = hid AND m.moved_at = now() AND m.request_id = NEW.request_id
       AND NEW.request_id <> ''
     ORDER BY m.id DESC LIMIT 1;
    IF p IS NULL THEN
        SELECT g.path INTO p FROM households h JOIN org_units g ON g.id = h.grid_id WHERE h.id = hid;
    END IF;
    IF p IS NOT NULL THEN
        NEW.scope_path := p;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_log_household_path BEFORE INSERT ON audit_log FOR EACH ROW
    WHEN (NEW.object LIKE 'household:%') EXECUTE FUNCTION audit_log_household_path();
