"""Query-string filters of the customer base's lists. They narrow what the selector allows, never
widen it: every queryset they receive is already scoped to the user."""

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters

from common.api import IdFilter, MomentFilter, StableOrderingFilter
from customers.models import (
    Customer,
    CustomerScore,
    Purchase,
    Refund,
    RfmSegment,
    RiskLevel,
    ScoringRun,
    ValueClass,
)


class CustomerFilter(filters.FilterSet):
    search = filters.CharFilter(
        method="filter_search",
        label=_("Name, e-mail or phone contains; or the external id exactly"),
    )
    owner = IdFilter(field_name="owner_id", label=_("Owner rep id"))
    backup = IdFilter(field_name="backup_id", label=_("Backup rep id"))
    unassigned = filters.BooleanFilter(
        method="filter_unassigned", label=_("Without an active owner")
    )
    stage = filters.ChoiceFilter(choices=Customer.Stage.choices)
    kind = filters.ChoiceFilter(choices=Customer.Kind.choices)
    tag = filters.CharFilter(field_name="tags__name", label=_("Tag name"))
    external_id = filters.CharFilter(field_name="external_id")
    value_class = filters.ChoiceFilter(field_name="score__value_class", choices=ValueClass.choices)
    risk_level = filters.ChoiceFilter(field_name="score__risk_level", choices=RiskLevel.choices)
    rfm_segment = filters.ChoiceFilter(field_name="score__rfm_segment", choices=RfmSegment.choices)
    dormant = filters.BooleanFilter(field_name="score__dormant")
    ordering = StableOrderingFilter(
        fields=(
            ("name", "name"),
            ("created_at", "created_at"),
            ("last_purchase_at", "last_purchase_at"),
            ("score__revenue_12m", "revenue_12m"),
            ("score__revenue_at_risk", "revenue_at_risk"),
        )
    )

    class Meta:
        model = Customer
        fields: list[str] = []

    def filter_search(self, queryset, name: str, value: str):
        return queryset.search(value)

    def filter_unassigned(self, queryset, name: str, value: bool | None):
        if value:
            return queryset.unassigned()
        if value is False:
            return queryset.exclude(pk__in=Customer.objects.unassigned().values("pk"))
        return queryset


class PurchaseFilter(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", label=_("Our customer id"))
    customer_external_id = filters.CharFilter(field_name="customer__external_id")
    external_id = filters.CharFilter(field_name="external_id")
    source = filters.ChoiceFilter(choices=Purchase.Source.choices)
    currency = filters.CharFilter(field_name="currency", lookup_expr="iexact")
    occurred_after = MomentFilter(
        field_name="occurred_at", lookup_expr="gte", label=_("At or after (ISO 8601)")
    )
    occurred_before = MomentFilter(
        field_name="occurred_at", lookup_expr="lt", label=_("Before (ISO 8601)")
    )
    ordering = StableOrderingFilter(
        fields=(("occurred_at", "occurred_at"), ("created_at", "created_at"), ("amount", "amount"))
    )

    class Meta:
        model = Purchase
        fields: list[str] = []


class RefundFilter(filters.FilterSet):
    purchase = IdFilter(field_name="purchase_id", label=_("Our purchase id"))
    purchase_external_id = filters.CharFilter(field_name="purchase__external_id")
    customer = IdFilter(field_name="purchase__customer_id", label=_("Our customer id"))
    external_id = filters.CharFilter(field_name="external_id")
    occurred_after = MomentFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = MomentFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Refund
        fields: list[str] = []


class ScoreFilter(filters.FilterSet):
    owner = IdFilter(field_name="customer__owner_id", label=_("Owner rep id"))
    value_class = filters.ChoiceFilter(choices=ValueClass.choices)
    risk_level = filters.ChoiceFilter(choices=RiskLevel.choices)
    rfm_segment = filters.ChoiceFilter(choices=RfmSegment.choices)
    dormant = filters.BooleanFilter()
    method = filters.ChoiceFilter(choices=CustomerScore.Method.choices)
    ordering = StableOrderingFilter(
        fields=(
            ("revenue_at_risk", "revenue_at_risk"),
            ("revenue_12m", "revenue_12m"),
            ("p_purchase", "p_purchase"),
            ("clv_12m", "clv_12m"),
            ("days_since_last", "days_since_last"),
        )
    )

    class Meta:
        model = CustomerScore
        fields: list[str] = []


class ScoringRunFilter(filters.FilterSet):
    as_of_after = filters.DateFilter(field_name="as_of", lookup_expr="gte")
    as_of_before = filters.DateFilter(field_name="as_of", lookup_expr="lte")
    method = filters.ChoiceFilter(choices=CustomerScore.Method.choices)

    class Meta:
        model = ScoringRun
        fields: list[str] = []
