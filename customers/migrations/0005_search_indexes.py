"""Indexes for the customer list's search box.

The search matches a part of the name, e-mail or phone (`icontains`, which Django writes as
UPPER(column) LIKE UPPER('%text%')) or the whole external id (`iexact`, UPPER(column) = UPPER(text)).
Without indexes every search read all customers: 80-200 ms on a base of 100k. On PostgreSQL,
trigram GIN indexes on UPPER(column) answer the LIKE '%...%' matches (the pg_trgm extension, which
PostgreSQL 13+ lets a database owner create); the external id gets an index on UPPER(external_id)
on every database. On the 100k base of bench/load.py a search went from 180 ms to under 20 ms.
"""

from django.db import migrations, models
from django.db.models.functions import Upper

SEARCHED_COLUMNS = ("name", "email", "phone")


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in SEARCHED_COLUMNS:
        # CONCURRENTLY: a large base keeps taking purchases and edits while the index builds.
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS customer_{column}_trgm_idx "
            f"ON customers_customer USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )
    # Statistics of the indexed expressions: without them the planner guesses that a search
    # matches hundreds of customers and walks the name index instead of using these.
    schema_editor.execute("ANALYZE customers_customer")


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCHED_COLUMNS:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS customer_{column}_trgm_idx")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("customers", "0004_customer_name_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(Upper("external_id"), name="customer_external_id_upper_idx"),
        ),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes, elidable=False),
    ]
