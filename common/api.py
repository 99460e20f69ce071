"""The API's shared kernel: error shape and handler, strict input, money fields, throttles, paging.

Every app's viewsets use these, so all endpoints answer errors the same way:
`{"code": "...", "detail": "...", "fields": {"field": ["message", ...]}}` (`fields` only when
particular fields are at fault; nested fields are joined with dots: `items.3.amount`).
"""

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import exceptions, pagination, permissions, serializers, throttling
from rest_framework.fields import get_error_detail
from rest_framework.settings import api_settings

from .errors import DomainError

logger = logging.getLogger(__name__)

# --- errors -----------------------------------------------------------------------------------


class Conflict(exceptions.APIException):
    """409: the request is well-formed but contradicts what is already recorded."""

    status_code = 409
    default_code = "conflict"
    default_detail = _("The request conflicts with data already recorded.")

    def __init__(self, message=None, *, field: str | None = None, context: dict | None = None):
        super().__init__(detail=message or self.default_detail, code=self.default_code)
        self.field = field
        self.context = context or {}

    @classmethod
    def from_domain(cls, error: DomainError, *, context: dict | None = None) -> "Conflict":
        """A refusal by a service that the API reports as a conflict rather than bad input."""
        return cls(error.message, field=error.field, context=context)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as `{"a.0.b": ["message"]}`; valid list items add nothing."""
    non_field = api_settings.NON_FIELD_ERRORS_KEY
    if isinstance(detail, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            return {prefix or non_field: [str(item) for item in detail]} if detail else {}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or non_field: [str(detail)]}


def exception_handler(exc: Exception, context: dict) -> Any:
    """Turns every refusal into the shared error shape; `DomainError` and Django's
    `ValidationError` become 400s with field messages, anything else unexpected stays a 500."""
    # Imported here: rest_framework.views reads the throttle classes of this module on import.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DomainError):
        exc = exceptions.ValidationError(
            {exc.field or api_settings.NON_FIELD_ERRORS_KEY: [exc.message]}
        )
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(get_error_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        exc = _throttled_instead(exc, context)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    body: dict[str, Any] = {"code": exc.default_code, "detail": str(exc.default_detail)}
    if isinstance(exc, exceptions.ValidationError):
        body["fields"] = flatten_errors(exc.detail)
    elif isinstance(exc, Conflict):
        body["detail"] = str(exc.detail)
        if exc.field:
            body["fields"] = {exc.field: [str(exc.detail)]}
        if exc.context:
            body["context"] = exc.context
    else:
        body["detail"] = str(exc.detail)
    response.data = body
    return response


def _throttled_instead(exc: exceptions.APIException, context: dict) -> exceptions.APIException:
    # DRF checks permissions before throttles, so calls without valid credentials would never
    # be throttled and tokens could be guessed at full speed. They count as anonymous calls here.
    view, request = context.get("view"), context.get("request")
    if view is None or request is None:
        return exc
    try:
        view.check_throttles(request)
    except exceptions.Throttled as throttled:
        return throttled
    return exc


class ErrorOutput(serializers.Serializer):
    """The body of every 4xx answer."""

    code = serializers.CharField(
        help_text=_(
            "Machine-readable: invalid, not_found, conflict, throttled, not_authenticated, "
            "authentication_failed, permission_denied, method_not_allowed, parse_error, ..."
        )
    )
    detail = serializers.CharField(help_text=_("A sentence a person can read."))
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=_(
            "Messages per input field; nested fields are joined with dots (items.3.amount); "
            "errors not tied to one field are under non_field_errors."
        ),
    )
    context = serializers.DictField(
        required=False, help_text=_("Extra facts about a conflict, when there are any.")
    )


_ERROR_DESCRIPTIONS = {
    400: _("Invalid input: `fields` names each field at fault and why."),
    401: _("No valid credentials: send `Authorization: Token <key>` or log in."),
    403: _("Authenticated, but this role may not do this."),
    404: _("Not found, or not visible to you (another rep's customer is a 404, never a 403)."),
    409: _("Conflicts with data already recorded."),
    429: _("Too many requests: wait for the number of seconds in the Retry-After header."),
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the given error statuses, all with the shared error body.

    401, 403 and 429 apply to every endpoint and are always included.
    """
    wanted = sorted({*statuses, 401, 403, 429})
    return {
        status: OpenApiResponse(response=ErrorOutput, description=_ERROR_DESCRIPTIONS[status])
        for status in wanted
    }


