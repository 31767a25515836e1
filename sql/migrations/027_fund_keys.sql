-- 027_fund_keys.sql — keys no caller can squat (issue 14). The "programme:" namespace of
-- disbursement external keys belongs to programme runs (which insert their disbursements
-- themselves, 021); fund_disbursement_prepare, the path of caller-prepared disbursements,
-- refuses it. A key already taken resolves only after the scope checks, and only to a
-- disbursement the caller can see: out of scope it is "not found", never an id. Payee codes
-- "P-<LOGIN>" belong to the grid leaders' accounts that runs open: an account with such a
-- code must be a payee tied to its user (fund_payee_users) by the end of the transaction.

CREATE OR REPLACE FUNCTION fund_disbursement_prepare(p_user bigint, p_scope ltree, p_fund bigint, p_payee bigint,
    p_category text, p_amount bigint, p_purpose text, p_period text, p_key text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d fund_disbursements;
    f fund_accounts;
BEGIN
    IF p_key LIKE 'programme:%' THEN
        RAISE EXCEPTION 'external_key: the "programme:" prefix is reserved for programme runs'
            USING ERRCODE = 'GS400';
    END IF;
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'amount: must be positive, got %', p_amount USING ERRCODE = 'GS400';
    END IF;
    PERFORM fund_period_bounds(p_period);
    f := fund_account_use(p_fund, 'grid_fund', p_scope);
    PERFORM fund_payee(p_payee, p_scope);
    IF p_key IS NOT NULL THEN
        SELECT x.* INTO d FROM fund_disbursements x WHERE x.external_key = p_key;
        IF FOUND THEN
            IF NOT EXISTS (SELECT 1 FROM fund_accounts a JOIN org_units ou ON ou.id = a.org_unit_id
                            WHERE a.id = d.fund_account_id AND ou.path <@ p_scope) THEN
                RAISE EXCEPTION 'external_key: no disbursement of yours has this key, and it cannot be used'
                    USING ERRCODE = 'GS404';
            END IF;
            RETURN d.id;
        END IF;
    END IF;
    INSERT INTO fund_disbursements (fund_account_id, payee_account_id, category, amount, purpose,
                                    period, external_key, preparer_id)
    VALUES (f.id, p_payee, p_category, p_amount, p_purpose, p_period, p_key, p_user)
    ON CONFLICT (external_key) DO NOTHING
    RETURNING * INTO d;
    IF NOT FOUND THEN  -- a concurrent call with the same key won: resolve it as above
        RETURN fund_disbursement_prepare(p_user, p_scope, p_fund, p_payee, p_category, p_amount, p_purpose,
                                         p_period, p_key);
    END IF;
    PERFORM fund_disbursement_precheck(d);
    RETURN d.id;
END $$;

CREATE FUNCTION fund_accounts_person_code() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.code LIKE 'P-%' AND (NEW.kind <> 'payee' OR NOT EXISTS (
            SELECT 1 FROM fund_payee_users pu JOIN users u ON u.id = pu.user_id
             WHERE pu.account_id = NEW.id AND 'P-' || upper(u.login) = NEW.code)) THEN
        RAISE EXCEPTION 'code: "P-" is reserved for the payee accounts of grid leaders that programme runs open'
            USING ERRCODE = 'GS400';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER fund_accounts_person_code AFTER INSERT ON fund_accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fund_accounts_person_code();
