"""The programme's messages to customers, all through the contacts outbox (its caps and consent).

* **Purchase confirmation** after a recent purchase: points earned, balance, the way to the next
  tier ("1,240 more to Gold") and a reward within reach. One per customer per accrued batch (for
  the customer's latest purchase in it); purchases older than `CONFIRMATION_MAX_AGE` (history
  imports) get none.
* **Expiry warning** `Programme.expiry_warning_days` before points expire, once per customer and
  expiry date.
* **Balance reminder** once a month to every customer with a balance.

Each decision is a `LoyaltyMessage` row, unique per (customer, kind, cause), written with its
outcome in the transaction that books the outbox message, and the outbox key repeats the cause:
re-running a night, or a purchase signal arriving twice, never sends a message twice. Contacts'
rules apply unchanged: these are "useful content" messages, so consent, pauses, quiet hours and
frequency caps decide, and a refusal is recorded (on the row and as contacts' RefusedTouch) and not
retried for the same cause. Every message carries the customer's member-page link.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import formats, timezone, translation

from contacts.errors import MessageTemplateMissingError
from contacts.models import Channel, Kind, Touch
from contacts.services.outbox import queue_messages
from customers.models import Customer, Purchase
from loyalty.models import LoyaltyAccount, LoyaltyMessage, Programme, PurchasePoints
from loyalty.rules import chunked
from loyalty.selectors import points_expiring_within

logger = logging.getLogger(__name__)

# Purchases older than this are history (an import from the accounting system, a repair run):
# confirming them now would puzzle the customer.
CONFIRMATION_MAX_AGE = timedelta(days=3)
# Customers per outbox call: the booking locks this many preference rows in one transaction.
MESSAGE_CHUNK = 1_000

TEMPLATES = {
    LoyaltyMessage.Kind.PURCHASE: "loyalty_purchase",
    LoyaltyMessage.Kind.EXPIRY: "loyalty_expiry",
    LoyaltyMessage.Kind.BALANCE: "loyalty_balance",
}


@dataclass
class MessageOutcome:
    queued: int = 0
    refused: int = 0
    already: int = 0
    by_reason: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: "MessageOutcome") -> None:
        self.queued += other.queued
        self.refused += other.refused
        self.already += other.already
        for reason, count in other.by_reason.items():
            self.by_reason[reason] += count

    def as_counts(self) -> dict[str, int]:
        return {"queued": self.queued, "refused": self.refused, "already": self.already}


def outbox_key(kind: str, customer_id: int, cause: str) -> str:
    return f"loyalty:{kind}:{customer_id}:{cause}"


def _channel_for(customer: Customer) -> str:
    """E-mail where the customer has an address and consent, SMS where only that works; otherwise
    e-mail, so contacts records why nothing was sent."""
    if customer.email and customer.consent_email:
        return Channel.EMAIL
    if customer.phone and customer.consent_sms:
        return Channel.SMS
    return Channel.EMAIL if customer.email or not customer.phone else Channel.SMS


@transaction.atomic
def _send(
    *,
    kind: str,
    causes: dict[int, str],
    extra: dict[int, dict] | None = None,
    day: date | None = None,
) -> MessageOutcome:
    """Queues one message of `kind` per customer in `causes` (customer id -> cause) not decided yet."""
    outcome = MessageOutcome()
    if not causes:
        return outcome
    decided = set(
        LoyaltyMessage.objects.filter(
            kind=kind, customer_id__in=list(causes), cause__in=set(causes.values())
        ).values_list("customer_id", "cause")
    )
    wanted = {pk: cause for pk, cause in causes.items() if (pk, cause) not in decided}
    outcome.already = len(causes) - len(wanted)
    if not wanted:
        return outcome
    customers = Customer.objects.filter(pk__in=list(wanted)).only(
        "pk", "email", "phone", "consent_email", "consent_sms"
    )
    by_channel: dict[str, list[int]] = defaultdict(list)
    for customer in customers:
        by_channel[_channel_for(customer)].append(customer.pk)
    rows = []
    for channel, ids in sorted(by_channel.items()):
        # Balance, tier, reward and member link come from loyalty's `message_variables` receiver.
        context = {pk: (extra or {}).get(pk, {}) for pk in ids}
        try:
            result = queue_messages(
                customer_ids=ids,
                template_code=TEMPLATES[kind],
                channel=channel,
                source=Touch.Source.OUTBOX,
                key_for=lambda pk: outbox_key(kind, pk, wanted[pk]),
                day=day,
                kind=Kind.CONTENT,
                extra_context=context,
            )
        except MessageTemplateMissingError:
            # An admin switched the template off: nothing is decided, a later run may send.
            logger.warning("loyalty.message_template_missing kind=%s channel=%s", kind, channel)
            continue
        for pk in ids:
            message = result.messages.get(pk)
            refusal = result.refusals.get(pk) if message is None else None
            reason = refusal.reason if refusal is not None else ""
            rows.append(
                LoyaltyMessage(
                    customer_id=pk,
                    kind=kind,
                    cause=wanted[pk],
                    message=message,
                    refused=reason,
                )
            )
            if message is not None:
                outcome.queued += 1
            else:
                outcome.refused += 1
                outcome.by_reason[reason or "unknown"] += 1
    # The outbox's unique keys already stop a second send; a row a concurrent run wrote first
    # stands, and this one is dropped.
    LoyaltyMessage.objects.bulk_create(rows, ignore_conflicts=True)
    return outcome


def send_purchase_confirmations(
    *, purchase_ids: list[int], now: datetime | None = None
) -> MessageOutcome:
    """Confirms recent accrued purchases: one message per customer, for their latest purchase."""
    outcome = MessageOutcome()
    if not Programme.load().purchase_confirmations:
        return outcome
    now = now or timezone.now()
    for part in chunked(sorted(set(purchase_ids)), MESSAGE_CHUNK):
        latest: dict[int, tuple[datetime, int]] = {}
        for purchase_id, customer_id, occurred_at in Purchase.objects.filter(
            pk__in=part, occurred_at__gte=now - CONFIRMATION_MAX_AGE
        ).values_list("pk", "customer_id", "occurred_at"):
            if customer_id not in latest or (occurred_at, purchase_id) > latest[customer_id]:
                latest[customer_id] = (occurred_at, purchase_id)
        if not latest:
            continue
        purchase_of = {customer_id: pk for customer_id, (_at, pk) in latest.items()}
        earned = dict(
            PurchasePoints.objects.filter(purchase_id__in=list(purchase_of.values())).values_list(
                "purchase_id", "points"
            )
        )
        # A purchase that earned nothing (below the minimum, another currency) is not confirmed.
        causes = {
            customer_id: f"purchase:{pk}" for customer_id, pk in purchase_of.items() if pk in earned
        }
        extra = {
            customer_id: {"points_earned": earned[pk]}
            for customer_id, pk in purchase_of.items()
            if pk in earned
        }
        outcome.add(_send(kind=LoyaltyMessage.Kind.PURCHASE, causes=causes, extra=extra))
    logger.info("loyalty.confirmations %s", outcome.as_counts())
    return outcome


def send_expiry_warnings(*, as_of: datetime, day: date | None = None) -> MessageOutcome:
    """Warns customers whose unspent points expire within the notice period (`expiry_warning_days`).

    One warning per customer per notice period: it names every point expiring in the period, so a
    customer whose lots expire on several days in a row is not warned every night.
    """
    outcome = MessageOutcome()
    days = Programme.load().expiry_warning_days
    if not days:
        return outcome
    expiring = [
        item
        for item in points_expiring_within(days=days, as_of=as_of)
        if item.first_expires_at > as_of
    ]
    for part in chunked(expiring, MESSAGE_CHUNK):
        ids = [item.customer_id for item in part]
        warned = set(
            LoyaltyMessage.objects.filter(
                kind=LoyaltyMessage.Kind.EXPIRY,
                customer_id__in=ids,
                created_at__gt=as_of - timedelta(days=days),
            ).values_list("customer_id", flat=True)
        )
        languages = dict(Customer.objects.filter(pk__in=ids).values_list("pk", "language"))
        causes, extra = {}, {}
        for item in part:
            if item.customer_id in warned:
                continue
            expires_on = timezone.localdate(item.first_expires_at)
            language = languages.get(item.customer_id) or settings.LANGUAGE_CODE
            causes[item.customer_id] = expires_on.isoformat()
            with translation.override(language):
                extra[item.customer_id] = {
                    "points_expiring": formats.number_format(
                        item.points, use_l10n=True, force_grouping=True
                    ),
                    "expiry_date": formats.date_format(expires_on, "SHORT_DATE_FORMAT"),
                }
        outcome.add(_send(kind=LoyaltyMessage.Kind.EXPIRY, causes=causes, extra=extra, day=day))
    logger.info("loyalty.expiry_warnings %s", outcome.as_counts())
    return outcome


def send_balance_reminders(*, day: date) -> MessageOutcome:
    """Reminds every customer with points of their balance, once per calendar month of `day`."""
    outcome = MessageOutcome()
    if not Programme.load().balance_reminders:
        return outcome
    month = day.strftime("%Y-%m")
    holders = list(
        LoyaltyAccount.objects.filter(balance__gt=0)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
    )
    for part in chunked(holders, MESSAGE_CHUNK):
        outcome.add(
            _send(kind=LoyaltyMessage.Kind.BALANCE, causes=dict.fromkeys(part, month), day=day)
        )
    logger.info("loyalty.balance_reminders month=%s %s", month, outcome.as_counts())
    return outcome


def recent_purchase_ids(purchase_ids: list[int], *, now: datetime | None = None) -> list[int]:
    """The purchases among `purchase_ids` recent enough to confirm (one query per 5,000 ids)."""
    cutoff = (now or timezone.now()) - CONFIRMATION_MAX_AGE
    found: list[int] = []
    for part in chunked(sorted(set(purchase_ids))):
        found += Purchase.objects.filter(pk__in=part, occurred_at__gte=cutoff).values_list(
            "pk", flat=True
        )
    return found
