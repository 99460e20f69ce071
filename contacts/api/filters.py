"""Query-string filters of the contact log. They narrow what the selector allows, never widen it."""

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters

from common.api import IdFilter, MomentFilter, StableOrderingFilter
from contacts.models import Channel, Kind, Outcome, Touch


class TouchFilter(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", label=_("Our customer id"))
    by = IdFilter(field_name="by_id", label=_("The user who logged or booked it"))
    channel = filters.ChoiceFilter(choices=Channel.choices)
    kind = filters.ChoiceFilter(choices=Kind.choices)
    status = filters.ChoiceFilter(choices=Touch.Status.choices)
    source = filters.ChoiceFilter(choices=Touch.Source.choices)
    outcome = filters.ChoiceFilter(choices=Outcome.choices)
    at_after = MomentFilter(field_name="at", lookup_expr="gte", label=_("At or after (ISO 8601)"))
    at_before = MomentFilter(field_name="at", lookup_expr="lt", label=_("Before (ISO 8601)"))
    ordering = StableOrderingFilter(fields=(("at", "at"), ("created_at", "created_at")))

    class Meta:
        model = Touch
        fields: list[str] = []
