-- 040_items.sql — the emergency material catalog (64 items) and, per reserve point and
-- charity station, a reorder point and par level scaled to the community's residents.

BEGIN;

-- base_rop / base_par: levels for a reserve point serving 11,200 residents (an average
-- community); charity stations stock water, food and hygiene at a quarter of that.
CREATE TEMP TABLE demo_items ON COMMIT DROP AS
SELECT * FROM (VALUES
    -- water
    ( 1, 'WATER-5L',         'Bottled drinking water 5 L',                  'water',      'bottle',   365,  120,  400),
    ( 2, 'WATER-550ML-24',   'Bottled drinking water 550 ml, case of 24',   'water',      'case',     365,   80,  240),
    ( 3, 'WATER-19L',        'Barrelled drinking water 19 L',               'water',      'barrel',   180,   20,   60),
    ( 4, 'WATER-PURI-TAB',   'Water purification tablets, 50 tablets',      'water',      'box',     1095,   10,   40),
    ( 5, 'WATER-BAG-10L',    'Collapsible water bag 10 L',                  'water',      'piece',   NULL,   30,  100),
    -- food
    ( 6, 'RICE-10KG',        'Rice 10 kg',                                  'food',       'bag',      365,   60,  200),
    ( 7, 'FLOUR-10KG',       'Wheat flour 10 kg',                           'food',       'bag',      270,   20,   80),
    ( 8, 'OIL-5L',           'Rapeseed cooking oil 5 L',                    'food',       'bottle',   540,   30,  100),
    ( 9, 'NOODLE-INST-24',   'Instant noodles, case of 24',                 'food',       'case',     180,   60,  200),
    (10, 'NOODLE-DRY-1KG',   'Dried noodles 1 kg',                          'food',       'pack',     365,   40,  150),
    (11, 'BISCUIT-COMP',     'Compressed biscuits, case of 20 packs',       'food',       'case',     730,   30,  100),
    (12, 'RICE-SELFHEAT',    'Self-heating rice meal',                      'food',       'box',      365,   80,  300),
    (13, 'CANNED-MEAT',      'Canned luncheon meat 340 g',                  'food',       'can',     1095,   60,  200),
    (14, 'CANNED-FISH',      'Canned fish in soy sauce 227 g',              'food',       'can',     1095,   40,  150),
    (15, 'MILK-UHT-12',      'UHT milk 250 ml, case of 12',                 'food',       'case',     180,   30,  100),
    (16, 'INFANT-FORMULA',   'Infant formula 800 g',                        'food',       'can',      540,    6,   20),
    (17, 'PORRIDGE-BABAO',   'Eight-treasure porridge, case of 12 cans',    'food',       'case',     540,   20,   60),
    (18, 'SALT-400G',        'Iodised salt 400 g',                          'food',       'bag',     1095,   20,   60),
    (19, 'SUGAR-1KG',        'White sugar 1 kg',                            'food',       'bag',      730,   10,   30),
    (20, 'ZHACAI-80G',       'Pickled mustard tuber 80 g, pack of 10',      'food',       'pack',     365,   20,   80),
    -- medicine
    (21, 'FIRSTAID-KIT',     'First-aid kit, household',                    'medicine',   'kit',     1095,   10,   40),
    (22, 'THERMO-IR',        'Infrared forehead thermometer',               'medicine',   'piece',   NULL,    5,   20),
    (23, 'THERMO-DIGI',      'Digital oral thermometer',                    'medicine',   'piece',   NULL,   10,   40),
    (24, 'IBUPROFEN-200',    'Ibuprofen 200 mg, 24 tablets',                'medicine',   'box',      730,   20,   80),
    (25, 'PARACETAMOL-500',  'Paracetamol 500 mg, 20 tablets',              'medicine',   'box',     1095,   20,   80),
    (26, 'ORS-SACHET',       'Oral rehydration salts, 6 sachets',           'medicine',   'box',      730,   10,   40),
    (27, 'BANDAGE-ROLL',     'Elastic bandage roll',                        'medicine',   'roll',    1825,   20,   60),
    (28, 'GAUZE-STERILE',    'Sterile gauze pads, pack of 10',              'medicine',   'pack',    1095,   20,   60),
    (29, 'IODINE-100ML',     'Povidone-iodine solution 100 ml',             'medicine',   'bottle',   730,   10,   40),
    (30, 'ANTIGEN-TEST',     'Rapid antigen test kit, 5 tests',             'medicine',   'box',      540,   20,  100),
    (31, 'BP-MONITOR',       'Electronic blood pressure monitor',           'medicine',   'piece',   NULL,    2,    6),
    -- hygiene
    (32, 'DISINF-84-1L',     '84 disinfectant 1 L',                         'hygiene',    'bottle',   365,   30,  100),
    (33, 'ALCOHOL-75-500ML', 'Medical alcohol 75% 500 ml',                  'hygiene',    'bottle',   730,   30,  100),
    (34, 'SANITIZER-500ML',  'Hand sanitizer gel 500 ml',                   'hygiene',    'bottle',   730,   20,   80),
    (35, 'SOAP-BAR',         'Bar soap 100 g',                              'hygiene',    'piece',   1095,   40,  150),
    (36, 'TOILET-PAPER-10',  'Toilet paper, pack of 10 rolls',              'hygiene',    'pack',    NULL,   40,  120),
    (37, 'WET-WIPES',        'Wet wipes, pack of 80',                       'hygiene',    'pack',     730,   20,   80),
    (38, 'SANITARY-PAD',     'Sanitary pads, pack of 10',                   'hygiene',    'pack',    1095,   20,   60),
    (39, 'DIAPER-INFANT',    'Infant diapers, pack of 40',                  'hygiene',    'pack',    1095,   10,   30),
    (40, 'DIAPER-ADULT',     'Adult incontinence pads, pack of 10',         'hygiene',    'pack',    1095,   10,   30),
    (41, 'GARBAGE-BAG',      'Heavy-duty garbage bags, roll of 30',         'hygiene',    'roll',    NULL,   20,   80),
    -- protection
    (42, 'MASK-N95',         'N95 respirator mask, box of 20',              'protection', 'box',     1095,   30,  120),
    (43, 'MASK-SURG',        'Surgical mask, box of 50',                    'protection', 'box',      730,   40,  150),
    (44, 'GLOVE-NITRILE',    'Nitrile gloves, box of 100',                  'protection', 'box',     1825,   20,   60),
    (45, 'SUIT-PROTECT',     'Protective coverall, disposable',             'protection', 'piece',   1095,   40,  150),
    (46, 'FACE-SHIELD',      'Face shield',                                 'protection', 'piece',   NULL,   20,   80),
    (47, 'GOGGLES',          'Safety goggles',                              'protection', 'piece',   NULL,   10,   40),
    (48, 'RAINCOAT',         'Raincoat, heavy duty',                        'protection', 'piece',   NULL,   30,  100),
    (49, 'BOOTS-RUBBER',     'Rubber rain boots',                           'protection', 'pair',    NULL,   10,   40),
    (50, 'VEST-REFLECT',     'Reflective safety vest',                      'protection', 'piece',   NULL,   10,   40),
    -- shelter
    (51, 'TENT-12M2',        'Relief tent 12 m²',                           'shelter',    'set',     NULL,    3,   10),
    (52, 'BLANKET-COTTON',   'Cotton blanket',                              'shelter',    'piece',   NULL,   40,  150),
    (53, 'QUILT-WINTER',     'Winter quilt',                                'shelter',    'piece',   NULL,   20,   80),
    (54, 'FOLDBED',          'Folding bed',                                 'shelter',    'piece',   NULL,   10,   40),
    (55, 'SLEEPING-BAG',     'Sleeping bag',                                'shelter',    'piece',   NULL,   10,   40),
    (56, 'TARP-4X6',         'Tarpaulin 4 x 6 m',                           'shelter',    'piece',   NULL,   10,   30),
    -- tools
    (57, 'FLASHLIGHT-LED',   'LED flashlight, rechargeable',                'tools',      'piece',   NULL,   20,   60),
    (58, 'MEGAPHONE',        'Handheld megaphone',                          'tools',      'piece',   NULL,    2,    6),
    (59, 'SHOVEL',           'Shovel',                                      'tools',      'piece',   NULL,   10,   30),
    (60, 'SANDBAG',          'Flood sandbag, woven',                        'tools',      'piece',   NULL,  200,  600),
    (61, 'ROPE-50M',         'Rescue rope 50 m',                            'tools',      'roll',    NULL,    2,    8),
    (62, 'EXTINGUISHER-4KG', 'Dry powder fire extinguisher 4 kg',           'tools',      'piece',   1825,    6,   20),
    -- power
    (63, 'GENERATOR-5KW',    'Petrol generator 5 kW',                       'power',      'set',     NULL,    1,    2),
    (64, 'BATTERY-AA-4',     'AA alkaline batteries, pack of 4',            'power',      'pack',    1825,   20,   80),
    (65, 'POWERBANK-20K',    'Power bank 20,000 mAh',                       'power',      'piece',   NULL,    5,   20),
    (66, 'EXT-CORD-50M',     'Extension cable reel 50 m',                   'power',      'reel',    NULL,    1,    4),
    -- other
    (67, 'RADIO-CRANK',      'Hand-crank emergency radio',                  'other',      'piece',   NULL,    2,    8),
    (68, 'WHISTLE',          'Emergency whistle',                           'other',      'piece',   NULL,   10,   40),
    (69, 'TAPE-WARNING',     'Warning tape, roll of 100 m',                 'other',      'roll',    NULL,    4,   12),
    (70, 'CANDLE-PACK',      'Emergency candles, pack of 10',               'other',      'pack',    NULL,   10,   30)
) AS t(n, code, name, category, unit, shelf_life_days, base_rop, base_par);

