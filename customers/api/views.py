"""The customer base's API: customers, purchases (single and bulk), refunds, scores, scoring runs.

Viewsets are thin: an input serializer checks the shape, a service records, an output serializer
answers. What a user may see comes from `Customer.objects.visible_to(user)`, as in the UI, so a
rep's token sees the rep's covered customers only and anything else is a 404.
"""

from decimal import Decimal
from typing import Any

from django.db import IntegrityError
from django.db.models import Count, DecimalField, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from common.api import (
    ActionPermissions,
    BoundedLookupMixin,
    Conflict,
    error_responses,
    flatten_errors,
)
from customers import selectors, services
from customers.errors import PurchaseConflictError
from customers.models import (
    Customer,
    CustomerScore,
    Purchase,
    Refund,
    RiskLevel,
    ScoringRun,
    ScoringSettings,
    ValueClass,
)

from .bulk import PurchaseLine, record_purchases
from .filters import CustomerFilter, PurchaseFilter, RefundFilter, ScoreFilter, ScoringRunFilter
from .serializers import (
    CustomerInput,
    CustomerOutput,
    CustomerScoreOutput,
    PurchaseBulkInput,
    PurchaseBulkOutput,
    PurchaseInput,
    PurchaseListOutput,
    PurchaseOutput,
    RefundInput,
    RefundOutput,
    ScoringRunOutput,
    SegmentSummaryOutput,
)

MONEY = DecimalField(max_digits=16, decimal_places=2)
ZERO = Decimal("0")


class ScopedViewSet(BoundedLookupMixin, viewsets.GenericViewSet):
    """Authenticated, with the permissions each action needs (`action_permissions`), paginated
    and filterable; the queryset, from a selector, decides what the user may see."""

    permission_classes = [IsAuthenticated, ActionPermissions]
    action_permissions: dict[str, tuple[str, ...]] = {}


# --- reads that belong with the selectors -----------------------------------------------------
# Kept here until customers/selectors.py takes them; both are scoped through visible_to.


# What a 404 says of a customer: missing and hidden from the caller look the same.
NOT_VISIBLE = _("No customer with this id that you may see.")


def visible_customer(user, customer_id: int) -> Customer:
    """The customer if `user` may see it; a 404 otherwise (missing and hidden look the same)."""
    customer = Customer.objects.visible_to(user).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(NOT_VISIBLE)
    return customer


def caller_key(user, key: str | None) -> str | None:
    """A client's idempotency key made the caller's own: two users choosing the same key never
    collide."""
    return f"api:{user.pk}:{key}" if key else None


def visible_customers_by_reference(
    user, *, ids: set[int], external_ids: set[str]
) -> tuple[dict[int, Customer], dict[str, Customer]]:
    """The customers `user` may see among these ids and external ids, in one query."""
    if not ids and not external_ids:
        return {}, {}
    found = (
        Customer.objects.visible_to(user)
        .filter(Q(pk__in=ids) | Q(external_id__in=external_ids))
        .only("pk", "external_id")
    )
    by_id: dict[int, Customer] = {}
    by_external_id: dict[str, Customer] = {}
    for customer in found:
        by_id[customer.pk] = customer
        if customer.external_id is not None:
            by_external_id[customer.external_id] = customer
    return by_id, by_external_id


