-- 030_sites.sql — demo sites: an emergency material reserve point in each of the 28
-- communities (RP01..RP28), 14 charity service stations (CS01..CS14, every other community)
-- and 10 supplier markets (SM01..SM10: supermarkets and farmers' markets).

BEGIN;

-- Community centres: each street has a centre in Dachuan's urban area (around 31.21 N,
-- 107.47 E, along the Zhou river) and its communities sit on a ring of about 700 m around it.
CREATE TEMP TABLE demo_centre ON COMMIT DROP AS
WITH street(code, lat, lon, road) AS (
    VALUES ('ST01', 31.1975, 107.4960, 'Binhe Road'),
           ('ST02', 31.2140, 107.4650, 'Cuiping Road'),
           ('ST03', 31.1880, 107.4560, 'Mingyue Road'),
           ('ST04', 31.2215, 107.4445, 'Xiwai Street'),
           ('ST05', 31.2385, 107.4760, 'Beiwai Avenue'),
           ('ST06', 31.2260, 107.5020, 'Panshi Road')
), cm AS (
    SELECT c.id, c.code, c.name, s.code AS street_code, s.name AS street_name,
           row_number() OVER (PARTITION BY s.id ORDER BY c.code) AS k,
           count(*) OVER (PARTITION BY s.id) AS n
    FROM org_units c JOIN org_units s ON s.id = c.parent_id
    WHERE c.kind = 'community'
)
SELECT cm.id, cm.code, substr(cm.code, 3)::int AS n, cm.name,
       regexp_replace(cm.name, ' Community$', '') AS short, cm.street_name, street.road,
       round((street.lat + 0.0065 * sin(2 * pi() * cm.k / cm.n))::numeric, 6)::float8 AS lat,
       round((street.lon + 0.0075 * cos(2 * pi() * cm.k / cm.n))::numeric, 6)::float8 AS lon
FROM cm JOIN street ON street.code = cm.street_code;

-- Deterministic contact names and mobile numbers.
CREATE TEMP TABLE demo_people ON COMMIT DROP AS
SELECT ARRAY['Wang', 'Li', 'Zhang', 'Liu', 'Chen', 'Yang', 'Huang', 'Zhao', 'Wu', 'Zhou', 'Xu',
             'Sun', 'Ma', 'Zhu', 'Hu', 'Guo', 'He', 'Gao', 'Lin', 'Luo', 'Zheng', 'Liang', 'Xie',
             'Song', 'Tang', 'Deng', 'Feng', 'Han', 'Cao', 'Peng', 'Zeng', 'Xiao', 'Tian', 'Dong',
             'Yuan', 'Pan', 'Jiang', 'Cai', 'Yu', 'Du', 'Ye', 'Cheng', 'Wei', 'Su', 'Lu', 'Ding',
             'Ren', 'Shen', 'Yao']::text[] AS surname,
       ARRAY['Wei', 'Fang', 'Min', 'Jing', 'Li', 'Qiang', 'Lei', 'Jun', 'Yang', 'Yong', 'Yan',
             'Jie', 'Juan', 'Tao', 'Ming', 'Chao', 'Xiulan', 'Xia', 'Ping', 'Gang', 'Guiying',
             'Hua', 'Hong', 'Jianguo', 'Xiaoming', 'Lijuan', 'Zhiqiang', 'Haiyan', 'Dongmei',
             'Jianhua', 'Yuming', 'Chunlan', 'Debao', 'Shuying', 'Guoqing', 'Lihua', 'Wenjie']::text[] AS given;

INSERT INTO sites (code, name, kind, org_unit_id, address, lat, lon, capacity_m3,
                   contact_name, contact_phone, opening_hours)
SELECT 'RP' || lpad(c.n::text, 2, '0'),
       c.short || ' Community Emergency Material Reserve Point',
       'reserve_point', c.id,
       c.short || ' Community Service Centre, No. ' || (8 + (c.n * 23) % 160) || ' ' || c.road
           || ', ' || c.street_name || ', Dachuan District, Dazhou',
       c.lat, c.lon,
       60 + (c.n * 37) % 9 * 20,
       p.surname[1 + (c.n * 11) % 49] || ' ' || p.given[1 + (c.n * 7) % 37],
       '139' || lpad(((c.n * 7919 * 13 + 20231001) % 100000000)::text, 8, '0'),
       'Mon-Sun 08:30-17:30; on call 24 h in emergencies'
