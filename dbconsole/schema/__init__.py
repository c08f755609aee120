"""Schema: how two databases' declarations differ, which migrations each has applied, and the
additive DDL that gives a sync's target the tables it lacks. Headless (no CLI, no console)."""

from dbconsole.schema.compare import Difference, SchemaDiff, compare_schemas
from dbconsole.schema.create import CreatePlan, plan_create_missing
from dbconsole.schema.migrations import MigrationHistory, compare_migrations, read_migrations
from dbconsole.schema.read import read_schema

__all__ = ["CreatePlan", "Difference", "MigrationHistory", "SchemaDiff", "compare_migrations", "compare_schemas",
           "plan_create_missing", "read_migrations", "read_schema"]