def segment_summary_for(scores: QuerySet[CustomerScore]) -> dict[str, Any]:
    """Counts and revenue per value class x risk level of `scores` (already scoped to the user),
    the dormant count, the latest finished run's concentration and the dormant rule in force.
    Three queries whatever the base size."""
    rows = (
        scores.order_by()
        .values("value_class", "risk_level")
        .annotate(
            customers=Count("pk"),
            dormant=Count("pk", filter=Q(dormant=True)),
            revenue_12m=Coalesce(Sum("revenue_12m"), Value(ZERO), output_field=MONEY),
            revenue_at_risk=Coalesce(Sum("revenue_at_risk"), Value(ZERO), output_field=MONEY),
        )
    )
    found = {(row["value_class"], row["risk_level"]): row for row in rows}
    cells = []
    for value_class in ValueClass.values:
        for risk_level in RiskLevel.values:
            row = found.get((value_class, risk_level), {})
            cells.append(
                {
                    "value_class": value_class,
                    "risk_level": risk_level,
                    "customers": row.get("customers", 0),
                    "revenue_12m": row.get("revenue_12m", ZERO),
                    "revenue_at_risk": row.get("revenue_at_risk", ZERO),
                }
            )
    run = (
        ScoringRun.objects.filter(finished_at__isnull=False)
        .order_by("-started_at", "-id")
        .only("pk", "as_of", "finished_at", "method", "dormant_rule", "summary")
        .first()
    )
    config = ScoringSettings.load()
    return {
        "customers": sum(row["customers"] for row in found.values()),
        "dormant": sum(row["dormant"] for row in found.values()),
        "revenue_12m": sum((row["revenue_12m"] for row in found.values()), ZERO),
        "revenue_at_risk": sum((row["revenue_at_risk"] for row in found.values()), ZERO),
        "cells": cells,
        "latest_run": run
        and {
            "id": run.pk,
            "as_of": run.as_of,
            "finished_at": run.finished_at,
            "method": run.method,
            "dormant_rule": run.dormant_rule,
            "concentration": (run.summary or {}).get("concentration") or None,
        },
        "dormant_rule": {
            "in_force": config.rule_in_force,
            "threshold": config.dormant_threshold,
            "fallback_days": config.fallback_days,
            "min_purchase_days": config.dormant_min_purchase_days,
            "reason": config.rule_reason,
        },
    }


