"""Logging what a rep did: a call's outcome (or an e-mail or meeting), and what comes of it."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contacts import caps, conf
from contacts.errors import OutcomeError
from contacts.models import CallListEntry, Channel, Kind, LeaveReason, Outcome, Touch
from contacts.signals import contact_logged
from customers.models import CustomerScore, RfmSegment

logger = logging.getLogger(__name__)

# Channels a rep contacts a customer on in person; these touches are "personal" for the caps.
PERSONAL_CHANNELS = (Channel.PHONE, Channel.EMAIL, Channel.IN_PERSON)
# Outcomes after which a dormant or lost customer's reason for leaving must be recorded: the rep
# spoke to them (DOMAIN.md section 2: call each, record the reason).
REASON_REQUIRED_OUTCOMES = (Outcome.REACHED, Outcome.DECLINED)


def customer_is_lost_or_dormant(customer_id: int) -> bool:
    score = (
        CustomerScore.objects.filter(customer_id=customer_id)
        .values("dormant", "rfm_segment")
        .first()
    )
    return bool(score) and (score["dormant"] or score["rfm_segment"] == RfmSegment.LOST)


@transaction.atomic
def log_call_outcome(
    *,
    customer_id: int,
    by,
    outcome: str,
    notes: str = "",
    callback_at: datetime | None = None,
    leave_reason: str = "",
    channel: str = Channel.PHONE,
    at: datetime | None = None,
    key: str | None = None,
) -> Touch:
    """Records a rep's contact as a done touch (it counts for the caps) and moves the call list on.

    Today's open entries of the customer are closed by it; a promised callback comes back on its
    day, a no-answer after CONTACTS_NO_ANSWER_RETRY_DAYS. A contact that happened is a fact, so it
    is never refused by a cap; only future bookings are. With a `key` (unique among touches), a
    contact already logged under it is returned as it is instead of being logged again: the
    caller compares it with what it asked for.
    """
    now = timezone.now()
    at = at or now
    if outcome not in Outcome.values:
        raise OutcomeError(_("Choose what happened."), field="outcome")
    if channel not in PERSONAL_CHANNELS:
        raise OutcomeError(_("Choose a phone call, an e-mail or a meeting."), field="channel")
    if leave_reason and leave_reason not in LeaveReason.values:
        raise OutcomeError(_("Choose a reason from the list."), field="leave_reason")
    if outcome == Outcome.CALLBACK:
        if callback_at is None:
            raise OutcomeError(_("Say when to call back."), field="callback_at")
        if callback_at <= now:
            raise OutcomeError(_("The callback time must be in the future."), field="callback_at")
    else:
        callback_at = None
    was_dormant = customer_is_lost_or_dormant(customer_id)
    if was_dormant and outcome in REASON_REQUIRED_OUTCOMES and not leave_reason:
        raise OutcomeError(
            _("This customer stopped buying: record why they left."), field="leave_reason"
        )
    # Serialised with bookings of the same customer, so a booking decided just now counts this call.
    caps.lock_customers([customer_id])
    if key is not None:
        # Under the customer's lock, so a retry racing the first request waits and finds it.
        earlier = Touch.objects.filter(key=key).first()
        if earlier is not None:
            return earlier
    touch = Touch.objects.create(
        customer_id=customer_id,
        channel=channel,
        kind=Kind.PERSONAL,
        status=Touch.Status.DONE,
        at=at,
        source=Touch.Source.REP,
        by=by,
        key=key,
        outcome=outcome,
        leave_reason=leave_reason,
        callback_at=callback_at,
        notes=notes,
        was_dormant=was_dormant,
    )
    today = timezone.localdate(at)
    closed = CallListEntry.objects.filter(
        customer_id=customer_id, status=CallListEntry.Status.OPEN, day__lte=today
    ).update(status=CallListEntry.Status.DONE, touch=touch, done_at=now)
    if outcome == Outcome.CALLBACK:
        _reopen_entry(
            customer_id=customer_id,
            day=timezone.localdate(callback_at),
            reason=CallListEntry.Reason.CALLBACK,
            callback_at=callback_at,
        )
    elif outcome == Outcome.NO_ANSWER:
        _reopen_entry(
            customer_id=customer_id,
            day=today + timedelta(days=conf.no_answer_retry_days()),
            reason=CallListEntry.Reason.NO_ANSWER,
        )
    contact_logged.send(sender=Touch, touch_id=touch.pk, customer_id=customer_id, outcome=outcome)
    logger.info(
        "contacts.logged touch=%s customer=%s outcome=%s by=%s closed=%s",
        touch.pk,
        customer_id,
        outcome,
        getattr(by, "pk", None),
        closed,
    )
    return touch


def _reopen_entry(
    *, customer_id: int, day, reason: str, callback_at: datetime | None = None
) -> None:
    """The customer's entry of that day and reason, open again (or new): one upsert on the
    entry's unique key, so a concurrent booking of the same entry cannot make a second one."""
    CallListEntry.objects.bulk_create(
        [
            CallListEntry(
                customer_id=customer_id,
                day=day,
                reason=reason,
                status=CallListEntry.Status.OPEN,
                callback_at=callback_at,
                touch=None,
                done_at=None,
            )
        ],
        update_conflicts=True,
        unique_fields=["customer", "day", "reason"],
        update_fields=["status", "callback_at", "touch", "done_at"],
    )
