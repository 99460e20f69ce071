"""The contacts API: a rep's call list, the contact log, and booking a contact within the rules.

Scoping is the UI's: customers come from `Customer.objects.visible_to(user)`, so another rep's
customer is a 404 whether it is read or written to; a rep sees their own call list only, a
manager (contacts.manage_team_contacts) chooses whose.
"""

from typing import Any

from django.db import IntegrityError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from common.api import Conflict, error_responses
from contacts import selectors, services
from contacts.errors import (
    CapExceededError,
    ContactRefusedError,
    NoAddressError,
    NoConsentError,
    PausedError,
)
from contacts.models import CallListEntry, RefusedTouch, Touch
from customers.api.views import ScopedViewSet, caller_key, visible_customer
from customers.models import Customer
from customers.selectors import reps_queryset

from .filters import TouchFilter
from .serializers import (
    CallListQuery,
    CallListRowOutput,
    ContactLogInput,
    RefusalOutput,
    ScheduleContactInput,
    TouchOutput,
)


def _moment(value) -> str | None:
    return None if value is None else serializers.DateTimeField().to_representation(value)


# --- call list --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary=_("A rep's call list for a day"),
        description=_(
            "The customers to call on `day` (today by default), most important first, each with "
            "its reasons (open entries carried over until done) and what is known about it; then "
            "the rows already logged that day (`status` = `done`). Reps get their own list; "
            "managers get their own or, with `rep`, any rep's. A `rep` you may not choose, or "
            "who is not an active rep, is a 404."
        ),
        parameters=[CallListQuery],
        responses={200: CallListRowOutput(many=True), **error_responses(400, 404)},
    )
)
class CallListViewSet(mixins.ListModelMixin, ScopedViewSet):
    serializer_class = CallListRowOutput
    queryset = CallListEntry.objects.none()
    filter_backends: list = []
    action_permissions = {"list": ("contacts.view_calllistentry",)}

    def _rep(self, rep_id: int | None):
        user = self.request.user
        if rep_id is None or rep_id == user.pk:
            return user
        if not selectors.can_manage_team(user):
            raise NotFound(_("You can only see your own call list."))
        rep = reps_queryset().filter(pk=rep_id).first()
        if rep is None:
            raise NotFound(_("No active rep with this id."))
        return rep

    def list(self, request, *args, **kwargs) -> Response:
        query = CallListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rep = self._rep(query.validated_data.get("rep"))
        call_list = selectors.call_list_for(
            rep=rep, day=query.validated_data.get("day") or timezone.localdate()
        )
        rows = [_row(row, "open") for row in call_list.rows]
        rows += [_row(row, "done") for row in call_list.done_rows]
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(CallListRowOutput(page, many=True).data)


def _row(row: selectors.CallListRow, status_name: str) -> dict[str, Any]:
    score = row.score
    return {
        "customer": row.customer,
        "status": status_name,
        "priority": round(row.priority, 4),
        "value_class": score.value_class if score else None,
        "risk_level": score.risk_level if score else None,
        "dormant": score.dormant if score else None,
        "overdue_days": row.overdue_days,
        "last_contact_at": row.last_contact_at,
        "last_personal_at": row.last_personal_at,
        "callback_at": row.callback_at,
        "offer": row.offer,
        "needs_reason": row.needs_reason,
        "entries": row.entries,
        "touch": row.touch.pk if row.touch else None,
    }


# --- contact log ------------------------------------------------------------------------------

_LOG_EXAMPLE = {
    "customer": 42,
    "outcome": "callback",
    "channel": "phone",
    "callback_at": "2025-03-15T11:00:00+03:00",
    "notes": "Asked to call back after the board meeting.",
}
_TOUCH_EXAMPLE = {
    "id": 5120,
    "customer": 42,
    "channel": "phone",
    "kind": "personal",
    "status": "done",
    "at": "2025-03-14T16:05:00+03:00",
    "source": "rep",
    "by": 7,
    "plan": None,
    "outcome": "callback",
    "leave_reason": "",
    "callback_at": "2025-03-15T11:00:00+03:00",
    "notes": "Asked to call back after the board meeting.",
    "was_dormant": False,
    "created_at": "2025-03-14T16:05:01.004000+03:00",
}


