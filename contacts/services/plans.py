"""The planner: contact plans and scores become call-list entries and messages, within the caps."""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from contacts import caps
from contacts.models import (
    CONSENT_CHANNELS,
    CallListEntry,
    ContactPlan,
    Kind,
    RefusedTouch,
    Touch,
)
from customers.models import Customer, Purchase, RiskLevel, ValueClass

from .feedback import send_feedback_surveys
from .outbox import queue_messages

logger = logging.getLogger(__name__)

# Customers are booked in chunks, one transaction each: a chunk's booking locks are held for a
# fraction of a second, and 500 ids keep every IN (...) list far below database parameter limits.
CHUNK_SIZE = 500

REASON_FOR_SEGMENT = {
    ContactPlan.Segment.VALUE_A: CallListEntry.Reason.KEY_ACCOUNT,
    ContactPlan.Segment.HIGH_VALUE_AT_RISK: CallListEntry.Reason.AT_RISK,
    ContactPlan.Segment.DORMANT: CallListEntry.Reason.WIN_BACK,
    ContactPlan.Segment.BIRTHDAY: CallListEntry.Reason.BIRTHDAY,
    ContactPlan.Segment.TOP_CUSTOMERS: CallListEntry.Reason.EVENT,
}
# Occasions, not account care: a rep's recent call does not make a birthday or invitation call moot.
OCCASION_SEGMENTS = (ContactPlan.Segment.BIRTHDAY, ContactPlan.Segment.TOP_CUSTOMERS)


@dataclass
class PlanOutcome:
    plan: str
    candidates: int = 0
    entries: int = 0
    messages: int = 0
    refused: int = 0


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=timezone.get_current_timezone())


def segment_customers(plan: ContactPlan, *, day: date) -> QuerySet[Customer]:
    """The customers of the plan's segment on `day`, before the due and consent filters."""
    customers = Customer.objects.all()
    segment = plan.segment
    if segment == ContactPlan.Segment.VALUE_A:
        return customers.filter(score__value_class=ValueClass.A)
    if segment == ContactPlan.Segment.HIGH_VALUE_AT_RISK:
        return customers.filter(
            score__value_class__in=[ValueClass.A, ValueClass.B], score__risk_level=RiskLevel.HIGH
        )
    if segment == ContactPlan.Segment.DORMANT:
        return customers.filter(score__dormant=True)
    if segment == ContactPlan.Segment.BIRTHDAY:
        born_today = Q(birthday__month=day.month, birthday__day=day.day)
        if (day.month, day.day) == (2, 28) and not _is_leap(day.year):
            born_today |= Q(birthday__month=2, birthday__day=29)
        return customers.filter(born_today)
    if segment == ContactPlan.Segment.TOP_CUSTOMERS:
        return customers.filter(
            Q(stage=Customer.Stage.PARTNER) | Q(score__value_class=ValueClass.A)
        )
    if segment == ContactPlan.Segment.RECENT_BUYERS:
        bought = Purchase.objects.filter(
            customer=OuterRef("pk"),
            occurred_at__gte=_day_start(day - timedelta(days=1)),
            occurred_at__lt=_day_start(day),
        )
        return customers.filter(Exists(bought))
    return customers


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def due_customer_ids(plan: ContactPlan, *, day: date) -> list[int]:
    """Customers of the segment the plan has not contacted within `every_days` (one query)."""
    since = _day_start(day - timedelta(days=plan.every_days - 1))
    customers = segment_customers(plan, day=day)
    by_plan = Touch.objects.filter(customer=OuterRef("pk"), plan=plan, at__gte=since).exclude(
        status=Touch.Status.CANCELLED
    )
    listed = CallListEntry.objects.filter(
        customer=OuterRef("pk"), plan=plan, day__gt=day - timedelta(days=plan.every_days)
    )
    customers = customers.exclude(Exists(by_plan)).exclude(Exists(listed))
    if plan.action == ContactPlan.Action.CALL and plan.segment not in OCCASION_SEGMENTS:
        # A rep who called on their own recently did what the plan asks.
        called = Touch.objects.filter(
            customer=OuterRef("pk"),
            kind=Kind.PERSONAL,
            status=Touch.Status.DONE,
            at__gte=since,
        )
        customers = customers.exclude(Exists(called))
    if plan.action != ContactPlan.Action.CALL and plan.channel in CONSENT_CHANNELS:
        # Automated messages target only customers who agreed to the channel.
        customers = customers.filter(**{f"consent_{plan.channel}": True})
    return list(customers.order_by("pk").values_list("pk", flat=True))


