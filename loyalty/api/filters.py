"""Query-string filters of the loyalty lists; they narrow what the selector allows, never widen it."""

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters

from common.api import IdFilter, MomentFilter, StableOrderingFilter
from loyalty.models import LedgerEntry, LoyaltyAccount, Redemption, Reward


class LoyaltyAccountFilter(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", label=_("Our customer id"))
    owner = IdFilter(field_name="customer__owner_id", label=_("Owner rep id"))
    tier = IdFilter(field_name="tier_id", label=_("Tier id"))
    balance_min = filters.NumberFilter(
        field_name="balance", lookup_expr="gte", label=_("Balance at least")
    )
    ordering = StableOrderingFilter(
        fields=(("balance", "balance"), ("qualifying_spend", "qualifying_spend"))
    )

    class Meta:
        model = LoyaltyAccount
        fields: list[str] = []


class LedgerEntryFilter(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", label=_("Our customer id"))
    kind = filters.ChoiceFilter(choices=LedgerEntry.Kind.choices)
    redemption = IdFilter(field_name="redemption_id", label=_("Redemption id"))
    created_after = MomentFilter(
        field_name="created_at", lookup_expr="gte", label=_("At or after (ISO 8601)")
    )
    created_before = MomentFilter(
        field_name="created_at", lookup_expr="lt", label=_("Before (ISO 8601)")
    )

    class Meta:
        model = LedgerEntry
        fields: list[str] = []


class RewardFilter(filters.FilterSet):
    active = filters.BooleanFilter()
    kind = filters.ChoiceFilter(choices=Reward.Kind.choices)

    class Meta:
        model = Reward
        fields: list[str] = []


class RedemptionFilter(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", label=_("Our customer id"))
    reward = IdFilter(field_name="reward_id", label=_("Reward id"))
    status = filters.ChoiceFilter(choices=Redemption.Status.choices)
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Redemption
        fields: list[str] = []
