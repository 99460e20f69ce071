"""Shapes of the customer base's API: `<Thing>Input` checks what comes in, `<Thing>Output` answers.

Input serializers check the shape of input only; the services decide the rules. Every input
serializer rejects unknown fields and takes amounts as decimal strings (see common.api).
"""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api import MomentField, MoneyField, StrictFieldsMixin
from customers.models import (
    Customer,
    CustomerScore,
    Purchase,
    Refund,
    RiskLevel,
    ScoringRun,
    Tag,
    ValueClass,
)
from customers.selectors import reps_queryset

MAX_BULK_ITEMS = 1000

# Named choice sets: the schema names its enums after these (ENUM_NAME_OVERRIDES).
BULK_ITEM_STATUSES = [
    ("created", _("Recorded now")),
    ("exists", _("Already recorded: the stored purchase")),
    ("error", _("Not recorded: see errors")),
]
DORMANT_RULES = [("model", _("The model's probability")), ("fixed", _("Fixed days rule"))]

# A purchase dated more than this far ahead is a typo, not a time-zone difference.
FUTURE_SLACK = timedelta(days=1)


# --- scores -----------------------------------------------------------------------------------


class ScoreOutput(serializers.ModelSerializer):
    """A customer's current segmentation, as the last scoring run left it."""

    explanation = serializers.CharField(read_only=True)
    # Declared: a read-only model field loses allow_blank, and "" (no suggestion) is an answer.
    suggested_stage = serializers.ChoiceField(
        choices=Customer.Stage.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = CustomerScore
        fields = [
            "as_of",
            "value_class",
            "value_share",
            "risk_level",
            "method",
            "p_alive",
            "p_purchase",
            "expected_purchases",
            "horizon_days",
            "dormant",
            "rfm_r",
            "rfm_f",
            "rfm_m",
            "rfm_segment",
            "suggested_stage",
            "first_purchase_at",
            "last_purchase_at",
            "purchase_days",
            "days_since_last",
            "median_gap_days",
            "revenue_total",
            "revenue_12m",
            "average_order_value",
            "expected_spend",
            "clv_12m",
            "revenue_at_risk",
            "scored_at",
            "explanation",
        ]
        read_only_fields = fields


class CustomerScoreOutput(ScoreOutput):
    """A score with the customer it belongs to."""

    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    customer_external_id = serializers.CharField(
        source="customer.external_id", read_only=True, allow_null=True
    )
    owner = serializers.IntegerField(source="customer.owner_id", read_only=True, allow_null=True)

    class Meta(ScoreOutput.Meta):
        fields = [
            "customer",
            "customer_name",
            "customer_external_id",
            "owner",
            *ScoreOutput.Meta.fields,
        ]
        read_only_fields = fields


class SegmentCellOutput(serializers.Serializer):
    value_class = serializers.ChoiceField(choices=ValueClass.choices)
    risk_level = serializers.ChoiceField(choices=RiskLevel.choices)
    customers = serializers.IntegerField()
    revenue_12m = serializers.DecimalField(max_digits=16, decimal_places=2)
    revenue_at_risk = serializers.DecimalField(max_digits=16, decimal_places=2)


class ConcentrationOutput(serializers.Serializer):
    top1_share = serializers.FloatField(
        help_text=_("Share of 12-month revenue of the top customer.")
    )
    top10_share = serializers.FloatField(help_text=_("Share of the top ten customers."))
    herfindahl = serializers.FloatField(help_text=_("Sum of squared revenue shares (0..1)."))


class LatestRunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    as_of = serializers.DateField()
    finished_at = serializers.DateTimeField(allow_null=True)
    method = serializers.CharField()
    dormant_rule = serializers.CharField(help_text=_("The dormant rule the run scored with."))
    concentration = ConcentrationOutput(
        allow_null=True, help_text=_("Revenue concentration of the whole base at the run.")
    )


class DormantRuleOutput(serializers.Serializer):
    in_force = serializers.ChoiceField(choices=DORMANT_RULES)
    threshold = serializers.DecimalField(
        max_digits=4, decimal_places=3, help_text=_("Dormant below this probability (model).")
    )
    fallback_days = serializers.IntegerField(help_text=_("No purchase for this many days (fixed)."))
    min_purchase_days = serializers.IntegerField(
        help_text=_("Only customers who bought on at least this many days can become dormant.")
    )
    reason = serializers.CharField(allow_blank=True)


class SegmentSummaryOutput(serializers.Serializer):
    customers = serializers.IntegerField(help_text=_("Scored customers you may see."))
    dormant = serializers.IntegerField()
    revenue_12m = serializers.DecimalField(max_digits=16, decimal_places=2)
    revenue_at_risk = serializers.DecimalField(max_digits=16, decimal_places=2)
    cells = SegmentCellOutput(
        many=True,
        help_text=_("Every value class x risk level pair, zeros included, of customers you see."),
    )
    latest_run = LatestRunOutput(allow_null=True)
    dormant_rule = DormantRuleOutput()


class ScoringRunOutput(serializers.ModelSerializer):
    class Meta:
        model = ScoringRun
        fields = [
            "id",
            "as_of",
            "started_at",
            "finished_at",
            "seconds",
            "customers",
            "method",
            "fallback_reason",
            "dormant_rule",
            "bgnbd",
            "gamma_gamma",
            "summary",
            "chunks_total",
            "chunks_done",
            "backtest",
            "backtest_until",
        ]
        read_only_fields = fields


# --- customers --------------------------------------------------------------------------------


class CustomerOutput(serializers.ModelSerializer):
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    # Text, not format "email": a customer without an address has "" here.
    email = serializers.CharField(read_only=True)
    last_purchase_at = serializers.DateTimeField(read_only=True, allow_null=True)
    score = ScoreOutput(read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "name",
            "kind",
            "email",
            "phone",
            "birthday",
            "language",
            "time_zone",
            "owner",
            "backup",
            "stage",
            "consent_email",
            "consent_sms",
            "consent_phone",
            "consent_social",
            "tags",
            "notes",
            "created_at",
            "last_purchase_at",
            "score",
        ]
        read_only_fields = fields


class CustomerInput(StrictFieldsMixin, serializers.ModelSerializer):
    """A new customer, or the fields to change (PATCH). Only managers set the owner or backup."""

    owner = serializers.PrimaryKeyRelatedField(
        queryset=reps_queryset(), required=False, allow_null=True
    )
    backup = serializers.PrimaryKeyRelatedField(
        queryset=reps_queryset(), required=False, allow_null=True
    )
    tags = serializers.SlugRelatedField(
        slug_field="name", queryset=Tag.objects.all(), many=True, required=False
    )

    class Meta:
        model = Customer
        fields = [
            "external_id",
            "name",
            "kind",
            "email",
            "phone",
            "birthday",
            "language",
            "time_zone",
            "owner",
            "backup",
            "stage",
            "consent_email",
            "consent_sms",
            "consent_phone",
            "consent_social",
            "tags",
            "notes",
        ]

    def __init__(self, *args, can_reassign: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refused_fields = {}
        if not can_reassign:
            message = _("Only managers can change the owner or backup rep.")
            for name in ("owner", "backup"):
                self.fields.pop(name)
                self.refused_fields[name] = message

    def validate_external_id(self, value: str | None) -> str | None:
        # The column is unique but nullable: "no external id" is NULL, never an empty string.
        return (value.strip() or None) if value else None

    def validate(self, attrs: dict) -> dict:
        instance = self.instance
        owner = attrs.get("owner", instance.owner if instance else None)
        backup = attrs.get("backup", instance.backup if instance else None)
        if owner is not None and backup is not None and owner == backup:
            raise serializers.ValidationError(
                {"backup": _("The backup rep must be someone other than the owner.")}
            )
        return attrs


# --- purchases --------------------------------------------------------------------------------


class PurchaseOutput(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_external_id = serializers.CharField(
        source="customer.external_id", read_only=True, allow_null=True
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = Purchase
        fields = [
            "id",
            "external_id",
            "customer",
            "customer_external_id",
            "occurred_at",
            "amount",
            "currency",
            "source",
            "created_at",
        ]
        read_only_fields = fields


class PurchaseListOutput(PurchaseOutput):
    refunded = serializers.DecimalField(
        max_digits=16, decimal_places=2, read_only=True, help_text=_("Refunded so far.")
    )

    class Meta(PurchaseOutput.Meta):
        fields = [*PurchaseOutput.Meta.fields, "refunded"]
        read_only_fields = fields


class PurchaseInput(StrictFieldsMixin, serializers.Serializer):
    """One purchase; `external_id` is the source system's id and makes retries harmless."""

    external_id = serializers.CharField(
        max_length=100,
        help_text=_(
            "The receipt or invoice number in the source system. Sending the same purchase "
            "again returns the stored one; a different purchase under it is a 409."
        ),
    )
    customer = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Our customer id; or send customer_external_id.")
    )
    customer_external_id = serializers.CharField(
        required=False, max_length=100, help_text=_("The customer's id in the source system.")
    )
    occurred_at = MomentField()
    amount = MoneyField(help_text=_('A decimal string with at most 2 places: "1250.50".'))
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        required=False,
        help_text=_("ISO 4217 code; the configured default currency when left out."),
        error_messages={"invalid": _("Write a three-letter currency code such as RUB.")},
    )

    def validate_external_id(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError(_("This field may not be blank."))
        return value

    def validate_occurred_at(self, value):
        if value > timezone.now() + FUTURE_SLACK:
            raise serializers.ValidationError(_("The time is in the future."))
        return value

    def validate_currency(self, value: str) -> str:
        return value.upper()

    def validate(self, attrs: dict) -> dict:
        if ("customer" in attrs) == ("customer_external_id" in attrs):
            raise serializers.ValidationError(
                {"customer": _("Send exactly one of customer and customer_external_id.")}
            )
        return attrs


class _ItemsField(serializers.ListField):
    """A list of at most MAX_BULK_ITEMS raw items; each is validated on its own later, so one
    bad item never fails the others. The length is checked before anything else is done."""

    default_error_messages = {
        "too_many": _("At most %(max)s purchases per request; send the rest in another request."),
    }

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("child", serializers.JSONField())
        kwargs.setdefault("allow_empty", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) > MAX_BULK_ITEMS:
            raise serializers.ValidationError(
                self.error_messages["too_many"] % {"max": MAX_BULK_ITEMS}, code="too_many"
            )
        if isinstance(data, str | dict) or not hasattr(data, "__iter__"):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not self.allow_empty and len(data) == 0:
            self.fail("empty")
        return list(data)


@extend_schema_field(PurchaseInput(many=True))
class _PurchaseItemsField(_ItemsField):
    pass


class PurchaseBulkInput(StrictFieldsMixin, serializers.Serializer):
    items = _PurchaseItemsField(
        help_text=_("1 to 1,000 purchases, each shaped as for a single create.")
    )


class BulkItemOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("The item's position in `items`, from 0."))
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=BULK_ITEM_STATUSES)
    purchase = PurchaseOutput(allow_null=True)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        allow_null=True,
        help_text=_("Messages per field, as in a 400 answer's `fields`."),
    )