# --- customers --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary=_("List customers"),
        description=_(
            "The customers you may see (managers: all; reps: the ones they own or back up), "
            "each with its current score, ordered by name unless `ordering` says otherwise."
        ),
        responses={200: CustomerOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A customer with its current score"),
        responses={200: CustomerOutput, **error_responses(404)},
    ),
)
class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = CustomerOutput
    filterset_class = CustomerFilter
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_permissions = {
        "list": ("customers.view_customer",),
        "retrieve": ("customers.view_customer",),
        "create": ("customers.add_customer",),
        "partial_update": ("customers.change_customer",),
    }

    def get_queryset(self) -> QuerySet[Customer]:
        return (
            selectors.customer_list_for(self.request.user)
            .select_related("score")
            .prefetch_related("tags")
        )

    def _answer(self, customer_id: int, status_code: int) -> Response:
        customer = self.get_queryset().get(pk=customer_id)
        return Response(CustomerOutput(customer).data, status=status_code)

    @extend_schema(
        summary=_("Create a customer"),
        description=_(
            "Managers may set `owner` and `backup`; for anyone else they are refused and the "
            "customer is owned by the caller."
        ),
        request=CustomerInput,
        responses={201: CustomerOutput, **error_responses(400)},
    )
    def create(self, request) -> Response:
        can_reassign = request.user.has_perm("customers.reassign_customers")
        serializer = CustomerInput(data=request.data, can_reassign=can_reassign)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        tags = data.pop("tags", None)
        if not can_reassign:
            # Whoever cannot assign accounts covers the customer they create, as in the UI.
            data["owner"] = request.user
        customer = services.create_customer(data=data, tags=tags)
        return self._answer(customer.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Change a customer"),
        description=_(
            "Only the fields sent change. Reps cannot change `owner` or `backup` (a 400 names "
            "the field); managers can. Another rep's customer is a 404."
        ),
        request=CustomerInput,
        responses={200: CustomerOutput, **error_responses(400, 404)},
    )
    def partial_update(self, request, pk=None) -> Response:
        customer = self.get_object()
        serializer = CustomerInput(
            customer,
            data=request.data,
            partial=True,
            can_reassign=request.user.has_perm("customers.reassign_customers"),
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        tags = data.pop("tags", None)
        services.update_customer(customer=customer, data=data, tags=tags)
        return self._answer(customer.pk, status.HTTP_200_OK)


# --- purchases --------------------------------------------------------------------------------

_PURCHASE_EXAMPLE_REQUEST = {
    "external_id": "RT-00012345",
    "customer_external_id": "K-000042",
    "occurred_at": "2025-03-14T16:05:00+03:00",
    "amount": "1250.50",
    "currency": "RUB",
}
_PURCHASE_EXAMPLE_ANSWER = {
    "id": 981,
    "external_id": "RT-00012345",
    "customer": 42,
    "customer_external_id": "K-000042",
    "occurred_at": "2025-03-14T16:05:00+03:00",
    "amount": "1250.50",
    "currency": "RUB",
    "source": "api",
    "created_at": "2025-03-14T16:05:02.118000+03:00",
}


def _customer_of(
    data: dict, by_id: dict[int, Customer], by_external_id: dict[str, Customer]
) -> Customer | None:
    if "customer" in data:
        return by_id.get(data["customer"])
    return by_external_id.get(data["customer_external_id"])


def _missing_customer_errors(data: dict) -> dict[str, list[str]]:
    field = "customer" if "customer" in data else "customer_external_id"
    return {field: [str(NOT_VISIBLE)]}


@extend_schema_view(
    list=extend_schema(
        summary=_("List purchases"),
        description=_(
            "Purchases of the customers you may see, newest first, with refunded amounts."
        ),
        responses={200: PurchaseListOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A purchase"), responses={200: PurchaseListOutput, **error_responses(404)}
    ),
)
class PurchaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = PurchaseListOutput
    filterset_class = PurchaseFilter
    action_permissions = {
        "list": ("customers.view_purchase",),
        "retrieve": ("customers.view_purchase",),
        "create": ("customers.add_purchase",),
        "bulk": ("customers.add_purchase",),
    }

    def get_queryset(self) -> QuerySet[Purchase]:
        refunded = Subquery(selectors.refunded_of_purchase())
        return (
            Purchase.objects.visible_to(self.request.user)
            .select_related("customer")
            .annotate(refunded=Coalesce(refunded, Value(ZERO), output_field=MONEY))
            .order_by("-occurred_at", "-id")
        )

    @extend_schema(
        summary=_("Record a purchase (idempotent by external_id)"),
        description=_(
            "Records the purchase once per `external_id`. **201** with the purchase when it is "
            "new; **200** with the same body when the same purchase (same customer, amount and "
            "currency under that `external_id`) was recorded before, so a client may retry a "
            "request whose answer it lost. **409** when a different purchase already holds the "
            "`external_id`.\n\n"
            "Name the customer by our `customer` id or by its `customer_external_id`, not both; "
            "a customer you may not see is reported like a missing one (400).\n\n"
            '`amount` is a decimal string with at most two places ("1250.50"); JSON numbers '
            "are refused because many clients hold them as binary floats. `occurred_at` is ISO "
            "8601; without an offset it is read in the server's time zone (TIME_ZONE), and a "
            "local time that is ambiguous or missing there (daylight saving) is refused. "
            "Unknown fields are refused (400)."
        ),
        request=PurchaseInput,
        responses={
            201: OpenApiResponse(PurchaseOutput, description=_("Recorded now.")),
            200: OpenApiResponse(
                PurchaseOutput, description=_("Recorded before: the stored purchase, unchanged.")
            ),
            **error_responses(400, 409),
        },
        examples=[
            OpenApiExample("A purchase", value=_PURCHASE_EXAMPLE_REQUEST, request_only=True),
            OpenApiExample(
                "Recorded now",
                value=_PURCHASE_EXAMPLE_ANSWER,
                response_only=True,
                status_codes=["201"],
            ),
            OpenApiExample(
                "The same request again",
                value=_PURCHASE_EXAMPLE_ANSWER,
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Amount sent as a JSON number",
                value={
                    "code": "invalid",
                    "detail": "Invalid input.",
                    "fields": {
                        "amount": [
                            'Send the amount as a decimal string such as "1250.50", not as a '
                            "JSON number: JSON numbers are floating point in many clients and "
                            "lose cents."
                        ]
                    },
                },
                response_only=True,
                status_codes=["400"],
            ),
            OpenApiExample(
                "A different purchase under a taken external id",
                value={
                    "code": "conflict",
                    "detail": "A different purchase with this external id is already recorded.",
                    "fields": {
                        "external_id": [
                            "A different purchase with this external id is already recorded."
                        ]
                    },
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def create(self, request) -> Response:
        serializer = PurchaseInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        by_id, by_external_id = visible_customers_by_reference(
            request.user,
            ids={data["customer"]} if "customer" in data else set(),
            external_ids={data["customer_external_id"]}
            if "customer_external_id" in data
            else set(),
        )
        customer = _customer_of(data, by_id, by_external_id)
        if customer is None:
            raise serializers.ValidationError(_missing_customer_errors(data))
        try:
            purchase, created = services.record_purchase(
                customer_id=customer.pk,
                occurred_at=data["occurred_at"],
                amount=data["amount"],
                currency=data.get("currency"),
                external_id=data["external_id"],
                source=Purchase.Source.API,
            )
        except PurchaseConflictError as error:
            raise Conflict.from_domain(error) from error
        purchase.customer = customer
        return Response(
            PurchaseOutput(purchase).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary=_("Record up to 1,000 purchases in one request"),
        description=_(
            "Each item is shaped as for a single create and stands alone: it is recorded "
            "entirely or not at all, and a bad item never stops the others. The answer is "
            "**200** with one result per item, in order: `created`, `exists` (the same "
            "purchase was recorded before, or earlier in this request; the stored purchase is "
            "returned) or `error` (nothing recorded; `errors` holds the field messages, a "
            "different purchase under a taken `external_id` included). Sending the same batch "
            "again is harmless: every item comes back as `exists`. More than 1,000 items, or no "
            "`items` list, is a 400 for the whole request."
        ),
        request=PurchaseBulkInput,
        responses={200: PurchaseBulkOutput, **error_responses(400)},
        examples=[
            OpenApiExample(
                "Three purchases, one of them bad",
                value={
                    "items": [
                        _PURCHASE_EXAMPLE_REQUEST,
                        {
                            "external_id": "RT-00012346",
                            "customer": 42,
                            "occurred_at": "2025-03-14T17:20:00",
                            "amount": "99.90",
                        },
                        {
                            "external_id": "RT-00012347",
                            "customer": 42,
                            "occurred_at": "2025-03-14T17:25:00",
                            "amount": 99.9,
                        },
                    ]
                },
                request_only=True,
            ),
            OpenApiExample(
                "Per-item results",
                value={
                    "created": 1,
                    "exists": 1,
                    "errors": 1,
                    "results": [
                        {
                            "index": 0,
                            "external_id": "RT-00012345",
                            "status": "exists",
                            "purchase": _PURCHASE_EXAMPLE_ANSWER,
                            "errors": None,
                        },
                        {
                            "index": 1,
                            "external_id": "RT-00012346",
                            "status": "created",
                            "purchase": {
                                **_PURCHASE_EXAMPLE_ANSWER,
                                "id": 982,
                                "external_id": "RT-00012346",
                                "occurred_at": "2025-03-14T17:20:00+03:00",
                                "amount": "99.90",
                            },
                            "errors": None,
                        },
                        {
                            "index": 2,
                            "external_id": "RT-00012347",
                            "status": "error",
                            "purchase": None,
                            "errors": {
                                "amount": [
                                    'Send the amount as a decimal string such as "1250.50", '
                                    "not as a JSON number: JSON numbers are floating point in "
                                    "many clients and lose cents."
                                ]
                            },
                        },
                    ],
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request) -> Response:
        envelope = PurchaseBulkInput(data=request.data)
        envelope.is_valid(raise_exception=True)
        items = envelope.validated_data["items"]
        results: list[dict[str, Any]] = [
            {
                "index": index,
                "external_id": _external_id_of(item),
                "status": "error",
                "purchase": None,
                "errors": None,
            }
            for index, item in enumerate(items)
        ]
        checker = PurchaseInput()
        valid: list[tuple[int, dict]] = []
        for index, item in enumerate(items):
            try:
                valid.append((index, checker.run_validation(item)))
            except serializers.ValidationError as error:
                results[index]["errors"] = flatten_errors(error.detail)
        by_id, by_external_id = visible_customers_by_reference(
            request.user,
            ids={data["customer"] for _index, data in valid if "customer" in data},
            external_ids={
                data["customer_external_id"]
                for _index, data in valid
                if "customer_external_id" in data
            },
        )
        lines: list[PurchaseLine] = []
        placed: list[tuple[int, Customer]] = []
        for index, data in valid:
            customer = _customer_of(data, by_id, by_external_id)
            if customer is None:
                results[index]["errors"] = _missing_customer_errors(data)
                continue
            lines.append(
                PurchaseLine(
                    customer_id=customer.pk,
                    occurred_at=data["occurred_at"],
                    amount=data["amount"],
                    external_id=data["external_id"],
                    currency=data.get("currency"),
                )
            )
            placed.append((index, customer))
        outcomes = record_purchases(lines=lines, source=Purchase.Source.API)
        recorded: list[tuple[int, Purchase]] = []
        for (index, customer), outcome in zip(placed, outcomes, strict=True):
            results[index]["status"] = outcome.status
            if outcome.purchase is None:
                results[index]["errors"] = {outcome.field: [outcome.message]}
                continue
            outcome.purchase.customer = customer
            recorded.append((index, outcome.purchase))
        bodies = PurchaseOutput([purchase for _index, purchase in recorded], many=True).data
        for (index, _purchase), body in zip(recorded, bodies, strict=True):
            results[index]["purchase"] = body
        counts = {"created": 0, "exists": 0, "error": 0}
        for result in results:
            counts[result["status"]] += 1
        return Response(
            {
                "created": counts["created"],
                "exists": counts["exists"],
                "errors": counts["error"],
                "results": results,
            }
        )


def _external_id_of(item: Any) -> str | None:
    value = item.get("external_id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


# --- refunds ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary=_("List refunds"),
        description=_("Refunds of purchases of the customers you may see, newest first."),
        responses={200: RefundOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A refund"), responses={200: RefundOutput, **error_responses(404)}
    ),
)
class RefundViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = RefundOutput
    filterset_class = RefundFilter
    action_permissions = {
        "list": ("customers.view_refund",),
        "retrieve": ("customers.view_refund",),
        "create": ("customers.add_refund",),
    }

    def get_queryset(self) -> QuerySet[Refund]:
        visible = Customer.objects.visible_ids(self.request.user)
        return (
            Refund.objects.filter(purchase__customer__in=visible)
            .select_related("purchase")
            .order_by("-occurred_at", "-id")
        )

    @extend_schema(
        summary=_("Record a refund (idempotent by external_id)"),
        description=_(
            "Refunds part or all of a purchase, named by our `purchase` id or by its "
            "`purchase_external_id`. **201** when new; **200** with the same body when the "
            "same refund (same purchase and amount) was recorded before; **409** when a "
            "different refund holds the `external_id`. A refund larger than what is left of "
            "the purchase is a 400 on `amount` that says how much is left. `amount` is a "
            "positive decimal string with at most two places; `occurred_at` defaults to now."
        ),
        request=RefundInput,
        responses={
            201: OpenApiResponse(RefundOutput, description=_("Recorded now.")),
            200: OpenApiResponse(
                RefundOutput, description=_("Recorded before: the stored refund.")
            ),
            **error_responses(400, 409),
        },
        examples=[
            OpenApiExample(
                "A partial refund",
                value={
                    "external_id": "VZ-000881",
                    "purchase_external_id": "RT-00012345",
                    "amount": "250.00",
                    "reason": "Damaged item",
                },
                request_only=True,
            ),
            OpenApiExample(
                "More than is left",
                value={
                    "code": "invalid",
                    "detail": "Invalid input.",
                    "fields": {"amount": ["Only 1000.50 of this purchase is left to refund."]},
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def create(self, request) -> Response:
        serializer = RefundInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        purchases = Purchase.objects.visible_to(request.user)
        if "purchase" in data:
            field, purchase = "purchase", purchases.filter(pk=data["purchase"]).first()
        else:
            field = "purchase_external_id"
            purchase = purchases.filter(external_id=data["purchase_external_id"]).first()
        if purchase is None:
            raise serializers.ValidationError(
                {field: [_("No purchase with this id that you may see.")]}
            )
        refund, created = _record_refund(purchase=purchase, data=data)
        if not created and (refund.purchase_id != purchase.pk or refund.amount != data["amount"]):
            raise Conflict(
                _("A different refund with this external id is already recorded."),
                field="external_id",
            )
        refund.purchase = purchase
        return Response(
            RefundOutput(refund).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def _record_refund(*, purchase: Purchase, data: dict) -> tuple[Refund, bool]:
    arguments = {
        "purchase_id": purchase.pk,
        "amount": data["amount"],
        "external_id": data["external_id"],
        "occurred_at": data.get("occurred_at"),
        "reason": data.get("reason", ""),
    }
    try:
        return services.record_refund(**arguments)
    except IntegrityError:
        # record_refund looks the external id up before it locks the purchase, so two identical
        # requests at once can both miss it; the loser's second call finds the winner's row.
        return services.record_refund(**arguments)


# --- scores and runs --------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary=_("List current scores"),
        description=_(
            "The current score of each customer you may see, highest revenue at risk first."
        ),
        responses={200: CustomerScoreOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A customer's current score"),
        parameters=[
            OpenApiParameter(
                "customer", OpenApiTypes.INT, OpenApiParameter.PATH, description=_("Customer id")
            )
        ],
        responses={200: CustomerScoreOutput, **error_responses(404)},
    ),
)
class ScoreViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = CustomerScoreOutput
    filterset_class = ScoreFilter
    lookup_url_kwarg = "customer"
    lookup_value_regex = r"-?\d+"
    action_permissions = {
        "list": ("customers.view_customer",),
        "retrieve": ("customers.view_customer",),
        "summary": ("customers.view_customer",),
    }

    def get_queryset(self) -> QuerySet[CustomerScore]:
        visible = Customer.objects.visible_ids(self.request.user)
        return (
            CustomerScore.objects.filter(customer__in=visible)
            .select_related("customer")
            .order_by("-revenue_at_risk", "customer_id")
        )

    @extend_schema(
        summary=_("Segment summary"),
        description=_(
            "Counts and revenue per value class x risk level of the scored customers you may "
            "see (the list's filters apply), the dormant count, the revenue concentration of "
            "the whole base from the latest finished scoring run, and the dormant rule in force."
        ),
        filters=True,
        responses={200: SegmentSummaryOutput, **error_responses(400)},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request, *args, **kwargs) -> Response:
        scores = self.filter_queryset(self.get_queryset())
        return Response(SegmentSummaryOutput(segment_summary_for(scores)).data)


@extend_schema_view(
    list=extend_schema(
        summary=_("List scoring runs (managers)"),
        responses={200: ScoringRunOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("A scoring run (managers)"),
        responses={200: ScoringRunOutput, **error_responses(404)},
    ),
)
class ScoringRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = ScoringRunOutput
    filterset_class = ScoringRunFilter
    action_permissions = {
        "list": ("customers.view_all_customers",),
        "retrieve": ("customers.view_all_customers",),
    }

    def get_queryset(self) -> QuerySet[ScoringRun]:
        return ScoringRun.objects.defer("fitted").order_by("-started_at", "-id")
