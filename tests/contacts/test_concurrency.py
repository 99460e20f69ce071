"""Races closed in the database, proved with real threads on PostgreSQL."""

import threading

import pytest
from django.core import mail
from django.db import connection

from contacts import services, sms
from contacts.errors import CapExceededError
from contacts.models import Channel, ContactPreferences, Kind, OutboxMessage, RefusedTouch, Touch
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.contacts.urls"),
]

ROUNDS = 5


def _run_together(workers: int, work) -> list:
    """Runs `work(index)` in `workers` threads released at once; returns what each returned or raised."""
    barrier = threading.Barrier(workers)
    results: list = [None] * workers

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the test inspects what each worker got
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_workers_booking_the_last_sms_slot_give_one_booking_and_one_refusal(noon):
    for round_number in range(ROUNDS):
        customer = CustomerFactory()
        # The lock row exists already, as for any customer booked before: the lock must decide,
        # not the insert of a first preferences row.
        ContactPreferences.objects.create(customer=customer)

        def work(index: int, customer_id=customer.pk, round_number=round_number):
            return services.schedule_contact(
                customer_id=customer_id,
                channel=Channel.SMS,
                kind=Kind.ADVERTISING,
                source=Touch.Source.SYSTEM,
                key=f"race-{round_number}-{index}",
            )

        results = _run_together(2, work)
        booked = [result for result in results if isinstance(result, Touch)]
        refused = [result for result in results if isinstance(result, CapExceededError)]
        assert (len(booked), len(refused)) == (1, 1), results
        assert Touch.objects.filter(customer=customer).count() == 1
        assert RefusedTouch.objects.filter(customer=customer, reason="cap").count() == 1


def test_two_workers_with_the_same_key_get_the_same_booking(noon):
    customer = CustomerFactory()

    def work(index: int):
        return services.schedule_contact(
            customer_id=customer.pk,
            channel=Channel.SMS,
            kind=Kind.ADVERTISING,
            source=Touch.Source.SYSTEM,
            key="one-key",
        )

    results = _run_together(2, work)
    assert all(isinstance(result, Touch) for result in results), results
    assert results[0].pk == results[1].pk
    assert not RefusedTouch.objects.exists()


def test_parallel_deliveries_of_one_message_send_it_once(noon):
    customer = CustomerFactory(language="en")
    message = services.queue_message(
        customer_id=customer.pk,
        template_code="win_back",
        channel=Channel.SMS,
        key="parallel-send",
    )
    # With no on-commit capture the eager task already ran once; make the row due again to race.
    OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.PENDING)
    sms.outbox.clear()
    mail.outbox = []

    results = _run_together(4, lambda index: services.deliver_outbox_message(message_id=message.pk))

    assert not [result for result in results if isinstance(result, Exception)], results
    assert len(sms.outbox) == 1
    assert OutboxMessage.objects.get(pk=message.pk).status == OutboxMessage.Status.SENT
