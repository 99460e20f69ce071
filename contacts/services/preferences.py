"""A customer's contact preferences and own caps."""

import logging
from datetime import date, time

from django.db import transaction
from django.utils.translation import gettext as _

from contacts import caps
from contacts.errors import PreferencesError
from contacts.models import CapOverride, Channel, ContactPreferences, Kind

logger = logging.getLogger(__name__)


@transaction.atomic
def update_preferences(
    *,
    customer_id: int,
    by,
    preferred_channel: str = "",
    paused_until: date | None = None,
    pause_reason: str = "",
    contact_from: time | None = None,
    contact_until: time | None = None,
) -> ContactPreferences:
    """Sets how and when the customer wants to be contacted (under the booking lock)."""
    if preferred_channel and preferred_channel not in Channel.values:
        raise PreferencesError(_("Choose a channel from the list."), field="preferred_channel")
    if (contact_from is None) != (contact_until is None):
        raise PreferencesError(
            _("Give both ends of the contact hours, or neither."), field="contact_until"
        )
    if contact_from is not None and contact_from >= contact_until:
        raise PreferencesError(_("Contact hours must end after they start."), field="contact_until")
    caps.lock_customers([customer_id])
    preferences = ContactPreferences.objects.get(customer_id=customer_id)
    preferences.preferred_channel = preferred_channel
    preferences.paused_until = paused_until
    preferences.pause_reason = pause_reason[:200] if paused_until else ""
    preferences.contact_from = contact_from
    preferences.contact_until = contact_until
    preferences.save()
    logger.info("contacts.preferences customer=%s by=%s", customer_id, getattr(by, "pk", None))
    return preferences


@transaction.atomic
def set_cap_override(
    *,
    customer_id: int,
    channel: str,
    by,
    kind: str = "",
    max_count: int | None = None,
    period_days: int = 7,
    note: str = "",
    remove: bool = False,
) -> CapOverride | None:
    """Sets (or removes) the customer's own cap on a channel, e.g. "phone weekly, as agreed"."""
    if channel not in Channel.values:
        raise PreferencesError(_("Choose a channel from the list."), field="channel")
    if kind == Kind.SERVICE or (kind and kind not in Kind.values):
        raise PreferencesError(_("Service messages have no cap."), field="kind")
    if period_days < 1 or (max_count is not None and max_count < 1):
        raise PreferencesError(_("Give a positive count and period."), field="period_days")
    caps.lock_customers([customer_id])
    if remove:
        CapOverride.objects.filter(customer_id=customer_id, channel=channel, kind=kind).delete()
        return None
    override, _created = CapOverride.objects.update_or_create(
        customer_id=customer_id,
        channel=channel,
        kind=kind,
        defaults={"max_count": max_count, "period_days": period_days, "note": note[:200]},
    )
    logger.info(
        "contacts.cap_override customer=%s channel=%s by=%s",
        customer_id,
        channel,
        getattr(by, "pk", None),
    )
    return override
