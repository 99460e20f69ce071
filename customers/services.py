"""Every change to the customer base goes through these functions: views, API, imports and tasks."""

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import PurchaseConflictError, ReassignmentError, RefundTooLargeError
from .models import Customer, Purchase, Refund
from .signals import customers_reassigned, purchases_recorded, refunds_recorded

logger = logging.getLogger(__name__)
User = get_user_model()

CUSTOMER_FIELDS = (
    "kind", "name", "email", "phone", "birthday", "language", "time_zone", "owner", "backup",
    "stage", "consent_email", "consent_sms", "consent_phone", "consent_social", "notes",
    "external_id",
)


@transaction.atomic
def create_customer(*, data: dict, tags=None) -> Customer:
    """Creates a customer from cleaned data (form, serializer or import)."""
    customer = Customer(**{key: value for key, value in data.items() if key in CUSTOMER_FIELDS})
    customer.full_clean()
    customer.save()
    if tags is not None:
        customer.tags.set(tags)
    logger.info("customer.created id=%s", customer.pk)
    return customer


@transaction.atomic
def update_customer(*, customer: Customer, data: dict, tags=None) -> Customer:
    """Applies cleaned data to a customer; fields not in `data` are left as they are."""
    for key, value in data.items():
        if key in CUSTOMER_FIELDS:
            setattr(customer, key, value)
    customer.full_clean()
    customer.save()
    if tags is not None:
        customer.tags.set(tags)
    logger.info("customer.updated id=%s", customer.pk)
    return customer


def _same_purchase(purchase: Purchase, *, customer_id: int, amount: Decimal, currency: str) -> bool:
    return (
        purchase.customer_id == customer_id
        and purchase.amount == amount
        and purchase.currency == currency
    )


def record_purchase(
    *,
    customer_id: int,
    occurred_at: datetime,
    amount: Decimal,
    external_id: str,
    source: str,
    currency: str | None = None,
) -> tuple[Purchase, bool]:
    """Records a purchase once per external id; returns (purchase, created).

    The same purchase sent again (an API retry, a re-imported file) returns the stored row; a
    different purchase under an id already taken raises PurchaseConflictError.
    """
    currency = (currency or settings.DEFAULT_CURRENCY).upper()
    amount = Decimal(amount).quantize(Decimal("0.01"))
    try:
        with transaction.atomic():
            purchase = Purchase.objects.create(
                customer_id=customer_id,
                occurred_at=occurred_at,
                amount=amount,
                currency=currency,
                external_id=external_id,
                source=source,
            )
            purchases_recorded.send(sender=Purchase, purchase_ids=[purchase.pk])
    except IntegrityError:
        # The unique external id decides under concurrency; whoever lost reads the winner's row.
        existing = Purchase.objects.filter(external_id=external_id).first()
        if existing is None:
            raise
        if not _same_purchase(existing, customer_id=customer_id, amount=amount, currency=currency):
            raise PurchaseConflictError(field="external_id") from None
        return existing, False
    logger.info("purchase.recorded id=%s customer=%s", purchase.pk, customer_id)
    return purchase, True


@transaction.atomic
def record_refund(
    *,
    purchase_id: int,
    amount: Decimal,
    external_id: str,
    occurred_at: datetime | None = None,
    reason: str = "",
) -> tuple[Refund, bool]:
    """Records a refund once per external id, never refunding more than the purchase amount."""
    existing = Refund.objects.filter(external_id=external_id).first()
    if existing is not None:
        return existing, False
    # The purchase row lock serialises refunds of one purchase, so two cannot both pass the check.
    purchase = Purchase.objects.select_for_update().get(pk=purchase_id)
    amount = Decimal(amount).quantize(Decimal("0.01"))
    if amount <= 0:
        raise RefundTooLargeError(_("A refund must be a positive amount."), field="amount")
    refunded = purchase.refunds.aggregate(total=Sum("amount"))["total"] or Decimal("0")
    if refunded + amount > purchase.amount:
        raise RefundTooLargeError(
            _("Only %(left)s of this purchase is left to refund.")
            % {"left": purchase.amount - refunded},
            field="amount",
        )
    refund = Refund.objects.create(
        purchase=purchase,
        amount=amount,
        external_id=external_id,
        occurred_at=occurred_at or timezone.now(),
        reason=reason,
    )
    refunds_recorded.send(sender=Refund, refund_ids=[refund.pk])
    logger.info("refund.recorded id=%s purchase=%s", refund.pk, purchase_id)
    return refund, True


@transaction.atomic
def reassign_customers(
    *,
    from_rep_id: int | None,
    to_rep_id: int,
    customer_ids: list[int] | None = None,
    by=None,
) -> int:
    """Moves accounts (all of `from_rep`'s, or the given ones) to `to_rep`; returns how many moved.

    `from_rep_id=None` with no ids moves every unassigned account. Where the new owner was the
    backup, the backup is cleared so one person never covers an account twice.
    """
    to_rep = User.objects.filter(pk=to_rep_id, is_active=True).first()
    if to_rep is None:
        raise ReassignmentError(_("Choose an active rep to take the accounts."), field="to_rep")
    if from_rep_id is not None and from_rep_id == to_rep_id:
        raise ReassignmentError(_("The accounts already belong to this rep."), field="to_rep")
    if from_rep_id is None:
        accounts = Customer.objects.unassigned()
    else:
        accounts = Customer.objects.filter(owner_id=from_rep_id)
    if customer_ids is not None:
        accounts = accounts.filter(pk__in=customer_ids)
    ids = list(accounts.values_list("pk", flat=True))
    if not ids:
        return 0
    Customer.objects.filter(pk__in=ids, backup_id=to_rep_id).update(backup=None)
    moved = Customer.objects.filter(pk__in=ids).update(owner_id=to_rep_id)
    customers_reassigned.send(
        sender=Customer,
        customer_ids=ids,
        to_owner_id=to_rep_id,
        by_id=getattr(by, "pk", None),
    )
    logger.info(
        "customers.reassigned count=%s from=%s to=%s by=%s",
        moved, from_rep_id, to_rep_id, getattr(by, "pk", None),
    )
    return moved

