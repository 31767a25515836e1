-- 031_requisition_numbers.sql — requisition numbers past 9,999 a year. lpad() cuts a longer
-- string to the width, so number 10000 of a community came out as CM01-2026-1000 again and
-- every later Create failed as a duplicate. Four digits stay the minimum width.
CREATE OR REPLACE FUNCTION req_next_number(p_unit bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    cm record;
    n integer;
    y integer := extract(year FROM now())::int;
BEGIN
    SELECT c.id, c.code INTO cm FROM org_units u JOIN org_units c ON c.path @> u.path AND c.kind = 'community'
     WHERE u.id = p_unit;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'org_unit_id: requisitions come from a grid or community' USING ERRCODE = 'GS400';
    END IF;
    INSERT INTO requisition_numbers AS r (community_id, year, last) VALUES (cm.id, y, 1)
    ON CONFLICT (community_id, year) DO UPDATE SET last = r.last + 1
    RETURNING last INTO n;
    RETURN format('%s-%s-%s', cm.code, y, lpad(n::text, greatest(4, length(n::text)), '0'));
END $$;
