"""Recording webhook deliveries with their cause, sending each, retrying, and sweeping.

Follows the contacts outbox: a delivery is a row first (in the transaction of its cause, unique
per endpoint, event and object), a worker claims it with a conditional UPDATE (pending ->
sending) that commits before the request goes out, and a row left in `sending` by a crash becomes
`unknown` instead of being sent again: the receiver may already have it. A person decides
(admin: "Deliver again"). Receivers should still ignore an id they have seen, as a request whose
answer was lost is the same case.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from common.enqueue import enqueue
from customers.models import ScoringRun

from . import conf, events
from .models import Event, ScoringRunScan, WebhookDelivery, WebhookEndpoint
from .signing import EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER, signature_header
from .transport import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    post,
)

logger = logging.getLogger(__name__)

USER_AGENT = "Retention-Webhooks/1"
# One sweep hands out at most this many due deliveries: a backlog drains over a few sweeps
# instead of one sweep flooding the broker.
SWEEP_BATCH = 1000
# A finished scoring run whose signal was lost is scanned by the sweeper if it finished within
# this window; older runs are history, not news.
SCAN_WINDOW = timedelta(days=2)
# A run scoring an older date (a rescore of history by hand) is not news about anyone: its
# dormant customers are not announced.
NEWS_DAYS = 7


# --- recording ------------------------------------------------------------------------------


def endpoints_for(event: str) -> list[WebhookEndpoint]:
    """The active endpoints that receive `event` (one query; endpoints are few)."""
    return [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(active=True)
        if endpoint.listens_to(event)
    ]


def record_deliveries(
    *, event: str, items: list[tuple[str, dict]], endpoints: list[WebhookEndpoint] | None = None
) -> list[int]:
    """Records one delivery per item and endpoint that listens to `event`, and hands them to
    workers once the caller's transaction commits; returns the ids of those waiting to be sent.

    Run inside the transaction of the cause, so the deliveries exist exactly when it committed.
    The same item recorded again (a retried task, a re-run) adds nothing: the unique constraint
    holds one row per endpoint, event and object key.
    """
    endpoints = endpoints_for(event) if endpoints is None else endpoints
    if not endpoints or not items:
        return []
    now = timezone.now()
    rows = [
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            object_key=key,
            payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint in endpoints
        for key, payload in items
    ]
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        # bulk_create cannot return ids of rows it may have skipped; read the waiting ones back.
        ids = list(
            WebhookDelivery.objects.filter(
                event=event,
                endpoint__in=endpoints,
                object_key__in=[key for key, _payload in items],
                status=WebhookDelivery.Status.PENDING,
            ).values_list("pk", flat=True)
        )
    transaction.on_commit(lambda: enqueue_deliveries(ids))
    logger.info("webhooks.recorded event=%s items=%s pending=%s", event, len(items), len(ids))
    return ids


def scan_scoring_run(*, run_id: int) -> int:
    """Records a `customer.dormant` delivery for every customer who turned dormant in the
    scoring run, once per run; returns how many deliveries were recorded."""
    run = ScoringRun.objects.filter(pk=run_id, finished_at__isnull=False).first()
    if run is None:
        return 0
    try:
        with transaction.atomic():
            scan, created = ScoringRunScan.objects.get_or_create(run_id=run.pk)
            if not created:
                return 0
            endpoints = endpoints_for(Event.CUSTOMER_DORMANT)
            recorded = 0
            is_news = run.as_of >= timezone.localdate() - timedelta(days=NEWS_DAYS)
            if endpoints and is_news:
                for batch in events.dormant_items(as_of=run.as_of):
                    recorded += len(
                        record_deliveries(
                            event=Event.CUSTOMER_DORMANT, items=batch, endpoints=endpoints
                        )
                    )
            scan.deliveries = recorded
            scan.save(update_fields=["deliveries"])
    except IntegrityError:
        # Scanned at the same moment by the sweeper or a second signal: theirs stands.
        return 0
    logger.info("webhooks.scanned_run run=%s as_of=%s deliveries=%s", run.pk, run.as_of, recorded)
    return recorded


# --- sending --------------------------------------------------------------------------------


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    """Hands deliveries to workers; a duplicate hand-off is harmless (the claim decides)."""
    from .tasks import deliver_webhook_task

    for delivery_id in delivery_ids:
        enqueue(deliver_webhook_task, delivery_id=delivery_id)


def request_body(delivery: WebhookDelivery) -> bytes:
    """The JSON body POSTed for a delivery: the same bytes on every attempt."""
    envelope = {
        "id": delivery.pk,
        "event": delivery.event,
        "created_at": timezone.localtime(delivery.created_at).isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True).encode()


def _retry_delay(attempts: int) -> timedelta:
    # 1, 2, 4, 8 ... minutes with the default base, capped at a day: an outage at the receiver is
    # ridden out, not hammered.
    seconds = conf.retry_base_seconds() * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, 24 * 3600))


def _finish(delivery_id: int, **fields) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.SENDING).update(
        **fields
    )


def deliver_webhook(*, delivery_id: int, now: datetime | None = None) -> str:
    """Sends one due delivery; returns its status afterwards.

    Not one transaction on purpose: the claim (pending -> sending) commits before the request
    goes out, so a crash mid-send leaves the row in `sending`, which the sweeper turns into
    `unknown` rather than sending it again.
    """
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(status=WebhookDelivery.Status.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    if not claimed:
        return (
            WebhookDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
            or ""
        )
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.active:
        _finish(delivery_id, status=WebhookDelivery.Status.FAILED, last_error="endpoint inactive")
        return WebhookDelivery.Status.FAILED
    body = request_body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        ID_HEADER: str(delivery.pk),
        EVENT_HEADER: delivery.event,
        SIGNATURE_HEADER: signature_header(secret=endpoint.secret, body=body),
    }
    try:
        answer = post(url=endpoint.url, body=body, headers=headers, timeout=conf.timeout_seconds())
    except PermanentDeliveryError as error:
        _finish(delivery_id, status=WebhookDelivery.Status.FAILED, last_error=str(error)[:1000])
        logger.warning("webhooks.failed id=%s error=%s", delivery_id, error)
        return WebhookDelivery.Status.FAILED
    except AmbiguousDeliveryError as error:
        _finish(delivery_id, status=WebhookDelivery.Status.UNKNOWN, last_error=str(error)[:1000])
        logger.warning("webhooks.unknown id=%s error=%s", delivery_id, error)
        return WebhookDelivery.Status.UNKNOWN
    except TemporaryDeliveryError as error:
        return _after_failure(delivery, text=str(error), status_code=None, now=now)
    if 200 <= answer.status < 300:
        _finish(
            delivery_id,
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=timezone.now(),
            last_status_code=answer.status,
            last_error="",
        )
        logger.info(
            "webhooks.delivered id=%s event=%s attempts=%s",
            delivery_id,
            delivery.event,
            delivery.attempts,
        )
        return WebhookDelivery.Status.DELIVERED
    # The receiver answered and refused: it has not taken the event, so trying again is safe.
    text = f"HTTP {answer.status}: {answer.excerpt}"
    return _after_failure(delivery, text=text, status_code=answer.status, now=now)


def _after_failure(
    delivery: WebhookDelivery, *, text: str, status_code: int | None, now: datetime
) -> str:
    if delivery.attempts >= conf.max_attempts():
        _finish(
            delivery.pk,
            status=WebhookDelivery.Status.FAILED,
            last_error=text[:1000],
            last_status_code=status_code,
        )
        logger.warning("webhooks.gave_up id=%s attempts=%s", delivery.pk, delivery.attempts)
        return WebhookDelivery.Status.FAILED
    delay = _retry_delay(delivery.attempts)
    _finish(
        delivery.pk,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=now + delay,
        last_error=text[:1000],
        last_status_code=status_code,
    )
    _enqueue_later(delivery.pk, delay)
    logger.info("webhooks.retry id=%s attempts=%s", delivery.pk, delivery.attempts)
    return WebhookDelivery.Status.PENDING


def _enqueue_later(delivery_id: int, delay: timedelta) -> None:
    from .tasks import deliver_webhook_task

    if deliver_webhook_task.app.conf.task_always_eager:
        # In-process tasks cannot wait: the sweeper sends the retry when it is due.
        return
    try:
        deliver_webhook_task.apply_async(
            kwargs={"delivery_id": delivery_id}, countdown=delay.total_seconds()
        )
    except Exception as error:  # noqa: BLE001 - the sweeper sends it when the broker is back
        logger.error("webhooks.enqueue_failed id=%s error=%s", delivery_id, type(error).__name__)


# --- sweeping and people's decisions --------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    marked_unknown: int
    scanned_runs: int
    due_ids: list[int]


def sweep_webhooks(*, now: datetime | None = None) -> SweepResult:
    """Marks deliveries stuck in `sending` as unknown, scans finished scoring runs nobody
    scanned (a lost signal), and returns the pending deliveries due for a send."""
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=conf.sending_timeout_seconds())
    marked = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.SENDING, claimed_at__lt=stuck_before
    ).update(
        status=WebhookDelivery.Status.UNKNOWN,
        last_error="still sending after the timeout: the worker probably stopped mid-send",
    )
    if marked:
        logger.warning("webhooks.marked_unknown count=%s", marked)
    unscanned = (
        ScoringRun.objects.filter(finished_at__gte=now - SCAN_WINDOW)
        .exclude(pk__in=ScoringRunScan.objects.values("run_id"))
        .values_list("pk", flat=True)
    )
    scanned = 0
    for run_id in list(unscanned):
        scan_scoring_run(run_id=run_id)
        scanned += 1
    # Deliveries the scans just recorded are due at once.
    due_ids = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=max(now, timezone.now())
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    return SweepResult(marked_unknown=marked, scanned_runs=scanned, due_ids=due_ids)


@transaction.atomic
def redeliver(*, delivery_id: int, by=None) -> bool:
    """Queues a delivery again (failed, unknown, or delivered and wanted again), with a fresh
    count of attempts; False when it is already waiting or being sent."""
    queued = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status__in=[
            WebhookDelivery.Status.FAILED,
            WebhookDelivery.Status.UNKNOWN,
            WebhookDelivery.Status.DELIVERED,
        ],
    ).update(
        status=WebhookDelivery.Status.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        delivered_at=None,
    )
    if queued:
        logger.info("webhooks.redeliver id=%s by=%s", delivery_id, getattr(by, "pk", None))
        transaction.on_commit(lambda: enqueue_deliveries([delivery_id]))
    return bool(queued)
