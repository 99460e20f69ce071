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

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Purchase, Refund
from loyalty.errors import IdempotencyConflictError, InvalidAdjustmentError, PartnerUnavailableError
from loyalty.models import (
    LedgerEntry,
    LoyaltyAccount,
    Partner,
    Programme,
    PurchasePoints,
    TierChange,
)
from loyalty.rules import current_rules
from loyalty.sql import insert_rows, is_postgresql, one_of

from ._accounts import (
    INSERT_BATCH,
    UPDATE_BATCH,
    apply_upgrades,
    chunked,
    existing_keys,
    load_tiers,
    lock_accounts,
    move_tier,
    qualifying_spend,
    reversal_share,
    update_accounts,
    write_entries,
)

logger = logging.getLogger(__name__)

# From this many qualifying purchases in a chunk (an import, a bulk API call), PostgreSQL accrues
# them with a few array-parameter statements and no model instances per purchase (see
# `_accrue_in_bulk`); smaller ones (a purchase from the UI or API) take the general path. Both
# apply the same rules through the same Programme methods.
BULK_ACCRUAL_FROM = 500


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


# No savepoint of its own (two statements a purchase): an error here fails the caller's whole
# transaction, as every caller wants (the purchase is recorded with its points or not at all). A
# caller that must survive an accrual error inside its own transaction wraps the call in
# transaction.atomic() itself; catching the error without that leaves its transaction unusable.
@transaction.atomic(savepoint=False)
def accrue_points_for_purchases(*, purchase_ids: Iterable[int]) -> int:
    """Accrues every qualifying purchase among `purchase_ids` exactly once; returns points accrued.

    Set-based: a handful of queries per 5,000 purchases, whatever their number. Purchases inside
    their return window become pending points (see `release_pending_points`).
    """
    ids = sorted(set(purchase_ids))
    if not ids:
        return 0
    (programme, tiers), now = current_rules(), timezone.now()
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
        if len(rows) >= BULK_ACCRUAL_FROM and is_postgresql():
            bulk = _accrue_in_bulk(rows, programme=programme, tiers=tiers, now=now)
            if bulk is not None:
                accrued += bulk
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


def _accrue_in_bulk(
    rows: list[tuple[int, int, Decimal, datetime]],
    *,
    programme: Programme,
    tiers,
    now: datetime,
) -> int | None:
    """`accrue_points_for_purchases` for one large chunk on PostgreSQL; None to use the general path.

    Same rules, same locks, same rows, fewer Python objects: points, expiry and availability are
    computed per purchase with the Programme's methods, then the lots, their earn entries and the
    balances are written by one statement with a column per array parameter (lots INSERTed,
    entries INSERTed from the lots that are spendable now, per-customer sums returned). Upgrades
    and qualifying spends follow as in `apply_upgrades`. A chunk with refunds recorded before its
    purchases were accrued (a repair run) returns None: the general path reverses them too.
    """
    accounts = lock_accounts(
        (row[1] for row in rows), programme=programme, tiers=tiers, now=now, fields=ACCOUNT_FIELDS
    )
    purchase_ids = [row[0] for row in rows]
    done = set(
        PurchasePoints.objects.filter(one_of("purchase_id", purchase_ids)).values_list(
            "purchase_id", flat=True
        )
    )
    if Refund.objects.filter(
        one_of("purchase_id", [pk for pk in purchase_ids if pk not in done])
    ).exists():
        return None
    new_ids = [pk for pk in purchase_ids if pk not in done]
    deltas: dict[int, int] = {}
    lots = 0
    if new_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                BULK_ACCRUAL_SQL,
                {
                    "ids": new_ids,
                    "rate": programme.points_per_unit,
                    "half_up": programme.rounding == Programme.Rounding.HALF_UP,
                    "window_days": programme.return_window_days,
                    "expiry_months": programme.expiry_months,
                    "now": now,
                    "earn": LedgerEntry.Kind.EARN,
                    "key_prefix": earn_key(0)[:-1],
                },
            )
            for customer_id, points, count in cursor.fetchall():
                if points:
                    deltas[customer_id] = points
                lots += count
    spends = qualifying_spend(accounts, programme=programme, as_of=now)
    _upgrade(accounts, spends, programme=programme, tiers=tiers, now=now)
    update_accounts(
        {
            customer_id: (
                deltas.get(customer_id, 0),
                None if spends[customer_id] == account.qualifying_spend else spends[customer_id],
            )
            for customer_id, account in accounts.items()
            if deltas.get(customer_id) or spends[customer_id] != account.qualifying_spend
        },
        now=now,
    )
    logger.info(
        "loyalty.accrued purchases=%s lots=%s ledger_points=%s bulk=1",
        len(rows),
        lots,
        sum(deltas.values()),
    )
    return sum(deltas.values())


