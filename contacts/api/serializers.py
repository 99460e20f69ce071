"""Shapes of the contacts API: `<Thing>Input` checks what comes in, `<Thing>Output` answers.

Inputs check the shape only and reject unknown fields; the services (log_call_outcome,
schedule_contact) decide the rules: caps, consent, reasons for leaving, callbacks.
"""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from common.api import MomentField, StrictFieldsMixin
from contacts.models import (
    CallListEntry,
    Channel,
    Kind,
    LeaveReason,
    Outcome,
    RefusedTouch,
    Touch,
)
from contacts.services.calls import PERSONAL_CHANNELS
from customers.models import RiskLevel, ValueClass

# A booking "for now" sent a little late by a slow client is still now; older is a mistake.
PAST_SLACK = timedelta(minutes=5)

# Named choice sets: the schema names its enums after these (ENUM_NAME_OVERRIDES).
CALL_LIST_ROW_STATUSES = [("open", _("Still to call")), ("done", _("Logged today"))]
PERSONAL_CHANNEL_CHOICES = [
    (value, label) for value, label in Channel.choices if value in PERSONAL_CHANNELS
]


class TouchOutput(serializers.ModelSerializer):
    """One entry of the contact log: a contact made (`done`), booked (`planned`) or withdrawn."""

    customer = serializers.IntegerField(source="customer_id", read_only=True)
    by = serializers.IntegerField(source="by_id", read_only=True, allow_null=True)
    plan = serializers.IntegerField(source="plan_id", read_only=True, allow_null=True)
    # Declared: a read-only model field loses allow_blank, and "" (no outcome yet) is an answer.
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_blank=True, read_only=True)
    leave_reason = serializers.ChoiceField(
        choices=LeaveReason.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Touch
        fields = [
            "id",
            "customer",
            "channel",
            "kind",
            "status",
            "at",
            "source",
            "by",
            "plan",
            "outcome",
            "leave_reason",
            "callback_at",
            "notes",
            "was_dormant",
            "created_at",
        ]
        read_only_fields = fields


def idempotency_key_field(help_text) -> serializers.RegexField:
    """An optional client-chosen key (letters, digits, `._:-`, up to 64 characters)."""
    return serializers.RegexField(r"^[A-Za-z0-9._:-]{1,64}$", required=False, help_text=help_text)


class ContactLogInput(StrictFieldsMixin, serializers.Serializer):
    """A contact a rep made (a call, an e-mail, a meeting) and what came of it."""

    customer = serializers.IntegerField(min_value=1, help_text=_("Our customer id."))
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    channel = serializers.ChoiceField(
        choices=PERSONAL_CHANNEL_CHOICES,
        required=False,
        default=Channel.PHONE,
        help_text=_("How the customer was contacted; a phone call unless said otherwise."),
    )
    at = MomentField(
        required=False,
        help_text=_("When it happened (ISO 8601); now when left out. Not in the future."),
    )
    callback_at = MomentField(
        required=False,
        allow_null=True,
        help_text=_("Required with the outcome `callback`: when to call back (in the future)."),
    )
    leave_reason = serializers.ChoiceField(
        choices=LeaveReason.choices,
        required=False,
        allow_blank=True,
        help_text=_(
            "Why the customer stopped buying; required when a dormant or lost customer was "
            "reached or declined."
        ),
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    key = idempotency_key_field(
        _(
            "Your idempotency key (letters, digits, `._:-`, up to 64): the same key again "
            "returns the contact logged the first time instead of logging it twice."
        )
    )

    def validate_at(self, value):
        if value > timezone.now() + PAST_SLACK:
            raise serializers.ValidationError(_("A contact that was made cannot be in the future."))
        return value


class ScheduleContactInput(StrictFieldsMixin, serializers.Serializer):
    """A contact to book: checked against consent, a pause and the frequency caps."""

    customer = serializers.IntegerField(min_value=1, help_text=_("Our customer id."))
    channel = serializers.ChoiceField(choices=Channel.choices)
    kind = serializers.ChoiceField(choices=Kind.choices, default=Kind.PERSONAL, required=False)
    at = MomentField(
        required=False,
        allow_null=True,
        help_text=_(
            "When (ISO 8601). Left out: as soon as the rules allow from now. A time outside the "
            "customer's contact hours moves to their next start."
        ),
    )
    key = idempotency_key_field(
        _(
            "Your idempotency key (letters, digits, `._:-`, up to 64): the same key again "
            "returns the booking made the first time instead of booking twice."
        )
    )

    def validate_at(self, value):
        if value is not None and value < timezone.now() - PAST_SLACK:
            raise serializers.ValidationError(_("Choose a time in the future."))
        return value


class RefusalContextOutput(serializers.Serializer):
    """The `context` of a 409 refusal of a booking."""

    reason = serializers.ChoiceField(choices=RefusedTouch.Reason.choices)
    next_allowed_at = serializers.DateTimeField(
        allow_null=True,
        help_text=_("The earliest time the rules would allow it; null without consent."),
    )
    refusal = serializers.IntegerField(
        allow_null=True, help_text=_("The id of the logged refusal (shown on the customer page).")
    )


class RefusalOutput(serializers.Serializer):
    """The body of a 409 answer to a booking: refused by the rules, or a reused key."""

    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    context = RefusalContextOutput(
        required=False, help_text=_("With a refusal by the rules; absent for a reused key.")
    )


class CallListEntryOutput(serializers.ModelSerializer):
    class Meta:
        model = CallListEntry
        fields = ["id", "day", "reason", "status", "due_by", "callback_at", "offer", "note"]
        read_only_fields = fields


class CallListRowOutput(serializers.Serializer):
    """One customer on a rep's call list, with why to call and what is known."""

    customer = serializers.IntegerField(source="customer.pk")
    customer_name = serializers.CharField(source="customer.name")
    customer_external_id = serializers.CharField(source="customer.external_id", allow_null=True)
    phone = serializers.CharField(source="customer.phone")
    email = serializers.CharField(source="customer.email")
    status = serializers.ChoiceField(choices=CALL_LIST_ROW_STATUSES)
    priority = serializers.FloatField(help_text=_("Higher first: value, risk, time since contact."))
    value_class = serializers.ChoiceField(choices=ValueClass.choices, allow_null=True)
    risk_level = serializers.ChoiceField(choices=RiskLevel.choices, allow_null=True)
    dormant = serializers.BooleanField(allow_null=True)
    overdue_days = serializers.IntegerField()
    last_contact_at = serializers.DateTimeField(allow_null=True)
    last_personal_at = serializers.DateTimeField(allow_null=True)
    callback_at = serializers.DateTimeField(allow_null=True)
    offer = serializers.CharField(allow_blank=True)
    needs_reason = serializers.BooleanField(
        help_text=_("Logging a reached or declined call needs a reason for leaving.")
    )
    entries = CallListEntryOutput(many=True)
    touch = serializers.IntegerField(
        allow_null=True, help_text=_("The logged contact, for rows already done today.")
    )


class CallListQuery(serializers.Serializer):
    """Whose list, which day (query parameters)."""

    rep = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text=_("Managers: whose list (a rep's user id). Others see their own list only."),
    )
    day = serializers.DateField(required=False, help_text=_("YYYY-MM-DD; today by default."))
