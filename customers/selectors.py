"""Screen- and job-shaped reads of the customer base; every one is scoped to what the user may see."""

import heapq
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import (
    Count,
    DecimalField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.shortcuts import get_object_or_404
from django.utils import timezone

from common import grants
from common.roles import ACCOUNT_REP

from .models import (
    BASE_METRICS,
    TAGS,
    CohortCell,
    Customer,
    CustomerScore,
    MonthlyMetric,
    Purchase,
    Refund,
    ScoreTransition,
    ScoringRun,
    Tag,
)

MONEY = DecimalField(max_digits=16, decimal_places=2)


@dataclass(frozen=True)
class BaseOverview:
    customers: int
    buying_customers_12m: int
    purchases_30d: int
    revenue_12m: Decimal
    unassigned: int


def base_overview_for(user) -> BaseOverview:
    """Headline figures of the customers `user` may see (three queries whatever the base size)."""
    now = timezone.now()
    customers = Customer.objects.visible_to(user)
    counts = customers.aggregate(
        total=Count("pk"),
        unassigned=Count("pk", filter=Q(owner__isnull=True) | Q(owner__is_active=False)),
    )
    purchases = Purchase.objects.filter(customer__in=customers.values("pk"))
    recent = purchases.aggregate(
        purchases_30d=Count("pk", filter=Q(occurred_at__gte=now - timedelta(days=30))),
        buyers_12m=Count(
            "customer", distinct=True, filter=Q(occurred_at__gte=now - timedelta(days=365))
        ),
        revenue_12m=Coalesce(
            Sum("amount", filter=Q(occurred_at__gte=now - timedelta(days=365))),
            Value(Decimal("0")),
            output_field=MONEY,
        ),
    )
    refunded = Refund.objects.filter(
        purchase__customer__in=customers.values("pk"), occurred_at__gte=now - timedelta(days=365)
    ).aggregate(total=Coalesce(Sum("amount"), Value(Decimal("0")), output_field=MONEY))["total"]
    return BaseOverview(
        customers=counts["total"],
        buying_customers_12m=recent["buyers_12m"],
        purchases_30d=recent["purchases_30d"],
        revenue_12m=recent["revenue_12m"] - refunded,
        unassigned=counts["unassigned"],
    )


CUSTOMER_ORDERINGS = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "last_purchase": ("last_purchase_at", "id"),
    "-last_purchase": ("-last_purchase_at", "-id"),
    "-revenue": ("-score__revenue_12m", "id"),
    "-at_risk": ("-score__revenue_at_risk", "id"),
}


