"""Background work of the customer base. Tasks carry ids and call one service each."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import imports

logger = logging.getLogger(__name__)


@shared_task(
    name="customers.run_import_job",
    acks_late=True,
    # Only a database that is briefly unreachable is worth another try: the job is claimed with a
    # conditional update, so a retry of a job that already started (or finished) does nothing.
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=5,
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
)
def run_import_job_task(job_id: int, **kwargs) -> str | None:
    """Runs one uploaded import; returns the job's final status (None when it was not pending)."""
    job = imports.run_import_job(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="customers.sweep_import_jobs", acks_late=True, ignore_result=True)
def sweep_import_jobs_task(**kwargs) -> dict:
    """Re-enqueues uploads whose hand-off to a worker was lost (broker down, worker killed)."""
    return imports.sweep_import_jobs()
