"""A schema shaped like a real application's, as ``pg_dump`` restores it: the server complete,
the local copy older. Reusable by the sync, diff and schema tests.

What it holds, because each broke a sync of a real database once:
- ``payment`` partitioned by month, its primary key on the parent and its foreign keys declared
  on *each partition* (as pagila and many dumps write them), one (empty) partition only on the server;
- a ``BEFORE UPDATE`` trigger stamping ``last_update = now()`` on every table (and one declared
  on a partition only);
- sequences used through ``DEFAULT nextval(...)`` without ``OWNED BY``, one shared by two tables;
- an enum, a domain, a foreign key to a UNIQUE constraint (not the primary key), a DEFERRABLE
  foreign key, the same table name in two schemas, and a materialized view over the payments.
"""

from __future__ import annotations

from typing import Any

import psycopg

REAL_TABLES = ["archive.customer", "public.customer", "public.film", "public.inventory", "public.payment",
               "public.staff", "public.store"]
REAL_SEQUENCES = {"public.customer_id_seq": ["public.customer"], "public.payment_id_seq": ["public.payment"],
                  "public.shared_id_seq": ["public.staff", "public.store"]}

_SCHEMA = """
CREATE SCHEMA archive;
CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN email_address AS text CHECK (VALUE LIKE '%@%');
CREATE SEQUENCE customer_id_seq;
CREATE SEQUENCE payment_id_seq;
CREATE SEQUENCE shared_id_seq;
CREATE FUNCTION stamp_last_update() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.last_update := now(); RETURN NEW; END$$;

CREATE TABLE store (store_id integer DEFAULT nextval('shared_id_seq') PRIMARY KEY, name text NOT NULL,
                    last_update timestamptz DEFAULT now() NOT NULL);
CREATE TABLE staff (staff_id integer DEFAULT nextval('shared_id_seq') PRIMARY KEY,
                    store_id integer NOT NULL REFERENCES store (store_id) DEFERRABLE INITIALLY IMMEDIATE,
                    name text NOT NULL, last_update timestamptz DEFAULT now() NOT NULL);
CREATE TABLE customer (customer_id integer DEFAULT nextval('customer_id_seq') NOT NULL,
                       store_id integer NOT NULL, email email_address, active boolean NOT NULL DEFAULT true,
                       last_update timestamptz DEFAULT now() NOT NULL);
ALTER TABLE ONLY customer ADD CONSTRAINT customer_pkey PRIMARY KEY (customer_id);
ALTER TABLE ONLY customer ADD CONSTRAINT customer_store_id_fkey FOREIGN KEY (store_id) REFERENCES store (store_id);
CREATE TABLE film (film_id integer NOT NULL PRIMARY KEY, code text NOT NULL UNIQUE, title text NOT NULL,
                   rating mpaa_rating DEFAULT 'G', last_update timestamptz DEFAULT now() NOT NULL);
CREATE TABLE inventory (inventory_id integer PRIMARY KEY, film_code text NOT NULL REFERENCES film (code),
                        store_id integer NOT NULL REFERENCES store (store_id),
                        last_update timestamptz DEFAULT now() NOT NULL);
CREATE TABLE payment (payment_id integer DEFAULT nextval('payment_id_seq') NOT NULL,
                      customer_id integer NOT NULL, staff_id integer NOT NULL, amount numeric(5,2) NOT NULL,
                      payment_date timestamptz NOT NULL, last_update timestamptz DEFAULT now() NOT NULL)
  PARTITION BY RANGE (payment_date);
ALTER TABLE ONLY payment ADD CONSTRAINT payment_pkey PRIMARY KEY (payment_date, payment_id);
CREATE TABLE archive.customer (customer_id integer PRIMARY KEY, note text);
"""

_MONTHS = ["2022_01", "2022_02", "2022_03", "2022_04"]


def _partition_ddl(month: str) -> str:
    year, mon = month.split("_")
    start = f"{year}-{mon}-01"
    end = f"{year}-{int(mon) + 1:02d}-01"
    name = f"payment_p{month}"
    return f"""
CREATE TABLE {name} PARTITION OF payment FOR VALUES FROM ('{start} 00:00:00+00') TO ('{end} 00:00:00+00');
ALTER TABLE {name} ADD CONSTRAINT {name}_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customer (customer_id);
ALTER TABLE {name} ADD CONSTRAINT {name}_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES staff (staff_id);
"""


