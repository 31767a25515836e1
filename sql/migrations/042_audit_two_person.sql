-- 042_audit_two_person.sql — the objects of the two-person flows (026, 032) in the audit
-- trail: their changes are captured like every other object's (040's capture triggers),
-- and a fund movement's audit rows are filed under its account's org unit, so a
-- street-scoped auditor sees them.
SELECT audit_capture_attach(t::regclass)
  FROM unnest(ARRAY['fund_movements', 'emergency_activations', 'emergency_proposals']) t;

CREATE OR REPLACE FUNCTION audit_object_path(p_object text, p_user bigint) RETURNS ltree
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
        ELSIF kind = 'fund_movement' THEN  -- the source's unit; a reversal: its first item's account
            SELECT ou.path INTO opath FROM fund_movements m
              JOIN fund_accounts a ON a.id = coalesce(m.source_account_id,
                  (SELECT i.account_id FROM fund_movement_items i WHERE i.movement_id = m.id ORDER BY i.line_no LIMIT 1))
              JOIN org_units ou ON ou.id = a.org_unit_id WHERE m.id = oid_;
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