# --- input ------------------------------------------------------------------------------------

# Browser forms (the browsable API) add the CSRF token to the posted fields.
_TRANSPORT_FIELDS = frozenset({"csrfmiddlewaretoken"})


class StrictFieldsMixin:
    """Rejects input fields the serializer does not accept, instead of silently ignoring them.

    Unknown names get "Unknown field."; read-only ones get "This field cannot be set."; a
    serializer may refuse accepted fields with its own message by filling `refused_fields`
    (name -> message), e.g. owner changes by a rep. These errors come together with the
    ordinary validation errors, in one 400.
    """

    refused_fields: dict[str, str]

    def to_internal_value(self, data):
        problems: dict[str, list] = {}
        if isinstance(data, Mapping):
            refused = getattr(self, "refused_fields", {})
            for name in data:
                if name in _TRANSPORT_FIELDS:
                    continue
                if name in refused:
                    message, code = refused[name], "refused_field"
                elif name not in self.fields:
                    message, code = _("Unknown field."), "unknown_field"
                elif self.fields[name].read_only:
                    message, code = _("This field cannot be set."), "read_only_field"
                else:
                    continue
                problems[name] = [serializers.ErrorDetail(str(message), code=code)]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if not isinstance(error.detail, Mapping):
                raise
            raise serializers.ValidationError({**error.detail, **problems}) from None
        if problems:
            raise serializers.ValidationError(problems)
        return value


# Digits with an optional point: no exponent, no thousands separators, no "NaN" or "Infinity".
_DECIMAL_TEXT = re.compile(r"[+-]?\d+(?:\.\d+)?")


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^\d{1,12}(?:\.\d{1,2})?$",
        "example": "1250.50",
    }
)
class MoneyField(serializers.DecimalField):
    """An amount of money as a decimal string with at most two places ("1250.50").

    JSON numbers are refused: many clients hold them as binary floats, so 0.1 + 0.2 arrives as
    0.30000000000000004 and would be silently rounded. A string keeps the cents exact.
    """

    default_error_messages = {
        "not_a_string": _(
            'Send the amount as a decimal string such as "1250.50", not as a JSON number: '
            "JSON numbers are floating point in many clients and lose cents."
        ),
        "format": _('Write the amount as digits with an optional point, e.g. "1250.50".'),
    }

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("0"))
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_a_string")
        if not _DECIMAL_TEXT.fullmatch(data.strip()):
            self.fail("format")
        return super().to_internal_value(data)