_TRIGGERS = """
CREATE TRIGGER last_updated BEFORE UPDATE ON store FOR EACH ROW EXECUTE FUNCTION stamp_last_update();
CREATE TRIGGER last_updated BEFORE UPDATE ON staff FOR EACH ROW EXECUTE FUNCTION stamp_last_update();
CREATE TRIGGER last_updated BEFORE UPDATE ON customer FOR EACH ROW EXECUTE FUNCTION stamp_last_update();
CREATE TRIGGER last_updated BEFORE UPDATE ON film FOR EACH ROW EXECUTE FUNCTION stamp_last_update();
CREATE TRIGGER last_updated BEFORE UPDATE ON inventory FOR EACH ROW EXECUTE FUNCTION stamp_last_update();
CREATE TRIGGER last_updated BEFORE UPDATE ON payment FOR EACH ROW EXECUTE FUNCTION stamp_last_update();
CREATE TRIGGER p2022_01_stamp BEFORE INSERT OR UPDATE ON payment_p2022_01 FOR EACH ROW
  EXECUTE FUNCTION stamp_last_update();
CREATE MATERIALIZED VIEW customer_totals AS
  SELECT customer_id, sum(amount) AS total, count(*) AS payments FROM payment GROUP BY customer_id;
"""

# Rows: the server has everything; the local copy is older (fewer rows, other values, old stamps).
_DATA = """
INSERT INTO store (name, last_update) SELECT 'store ' || g, '2020-01-01' FROM generate_series(1, {stores}) g;
INSERT INTO staff (store_id, name, last_update)
  SELECT (SELECT min(store_id) FROM store) + g % {stores}, 'staff ' || g || '{tag}', '2020-01-01'
    FROM generate_series(1, {staff}) g;
INSERT INTO customer (store_id, email, active, last_update)
  SELECT (SELECT min(store_id) FROM store) + g % {stores}, 'c' || g || '{tag}@example.com', g % 7 <> 0, '2020-01-01'
    FROM generate_series(1, {customers}) g;
INSERT INTO film SELECT g, 'F' || lpad(g::text, 4, '0'), 'Film ' || g || '{tag}',
                        (ARRAY['G', 'PG', 'PG-13', 'R', 'NC-17'])[1 + g % 5]::mpaa_rating, '2020-01-01'
  FROM generate_series(1, {films}) g;
INSERT INTO inventory SELECT g, 'F' || lpad((1 + g % {films})::text, 4, '0'),
                             (SELECT min(store_id) FROM store) + g % {stores}, '2020-01-01'
  FROM generate_series(1, {films} * 2) g;
INSERT INTO payment (customer_id, staff_id, amount, payment_date, last_update)
  SELECT 1 + g % {customers}, (SELECT min(staff_id) FROM staff) + g % {staff}, (g % 1000) / 100.0 + {bump},
         timestamptz '2022-01-01 00:00:00+00' + g * interval '2 hours',
         '2020-01-01'
    FROM generate_series(1, {payments}) g;
INSERT INTO archive.customer SELECT g, 'archived {tag}' FROM generate_series(1, {customers} / 4) g;
"""


def build_real_schema(conn: psycopg.Connection[Any], *, older: bool) -> None:
    """Create the schema and fill it: ``older=False`` is the server, ``older=True`` the local copy."""
    months = _MONTHS[:3] if older else _MONTHS  # the (empty) April partition exists on the server only
    conn.execute(_SCHEMA)
    for month in months:
        conn.execute(_partition_ddl(month))
    conn.execute(_TRIGGERS)
    if older:
        params = dict(stores=3, staff=6, customers=150, films=40, payments=500, bump=1, tag=" old")
    else:
        params = dict(stores=3, staff=8, customers=200, films=50, payments=900, bump=0, tag="")
    conn.execute(_DATA.format(**params))
    conn.execute("REFRESH MATERIALIZED VIEW customer_totals")
    conn.execute("ANALYZE")


def build_real_schemas(dbs: Any) -> None:
    """The server complete, the local copy older, both as the ``app`` role (which owns them)."""
    with dbs.server.connect(dbs.server_db) as server:
        build_real_schema(server, older=False)
    with dbs.local.connect(dbs.local_db) as local:
        build_real_schema(local, older=True)
