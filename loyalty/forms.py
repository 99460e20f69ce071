"""Forms check the shape of input; the services decide the rules."""

from crispy_forms.helper import FormHelper
from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Reward


class RedeemForm(forms.Form):
    reward = forms.ModelChoiceField(
        label=_("Reward"), queryset=Reward.objects.none(), empty_label=_("Choose a reward")
    )
    # A key per rendered form: submitting the same form twice redeems once.
    key = forms.CharField(widget=forms.HiddenInput, max_length=100, min_length=8)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reward"].queryset = Reward.objects.active()
        self.fields["reward"].label_from_instance = lambda reward: (
            _("%(name)s — %(cost)s points") % {"name": reward.name, "cost": reward.cost}
        )
        self.helper = FormHelper()
        self.helper.form_tag = False


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        help_text=_("Negative to remove points; the balance never goes below zero."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=255)
    key = forms.CharField(widget=forms.HiddenInput, max_length=100, min_length=8)

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("Enter a number of points other than zero."))
        return points


class MemberPreferencesForm(forms.Form):
    """The member page's preference centre: consent per channel, as the customer sets it."""

    email = forms.BooleanField(label=_("E-mail"), required=False)
    sms = forms.BooleanField(label=_("SMS"), required=False)
    phone = forms.BooleanField(label=_("Phone calls"), required=False)
    social = forms.BooleanField(label=_("Social networks"), required=False)

    CHANNELS = ("email", "sms", "phone", "social")

    def __init__(self, *args, customer, **kwargs) -> None:
        self.customer = customer
        kwargs.setdefault(
            "initial",
            {channel: getattr(customer, f"consent_{channel}") for channel in self.CHANNELS},
        )
        super().__init__(*args, **kwargs)

    def changes(self) -> dict[str, bool]:
        """Channel -> new consent, for the channels the customer changed."""
        return {
            channel: self.cleaned_data[channel]
            for channel in self.CHANNELS
            if self.cleaned_data[channel] != getattr(self.customer, f"consent_{channel}")
        }
