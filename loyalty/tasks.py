"""Nightly work of the points programme. Tasks carry ISO dates and call one service each; every
service is idempotent, so a task delivered twice does no harm."""

import logging
from datetime import datetime

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import services

logger = logging.getLogger(__name__)

_RETRY = {
    "acks_late": True,
    # Only a database that is briefly unreachable is worth another try.
    "autoretry_for": (OperationalError, InterfaceError),
    "max_retries": 5,
    "retry_backoff": 10,
    "retry_backoff_max": 300,
    "retry_jitter": True,
}


def _moment(as_of: str | None) -> datetime:
    if not as_of:
        return timezone.now()
    moment = datetime.fromisoformat(as_of)
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


@shared_task(name="loyalty.release_pending_points", **_RETRY)
def release_pending_points_task(as_of: str | None = None, **kwargs) -> int:
    """Enters pending points whose return window closed; returns the points released."""
    return services.release_pending_points(as_of=_moment(as_of))


@shared_task(name="loyalty.expire_points", **_RETRY)
def expire_points_task(as_of: str | None = None, **kwargs) -> int:
    """Expires unspent points whose lots expired by `as_of` (ISO); returns the points expired."""
    return services.expire_points(as_of=_moment(as_of))


@shared_task(name="loyalty.reevaluate_tiers", **_RETRY)
def reevaluate_tiers_task(as_of: str | None = None, **kwargs) -> dict[str, int]:
    """Places every account in its tier under the downgrade policy; returns the counts."""
    review = services.reevaluate_tiers(as_of=_moment(as_of))
    return {"upgraded": review.upgraded, "downgraded": review.downgraded, "renewed": review.renewed}


@shared_task(name="loyalty.send_purchase_confirmations", **_RETRY)
def send_purchase_confirmations_task(purchase_ids: list[int], **kwargs) -> dict[str, int]:
    """Confirms recent purchases (points, balance, tier progress, an offer); once per purchase."""
    return services.send_purchase_confirmations(purchase_ids=purchase_ids).as_counts()


@shared_task(name="loyalty.send_expiry_warnings", **_RETRY)
def send_expiry_warnings_task(as_of: str | None = None, **kwargs) -> dict[str, int]:
    """Warns customers whose points expire within the programme's notice period."""
    moment = _moment(as_of)
    return services.send_expiry_warnings(as_of=moment, day=timezone.localdate(moment)).as_counts()


@shared_task(name="loyalty.accrue_backlog", **_RETRY)
def accrue_backlog_task(**kwargs) -> int:
    """Accrues purchases recorded in large batches (also the sweeper, from beat); idempotent."""
    from .services.backlog import accrue_backlog
    from .services.messages import recent_purchase_ids

    handled = accrue_backlog()
    recent = recent_purchase_ids(handled)
    if recent:
        services.send_purchase_confirmations(purchase_ids=recent)
    return len(handled)
