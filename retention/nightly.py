"""The nightly jobs: what runs, in which order, for which business date.

Each job is idempotent for its business date (a JobRun row per job and date, claimed with a lease)
and calls the apps' services; the Celery tasks in retention/tasks.py and the `run_nightly` command
both go through `run_job`, so the embedded default and production behave the same.

Business date: the local date the night belongs to. Scoring looks at purchases up to the day
before (the last complete day); call lists and messages are for the business date itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation

from common.jobs import job_run
from common.models import JobRun
from common.roles import SALES_MANAGER
from contacts import selectors as contact_selectors
from contacts.services.plans import plan_contacts
from contacts.tasks import sweep_outbox_task
from customers import analytics, scoring
from customers.models import ScoreTransition, ScoringRun, ScoringSettings
from loyalty.services.accrual import release_pending_points
from loyalty.services.expiry import expire_points
from loyalty.services.messages import send_balance_reminders, send_expiry_warnings
from loyalty.services.tiers import reevaluate_tiers

logger = logging.getLogger(__name__)

# The backtest reruns the fit on history, so it runs once a week (Mondays), not every night.
BACKTEST_WEEKDAY = 0
# Loyalty balance reminders go out once a month, on this day of the month.
BALANCE_REMINDER_DAY = 1


def end_of(day: date) -> datetime:
    """The last instant of `day` in the configured time zone (as_of for datetime services)."""
    zone = timezone.get_current_timezone()
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone) - timedelta(
        microseconds=1
    )


def scoring_date(run_date: date) -> date:
    return run_date - timedelta(days=1)


def rescore(run: JobRun) -> None:
    """Scores the whole base as of the last complete day and refreshes the dashboard's metrics."""
    as_of = scoring_date(run.run_date)
    scoring_run = scoring.score_customers(as_of=as_of)
    finish_rescore(run, scoring_run)


def finish_rescore(run: JobRun, scoring_run: ScoringRun) -> None:
    """The tail of a rescore (also the chord callback of the distributed one)."""
    as_of = scoring_run.as_of
    # An in-process rescore hands over the purchases it read; the chord callback reads them.
    analytics.refresh_base_metrics(
        as_of=as_of, purchase_days=getattr(scoring_run, "_purchases", None)
    )
    run.counts.update(
        customers=scoring_run.customers,
        dormant=scoring_run.summary.get("dormant", 0),
        method=scoring_run.method,
        rule=scoring_run.dormant_rule,
    )
    if run.run_date.weekday() == BACKTEST_WEEKDAY:
        horizon = ScoringSettings.load().horizon_days
        if scoring_run.customers:
            result = scoring.backtest(as_of=as_of - timedelta(days=horizon), until=as_of)
            ScoringRun.objects.filter(pk=scoring_run.pk).update(
                backtest=result, backtest_until=as_of
            )
            scoring.adopt_backtest(result=result)
            run.counts["backtest_model_wins"] = result["model_wins"]


def plan_day(run: JobRun) -> None:
    """Win-back calls and messages for dormant customers, key-account calls, newsletters..."""
    outcomes = plan_contacts(day=run.run_date)
    run.counts.update(
        entries=sum(outcome.entries for outcome in outcomes),
        messages=sum(outcome.messages for outcome in outcomes),
        refused=sum(outcome.refused for outcome in outcomes),
    )


def expire_loyalty_points(run: JobRun) -> None:
    moment = end_of(scoring_date(run.run_date))
    run.counts["released"] = release_pending_points(as_of=moment)
    run.counts["expired"] = expire_points(as_of=moment)
    warnings = send_expiry_warnings(as_of=moment, day=run.run_date)
    run.counts.update(warned=warnings.queued, warnings_refused=warnings.refused)


def remind_balances(run: JobRun) -> None:
    """Once a month: every customer with points hears of their balance (within caps and consent)."""
    if run.run_date.day != BALANCE_REMINDER_DAY:
        run.counts["skipped"] = 1
        return
    reminders = send_balance_reminders(day=run.run_date)
    run.counts.update(reminded=reminders.queued, refused=reminders.refused)