def plan_key(plan: ContactPlan, day: date, customer_id: int) -> str:
    return f"plan:{plan.code}:{day.isoformat()}:{customer_id}"


def plan_contacts(*, day: date | None = None) -> list[PlanOutcome]:
    """Turns every active plan into the day's call-list entries and messages, never over a cap.

    Idempotent per day: entries are unique per (customer, day, reason), messages and refusals
    unique per key, and a customer contacted by a plan is not due again for `every_days`, so a
    second run creates nothing. Each chunk of customers commits on its own (no transaction spans
    the whole base).
    """
    day = day or timezone.localdate()
    outcomes = []
    for plan in ContactPlan.objects.filter(active=True).order_by("order", "pk"):
        outcome = PlanOutcome(plan=plan.code)
        ids = due_customer_ids(plan, day=day)
        outcome.candidates = len(ids)
        for start in range(0, len(ids), CHUNK_SIZE):
            chunk = ids[start : start + CHUNK_SIZE]
            with transaction.atomic():
                _run_chunk(plan, chunk, day=day, outcome=outcome)
        logger.info(
            "contacts.planned plan=%s day=%s candidates=%s entries=%s messages=%s refused=%s",
            plan.code,
            day,
            outcome.candidates,
            outcome.entries,
            outcome.messages,
            outcome.refused,
        )
        outcomes.append(outcome)
    return outcomes


def _run_chunk(plan: ContactPlan, chunk: list[int], *, day: date, outcome: PlanOutcome) -> None:
    def key_for(customer_id: int) -> str:
        return plan_key(plan, day, customer_id)

    if plan.action == ContactPlan.Action.CALL:
        _plan_calls(plan, chunk, day=day, outcome=outcome)
        return
    if plan.action == ContactPlan.Action.FEEDBACK:
        result = send_feedback_surveys(
            customer_ids=chunk,
            key_for=key_for,
            channel=plan.channel,
            day=day,
            plan=plan,
            source=Touch.Source.PLANNER,
        )
    else:
        result = queue_messages(
            customer_ids=chunk,
            template_code=plan.template_code,
            channel=plan.channel,
            kind=plan.kind,
            source=Touch.Source.PLANNER,
            key_for=key_for,
            day=day,
            plan=plan,
            offer=plan.offer,
        )
    outcome.messages += len(result.created)
    outcome.refused += len(result.refusals)


def _plan_calls(plan: ContactPlan, chunk: list[int], *, day: date, outcome: PlanOutcome) -> None:
    """Puts the customers the phone rules allow on their owner's call list for `day`.

    No slot is booked: the call is logged as a touch when the rep makes it. The rules are checked
    now so a plan never asks a rep for a call the caps or the customer's consent forbid.
    """
    now = timezone.now()
    at = max(now, _day_start(day))
    rules = caps.load_rules()
    states = caps.load_states(chunk, channels=[plan.channel], since=at, rules=rules)
    reason = REASON_FOR_SEGMENT.get(plan.segment, CallListEntry.Reason.PLAN)
    entries, refusals = [], []
    for customer_id in chunk:
        decision = caps.decide(
            states[customer_id], channel=plan.channel, kind=Kind.PERSONAL, rules=rules, at=at
        )
        if decision.allowed:
            entries.append(
                CallListEntry(
                    customer_id=customer_id,
                    day=day,
                    reason=reason,
                    plan=plan,
                    due_by=day + timedelta(days=plan.within_days),
                    offer=plan.offer,
                )
            )
            continue
        refusals.append(
            RefusedTouch(
                customer_id=customer_id,
                channel=plan.channel,
                kind=Kind.PERSONAL,
                reason=decision.reason,
                requested_for=at,
                blocking_at=decision.blocking_at,
                next_allowed_at=decision.next_allowed_at,
                source=Touch.Source.PLANNER,
                key=plan_key(plan, day, customer_id),
                plan=plan,
            )
        )
    before = CallListEntry.objects.filter(customer_id__in=chunk, day=day, reason=reason).count()
    CallListEntry.objects.bulk_create(entries, ignore_conflicts=True)
    after = CallListEntry.objects.filter(customer_id__in=chunk, day=day, reason=reason).count()
    RefusedTouch.objects.bulk_create(refusals, ignore_conflicts=True)
    outcome.entries += after - before
    outcome.refused += len(refusals)
