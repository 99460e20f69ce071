"""Screen- and job-shaped reads of the points programme: the customer panel, expiry, reports, audits."""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone, translation
from django.utils.formats import number_format

from customers.models import Refund

from .models import (
    LedgerEntry,
    LoyaltyAccount,
    MemberAccess,
    Programme,
    PurchasePoints,
    Redemption,
    Reward,
    Tier,
    TierChange,
)
from .querysets import LOT_Q
from .rules import load_tiers, qualifying_spend, reversal_share

# "Expiring soon" on the customer panel: a month's notice.
EXPIRY_NOTICE_DAYS = 30
PANEL_ENTRIES = 5
PANEL_REDEMPTIONS = 5


def _sum(condition: Q | None = None) -> Coalesce:
    return Coalesce(Sum("points", filter=condition), Value(0), output_field=IntegerField())


def expiring_points_by_customer(
    *, until: datetime, customer_ids: Iterable[int] | None = None
) -> dict[int, int]:
    """Points whose lots expire by `until` and are still unspent, per customer (one query).

    Consumption is taken from the soonest-expiring lots first, so what remains of the lots that
    expire by `until` is their points minus everything consumed, when positive. Assumes nothing
    more is spent before `until`.
    """
    entries = LedgerEntry.objects.all()
    if customer_ids is not None:
        entries = entries.filter(customer_id__in=list(customer_ids))
    rows = (
        entries.order_by()
        .values("customer_id")
        .annotate(due=_sum(LOT_Q & Q(expires_at__lte=until)) + _sum(~LOT_Q))
        .filter(due__gt=0)
        .values_list("customer_id", "due")
    )
    return dict(rows)


@dataclass(frozen=True)
class ExpiringPoints:
    customer_id: int
    points: int
    # When the first of these points expires.
    first_expires_at: datetime


