-- 060_stock.sql — demo stock: lots at every reserve point and charity station (received
-- through stock_receive and charity_record_donation, so the ledger explains every balance
-- and VerifyStock is clean), supplier market price lists, a few purchase orders, district
-- charity quotas and some distributions. Deterministic: the same numbers on every load.
-- Some lots are near expiry and some items below their reorder point, so the low-stock,
-- near-expiry and charity transfer reports have something to show.

BEGIN;

-- Fixed pseudo-random fractions in [0, 1) from a text key.
CREATE FUNCTION pg_temp.demo_frac(p_key text) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT ('x' || substr(md5(p_key), 1, 8))::bit(32)::bigint / 4294967296.0
$$;

-- Base unit prices in yuan (retail, Dazhou); each market charges a little more or less.
CREATE TEMP TABLE demo_prices ON COMMIT DROP AS
SELECT * FROM (VALUES
    ('WATER-5L', 9.50), ('WATER-550ML-24', 28.00), ('WATER-19L', 18.00), ('WATER-PURI-TAB', 35.00),
    ('WATER-BAG-10L', 22.00), ('RICE-10KG', 62.00), ('FLOUR-10KG', 48.00), ('OIL-5L', 79.90),
    ('NOODLE-INST-24', 52.00), ('NOODLE-DRY-1KG', 9.80), ('BISCUIT-COMP', 96.00), ('RICE-SELFHEAT', 16.80),
    ('CANNED-MEAT', 14.50), ('CANNED-FISH', 9.90), ('MILK-UHT-12', 45.00), ('INFANT-FORMULA', 268.00),
    ('PORRIDGE-BABAO', 42.00), ('SALT-400G', 2.50), ('SUGAR-1KG', 9.50), ('ZHACAI-80G', 8.00),
    ('FIRSTAID-KIT', 89.00), ('THERMO-IR', 128.00), ('THERMO-DIGI', 19.90), ('IBUPROFEN-200', 18.50),
    ('PARACETAMOL-500', 9.80), ('ORS-SACHET', 12.00), ('BANDAGE-ROLL', 6.50), ('GAUZE-STERILE', 5.80),
    ('IODINE-100ML', 6.90), ('ANTIGEN-TEST', 25.00), ('BP-MONITOR', 199.00), ('DISINF-84-1L', 8.90),
    ('ALCOHOL-75-500ML', 12.80), ('SANITIZER-500ML', 19.90), ('SOAP-BAR', 3.50), ('TOILET-PAPER-10', 24.90),
    ('WET-WIPES', 9.90), ('SANITARY-PAD', 12.90), ('DIAPER-INFANT', 69.00), ('DIAPER-ADULT', 39.00),
    ('GARBAGE-BAG', 6.90), ('MASK-N95', 45.00), ('MASK-SURG', 29.00), ('GLOVE-NITRILE', 58.00),
    ('SUIT-PROTECT', 28.00), ('FACE-SHIELD', 6.00), ('GOGGLES', 15.00), ('RAINCOAT', 38.00),
    ('BOOTS-RUBBER', 45.00), ('VEST-REFLECT', 12.00), ('TENT-12M2', 1280.00), ('BLANKET-COTTON', 89.00),
    ('QUILT-WINTER', 199.00), ('FOLDBED', 159.00), ('SLEEPING-BAG', 129.00), ('TARP-4X6', 45.00),
    ('FLASHLIGHT-LED', 39.00), ('MEGAPHONE', 88.00), ('SHOVEL', 35.00), ('SANDBAG', 2.20),
    ('ROPE-50M', 120.00), ('EXTINGUISHER-4KG', 85.00), ('GENERATOR-5KW', 3980.00), ('BATTERY-AA-4', 11.90),
    ('POWERBANK-20K', 99.00), ('EXT-CORD-50M', 168.00), ('RADIO-CRANK', 129.00), ('WHISTLE', 3.00),
    ('TAPE-WARNING', 18.00), ('CANDLE-PACK', 9.90)
) AS t(code, yuan);

-- What each market sells (by category, or named items) and how fast it delivers.
CREATE TEMP TABLE demo_market ON COMMIT DROP AS
SELECT * FROM (VALUES
    ('SM01', ARRAY['water', 'food', 'hygiene'], NULL::text[], 1),
    ('SM02', ARRAY['food'], NULL, 1),
    ('SM03', ARRAY['water', 'food', 'hygiene', 'power'], NULL, 2),
    ('SM04', ARRAY['food'], NULL, 1),
    ('SM05', ARRAY['water', 'food', 'hygiene'], NULL, 1),
    ('SM06', ARRAY[]::text[], ARRAY['RICE-10KG', 'FLOUR-10KG', 'OIL-5L', 'NOODLE-INST-24', 'NOODLE-DRY-1KG',
                                  'SALT-400G', 'SUGAR-1KG', 'BISCUIT-COMP', 'RICE-SELFHEAT'], 3),
    ('SM07', ARRAY['food'], NULL, 1),
    ('SM08', ARRAY['water', 'food', 'hygiene', 'other'], NULL, 1),
    ('SM09', ARRAY['medicine', 'hygiene', 'protection'], NULL, 2),
    ('SM10', ARRAY['tools', 'power', 'shelter', 'protection', 'other'], NULL, 4)
) AS t(code, categories, items, lead_days);