def customer_list_for(
    user,
    *,
    search: str = "",
    owner_id: int | None = None,
    stage: str = "",
    kind: str = "",
    tag_id: int | None = None,
    unassigned: bool = False,
    value_class: str = "",
    risk_level: str = "",
    dormant: bool | None = None,
    segment: str = "",
    ordering: str = "name",
) -> QuerySet[Customer]:
    """Customers `user` may see, filtered and annotated with their last purchase time.

    The annotation is a correlated subquery, so a paginated page computes it for its own rows only.
    """
    last_purchase = (
        Purchase.objects.filter(customer=OuterRef("pk"))
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    customers = (
        Customer.objects.visible_to(user)
        .search(search)
        .select_related("owner", "backup", "score")
        .annotate(last_purchase_at=Subquery(last_purchase))
    )
    if owner_id:
        customers = customers.filter(owner_id=owner_id)
    if unassigned:
        customers = customers.unassigned()
    if stage:
        customers = customers.filter(stage=stage)
    if kind:
        customers = customers.filter(kind=kind)
    if tag_id:
        customers = customers.filter(tags__id=tag_id)
    if value_class:
        customers = customers.filter(score__value_class=value_class)
    if risk_level:
        customers = customers.filter(score__risk_level=risk_level)
    if dormant is not None:
        customers = customers.filter(score__dormant=dormant)
    if segment:
        customers = customers.filter(score__rfm_segment=segment)
    return customers.order_by(*CUSTOMER_ORDERINGS.get(ordering, CUSTOMER_ORDERINGS["name"]))


def customer_for(user, customer_id: int) -> Customer:
    """The customer with this id if `user` may see it; Http404 otherwise (never 403: no leak)."""
    return get_object_or_404(
        Customer.objects.visible_to(user).select_related("owner", "backup", "score"),
        pk=customer_id,
    )


def tag_names_of(customer: Customer) -> list[str]:
    """The names of the customer's tags, alphabetical (one query, no model instances)."""
    return list(customer.tags.order_by("name").values_list("name", flat=True))


def customer_row_for(user, customer_id: int) -> Customer:
    """As `customer_for`, reading only what a call-list row shows (name, phone, owner id): for
    actions that answer with a row of a list rather than the customer's page. Anything else
    (the owner, the score) is read when first used, as Django reads deferred fields."""
    return get_object_or_404(
        Customer.objects.visible_to(user).only("pk", "name", "phone", "owner_id"), pk=customer_id
    )


@dataclass(frozen=True)
class PurchaseSummary:
    count: int
    total: Decimal
    refunded: Decimal
    first_at: object
    last_at: object

    @property
    def net(self) -> Decimal:
        return self.total - self.refunded


def purchase_summary_for(customer: Customer) -> PurchaseSummary:
    """Lifetime purchase figures of one customer, refunds netted (one query)."""
    return purchase_history_of(customer, months=0)[0]


def refunded_of_purchase() -> QuerySet[Refund]:
    """What was refunded of the purchase in the outer query (OuterRef "pk"): a one-value subquery,
    NULL when nothing was."""
    return (
        Refund.objects.filter(purchase=OuterRef("pk"))
        .order_by()
        .values("purchase")
        .annotate(total=Sum("amount"))
        .values("total")
    )


def purchase_history_of(
    customer: Customer, *, months: int = 24
) -> tuple[PurchaseSummary, list[dict]]:
    """The customer's lifetime figures and their purchases per calendar month (local time) over
    the last `months` months, oldest first, months without purchases included.

    One query: the purchases grouped by month over the customer's whole history (a few dozen
    rows at most; the lifetime figures are their sums), each month with what was refunded of its
    purchases.
    """
    per_month = list(
        customer.purchases.annotate(month=TruncMonth("occurred_at"))
        .order_by()
        .values("month")
        .annotate(
            count=Count("pk"), total=Sum("amount"),
            first_at=Min("occurred_at"), last_at=Max("occurred_at"),
            refunded=Sum(Subquery(refunded_of_purchase(), output_field=MONEY)),
        )
    )
    summary = PurchaseSummary(
        count=sum(row["count"] for row in per_month),
        total=sum((row["total"] for row in per_month), Decimal("0")),
        refunded=sum((row["refunded"] or Decimal("0") for row in per_month), Decimal("0")),
        first_at=min((row["first_at"] for row in per_month), default=None),
        last_at=max((row["last_at"] for row in per_month), default=None),
    )
    rows = {
        row["month"].date() if hasattr(row["month"], "date") else row["month"]: row
        for row in per_month
    }
    today = timezone.localdate()
    year, month = divmod(today.year * 12 + today.month - 1 - (months - 1), 12)
    start = date(year, month + 1, 1)
    monthly = []
    for offset in range(months):
        year, month = divmod(start.year * 12 + start.month - 1 + offset, 12)
        key = date(year, month + 1, 1)
        row = rows.get(key, {})
        monthly.append(
            {"month": key, "count": row.get("count", 0), "total": row.get("total") or Decimal(0)}
        )
    return summary, monthly


def purchases_of(customer: Customer) -> QuerySet[Purchase]:
    """A customer's purchases, newest first, each with its refunded amount."""
    return customer.purchases.annotate(
        refunded=Coalesce(Subquery(refunded_of_purchase()), Value(Decimal("0")), output_field=MONEY)
    ).order_by("-occurred_at", "-id")


def reps_queryset():
    """Active users who can own accounts (members of the Account rep group)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name=ACCOUNT_REP)
        .order_by("first_name", "last_name", "username")
        .distinct()
    )


def active_reps() -> list:
    """The users of reps_queryset(), kept in the cache under the grants' generation (any change to
    users, groups or memberships renews it): the dashboard's and the customer list's rep filters
    without a query."""
    # Without their password hashes: the cache needs no more of a rep than the page shows.
    return grants.GENERATION.kept("grants:reps", lambda: list(reps_queryset().defer("password")))


def kept_tags() -> list[Tag]:
    """Every tag, alphabetical, kept in the cache until a tag is saved or deleted (TAGS)."""
    return TAGS.kept("customer-tags:all", lambda: list(Tag.objects.order_by("name")))


VALUE_CLASSES = ["A", "B", "C", "-"]
RISK_LEVELS = ["high", "medium", "low"]


@dataclass(frozen=True)
class MatrixCell:
    value_class: str
    risk_level: str
    customers: int
    revenue_12m: Decimal
    revenue_at_risk: Decimal


def value_risk_matrix_for(user, *, owner_id: int | None = None) -> list[list[MatrixCell]]:
    """Customers and revenue per value class x risk level, over what `user` may see (one query),
    optionally only the accounts `owner_id` owns."""
    scores = CustomerScore.objects.filter(
        customer__in=Customer.objects.visible_ids(user)
    )
    if owner_id:
        scores = scores.filter(customer__owner_id=owner_id)
    rows = (
        scores.values("value_class", "risk_level")
        .annotate(
            customers=Count("pk"),
            revenue_12m=Coalesce(Sum("revenue_12m"), Value(Decimal("0")), output_field=MONEY),
            revenue_at_risk=Coalesce(
                Sum("revenue_at_risk"), Value(Decimal("0")), output_field=MONEY
            ),
        )
    )
    return _matrix_from({(row["value_class"], row["risk_level"]): row for row in rows})


def _matrix_from(found: dict[tuple[str, str], dict]) -> list[list[MatrixCell]]:
    matrix = []
    for value_class in VALUE_CLASSES:
        line = []
        for risk_level in RISK_LEVELS:
            row = found.get((value_class, risk_level), {})
            line.append(
                MatrixCell(
                    value_class=value_class,
                    risk_level=risk_level,
                    customers=row.get("customers", 0),
                    revenue_12m=row.get("revenue_12m", Decimal("0")),
                    revenue_at_risk=row.get("revenue_at_risk", Decimal("0")),
                )
            )
        matrix.append(line)
    return matrix


@dataclass(frozen=True)
class RepScoreFigures:
    cards: "ScoreCards"
    matrix: list[list[MatrixCell]]
    # The largest 12-month revenues, largest first (revenue concentration).
    top_revenues: list[Decimal]


def rep_score_figures(*, owner_id: int, top: int = 10) -> RepScoreFigures:
    """The dashboard's score figures for one rep's accounts, from one pass over their scores.

    One query reading a few columns of the rep's scores (thousands of rows at most), summed here:
    cheaper than three aggregates that each join the whole score table to the owner.
    """
    rows = CustomerScore.objects.filter(customer__owner_id=owner_id).values_list(
        "value_class", "risk_level", "dormant", "purchase_days", "revenue_12m", "revenue_at_risk"
    )
    zero = Decimal("0")
    cells: dict[tuple[str, str], dict] = {}
    scored = dormant_count = high_risk = 0
    at_risk = total = zero
    revenues = []
    for value_class, risk_level, dormant, purchase_days, revenue, revenue_at_risk in rows:
        revenue, revenue_at_risk = revenue or zero, revenue_at_risk or zero
        cell = cells.setdefault(
            (value_class, risk_level),
            {"customers": 0, "revenue_12m": zero, "revenue_at_risk": zero},
        )
        cell["customers"] += 1
        cell["revenue_12m"] += revenue
        cell["revenue_at_risk"] += revenue_at_risk
        scored += 1
        dormant_count += bool(dormant)
        if risk_level == "high":
            at_risk += revenue_at_risk
            high_risk += purchase_days > 0
        total += revenue
        if revenue > 0:
            revenues.append(revenue)
    return RepScoreFigures(
        cards=ScoreCards(
            scored=scored,
            dormant=dormant_count,
            high_risk=high_risk,
            revenue_at_risk=at_risk,
            revenue_12m=total,
        ),
        matrix=_matrix_from(cells),
        top_revenues=heapq.nlargest(top, revenues),
    )


def latest_scoring_run() -> ScoringRun | None:
    return ScoringRun.objects.filter(finished_at__isnull=False).order_by("-started_at").first()


def latest_backtest_run() -> ScoringRun | None:
    return ScoringRun.objects.filter(backtest__isnull=False).order_by("-started_at").first()


def score_history_of(customer: Customer, limit: int = 12) -> QuerySet[ScoreTransition]:
    """The customer's latest moves between segments, newest first."""
    return customer.score_transitions.order_by("-as_of", "dimension")[:limit]


