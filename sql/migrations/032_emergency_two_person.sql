-- 032_emergency_two_person.sql — emergency mode by two people, for one's own area, for a
-- limited time (issue 14). One eligible person proposes switching a community, street or
-- district on or off, or extending a running activation; a second eligible person confirms
-- (never the proposer: a CHECK). An activation carries its end time and is switched off by
-- emergency_expire (run by every server) when it passes; extending takes the activation's
-- same two people. Emergency requisitions are approved by the activation's rule (its id,
-- proposer and confirmer recorded on the requisition and its history), never by the
-- requester, and draw only on sites inside the nearest active area containing their unit.
-- Caps are set by a role that cannot raise requisitions.
--
-- "Eligible" for an area: an active user whose role holds the emergency permission
-- (auth.c: admin, point_leader) and whose scope subtree contains the area.

-- ---------------------------------------------------------------- switches by the server
-- An expiry is the server's switch: no user.
ALTER TABLE emergency_modes ALTER COLUMN switched_by DROP NOT NULL;
ALTER TABLE emergency_mode_log ALTER COLUMN switched_by DROP NOT NULL;

CREATE OR REPLACE FUNCTION emergency_modes_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT kind FROM org_units WHERE id = NEW.org_unit_id) NOT IN ('district', 'street', 'community') THEN
        RAISE EXCEPTION 'org_unit_id: emergency mode is switched for a district, street or community'
            USING ERRCODE = 'GS400';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION emergency_eligible(p_user bigint, p_unit bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM users u JOIN org_units s ON s.id = u.scope_id
                     JOIN org_units a ON a.id = p_unit AND a.path <@ s.path
                    WHERE u.id = p_user AND u.active AND u.role IN ('admin', 'point_leader'))
$$;

-- ---------------------------------------------------------------- proposals and activations
CREATE TABLE emergency_activations (
    id            bigserial PRIMARY KEY,
    org_unit_id   bigint NOT NULL REFERENCES org_units(id),
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    proposed_by   bigint NOT NULL REFERENCES users(id),
    confirmed_by  bigint NOT NULL REFERENCES users(id),
    started_at    timestamptz NOT NULL DEFAULT now(),
    ends_at       timestamptz NOT NULL,
    extensions    integer NOT NULL DEFAULT 0 CHECK (extensions >= 0),
    ended_at      timestamptz,
    -- 'switched_off' (by a confirmed proposal) | 'expired' (by emergency_expire)
    ended_how     text CHECK (ended_how IN ('switched_off', 'expired')),
    ended_by      bigint REFERENCES users(id),  -- the confirmer of the switch-off
    CONSTRAINT emergency_activations_two_people CHECK (confirmed_by <> proposed_by),
    CONSTRAINT emergency_activations_ends_later CHECK (ends_at > started_at),
    CONSTRAINT emergency_activations_ended CHECK ((ended_at IS NULL) = (ended_how IS NULL)
                                                  AND (ended_by IS NULL OR ended_how = 'switched_off'))
);
-- one running activation per unit
CREATE UNIQUE INDEX emergency_activations_live ON emergency_activations (org_unit_id) WHERE ended_at IS NULL;
CREATE INDEX emergency_activations_ends ON emergency_activations (ends_at) WHERE ended_at IS NULL;

CREATE TABLE emergency_proposals (
    id            bigserial PRIMARY KEY,
    org_unit_id   bigint NOT NULL REFERENCES org_units(id),
    action        text NOT NULL CHECK (action IN ('on', 'off', 'extend')),
    activation_id bigint REFERENCES emergency_activations(id),  -- off, extend: the running one
    hours         integer CHECK (hours BETWEEN 1 AND 720),      -- on: duration; extend: added
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    proposed_by   bigint NOT NULL REFERENCES users(id),
    proposed_at   timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,  -- unconfirmed after this: lapsed
    confirmed_by  bigint REFERENCES users(id),
    confirmed_at  timestamptz,
    result_activation_id bigint REFERENCES emergency_activations(id),
    CONSTRAINT emergency_proposals_two_people CHECK (confirmed_by IS NULL OR confirmed_by <> proposed_by),
    CONSTRAINT emergency_proposals_confirmed CHECK ((confirmed_by IS NULL) = (confirmed_at IS NULL)),
    CONSTRAINT emergency_proposals_target CHECK ((action = 'on') = (activation_id IS NULL)),
    CONSTRAINT emergency_proposals_hours CHECK ((action = 'off') = (hours IS NULL))
);
CREATE INDEX emergency_proposals_open ON emergency_proposals (org_unit_id) WHERE confirmed_by IS NULL;

