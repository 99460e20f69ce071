"""With the broker down, pages keep working, enqueuing fails with a logged error, nothing is lost,
and the sweeper hands the work over once the broker is back. Uses its own Redis on another port."""

import logging
from datetime import timedelta

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.imports import sweep_import_jobs
from customers.models import ImportJob
from retention.celery import app
from tests.integration.redis_server import ThrowawayRedis
from tests.integration.workers import reset_producer_pools

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
