"""The nightly pipeline on real Celery workers and Redis, against the test database on PostgreSQL."""

import re
from datetime import date, timedelta

import pytest
import redis
from django.db.models import Q
from django.utils import timezone

from common.models import JobRun
from contacts.models import CallListEntry, OutboxMessage
from customers.demo import seed_demo
from customers.models import Customer, CustomerScore, ScoringRun
from retention import nightly
from retention.celery import app
from retention.tasks import rescore_task, run_job_task
from tests.integration.workers import Worker, reset_producer_pools, wait_until

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(420),
]

RUN_DATE = date(2026, 11, 2)  # a Monday: the rescore also runs the weekly backtest


@pytest.fixture
def broker(settings):
    import os

    url = os.environ["TEST_REDIS_URL"]
    redis.Redis.from_url(url).flushdb()
    keys = ("task_always_eager", "broker_url", "result_backend")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(task_always_eager=False, broker_url=url, result_backend=url)
    reset_producer_pools()
    try:
        yield url
    finally:
        app.conf.update(saved)
        reset_producer_pools()
        redis.Redis.from_url(url).flushdb()


@pytest.fixture
def workers(broker, tmp_path):
    started = []

    def start(**kwargs) -> Worker:
        worker = Worker(broker_url=broker, log_dir=tmp_path, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _job_done(job: str, run_date: date = RUN_DATE) -> JobRun | None:
    run = JobRun.objects.filter(job=job, run_date=run_date).first()
    if run and run.status == JobRun.Status.FAILED:
        raise AssertionError(f"{job} failed: {run.error}")
    return run if run and run.status == JobRun.Status.SUCCEEDED else None


def _outbox_settled() -> bool:
    """Nothing in flight and nothing due: messages booked for later (contact hours) may wait."""
    return not OutboxMessage.objects.filter(
        Q(status=OutboxMessage.Status.SENDING)
        | Q(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=timezone.now())
    ).exists()


def _state() -> dict:
    return {
        "scores": CustomerScore.objects.count(),
        "entries": CallListEntry.objects.count(),
        "messages": OutboxMessage.objects.count(),
        "sent": OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT).count(),
        "runs": JobRun.objects.count(),
    }


def test_the_whole_night_runs_on_workers_and_a_second_run_changes_nothing(workers):
    seed_demo(customers=120, today=RUN_DATE - timedelta(days=1))
    workers(name="w1", concurrency=2)
    for job in nightly.NIGHTLY_ORDER:
        run_job_task.delay(job, RUN_DATE.isoformat())
        wait_until(lambda job=job: _job_done(job), timeout=180, what=f"{job} to succeed")
    wait_until(_outbox_settled, timeout=120, what="the outbox to be sent")

    customers = Customer.objects.count()
    assert CustomerScore.objects.count() == customers
    rescore = JobRun.objects.get(job="rescore", run_date=RUN_DATE)
    assert rescore.counts["customers"] == customers
    assert "backtest_model_wins" in rescore.counts
    assert ScoringRun.objects.get().backtest is not None
    dormant = set(CustomerScore.objects.filter(dormant=True).values_list("customer_id", flat=True))
    assert dormant
    win_backs = set(
        CallListEntry.objects.filter(reason=CallListEntry.Reason.WIN_BACK, day=RUN_DATE)
        .values_list("customer_id", flat=True)
    )
    assert win_backs
    assert win_backs <= dormant
    assert OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT).exists()
    assert {run.job for run in JobRun.objects.filter(run_date=RUN_DATE)} == set(nightly.JOBS)
    assert "expired" in JobRun.objects.get(job="expire_points", run_date=RUN_DATE).counts

    before = _state()
    for job in nightly.NIGHTLY_ORDER:
        run_job_task.delay(job, RUN_DATE.isoformat())
    rescore_task.delay(run_date=RUN_DATE.isoformat())
    wait_until(_outbox_settled, timeout=60, what="the outbox")
    assert _state() == before
    assert all(run.attempts == 1 for run in JobRun.objects.filter(run_date=RUN_DATE))


def test_a_worker_killed_mid_rescore_is_replaced_and_every_customer_is_scored_once(workers):
    seed_demo(customers=300, today=RUN_DATE - timedelta(days=1))
    first = workers(name="doomed", concurrency=1, visibility_timeout=5)
    # Thirty small chunks, watched closely: a quick machine once finished twelve of them between
    # two looks, and the worker was killed after the rescore instead of during it.
    rescore_task.delay(run_date=RUN_DATE.isoformat(), chunk_size=10)
    wait_until(
        lambda: "scoring.chunk" in first.log(), timeout=120, what="the first chunk", every=0.02
    )
    first.kill()
    assert JobRun.objects.get(job="rescore", run_date=RUN_DATE).status == JobRun.Status.RUNNING

    mail = {"EMAIL_URL": "filemail://", "EMAIL_FILE_PATH": str(first.log_path.parent / "mail")}
    workers(name="survivor", concurrency=2, visibility_timeout=5, extra_env=mail)
    wait_until(lambda: _job_done("rescore"), timeout=240, what="the rescore to finish")
    scoring_run = ScoringRun.objects.get()
    assert scoring_run.chunks_done >= scoring_run.chunks_total
    assert CustomerScore.objects.count() == Customer.objects.count()
    assert set(CustomerScore.objects.values_list("as_of", flat=True)) == {
        nightly.scoring_date(RUN_DATE)
    }

    # The day's contacts on top: each message exists once per idempotency key and is sent once.
    run_job_task.delay("plan_contacts", RUN_DATE.isoformat())
    wait_until(lambda: _job_done("plan_contacts"), timeout=180, what="the contact plan")
    wait_until(_outbox_settled, timeout=120, what="the outbox")
    keys = list(OutboxMessage.objects.values_list("key", flat=True))
    assert len(keys) == len(set(keys))
    sent_emails = OutboxMessage.objects.filter(
        channel="email", status=OutboxMessage.Status.SENT
    ).count()
    mail_dir = first.log_path.parent / "mail"
    delivered = sum(
        len(re.findall(r"^Subject: ", path.read_text(errors="replace"), flags=re.MULTILINE))
        for path in mail_dir.glob("*")
    )
    assert delivered == sent_emails