-- The database's own guard: both people eligible for the area, extensions by the
-- activation's same two people, a confirmation only once.
CREATE FUNCTION emergency_proposals_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a emergency_activations;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.confirmed_by IS NOT NULL THEN
            RAISE EXCEPTION 'a proposal is confirmed by a second person, not made confirmed' USING ERRCODE = 'GS403';
        END IF;
        IF NOT emergency_eligible(NEW.proposed_by, NEW.org_unit_id) THEN
            RAISE EXCEPTION 'org_unit_id: not found' USING ERRCODE = 'GS404';
        END IF;
    ELSE
        IF NEW.id <> OLD.id OR NEW.org_unit_id <> OLD.org_unit_id OR NEW.action <> OLD.action
           OR NEW.activation_id IS DISTINCT FROM OLD.activation_id OR NEW.hours IS DISTINCT FROM OLD.hours
           OR NEW.reason <> OLD.reason OR NEW.proposed_by <> OLD.proposed_by OR NEW.proposed_at <> OLD.proposed_at
           OR NEW.expires_at <> OLD.expires_at
           OR (OLD.confirmed_by IS NOT NULL AND (NEW.confirmed_by IS DISTINCT FROM OLD.confirmed_by
                                                 OR NEW.confirmed_at IS DISTINCT FROM OLD.confirmed_at))
           OR (OLD.result_activation_id IS NOT NULL
               AND NEW.result_activation_id IS DISTINCT FROM OLD.result_activation_id) THEN
            RAISE EXCEPTION 'emergency proposal %: only its confirmation is ever recorded, once', OLD.id
                USING ERRCODE = 'GS409';
        END IF;
        IF NEW.confirmed_by IS NOT NULL AND NOT emergency_eligible(NEW.confirmed_by, NEW.org_unit_id) THEN
            RAISE EXCEPTION 'emergency proposal %: the confirmer is not eligible for the area', OLD.id
                USING ERRCODE = 'GS403';
        END IF;
    END IF;
    IF NEW.action = 'extend' THEN
        SELECT * INTO a FROM emergency_activations WHERE id = NEW.activation_id;
        IF NEW.proposed_by NOT IN (a.proposed_by, a.confirmed_by)
           OR (NEW.confirmed_by IS NOT NULL AND NEW.confirmed_by NOT IN (a.proposed_by, a.confirmed_by)) THEN
            RAISE EXCEPTION 'an extension of emergency activation % takes the same two people who switched it on', a.id
                USING ERRCODE = 'GS403';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER emergency_proposals_guard BEFORE INSERT OR UPDATE ON emergency_proposals
    FOR EACH ROW EXECUTE FUNCTION emergency_proposals_guard();

CREATE FUNCTION emergency_activations_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT emergency_eligible(NEW.proposed_by, NEW.org_unit_id)
           OR NOT emergency_eligible(NEW.confirmed_by, NEW.org_unit_id) THEN
            RAISE EXCEPTION 'emergency mode in unit %: both people must be eligible for the area', NEW.org_unit_id
                USING ERRCODE = 'GS403';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM emergency_proposals p WHERE p.action = 'on' AND p.org_unit_id = NEW.org_unit_id
                         AND p.proposed_by = NEW.proposed_by AND p.confirmed_by = NEW.confirmed_by
                         AND p.result_activation_id IS NULL) THEN
            RAISE EXCEPTION 'emergency mode is switched on by a confirmed proposal' USING ERRCODE = 'GS403';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.org_unit_id <> OLD.org_unit_id OR NEW.proposed_by <> OLD.proposed_by
       OR NEW.confirmed_by <> OLD.confirmed_by OR NEW.started_at <> OLD.started_at OR NEW.reason <> OLD.reason
       OR OLD.ended_at IS NOT NULL THEN
        RAISE EXCEPTION 'emergency activation %: only its end time and its end change', OLD.id USING ERRCODE = 'GS409';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER emergency_activations_guard BEFORE INSERT OR UPDATE ON emergency_activations
    FOR EACH ROW EXECUTE FUNCTION emergency_activations_guard();