-- Prices valid from 60 days ago, open-ended; farmers' markets and the wholesaler are
-- cheaper for food, the supermarkets a little dearer.
SELECT count(*) FROM (
    SELECT proc_set_price(i.id, s.id,
                          greatest(1, round(p.yuan * 100 * (0.88 + 0.24 * pg_temp.demo_frac(s.code || i.code))
                                            * CASE WHEN s.code = 'SM06' THEN 0.85 ELSE 1 END))::bigint,
                          m.lead_days, current_date - 60, NULL,
                          (SELECT id FROM users WHERE login = 'admin'))
      FROM demo_market m
      JOIN sites s ON s.code = m.code
      JOIN items i ON i.category = ANY (m.categories) OR i.code = ANY (coalesce(m.items, '{}'))
      JOIN demo_prices p ON p.code = i.code
     ORDER BY s.id, i.id
) x;

-- ---------------------------------------------------------------- reserve points
-- Per site and item with levels: usually between the reorder point and a little above the
-- par level; about one in twelve below the reorder point (one in thirty empty). Items with a
-- shelf life come in two lots: an older one (about one in fifteen expires within 30 days)
-- and a newer one.
CREATE TEMP TABLE demo_stock ON COMMIT DROP AS
SELECT si.site_id, si.item_id, s.code AS site_code, i.code AS item_code, i.shelf_life_days,
       pg_temp.demo_frac('q' || s.code || i.code) AS fq,
       pg_temp.demo_frac('e' || s.code || i.code) AS fe,
       si.reorder_point, si.par_level
  FROM site_items si
  JOIN sites s ON s.id = si.site_id
  JOIN items i ON i.id = si.item_id
 WHERE s.kind = 'reserve_point';

ALTER TABLE demo_stock ADD COLUMN qty bigint;
UPDATE demo_stock SET qty = CASE
    WHEN fq < 0.033 THEN 0
    WHEN fq < 0.085 THEN greatest(0, floor(reorder_point * (fq * 10)))::bigint
    ELSE reorder_point + ceil((par_level * 1.1 - reorder_point) * fq)::bigint END;

SELECT count(*) FROM (
    SELECT stock_receive(d.site_id, d.item_id, q.qty, q.lot, q.expires, 'purchase', 'receipt', '',
                         '', NULL, (SELECT id FROM users WHERE login = 'admin'), 'demo-060',
                         'opening stock')
      FROM demo_stock d
      CROSS JOIN LATERAL (
          -- the older lot (shelf-life items only): 40 % of the quantity
          SELECT 1 AS k, ceil(d.qty * 0.4)::bigint AS qty,
                 'L' || to_char(current_date - 90, 'YYMM') || '-' || d.site_code AS lot,
                 CASE WHEN d.fe < 0.07 THEN current_date + 3 + floor(d.fe * 360)::int
                      ELSE current_date + 31 + floor(d.shelf_life_days * 0.45 * d.fe)::int END AS expires
           WHERE d.shelf_life_days IS NOT NULL AND d.qty >= 2
          UNION ALL
          -- the newer lot (everything else)
          SELECT 2, d.qty - CASE WHEN d.shelf_life_days IS NOT NULL AND d.qty >= 2
                                 THEN ceil(d.qty * 0.4)::bigint ELSE 0 END,
                 'L' || to_char(current_date - 20, 'YYMM') || '-' || d.site_code,
                 CASE WHEN d.shelf_life_days IS NOT NULL
                      THEN current_date + greatest(60, d.shelf_life_days - 20) END
      ) q
     WHERE d.qty > 0 AND q.qty > 0
     ORDER BY d.site_id, d.item_id, q.k
) x;

-- ---------------------------------------------------------------- charity stations
-- Quotas per household across the whole district.
INSERT INTO charity_quotas (org_unit_id, item_id, period, qty, updated_by)
SELECT d.id, i.id, q.period, q.qty, (SELECT id FROM users WHERE login = 'admin')
  FROM org_units d
  CROSS JOIN (VALUES ('RICE-10KG', 'month', 1), ('OIL-5L', 'month', 1), ('FLOUR-10KG', 'month', 1),
                     ('NOODLE-INST-24', 'month', 2), ('MILK-UHT-12', 'month', 2),
                     ('WATER-5L', 'week', 4), ('TOILET-PAPER-10', 'month', 1),
                     ('INFANT-FORMULA', 'month', 2)) AS q(code, period, qty)
  JOIN items i ON i.code = q.code
 WHERE d.kind = 'district' AND d.code = 'DC';

