"""Shapes of the loyalty API: `<Thing>Input` checks what comes in, `<Thing>Output` answers.

Points are whole numbers; money (spend, point value) is a decimal string with two places.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from common.api import StrictFieldsMixin
from loyalty.models import LedgerEntry, LoyaltyAccount, Redemption, Reward, Tier

MONEY = {"max_digits": 16, "decimal_places": 2}


class TierOutput(serializers.ModelSerializer):
    qualifying_spend = serializers.DecimalField(**MONEY, read_only=True)
    earn_multiplier = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True)
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True)

    class Meta:
        model = Tier
        fields = [
            "id",
            "name",
            "order",
            "qualifying_spend",
            "earn_multiplier",
            "discount_percent",
            "perks",
        ]
        read_only_fields = fields


class TierBriefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class LoyaltyAccountOutput(serializers.ModelSerializer):
    """A customer's points account as stored: balance and tier."""

    customer = serializers.IntegerField(source="customer_id", read_only=True)
    tier = TierBriefOutput(read_only=True, allow_null=True)
    qualifying_spend = serializers.DecimalField(**MONEY, read_only=True)

    class Meta:
        model = LoyaltyAccount
        fields = [
            "customer",
            "balance",
            "tier",
            "tier_since",
            "tier_valid_until",
            "qualifying_spend",
            "updated_at",
        ]
        read_only_fields = fields


class LoyaltyBalanceOutput(serializers.Serializer):
    """A customer's balance with what is pending, expiring, and the way to the next tier."""

    customer = serializers.IntegerField(source="customer_id")
    balance = serializers.IntegerField(help_text=_("Spendable points now."))
    pending = serializers.IntegerField(
        help_text=_("Points earned inside the return window, spendable once it closes.")
    )
    balance_value = serializers.DecimalField(
        **MONEY, help_text=_("What the balance is worth in `currency`.")
    )
    currency = serializers.CharField()
    tier = TierBriefOutput(allow_null=True)
    tier_valid_until = serializers.DateTimeField(allow_null=True)
    qualifying_spend = serializers.DecimalField(
        **MONEY, help_text=_("Net purchases over the tier window.")
    )
    next_tier = TierBriefOutput(allow_null=True)
    spend_to_next_tier = serializers.DecimalField(**MONEY, allow_null=True)
    progress_percent = serializers.IntegerField(min_value=0, max_value=100)
    expiring_points = serializers.IntegerField(help_text=_("Points expiring within 30 days."))
    expiring_at = serializers.DateTimeField(
        allow_null=True, help_text=_("When the first of those expires.")
    )


class LedgerEntryOutput(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    purchase = serializers.IntegerField(source="purchase_id", read_only=True, allow_null=True)
    refund = serializers.IntegerField(source="refund_id", read_only=True, allow_null=True)
    redemption = serializers.IntegerField(source="redemption_id", read_only=True, allow_null=True)
    partner = serializers.IntegerField(source="partner_id", read_only=True, allow_null=True)
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "customer",
            "kind",
            "points",
            "shortfall",
            "purchase",
            "refund",
            "redemption",
            "partner",
            "created_by",
            "note",
            "expires_at",
            "created_at",
        ]
        read_only_fields = fields


class RewardOutput(serializers.ModelSerializer):
    class Meta:
        model = Reward
        fields = ["id", "name", "description", "kind", "cost", "active"]
        read_only_fields = fields


class RedemptionOutput(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    reward = serializers.IntegerField(source="reward_id", read_only=True)
    reward_name = serializers.CharField(source="reward.name", read_only=True)
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)
    cancelled_by = serializers.IntegerField(
        source="cancelled_by_id", read_only=True, allow_null=True
    )

    class Meta:
        model = Redemption
        fields = [
            "id",
            "customer",
            "reward",
            "reward_name",
            "points",
            "status",
            "code",
            "created_by",
            "created_at",
            "cancelled_by",
            "cancelled_at",
        ]
        read_only_fields = fields


class RedeemInput(StrictFieldsMixin, serializers.Serializer):
    customer = serializers.IntegerField(min_value=1, help_text=_("Our customer id."))
    reward = serializers.IntegerField(min_value=1, help_text=_("An active reward's id."))
    key = serializers.RegexField(
        r"^[A-Za-z0-9._:-]{8,64}$",
        help_text=_(
            "Your idempotency key (8 to 64 letters, digits or `._:-`): the same key again "
            "returns the first redemption instead of taking the points twice."
        ),
    )