-- Every activation, extension and end keeps emergency_modes (and so emergency_mode_log)
-- current and is announced on the requisitions' watch channel (kind "emergency").
CREATE FUNCTION emergency_activations_record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    u record;
    ev text;
    actor bigint;
    note text;
BEGIN
    SELECT code, path::text AS path INTO u FROM org_units WHERE id = NEW.org_unit_id;
    IF TG_OP = 'INSERT' THEN
        ev := 'on';
        actor := NEW.confirmed_by;
        note := NEW.reason;
        INSERT INTO emergency_modes (org_unit_id, active, reason, switched_by)
        VALUES (NEW.org_unit_id, true, NEW.reason, NEW.confirmed_by)
        ON CONFLICT (org_unit_id) DO UPDATE SET active = true, reason = EXCLUDED.reason,
            switched_by = EXCLUDED.switched_by, switched_at = now();
    ELSIF NEW.ended_at IS NOT NULL THEN
        ev := 'off';
        actor := NEW.ended_by;
        note := CASE WHEN NEW.ended_how = 'expired'
                     THEN format('activation %s ended at its end time', NEW.id)
                     ELSE format('activation %s switched off', NEW.id) END;
        UPDATE emergency_modes SET active = false, reason = left(note, 500), switched_by = NEW.ended_by,
               switched_at = now()
         WHERE org_unit_id = NEW.org_unit_id;
    ELSIF NEW.ends_at <> OLD.ends_at THEN
        -- an extension; shortened only by a change made in the database
        ev := CASE WHEN NEW.ends_at > OLD.ends_at THEN 'extended' ELSE 'shortened' END;
        note := format('activation %s %s to %s', NEW.id, ev,
                       to_char(NEW.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
    ELSE
        RETURN NULL;
    END IF;
    PERFORM pg_notify('gs_requisitions', json_build_object(
        'kind', 'emergency', 'id', NEW.id, 'number', '', 'org_unit_id', NEW.org_unit_id,
        'org_unit_code', u.code, 'path', u.path, 'priority', 'emergency',
        'from', CASE WHEN ev = 'on' THEN 'off' ELSE 'on' END, 'to', ev,
        'actor', coalesce((SELECT login FROM users WHERE id = actor), ''),
        'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'comment', left(note, 500))::text);
    RETURN NULL;
END $$;
CREATE TRIGGER emergency_activations_record AFTER INSERT OR UPDATE ON emergency_activations
    FOR EACH ROW EXECUTE FUNCTION emergency_activations_record();

-- Ends activation p_id (locked by the caller) as expired, with an audit row by the system.
CREATE FUNCTION emergency_end_expired(p_id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    a record;
BEGIN
    UPDATE emergency_activations SET ended_at = now(), ended_how = 'expired'
     WHERE id = p_id AND ended_at IS NULL
    RETURNING emergency_activations.*, (SELECT code FROM org_units WHERE id = org_unit_id) AS code INTO a;
    IF FOUND THEN
        INSERT INTO audit_log (user_id, login, role, method, object, summary)
        VALUES (0, 'system', 'system', 'emergency_expire', 'emergency_mode:' || a.code,
                format('emergency mode off in %s: activation %s ended at its end time %s', a.code, a.id,
                       to_char(a.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')));
    END IF;
END $$;

-- Switches off every activation whose end time has passed. Run by every server's monitor:
-- SKIP LOCKED and the re-check under the row lock make each end happen once, and an
-- extension confirmed first (holding the row) wins. Returns how many ended.
CREATE FUNCTION emergency_expire(p_limit integer DEFAULT 100) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN SELECT id FROM emergency_activations WHERE ended_at IS NULL AND ends_at <= now()
              ORDER BY ends_at LIMIT p_limit FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM emergency_end_expired(r.id);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Records a proposal by p_actor for unit p_unit. p_hours: 'on' the duration (0: 72 h),
-- 'extend' the hours added; at most p_max_hours from now either way. Returns its id.
CREATE FUNCTION emergency_propose(p_actor bigint, p_unit bigint, p_action text, p_hours integer,
                                  p_reason text, p_max_hours integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    a emergency_activations;
    h integer := p_hours;
    id bigint;
BEGIN
    SELECT ou.kind INTO kind FROM org_units ou WHERE ou.id = p_unit;
    IF kind NOT IN ('district', 'street', 'community') THEN
        RAISE EXCEPTION 'org_unit_id: emergency mode is switched for a district, street or community, not a %', kind
            USING ERRCODE = 'GS400';
    END IF;
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'reason: required' USING ERRCODE = 'GS400';
    END IF;
    SELECT * INTO a FROM emergency_activations WHERE org_unit_id = p_unit AND ended_at IS NULL AND ends_at > now();
    IF p_action = 'on' THEN
        IF a.id IS NOT NULL THEN
            RAISE EXCEPTION 'emergency mode is already on there (activation %, until %)', a.id,
                to_char(a.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') USING ERRCODE = 'GS409';
        END IF;
        h := CASE WHEN coalesce(p_hours, 0) = 0 THEN least(72, p_max_hours) ELSE p_hours END;
        IF h < 1 OR h > p_max_hours THEN
            RAISE EXCEPTION 'hours: between 1 and % (the configured maximum), got %', p_max_hours, h
                USING ERRCODE = 'GS400';
        END IF;
    ELSIF p_action IN ('off', 'extend') THEN
        IF a.id IS NULL THEN
            RAISE EXCEPTION 'emergency mode is not on there' USING ERRCODE = 'GS409';
        END IF;
        IF p_action = 'off' THEN
            h := NULL;
        ELSE
            IF coalesce(p_hours, 0) < 1 OR a.ends_at + make_interval(hours => p_hours)
                                              > now() + make_interval(hours => p_max_hours) THEN
                RAISE EXCEPTION 'hours: the activation may end at most % hours from now (the configured maximum)',
                    p_max_hours USING ERRCODE = 'GS400';
            END IF;
        END IF;
    ELSE
        RAISE EXCEPTION 'action: "on", "off" or "extend"' USING ERRCODE = 'GS400';
    END IF;
    INSERT INTO emergency_proposals (org_unit_id, action, activation_id, hours, reason, proposed_by, expires_at)
    VALUES (p_unit, p_action, a.id, h, p_reason, p_actor, now() + interval '24 hours')
    RETURNING emergency_proposals.id INTO id;
    RETURN id;
END $$;

-- Confirms proposal p_proposal by p_actor (within p_scope) and makes it take effect. Locks
-- the proposal, then the unit's running activation: of two confirmations at once the
-- second finds it confirmed (FAILED_PRECONDITION); a confirmation racing the expiry job
-- either ends first (the job then skips or re-checks) or finds the activation ended.
-- Returns the activation id.
CREATE FUNCTION emergency_confirm(p_actor bigint, p_scope ltree, p_proposal bigint, p_max_hours integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    p emergency_proposals;
    a emergency_activations;
    stale record;
    aid bigint;
BEGIN
    SELECT x.* INTO p FROM emergency_proposals x JOIN org_units ou ON ou.id = x.org_unit_id
     WHERE x.id = p_proposal AND ou.path <@ p_scope FOR UPDATE OF x;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'emergency proposal % not found', p_proposal USING ERRCODE = 'GS404';
    END IF;
    IF p.confirmed_by IS NOT NULL THEN
        RAISE EXCEPTION 'emergency proposal % was already confirmed', p.id USING ERRCODE = 'GS409';
    END IF;
    IF p.proposed_by = p_actor THEN
        RAISE EXCEPTION 'emergency proposal %: a second person confirms, not its proposer', p.id
            USING ERRCODE = 'GS403';
    END IF;
    IF p.expires_at <= now() THEN
        RAISE EXCEPTION 'emergency proposal % lapsed unconfirmed at %', p.id,
            to_char(p.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') USING ERRCODE = 'GS409';
    END IF;
    -- one switch of a unit at a time
    PERFORM 1 FROM org_units WHERE id = p.org_unit_id FOR NO KEY UPDATE;
    IF p.action = 'on' THEN
        -- an activation past its end that the job has not switched off yet ends now
        FOR stale IN SELECT id FROM emergency_activations
                      WHERE org_unit_id = p.org_unit_id AND ended_at IS NULL AND ends_at <= now() FOR UPDATE LOOP
            PERFORM emergency_end_expired(stale.id);
        END LOOP;
        IF EXISTS (SELECT 1 FROM emergency_activations WHERE org_unit_id = p.org_unit_id AND ended_at IS NULL) THEN
            RAISE EXCEPTION 'emergency mode is already on there' USING ERRCODE = 'GS409';
        END IF;
        IF p.hours > p_max_hours THEN
            RAISE EXCEPTION 'hours: at most % (the configured maximum)', p_max_hours USING ERRCODE = 'GS400';
        END IF;
        UPDATE emergency_proposals SET confirmed_by = p_actor, confirmed_at = now() WHERE id = p.id;
        INSERT INTO emergency_activations (org_unit_id, reason, proposed_by, confirmed_by, ends_at)
        VALUES (p.org_unit_id, p.reason, p.proposed_by, p_actor, now() + make_interval(hours => p.hours))
        RETURNING id INTO aid;
    ELSE
        SELECT * INTO a FROM emergency_activations WHERE id = p.activation_id FOR UPDATE;
        IF a.ended_at IS NOT NULL OR a.ends_at <= now() THEN
            RAISE EXCEPTION 'emergency activation % has already ended', a.id USING ERRCODE = 'GS409';
        END IF;
        UPDATE emergency_proposals SET confirmed_by = p_actor, confirmed_at = now() WHERE id = p.id;
        IF p.action = 'off' THEN
            UPDATE emergency_activations SET ended_at = now(), ended_how = 'switched_off', ended_by = p_actor
             WHERE id = a.id;
        ELSE
            IF a.ends_at + make_interval(hours => p.hours) > now() + make_interval(hours => p_max_hours) THEN
                RAISE EXCEPTION 'hours: the activation may end at most % hours from now (the configured maximum)',
                    p_max_hours USING ERRCODE = 'GS400';
            END IF;
            UPDATE emergency_activations SET ends_at = ends_at + make_interval(hours => p.hours),
                   extensions = extensions + 1
             WHERE id = a.id;
        END IF;
        aid := a.id;
    END IF;
    UPDATE emergency_proposals SET result_activation_id = aid WHERE id = p.id;
    RETURN aid;
END $$;

-- ---------------------------------------------------------------- caps
-- Caps are set by a role that cannot raise requisitions (auth.c: requisition.create is held
-- by admin, community_staff, point_leader and service); NULL: a change made in the database.
CREATE FUNCTION emergency_caps_setter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT role FROM users WHERE id = NEW.updated_by) IN ('admin', 'community_staff', 'point_leader', 'service') THEN
        RAISE EXCEPTION 'emergency caps are set by a role that cannot raise requisitions' USING ERRCODE = 'GS403';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER emergency_caps_setter BEFORE INSERT OR UPDATE ON emergency_caps
    FOR EACH ROW EXECUTE FUNCTION emergency_caps_setter();

-- ---------------------------------------------------------------- the approving rule
-- The nearest running activation whose area contains a unit (no row when none).
CREATE FUNCTION req_emergency_activation(p_unit bigint)
RETURNS TABLE (activation_id bigint, org_unit_id bigint, code text, path ltree,
               proposed_by bigint, confirmed_by bigint)
LANGUAGE sql STABLE AS $$
    SELECT e.id, a.id, a.code, a.path, e.proposed_by, e.confirmed_by
      FROM org_units u
      JOIN org_units a ON a.path @> u.path
      JOIN emergency_activations e ON e.org_unit_id = a.id AND e.ended_at IS NULL AND e.ends_at > now()
     WHERE u.id = p_unit
     ORDER BY nlevel(a.path) DESC
     LIMIT 1
$$;

CREATE OR REPLACE FUNCTION req_emergency_area(p_unit bigint)
RETURNS TABLE (org_unit_id bigint, code text, path ltree)
LANGUAGE sql STABLE AS $$
    SELECT x.org_unit_id, x.code, x.path FROM req_emergency_activation(p_unit) x
$$;

ALTER TABLE requisitions ADD COLUMN approved_by_activation bigint REFERENCES emergency_activations(id),
    ADD CONSTRAINT requisitions_rule_approval CHECK (approved_by_activation IS NULL
                                                      OR (auto_approved AND approved_by IS NULL));
ALTER TABLE requisition_history ADD COLUMN activation_id bigint REFERENCES emergency_activations(id);

-- As in 030, but an automatic approval names the running activation that approves it and
-- no user (never the requester), and what approved a requisition never changes.
CREATE OR REPLACE FUNCTION requisitions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION 'a requisition starts as a draft, not %', NEW.status USING ERRCODE = 'GS409';
        END IF;
        IF (SELECT kind FROM org_units WHERE id = NEW.org_unit_id) NOT IN ('grid', 'community') THEN
            RAISE EXCEPTION 'org_unit_id: requisitions come from a grid or community' USING ERRCODE = 'GS400';
        END IF;
        IF NEW.auto_approved OR NEW.approved_by_activation IS NOT NULL THEN
            RAISE EXCEPTION 'a requisition starts unapproved' USING ERRCODE = 'GS409';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.number <> OLD.number OR NEW.requester_id <> OLD.requester_id
       OR NEW.org_unit_id <> OLD.org_unit_id THEN
        RAISE EXCEPTION 'requisition %: id, number, requester and unit never change', OLD.number
            USING ERRCODE = 'GS409';
    END IF;
    IF OLD.approved_by_activation IS NOT NULL
       AND NEW.approved_by_activation IS DISTINCT FROM OLD.approved_by_activation THEN
        RAISE EXCEPTION 'requisition %: the rule that approved it never changes', OLD.number USING ERRCODE = 'GS409';
    END IF;
    NEW.updated_at := now();
    IF NEW.status = OLD.status THEN
        IF OLD.status <> 'draft' AND (NEW.priority <> OLD.priority OR NEW.needed_by IS DISTINCT FROM OLD.needed_by
           OR NEW.purpose <> OLD.purpose) THEN
            RAISE EXCEPTION 'requisition % is %: only a draft can be changed', OLD.number, OLD.status
                USING ERRCODE = 'GS409';
        END IF;
        RETURN NEW;
    END IF;
    PERFORM 1 FROM requisition_state_transitions WHERE from_state = OLD.status AND to_state = NEW.status;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'requisition % is %: it cannot become %', OLD.number, OLD.status, NEW.status
            USING ERRCODE = 'GS409';
    END IF;
    -- a transition made without req_transition (e.g. by hand in psql) has no known actor
    IF NEW.status_seq <> OLD.status_seq + 1 THEN
        NEW.status_by := NULL;
        NEW.status_comment := 'changed directly in the database by ' || current_user;
        NEW.status_seq := OLD.status_seq + 1;
    END IF;
    IF NEW.status = 'approved' AND OLD.status = 'submitted' THEN
        IF NEW.auto_approved THEN
            IF NEW.approved_by IS NOT NULL OR NEW.status_by IS NOT NULL OR NEW.approved_by_activation IS NULL
               OR (SELECT kind FROM org_units WHERE id = NEW.org_unit_id) <> 'grid'
               OR NEW.priority <> 'emergency'
               OR NOT EXISTS (SELECT 1 FROM req_emergency_activation(NEW.org_unit_id) x
                               WHERE x.activation_id = NEW.approved_by_activation) THEN
                RAISE EXCEPTION 'requisition %: auto-approval needs an emergency requisition from a grid in emergency mode, approved by the running activation and no user',
                    OLD.number USING ERRCODE = 'GS403';
            END IF;
        ELSIF NEW.approved_by_activation IS NOT NULL THEN
            RAISE EXCEPTION 'requisition %: an activation approves only automatically', OLD.number USING ERRCODE = 'GS403';
        ELSIF NEW.approved_by IS NULL THEN
            RAISE EXCEPTION 'requisition %: approval needs an approver', OLD.number USING ERRCODE = 'GS403';
        ELSIF NEW.approved_by = NEW.requester_id THEN
            RAISE EXCEPTION 'requisition %: the requester cannot approve their own requisition', OLD.number
                USING ERRCODE = 'GS403';
        ELSIF NEW.status_by IS DISTINCT FROM NEW.approved_by THEN
            RAISE EXCEPTION 'requisition %: an approval is recorded by its approver', OLD.number
                USING ERRCODE = 'GS403';
        END IF;
    END IF;
    IF NEW.status IN ('cancelled', 'approved', 'dispatched') AND EXISTS
           (SELECT 1 FROM requisition_allocations WHERE requisition_id = NEW.id AND status = 'reserved') THEN
        RAISE EXCEPTION 'requisition %: reservations must be released or issued before it becomes %',
            OLD.number, NEW.status USING ERRCODE = 'GS409';
    END IF;
    RETURN NEW;
END $$;

-- As in 030, and the approval's history row names the activation whose rule approved it.
CREATE OR REPLACE FUNCTION requisitions_record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ev text;
    from_s text := '';
    u record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        ev := 'created';
        INSERT INTO requisition_history (requisition_id, from_state, to_state, actor_id, comment)
        VALUES (NEW.id, '', NEW.status, NEW.requester_id, NEW.status_comment);
    ELSIF NEW.status <> OLD.status THEN
        ev := 'transition';
        from_s := OLD.status;
        INSERT INTO requisition_history (requisition_id, from_state, to_state, actor_id, comment, activation_id)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_by, NEW.status_comment,
                CASE WHEN NEW.status = 'approved' AND OLD.status = 'submitted' THEN NEW.approved_by_activation END);
        IF NEW.status IN ('closed', 'cancelled') THEN
            UPDATE requisition_backorders SET status = 'closed', updated_at = now()
             WHERE requisition_id = NEW.id AND status = 'open';
        END IF;
    ELSIF OLD.status = 'draft' THEN
        ev := 'updated';
        from_s := OLD.status;
    ELSE
        RETURN NULL;  -- a step inside a transition (approver, quantities): its transition tells
    END IF;
    SELECT ou.code, ou.path::text AS path, coalesce(a.login, '') AS login INTO u
      FROM org_units ou LEFT JOIN users a ON a.id = CASE WHEN TG_OP = 'INSERT' THEN NEW.requester_id ELSE NEW.status_by END
     WHERE ou.id = NEW.org_unit_id;
    PERFORM pg_notify('gs_requisitions', json_build_object(
        'kind', ev, 'id', NEW.id, 'number', NEW.number, 'org_unit_id', NEW.org_unit_id,
        'org_unit_code', u.code, 'path', u.path, 'priority', NEW.priority,
        'from', from_s, 'to', NEW.status, 'actor', CASE WHEN ev = 'updated' THEN '' ELSE u.login END,
        'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'comment', left(CASE WHEN ev = 'updated' THEN '' ELSE NEW.status_comment END, 500))::text);
    RETURN NULL;
END $$;

-- As in 030, but the approval and the allocation are the activation's (recorded with its
-- id, proposer and confirmer, no user as actor), and stock comes only from the sites
-- inside the nearest running activation's area that contains the requisition's grid.
CREATE OR REPLACE FUNCTION req_emergency_submit(p_req bigint, p_actor bigint, p_request_id text,
                                                p_ttl_s integer, OUT area text, OUT split_id bigint,
                                                OUT allocated bigint, OUT backordered bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    ar record;
    ln record;
    cap bigint;
    used bigint;
    g bigint;
    line_ids bigint[] := '{}';
    grants bigint[] := '{}';
    granted bigint := 0;
    rest_lines int := 0;
    child_id bigint;
    child_number text := '';
    al record;
    k int := 0;
    rule text;
BEGIN
    area := '';
    allocated := 0;
    backordered := 0;
    SELECT q.*, ou.kind AS unit_kind INTO r FROM requisitions q JOIN org_units ou ON ou.id = q.org_unit_id
     WHERE q.id = p_req;
    IF r.priority <> 'emergency' OR r.unit_kind <> 'grid' THEN
        RETURN;
    END IF;
    SELECT x.*, pu.login AS proposer, cu.login AS confirmer INTO ar
      FROM req_emergency_activation(r.org_unit_id) x
      JOIN users pu ON pu.id = x.proposed_by JOIN users cu ON cu.id = x.confirmed_by;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- the activation row is shared-locked: it cannot end or change under this approval
    PERFORM 1 FROM emergency_activations WHERE id = ar.activation_id FOR SHARE;
    FOR ln IN SELECT * FROM requisition_lines WHERE requisition_id = p_req ORDER BY item_id LOOP
        cap := req_emergency_cap(r.org_unit_id, ln.item_id);
        g := 0;
        IF cap IS NOT NULL AND cap > 0 THEN
            INSERT INTO emergency_usage (grid_id, item_id, day, qty) VALUES (r.org_unit_id, ln.item_id, current_date, 0)
            ON CONFLICT DO NOTHING;
            SELECT qty INTO used FROM emergency_usage
             WHERE grid_id = r.org_unit_id AND item_id = ln.item_id AND day = current_date FOR UPDATE;
            g := greatest(0, least(ln.qty_requested, cap - used));
            IF g > 0 THEN
                UPDATE emergency_usage SET qty = qty + g
                 WHERE grid_id = r.org_unit_id AND item_id = ln.item_id AND day = current_date;
            END IF;
        END IF;
        line_ids := line_ids || ln.id;
        grants := grants || g;
        granted := granted + g;
        IF g < ln.qty_requested THEN
            rest_lines := rest_lines + 1;
        END IF;
    END LOOP;
    IF granted = 0 THEN
        RETURN;
    END IF;
    area := ar.code;
    rule := format('emergency activation %s in %s (proposed by %s, confirmed by %s)', ar.activation_id,
                   ar.code, ar.proposer, ar.confirmer);
    IF rest_lines > 0 THEN
        child_number := req_next_number(r.org_unit_id);
        INSERT INTO requisitions (number, org_unit_id, requester_id, priority, needed_by, purpose,
                                  delivery_site_id, delivery_address, split_from_id, status_comment)
        VALUES (child_number, r.org_unit_id, r.requester_id, r.priority, r.needed_by,
                r.purpose, r.delivery_site_id, r.delivery_address, p_req,
                format('the part of %s above the emergency caps', r.number))
        RETURNING id INTO child_id;
        FOR ln IN SELECT l.*, x.g AS granted FROM requisition_lines l
                    JOIN unnest(line_ids, grants) AS x(id, g) ON x.id = l.id
                   WHERE x.g < l.qty_requested ORDER BY l.line_no
        LOOP
            k := k + 1;
            INSERT INTO requisition_lines (requisition_id, line_no, item_id, qty_requested, note)
            VALUES (child_id, k, ln.item_id, ln.qty_requested - ln.granted, ln.note);
        END LOOP;
        PERFORM req_transition(child_id, 'submitted', p_actor,
                               format('split from %s: above the daily emergency caps', r.number));
        split_id := child_id;
    END IF;
    UPDATE requisition_lines l SET qty_approved = x.g,
           approve_reason = CASE WHEN x.g < l.qty_requested
               THEN format('emergency cap: %s moved to %s', l.qty_requested - x.g, child_number) ELSE '' END
      FROM unnest(line_ids, grants) AS x(id, g) WHERE x.id = l.id;
    UPDATE requisitions SET auto_approved = true, approved_by_activation = ar.activation_id WHERE id = p_req;
    PERFORM req_transition(p_req, 'approved', NULL, 'approved by the rule of ' || rule);
    SELECT * INTO al FROM req_allocate(p_req, ar.path, ARRAY['reserve_point', 'charity_station'], p_actor, p_request_id);
    allocated := al.allocated;
    backordered := al.backordered;
    IF al.allocated > 0 THEN
        PERFORM req_transition(p_req, 'allocated', NULL,
                               format('allocated at once in emergency mode from the sites of %s (%s units, %s backordered)',
                                      ar.code, al.allocated, al.backordered), p_ttl_s);
    END IF;
END $$;

-- A mode switched on by one person before this migration is not an activation: it is
-- switched off here (and logged), and takes two people to switch on again.
UPDATE emergency_modes SET active = false, switched_by = NULL, switched_at = now(),
       reason = 'switched off by migration 032: emergency mode now takes two people and an end time'
 WHERE active;