FROM demo_centre c CROSS JOIN demo_people p
ORDER BY c.n;

INSERT INTO sites (code, name, kind, org_unit_id, address, lat, lon, capacity_m3,
                   contact_name, contact_phone, opening_hours)
SELECT 'CS' || lpad(((c.n + 1) / 2)::text, 2, '0'),
       c.short || ' Charity Service Station',
       'charity_station', c.id,
       'Ground floor, No. ' || (30 + (c.n * 41) % 150) || ' ' || c.road || ', '
           || c.street_name || ', Dachuan District, Dazhou',
       round((c.lat - 0.0018)::numeric, 6)::float8, round((c.lon + 0.0021)::numeric, 6)::float8,
       15 + (c.n * 13) % 5 * 10,
       p.surname[1 + (c.n * 17 + 5) % 49] || ' ' || p.given[1 + (c.n * 5 + 3) % 37],
       '137' || lpad(((c.n * 6607 * 31 + 8675309) % 100000000)::text, 8, '0'),
       CASE WHEN c.n % 4 = 1 THEN 'Mon-Sat 09:00-17:00' ELSE 'Mon-Fri 09:00-17:00, Sat 09:00-12:00' END
FROM demo_centre c CROSS JOIN demo_people p
WHERE c.n % 2 = 1
ORDER BY c.n;

INSERT INTO sites (code, name, kind, org_unit_id, address, lat, lon, capacity_m3,
                   contact_name, contact_phone, opening_hours)
SELECT 'SM' || lpad(m.k::text, 2, '0'), m.name, 'supplier_market', c.id,
       m.address || ', ' || c.street_name || ', Dachuan District, Dazhou',
       round((c.lat + m.dlat)::numeric, 6)::float8, round((c.lon + m.dlon)::numeric, 6)::float8,
       m.capacity,
       p.surname[1 + (m.k * 29 + 3) % 49] || ' ' || p.given[1 + (m.k * 13 + 1) % 37],
       '0818-' || lpad(((m.k * 4813 + 2310000) % 10000000)::text, 7, '0'),
       m.hours
FROM (VALUES
    ( 1, 'CM01', 'Hongqi Chain Supermarket (Binhe Road)',       'No. 88 Binhe Road',           0.0012,  0.0015, 300, '07:30-22:30 daily'),
    ( 2, 'CM02', 'Sanliping Farmers'' Market',                   'No. 2 Sanli Road',            -0.0010, 0.0008, 500, '05:30-19:00 daily'),
    ( 3, 'CM07', 'Yonghui Supermarket (Dazhou Cuiping)',        'B1, No. 168 Cuiping Road',    0.0014, -0.0011, 800, '08:00-22:00 daily'),
    ( 4, 'CM10', 'Chaoyang Road Farmers'' Market',               'No. 45 Chaoyang Road',        -0.0008, 0.0017, 450, '05:30-18:30 daily'),
    ( 5, 'CM12', 'Supply and Marketing Co-op Supermarket (Mingyue)', 'No. 19 Mingyue Road',    0.0009,  0.0010, 350, '08:00-21:30 daily'),
    ( 6, 'CM15', 'Shuanglong Wholesale Grain and Oil Market',    'No. 6 Shuanglong Road',       -0.0016, -0.0009, 1200, 'Mon-Sat 06:00-18:00'),
    ( 7, 'CM17', 'Xiwai Farmers'' Market',                       'No. 31 Xiwai Street',         0.0011, -0.0014, 400, '05:30-19:00 daily'),
    ( 8, 'CM21', 'Hongqi Chain Supermarket (Beiwai)',            'No. 120 Beiwai Avenue',       -0.0012, 0.0012, 280, '07:30-22:30 daily'),
    ( 9, 'CM25', 'Panshi Pharmacy and Medical Supplies Wholesale', 'No. 77 Panshi Road',        0.0007, -0.0013, 200, '08:00-20:00 daily'),
    (10, 'CM26', 'Heping Hardware and Emergency Equipment Store', 'No. 53 Heping Lane, Panshi Road', -0.0013, 0.0006, 250, '08:30-19:30 daily')
) AS m(k, community, name, address, dlat, dlon, capacity, hours)
JOIN demo_centre c ON c.code = m.community
CROSS JOIN demo_people p
ORDER BY m.k;

COMMIT;
