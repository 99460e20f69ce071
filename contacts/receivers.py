"""Reactions to the customer base's domain signals about personal data (customers.signals).

`customer_data_requested`: every contacts row about the customer, for the customer's data export.
`customer_erased`: consent withdrawn through the consent log, everything queued for the customer
cancelled, and personal text in contacts' rows cleared; the rows themselves stay, so caps, call
statistics and feedback scores keep counting.
"""

import logging

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from contacts.models import (
    CONSENT_CHANNELS,
    CallListEntry,
    CapOverride,
    ConsentChange,
    ContactPreferences,
    Feedback,
    OutboxMessage,
    RefusedTouch,
    Touch,
)
from contacts.services import set_consent

logger = logging.getLogger(__name__)


def export_contact_data(sender, customer_id: int, **kwargs) -> dict:
    """{"contacts": {...}}: preferences, consent log, contacts made and planned, refusals,
    messages, call-list entries, feedback and the customer's own caps (one query each)."""
    mine = {"customer_id": customer_id}
    return {
        "contacts": {
            "preferences": ContactPreferences.objects.filter(**mine)
            .values(
                "preferred_channel",
                "paused_until",
                "pause_reason",
                "contact_from",
                "contact_until",
                "updated_at",
            )
            .first(),
            "consent_changes": list(
                ConsentChange.objects.filter(**mine)
                .order_by("created_at", "pk")
                .values("created_at", "channel", "granted", "source", "note")
            ),
            "touches": list(
                Touch.objects.filter(**mine)
                .order_by("at", "pk")
                .values(
                    "id",
                    "at",
                    "channel",
                    "kind",
                    "status",
                    "source",
                    "outcome",
                    "leave_reason",
                    "callback_at",
                    "notes",
                    "created_at",
                )
            ),
            "refused_touches": list(
                RefusedTouch.objects.filter(**mine)
                .order_by("created_at", "pk")
                .values("created_at", "channel", "kind", "reason", "requested_for")
            ),
            "messages": list(
                OutboxMessage.objects.filter(**mine)
                .order_by("created_at", "pk")
                .values(
                    "id",
                    "created_at",
                    "channel",
                    "kind",
                    "language",
                    "to",
                    "subject",
                    "body",
                    "status",
                    "sent_at",
                )
            ),
            "call_list_entries": list(
                CallListEntry.objects.filter(**mine)
                .order_by("day", "pk")
                .values("day", "reason", "status", "offer", "note", "done_at")
            ),
            "feedback": list(
                Feedback.objects.filter(**mine)
                .order_by("created_at", "pk")
                .values("created_at", "answered_at", "score", "comment", "reasons")
            ),
            "cap_overrides": list(
                CapOverride.objects.filter(**mine)
                .order_by("channel", "kind")
                .values("channel", "kind", "max_count", "period_days", "note", "created_at")
            ),
        }
    }


def erase_contact_data(sender, customer_id: int, by_id: int | None = None, **kwargs) -> None:
    by = get_user_model().objects.filter(pk=by_id).first() if by_id else None
    note = _("Personal data erased")
    for channel in CONSENT_CHANNELS:
        set_consent(
            customer_id=customer_id,
            channel=channel,
            granted=False,
            source=ConsentChange.Source.ADMIN,
            by=by,
            note=note,
        )
    mine = {"customer_id": customer_id}
    # Withdrawn consent spares service messages; an erased customer gets nothing at all. An
    # `unknown` message may have gone out, but is never to be released again.
    cancelled = OutboxMessage.objects.filter(
        **mine, status__in=[OutboxMessage.Status.PENDING, OutboxMessage.Status.UNKNOWN]
    ).update(status=OutboxMessage.Status.CANCELLED)
    Touch.objects.filter(**mine, status=Touch.Status.PLANNED).update(status=Touch.Status.CANCELLED)
    # Open call-list entries are reasons to call someone nobody may call any more.
    CallListEntry.objects.filter(**mine, status=CallListEntry.Status.OPEN).delete()
    OutboxMessage.objects.filter(**mine).update(to="", subject="", body="")
    Touch.objects.filter(**mine).exclude(notes="").update(notes="")
    Feedback.objects.filter(**mine).exclude(comment="").update(comment="")
    CapOverride.objects.filter(**mine).exclude(note="").update(note="")
    ContactPreferences.objects.filter(**mine).exclude(pause_reason="").update(pause_reason="")
    logger.info("contacts.erased customer=%s messages_cancelled=%s", customer_id, cancelled)
