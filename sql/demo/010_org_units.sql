-- 010_org_units.sql — demo org tree: Dachuan district, 6 streets, 28 communities, 208 grids.
-- Counts follow the seed report; grid residents and areas vary deterministically around
-- the reported averages (1,507 residents, 0.19 km²) and the averages hold exactly.

BEGIN;

INSERT INTO org_units (code, name, kind, parent_id)
VALUES ('DC', 'Dachuan District', 'district', NULL);

INSERT INTO org_units (code, name, kind, parent_id)
SELECT s.code, s.name, 'street', (SELECT id FROM org_units WHERE code = 'DC')
FROM (VALUES (1, 'ST01', 'Sanliping Street'),
             (2, 'ST02', 'Cuiping Street'),
             (3, 'ST03', 'Mingyuejiang Street'),
             (4, 'ST04', 'Xiwai Street'),
             (5, 'ST05', 'Beiwai Street'),
             (6, 'ST06', 'Panshi Street')) AS s(n, code, name)
ORDER BY s.n;

-- 6 + 5 + 5 + 4 + 4 + 4 = 28 communities; CM01 is Nanbin community of Sanliping street.
INSERT INTO org_units (code, name, kind, parent_id)
SELECT 'CM' || lpad(c.n::text, 2, '0'), c.name || ' Community', 'community', st.id
FROM (VALUES ( 1, 'ST01', 'Nanbin'),      ( 2, 'ST01', 'Sanliping'),  ( 3, 'ST01', 'Binjiang'),
             ( 4, 'ST01', 'Xinhua'),      ( 5, 'ST01', 'Jinlong'),    ( 6, 'ST01', 'Huayuan'),
             ( 7, 'ST02', 'Cuiping'),     ( 8, 'ST02', 'Fenghuang'),  ( 9, 'ST02', 'Wenhua'),
             (10, 'ST02', 'Chaoyang'),    (11, 'ST02', 'Xihu'),
             (12, 'ST03', 'Mingyue'),     (13, 'ST03', 'Jiangwan'),   (14, 'ST03', 'Hexi'),
             (15, 'ST03', 'Shuanglong'),  (16, 'ST03', 'Qingyuan'),
             (17, 'ST04', 'Xiwai'),       (18, 'ST04', 'Lianhua'),    (19, 'ST04', 'Taihe'),
             (20, 'ST04', 'Jinshan'),
             (21, 'ST05', 'Beiwai'),      (22, 'ST05', 'Tashi'),      (23, 'ST05', 'Yangliu'),
             (24, 'ST05', 'Anren'),
             (25, 'ST06', 'Panshi'),      (26, 'ST06', 'Heping'),     (27, 'ST06', 'Xinglong'),
             (28, 'ST06', 'Changqing')) AS c(n, street, name)
JOIN org_units st ON st.code = c.street
ORDER BY c.n;

-- 208 grids: 12 communities get 8 grids and 16 get 7 (spread evenly), numbered GR001..GR208
-- in community order, so GR001 is Nanbin community's grid 1. Grid g is paired with grid
-- 209-g and the pair deviates from the averages by equal amounts in opposite directions, so
-- the averages hold exactly while streets and communities still differ.
WITH per AS (
    SELECT c.id, c.name, n,
           7 + (n * 12 / 28 - (n - 1) * 12 / 28) AS grids
    FROM org_units c, LATERAL (SELECT substr(c.code, 3)::int AS n) x
    WHERE c.kind = 'community'
), numbered AS (
    SELECT per.*, sum(grids) OVER (ORDER BY n) - grids AS first_before FROM per
), g AS (
    SELECT numbered.id AS parent_id, numbered.name AS cname, k, (first_before + k)::int AS gno
    FROM numbered, generate_series(1, numbered.grids) AS k
)
INSERT INTO org_units (code, name, kind, parent_id, residents, area_km2)
SELECT 'GR' || lpad(gno::text, 3, '0'),
       cname || ' Grid ' || k,
       'grid',
       parent_id,
       1507 + sign * ((pair * 37) % 23) * 35,
       0.190 + sign * ((pair * 17) % 11) * 0.010
FROM g, LATERAL (SELECT least(gno, 209 - gno) AS pair) p,
     LATERAL (SELECT CASE WHEN pair % 2 = 1 THEN 1 ELSE -1 END
                   * CASE WHEN gno <= 104 THEN 1 ELSE -1 END AS sign) sg
ORDER BY gno;

-- Parents carry the totals of their grids.
UPDATE org_units c
SET residents = t.residents, area_km2 = t.area
FROM (SELECT parent_id, sum(residents)::int AS residents, sum(area_km2) AS area
      FROM org_units WHERE kind = 'grid' GROUP BY parent_id) t
WHERE c.id = t.parent_id;

UPDATE org_units s
SET residents = t.residents, area_km2 = t.area
FROM (SELECT parent_id, sum(residents)::int AS residents, sum(area_km2) AS area
      FROM org_units WHERE kind = 'community' GROUP BY parent_id) t
WHERE s.id = t.parent_id;

UPDATE org_units d
SET residents = t.residents, area_km2 = t.area
FROM (SELECT sum(residents)::int AS residents, sum(area_km2) AS area
      FROM org_units WHERE kind = 'street') t
WHERE d.code = 'DC';

COMMIT;
