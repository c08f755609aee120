"""The one catalog query: every user table of a database with everything a compare or a sync needs.

Kept apart from :mod:`dbconsole.catalog` because it is long and read on its own. Each output
row is one *sync unit*: a plain table or a partitioned table's root. A root's partitions
(``pg_partition_tree``, every level) are folded into its row: their sizes and estimates, their
constraints that are not clones of the root's own (``pg_dump`` of schemas that declared a
foreign key per partition writes it on each partition), their triggers. So the number of
statements stays one per side however many partitions there are.

Per column: the collation (``default`` spelled as the database's own, since two databases'
defaults may differ), an enum's labels and the extension that owns the type. Per table: its
sequences (owned, identity, and the ones its column defaults call, found through ``pg_depend``
on ``pg_attrdef``), user triggers, row-level security, materialized views that read it.
"""

CATALOG_SQL = """
SELECT n.nspname, c.relname, c.relkind, c.reltuples::float8, c.relpages,
       pg_total_relation_size(c.oid), pg_relation_size(c.oid),
       s.n_live_tup, (s.n_tup_ins + s.n_tup_upd + s.n_tup_del + s.n_live_tup + s.n_dead_tup) > 0,
       (SELECT json_agg(json_build_object(
                 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                 'type_oid', a.atttypid, 'not_null', a.attnotnull, 'has_default', a.atthasdef,
                 'generated', a.attgenerated <> '', 'identity', a.attidentity,
                 'builtin', a.atttypid < 16384 AND (t.typelem = 0 OR t.typelem < 16384),
                 'collation', CASE WHEN a.attcollation = 0 THEN NULL
                                   WHEN co.collname = 'default' THEN 'default:' || db.datcollate
                                   ELSE co.collname END,
                 'enum_labels', (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                                  WHERE e.enumtypid IN (t.oid, t.typelem)),
                 'extension', (SELECT x.extname FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
                                WHERE d.classid = 'pg_type'::regclass AND d.objid IN (t.oid, t.typelem)
                                  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' LIMIT 1))
               ORDER BY a.attnum)
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_collation co ON co.oid = a.attcollation
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT json_agg(json_build_object(
                 'name', con.conname, 'type', con.contype, 'deferrable', con.condeferrable,
                 'on_delete', con.confdeltype,
                 'on_partition', con.conrelid <> c.oid, 'rel', con.conrelid,
                 'columns', (SELECT json_agg(a.attname ORDER BY k.ord)
                               FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
                 'ref_schema', rn.nspname, 'ref_table', rc.relname,
                 'ref_columns', (SELECT json_agg(a.attname ORDER BY k.ord)
                                   FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                                   JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum))
               ORDER BY con.conname)
          FROM pg_constraint con
          LEFT JOIN pg_class rc ON rc.oid = coalesce(pg_partition_root(con.confrelid), con.confrelid)
          LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
         WHERE con.conrelid = ANY(tree.rels) AND con.contype IN ('p', 'u', 'f') AND con.conparentid = 0),
       (SELECT json_agg(json_build_object('rel', i.indrelid, 'columns',
                 (SELECT json_agg(a.attname ORDER BY k.ord)
                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)))
          FROM pg_index i
         WHERE i.indrelid = ANY(tree.rels) AND i.indisunique AND NOT i.indisprimary AND i.indisvalid
           AND i.indpred IS NULL AND i.indexprs IS NULL
           AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)),
       (SELECT json_object_agg(a.attname, used.seq)
          FROM (SELECT d.refobjsubid AS attnum, d.objid::regclass::text AS seq
                  FROM pg_depend d JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
                 WHERE d.refobjid = c.oid AND d.classid = 'pg_class'::regclass
                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                UNION
                SELECT ad.adnum, d.refobjid::regclass::text
                  FROM pg_attrdef ad
                  JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                                  AND d.refclassid = 'pg_class'::regclass
                  JOIN pg_class sc ON sc.oid = d.refobjid AND sc.relkind = 'S'
                 WHERE ad.adrelid = c.oid) used
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = used.attnum),
       (SELECT json_agg(json_build_object(
                 'schema', pn.nspname, 'name', p.relname, 'leaf', p.relkind <> 'p',
                 'bound', pg_get_expr(p.relpartbound, p.oid), 'reltuples', p.reltuples::float8,
                 'relpages', p.relpages, 'total_size', pg_total_relation_size(p.oid),
                 'heap_size', pg_relation_size(p.oid), 'live', ps.n_live_tup,
                 'has_stats', (ps.n_tup_ins + ps.n_tup_upd + ps.n_tup_del + ps.n_live_tup + ps.n_dead_tup) > 0,
                 'oid', p.oid)
               ORDER BY pn.nspname, p.relname)
          FROM pg_class p JOIN pg_namespace pn ON pn.oid = p.relnamespace
          LEFT JOIN pg_stat_all_tables ps ON ps.relid = p.oid
         WHERE p.oid = ANY(tree.rels) AND p.oid <> c.oid),
       (SELECT json_agg(json_build_object('schema', tn.nspname, 'table', tc.relname, 'name', tg.tgname,
                                          'enabled', tg.tgenabled::text)
               ORDER BY tc.oid <> c.oid, tn.nspname, tc.relname, tg.tgname)
          FROM pg_trigger tg JOIN pg_class tc ON tc.oid = tg.tgrelid
          JOIN pg_namespace tn ON tn.oid = tc.relnamespace
         WHERE tg.tgrelid = ANY(tree.rels) AND NOT tg.tgisinternal),
       (SELECT bool_and(pg_has_role(o.relowner, 'USAGE')) FROM pg_class o WHERE o.oid = ANY(tree.rels)),
       c.relrowsecurity AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE'))
         AND NOT (SELECT r.rolbypassrls OR r.rolsuper FROM pg_roles r WHERE r.rolname = current_user),
       (SELECT json_agg(DISTINCT jsonb_build_object('schema', mn.nspname, 'name', mv.relname))
          FROM pg_depend d JOIN pg_rewrite rw ON rw.oid = d.objid
          JOIN pg_class mv ON mv.oid = rw.ev_class AND mv.relkind = 'm'
          JOIN pg_namespace mn ON mn.oid = mv.relnamespace
         WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.refobjid = ANY(tree.rels))
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN (SELECT datcollate FROM pg_database WHERE datname = current_database()) db
  CROSS JOIN LATERAL (SELECT c.oid || coalesce(array_agg(pt.relid::oid) FILTER (WHERE pt.relid <> c.oid), '{}')
                        AS rels FROM pg_partition_tree(c.oid) pt) tree
  LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname <> ALL(%(hidden)s) AND n.nspname NOT LIKE 'pg\\_%%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend e
                    WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
 ORDER BY n.nspname, c.relname
"""
