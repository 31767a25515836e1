-- roles.sql — the database role gridstockd runs as, with only what the server needs:
-- read and write rows, never DDL (migrations run as the schema owner), never UPDATE or
-- DELETE on append-only tables (ledgers and audit), never TRUNCATE.
--
-- Not a migration: it names a role, which is the operator's choice. Run it as the owner
-- of the schema (the role that runs `gridstockd migrate`) after every migration; it is
-- idempotent, and grants on tables a migration added appear only when it runs again:
--
--   psql -v ON_ERROR_STOP=1 -d gridstock -v app_role=gridstock_app \
--        [-v app_password=SECRET] -f /usr/share/gridstock/sql/roles.sql
--
-- A table is append-only when a trigger calls gs_append_only() on UPDATE or DELETE (the
-- schema's own marker), or when its name is in the list below (a belt to those braces).

\set ON_ERROR_STOP 1
\if :{?app_role}
\else
\set app_role gridstock_app
\endif

BEGIN;

SELECT format('CREATE ROLE %I LOGIN', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec

SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
              :'app_role') \gexec

\if :{?app_password}
SELECT format('ALTER ROLE %I PASSWORD %L', :'app_role', :'app_password') \gexec
\endif

-- start from nothing, so re-running after a change leaves no stale grant behind
SELECT format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', :'app_role') \gexec
SELECT format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I', :'app_role') \gexec
SELECT format('REVOKE CREATE ON SCHEMA public FROM %I', :'app_role') \gexec
SELECT format('REVOKE CREATE ON DATABASE %I FROM %I', current_database(), :'app_role') \gexec

SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'app_role') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'app_role') \gexec
-- rows: read and write, no TRUNCATE, REFERENCES or TRIGGER
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I',
              :'app_role') \gexec
SELECT format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', :'app_role') \gexec
SELECT format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO %I', :'app_role') \gexec
-- the functions that run as the schema owner (SECURITY DEFINER: the ledgers' writers, 095,
-- and the audit sealer, 040) are the only doors to tables the role cannot write; only the
-- role may open them, not every role that can connect (PostgreSQL grants EXECUTE to PUBLIC)
SELECT format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', p.oid::regprocedure)
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef \gexec

-- the migration bookkeeping (read by `gridstockd check`) and the error reasons (050) are
-- written only by migrations
SELECT format('REVOKE INSERT, UPDATE, DELETE ON %s FROM %I', c.oid::regclass, :'app_role')
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN ('schema_migrations', 'error_reasons') \gexec

-- the audit chain's seals are appended only through audit_seal_append() (SECURITY DEFINER,
-- migration 040), so the role cannot plant or forge seals by INSERT
SELECT format('REVOKE INSERT ON %s FROM %I', c.oid::regclass, :'app_role')
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relname = 'audit_seal' \gexec

-- the fund ledger that disbursements and programme runs write is written only through its
-- functions (SECURITY DEFINER, migration 095, which dropped the foreign keys they
-- guarantee): the role reads these tables and calls the functions, nothing else
SELECT format('REVOKE INSERT, UPDATE, DELETE ON %s FROM %I', c.oid::regclass, :'app_role')
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace
   AND c.relname IN ('fund_programme_runs', 'fund_programme_run_items', 'fund_disbursements',
                     'fund_budget_charges', 'fund_postings', 'fund_entries')
 ORDER BY c.relname \gexec
-- budgets are charged by those functions without a foreign key (097): none is ever deleted
SELECT format('REVOKE DELETE ON %s FROM %I', c.oid::regclass, :'app_role')
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relname = 'fund_budgets' \gexec

-- append-only tables: UPDATE and DELETE go as far as their gs_append_only triggers say
-- (pg_trigger.tgtype: 8 = DELETE, 16 = UPDATE); the named ledgers lose both regardless
WITH marked AS (
    SELECT t.tgrelid AS rel, bool_or(t.tgtype & 16 <> 0) AS upd, bool_or(t.tgtype & 8 <> 0) AS del
      FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
     WHERE p.proname = 'gs_append_only' AND NOT t.tgisinternal
     GROUP BY t.tgrelid
), named AS (
    SELECT c.oid AS rel, true AS upd, true AS del
      FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
       AND c.relname IN ('audit_log', 'audit_seal', 'movements', 'stock_movements', 'postings',
                         'fund_postings', 'fund_entries', 'requisition_history',
                         'emergency_mode_log')
), ledger AS (
    SELECT rel, bool_or(upd) AS upd, bool_or(del) AS del
      FROM (SELECT * FROM marked UNION ALL SELECT * FROM named) x GROUP BY rel
)
SELECT format('REVOKE %s ON %s FROM %I',
              concat_ws(', ', CASE WHEN upd THEN 'UPDATE' END, CASE WHEN del THEN 'DELETE' END),
              rel::regclass, :'app_role')
  FROM ledger WHERE upd OR del
 ORDER BY rel::regclass::text \gexec

COMMIT;
