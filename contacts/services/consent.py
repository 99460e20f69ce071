"""Consent per channel: the one way a customer's consent changes, always with its source logged."""

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from contacts import caps
from contacts.errors import ConsentError
from contacts.models import CONSENT_CHANNELS, ConsentChange, Kind, OutboxMessage, Touch
from customers.models import Customer

logger = logging.getLogger(__name__)


@transaction.atomic
def set_consent(
    *,
    customer_id: int,
    channel: str,
    granted: bool,
    source: str,
    by=None,
    note: str = "",
) -> ConsentChange | None:
    """Sets Customer.consent_<channel> and logs the change with its source; None if nothing changed.

    Withdrawing consent cancels the channel's planned touches and waiting messages (service
    messages such as receipts excepted): no consent, no contact, even for what was already queued.
    """
    if channel not in CONSENT_CHANNELS:
        raise ConsentError(
            _("Consent is not recorded for this channel."), field="channel", channel=channel
        )
    if source not in ConsentChange.Source.values:
        raise ConsentError(_("Unknown source of consent."), field="source")
    # The booking lock: a booking running now either finished before (and is cancelled below) or
    # starts after and sees the new consent.
    caps.lock_customers([customer_id])
    field = f"consent_{channel}"
    current = Customer.objects.filter(pk=customer_id).values_list(field, flat=True).get()
    if current == granted:
        return None
    Customer.objects.filter(pk=customer_id).update(**{field: granted})
    change = ConsentChange.objects.create(
        customer_id=customer_id,
        channel=channel,
        granted=granted,
        source=source,
        by=by,
        note=note[:200],
    )
    if not granted:
        cancelled = (
            Touch.objects.filter(
                customer_id=customer_id, channel=channel, status=Touch.Status.PLANNED
            )
            .exclude(kind=Kind.SERVICE)
            .update(status=Touch.Status.CANCELLED)
        )
        OutboxMessage.objects.filter(
            customer_id=customer_id, channel=channel, status=OutboxMessage.Status.PENDING
        ).exclude(kind=Kind.SERVICE).update(status=OutboxMessage.Status.CANCELLED)
        logger.info(
            "consent.withdrawn customer=%s channel=%s source=%s cancelled=%s",
            customer_id,
            channel,
            source,
            cancelled,
        )
    else:
        logger.info(
            "consent.granted customer=%s channel=%s source=%s", customer_id, channel, source
        )
    return change
