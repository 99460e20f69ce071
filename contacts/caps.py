"""The rules of when a customer may be contacted: consent, pause, contact hours and frequency caps.

Everything here is pure computation over rows loaded in a fixed number of queries per batch of
customers (`load_states`), so one customer (a rep booking a call) and thousands (the nightly
planner) go through the same code.

A cap "at most N per P days" holds when no half-open window of P days contains more than N counted
touches: in the sorted list of touch times, any N+1 consecutive ones span at least P. So a touch
at `t` is refused while some N existing touches u_j..u_{j+N-1} lie within (t - P, t + P) of each
other and of t; the earliest allowed time is the end of the forbidden interval
(u_{j+N-1} - P, u_j + P) that holds `t`. With N = 1: an SMS on 3 Nov 10:00 under "once per 30 days"
allows the next one from 3 Dec 10:00.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from . import conf
from .models import (
    CONSENT_CHANNELS,
    CapOverride,
    CapRule,
    Channel,
    ContactPreferences,
    Kind,
    RefusedTouch,
    Touch,
)

# The walk towards the earliest allowed time moves forward at every step; this bounds it even if a
# misconfiguration (contact hours of zero length) could make it cycle.
_MAX_STEPS = 200


@dataclass(frozen=True)
class Limit:
    max_count: int | None
    period_days: int

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.period_days)


@dataclass
class ContactState:
    """What the rules need to know about one customer, loaded in bulk."""

    customer_id: int
    time_zone: str
    consents: dict[str, bool]
    paused_until: date | None = None
    contact_from: time | None = None
    contact_until: time | None = None
    overrides: dict[tuple[str, str], Limit] = field(default_factory=dict)
    # Counted touch times per channel (not cancelled, not service messages), sorted.
    touches: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")

    def hours(self) -> tuple[time, time]:
        if self.contact_from is not None and self.contact_until is not None:
            return self.contact_from, self.contact_until
        return conf.quiet_hours_default()


@dataclass(frozen=True)
class Decision:
    """The answer for one customer: allowed at `at`, or refused with a reason."""

    customer_id: int
    at: datetime
    reason: str | None = None
    blocking_at: datetime | None = None
    next_allowed_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is None


def load_rules() -> dict[tuple[str, str], Limit]:
    return {
        (rule.channel, rule.kind): Limit(rule.max_count, rule.period_days)
        for rule in CapRule.objects.all()
    }


def load_states(
    customer_ids: Iterable[int],
    *,
    channels: Iterable[str],
    since: datetime,
    rules: dict[tuple[str, str], Limit],
) -> dict[int, ContactState]:
    """Loads the contact state of many customers in three queries: their consent, preferences and
    overrides, and their counted touches on `channels` from `since` minus the longest cap period."""
    from customers.models import Customer

    ids = list(customer_ids)
    channels = list(channels)
    rows = Customer.objects.filter(pk__in=ids).values(
        "pk",
        "time_zone",
        "consent_email",
        "consent_sms",
        "consent_phone",
        "consent_social",
        "contact_preferences__paused_until",
        "contact_preferences__contact_from",
        "contact_preferences__contact_until",
    )
    states = {
        row["pk"]: ContactState(
            customer_id=row["pk"],
            time_zone=row["time_zone"],
            consents={name: row[f"consent_{name}"] for name in CONSENT_CHANNELS},
            paused_until=row["contact_preferences__paused_until"],
            contact_from=row["contact_preferences__contact_from"],
            contact_until=row["contact_preferences__contact_until"],
        )
        for row in rows
    }
    longest = max(
        [limit.period_days for (channel, _kind), limit in rules.items() if channel in channels]
        or [0]
    )
    for override in CapOverride.objects.filter(customer_id__in=ids, channel__in=channels):
        states[override.customer_id].overrides[(override.channel, override.kind)] = Limit(
            override.max_count, override.period_days
        )
        longest = max(longest, override.period_days)
    touches = (
        Touch.objects.filter(
            customer_id__in=ids,
            channel__in=channels,
            at__gt=since - timedelta(days=longest),
        )
        .exclude(status=Touch.Status.CANCELLED)
        .exclude(kind=Kind.SERVICE)
        .order_by("at")
        .values_list("customer_id", "channel", "at")
    )
    for customer_id, channel, at in touches:
        states[customer_id].touches[channel].append(at)
    return states


def limit_for(
    state: ContactState, *, channel: str, kind: str, rules: dict[tuple[str, str], Limit]
) -> Limit | None:
    """The customer's own cap wins (kind-specific, then any kind), then the company's rule."""
    for key in ((channel, kind), (channel, "")):
        if key in state.overrides:
            return state.overrides[key]
    return rules.get((channel, kind))


def _in_hours(state: ContactState, *, channel: str, kind: str, at: datetime) -> datetime:
    """The first moment at or after `at` inside the customer's local contact hours."""
    if kind == Kind.SERVICE or channel not in conf.quiet_hours_channels():
        return at
    start, end = state.hours()
    local = at.astimezone(state.tz)
    if local.time() < start:
        return datetime.combine(local.date(), start, tzinfo=state.tz)
    if local.time() >= end:
        return datetime.combine(local.date() + timedelta(days=1), start, tzinfo=state.tz)
    return at


def _after_pause(state: ContactState, *, kind: str, at: datetime) -> datetime:
    if kind == Kind.SERVICE or state.paused_until is None:
        return at
    if at.astimezone(state.tz).date() < state.paused_until:
        return datetime.combine(state.paused_until, time(0, 0), tzinfo=state.tz)
    return at


