"""The loyalty API: balances, the ledger, tiers, rewards, redeeming a reward and cancelling it.

Every change goes through loyalty.services (redeem_reward, cancel_redemption), so the API keeps
the same ledger invariants as the UI. Customers come from `Customer.objects.visible_to(user)`:
another rep's customer, account, entry or redemption is a 404.
"""

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from common.api import Conflict, error_responses
from customers.api.views import ScopedViewSet, caller_key, visible_customer
from customers.models import Customer
from loyalty import selectors, services
from loyalty.errors import (
    IdempotencyConflictError,
    InsufficientPointsError,
    RedemptionNotCancellableError,
)
from loyalty.models import LedgerEntry, LoyaltyAccount, Redemption, Reward, Tier

from .filters import LedgerEntryFilter, LoyaltyAccountFilter, RedemptionFilter, RewardFilter
from .serializers import (
    LedgerEntryOutput,
    LoyaltyAccountOutput,
    LoyaltyBalanceOutput,
    RedeemInput,
    RedemptionOutput,
    RewardOutput,
    TierOutput,
)

# --- accounts and balances --------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary=_("List points accounts"),
        description=_(
            "The points accounts of the customers you may see, largest balance first. A customer "
            "who never earned points has no account here; their balance is still answered by "
            "the detail (all zeros)."
        ),
        responses={200: LoyaltyAccountOutput(many=True), **error_responses(400)},
    ),
)
class LoyaltyAccountViewSet(mixins.ListModelMixin, ScopedViewSet):
    serializer_class = LoyaltyAccountOutput
    filterset_class = LoyaltyAccountFilter
    lookup_url_kwarg = "customer"
    lookup_value_regex = r"-?\d+"
    action_permissions = {
        "list": ("loyalty.view_loyaltyaccount",),
        "retrieve": ("loyalty.view_loyaltyaccount",),
    }

    def get_queryset(self) -> QuerySet[LoyaltyAccount]:
        visible = Customer.objects.visible_ids(self.request.user)
        return (
            LoyaltyAccount.objects.filter(customer__in=visible)
            .select_related("tier")
            .order_by("-balance", "customer_id")
        )

    @extend_schema(
        summary=_("A customer's points balance"),
        description=_(
            "Spendable balance and its value, points still inside the return window, points "
            "expiring within 30 days, the tier and the spend still needed for the next one."
        ),
        parameters=[
            OpenApiParameter(
                "customer", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("Customer id")
            )
        ],
        responses={200: LoyaltyBalanceOutput, **error_responses(404)},
        examples=[
            OpenApiExample(
                "A balance",
                value={
                    "customer": 42,
                    "balance": 1250,
                    "pending": 80,
                    "balance_value": "1250.00",
                    "currency": "RUB",
                    "tier": {"id": 2, "name": "Silver"},
                    "tier_valid_until": "2026-03-14T16:05:00+03:00",
                    "qualifying_spend": "84000.00",
                    "next_tier": {"id": 3, "name": "Gold"},
                    "spend_to_next_tier": "16000.00",
                    "progress_percent": 68,
                    "expiring_points": 200,
                    "expiring_at": "2025-04-01T00:00:00+03:00",
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def retrieve(self, request, customer=None, **kwargs) -> Response:
        found = visible_customer(request.user, int(customer))
        summary = selectors.loyalty_summary_for(found.pk)
        return Response(LoyaltyBalanceOutput(summary).data)


# --- ledger -----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary=_("The points ledger"),
        description=_(
            "Points movements of the customers you may see, newest first: earned, redeemed, "
            "expired, adjusted, reversed. Entries are never changed; a correction is a new "
            "entry. Filter by `customer` for one customer's history."
        ),
        responses={200: LedgerEntryOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A ledger entry"), responses={200: LedgerEntryOutput, **error_responses(404)}
    ),
)
class LedgerEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = LedgerEntryOutput
    filterset_class = LedgerEntryFilter
    action_permissions = {
        "list": ("loyalty.view_ledgerentry",),
        "retrieve": ("loyalty.view_ledgerentry",),
    }

    def get_queryset(self) -> QuerySet[LedgerEntry]:
        visible = Customer.objects.visible_ids(self.request.user)
        return LedgerEntry.objects.filter(customer__in=visible).order_by("-created_at", "-id")


# --- tiers and rewards ------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary=_("Tiers, lowest first"),
        responses={200: TierOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A tier"), responses={200: TierOutput, **error_responses(404)}
    ),
)
class TierViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = TierOutput
    action_permissions = {"list": ("loyalty.view_tier",), "retrieve": ("loyalty.view_tier",)}

    def get_queryset(self) -> QuerySet[Tier]:
        return Tier.objects.order_by("order", "id")


@extend_schema_view(
    list=extend_schema(
        summary=_("Rewards"),
        description=_("Rewards points can be redeemed for; `active=true` for those on offer."),
        responses={200: RewardOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A reward"), responses={200: RewardOutput, **error_responses(404)}
    ),
)
class RewardViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = RewardOutput
    filterset_class = RewardFilter
    action_permissions = {"list": ("loyalty.view_reward",), "retrieve": ("loyalty.view_reward",)}

    def get_queryset(self) -> QuerySet[Reward]:
        return Reward.objects.order_by("cost", "id")


# --- redemptions ------------------------------------------------------------------------------

_REDEMPTION_EXAMPLE = {
    "id": 77,
    "customer": 42,
    "reward": 3,
    "reward_name": "500 RUB voucher",
    "points": 500,
    "status": "issued",
    "code": "7KQF-M2XD-9RTA",
    "created_by": 7,
    "created_at": "2025-03-14T16:05:00+03:00",
    "cancelled_by": None,
    "cancelled_at": None,
}


@extend_schema_view(
    list=extend_schema(
        summary=_("Redemptions"),
        description=_("Rewards issued to the customers you may see, newest first."),
        responses={200: RedemptionOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A redemption"), responses={200: RedemptionOutput, **error_responses(404)}
    ),
)
class RedemptionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    serializer_class = RedemptionOutput
    filterset_class = RedemptionFilter
    action_permissions = {
        "list": ("loyalty.view_redemption",),
        "retrieve": ("loyalty.view_redemption",),
        "create": ("loyalty.redeem_rewards",),
        "cancel": ("loyalty.cancel_redemptions",),
    }

    def get_queryset(self) -> QuerySet[Redemption]:
        visible = Customer.objects.visible_ids(self.request.user)
        return (
            Redemption.objects.filter(customer__in=visible)
            .select_related("reward")
            .order_by("-created_at", "-id")
        )

    @extend_schema(
        summary=_("Redeem a reward (idempotent by key)"),
        description=_(
            "Takes the reward's cost from the customer's balance and issues it (a voucher gets a "
            "code), once per `key`: **201** when issued now, **200** with the same redemption "
            "when the key was used before for the same customer and reward. The balance never "
            "goes below zero: **409** when it does not cover the cost, or when the key was used "
            "for a different redemption. An inactive or unknown reward is a 400 on `reward`; a "
            "customer you may not see is a 404."
        ),
        request=RedeemInput,
        responses={
            201: OpenApiResponse(RedemptionOutput, description=_("Issued now.")),
            200: OpenApiResponse(RedemptionOutput, description=_("Issued before under this key.")),
            **error_responses(400, 404, 409),
        },
        examples=[
            OpenApiExample(
                "A voucher",
                value={"customer": 42, "reward": 3, "key": "pos-7-20250314-0042"},
                request_only=True,
            ),
            OpenApiExample(
                "Issued", value=_REDEMPTION_EXAMPLE, response_only=True, status_codes=["201"]
            ),
            OpenApiExample(
                "Not enough points",
                value={
                    "code": "conflict",
                    "detail": "The customer does not have enough points.",
                    "fields": {"reward": ["The customer does not have enough points."]},
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def create(self, request, *args, **kwargs) -> Response:
        serializer = RedeemInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = visible_customer(request.user, data["customer"])
        key = caller_key(request.user, data["key"])
        existed = Redemption.objects.filter(key=key).exists()
        try:
            redemption = services.redeem_reward(
                customer_id=customer.pk, reward_id=data["reward"], by=request.user, key=key
            )
        except (InsufficientPointsError, IdempotencyConflictError) as error:
            raise Conflict.from_domain(error) from error
        return Response(
            RedemptionOutput(self.get_queryset().get(pk=redemption.pk)).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary=_("Cancel a redemption and restore its points"),
        description=_(
            "Cancels an issued redemption and puts its points back, exactly once: a redemption "
            "already cancelled is a 409. Another rep's customer's redemption is a 404."
        ),
        request=None,
        responses={200: RedemptionOutput, **error_responses(404, 409)},
        examples=[
            OpenApiExample(
                "Already cancelled",
                value={
                    "code": "conflict",
                    "detail": "This redemption has already been cancelled.",
                    "fields": {"redemption": ["This redemption has already been cancelled."]},
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None, **kwargs) -> Response:
        redemption = self.get_object()
        try:
            services.cancel_redemption(redemption_id=redemption.pk, by=request.user)
        except RedemptionNotCancellableError as error:
            raise Conflict.from_domain(error) from error
        return Response(RedemptionOutput(self.get_queryset().get(pk=redemption.pk)).data)
