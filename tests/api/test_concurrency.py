"""Retries that arrive at the same moment: the unique external id must decide, not luck."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.models import Purchase
from tests.factories import CustomerFactory, PurchaseFactory, RepFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 6


def _client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _in_threads(work, count: int) -> list:
    """Runs work(index) in `count` threads started together; returns their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the test asserts on what each thread got
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_the_same_purchase_sent_at_once_from_many_threads_is_recorded_once():
    rep = RepFactory()
    customer = CustomerFactory(owner=rep)
    body = {
        "external_id": "RACE-1",
        "customer": customer.pk,
        "occurred_at": "2025-03-14T16:05:00+03:00",
        "amount": "1250.50",
    }
    key = Token.objects.create(user=rep).key

    responses = _in_threads(
        lambda index: _client_for(key).post("/api/v1/purchases/", body, format="json"), THREADS
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * (THREADS - 1) + [201]
    assert len({str(response.json()) for response in responses}) == 1
    assert Purchase.objects.count() == 1


def test_overlapping_bulk_batches_at_once_record_each_purchase_once():
    rep = RepFactory()
    customers = [CustomerFactory(owner=rep) for _index in range(10)]
    PurchaseFactory(customer=customers[7], external_id="B-0007", amount=Decimal("100.00"))
    items = [
        {
            "external_id": f"B-{n:04d}",
            "customer": customers[n % 10].pk,
            "occurred_at": "2025-03-14T16:05:00+03:00",
            "amount": "100.00",
        }
        for n in range(300)
    ]
    key = Token.objects.create(user=rep).key

    def send(index: int):
        # Each thread sends the batch in another order, from another starting point.
        step = index + 1
        ordered = items[index * 37 :] + items[: index * 37]
        return _client_for(key).post(
            "/api/v1/purchases/bulk/",
            {"items": ordered[::-1] if step % 2 else ordered},
            format="json",
        )

    responses = _in_threads(send, THREADS)

    assert [response.status_code for response in responses] == [200] * THREADS
    created = sum(response.json()["created"] for response in responses)
    assert created == 299  # B-0007 was stored before
    assert all(response.json()["errors"] == 0 for response in responses)
    assert Purchase.objects.count() == 300
