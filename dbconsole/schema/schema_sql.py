"""The one schema query: everything ``schema`` compares and ``--create-missing`` recreates.

Its own query, not :data:`dbconsole.catalog_sql.CATALOG_SQL`: that one answers "how do I copy
rows" per sync unit; this one answers "what is declared", per relation, with the server's own
rendering of every expression (``pg_get_constraintdef``, ``pg_get_indexdef``, ``pg_get_expr``,
``format_type``). It runs with ``search_path = ''`` (as ``pg_dump`` does), so every name the
server renders is schema-qualified: the text means the same thing on the other side and can be
replayed there as DDL. The session's real search path is kept first in a custom setting,
because migration tables are looked up "in any schema on the search path".

The three statements travel as one simple-protocol message: one round trip per side.
"""

# Sent as one message (no parameters, so the simple protocol carries all three).
SCHEMA_SQL = """
SELECT set_config('dbconsole.search_schemas', array_to_json(current_schemas(false))::text, true);
SET LOCAL search_path = '';
WITH rel AS (
  SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition, c.relpartbound
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm')
     AND n.nspname <> ALL(ARRAY['pg_catalog', 'information_schema', '_dbconsole', 'pg_toast'])
     AND n.nspname NOT LIKE 'pg\\_%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                        AND e.objid = c.oid AND e.deptype = 'e')
), typ AS (
  SELECT t.oid, n.nspname, t.typname, t.typtype, t.typbasetype, t.typtypmod, t.typnotnull,
         t.typdefault, t.typcollation,
         (SELECT x.extname FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
           WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
             AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' LIMIT 1) AS extname
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname <> ALL(ARRAY['pg_catalog', 'information_schema', '_dbconsole', 'pg_toast'])
     AND n.nspname NOT LIKE 'pg\\_%'
     AND t.typtype IN ('e', 'd', 'b', 'c', 'r', 'm')
     AND (t.typrelid = 0 OR (SELECT k.relkind FROM pg_class k WHERE k.oid = t.typrelid) = 'c')
     AND NOT (t.typelem <> 0 AND t.typlen = -1 AND t.typtype = 'b')
)
SELECT current_setting('server_version_num')::int,
  (SELECT json_agg(nspname ORDER BY nspname) FROM pg_namespace
    WHERE nspname <> ALL(ARRAY['pg_catalog', 'information_schema', '_dbconsole', 'pg_toast'])
      AND nspname NOT LIKE 'pg\\_%'),
  (SELECT json_agg(json_build_object(
      'schema', r.nspname, 'name', r.relname, 'kind', r.relkind,
      'parent', (SELECT json_build_array(pn.nspname, pc.relname)
                   FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
                   JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                  WHERE i.inhrelid = r.oid AND r.relispartition),
      'bound', CASE WHEN r.relispartition THEN pg_get_expr(r.relpartbound, r.oid) END,
      'partition_key', CASE WHEN r.relkind = 'p' THEN pg_get_partkeydef(r.oid) END,
      'columns', (SELECT json_agg(json_build_object(
          'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
          'type_schema', bn.nspname, 'type_name', bt.typname, 'type_kind', bt.typtype::text,
          'builtin', bt.oid < 16384,
          'not_null', a.attnotnull, 'local', a.attislocal,
          'default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
          'generated', CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
          'identity', a.attidentity::text,
          'collation', CASE WHEN a.attcollation <> t.typcollation
                            THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END,
          'sequences', (SELECT json_agg(json_build_array(sn.nspname, sc.relname))
                          FROM pg_depend d JOIN pg_class sc ON sc.oid = d.refobjid AND sc.relkind = 'S'
                          JOIN pg_namespace sn ON sn.oid = sc.relnamespace
                         WHERE d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                           AND d.refclassid = 'pg_class'::regclass))
          ORDER BY a.attnum)
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
          JOIN pg_type bt ON bt.oid = CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN t.typelem ELSE t.oid END
          JOIN pg_namespace bn ON bn.oid = bt.typnamespace
          LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
          LEFT JOIN pg_collation co ON co.oid = a.attcollation
          LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
         WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped),
      'constraints', (SELECT json_agg(json_build_object(
          'name', con.conname, 'kind', con.contype::text, 'definition', pg_get_constraintdef(con.oid),
          'references', CASE WHEN con.contype = 'f' THEN
                          (SELECT json_build_array(fn.nspname, fc.relname) FROM pg_class fc
                             JOIN pg_namespace fn ON fn.oid = fc.relnamespace WHERE fc.oid = con.confrelid) END)
          ORDER BY con.conname)
          FROM pg_constraint con
         WHERE con.conrelid = r.oid AND con.conparentid = 0 AND con.contype IN ('p', 'u', 'f', 'c', 'x')
           AND (con.contype <> 'c' OR con.conislocal)),
      'indexes', (SELECT json_agg(json_build_object('name', ic.relname, 'definition', pg_get_indexdef(i.indexrelid))
                          ORDER BY ic.relname)
          FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = r.oid
           AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                              AND con.conrelid = r.oid AND con.contype IN ('p', 'u', 'x'))
           AND NOT EXISTS (SELECT 1 FROM pg_inherits ih WHERE ih.inhrelid = i.indexrelid)),
      'triggers', (SELECT json_agg(tg.tgname ORDER BY tg.tgname) FROM pg_trigger tg
                    WHERE tg.tgrelid = r.oid AND NOT tg.tgisinternal))
      ORDER BY r.nspname, r.relname) FROM rel r),
  (SELECT json_agg(json_build_object(
      'schema', y.nspname, 'name', y.typname, 'kind', y.typtype::text, 'extension', y.extname,
      'labels', (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = y.oid),
      'base', CASE WHEN y.typtype = 'd' THEN format_type(y.typbasetype, y.typtypmod) END,
      'base_type', CASE WHEN y.typtype = 'd' THEN
                     (SELECT json_build_array(bn.nspname, bt.typname) FROM pg_type bt
                        JOIN pg_namespace bn ON bn.oid = bt.typnamespace
                       WHERE bt.oid = CASE WHEN bb.typelem <> 0 AND bb.typlen = -1 THEN bb.typelem ELSE bb.oid END) END,
      'not_null', y.typnotnull, 'default', y.typdefault,
      'checks', (SELECT json_agg(pg_get_constraintdef(dc.oid) ORDER BY dc.conname)
                   FROM pg_constraint dc WHERE dc.contypid = y.oid AND dc.contype = 'c'))
      ORDER BY y.nspname, y.typname)
     FROM typ y LEFT JOIN pg_type bb ON bb.oid = y.typbasetype),
  (SELECT json_agg(json_build_object(
      'schema', n.nspname, 'name', c.relname, 'type', format_type(s.seqtypid, NULL),
      'start', s.seqstart, 'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax,
      'cache', s.seqcache, 'cycle', s.seqcycle,
      'owned_by', (SELECT json_build_array(tn.nspname, tc.relname, ta.attname) FROM pg_depend d
                     JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
                     JOIN pg_attribute ta ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
                      AND d.refclassid = 'pg_class'::regclass LIMIT 1))
      ORDER BY n.nspname, c.relname)
     FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname <> ALL(ARRAY['pg_catalog', 'information_schema', '_dbconsole', 'pg_toast'])
      AND n.nspname NOT LIKE 'pg\\_%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                         AND d.deptype IN ('i', 'e'))),
  (SELECT json_agg(json_build_array(n.nspname, c.relname) ORDER BY n.nspname, c.relname)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(ARRAY['alembic_version', '_prisma_migrations', 'django_migrations',
                                             'flyway_schema_history', 'schema_migrations', 'knex_migrations'])
      AND n.nspname IN (SELECT json_array_elements_text(current_setting('dbconsole.search_schemas')::json)))
"""