def review_tiers(run: JobRun) -> None:
    review = reevaluate_tiers(as_of=end_of(scoring_date(run.run_date)))
    run.counts.update({key: value for key, value in vars(review).items()
                       if isinstance(value, int)})


@dataclass
class Digest:
    run_date: date
    new_dormant: list
    overdue_key_accounts: int
    job_runs: list


def digest_for(run_date: date, *, manager) -> Digest:
    """The digest's content as `manager` may see it."""
    as_of = scoring_date(run_date)
    moves = (
        ScoreTransition.objects.filter(as_of=as_of, dimension="dormant", to_value="yes")
        .select_related("customer", "customer__owner", "customer__score")
        .order_by("-customer__score__revenue_12m")[:50]
    )
    return Digest(
        run_date=run_date,
        new_dormant=list(moves),
        overdue_key_accounts=contact_selectors.overdue_key_account_count(user=manager),
        job_runs=list(JobRun.objects.filter(run_date=run_date).order_by("job")),
    )


def send_managers_digest(run: JobRun) -> None:
    """The morning e-mail: new dormant customers, key accounts not contacted, last night's jobs."""
    managers = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=SALES_MANAGER)
        .exclude(email="")
        .distinct()
    )
    sent = new_dormant = 0
    for manager in managers:
        digest = digest_for(run.run_date, manager=manager)
        new_dormant = len(digest.new_dormant)
        with translation.override(getattr(manager, "language", None) or settings.LANGUAGE_CODE):
            body = render_to_string("emails/managers_digest.txt", {"digest": digest, "user": manager})
            subject = render_to_string(
                "emails/managers_digest_subject.txt", {"digest": digest}
            ).strip()
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [manager.email])
        sent += 1
    run.counts.update(sent=sent, new_dormant=new_dormant)


@dataclass(frozen=True)
class Job:
    name: str
    action: Callable[[JobRun], None]
    # Plain-language schedule, also the crontab seeded for Celery beat (local time).
    hour: int
    minute: int
    description: str


JOBS: dict[str, Job] = {
    job.name: job
    for job in [
        Job("rescore", rescore, 2, 0, "every night at 02:00: score every customer"),
        Job("plan_contacts", plan_day, 2, 30,
            "every night at 02:30: dormant win-backs, key-account calls, messages within caps"),
        Job("expire_points", expire_loyalty_points, 3, 0,
            "every night at 03:00: release pending points, expire points oldest first, warn of "
            "points about to expire"),
        Job("review_tiers", review_tiers, 3, 15, "every night at 03:15: re-evaluate tiers"),
        Job("managers_digest", send_managers_digest, 9, 0,
            "every morning at 09:00: the managers' digest e-mail"),
        Job("balance_reminders", remind_balances, 10, 0,
            "on the 1st of every month at 10:00: loyalty balance reminders"),
    ]
}
NIGHTLY_ORDER = [
    "rescore", "plan_contacts", "expire_points", "review_tiers", "managers_digest",
    "balance_reminders",
]


def run_job(name: str, run_date: date) -> JobRun | None:
    """Runs one job for one business date unless it already ran; returns its record."""
    job = JOBS[name]
    with job_run(name, run_date) as run:
        if run is None:
            return None
        job.action(run)
    return JobRun.objects.get(pk=run.pk)


def run_nightly(run_date: date | None = None, *, only: list[str] | None = None) -> list[JobRun]:
    """The whole night in this process, in order (the embedded default and `run_nightly`)."""
    run_date = run_date or timezone.localdate()
    results = []
    for name in NIGHTLY_ORDER:
        if only and name not in only:
            continue
        try:
            run_job(name, run_date)
        except Exception:
            # Recorded on the JobRun and mailed to managers; the night goes on with the next job.
            logger.exception("nightly.job_failed job=%s date=%s", name, run_date)
        results.append(JobRun.objects.get(job=name, run_date=run_date))
    # Messages booked during the night go out now (in-process: sent right away).
    sweep_outbox_task()
    return results