def _cap_conflict(
    touches: list[datetime], *, limit: Limit | None, at: datetime
) -> tuple[datetime, datetime] | None:
    """(the touch that fills the cap, the end of the forbidden interval) when `at` breaks the cap."""
    if limit is None or limit.max_count is None:
        return None
    count, period = limit.max_count, limit.period
    for j in range(len(touches) - count + 1):
        first, last = touches[j], touches[j + count - 1]
        if last - period < at < first + period:
            # Name the latest touch of the group not after `at` (or the first planned one).
            group = touches[j : j + count]
            before = [touch for touch in group if touch <= at]
            return (before[-1] if before else group[0]), first + period
    return None


def earliest_time(
    state: ContactState,
    *,
    channel: str,
    kind: str,
    rules: dict[tuple[str, str], Limit],
    after: datetime,
) -> datetime | None:
    """The earliest moment at or after `after` that consent, pause, hours and caps all allow."""
    if not _has_consent(state, channel=channel, kind=kind):
        return None
    limit = (
        None if kind == Kind.SERVICE else limit_for(state, channel=channel, kind=kind, rules=rules)
    )
    touches = state.touches.get(channel, [])
    at = after
    for _step in range(_MAX_STEPS):
        moved = _after_pause(state, kind=kind, at=at)
        moved = _in_hours(state, channel=channel, kind=kind, at=moved)
        conflict = _cap_conflict(touches, limit=limit, at=moved)
        if conflict is not None:
            moved = conflict[1]
        if moved == at:
            return at
        at = moved
    return None


def _has_consent(state: ContactState, *, channel: str, kind: str) -> bool:
    if kind == Kind.SERVICE or channel not in CONSENT_CHANNELS:
        return True
    return bool(state.consents.get(channel))


def decide(
    state: ContactState,
    *,
    channel: str,
    kind: str,
    rules: dict[tuple[str, str], Limit],
    at: datetime,
) -> Decision:
    """Allowed at `at` (moved forward into contact hours, never refused for them) or refused.

    Consent is checked first (no consent, no contact), then the pause window, then the caps.
    """
    if not _has_consent(state, channel=channel, kind=kind):
        return Decision(state.customer_id, at, reason=RefusedTouch.Reason.NO_CONSENT)
    if kind != Kind.SERVICE and _after_pause(state, kind=kind, at=at) != at:
        return Decision(
            state.customer_id,
            at,
            reason=RefusedTouch.Reason.PAUSED,
            next_allowed_at=earliest_time(state, channel=channel, kind=kind, rules=rules, after=at),
        )
    at = _in_hours(state, channel=channel, kind=kind, at=at)
    if kind == Kind.SERVICE:
        return Decision(state.customer_id, at)
    limit = limit_for(state, channel=channel, kind=kind, rules=rules)
    conflict = _cap_conflict(state.touches.get(channel, []), limit=limit, at=at)
    if conflict is not None:
        return Decision(
            state.customer_id,
            at,
            reason=RefusedTouch.Reason.CAP,
            blocking_at=conflict[0],
            next_allowed_at=earliest_time(state, channel=channel, kind=kind, rules=rules, after=at),
        )
    return Decision(state.customer_id, at)


def record(state: ContactState, *, channel: str, at: datetime) -> None:
    """Counts a touch just booked, so the next decision in the same batch sees it."""
    touches = state.touches[channel]
    touches.append(at)
    touches.sort()


def ensure_preferences(customer_ids: Iterable[int]) -> None:
    """Makes the lock row of every customer exist (one INSERT; rows already there are kept)."""
    ContactPreferences.objects.bulk_create(
        [ContactPreferences(customer_id=pk) for pk in customer_ids], ignore_conflicts=True
    )


def lock_customers(customer_ids: Iterable[int]) -> list[int]:
    """Locks the customers' preference rows until the transaction ends; returns the ids locked.

    Ids are locked in ascending order, so two batches that overlap cannot deadlock.
    """
    from customers.models import Customer

    ids = sorted(Customer.objects.filter(pk__in=set(customer_ids)).values_list("pk", flat=True))
    ensure_preferences(ids)
    return list(
        ContactPreferences.objects.select_for_update()
        .filter(customer_id__in=ids)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
    )


def _short_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return formats.date_format(timezone.localtime(moment), "j M")


def _short_datetime(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    return f"{formats.date_format(local, 'j M')} {formats.time_format(local, 'H:i')}"


def describe_refusal(
    *,
    reason: str,
    channel: str,
    blocking_at: datetime | None,
    next_allowed_at: datetime | None,
    requested_for: datetime | None = None,
) -> str:
    """A refusal a person understands: "SMS: already sent on 3 Nov; next allowed 3 Dec"."""
    label = Channel(channel).label
    if reason == RefusedTouch.Reason.NO_CONSENT:
        return _("%(channel)s: the customer has not agreed to be contacted this way.") % {
            "channel": label
        }
    if reason == RefusedTouch.Reason.NO_ADDRESS:
        return _("%(channel)s: the customer has no address for this channel.") % {"channel": label}
    if reason == RefusedTouch.Reason.PAUSED:
        return _("%(channel)s: contact is paused; next allowed %(next)s.") % {
            "channel": label,
            "next": _short_datetime(next_allowed_at),
        }
    planned = requested_for is not None and blocking_at is not None and blocking_at > requested_for
    if planned:
        text = _("%(channel)s: already booked for %(date)s; next allowed %(next)s.")
    elif channel in (Channel.PHONE, Channel.IN_PERSON):
        text = _("%(channel)s: already contacted on %(date)s; next allowed %(next)s.")
    else:
        text = _("%(channel)s: already sent on %(date)s; next allowed %(next)s.")
    return text % {
        "channel": label,
        "date": _short_date(blocking_at),
        "next": _short_datetime(next_allowed_at),
    }
