"""The list's search can use its indexes on PostgreSQL (the query's expressions match theirs)."""

import pytest
from django.db import connection, transaction

from customers import selectors
from tests.factories import CustomerFactory, ManagerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def plan_of(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        # A handful of rows is always cheapest to scan; forbid that to see which indexes fit.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_a_search_uses_the_trigram_and_external_id_indexes():
    CustomerFactory.create_batch(5)
    found = CustomerFactory(name="Northwind Traders", external_id="NW-7")
    customers = selectors.customer_list_for(ManagerFactory(), search="northwind")
    assert list(customers) == [found]
    plan = plan_of(customers.order_by().values("pk"))
    for index in ("customer_name_trgm_idx", "customer_email_trgm_idx", "customer_phone_trgm_idx",
                  "customer_external_id_upper_idx"):
        assert index in plan, plan
