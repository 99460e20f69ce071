"""Bulk reads and writes shaped for PostgreSQL, with the plain ORM elsewhere (SQLite).

Accrual handles imports in 5,000-purchase chunks. With `IN (...)` lists and `bulk_create`, Django
prepares every cell in Python and psycopg splices each of tens of thousands of parameters into
the SQL text on the client: measured, that was most of the ~1 ms per purchase that loyalty added
to an import. Here a column of ids or values travels as one array parameter instead
(`= ANY(%s)`, `INSERT ... SELECT FROM unnest(...)`), the pattern `customers.imports` uses for
purchases.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, models
from django.db.models import F, Lookup, Q


class AnyOf(Lookup):
    """`column = ANY(%s)`: the values travel as one array parameter (PostgreSQL only)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection) -> tuple[str, list]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, list(self.rhs)]


def is_postgresql(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def one_of(field: str, values: Iterable[Any], *, using: str = "default") -> Q | AnyOf:
    """A filter for rows whose `field` is one of `values` (one array parameter on PostgreSQL)."""
    values = list(values)
    if is_postgresql(using):
        return AnyOf(F(field), values)
    return Q(**{f"{field}__in": values})


# Below this many rows bulk_create is as quick, and it sets the instances' ids (a single partner
# accrual or adjustment returns its entry).
UNNEST_FROM = 100


def _array_type(field: models.Field, connection) -> str:
    db_type = field.db_type(connection)
    # A cast to varchar(n) would silently cut longer text; text assigned to the column is checked.
    return "text" if db_type.startswith("varchar") else db_type


def insert_rows(
    model: type[models.Model],
    objects: Sequence[models.Model],
    *,
    ignore_conflicts: bool = False,
    batch_size: int = 1_000,
) -> None:
    """Inserts unsaved model instances; bulk_create for a few rows or outside PostgreSQL.

    On PostgreSQL, from `UNNEST_FROM` rows on, one `INSERT ... SELECT FROM unnest(arrays)` for
    all of them, a column per array parameter; those instances' ids are not set afterwards
    (callers that need rows back read them). `ignore_conflicts` skips rows a unique constraint
    refuses (ON CONFLICT DO NOTHING).
    """
    if not objects:
        return
    connection = connections[model.objects.db]
    if connection.vendor != "postgresql" or len(objects) < UNNEST_FROM:
        model.objects.bulk_create(objects, batch_size=batch_size, ignore_conflicts=ignore_conflicts)
        return
    # Every column but a database-generated id (an AutoField returns its value from the insert).
    fields = [field for field in model._meta.concrete_fields if not field.db_returning]
    columns = [[getattr(obj, field.attname) for obj in objects] for field in fields]
    quote = connection.ops.quote_name
    # Only names from the model's metadata go into the text; every value is a parameter.
    sql = "INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}){conflict}".format(  # noqa: S608
        table=quote(model._meta.db_table),
        columns=", ".join(quote(field.column) for field in fields),
        arrays=", ".join(f"%s::{_array_type(field, connection)}[]" for field in fields),
        conflict=" ON CONFLICT DO NOTHING" if ignore_conflicts else "",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)