INSERT INTO items (code, name, category, unit, shelf_life_days)
SELECT code, name, category, unit, shelf_life_days FROM demo_items ORDER BY n;

-- Reserve points: every item, scaled by the community's residents (rounded, at least 1).
INSERT INTO site_items (site_id, item_id, reorder_point, par_level)
SELECT s.id, i.id,
       greatest(1, round(d.base_rop * cm.residents / 11200.0))::bigint,
       greatest(2, round(d.base_rop * cm.residents / 11200.0) + 1,
                round(d.base_par * cm.residents / 11200.0))::bigint
FROM sites s
JOIN org_units cm ON cm.id = s.org_unit_id
CROSS JOIN demo_items d
JOIN items i ON i.code = d.code
WHERE s.kind = 'reserve_point'
ORDER BY s.id, d.n;

-- Charity stations: water, food and hygiene at a quarter of a reserve point's levels.
INSERT INTO site_items (site_id, item_id, reorder_point, par_level)
SELECT s.id, i.id,
       greatest(1, round(d.base_rop * cm.residents / 44800.0))::bigint,
       greatest(2, round(d.base_rop * cm.residents / 44800.0) + 1,
                round(d.base_par * cm.residents / 44800.0))::bigint
FROM sites s
JOIN org_units cm ON cm.id = s.org_unit_id
CROSS JOIN demo_items d
JOIN items i ON i.code = d.code
WHERE s.kind = 'charity_station' AND d.category IN ('water', 'food', 'hygiene')
ORDER BY s.id, d.n;

COMMIT;
