"""Screen- and job-shaped reads of contacts; each runs a fixed number of queries whatever the size."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.db.models import (
    Avg,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, CustomerScore, Purchase, Refund, RfmSegment, ValueClass
from customers.selectors import reps_queryset

from . import caps, conf
from .models import (
    CallListEntry,
    Channel,
    ConsentChange,
    ContactPreferences,
    Feedback,
    Kind,
    Touch,
)
from .signals import call_list_extras, merge_responses

MONEY = DecimalField(max_digits=16, decimal_places=2)

# Priority weights (see call_list_for). Value dominates: an A customer at medium risk comes before a
# C customer at high risk, as DOMAIN.md section 1 asks (the most valuable customers most at risk).
VALUE_WEIGHT = {ValueClass.A: 4, ValueClass.B: 2, ValueClass.C: 1, ValueClass.NONE: 0.5}
RISK_WEIGHT = {"high": 3, "medium": 2, "low": 1}
# Days without contact stop adding priority after a year; a customer never contacted counts as one.
RECENCY_CAP_DAYS = 365
# Overdue days stop adding priority after four weeks.
OVERDUE_CAP_DAYS = 28


def can_manage_team(user) -> bool:
    return user.has_perm("contacts.manage_team_contacts")


@dataclass(frozen=True)
class Badge:
    text: str
    style: str = "secondary"


@dataclass
class CallListRow:
    customer: Customer
    score: CustomerScore | None
    entries: list[CallListEntry]
    priority: float = 0.0
    badges: list[Badge] = field(default_factory=list)
    last_contact_at: datetime | None = None
    last_personal_at: datetime | None = None
    overdue_days: int = 0
    offer: str = ""
    extras: list[dict] = field(default_factory=list)
    callback_at: datetime | None = None
    needs_reason: bool = False
    done: bool = False
    touch: Touch | None = None

    @property
    def reasons(self) -> list[str]:
        return [entry.reason for entry in self.entries]


@dataclass
class CallList:
    rep: object
    day: date
    rows: list[CallListRow]
    done_rows: list[CallListRow]
    # Customers with open entries in all; more than len(rows) when the list was limited.
    open_total: int | None = None

    @property
    def hidden(self) -> int:
        return max((self.open_total or 0) - len(self.rows), 0)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0, 0), tzinfo=timezone.get_current_timezone())
    return start, start + timedelta(days=1)


def is_key_account(score: CustomerScore | None) -> bool:
    if score is None:
        return False
    minimum = conf.key_account_min_revenue()
    return score.value_class == ValueClass.A or (
        minimum is not None and score.revenue_12m >= minimum
    )


def key_account_q(prefix: str = "") -> Q:
    """Customers above the value threshold: class A, or 12-month revenue at the configured amount."""
    query = Q(**{f"{prefix}score__value_class": ValueClass.A})
    minimum = conf.key_account_min_revenue()
    if minimum is not None:
        query |= Q(**{f"{prefix}score__revenue_12m__gte": minimum})
    return query


def priority_of(
    *, score: CustomerScore | None, overdue_days: int, days_since_contact: int | None
) -> float:
    """priority = value x risk x overdue x days since last contact, where

    - value: A 4, B 2, C 1, no revenue 0.5 (no score yet: 1);
    - risk: high 3, medium 2, low 1 (no score: 1);
    - overdue: 1 + min(days past the entry's due date, 28) / 7  (1 .. 5);
    - days since last contact: 1 + min(days since the last made contact, 365) / 30  (1 .. ~13),
      a customer never contacted counting as 365 days.
    """
    value = VALUE_WEIGHT.get(score.value_class, 1) if score else 1
    risk = RISK_WEIGHT.get(score.risk_level, 1) if score else 1
    overdue = 1 + min(max(overdue_days, 0), OVERDUE_CAP_DAYS) / 7
    days = RECENCY_CAP_DAYS if days_since_contact is None else days_since_contact
    recency = 1 + min(max(days, 0), RECENCY_CAP_DAYS) / 30
    return round(value * risk * overdue * recency, 2)


def _last_contacts(customer_ids: list[int]) -> dict[int, dict]:
    return {
        row["customer_id"]: row
        for row in Touch.objects.filter(customer_id__in=customer_ids, status=Touch.Status.DONE)
        .values("customer_id")
        .annotate(last=Max("at"), last_personal=Max("at", filter=Q(kind=Kind.PERSONAL)))
    }


def _badges(row: CallListRow, *, day: date, now: datetime) -> list[Badge]:
    badges = []
    score = row.score
    reasons = set(row.reasons)
    if score is not None and score.dormant:
        badges.append(Badge(_("dormant"), "warning"))
    elif score is not None and score.rfm_segment == RfmSegment.LOST:
        badges.append(Badge(_("lost"), "warning"))
    if is_key_account(score):
        threshold = conf.key_account_days()
        if row.last_personal_at is None:
            badges.append(Badge(_("key account never called"), "danger"))
        else:
            days = (now - row.last_personal_at).days
            if days >= threshold:
                badges.append(
                    Badge(_("key account not called in %(days)s days") % {"days": days}, "danger")
                )
    if CallListEntry.Reason.CALLBACK in reasons:
        if row.callback_at:
            local = timezone.localtime(row.callback_at)
            badges.append(
                Badge(_("callback promised %(time)s") % {"time": f"{local:%H:%M}"}, "primary")
            )
        else:
            badges.append(Badge(_("callback promised"), "primary"))
    birthday = row.customer.birthday
    if CallListEntry.Reason.BIRTHDAY in reasons or (
        birthday is not None and (birthday.month, birthday.day) == (day.month, day.day)
    ):
        badges.append(Badge(_("birthday"), "success"))
    labels = {
        CallListEntry.Reason.AT_RISK: (_("high value at risk"), "danger"),
        CallListEntry.Reason.WIN_BACK: (_("win back"), "warning"),
        CallListEntry.Reason.NO_ANSWER: (_("no answer last time"), "secondary"),
        CallListEntry.Reason.EVENT: (_("event invitation"), "info"),
    }
    badges.extend(
        Badge(text, style) for reason, (text, style) in labels.items() if reason in reasons
    )
    badges.extend(
        Badge(entry.note or _("low feedback score"), "danger")
        for entry in row.entries
        if entry.reason == CallListEntry.Reason.LOW_FEEDBACK
    )
    if row.overdue_days > 0:
        badges.append(Badge(_("overdue %(days)s d") % {"days": row.overdue_days}, "dark"))
    return badges


def _top_open_customer_ids(*, rep, day: date, now: datetime, limit: int) -> tuple[list[int], int]:
    """The `limit` customers of the rep's open entries with the highest priority_of, and how many
    customers have open entries in all (two narrow queries, no model instances).

    The same priority_of as the full list, so a limited list is the top of the full one.
    """
    rows = (
        CallListEntry.objects.filter(
            customer__owner=rep, status=CallListEntry.Status.OPEN, day__lte=day
        )
        .order_by()
        .values_list(
            "customer_id",
            "day",
            "due_by",
            "customer__name",
            "customer__score__value_class",
            "customer__score__risk_level",
            "customer__score__customer_id",
        )
    )
    due: dict[int, date] = {}
    facts: dict[int, tuple] = {}
    for customer_id, entry_day, due_by, name, value_class, risk_level, scored in rows:
        when = due_by or entry_day
        if customer_id not in due or when < due[customer_id]:
            due[customer_id] = when
        facts[customer_id] = (name, value_class, risk_level, scored)
    # Ranked even when all fit, so the page costs the same queries whatever the list's length.
    last = dict(
        Touch.objects.filter(customer__owner=rep, status=Touch.Status.DONE)
        .order_by()
        .values("customer_id")
        .annotate(last=Max("at"))
        .values_list("customer_id", "last")
    )
    ranked = []
    for customer_id, when in due.items():
        name, value_class, risk_level, scored = facts[customer_id]
        # priority_of reads these two fields only; a model instance per row would cost more
        # than the whole query.
        score = SimpleNamespace(value_class=value_class, risk_level=risk_level) if scored else None
        contact = last.get(customer_id)
        priority = priority_of(
            score=score,
            overdue_days=max((day - when).days, 0),
            days_since_contact=(now - contact).days if contact else None,
        )
        ranked.append((-priority, name, customer_id))
    ranked.sort()
    return [customer_id for _priority, _name, customer_id in ranked[:limit]], len(due)


def call_list_for(*, rep, day: date | None = None, limit: int | None = None) -> CallList:
    """The rep's calls for `day`: open entries due by then (one row per customer, carried over
    while not done) ordered by priority (see priority_of), and the rows already logged that day.

    A customer is on the list of their current owner, so a reassignment moves the entries with it.
    Queries: entries, last contacts, plus whatever the call_list_extras receivers run. With
    `limit`, only the `limit` open customers of highest priority are loaded (two more queries),
    so a list that has grown to thousands costs the same to show; `open_total` says how many.
    """
    day = day or timezone.localdate()
    now = timezone.now()
    start, end = _day_bounds(day)
    open_filter = Q(status=CallListEntry.Status.OPEN, day__lte=day)
    open_total = None
    if limit is not None:
        top_ids, open_total = _top_open_customer_ids(rep=rep, day=day, now=now, limit=limit)
        open_filter &= Q(customer_id__in=top_ids)
    entries = (
        CallListEntry.objects.filter(customer__owner=rep)
        .filter(
            open_filter
            | Q(status=CallListEntry.Status.DONE, done_at__gte=start, done_at__lt=end)
        )
        .select_related("customer", "customer__score", "touch")
        .order_by("day", "pk")
    )
    open_rows: dict[int, CallListRow] = {}
    done_rows: dict[int, CallListRow] = {}
    for entry in entries:
        customer = entry.customer
        score = getattr(customer, "score", None)
        target = open_rows if entry.status == CallListEntry.Status.OPEN else done_rows
        row = target.get(customer.pk)
        if row is None:
            row = target[customer.pk] = CallListRow(customer=customer, score=score, entries=[])
        row.entries.append(entry)
        if entry.callback_at:
            row.callback_at = entry.callback_at
        if entry.offer and not row.offer:
            row.offer = entry.offer
        if entry.touch is not None:
            row.touch = entry.touch
    # A customer both logged today and still open (a callback later today) shows as open.
    for customer_id in open_rows:
        done_rows.pop(customer_id, None)
    ids = list(open_rows) + list(done_rows)
    contacts = _last_contacts(ids)
    extras = (
        merge_responses(call_list_extras.send(sender=CallListEntry, customer_ids=ids))
        if ids
        else {}
    )
    for rows, done in ((open_rows, False), (done_rows, True)):
        for customer_id, row in rows.items():
            contact = contacts.get(customer_id, {})
            row.done = done
            row.last_contact_at = contact.get("last")
            row.last_personal_at = contact.get("last_personal")
            due = min((entry.due_by or entry.day) for entry in row.entries)
            row.overdue_days = max((day - due).days, 0) if not done else 0
            days_since = (now - row.last_contact_at).days if row.last_contact_at else None
            row.priority = priority_of(
                score=row.score, overdue_days=row.overdue_days, days_since_contact=days_since
            )
            row.needs_reason = bool(row.score) and (
                row.score.dormant or row.score.rfm_segment == RfmSegment.LOST
            )
            row.badges = _badges(row, day=day, now=now)
            row.extras = extras.get(customer_id, [])
    ordered = sorted(
        open_rows.values(), key=lambda row: (-row.priority, row.customer.name, row.customer.pk)
    )
    done_list = sorted(done_rows.values(), key=lambda row: row.customer.name)
    return CallList(
        rep=rep, day=day, rows=ordered, done_rows=done_list, open_total=open_total
    )


def call_list_row_for(*, rep, customer_id: int, day: date | None = None) -> CallListRow | None:
    """One customer's row of the rep's list (for the htmx swap after logging)."""
    call_list = call_list_for(rep=rep, day=day)
    for row in [*call_list.rows, *call_list.done_rows]:
        if row.customer.pk == customer_id:
            return row
    return None


# --- Key-account watch ---------------------------------------------------------------------------


def _last_personal_subquery() -> Subquery:
    return Subquery(
        Touch.objects.filter(customer=OuterRef("pk"), kind=Kind.PERSONAL, status=Touch.Status.DONE)
        .order_by("-at")
        .values("at")[:1]
    )


def overdue_key_accounts(
    *, as_of: datetime | None = None, days: int | None = None
) -> QuerySet[Customer]:
    """Key accounts (class A, or revenue at the threshold) with no personal contact for `days`."""
    as_of = as_of or timezone.now()
    days = conf.key_account_days() if days is None else days
    cutoff = as_of - timedelta(days=days)
    return (
        Customer.objects.filter(key_account_q())
        .annotate(last_personal_at=_last_personal_subquery())
        .filter(Q(last_personal_at__isnull=True) | Q(last_personal_at__lt=cutoff))
    )


@dataclass
class KeyAccountGroup:
    rep: object | None
    customers: list[Customer]


def key_account_watch(*, user, as_of: datetime | None = None) -> list[KeyAccountGroup]:
    """Overdue key accounts per owner rep (unassigned ones first), as `user` may see them."""
    as_of = as_of or timezone.now()
    visible = Customer.objects.visible_ids(user)
    customers = (
        overdue_key_accounts(as_of=as_of)
        .filter(pk__in=visible)
        .select_related("owner", "score")
        .order_by("owner__username", "-score__revenue_12m", "name")
    )
    groups: dict[object, KeyAccountGroup] = {}
    for customer in customers:
        customer.days_without_contact = (
            (as_of - customer.last_personal_at).days if customer.last_personal_at else None
        )
        owner = customer.owner if customer.owner and customer.owner.is_active else None
        group = groups.get(owner.pk if owner else None)
        if group is None:
            group = groups[owner.pk if owner else None] = KeyAccountGroup(rep=owner, customers=[])
        group.customers.append(customer)
    return sorted(groups.values(), key=lambda group: (group.rep is not None, -len(group.customers)))


def overdue_key_account_count(*, user, as_of: datetime | None = None) -> int:
    """How many key accounts `user` may see went without a personal contact too long (dashboard)."""
    return (
        overdue_key_accounts(as_of=as_of)
        .filter(pk__in=Customer.objects.visible_ids(user))
        .count()
    )


# --- Rep performance -----------------------------------------------------------------------------


@dataclass
class RepPerformance:
    rep: object
    planned: int = 0
    planned_done: int = 0
    contacts_made: int = 0
    reached: int = 0
    key_accounts_overdue: int = 0
    win_backs: int = 0
    revenue_existing: Decimal = Decimal("0")

    @property
    def planned_done_percent(self) -> int | None:
        return round(self.planned_done * 100 / self.planned) if self.planned else None


def rep_performance(*, start: date, end: date) -> list[RepPerformance]:
    """Per active rep, from `start` to `end` inclusive, in six set-based queries:

    - planned: call-list entries of their customers due in the period, and how many were done;
    - contacts made: personal touches they logged, and how many reached the customer;
    - key accounts overdue now;
    - win-backs: customers dormant when the rep contacted them in the period who bought again
      within CONTACTS_WIN_BACK_DAYS (60) after that contact;
    - revenue from existing customers: their customers' purchases in the period, net of refunds,
      where the customer had bought before the period.
    """
    reps = list(reps_queryset())
    rep_ids = [rep.pk for rep in reps]
    result = {rep.pk: RepPerformance(rep=rep) for rep in reps}
    period_start, _ = _day_bounds(start)
    _, period_end = _day_bounds(end)

    for row in (
        CallListEntry.objects.filter(day__gte=start, day__lte=end, customer__owner__in=rep_ids)
        .values("customer__owner")
        .annotate(planned=Count("pk"), done=Count("pk", filter=Q(status=CallListEntry.Status.DONE)))
    ):
        result[row["customer__owner"]].planned = row["planned"]
        result[row["customer__owner"]].planned_done = row["done"]

    personal = Touch.objects.filter(
        by__in=rep_ids,
        kind=Kind.PERSONAL,
        status=Touch.Status.DONE,
        at__gte=period_start,
        at__lt=period_end,
    )
    for row in personal.values("by").annotate(
        made=Count("pk"), reached=Count("pk", filter=Q(outcome="reached"))
    ):
        result[row["by"]].contacts_made = row["made"]
        result[row["by"]].reached = row["reached"]

    for row in (
        overdue_key_accounts().filter(owner__in=rep_ids).values("owner").annotate(n=Count("pk"))
    ):
        result[row["owner"]].key_accounts_overdue = row["n"]

    bought_after = Purchase.objects.filter(
        customer=OuterRef("customer"),
        occurred_at__gt=OuterRef("at"),
        occurred_at__lte=ExpressionWrapper(
            OuterRef("at") + timedelta(days=conf.win_back_days()), output_field=DateTimeField()
        ),
    )
    for row in (
        personal.filter(was_dormant=True)
        .filter(Exists(bought_after))
        .values("by")
        .annotate(n=Count("customer", distinct=True))
    ):
        result[row["by"]].win_backs = row["n"]

    bought_before = Purchase.objects.filter(
        customer=OuterRef("customer"), occurred_at__lt=period_start
    )
    existing_purchases = Purchase.objects.filter(
        occurred_at__gte=period_start, occurred_at__lt=period_end, customer__owner__in=rep_ids
    ).filter(Exists(bought_before))
    for row in existing_purchases.values("customer__owner").annotate(
        revenue=Coalesce(Sum("amount"), Value(Decimal("0")), output_field=MONEY)
    ):
        result[row["customer__owner"]].revenue_existing = row["revenue"]
    for row in (
        Refund.objects.filter(purchase__in=existing_purchases.values("pk"))
        .values("purchase__customer__owner")
        .annotate(refunded=Coalesce(Sum("amount"), Value(Decimal("0")), output_field=MONEY))
    ):
        result[row["purchase__customer__owner"]].revenue_existing -= row["refunded"]
    return sorted(result.values(), key=lambda item: (-item.key_accounts_overdue, str(item.rep)))


# --- The customer page ---------------------------------------------------------------------------

# The next allowed time is shown for the contacts a rep most often plans.
FORECASTS = (
    (Channel.PHONE, Kind.PERSONAL),
    (Channel.EMAIL, Kind.ADVERTISING),
    (Channel.EMAIL, Kind.CONTENT),
    (Channel.SMS, Kind.ADVERTISING),
)


@dataclass
class Forecast:
    channel: str
    kind: str
    label: str
    next_allowed_at: datetime | None
    now: bool


def customer_contacts_context(
    *, customer: Customer, user=None, now: datetime | None = None
) -> dict:
    """Everything the customer page's contacts panel shows, in a fixed number of queries.

    `customer` must already be checked as visible to the user (customers.selectors.customer_for).
    """
    now = now or timezone.now()
    preferences = ContactPreferences.objects.filter(customer=customer).first()
    rules = caps.load_rules()
    states = caps.load_states(
        [customer.pk], channels=[channel for channel, _kind in FORECASTS], since=now, rules=rules
    )
    state = states.get(customer.pk)
    forecasts = []
    for channel, kind in FORECASTS:
        when = (
            caps.earliest_time(state, channel=channel, kind=kind, rules=rules, after=now)
            if state
            else None
        )
        forecasts.append(
            Forecast(
                channel=channel,
                kind=kind,
                label=f"{Channel(channel).label} · {Kind(kind).label}",
                next_allowed_at=when,
                now=when is not None and when <= now + timedelta(minutes=1),
            )
        )
    return {
        "contact_customer": customer,
        "contact_preferences": preferences,
        "cap_overrides": list(customer.cap_overrides.all()),
        "touches": list(customer.touches.select_related("by")[:10]),
        "refused_touches": list(customer.refused_touches.all()[:10]),
        "outbox_messages": list(customer.outbox_messages.all()[:5]),
        "feedback_answers": list(
            Feedback.objects.filter(customer=customer, answered_at__isnull=False)[:5]
        ),
        "consent_changes": list(
            ConsentChange.objects.filter(customer=customer).select_related("by")[:5]
        ),
        "open_entries": list(
            CallListEntry.objects.filter(customer=customer, status=CallListEntry.Status.OPEN)[:10]
        ),
        "forecasts": forecasts,
        "consent_channels": [
            (channel, Channel(channel).label, getattr(customer, f"consent_{channel}"))
            for channel in (Channel.EMAIL, Channel.SMS, Channel.PHONE, Channel.SOCIAL)
        ],
        "can_change_contacts": bool(user) and user.has_perm("contacts.change_contactpreferences"),
        "can_log_contacts": bool(user) and user.has_perm("contacts.add_touch"),
    }


# --- Feedback on the dashboard -------------------------------------------------------------------

LOW_SCORE = 6


@dataclass(frozen=True)
class FeedbackMonth:
    month: date
    answers: int
    average: float | None
    nps: float | None


def feedback_trend(*, months: int = 12, owner_id: int | None = None) -> list[FeedbackMonth]:
    """Per month: answers, average score and NPS (% promoters 9-10 minus % detractors 0-6)."""
    since = (timezone.localdate().replace(day=1) - timedelta(days=31 * (months - 1))).replace(day=1)
    answers = Feedback.objects.filter(score__isnull=False, answered_at__date__gte=since)
    if owner_id:
        answers = answers.filter(customer__owner_id=owner_id)
    rows = (
        answers.annotate(month=TruncMonth("answered_at"))
        .values("month")
        .annotate(
            n=Count("pk"),
            average=Avg("score"),
            promoters=Count("pk", filter=Q(score__gte=9)),
            detractors=Count("pk", filter=Q(score__lte=LOW_SCORE)),
        )
        .order_by("month")
    )
    return [
        FeedbackMonth(
            month=row["month"].date() if hasattr(row["month"], "date") else row["month"],
            answers=row["n"],
            average=float(row["average"]) if row["average"] is not None else None,
            nps=(row["promoters"] - row["detractors"]) * 100 / row["n"] if row["n"] else None,
        )
        for row in rows
    ]


def latest_low_scores(*, limit: int = 8, owner_id: int | None = None) -> list[Feedback]:
    """The latest answers of LOW_SCORE or below, with their customer and owner (one query)."""
    answers = Feedback.objects.filter(score__lte=LOW_SCORE).select_related(
        "customer", "customer__owner"
    )
    if owner_id:
        answers = answers.filter(customer__owner_id=owner_id)
    return list(answers.order_by("-answered_at")[:limit])