def score_of(customer: Customer) -> CustomerScore | None:
    """The customer's current score (no query when customer_for has joined it already)."""
    try:
        return customer.score
    except CustomerScore.DoesNotExist:
        return None


def scope_for(owner_id: int | None) -> str:
    """The MonthlyMetric/CohortCell scope of the whole base or of one rep's accounts."""
    return f"rep:{owner_id}" if owner_id else "all"


@dataclass(frozen=True)
class RetentionFigures:
    months: int
    start: object
    end: object
    active_start: int
    active_end: int
    new_customers: int

    @property
    def rate(self) -> float | None:
        """CRR = (E - N) / S over the period; None when nobody was active at its start."""
        if not self.active_start:
            return None
        return (self.active_end - self.new_customers) / self.active_start


def monthly_trend(*, owner_id: int | None = None) -> list[MonthlyMetric]:
    """The precomputed monthly metrics, oldest first (one query, kept until the next refresh)."""
    scope = scope_for(owner_id)
    return BASE_METRICS.kept(
        f"base-metrics:trend:{scope}",
        lambda: list(MonthlyMetric.objects.filter(scope=scope).order_by("month")),
    )


def retention_over(trend: list[MonthlyMetric], *, months: int) -> RetentionFigures | None:
    """CRR over the last `months` complete-or-current months of a trend."""
    window = trend[-months:]
    if not window:
        return None
    return RetentionFigures(
        months=months,
        start=window[0].month,
        end=window[-1].month,
        active_start=window[0].active_start,
        active_end=window[-1].active_end,
        new_customers=sum(row.new_customers for row in window),
    )


