"""Forms check the shape of input; the contacts services decide the rules."""

from datetime import timedelta

from crispy_forms.helper import FormHelper
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import CONSENT_CHANNELS, Channel, Feedback, Kind, LeaveReason, Outcome

PERSONAL_CHANNEL_CHOICES = [
    (Channel.PHONE, _("Phone call")),
    (Channel.EMAIL, _("E-mail")),
    (Channel.IN_PERSON, _("Meeting")),
]


def _no_form_tag(form: forms.Form) -> None:
    form.helper = FormHelper()
    form.helper.form_tag = False


class CallOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Outcome.choices)
    channel = forms.ChoiceField(
        label=_("How"), choices=PERSONAL_CHANNEL_CHOICES, initial=Channel.PHONE, required=False
    )
    callback_at = forms.DateTimeField(
        label=_("Call back at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    leave_reason = forms.ChoiceField(
        label=_("Reason for leaving"),
        choices=[("", _("—")), *LeaveReason.choices],
        required=False,
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_channel(self) -> str:
        return self.cleaned_data.get("channel") or Channel.PHONE

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("outcome") == Outcome.CALLBACK and not cleaned.get("callback_at"):
            self.add_error("callback_at", _("Say when to call back."))
        return cleaned


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[(c.value, c.label) for c in CONSENT_CHANNELS]
    )
    granted = forms.TypedChoiceField(
        label=_("Consent"),
        choices=[("1", _("Agreed")), ("0", _("Withdrawn"))],
        coerce=lambda value: value == "1",
    )
    note = forms.CharField(label=_("How the customer said so"), required=False, max_length=200)


class PreferencesForm(forms.Form):
    preferred_channel = forms.ChoiceField(
        label=_("Preferred channel"),
        choices=[("", _("No preference")), *Channel.choices],
        required=False,
    )
    paused_until = forms.DateField(
        label=_("Do not contact until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    pause_reason = forms.CharField(label=_("Why paused"), required=False, max_length=200)
    contact_from = forms.TimeField(
        label=_("Contact from (local time)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    contact_until = forms.TimeField(
        label=_("Contact until (local time)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _no_form_tag(self)


class CapOverrideForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices)
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[
            ("", _("Every kind")),
            *[(k, label) for k, label in Kind.choices if k != Kind.SERVICE],
        ],
        required=False,
    )
    max_count = forms.IntegerField(
        label=_("At most"),
        min_value=1,
        max_value=100,
        required=False,
        help_text=_("Leave empty for no limit."),
    )
    period_days = forms.IntegerField(label=_("Per days"), min_value=1, max_value=366, initial=7)
    note = forms.CharField(label=_("As agreed"), required=False, max_length=200)
    remove = forms.BooleanField(label=_("Remove this override"), required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _no_form_tag(self)


class ScheduleContactForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices)
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices, initial=Kind.PERSONAL)
    at = forms.DateTimeField(
        label=_("When"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text=_("Empty: as soon as allowed today."),
    )

    def clean_at(self):
        at = self.cleaned_data.get("at")
        if at is not None and at < timezone.now() - timedelta(minutes=5):
            raise forms.ValidationError(_("Choose a time in the future."))
        return at


class FeedbackForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("How likely are you to recommend us to a friend or colleague?"),
        choices=[(str(n), str(n)) for n in range(11)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    reasons = forms.MultipleChoiceField(
        label=_("What matters most?"),
        choices=Feedback.Chip.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    comment = forms.CharField(
        label=_("Anything else?"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class RepPerformanceForm(forms.Form):
    start = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            self.add_error("end", _("The end must not be before the start."))
        if start and end and (end - start).days > 366:
            self.add_error("start", _("Choose at most a year."))
        return cleaned
