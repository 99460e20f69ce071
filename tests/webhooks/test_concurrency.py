"""Races on PostgreSQL with real threads: a delivery is claimed by one worker only."""

import threading

import pytest
from django.db import connection, transaction

from webhooks import services
from webhooks.models import Event, WebhookDelivery

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_workers_handed_the_same_delivery_at_once_post_it_once(endpoint, receiver):
    # Made directly: recorded through the service, it would be sent at once on commit.
    delivery_id = WebhookDelivery.objects.create(
        endpoint=endpoint, event=Event.POINTS_REDEEMED, object_key="redemption:7", payload={}
    ).pk
    receiver.answers = [(200, 0.3)]
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def worker():
        try:
            start.wait()
            outcomes.append(services.deliver_webhook(delivery_id=delivery_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(receiver.requests) == 1
    assert outcomes.count("delivered") == 1
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 1


def test_the_same_cause_recorded_at_once_in_two_transactions_is_one_delivery(endpoint):
    start = threading.Barrier(2)
    errors: list[Exception] = []

    def record():
        try:
            start.wait()
            with transaction.atomic():
                services.record_deliveries(
                    event=Event.POINTS_REDEEMED, items=[("redemption:8", {"redemption": 8})]
                )
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=record) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert WebhookDelivery.objects.filter(object_key="redemption:8").count() == 1
