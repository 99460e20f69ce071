"""With the broker down, pages keep working, enqueuing fails with a logged error, nothing is lost,
and the sweeper hands the work over once the broker is back. Uses its own Redis on another port."""

import logging
import re
import time
from datetime import timedelta

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from contacts.models import Channel, OutboxMessage
from contacts.services import queue_message
from contacts.tasks import sweep_outbox_task
from customers.imports import sweep_import_jobs
from customers.models import ImportJob, Purchase
from loyalty.models import LedgerEntry
from retention.celery import app
from tests.factories import CustomerFactory
from tests.integration.redis_server import ThrowawayRedis
from tests.integration.workers import Worker, reset_producer_pools, wait_until

pytestmark = [pytest.mark.celery_worker, pytest.mark.timeout(120)]


@pytest.fixture
def throwaway_broker(tmp_path, settings):
    server = ThrowawayRedis(tmp_path)
    server.start()
    reset_producer_pools()
    keys = ("task_always_eager", "broker_url", "result_backend", "broker_transport_options")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        task_always_eager=False, broker_url=server.url, result_backend=None,
        broker_transport_options={"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                  "interval_max": 0.5, "socket_connect_timeout": 1},
    )
    settings.MEDIA_ROOT = tmp_path / "media"
    try:
        yield server
    finally:
        server.stop()
        app.conf.update(saved)
        reset_producer_pools()


def _upload(client):
    body = "code;name\nC-1;ООО Ромашка\n".encode("cp1251")
    return client.post(
        reverse("customers:import-list"),
        {"kind": "customers", "file": SimpleUploadedFile("c.csv", body, "text/csv")},
    )


@pytest.mark.django_db(transaction=True)
def test_uploads_survive_a_broker_outage_and_are_handed_over_when_it_returns(
    throwaway_broker, manager, caplog, django_capture_on_commit_callbacks, time_machine
):
    queue = redis.Redis.from_url(throwaway_broker.url)
    client = Client()
    client.force_login(manager)

    assert _upload(client).status_code == 302
    assert queue.llen("celery") == 1  # handed to the broker

    throwaway_broker.stop()
    with caplog.at_level(logging.ERROR, logger="common.enqueue"):
        response = _upload(client)
    assert response.status_code == 302  # the page works; the upload is kept
    assert "task.enqueue_failed" in caplog.text
    lost = ImportJob.objects.order_by("-pk").first()
    assert lost.status == ImportJob.Status.PENDING
    assert client.get(lost.get_absolute_url()).status_code == 200

    throwaway_broker.start()
    time_machine.move_to(timezone.now() + timedelta(minutes=5))
    result = sweep_import_jobs()
    assert result["enqueued"] == result["pending"] == 2
    assert redis.Redis.from_url(throwaway_broker.url).llen("celery") == 2


# --- Redis (cache and broker) stopped and started under recorded purchases and queued messages -


def _delivered_to(mail_dir) -> list[str]:
    """The recipients of every e-mail the worker handed to the (file) mail backend."""
    recipients = []
    for path in mail_dir.glob("*"):
        recipients += re.findall(r"^To: (.+)$", path.read_text(errors="replace"), re.MULTILINE)
    return recipients