def cohort_matrix(*, owner_id: int | None = None, cohorts: int = 12) -> list[dict]:
    """The last `cohorts` first-purchase months, each with its retention share per month since
    (kept until the next refresh of the metrics)."""
    scope = scope_for(owner_id)
    return BASE_METRICS.kept(
        f"base-metrics:cohorts:{scope}:{cohorts}", lambda: _cohort_matrix(scope, cohorts)
    )


def _cohort_matrix(scope: str, cohorts: int) -> list[dict]:
    cells = CohortCell.objects.filter(scope=scope).order_by("cohort", "months_since")
    rows: dict = {}
    for cell in cells:
        row = rows.setdefault(cell.cohort, {"cohort": cell.cohort, "size": cell.cohort_size,
                                            "shares": {}})
        row["shares"][cell.months_since] = cell.active / cell.cohort_size if cell.cohort_size else 0
    ordered = list(rows.values())[-cohorts:]
    width = max((max(row["shares"], default=0) for row in ordered), default=0) + 1
    for row in ordered:
        row["cells"] = [row["shares"].get(k) for k in range(width)]
    return ordered


@dataclass(frozen=True)
class ScoreCards:
    scored: int
    dormant: int
    high_risk: int
    revenue_at_risk: Decimal
    revenue_12m: Decimal


