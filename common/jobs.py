"""Running a scheduled job at most once per business date, safely under overlap and crashes.

    with job_run("rescore", run_date) as run:
        if run is None:      # another copy holds the lease, or the day's run already succeeded
            return
        run.counts["scored"] = ...

The claim is one conditional UPDATE whose row count decides who runs; the lease lets a run whose
worker died be claimed again after `lease` seconds, never earlier.
"""

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import JobRun

logger = logging.getLogger(__name__)

# A night's longest job (scoring 1M customers) takes under a minute; an hour is a safe lease.
DEFAULT_LEASE_SECONDS = 60 * 60


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_job_run(
    *, job: str, run_date: date, lease_seconds: int = DEFAULT_LEASE_SECONDS
) -> JobRun | None:
    """Claims the day's run of `job`; None when it already succeeded or a live copy holds it."""
    try:
        with transaction.atomic():
            JobRun.objects.get_or_create(job=job, run_date=run_date)
    except IntegrityError:
        pass  # created by a concurrent claimer in the meantime; the UPDATE below decides
    now = timezone.now()
    claimable = Q(status__in=[JobRun.Status.PENDING, JobRun.Status.FAILED]) | Q(
        status=JobRun.Status.RUNNING, lease_until__lt=now
    )
    won = JobRun.objects.filter(claimable, job=job, run_date=run_date).update(
        status=JobRun.Status.RUNNING,
        started_at=now,
        finished_at=None,
        lease_until=now + timedelta(seconds=lease_seconds),
        attempts=F("attempts") + 1,
        worker=_worker_name(),
        error="",
    )
    if not won:
        logger.info("job.skipped job=%s date=%s", job, run_date)
        return None
    return JobRun.objects.get(job=job, run_date=run_date)


def extend_lease(run: JobRun, *, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> bool:
    """Keeps a long run's lock; False when the run was taken over (its lease had passed)."""
    return bool(
        JobRun.objects.filter(pk=run.pk, status=JobRun.Status.RUNNING, worker=run.worker).update(
            lease_until=timezone.now() + timedelta(seconds=lease_seconds)
        )
    )


def finish_job_run(run: JobRun) -> None:
    JobRun.objects.filter(pk=run.pk).update(
        status=JobRun.Status.SUCCEEDED,
        finished_at=timezone.now(),
        lease_until=None,
        counts=run.counts,
    )
    logger.info("job.succeeded job=%s date=%s counts=%s", run.job, run.run_date, run.counts)


def fail_job_run(run: JobRun, error: BaseException) -> None:
    """Records the failure and alerts the managers by e-mail."""
    message = f"{type(error).__name__}: {error}"[:4000]
    JobRun.objects.filter(pk=run.pk).update(
        status=JobRun.Status.FAILED,
        finished_at=timezone.now(),
        lease_until=None,
        error=message,
        counts=run.counts,
    )
    logger.error("job.failed job=%s date=%s error=%s", run.job, run.run_date, type(error).__name__)
    alert_managers_of_failure(run=run, message=message)


def alert_managers_of_failure(*, run: JobRun, message: str) -> None:
    """Mails every active sales manager; a mail failure is logged, never raised over the job's."""
    from .roles import SALES_MANAGER

    recipients = list(
        get_user_model()
        .objects.filter(is_active=True, groups__name=SALES_MANAGER)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if not recipients:
        return
    try:
        send_mail(
            subject=f"[Retention] Nightly job failed: {run.job} {run.run_date}",
            message=(
                f"The job {run.job} for {run.run_date} failed after {run.attempts} attempt(s).\n\n"
                f"{message}\n\nIt can be re-run safely: python manage.py run_nightly "
                f"--as-of {run.run_date}"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    except Exception:
        logger.exception("job.alert_failed job=%s date=%s", run.job, run.run_date)


@contextmanager
def job_run(
    job: str, run_date: date, *, lease_seconds: int = DEFAULT_LEASE_SECONDS
) -> Iterator[JobRun | None]:
    """Claims, runs and records one job run; yields None when this copy must not run."""
    run = claim_job_run(job=job, run_date=run_date, lease_seconds=lease_seconds)
    if run is None:
        yield None
        return
    try:
        yield run
    except BaseException as error:
        fail_job_run(run, error)
        raise
    finish_job_run(run)