class PurchaseBulkOutput(serializers.Serializer):
    created = serializers.IntegerField()
    exists = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = BulkItemOutput(many=True, help_text=_("One result per item, in the same order."))


# --- refunds ----------------------------------------------------------------------------------


class RefundOutput(serializers.ModelSerializer):
    purchase = serializers.IntegerField(source="purchase_id", read_only=True)
    purchase_external_id = serializers.CharField(source="purchase.external_id", read_only=True)
    customer = serializers.IntegerField(source="purchase.customer_id", read_only=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = Refund
        fields = [
            "id",
            "external_id",
            "purchase",
            "purchase_external_id",
            "customer",
            "amount",
            "occurred_at",
            "reason",
            "created_at",
        ]
        read_only_fields = fields


class RefundInput(StrictFieldsMixin, serializers.Serializer):
    external_id = serializers.CharField(
        max_length=100,
        help_text=_(
            "The refund's id in the source system. Sending the same refund again returns the "
            "stored one; a different refund under it is a 409."
        ),
    )
    purchase = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Our purchase id; or send purchase_external_id.")
    )
    purchase_external_id = serializers.CharField(required=False, max_length=100)
    amount = MoneyField(
        min_value=None, help_text=_('A positive decimal string with at most 2 places: "300.00".')
    )
    occurred_at = MomentField(required=False)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate_external_id(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError(_("This field may not be blank."))
        return value

    def validate_amount(self, value):
        if value <= 0:
            raise serializers.ValidationError(_("A refund must be a positive amount."))
        return value

    def validate(self, attrs: dict) -> dict:
        if ("purchase" in attrs) == ("purchase_external_id" in attrs):
            raise serializers.ValidationError(
                {"purchase": _("Send exactly one of purchase and purchase_external_id.")}
            )
        return attrs