@extend_schema_view(
    list=extend_schema(
        summary=_("The contact log"),
        description=_(
            "Contacts with the customers you may see, newest first: made (`done`), booked "
            "(`planned`) or withdrawn (`cancelled`), by reps, contact plans or messages. "
            "Filter by `customer` for one customer's history."
        ),
        responses={200: TouchOutput(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary=_("One contact"), responses={200: TouchOutput, **error_responses(404)}
    ),
)
class ContactLogViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    serializer_class = TouchOutput
    filterset_class = TouchFilter
    action_permissions = {
        "list": ("contacts.view_touch",),
        "retrieve": ("contacts.view_touch",),
        "create": ("contacts.add_touch",),
    }

    def get_queryset(self) -> QuerySet[Touch]:
        visible = Customer.objects.visible_ids(self.request.user)
        return Touch.objects.filter(customer__in=visible).order_by("-at", "-id")

    @extend_schema(
        summary=_("Log a contact's outcome"),
        description=_(
            "Records a call (or an e-mail, or a meeting) that happened, as the call list does: "
            "it counts for the frequency caps, closes the customer's open call-list entries of "
            "the day, brings a promised callback back on its day and a no-answer after a few "
            "days. A contact that happened is never refused by a cap. `callback_at` is required "
            "(and in the future) with the outcome `callback`; a dormant or lost customer who was "
            "reached or declined needs a `leave_reason`. With a `key`, the request is "
            "idempotent: the same key again answers **200** with the contact logged the first "
            "time; a key already used for a different contact is a 409 on `key`. A customer you "
            "may not see is a 404."
        ),
        request=ContactLogInput,
        responses={
            201: TouchOutput,
            200: OpenApiResponse(
                TouchOutput, description=_("Logged before under this key: that contact.")
            ),
            **error_responses(400, 404, 409),
        },
        examples=[
            OpenApiExample("A callback promised", value=_LOG_EXAMPLE, request_only=True),
            OpenApiExample(
                "Logged", value=_TOUCH_EXAMPLE, response_only=True, status_codes=["201"]
            ),
            OpenApiExample(
                "A dormant customer reached without a reason",
                value={
                    "code": "invalid",
                    "detail": "Invalid input.",
                    "fields": {
                        "leave_reason": ["This customer stopped buying: record why they left."]
                    },
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def create(self, request, *args, **kwargs) -> Response:
        serializer = ContactLogInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = visible_customer(request.user, data["customer"])
        key = caller_key(request.user, data.get("key"))
        wanted = {"customer_id": customer.pk, "channel": data["channel"], "outcome": data["outcome"]}
        reused = _("This key was already used for another contact.")
        if key is not None:
            earlier = Touch.objects.filter(key=key).first()
            if earlier is not None:
                return _replay(earlier, wanted, reused)
        started = timezone.now()
        try:
            touch = services.log_call_outcome(
                customer_id=customer.pk,
                by=request.user,
                outcome=data["outcome"],
                channel=data["channel"],
                notes=data.get("notes", ""),
                callback_at=data.get("callback_at"),
                leave_reason=data.get("leave_reason", ""),
                at=data.get("at"),
                key=key,
            )
        except IntegrityError:
            # The same key logged at once by a request for another customer.
            earlier = Touch.objects.filter(key=key).first() if key else None
            if earlier is None:
                raise
            return _replay(earlier, wanted, reused)
        if key is not None and touch.created_at < started:
            # A concurrent request with the same key logged first; its contact is the answer.
            return _replay(touch, wanted, reused)
        return Response(TouchOutput(touch).data, status=status.HTTP_201_CREATED)


def _replay(earlier: Touch, wanted: dict, reused: str) -> Response:
    """The answer to a key used before: what was made then (200), or a 409 if it was different."""
    if not all(getattr(earlier, name) == value for name, value in wanted.items()):
        raise Conflict(reused, field="key")
    return Response(TouchOutput(earlier).data, status=status.HTTP_200_OK)


# --- booking ----------------------------------------------------------------------------------

_REASON_OF = {
    NoConsentError: RefusedTouch.Reason.NO_CONSENT,
    PausedError: RefusedTouch.Reason.PAUSED,
    CapExceededError: RefusedTouch.Reason.CAP,
    NoAddressError: RefusedTouch.Reason.NO_ADDRESS,
}


def _refusal_conflict(error: ContactRefusedError) -> Conflict:
    return Conflict(
        error.message,
        field=error.field or "at",
        context={
            "reason": _REASON_OF.get(type(error), ""),
            "next_allowed_at": _moment(error.next_allowed_at),
            "refusal": error.refusal_id,
        },
    )


class ContactBookingViewSet(mixins.CreateModelMixin, ScopedViewSet):
    serializer_class = TouchOutput
    queryset = Touch.objects.none()
    action_permissions = {"create": ("contacts.add_touch",)}

    @extend_schema(
        summary=_("Book a contact (within consent, pauses and frequency caps)"),
        description=_(
            "Books a planned contact with a customer at `at` (or as soon as allowed), through the "
            "same rules as the UI and the nightly planner: consent for the channel, a pause, the "
            "customer's contact hours and every frequency cap, counting all contacts on the "
            "channel (rep calls, messages, plans). **201** with the planned contact. **409** "
            "when the rules refuse it: `detail` says why in words, `context.reason` is "
            "`no_consent`, `paused`, `cap` or `no_address`, and `context.next_allowed_at` is the "
            "earliest time it would be allowed (null when only new consent would allow it). "
            "Every refusal is logged and shown on the customer page.\n\n"
            "With a `key`, the request is idempotent: the same key again answers **200** with "
            "the booking made the first time; a key already used for a different booking is a "
            "409 on `key`. A customer you may not see is a 404."
        ),
        request=ScheduleContactInput,
        responses={
            201: OpenApiResponse(TouchOutput, description=_("Booked now.")),
            200: OpenApiResponse(
                TouchOutput, description=_("Booked before under this key: that booking.")
            ),
            409: OpenApiResponse(
                RefusalOutput,
                description=_(
                    "Refused by consent, a pause or a cap (with the reason and the next allowed "
                    "time), or the key was used for a different booking."
                ),
            ),
            **error_responses(400, 404),
        },
        examples=[
            OpenApiExample(
                "An SMS",
                value={
                    "customer": 42,
                    "channel": "sms",
                    "kind": "advertising",
                    "at": "2025-03-14T12:00:00+03:00",
                    "key": "spring-promo-42",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Booked",
                value={
                    **_TOUCH_EXAMPLE,
                    "channel": "sms",
                    "kind": "advertising",
                    "status": "planned",
                    "at": "2025-03-14T12:00:00+03:00",
                    "outcome": "",
                    "callback_at": None,
                    "notes": "",
                },
                response_only=True,
                status_codes=["201"],
            ),
            OpenApiExample(
                "Refused by the frequency cap",
                value={
                    "code": "conflict",
                    "detail": "SMS: already sent on 03.03.2025; next allowed 02.04.2025 10:00.",
                    "fields": {
                        "at": ["SMS: already sent on 03.03.2025; next allowed 02.04.2025 10:00."]
                    },
                    "context": {
                        "reason": "cap",
                        "next_allowed_at": "2025-04-02T10:00:00+03:00",
                        "refusal": 311,
                    },
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def create(self, request, *args, **kwargs) -> Response:
        serializer = ScheduleContactInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = visible_customer(request.user, data["customer"])
        key = caller_key(request.user, data.get("key"))
        wanted = {"customer_id": customer.pk, "channel": data["channel"], "kind": data["kind"]}
        if key is not None:
            earlier = Touch.objects.filter(key=key).first()
            if earlier is not None:
                return self._replay(earlier, wanted)
        started = timezone.now()
        try:
            touch = services.schedule_contact(
                customer_id=customer.pk,
                channel=data["channel"],
                kind=data["kind"],
                at=data.get("at"),
                source=Touch.Source.REP,
                by=request.user,
                key=key,
            )
        except ContactRefusedError as error:
            raise _refusal_conflict(error) from error
        except IntegrityError:
            # The same key booked by a concurrent request, for another customer than this one.
            earlier = Touch.objects.filter(key=key).first() if key else None
            if earlier is None:
                raise
            return self._replay(earlier, wanted)
        if touch.created_at < started:
            # A concurrent request with the same key booked first; its booking is the answer.
            return self._replay(touch, wanted)
        return Response(TouchOutput(touch).data, status=status.HTTP_201_CREATED)

    @staticmethod
    def _replay(earlier: Touch, wanted: dict) -> Response:
        return _replay(earlier, wanted, _("This key was already used for a different booking."))
