-- 050_users.sql — demo users, exactly as the test contract lists them (login → role, scope):
-- district staff, 6 street logistics officers, 28 community staff, 208 grid leaders
-- (community_staff scoped to their grid), 28 point leaders, finance, auditor, service.

BEGIN;

CREATE TEMP TABLE demo_names ON COMMIT DROP AS
SELECT ARRAY['Wang', 'Li', 'Zhang', 'Liu', 'Chen', 'Yang', 'Huang', 'Zhao', 'Wu', 'Zhou', 'Xu',
             'Sun', 'Ma', 'Zhu', 'Hu', 'Guo', 'He', 'Gao', 'Lin', 'Luo', 'Zheng', 'Liang', 'Xie',
             'Song', 'Tang', 'Deng', 'Feng', 'Han', 'Cao', 'Peng', 'Zeng', 'Xiao', 'Tian', 'Dong',
             'Yuan', 'Pan', 'Jiang', 'Cai', 'Yu', 'Du', 'Ye', 'Cheng', 'Wei', 'Su', 'Lu', 'Ding',
             'Ren', 'Shen', 'Yao']::text[] AS surname,
       ARRAY['Wei', 'Fang', 'Min', 'Jing', 'Li', 'Qiang', 'Lei', 'Jun', 'Yang', 'Yong', 'Yan',
             'Jie', 'Juan', 'Tao', 'Ming', 'Chao', 'Xiulan', 'Xia', 'Ping', 'Gang', 'Guiying',
             'Hua', 'Hong', 'Jianguo', 'Xiaoming', 'Lijuan', 'Zhiqiang', 'Haiyan', 'Dongmei',
             'Jianhua', 'Yuming', 'Chunlan', 'Debao', 'Shuying', 'Guoqing', 'Lihua', 'Wenjie']::text[] AS given;

-- seq numbers the users for deterministic names and mobile numbers.
INSERT INTO users (login, display_name, role, scope_id, phone)
SELECT u.login,
       coalesce(u.display_name,
                n.surname[1 + (u.seq * 31 + 7) % 49] || ' ' || n.given[1 + (u.seq * 17 + 3) % 37]),
       u.role, ou.id,
       '1' || (ARRAY['38', '39', '35', '58', '87'])[1 + u.seq % 5]
           || lpad(((u.seq * 7919 * 101 + 31210747) % 100000000)::text, 8, '0')
FROM (
    VALUES (1, 'admin', 'admin', 'DC', 'District System Administrator'),
           (2, 'logi.district', 'logistics_officer', 'DC', NULL),
           (3, 'fin.officer', 'finance_officer', 'DC', NULL),
           (4, 'fin.approver', 'finance_approver', 'DC', NULL),
           (5, 'fin.officer2', 'finance_officer', 'DC', NULL),
           (6, 'auditor', 'auditor', 'DC', NULL),
           (7, 'svc.dispatch', 'service', 'DC', 'Dispatch Service')
    UNION ALL
    SELECT 10 + k, 'logi.st' || lpad(k::text, 2, '0'), 'logistics_officer',
           'ST' || lpad(k::text, 2, '0'), NULL
    FROM generate_series(1, 6) AS k
    UNION ALL
    SELECT 20 + k, 'staff.cm' || lpad(k::text, 2, '0'), 'community_staff',
           'CM' || lpad(k::text, 2, '0'), NULL
    FROM generate_series(1, 28) AS k
    UNION ALL
    SELECT 50 + k, 'point.cm' || lpad(k::text, 2, '0'), 'point_leader',
           'CM' || lpad(k::text, 2, '0'), NULL
    FROM generate_series(1, 28) AS k
    UNION ALL
    -- grid leaders; the seed names the leader of Nanbin community's grid 1
    SELECT 100 + k, 'leader.gr' || lpad(k::text, 3, '0'), 'community_staff',
           'GR' || lpad(k::text, 3, '0'), CASE WHEN k = 1 THEN 'Yan Zhengkui' END
    FROM generate_series(1, 208) AS k
) AS u(seq, login, role, scope, display_name)
JOIN org_units ou ON ou.code = u.scope
CROSS JOIN demo_names n
ORDER BY u.seq;

COMMIT;