# Only the account fields the bulk path reads; upgrades load the few accounts that move.
ACCOUNT_FIELDS = ("customer_id", "balance", "tier_id", "qualifying_spend")

# The lots, their earn entries (for lots spendable now) and each customer's sum, in one statement,
# computed as the Programme's methods compute them: points = the amount times the rate and the
# multiplier of the tier the (locked) account holds, rounded down or half up (numeric, exact);
# spendable `return_window_days` x 24 h after the purchase; expiring `expiry_months` calendar
# months after it, the day clamped to the month's end (PostgreSQL's month arithmetic, in the UTC
# session Django keeps), never past year 9999 (a date Python could not hold: no expiry, as
# `Programme.expiry_for` decides). The table and column names are Django's defaults for these
# models, checked by the tests that run this path on PostgreSQL; every value is a parameter.
BULK_ACCRUAL_SQL = """
WITH candidates AS (
    SELECT purchase.id AS purchase_id, purchase.customer_id, purchase.amount,
           purchase.occurred_at,
           COALESCE(tier.earn_multiplier, 1) AS multiplier, COALESCE(tier.name, '') AS tier_name,
           purchase.amount * %(rate)s::numeric * COALESCE(tier.earn_multiplier, 1) AS exact,
           purchase.occurred_at + make_interval(days => %(window_days)s::integer) AS available,
           purchase.occurred_at + make_interval(months => %(expiry_months)s::integer) AS expiry
    FROM customers_purchase AS purchase
    JOIN loyalty_loyaltyaccount AS account ON account.customer_id = purchase.customer_id
    LEFT JOIN loyalty_tier AS tier ON tier.id = account.tier_id
    WHERE purchase.id = ANY(%(ids)s::bigint[])
), computed AS (
    SELECT purchase_id, customer_id, amount, multiplier, tier_name,
           (CASE WHEN %(half_up)s THEN round(exact) ELSE trunc(exact) END)::integer AS points,
           CASE WHEN available >= '10000-01-01'::timestamptz THEN occurred_at
                ELSE available END AS available_at,
           CASE WHEN %(expiry_months)s::integer = 0 THEN NULL
                WHEN expiry >= '10000-01-01'::timestamptz THEN NULL
                ELSE expiry END AS expires_at
    FROM candidates
), lots AS (
    INSERT INTO loyalty_purchasepoints (
        purchase_id, customer_id, points, amount, rate, multiplier, tier_name,
        available_at, expires_at, released_at, created_at
    )
    SELECT purchase_id, customer_id, points, amount, %(rate)s::numeric, multiplier, tier_name,
           available_at, expires_at,
           CASE WHEN available_at <= %(now)s THEN %(now)s::timestamptz END, %(now)s
    FROM computed
    WHERE points > 0
    ORDER BY purchase_id
    RETURNING purchase_id, customer_id, points, expires_at, released_at
), entries AS (
    INSERT INTO loyalty_ledgerentry (
        customer_id, kind, points, shortfall, key, purchase_id, note, expires_at, created_at
    )
    SELECT customer_id, %(earn)s, points, 0, %(key_prefix)s || purchase_id, purchase_id, '',
           expires_at, %(now)s
    FROM lots
    WHERE released_at IS NOT NULL
    ORDER BY purchase_id
    RETURNING customer_id, points
)
SELECT customer_id, SUM(entry_points)::integer, SUM(lot)::integer
FROM (
    SELECT customer_id, 0 AS entry_points, 1 AS lot FROM lots
    UNION ALL
    SELECT customer_id, points, 0 FROM entries
) AS moved
GROUP BY customer_id
"""


def _upgrade(accounts, spends: dict[int, Decimal], *, programme, tiers, now: datetime) -> None:
    """`apply_upgrades` for accounts read with only ACCOUNT_FIELDS: the few that move are loaded."""
    rising = [
        customer_id
        for customer_id, account in accounts.items()
        if (target := tiers.for_spend(spends[customer_id])) is not None
        and tiers.rank(target.pk) > tiers.rank(account.tier_id)
    ]
    if not rising:
        return
    moving = list(LoyaltyAccount.objects.filter(one_of("customer_id", rising)))
    changes = [
        move_tier(
            account,
            to=tiers.for_spend(spends[account.customer_id]),
            spend=spends[account.customer_id],
            tiers=tiers,
            programme=programme,
            now=now,
        )
        for account in moving
    ]
    LoyaltyAccount.objects.bulk_update(
        moving, ["tier", "tier_since", "tier_valid_until"], batch_size=UPDATE_BATCH
    )
    TierChange.objects.bulk_create(changes, batch_size=INSERT_BATCH)
