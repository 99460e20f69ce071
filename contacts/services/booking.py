"""Booking contacts: the one path through which every planned touch passes the contact rules."""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.db import transaction
from django.utils import timezone

from contacts import caps
from contacts.errors import (
    CapExceededError,
    ContactRefusedError,
    NoAddressError,
    NoConsentError,
    PausedError,
)
from contacts.models import RefusedTouch, Touch
from customers.models import Customer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BookingRequest:
    customer_id: int
    key: str | None = None
    # None: as soon as allowed on `day` (from the start of that day in the customer's time zone)
    # or now, whichever is later.
    at: datetime | None = None


@dataclass
class BookingResult:
    bookings: dict[int, Touch] = field(default_factory=dict)
    refusals: dict[int, RefusedTouch] = field(default_factory=dict)
    # Bookings that already existed under their key (a re-run); they are in `bookings` too.
    existing: set[int] = field(default_factory=set)


def _start_of(day: date, state: caps.ContactState) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=state.tz)


def book_contacts(
    *,
    requests: list[BookingRequest],
    channel: str,
    kind: str,
    source: str,
    day: date | None = None,
    plan=None,
    by=None,
) -> BookingResult:
    """Books each request that consent, pause and caps allow and logs a refusal for each other one.

    Must run inside a transaction: the customers' preference rows stay locked until it commits, so
    a concurrent booking for one of them waits and then counts this one. A request whose key was
    booked before returns that booking unchanged. One customer appears at most once per call.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("book_contacts must run inside transaction.atomic()")
    now = timezone.now()
    requests_by_customer = {request.customer_id: request for request in requests}
    locked = set(caps.lock_customers(requests_by_customer))
    result = BookingResult()
    # Keys are looked up only after the locks are held: a concurrent booking under the same key
    # has committed by then and is returned instead of being counted against the cap.
    keys = [request.key for request in requests_by_customer.values() if request.key]
    if keys:
        for touch in Touch.objects.filter(key__in=keys):
            result.bookings[touch.customer_id] = touch
            result.existing.add(touch.customer_id)
    pending = [
        request
        for customer_id, request in requests_by_customer.items()
        if customer_id not in result.existing and customer_id in locked
    ]
    if not pending:
        return result
    rules = caps.load_rules()
    states = caps.load_states(
        [request.customer_id for request in pending],
        channels=[channel],
        since=min(request.at or now for request in pending),
        rules=rules,
    )
    refused_keys = set(
        RefusedTouch.objects.filter(
            key__in=[request.key for request in pending if request.key]
        ).values_list("key", flat=True)
    )
    new_touches: list[Touch] = []
    new_refusals: list[RefusedTouch] = []
    for request in pending:
        state = states[request.customer_id]
        at = request.at
        if at is None:
            at = max(now, _start_of(day, state)) if day is not None else now
        decision = caps.decide(state, channel=channel, kind=kind, rules=rules, at=at)
        if decision.allowed:
            caps.record(state, channel=channel, at=decision.at)
            new_touches.append(
                Touch(
                    customer_id=request.customer_id,
                    channel=channel,
                    kind=kind,
                    status=Touch.Status.PLANNED,
                    at=decision.at,
                    source=source,
                    key=request.key,
                    plan=plan,
                    by=by,
                )
            )
            continue
        refusal = RefusedTouch(
            customer_id=request.customer_id,
            channel=channel,
            kind=kind,
            reason=decision.reason,
            requested_for=at,
            blocking_at=decision.blocking_at,
            next_allowed_at=decision.next_allowed_at,
            source=source,
            key=request.key,
            plan=plan,
            by=by,
        )
        result.refusals[request.customer_id] = refusal
        if request.key not in refused_keys or request.key is None:
            new_refusals.append(refusal)
    for touch in Touch.objects.bulk_create(new_touches):
        result.bookings[touch.customer_id] = touch
    RefusedTouch.objects.bulk_create(new_refusals)
    logger.info(
        "contacts.booked channel=%s kind=%s source=%s booked=%s refused=%s",
        channel,
        kind,
        source,
        len(new_touches),
        len(result.refusals),
    )
    return result


def error_for(refusal: RefusedTouch) -> ContactRefusedError:
    """The DomainError that tells the caller why, in the reader's language."""
    error_class = {
        RefusedTouch.Reason.NO_CONSENT: NoConsentError,
        RefusedTouch.Reason.PAUSED: PausedError,
        RefusedTouch.Reason.CAP: CapExceededError,
        RefusedTouch.Reason.NO_ADDRESS: NoAddressError,
    }.get(refusal.reason, ContactRefusedError)
    return error_class(
        refusal.describe(),
        next_allowed_at=refusal.next_allowed_at,
        refusal_id=refusal.pk,
        field="at",
    )


def schedule_contact(
    *,
    customer_id: int,
    channel: str,
    kind: str,
    source: str,
    key: str | None,
    at: datetime | None = None,
    by=None,
    plan=None,
) -> Touch:
    """Books one contact at `at` (now by default; moved into the customer's contact hours) or
    raises NoConsentError / PausedError / CapExceededError with `next_allowed_at`.

    The refusal is logged in its own transaction before the error is raised; called inside an
    outer transaction that then rolls back, the log rolls back with it.
    """
    with transaction.atomic():
        result = book_contacts(
            requests=[BookingRequest(customer_id=customer_id, key=key, at=at)],
            channel=channel,
            kind=kind,
            source=source,
            plan=plan,
            by=by,
        )
    if customer_id in result.bookings:
        return result.bookings[customer_id]
    if customer_id in result.refusals:
        raise error_for(result.refusals[customer_id])
    raise Customer.DoesNotExist(f"customer {customer_id} does not exist")


def earliest_allowed_time(
    *, customer_id: int, channel: str, kind: str, after: datetime | None = None
) -> datetime | None:
    """The earliest moment from `after` (now) the rules allow this contact; None without consent.

    A forecast, not a booking: only `schedule_contact` holds the slot.
    """
    after = after or timezone.now()
    rules = caps.load_rules()
    states = caps.load_states([customer_id], channels=[channel], since=after, rules=rules)
    if customer_id not in states:
        return None
    return caps.earliest_time(
        states[customer_id], channel=channel, kind=kind, rules=rules, after=after
    )


@transaction.atomic
def cancel_planned_touches(*, customer_id: int, channel: str | None = None) -> int:
    """Cancels the customer's planned (not yet made) touches, so they stop counting; returns how many."""
    touches = Touch.objects.filter(customer_id=customer_id, status=Touch.Status.PLANNED)
    if channel is not None:
        touches = touches.filter(channel=channel)
    return touches.exclude(kind="service").update(status=Touch.Status.CANCELLED)
