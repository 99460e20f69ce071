"""Points in: purchases (once each), partner accruals, and the reversal of refunded purchases.

Policies (also in the README of the loyalty app's report):

* **Exactly once per purchase.** A purchase's points are fixed in a `PurchasePoints` row (unique
  per purchase) with the rate and tier multiplier in force when it was accrued; the ledger's
  `earn:purchase:<id>` key is unique too. However often a purchase id arrives (import, API, UI, a
  retried task), it is accrued once.
* **Multiplier at the time.** Each purchase is multiplied by the tier its customer holds when the
  purchase is accrued; upgrades that the batch itself earns apply from the next purchase on.
* **Earned at the purchase.** Points are earned when the purchase happened: they expire
  `expiry_months` after it and stay pending until `return_window_days` after it.
* **Refunds reverse what was earned,** proportionally to the refunded share and never recomputed
  with today's rules (see `reversal_share`).
* **Already spent.** A reversal never takes the balance below zero: it takes back what is left
  and records the rest as `shortfall` on the reversing entry, for a person to follow up. Nothing
  is "owed" by the customer and later purchases are not clawed back.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Purchase, Refund
from loyalty.errors import IdempotencyConflictError, InvalidAdjustmentError, PartnerUnavailableError
from loyalty.models import LedgerEntry, Partner, Programme, PurchasePoints
from loyalty.sql import insert_rows, one_of

from ._accounts import (
    INSERT_BATCH,
    apply_upgrades,
    chunked,
    existing_keys,
    load_tiers,
    lock_accounts,
    reversal_share,
    write_entries,
)

logger = logging.getLogger(__name__)


def earn_key(purchase_id: int) -> str:
    return f"earn:purchase:{purchase_id}"


def refund_key(refund_id: int) -> str:
    return f"reverse:refund:{refund_id}"


def _earn_entry(lot: PurchasePoints, *, now: datetime) -> LedgerEntry:
    return LedgerEntry(
        customer_id=lot.customer_id,
        kind=LedgerEntry.Kind.EARN,
        points=lot.points,
        key=earn_key(lot.purchase_id),
        purchase_id=lot.purchase_id,
        expires_at=lot.expires_at,
        created_at=now,
    )


@transaction.atomic
def accrue_points_for_purchases(*, purchase_ids: Iterable[int]) -> int:
    """Accrues every qualifying purchase among `purchase_ids` exactly once; returns points accrued.

    Set-based: a handful of queries per 5,000 purchases, whatever their number. Purchases inside
    their return window become pending points (see `release_pending_points`).
    """
    ids = sorted(set(purchase_ids))
    if not ids:
        return 0
    programme, tiers, now = Programme.load(), load_tiers(), timezone.now()
    accrued = 0
    for part in chunked(ids):
        rows = list(
            Purchase.objects.filter(one_of("pk", part))
            .filter(programme.qualifying_purchases_q())
            .order_by("pk")
            .values_list("pk", "customer_id", "amount", "occurred_at")
        )
        if not rows:
            continue
        accounts = lock_accounts(
            (row[1] for row in rows), programme=programme, tiers=tiers, now=now
        )
        done = set(
            PurchasePoints.objects.filter(
                one_of("purchase_id", [row[0] for row in rows])
            ).values_list("purchase_id", flat=True)
        )
        lots: list[PurchasePoints] = []
        for purchase_id, customer_id, amount, occurred_at in rows:
            if purchase_id in done:
                continue
            tier = tiers.get(accounts[customer_id].tier_id)
            multiplier = tier.earn_multiplier if tier else Decimal(1)
            points = programme.points_for(
                amount, rate=programme.points_per_unit, multiplier=multiplier
            )
            if points <= 0:
                continue
            available_at = programme.available_from(occurred_at)
            lots.append(
                PurchasePoints(
                    purchase_id=purchase_id,
                    customer_id=customer_id,
                    points=points,
                    amount=amount,
                    rate=programme.points_per_unit,
                    multiplier=multiplier,
                    tier_name=tier.name if tier else "",
                    available_at=available_at,
                    expires_at=programme.expiry_for(occurred_at),
                    released_at=now if available_at <= now else None,
                    created_at=now,
                )
            )
        # A plain insert: the purchases' ids were checked under their customers' account locks, so
        # a duplicate here would be a bug and fails the transaction.
        insert_rows(PurchasePoints, lots, batch_size=INSERT_BATCH)
        released = {lot.purchase_id: lot for lot in lots if lot.released_at is not None}
        entries = [_earn_entry(lot, now=now) for lot in released.values()]
        # Refunds recorded before the purchase was accrued (a repair run) are reversed at once,
        # exactly as if they had come after; normally there are none and this is one query.
        earlier_refunds = list(
            Refund.objects.filter(one_of("purchase_id", list(released)))
            .order_by("pk")
            .values_list("pk", "purchase_id")
        )
        if earlier_refunds:
            available = {customer_id: account.balance for customer_id, account in accounts.items()}
            for entry in entries:
                available[entry.customer_id] += entry.points
            entries += _reversal_entries(earlier_refunds, released, available, now=now)
        spends = apply_upgrades(accounts, programme=programme, tiers=tiers, now=now)
        write_entries(entries, accounts, now=now, spends=spends)
        accrued += sum(entry.points for entry in entries)
        logger.info(
            "loyalty.accrued purchases=%s lots=%s ledger_points=%s",
            len(rows),
            len(lots),
            sum(entry.points for entry in entries),
        )
    return accrued


def _reversal_entries(
    refunds: list[tuple[int, int]],
    lots: dict[int, PurchasePoints],
    available: dict[int, int],
    *,
    now: datetime,
) -> list[LedgerEntry]:
    """Reversing entries for `refunds` (refund id, purchase id) of purchases whose points are in
    the ledger; `available` (per customer) is what each reversal may still take."""
    history: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for refund_id, purchase_id, amount in (
        Refund.objects.filter(purchase_id__in=list(lots))
        .order_by("pk")
        .values_list("pk", "purchase_id", "amount")
    ):
        history[purchase_id].append((refund_id, amount))
    shares: dict[int, int] = {}
    for purchase_id, items in history.items():
        lot, refunded, before = lots[purchase_id], Decimal(0), 0
        for refund_id, amount in items:
            refunded += amount
            target = reversal_share(points=lot.points, amount=lot.amount, refunded=refunded)
            shares[refund_id] = target - before
            before = target
    wanted = [(refund_id, purchase_id) for refund_id, purchase_id in refunds if purchase_id in lots]
    done = existing_keys(refund_key(refund_id) for refund_id, _purchase in wanted)
    entries = []
    for refund_id, purchase_id in sorted(wanted):
        share = shares.get(refund_id, 0)
        if share <= 0 or refund_key(refund_id) in done:
            continue
        lot = lots[purchase_id]
        taken = min(share, available[lot.customer_id])
        available[lot.customer_id] -= taken
        entries.append(
            LedgerEntry(
                customer_id=lot.customer_id,
                kind=LedgerEntry.Kind.REVERSE,
                points=-taken,
                shortfall=share - taken,
                key=refund_key(refund_id),
                purchase_id=purchase_id,
                refund_id=refund_id,
                # The reversal shrinks the purchase's own lot, so it carries the lot's expiry.
                expires_at=lot.expires_at,
                created_at=now,
            )
        )
    return entries


@transaction.atomic
def reverse_points_for_refunds(*, refund_ids: Iterable[int]) -> int:
    """Takes back, once per refund, the share of the points its purchase earned; returns points taken.

    Refunds of purchases whose points are still pending are left to `release_pending_points`,
    which enters the earn and its reversals together. A reversal takes back at most the balance;
    the rest is recorded as its `shortfall` (see the module docstring).
    """
    ids = sorted(set(refund_ids))
    programme, tiers, now = Programme.load(), load_tiers(), timezone.now()
    taken = 0
    for part in chunked(ids):
        refunds = list(
            Refund.objects.filter(pk__in=part).order_by("pk").values_list("pk", "purchase_id")
        )
        lot_rows = PurchasePoints.objects.filter(
            purchase_id__in={purchase_id for _refund, purchase_id in refunds},
            released_at__isnull=False,
        )
        lots = {lot.purchase_id: lot for lot in lot_rows}
        if not lots:
            continue
        accounts = lock_accounts(
            (lot.customer_id for lot in lots.values()), programme=programme, tiers=tiers, now=now
        )
        available = {customer_id: account.balance for customer_id, account in accounts.items()}
        entries = _reversal_entries(refunds, lots, available, now=now)
        spends = apply_upgrades(accounts, programme=programme, tiers=tiers, now=now)
        write_entries(entries, accounts, now=now, spends=spends)
        taken -= sum(entry.points for entry in entries)
        logger.info(
            "loyalty.reversed refunds=%s entries=%s points=%s shortfall=%s",
            len(refunds),
            len(entries),
            -sum(entry.points for entry in entries),
            sum(entry.shortfall for entry in entries),
        )
    return taken


@transaction.atomic
def release_pending_points(*, as_of: datetime | None = None) -> int:
    """Enters into the ledger the pending points whose return window closed by `as_of` (at most now).

    Each released purchase gets its earn entry and, for refunds made while it was pending, its
    reversing entries, under the same keys as if they had been entered one by one; returns the net
    points released.
    """
    now = timezone.now()
    as_of = min(as_of or now, now)
    programme, tiers = Programme.load(), load_tiers()
    due = PurchasePoints.objects.filter(released_at__isnull=True, available_at__lte=as_of)
    customer_ids = sorted(set(due.values_list("customer_id", flat=True)))
    released = 0
    for part in chunked(customer_ids):
        accounts = lock_accounts(part, programme=programme, tiers=tiers, now=now)
        lots = {lot.purchase_id: lot for lot in due.filter(customer_id__in=part)}
        if not lots:
            continue
        earned = [_earn_entry(lot, now=now) for lot in lots.values()]
        available = {customer_id: account.balance for customer_id, account in accounts.items()}
        for entry in earned:
            available[entry.customer_id] += entry.points
        refunds = list(
            Refund.objects.filter(purchase_id__in=list(lots))
            .order_by("pk")
            .values_list("pk", "purchase_id")
        )
        entries = earned + _reversal_entries(refunds, lots, available, now=now)
        PurchasePoints.objects.filter(pk__in=[lot.pk for lot in lots.values()]).update(
            released_at=now
        )
        write_entries(entries, accounts, now=now)
        released += sum(entry.points for entry in entries)
    logger.info("loyalty.released customers=%s points=%s", len(customer_ids), released)
    return released


@transaction.atomic
def record_partner_points(
    *,
    customer_id: int,
    partner_id: int,
    amount: Decimal,
    key: str,
    occurred_at: datetime | None = None,
    by=None,
) -> LedgerEntry:
    """Credits points for a purchase made with a partner, once per `key`, at the partner's rate.

    Partner points get no tier multiplier and do not count towards a tier (they are not spend in
    the shop); they expire like points earned in the shop.
    """
    partner = Partner.objects.filter(pk=partner_id, active=True).first()
    if partner is None:
        raise PartnerUnavailableError(field="partner")
    programme, tiers, now = Programme.load(), load_tiers(), timezone.now()
    points = programme.points_for(Decimal(amount), rate=partner.earn_rate)
    if points <= 0:
        raise InvalidAdjustmentError(_("This amount earns no points."), field="amount")
    accounts = lock_accounts([customer_id], programme=programme, tiers=tiers, now=now)
    entry_key = f"partner:{key}"
    existing = LedgerEntry.objects.filter(key=entry_key).first()
    if existing is not None:
        if existing.customer_id != customer_id or existing.points != points:
            raise IdempotencyConflictError(field="key")
        return existing
    entry = LedgerEntry(
        customer_id=customer_id,
        kind=LedgerEntry.Kind.PARTNER_EARN,
        points=points,
        key=entry_key,
        partner=partner,
        created_by=by,
        note=partner.name,
        expires_at=programme.expiry_for(occurred_at or now),
        created_at=now,
    )
    write_entries([entry], accounts, now=now)
    logger.info(
        "loyalty.partner_earned customer=%s partner=%s points=%s", customer_id, partner_id, points
    )
    return entry