-- Donations: three donors per station (residents, shops, a company), water, food and
-- hygiene items, some of them close to expiry (donated food often is).
CREATE TEMP TABLE demo_donation ON COMMIT DROP AS
SELECT s.id AS site_id, s.code AS site_code, k,
       (ARRAY['Dachuan Red Cross volunteers', 'Hongqi Chain Supermarket', 'Mr Li Jianguo (resident)',
              'Sanli Grain and Oil Co., Ltd.', 'Anonymous resident', 'Binhe Road merchants'' association'])
           [1 + floor(pg_temp.demo_frac('d' || s.code || k) * 6)::int] AS donor
  FROM sites s CROSS JOIN generate_series(1, 3) k
 WHERE s.kind = 'charity_station';

SELECT count(*) FROM (
    SELECT charity_record_donation(
               dd.site_id, dd.donor, '', dd.donor = 'Anonymous resident',
               array_agg(x.item_id ORDER BY x.item_id), array_agg(x.qty ORDER BY x.item_id),
               array_agg(''::text ORDER BY x.item_id), array_agg(x.expires ORDER BY x.item_id),
               (SELECT id FROM users WHERE login = 'admin'), 'demo-060-' || dd.site_code || '-' || dd.k,
               'demo donation')
      FROM demo_donation dd
      CROSS JOIN LATERAL (
          SELECT si.item_id,
                 (si.reorder_point + ceil(si.par_level * pg_temp.demo_frac('n' || dd.site_code || i.code || dd.k)))::bigint
                     AS qty,
                 CASE WHEN i.shelf_life_days IS NULL THEN NULL
                      WHEN pg_temp.demo_frac('x' || dd.site_code || i.code || dd.k) < 0.15
                      THEN current_date + 6 + floor(pg_temp.demo_frac('y' || dd.site_code || i.code) * 20)::int
                      ELSE current_date + 40 + floor(i.shelf_life_days * 0.6
                                                     * pg_temp.demo_frac('z' || dd.site_code || i.code))::int
                 END AS expires
            FROM site_items si JOIN items i ON i.id = si.item_id
           WHERE si.site_id = dd.site_id
             AND pg_temp.demo_frac('p' || dd.site_code || i.code || dd.k) < 0.3
      ) x
     GROUP BY dd.site_id, dd.site_code, dd.k, dd.donor
     ORDER BY dd.site_id, dd.k
) y;

-- A few distributions to households of the stations' communities' grids.
SELECT count(*) FROM (
    SELECT charity_distribute(
               s.id, 'HH-' || g.code || '-' || lpad(h::text, 3, '0'), g.id,
               ARRAY[b.item_id], ARRAY[1::bigint], ARRAY[''],
               (SELECT id FROM users WHERE login = 'admin'), 'demo-060-dist-' || s.code || '-' || h, '')
      FROM sites s
      JOIN org_units g ON g.parent_id = s.org_unit_id AND g.kind = 'grid'
      CROSS JOIN generate_series(1, 2) h
      CROSS JOIN LATERAL (
          SELECT l.item_id FROM lots l JOIN items i ON i.id = l.item_id
           WHERE l.site_id = s.id AND l.on_hand - l.reserved >= 5 AND NOT stock_expired(l.expires_on)
           ORDER BY pg_temp.demo_frac(g.code || h || i.code) LIMIT 1) b
     WHERE s.kind = 'charity_station'
       AND g.id = (SELECT min(id) FROM org_units WHERE parent_id = s.org_unit_id AND kind = 'grid')
     ORDER BY s.id, h
) x;

-- ---------------------------------------------------------------- purchase orders
-- RP01 and RP02 have an order placed with the supermarket on Binhe Road (SM01) for what
-- they are short of, and RP03 a draft.
DO $$
DECLARE
    v record;
    oid bigint;
    admin bigint := (SELECT id FROM users WHERE login = 'admin');
BEGIN
    FOR v IN SELECT s.id AS site_id, sm.id AS supplier_id, x.st
               FROM (VALUES ('RP01', 'placed'), ('RP02', 'placed'), ('RP03', 'draft')) AS x(code, st)
               JOIN sites s ON s.code = x.code JOIN sites sm ON sm.code = 'SM01'
              ORDER BY s.id LOOP
        INSERT INTO purchase_orders (supplier_site_id, site_id, note, created_by)
        VALUES (v.supplier_id, v.site_id, 'demo: restock of low items', admin)
        RETURNING id INTO oid;
        PERFORM proc_set_lines(oid, array_agg(lv.item_id ORDER BY lv.item_id),
                               array_agg(lv.proposed_qty ORDER BY lv.item_id),
                               array_agg(0::bigint ORDER BY lv.item_id))
           FROM stock_levels lv
           JOIN supplier_prices_current p ON p.item_id = lv.item_id AND p.supplier_site_id = v.supplier_id
          WHERE lv.site_id = v.site_id AND lv.low AND lv.proposed_qty > 0;
        IF v.st = 'placed' AND EXISTS (SELECT 1 FROM purchase_order_lines WHERE order_id = oid) THEN
            UPDATE purchase_orders SET status = 'placed', placed_by = admin, placed_at = now(),
                   expected_on = current_date + 1
             WHERE id = oid;
        END IF;
    END LOOP;
END $$;

DROP FUNCTION pg_temp.demo_frac(text);

COMMIT;
