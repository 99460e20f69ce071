import threading
from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from common.jobs import claim_job_run, extend_lease, job_run
from common.models import JobRun

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 23)


def test_a_job_runs_once_per_day():
    with job_run("rescore", DAY) as run:
        assert run is not None
        run.counts["scored"] = 10
    with job_run("rescore", DAY) as again:
        assert again is None
    stored = JobRun.objects.get(job="rescore", run_date=DAY)
    assert stored.status == JobRun.Status.SUCCEEDED
    assert stored.counts == {"scored": 10}
    assert stored.attempts == 1


def test_a_running_copy_makes_a_second_copy_skip_until_its_lease_passes(time_machine):
    time_machine.move_to(timezone.now())
    first = claim_job_run(job="expire", run_date=DAY, lease_seconds=600)
    assert first is not None
    assert claim_job_run(job="expire", run_date=DAY) is None
    time_machine.shift(timedelta(seconds=601))
    taken_over = claim_job_run(job="expire", run_date=DAY)
    assert taken_over is not None
    assert taken_over.attempts == 2
    # The first worker's lease is gone: it may not extend a run that was taken over.
    first.worker = "crashed-host:1"
    assert not extend_lease(first)
    assert extend_lease(taken_over)


def test_a_failed_run_is_recorded_alerts_managers_and_can_run_again(manager, mailoutbox):
    manager.email = "boss@example.com"
    manager.save()
    def failing_job():
        with job_run("digest", DAY):
            raise RuntimeError("smtp down")

    with pytest.raises(RuntimeError):
        failing_job()
    failed = JobRun.objects.get(job="digest", run_date=DAY)
    assert failed.status == JobRun.Status.FAILED
    assert "smtp down" in failed.error
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["boss@example.com"]
    with job_run("digest", DAY) as retry:
        assert retry is not None
    assert JobRun.objects.get(job="digest", run_date=DAY).status == JobRun.Status.SUCCEEDED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_concurrent_claims_wins():
    barrier = threading.Barrier(8)
    winners = []

    def claim():
        try:
            barrier.wait(timeout=10)
            if claim_job_run(job="rescore", run_date=DAY) is not None:
                winners.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(winners) == 1
    assert JobRun.objects.get(job="rescore", run_date=DAY).attempts == 1