@pytest.mark.postgres
@pytest.mark.timeout(240)
@pytest.mark.django_db(transaction=True)
def test_a_redis_restart_loses_no_purchase_and_sends_no_message_twice(
    throwaway_broker, settings, tmp_path, manager, caplog
):
    """Production shape: Redis is both the cache (API throttles) and the broker. It restarts empty
    (no persistence), losing the hand-offs queued in it; purchases recorded meanwhile through the
    API and the browser are kept with their points, and the outbox sweeper hands every message to
    a worker again, which sends each exactly once."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": throwaway_broker.url.rsplit("/", 1)[0] + "/1",
        }
    }
    # Any hour is a contact hour here: the worker runs in real time, in another process.
    hours = {"CONTACTS_CONTACT_FROM": "00:00", "CONTACTS_CONTACT_UNTIL": "23:59"}
    settings.CONTACTS_CONTACT_HOURS = ("00:00", "23:59")
    customers = CustomerFactory.create_batch(4, language="en")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=manager).key}")
    browser = Client()
    browser.force_login(manager)
    queue = redis.Redis.from_url(throwaway_broker.url)

    def record(number: int) -> None:
        customer = customers[number % len(customers)]
        answer = api.post(
            "/api/v1/purchases/",
            {"external_id": f"API-{number}", "customer_external_id": customer.external_id,
             "occurred_at": timezone.now().isoformat(), "amount": "1500.00"},
            format="json",
        )
        assert answer.status_code == 201, answer.content
        page = browser.post(
            reverse("customers:purchase-create", args=[customer.pk]),
            {"occurred_at": timezone.localtime().strftime("%Y-%m-%d %H:%M"), "amount": "900.00",
             "currency": "RUB", "external_id": f"UI-{number}"},
        )
        assert page.status_code == 302, page.content[:2000]

    def queue_win_back(customer) -> OutboxMessage:
        return queue_message(
            customer_id=customer.pk, template_code="win_back", channel=Channel.EMAIL,
            key=f"redis-restart-{customer.pk}",
        )

    record(0)
    handed_over = [queue_win_back(customer) for customer in customers[:3]]
    # Handed to the broker on commit (with any message a purchase itself queues); no worker yet.
    assert queue.llen("celery") >= 3

    throwaway_broker.stop()  # the three hand-offs are lost with it
    with caplog.at_level(logging.ERROR, logger="common.enqueue"):
        record(1)
        record(2)
        during = queue_win_back(customers[3])
    assert "task.enqueue_failed" in caplog.text
    assert browser.get(reverse("customers:detail", args=[customers[0].pk])).status_code == 200

    throwaway_broker.start()
    assert redis.Redis.from_url(throwaway_broker.url).llen("celery") == 0
    messages = [*handed_over, during]
    assert all(
        message.status == OutboxMessage.Status.PENDING
        for message in OutboxMessage.objects.filter(pk__in=[m.pk for m in messages])
    )

    mail_dir = tmp_path / "mail"
    worker = Worker(
        broker_url=throwaway_broker.url, log_dir=tmp_path, name="after-restart",
        extra_env={"EMAIL_URL": "filemail://", "EMAIL_FILE_PATH": str(mail_dir), **hours},
    )
    try:
        # The sweeper (every few minutes under beat) hands the pending rows over again; its second
        # round, before the worker has sent them, hands them over twice.
        assert sweep_outbox_task()["enqueued"] >= 4
        sweep_outbox_task()
        wait_until(
            lambda: not OutboxMessage.objects.filter(
                status__in=[OutboxMessage.Status.PENDING, OutboxMessage.Status.SENDING],
                next_attempt_at__lte=timezone.now(),
            ).exists(),
            timeout=90, what="every due message to be sent",
        )
        time.sleep(2)  # any duplicate hand-off still queued is consumed by now
        assert redis.Redis.from_url(throwaway_broker.url).llen("celery") == 0
    finally:
        worker.stop()
    sent = OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT)
    assert set(sent.values_list("pk", flat=True)) >= {message.pk for message in messages}
    # Each sent e-mail reached the mail backend exactly once, after exactly one attempt.
    assert sorted(_delivered_to(mail_dir)) == sorted(
        sent.filter(channel=Channel.EMAIL).values_list("to", flat=True)
    )
    assert set(sent.values_list("attempts", flat=True)) == {1}

    purchases = Purchase.objects.filter(customer__in=customers)
    assert purchases.count() == 6
    assert set(purchases.values_list("external_id", flat=True)) == {
        f"{kind}-{number}" for kind in ("API", "UI") for number in range(3)
    }
    ledger = LedgerEntry.objects.filter(purchase__in=purchases)
    assert ledger.count() == ledger.values("purchase").distinct().count() == 6