def score_cards_for(*, owner_id: int | None = None) -> ScoreCards:
    """Headline figures from the current scores of the base or one rep's accounts (one query)."""
    scores = CustomerScore.objects.all()
    if owner_id:
        scores = scores.filter(customer__owner_id=owner_id)
    totals = scores.aggregate(
        scored=Count("pk"),
        dormant=Count("pk", filter=Q(dormant=True)),
        high_risk=Count("pk", filter=Q(risk_level="high", purchase_days__gt=0)),
        revenue_at_risk=Coalesce(
            Sum("revenue_at_risk", filter=Q(risk_level="high")), Value(Decimal("0")),
            output_field=MONEY,
        ),
        revenue_12m=Coalesce(Sum("revenue_12m"), Value(Decimal("0")), output_field=MONEY),
    )
    return ScoreCards(**totals)


def transitions_by_month(*, owner_id: int | None = None, months: int = 12) -> dict[str, dict]:
    """Per month: customers who turned dormant and customers who moved into high risk."""
    since = timezone.localdate().replace(day=1) - timedelta(days=31 * (months - 1))
    moves = ScoreTransition.objects.filter(
        as_of__gte=since.replace(day=1),
        dimension__in=["dormant", "risk"],
        to_value__in=["yes", "high"],
    )
    if owner_id:
        moves = moves.filter(customer__owner_id=owner_id)
    rows = (
        moves.annotate(month=TruncMonth("as_of"))
        .values("month", "dimension")
        .annotate(n=Count("pk"))
        .order_by("month")
    )
    result: dict[str, dict] = {}
    for row in rows:
        month = row["month"].strftime("%Y-%m")
        result.setdefault(month, {"dormant": 0, "risk": 0})[row["dimension"]] = row["n"]
    return result


@dataclass(frozen=True)
class RepCoverage:
    rep: object
    accounts: int
    backups: int
    a_accounts: int
    dormant: int
    revenue_12m: Decimal


def rep_coverage(*, reps: list | None = None) -> list[RepCoverage]:
    """Per active rep: accounts owned and backed up, key (A) accounts, dormant ones (two queries)."""
    reps = list(reps_queryset()) if reps is None else reps
    owned = {
        row["owner_id"]: row
        for row in Customer.objects.filter(owner__in=reps)
        .values("owner_id")
        .annotate(
            accounts=Count("pk"),
            a_accounts=Count("pk", filter=Q(score__value_class="A")),
            dormant=Count("pk", filter=Q(score__dormant=True)),
            revenue_12m=Coalesce(Sum("score__revenue_12m"), Value(Decimal("0")), output_field=MONEY),
        )
    }
    backups = dict(
        Customer.objects.filter(backup__in=reps)
        .values("backup_id")
        .annotate(n=Count("pk"))
        .values_list("backup_id", "n")
    )
    return [
        RepCoverage(
            rep=rep,
            accounts=owned.get(rep.pk, {}).get("accounts", 0),
            backups=backups.get(rep.pk, 0),
            a_accounts=owned.get(rep.pk, {}).get("a_accounts", 0),
            dormant=owned.get(rep.pk, {}).get("dormant", 0),
            revenue_12m=owned.get(rep.pk, {}).get("revenue_12m", Decimal("0")),
        )
        for rep in reps
    ]


def latest_runs() -> tuple[ScoringRun | None, ScoringRun | None]:
    """(the latest finished scoring run, the latest run with a backtest) in one query."""
    runs = list(
        ScoringRun.objects.filter(Q(finished_at__isnull=False) | Q(backtest__isnull=False))
        .order_by("-started_at")[:30]
    )
    finished = next((run for run in runs if run.finished_at is not None), None)
    # A backtest older than the last 30 runs (a month of nights) is too stale to show.
    with_backtest = next((run for run in runs if run.backtest is not None), None)
    return finished, with_backtest
