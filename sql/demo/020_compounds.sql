-- 020_compounds.sql — 538 residential compounds spread over the 208 grids, exactly 373 of
-- them "three-no" (no property management, no competent department, no civil defence).

BEGIN;

-- Compound c lies in grid floor((c-1)*208/538)+1 (2 or 3 per grid, CP001 in GR001).
-- It is three-no when floor(c*373/538) steps up at c: exactly 373 of 538, evenly spread.
-- The other 165 lack one or two of the three, or none, in a fixed rotation.
WITH c AS (
    SELECT n,
           (n * 373 / 538) - ((n - 1) * 373 / 538) = 1 AS three_no,
           'GR' || lpad(((n - 1) * 208 / 538 + 1)::text, 3, '0') AS grid
    FROM generate_series(1, 538) AS n
), names AS (
    SELECT ARRAY['Binhe', 'Jinxiu', 'Xingfu', 'Hongqi', 'Tongchuan', 'Fenghuang', 'Lianhua',
                 'Heping', 'Minsheng', 'Jianshe', 'Gongnong', 'Wenchang', 'Yangguang',
                 'Dongfang', 'Jiangbin', 'Shuguang', 'Taoyuan', 'Qingnian', 'Changjiang',
                 'Xinyuan', 'Kaixuan', 'Zhouhe', 'Fuqiang', 'Tianyuan', 'Meilin', 'Huaxing',
                 'Longquan', 'Shuncheng', 'Anju']::text[] AS stem,
           ARRAY['Garden', 'Residential Compound', 'Estate', 'Apartments', 'New Village',
                 'Staff Quarters', 'Court', 'Homes', 'Mansion', 'Terrace', 'Lane Compound']::text[] AS kind,
           ARRAY['Binhe Road', 'Chaoyang Road', 'Tongchuan Road', 'Xihu Road', 'Fenghuang Avenue',
                 'Jinlong Avenue', 'Nanwai Street', 'Zhouhe Road', 'Renmin Road', 'Jiefang Road',
                 'Wenhua Road', 'Taibai Road', 'Sanli Road', 'Beiwai Avenue', 'Xiwai Street',
                 'Mingyue Road', 'Panshi Road', 'Huaxing Street', 'Hexi Road', 'Cuiping Road',
                 'Jiangwan Road', 'Anren Road', 'Shuanglong Road']::text[] AS road
)
INSERT INTO compounds (code, name, org_unit_id, address, buildings, households,
                       no_property_mgmt, no_competent_dept, no_civil_defence)
SELECT 'CP' || lpad(c.n::text, 3, '0'),
       names.stem[1 + (c.n * 7) % 29] || ' '
           || names.kind[1 + (c.n * 5 + c.n / 29) % 11]
           || CASE WHEN c.n > 29 * 11 / 2 AND c.n % 3 = 0 THEN ' Phase ' || (2 + c.n % 2) ELSE '' END,
       g.id,
       'No. ' || (1 + (c.n * 17) % 189) || ' ' || names.road[1 + (c.n * 11) % 23] || ', '
           || st.name || ', Dachuan District, Dazhou',
       CASE WHEN c.three_no THEN 1 + (c.n * 13) % 8 ELSE 4 + (c.n * 13) % 21 END,
       0,
       c.three_no OR (c.n % 4) IN (0, 1),
       c.three_no OR (c.n % 4) IN (1, 2),
       c.three_no OR (c.n % 4) = 3 AND c.n % 5 <> 0
FROM c
CROSS JOIN names
JOIN org_units g ON g.code = c.grid
JOIN org_units cm ON cm.id = g.parent_id
JOIN org_units st ON st.id = cm.parent_id
ORDER BY c.n;

-- 12 to 47 households per building (old six-storey blocks to small high-rises).
UPDATE compounds SET households = buildings * (12 + (substr(code, 3)::int * 19) % 36);

COMMIT;
