-- 075_households.sql — the demo household register (issue 19): about one registered
-- household per hundred residents of each of the 208 grids (3,000-odd in all, in
-- proportion to the seed's residents per grid), with need flags, compounds and buildings,
-- one quota rule by need for food, and a few distributions to registered households.
-- Deterministic. The identity hashes are placeholders (key id "demo": sha256 of a demo
-- serial), since the real ones are made only by gridstockd with its household key: no
-- real ID number ever matches them.

CREATE FUNCTION pg_temp.hh_frac(p_key text) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT ('x' || substr(md5(p_key), 1, 8))::bit(32)::bigint / 4294967296.0
$$;

WITH names AS (
    SELECT ARRAY['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '马', '朱', '胡',
                 '郭', '何', '罗', '高', '林'] AS sur,
           ARRAY['秀英', '桂英', '建国', '志强', '淑珍', '德明', '玉兰', '国庆', '海燕', '文华', '春梅',
                 '永福', '丽娟', '明', '军', '芳', '伟', '静', '勇', '敏'] AS given
), slots AS (
    SELECT g.id AS grid_id, g.code AS grid_code, n,
           g.code || '-' || n AS k
      FROM org_units g
     CROSS JOIN LATERAL generate_series(1, greatest(1, round(g.residents / 100.0)::int)) n
     WHERE g.kind = 'grid'
), rows_ AS (
    SELECT s.*, nm.sur[1 + floor(pg_temp.hh_frac(s.k || 's') * 20)::int]
                || nm.given[1 + floor(pg_temp.hh_frac(s.k || 'g') * 20)::int] AS head,
           (SELECT c.id FROM compounds c WHERE c.org_unit_id = s.grid_id
             ORDER BY pg_temp.hh_frac(s.k || c.code) LIMIT 1) AS compound_id
      FROM slots s, names nm
), h AS (
    INSERT INTO households (grid_id, head_name, members, compound_id, building, contact, elderly_alone,
                            disabled_member, low_income, infant, chronic_illness, id_hash, id_kid,
                            registered_by)
    SELECT r.grid_id, r.head,
           CASE WHEN pg_temp.hh_frac(r.k || 'e') < 0.18 THEN 1 ELSE 1 + floor(pg_temp.hh_frac(r.k || 'm') * 5)::int END,
           r.compound_id,
           (1 + floor(pg_temp.hh_frac(r.k || 'b') * 12)::int) || '-' || (1 + floor(pg_temp.hh_frac(r.k || 'u') * 3)::int)
               || '-' || (1 + floor(pg_temp.hh_frac(r.k || 'f') * 7)::int) || '0' || (1 + floor(pg_temp.hh_frac(r.k || 'd') * 4)::int),
           '13' || lpad(floor(pg_temp.hh_frac(r.k || 'p') * 1e9)::bigint::text, 9, '0'),
           pg_temp.hh_frac(r.k || 'e') < 0.18,
           pg_temp.hh_frac(r.k || 'x') < 0.08,
           pg_temp.hh_frac(r.k || 'l') < 0.25,
           pg_temp.hh_frac(r.k || 'i') < 0.10 AND pg_temp.hh_frac(r.k || 'e') >= 0.18,
           pg_temp.hh_frac(r.k || 'c') < 0.15,
           encode(sha256(convert_to('gridstock demo household ' || r.k, 'UTF8')), 'hex'), 'demo',
           (SELECT id FROM users WHERE login = 'admin')
      FROM rows_ r
     ORDER BY r.grid_id, r.n
    RETURNING id, grid_id
)
INSERT INTO household_moves (household_id, from_grid_id, to_grid_id, reason, moved_by, request_id)
SELECT id, NULL, grid_id, 'registered', (SELECT id FROM users WHERE login = 'admin'), 'demo-075-' || id FROM h;

-- Food by need: 3 units a month per member, half as much again for low-income households
-- and those of an elderly person living alone, a fifth more with an infant.
INSERT INTO charity_quota_rules (org_unit_id, category, period, basis, qty, pct_elderly_alone, pct_low_income,
                                 pct_infant, updated_by)
SELECT id, 'food', 'month', 'member', 3, 150, 150, 120, (SELECT id FROM users WHERE login = 'admin')
  FROM org_units WHERE kind = 'district';

-- A first helping for the first two registered households of each station's first grid.
SELECT count(*) FROM (
    SELECT charity_distribute_household(
               s.id, h.id, ARRAY[b.item_id], ARRAY[1::bigint], ARRAY[''],
               (SELECT id FROM users WHERE login = 'admin'), 'demo-075-dist-' || s.code || '-' || h.id, '')
      FROM sites s
      JOIN org_units g ON g.id = (SELECT min(id) FROM org_units WHERE parent_id = s.org_unit_id AND kind = 'grid')
      CROSS JOIN LATERAL (SELECT x.id FROM households x WHERE x.grid_id = g.id ORDER BY x.id LIMIT 2) h
      CROSS JOIN LATERAL (
          SELECT l.item_id FROM lots l JOIN items i ON i.id = l.item_id
           WHERE l.site_id = s.id AND i.category = 'food' AND l.on_hand - l.reserved >= 5
             AND NOT stock_expired(l.expires_on)
           ORDER BY l.item_id LIMIT 1) b
     WHERE s.kind = 'charity_station'
     ORDER BY s.id, h.id
) x;
