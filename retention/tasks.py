"""Celery tasks of the nightly pipeline. Thin: they carry a job name and an ISO date.

Beat fires `retention.run_job` per schedule (seeded in the database, editable in the admin). The
rescore fans out: the fit is global, then one task per customer-id chunk (so more workers make
the night shorter), then a callback that records the summary and finishes the JobRun.
"""

import logging
from datetime import date

from celery import chord, shared_task
from django.utils import timezone

from common.jobs import claim_job_run, fail_job_run, finish_job_run
from common.models import JobRun
from customers import scoring
from customers.models import ScoringRun

from . import nightly

logger = logging.getLogger(__name__)

# Customers per scoring chunk: large enough that reading a chunk is a few set-based queries and
# a worker spends seconds, not milliseconds, per message; small enough to spread 100k customers
# over several workers.
SCORING_CHUNK = 20_000
_RETRY = {
    "acks_late": True,
    "autoretry_for": (ConnectionError, TimeoutError),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 5,
}


def _date(value: str | None) -> date:
    return date.fromisoformat(value) if value else timezone.localdate()


@shared_task(name="retention.run_job", **_RETRY)
def run_job_task(job: str, run_date: str | None = None, **kwargs) -> str:
    """Runs one nightly job (the rescore is distributed, see rescore_task)."""
    if job == "rescore":
        rescore_task.delay(run_date=run_date)
        return "dispatched"
    record = nightly.run_job(job, _date(run_date))
    return record.status if record else "skipped"


@shared_task(name="retention.rescore", **_RETRY)
def rescore_task(run_date: str | None = None, chunk_size: int = SCORING_CHUNK, **kwargs) -> str:
    """Claims the day's rescore, fits the model, and fans the chunks out to the workers."""
    run = claim_job_run(job="rescore", run_date=_date(run_date))
    if run is None:
        return "skipped"
    try:
        scoring_run, ranges = scoring.start_scoring_run(
            as_of=nightly.scoring_date(run.run_date), chunk_size=chunk_size
        )
    except Exception as error:
        fail_job_run(run, error)
        raise
    chunks = [
        score_chunk_task.s(run_id=scoring_run.pk, id_from=low, id_to=high) for low, high in ranges
    ]
    callback = finish_rescore_task.si(job_run_id=run.pk, scoring_run_id=scoring_run.pk)
    if chunks:
        chord(chunks)(callback.on_error(rescore_failed_task.si(job_run_id=run.pk)))
    else:
        callback.delay()
    return f"{len(chunks)} chunks"


@shared_task(name="retention.score_chunk", **_RETRY)
def score_chunk_task(run_id: int, id_from: int, id_to: int, **kwargs) -> int:
    """Scores one id range; safe to deliver twice (upserts, unique daily transitions)."""
    return scoring.score_chunk(run_id=run_id, id_from=id_from, id_to=id_to)


@shared_task(name="retention.finish_rescore", **_RETRY)
def finish_rescore_task(job_run_id: int, scoring_run_id: int, **kwargs) -> str:
    run = JobRun.objects.get(pk=job_run_id)
    scoring_run = scoring.finish_scoring_run(run_id=scoring_run_id)
    try:
        nightly.finish_rescore(run, ScoringRun.objects.get(pk=scoring_run.pk))
    except Exception as error:
        fail_job_run(run, error)
        raise
    finish_job_run(run)
    return "succeeded"


@shared_task(name="retention.rescore_failed", acks_late=True)
def rescore_failed_task(job_run_id: int, **kwargs) -> None:
    run = JobRun.objects.get(pk=job_run_id)
    fail_job_run(run, RuntimeError("a scoring chunk failed; see the worker log"))