def points_expiring_within(
    *, days: int, as_of: datetime, customer_ids: Iterable[int] | None = None
) -> list[ExpiringPoints]:
    """Customers with unspent points expiring by `as_of + days` (also any overdue), soonest first.

    Three queries: the amounts, the lots involved and what each customer consumed.
    """
    until = as_of + timedelta(days=days)
    due = expiring_points_by_customer(until=until, customer_ids=customer_ids)
    if not due:
        return []
    consumed = dict(
        LedgerEntry.objects.consumption()
        .filter(customer_id__in=list(due))
        .order_by()
        .values("customer_id")
        .annotate(total=_sum())
        .values_list("customer_id", "total")
    )
    lots: dict[int, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for customer_id, expires_at, points in (
        LedgerEntry.objects.lots()
        .filter(customer_id__in=list(due), expires_at__lte=until)
        .values_list("customer_id", "expires_at", "points")
    ):
        lots[customer_id][expires_at] += points
    result = []
    for customer_id, points in due.items():
        left_to_consume = -consumed.get(customer_id, 0)
        for expires_at in sorted(lots[customer_id]):
            left_to_consume -= lots[customer_id][expires_at]
            if left_to_consume < 0:
                result.append(ExpiringPoints(customer_id, points, expires_at))
                break
    return sorted(result, key=lambda item: (item.first_expires_at, item.customer_id))


def pending_points_by_customer(customer_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Points still inside the return window, net of what refunds will take back (two queries)."""
    lots = PurchasePoints.objects.filter(released_at__isnull=True)
    refunds = Refund.objects.filter(purchase__loyalty_points__released_at__isnull=True)
    if customer_ids is not None:
        ids = list(customer_ids)
        lots = lots.filter(customer_id__in=ids)
        refunds = refunds.filter(purchase__customer_id__in=ids)
    refunded = dict(
        refunds.order_by()
        .values("purchase_id")
        .annotate(total=Sum("amount"))
        .values_list("purchase_id", "total")
    )
    pending: dict[int, int] = defaultdict(int)
    for customer_id, purchase_id, points, amount in lots.values_list(
        "customer_id", "purchase_id", "points", "amount"
    ):
        share = reversal_share(
            points=points, amount=amount, refunded=refunded.get(purchase_id, Decimal(0))
        )
        pending[customer_id] += points - share
    return dict(pending)


@dataclass(frozen=True)
class LoyaltySummary:
    customer_id: int
    balance: int
    pending: int
    tier: Tier | None
    tier_valid_until: datetime | None
    qualifying_spend: Decimal
    next_tier: Tier | None
    # Spend still needed for the next tier, and how far along the way from the current one.
    spend_to_next_tier: Decimal | None
    progress_percent: int
    expiring_points: int
    expiring_at: datetime | None
    currency: str
    balance_value: Decimal

    @property
    def has_account(self) -> bool:
        return self.balance > 0 or self.pending > 0 or self.tier is not None


def loyalty_summary_for(customer_id: int, *, as_of: datetime | None = None) -> LoyaltySummary:
    """Balance, pending points, tier and progress to the next, and points expiring soon (~9 queries)."""
    as_of = as_of or timezone.now()
    programme, tiers = Programme.load(), load_tiers()
    account = LoyaltyAccount.objects.filter(customer_id=customer_id).first()
    spend = qualifying_spend([customer_id], programme=programme, as_of=as_of)[customer_id]
    tier = tiers.get(account.tier_id) if account else None
    next_tier = tiers.next_above(tier.pk if tier else None)
    to_next, progress = None, 100
    if next_tier is not None:
        floor = tier.qualifying_spend if tier else Decimal(0)
        to_next = max(next_tier.qualifying_spend - spend, Decimal(0))
        span = next_tier.qualifying_spend - floor
        progress = 100 if span <= 0 else int(max(min((spend - floor) / span, 1), 0) * 100)
    expiring = (
        points_expiring_within(days=EXPIRY_NOTICE_DAYS, as_of=as_of, customer_ids=[customer_id])
        if account and account.balance
        else []
    )
    balance = account.balance if account else 0
    return LoyaltySummary(
        customer_id=customer_id,
        balance=balance,
        pending=pending_points_by_customer([customer_id]).get(customer_id, 0),
        tier=tier,
        tier_valid_until=account.tier_valid_until if account and tier else None,
        qualifying_spend=spend,
        next_tier=next_tier,
        spend_to_next_tier=to_next,
        progress_percent=progress,
        expiring_points=expiring[0].points if expiring else 0,
        expiring_at=expiring[0].first_expires_at if expiring else None,
        currency=programme.currency,
        balance_value=(Decimal(balance) * programme.point_value).quantize(Decimal("0.01")),
    )


def ledger_for(customer_id: int) -> QuerySet[LedgerEntry]:
    """A customer's entries, newest first, with what caused them."""
    return (
        LedgerEntry.objects.filter(customer_id=customer_id)
        .select_related("created_by", "redemption__reward", "partner", "purchase", "refund")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class CustomerPanel:
    """Everything `templates/loyalty/_partials/customer_panel.html` shows (context name: loyalty)."""

    customer_id: int
    summary: LoyaltySummary
    entries: list[LedgerEntry]
    redemptions: list[Redemption]
    rewards: list[Reward]
    can_redeem: bool
    can_cancel: bool
    # When the customer's member-page links were last revoked (None: never).
    member_links_revoked_at: datetime | None = None
    # A fresh idempotency key per rendering: a double-submitted form redeems once.
    redeem_key: str = field(default_factory=lambda: uuid.uuid4().hex)


def customer_panel_for(*, customer, user) -> CustomerPanel:
    """The loyalty panel of a customer page (about a dozen queries, whatever the history's size).

    The caller has already checked that `user` may see `customer` (customers.selectors.customer_for).
    """
    summary = loyalty_summary_for(customer.pk)
    return CustomerPanel(
        customer_id=customer.pk,
        summary=summary,
        entries=list(ledger_for(customer.pk)[:PANEL_ENTRIES]),
        redemptions=list(
            Redemption.objects.filter(customer_id=customer.pk).select_related("reward")[
                :PANEL_REDEMPTIONS
            ]
        ),
        rewards=list(Reward.objects.active()),
        can_redeem=user.has_perm("loyalty.redeem_rewards"),
        can_cancel=user.has_perm("loyalty.cancel_redemptions"),
        member_links_revoked_at=MemberAccess.objects.filter(customer_id=customer.pk)
        .values_list("revoked_at", flat=True)
        .first(),
    )


# Reports -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Liability:
    points: int
    pending_points: int
    holders: int
    value: Decimal
    pending_value: Decimal
    point_value: Decimal
    currency: str


def points_liability() -> Liability:
    """Points the programme owes (spendable and pending), in points and in money (four queries)."""
    programme = Programme.load()
    totals = LoyaltyAccount.objects.aggregate(
        points=Coalesce(Sum("balance"), Value(0)), holders=Count("pk", filter=Q(balance__gt=0))
    )
    pending = sum(pending_points_by_customer().values())
    money = Decimal("0.01")
    return Liability(
        points=totals["points"],
        pending_points=pending,
        holders=totals["holders"],
        value=(Decimal(totals["points"]) * programme.point_value).quantize(money),
        pending_value=(Decimal(pending) * programme.point_value).quantize(money),
        point_value=programme.point_value,
        currency=programme.currency,
    )


def _months(as_of: datetime, months: int) -> list[date]:
    current = timezone.localtime(as_of).date().replace(day=1)
    result = []
    for _step in range(months):
        result.append(current)
        current = (current - timedelta(days=1)).replace(day=1)
    return result[::-1]


def _start_of(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=timezone.get_current_timezone())


def _month_of(value) -> date:
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.date().replace(day=1)
    return value.replace(day=1)


@dataclass(frozen=True)
class MonthFlow:
    month: date
    earned: int
    reversed: int
    redeemed: int
    expired: int
    adjusted: int

    @property
    def net(self) -> int:
        return self.earned - self.reversed - self.redeemed - self.expired + self.adjusted


def monthly_points_flow(*, months: int = 12, as_of: datetime | None = None) -> list[MonthFlow]:
    """Per calendar month (local time), points earned, reversed, redeemed, expired and adjusted.

    Redeemed is net of cancellations; all but `adjusted` are positive numbers. One query.
    """
    calendar = _months(as_of or timezone.now(), months)
    rows = (
        LedgerEntry.objects.filter(created_at__gte=_start_of(calendar[0]))
        .annotate(month=TruncMonth("created_at"))
        .order_by("month")
        .values("month")
        .annotate(
            earned=_sum(Q(kind__in=["earn", "partner_earn"])),
            reversed=_sum(Q(kind="reverse", purchase__isnull=False)),
            redeemed=_sum(Q(kind="redeem") | Q(kind="reverse", redemption__isnull=False)),
            expired=_sum(Q(kind="expire")),
            adjusted=_sum(Q(kind="adjust")),
        )
    )
    by_month = {_month_of(row["month"]): row for row in rows}
    flows = []
    for month in calendar:
        row = by_month.get(month, {})
        flows.append(
            MonthFlow(
                month=month,
                earned=row.get("earned", 0),
                reversed=-row.get("reversed", 0),
                redeemed=-row.get("redeemed", 0),
                expired=-row.get("expired", 0),
                adjusted=row.get("adjusted", 0),
            )
        )
    return flows


@dataclass(frozen=True)
class TierCount:
    tier: Tier | None
    accounts: int
    percent: int


def customers_per_tier() -> list[TierCount]:
    """Accounts in each tier, lowest first, then those in no tier (two queries)."""
    counts = dict(
        LoyaltyAccount.objects.order_by()
        .values("tier_id")
        .annotate(total=Count("pk"))
        .values_list("tier_id", "total")
    )
    everyone = sum(counts.values()) or 1
    rows = [
        TierCount(tier, counts.get(tier.pk, 0), round(100 * counts.get(tier.pk, 0) / everyone))
        for tier in Tier.objects.order_by("order")
    ]
    if counts.get(None):
        rows.append(TierCount(None, counts[None], round(100 * counts[None] / everyone)))
    return rows


@dataclass(frozen=True)
class MonthMovements:
    month: date
    upgrades: int
    downgrades: int


def tier_movements(*, months: int = 12, as_of: datetime | None = None) -> list[MonthMovements]:
    """Upgrades and downgrades per calendar month (one query)."""
    calendar = _months(as_of or timezone.now(), months)
    rows = (
        TierChange.objects.filter(created_at__gte=_start_of(calendar[0]))
        .annotate(month=TruncMonth("created_at"))
        .order_by("month")
        .values("month")
        .annotate(
            upgrades=Count("pk", filter=Q(direction=TierChange.Direction.UP)),
            downgrades=Count("pk", filter=Q(direction=TierChange.Direction.DOWN)),
        )
    )
    by_month = {_month_of(row["month"]): row for row in rows}
    return [
        MonthMovements(
            month,
            by_month.get(month, {}).get("upgrades", 0),
            by_month.get(month, {}).get("downgrades", 0),
        )
        for month in calendar
    ]


def recent_tier_changes(*, limit: int = 20) -> list[TierChange]:
    return list(
        TierChange.objects.select_related("customer").order_by("-created_at", "-id")[:limit]
    )


# Audit ---------------------------------------------------------------------------------------


@dataclass
class LedgerAudit:
    """What `check_ledger` found; empty lists mean the stored figures agree with the ledger."""

    accounts: int = 0
    # (customer id, stored balance, sum of entries)
    balance_mismatches: list[tuple[int, int, int]] = field(default_factory=list)
    # (customer id, sum of entries) for entries whose customer has no account row
    entries_without_account: list[tuple[int, int]] = field(default_factory=list)
    # (purchase id, points fixed for the purchase, points of its earn entry or 0)
    released_points_not_in_ledger: list[tuple[int, int, int]] = field(default_factory=list)
    # purchase ids whose points are pending but already have an earn entry
    pending_points_in_ledger: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.balance_mismatches
            or self.entries_without_account
            or self.released_points_not_in_ledger
            or self.pending_points_in_ledger
        )


def ledger_audit() -> LedgerAudit:
    """Compares every stored balance with the sum of its entries, and the per-purchase points with
    the ledger (four set-based queries)."""
    entry_sums = (
        LedgerEntry.objects.filter(customer_id=OuterRef("customer_id"))
        .order_by()
        .values("customer_id")
        .annotate(total=Sum("points"))
        .values("total")
    )
    accounts = LoyaltyAccount.objects.annotate(
        ledger=Coalesce(Subquery(entry_sums, output_field=IntegerField()), Value(0))
    )
    audit = LedgerAudit(accounts=LoyaltyAccount.objects.count())
    audit.balance_mismatches = list(
        accounts.exclude(balance=F("ledger"))
        .order_by("customer_id")
        .values_list("customer_id", "balance", "ledger")
    )
    audit.entries_without_account = list(
        LedgerEntry.objects.exclude(customer_id__in=LoyaltyAccount.objects.values("customer_id"))
        .order_by()
        .values("customer_id")
        .annotate(total=Sum("points"))
        .order_by("customer_id")
        .values_list("customer_id", "total")
    )
    earned = LedgerEntry.objects.filter(
        kind=LedgerEntry.Kind.EARN, purchase_id=OuterRef("purchase_id")
    ).values("points")[:1]
    lots = PurchasePoints.objects.annotate(
        earned=Coalesce(Subquery(earned, output_field=IntegerField()), Value(0))
    )
    audit.released_points_not_in_ledger = list(
        lots.filter(released_at__isnull=False)
        .exclude(earned=F("points"))
        .order_by("purchase_id")
        .values_list("purchase_id", "points", "earned")
    )
    audit.pending_points_in_ledger = list(
        lots.filter(released_at__isnull=True, earned__gt=0)
        .order_by("purchase_id")
        .values_list("purchase_id", flat=True)
    )
    return audit


# Messages and the member page ----------------------------------------------------------------


def _grouped(value: int | Decimal, language: str) -> str:
    """1,240 in English, 1 240 in Russian: numbers in a message read as the customer's language."""
    with translation.override(language):
        return number_format(value, decimal_pos=0, use_l10n=True, force_grouping=True)


def message_facts_for(
    customer_ids: Iterable[int], *, languages: dict[int, str] | None = None
) -> dict[int, dict]:
    """Template variables about each customer's points for a message (five queries in all).

    points_balance, tier, next_tier, spend_to_next_tier (money still to spend for it), currency,
    reward_now (the dearest reward the balance pays for), reward_next and points_to_reward_next
    (the cheapest reward it does not pay for yet, and the points missing) and member_url. Tier
    progress uses the qualifying spend stored at the last accrual or tier review.
    """
    from .member import member_urls

    ids = list(customer_ids)
    if not ids:
        return {}
    if languages is None:
        from customers.models import Customer

        languages = dict(Customer.objects.filter(pk__in=ids).values_list("pk", "language"))
    programme, tiers = Programme.load(), load_tiers()
    accounts = {
        account.customer_id: account
        for account in LoyaltyAccount.objects.filter(customer_id__in=ids).only(
            "customer_id", "balance", "tier_id", "qualifying_spend"
        )
    }
    rewards = list(Reward.objects.active().order_by("cost", "name").values_list("name", "cost"))
    urls = member_urls(ids)
    facts = {}
    for customer_id in ids:
        language = languages.get(customer_id) or "en"
        account = accounts.get(customer_id)
        balance = account.balance if account else 0
        tier = tiers.get(account.tier_id) if account else None
        next_tier = tiers.next_above(tier.pk if tier else None)
        spend = account.qualifying_spend if account else Decimal(0)
        affordable = [name for name, cost in rewards if cost <= balance]
        beyond = [(name, cost) for name, cost in rewards if cost > balance]
        facts[customer_id] = {
            "points_balance": _grouped(balance, language),
            "tier": tier.name if tier else "",
            "next_tier": next_tier.name if next_tier else "",
            "spend_to_next_tier": _grouped(
                max(next_tier.qualifying_spend - spend, Decimal(0)), language
            )
            if next_tier
            else "",
            "currency": programme.currency,
            "reward_now": affordable[-1] if affordable else "",
            "reward_next": beyond[0][0] if beyond else "",
            "points_to_reward_next": _grouped(beyond[0][1] - balance, language) if beyond else "",
            "member_url": urls[customer_id],
        }
    return facts


@dataclass(frozen=True)
class RewardOption:
    reward: Reward
    # Points still missing for it; 0 when the balance pays for it.
    missing: int


@dataclass(frozen=True)
class MemberPage:
    """What the customer's own member page shows."""

    customer: object
    summary: LoyaltySummary
    entries: list[LedgerEntry]
    redemptions: list[Redemption]
    rewards: list[RewardOption]


MEMBER_PAGE_ENTRIES = 15
MEMBER_PAGE_REDEMPTIONS = 10


def member_page_for(customer_id: int) -> MemberPage:
    """The member page of one customer (about a dozen queries, whatever the history's size)."""
    from customers.models import Customer

    customer = Customer.objects.only(
        "pk",
        "name",
        "kind",
        "language",
        "consent_email",
        "consent_sms",
        "consent_phone",
        "consent_social",
        "email",
        "phone",
    ).get(pk=customer_id)
    summary = loyalty_summary_for(customer_id)
    return MemberPage(
        customer=customer,
        summary=summary,
        entries=list(
            LedgerEntry.objects.filter(customer_id=customer_id)
            .select_related("purchase", "refund", "redemption__reward", "partner")
            .order_by("-created_at", "-id")[:MEMBER_PAGE_ENTRIES]
        ),
        redemptions=list(
            Redemption.objects.filter(customer_id=customer_id, status=Redemption.Status.ISSUED)
            .select_related("reward")
            .order_by("-created_at", "-id")[:MEMBER_PAGE_REDEMPTIONS]
        ),
        rewards=[
            RewardOption(reward=reward, missing=max(reward.cost - summary.balance, 0))
            for reward in Reward.objects.active().order_by("cost", "name")
        ],
    )