class MomentField(serializers.DateTimeField):
    """An ISO 8601 time. One without an offset is read in the server's TIME_ZONE setting
    (ambiguous or non-existent local times are refused rather than guessed).

    Answers always carry the offset, so a client can store them as they come.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "help_text",
            _(
                "ISO 8601, e.g. 2025-03-14T16:05:00+03:00. A time without an offset is read in "
                "the server's time zone (the TIME_ZONE setting); one that does not exist there or "
                "is ambiguous (a daylight-saving change) is refused."
            ),
        )
        super().__init__(**kwargs)

    # Nothing this API records happened before 1970; earlier times are typos (year 25 for 2025),
    # and local times before the 1920s carry offsets with seconds (Moscow: +02:30:17) that
    # RFC 3339, and so the schema's date-time, cannot express.
    EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

    default_error_messages = {
        "too_early": _("Times before 1970 are not accepted."),
        "local_time_unclear": _(
            "This local time is ambiguous or does not exist in %(zone)s (a daylight-saving "
            "change); send it with its UTC offset."
        ),
    }

    def enforce_timezone(self, value):
        zone = getattr(self, "timezone", None) or self.default_timezone()
        if zone is not None and timezone.is_naive(value):
            # Both readings of the wall-clock time (fold 0 and 1) must agree; they differ when
            # the clocks went back (the time happened twice) or forward (it never happened).
            local = value.replace(tzinfo=zone)
            if local.utcoffset() != local.replace(fold=1).utcoffset():
                raise serializers.ValidationError(
                    self.error_messages["local_time_unclear"] % {"zone": zone},
                    code="local_time_unclear",
                )
        try:
            moment = super().enforce_timezone(value)
        except OverflowError:
            # DRF checks naive times near datetime.min against UTC without catching this.
            self.fail("overflow")
        if timezone.is_aware(moment) and moment < self.EARLIEST:
            self.fail("too_early")
        return moment


# --- access -----------------------------------------------------------------------------------


class ActionPermissions(permissions.BasePermission):
    """Each viewset names, per action, the Django permissions it needs (`action_permissions`).

    An action the map does not name is refused, so a new action is closed until someone decides
    who may use it. What a user may *see* is decided by the viewset's queryset (a selector).
    """

    def has_permission(self, request, view) -> bool:
        action = getattr(view, "action", None)
        if action in (None, "metadata"):
            # No action: the method is not allowed and the view answers 405 itself.
            return True
        needed = getattr(view, "action_permissions", {}).get(action)
        if needed is None:
            return False
        return request.user.has_perms(needed)


class _FailOpenOnCacheErrors:
    """Lets calls through while the throttle's cache (Redis in production) cannot be reached.

    The rates protect capacity, not data: refusing every API call (500s) while Redis restarts
    would turn a cache outage into an outage of purchase ingestion. The failure is logged.
    """

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as error:  # noqa: BLE001 - any cache failure: do not throttle
            logger.warning(
                "api.throttle_cache_unavailable scope=%s error=%s", self.scope, type(error).__name__
            )
            return True


class AnonRateThrottle(_FailOpenOnCacheErrors, throttling.AnonRateThrottle):
    """Rate per client address for unauthenticated calls, read from settings on each request."""

    def get_rate(self) -> str | None:
        return _rate_for(self.scope)


class UserRateThrottle(_FailOpenOnCacheErrors, throttling.UserRateThrottle):
    """Rate per user (token or session), read from settings on each request."""

    def get_rate(self) -> str | None:
        return _rate_for(self.scope)


def _rate_for(scope: str) -> str | None:
    # DRF's own throttles copy the rates once at import; reading them per request lets
    # deployments (and tests) change them through the REST_FRAMEWORK setting.
    try:
        return api_settings.DEFAULT_THROTTLE_RATES[scope]
    except KeyError:
        raise ImproperlyConfigured(f"No throttle rate set for scope {scope!r}.") from None


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N`, 50 rows by default, `?page_size=` up to 500 for systems reading everything.

    A page that is not a number, below 1 or past the last one is a 400 on `page` (DRF answers
    404, which every list would then have to document as if the list itself were missing).
    """

    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound as error:
            raise exceptions.ValidationError({self.page_query_param: [error.detail]}) from error


# The range of the database's 64-bit ids; a larger number would fail in the database, not match.
ID_MIN, ID_MAX = -(2**63), 2**63 - 1


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """A filter on an id: whole numbers in the ids' range only ("1.5", "x" or 2**64 is a 400,
    not an empty list or a database error)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", ID_MIN)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)


class _MomentFormField(IsoDateTimeField):
    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return moment
        try:
            # The same instant in UTC: offsets the database cannot hold (beyond +-15:59, which
            # parse fine) and far-off years stay a comparison, not a database error.
            return moment.astimezone(UTC)
        except (OverflowError, ValueError) as error:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from error


@extend_schema_field(OpenApiTypes.DATETIME)
class MomentFilter(filters.IsoDateTimeFilter):
    """A filter on a time (ISO 8601; without an offset read in the server's time zone)."""

    field_class = _MomentFormField


class BoundedLookupMixin:
    """A detail URL with an id beyond the ids' range is a 404 like any other missing id.

    Django turns such numbers into "no match" for plain integer columns, but not for a primary
    key that is also a relation (a score's customer), where the database would fail instead.
    """

    def get_object(self):
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        digits = isinstance(value, str) and value.lstrip("-").isdigit()
        if digits and not ID_MIN <= int(value) <= ID_MAX:
            raise exceptions.NotFound()
        return super().get_object()


class StableOrderingFilter(filters.OrderingFilter):
    """An `ordering` parameter whose pages never overlap: ties are broken by the primary key."""

    def filter(self, qs, value):
        ordered = super().filter(qs, value)
        if value:
            ordered = ordered.order_by(*ordered.query.order_by, "pk")
        return ordered
