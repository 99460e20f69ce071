"""Screen- and job-shaped reads of the customer base; every one is scoped to what the user may see."""

from dataclasses import dataclass
from datetime import timedelta
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
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from common.roles import ACCOUNT_REP

from .models import Customer, CustomerScore, Purchase, Refund, ScoreTransition, ScoringRun

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
        .select_related("owner", "backup")
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
    return customers.order_by(*CUSTOMER_ORDERINGS.get(ordering, CUSTOMER_ORDERINGS["name"]))


def customer_for(user, customer_id: int) -> Customer:
    """The customer with this id if `user` may see it; Http404 otherwise (never 403: no leak)."""
    return get_object_or_404(
        Customer.objects.visible_to(user).select_related("owner", "backup").prefetch_related("tags"),
        pk=customer_id,
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
    """Lifetime purchase figures of one customer, refunds netted (two queries)."""
    totals = customer.purchases.aggregate(
        count=Count("pk"),
        total=Coalesce(Sum("amount"), Value(Decimal("0")), output_field=MONEY),
        first_at=Min("occurred_at"),
        last_at=Max("occurred_at"),
    )
    refunded = Refund.objects.filter(purchase__customer=customer).aggregate(
        total=Coalesce(Sum("amount"), Value(Decimal("0")), output_field=MONEY)
    )["total"]
    return PurchaseSummary(
        count=totals["count"],
        total=totals["total"],
        refunded=refunded,
        first_at=totals["first_at"],
        last_at=totals["last_at"],
    )


def purchases_of(customer: Customer) -> QuerySet[Purchase]:
    """A customer's purchases, newest first, each with its refunded amount."""
    return customer.purchases.annotate(
        refunded=Coalesce(Sum("refunds__amount"), Value(Decimal("0")), output_field=MONEY)
    ).order_by("-occurred_at", "-id")


def reps_queryset():
    """Active users who can own accounts (members of the Account rep group)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name=ACCOUNT_REP)
        .order_by("first_name", "last_name", "username")
        .distinct()
    )


VALUE_CLASSES = ["A", "B", "C", "-"]
RISK_LEVELS = ["high", "medium", "low"]


@dataclass(frozen=True)
class MatrixCell:
    value_class: str
    risk_level: str
    customers: int
    revenue_12m: Decimal
    revenue_at_risk: Decimal


def value_risk_matrix_for(user) -> list[list[MatrixCell]]:
    """Customers and revenue per value class x risk level, over what `user` may see (one query)."""
    rows = (
        CustomerScore.objects.filter(customer__in=Customer.objects.visible_to(user).values("pk"))
        .values("value_class", "risk_level")
        .annotate(
            customers=Count("pk"),
            revenue_12m=Coalesce(Sum("revenue_12m"), Value(Decimal("0")), output_field=MONEY),
            revenue_at_risk=Coalesce(
                Sum("revenue_at_risk"), Value(Decimal("0")), output_field=MONEY
            ),
        )
    )
    found = {(row["value_class"], row["risk_level"]): row for row in rows}
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


def latest_scoring_run() -> ScoringRun | None:
    return ScoringRun.objects.filter(finished_at__isnull=False).order_by("-started_at").first()


def latest_backtest_run() -> ScoringRun | None:
    return ScoringRun.objects.filter(backtest__isnull=False).order_by("-started_at").first()


def score_history_of(customer: Customer, limit: int = 12) -> QuerySet[ScoreTransition]:
    """The customer's latest moves between segments, newest first."""
    return customer.score_transitions.order_by("-as_of", "dimension")[:limit]


def score_of(customer: Customer) -> CustomerScore | None:
    return CustomerScore.objects.filter(customer=customer).first()
