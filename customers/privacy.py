"""A customer's personal data: everything kept about one customer as JSON, and erasure.

Erasure anonymises, it does not delete: purchases, refunds, scores and the points ledger stay, so
revenue, retention figures and balances are the same before and after. What goes:

* the customer's name (it becomes "Erased customer #<id>"), e-mail, phone, birthday and notes;
* every consent (withdrawn through contacts' consent log, source "administration"), and with it
  whatever was queued: messages and planned contacts are cancelled (contacts' receiver of
  `customer_erased`), their addresses and texts cleared;
* the name in the admin's change history.

What stays, on purpose:

* `external_id`: the accounting system's key for this customer. Purchases keep arriving under it
  and must land on the same (anonymous) row instead of creating a new customer. It identifies
  nobody without the accounting system, where the erasure request has to be carried out too:
  an import of a file that still has the person's name and e-mail under this key writes them back.
* kind, stage, language, time zone, tags, owner and backup rep: how the account is handled, not
  who the person is.
* the audit trail, which holds ids and counts, never personal data.
"""

import json
import logging
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.audit import AuditAction, record_audit_event
from common.models import AuditEvent

from .models import Customer, CustomerScore, Purchase, Refund, ScoreTransition
from .signals import customer_data_requested, customer_erased

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "retention.customer-data/1"

PERSONAL_FIELDS = ("name", "email", "phone", "birthday", "notes")
CONSENT_FIELDS = ("consent_email", "consent_sms", "consent_phone", "consent_social")


def _plain(data: Any) -> Any:
    # One pass through the JSON encoder turns Decimals, dates and UUIDs into JSON values.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


@transaction.atomic
def export_customer_data(*, customer_id: int, by) -> dict:
    """Everything kept about one customer, as JSON-serialisable data; the export is audited.

    The customer's own rows come from here; other apps add theirs through the
    `customer_data_requested` signal, one section each.
    """
    customer = Customer.objects.prefetch_related("tags").get(pk=customer_id)
    record = Customer.objects.filter(pk=customer_id).values().get()
    record["tags"] = sorted(tag.name for tag in customer.tags.all())
    data: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now(),
        "customer": record,
        "purchases": list(
            Purchase.objects.filter(customer_id=customer_id)
            .order_by("occurred_at", "pk")
            .values(
                "id", "occurred_at", "amount", "currency", "external_id", "source", "created_at"
            )
        ),
        "refunds": list(
            Refund.objects.filter(purchase__customer_id=customer_id)
            .order_by("occurred_at", "pk")
            .values(
                "id", "purchase_id", "occurred_at", "amount", "external_id", "reason", "created_at"
            )
        ),
        "score": CustomerScore.objects.filter(customer_id=customer_id).values().first(),
        "score_transitions": list(
            ScoreTransition.objects.filter(customer_id=customer_id)
            .order_by("as_of", "pk")
            .values("as_of", "dimension", "from_value", "to_value")
        ),
        "erasures": list(
            AuditEvent.objects.filter(customer_id=customer_id, action=AuditAction.CUSTOMER_ERASED)
            .order_by("at")
            .values_list("at", flat=True)
        ),
    }
    for receiver, answer in customer_data_requested.send(sender=Customer, customer_id=customer_id):
        if not answer:
            continue
        clash = set(answer) & set(data)
        if clash:
            raise ValueError(f"{receiver!r} answered sections that already exist: {sorted(clash)}")
        data.update(answer)
    record_audit_event(
        action=AuditAction.PERSONAL_DATA_EXPORTED,
        actor=by,
        obj=customer,
        details={"sections": sorted(data), "purchases": len(data["purchases"])},
    )
    logger.info("privacy.exported customer=%s by=%s", customer_id, getattr(by, "pk", None))
    return _plain(data)


def erased_name(customer_id: int) -> str:
    return _("Erased customer #%(id)s") % {"id": customer_id}


def was_erased(*, customer_id: int) -> bool:
    """Whether this customer's personal data was erased at least once."""
    return AuditEvent.objects.filter(
        customer_id=customer_id, action=AuditAction.CUSTOMER_ERASED
    ).exists()


@transaction.atomic
def erase_customer(*, customer_id: int, by) -> Customer:
    """Anonymises one customer (see the module docstring) and records who did it.

    Running it again is harmless and clears whatever arrived since (an import that wrote a name
    back); every run is audited.
    """
    # The row lock: an edit or import of this customer waits and then sees the erased row.
    Customer.objects.select_for_update().filter(pk=customer_id).get()
    # Before the fields are cleared: receivers may still need them to find their rows.
    customer_erased.send(sender=Customer, customer_id=customer_id, by_id=getattr(by, "pk", None))
    name = erased_name(customer_id)
    Customer.objects.filter(pk=customer_id).update(
        name=name,
        email="",
        phone="",
        birthday=None,
        notes="",
        **dict.fromkeys(CONSENT_FIELDS, False),
    )
    # The admin's change history names the object; the name is personal data.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Customer), object_id=str(customer_id)
    ).update(object_repr=name)
    customer = Customer.objects.get(pk=customer_id)
    record_audit_event(
        action=AuditAction.CUSTOMER_ERASED,
        actor=by,
        obj=customer,
        details={
            "cleared": [*PERSONAL_FIELDS, *CONSENT_FIELDS],
            "purchases_kept": Purchase.objects.filter(customer_id=customer_id).count(),
        },
    )
    logger.info("privacy.erased customer=%s by=%s", customer_id, getattr(by, "pk", None))
    return customer
