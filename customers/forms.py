"""Forms check the shape of input; the services decide the rules."""

from decimal import Decimal

from crispy_forms.helper import FormHelper
from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from common.forms import KeptModelChoiceField

from .models import Customer, RfmSegment, RiskLevel, Tag, ValueClass
from .selectors import active_reps, kept_tags, reps_queryset


class CustomerFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False)
    # Options from the cache: the reps change with users and groups, the tags with tag rows.
    owner = KeptModelChoiceField(
        label=_("Owner rep"), queryset=None, required=False, rows=active_reps
    )
    stage = forms.ChoiceField(
        label=_("Stage"), choices=[("", _("Any stage")), *Customer.Stage.choices], required=False
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", _("Any kind")), *Customer.Kind.choices], required=False
    )
    tag = KeptModelChoiceField(
        label=_("Tag"), queryset=Tag.objects.all(), required=False, rows=kept_tags
    )
    unassigned = forms.BooleanField(label=_("Unassigned only"), required=False)
    value_class = forms.ChoiceField(
        label=pgettext_lazy("customer value", "Value"),
        choices=[("", _("Any value")), *ValueClass.choices],
        required=False,
    )
    risk = forms.ChoiceField(
        label=_("Risk"), choices=[("", _("Any risk")), *RiskLevel.choices], required=False
    )
    dormant = forms.NullBooleanField(
        label=_("Dormant"),
        required=False,
        widget=forms.Select(
            choices=[("", _("Any")), ("true", _("Dormant")), ("false", _("Not dormant"))]
        ),
    )
    segment = forms.ChoiceField(
        label=_("RFM segment"),
        choices=[("", _("Any segment")), *RfmSegment.choices],
        required=False,
    )
    ordering = forms.ChoiceField(
        label=_("Order by"),
        required=False,
        choices=[
            ("name", _("Name")),
            ("-last_purchase", _("Last purchase, newest first")),
            ("last_purchase", _("Last purchase, oldest first")),
            ("-created", _("Newest customers")),
            ("-revenue", _("Revenue, 12 months")),
            ("-at_risk", _("Revenue at risk")),
        ],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = reps_queryset()


class CustomerForm(forms.ModelForm):
    """Contact details and coverage. Consent is changed on the contact settings page, which
    records each change with its source (a form field here would skip that record)."""

    class Meta:
        model = Customer
        fields = [
            "kind",
            "name",
            "email",
            "phone",
            "birthday",
            "language",
            "time_zone",
            "owner",
            "backup",
            "stage",
            "tags",
            "notes",
            "external_id",
        ]
        widgets = {
            "birthday": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, can_reassign: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        if can_reassign:
            self.fields["owner"].queryset = reps_queryset()
            self.fields["backup"].queryset = reps_queryset()
        else:
            # Only managers move accounts between reps.
            del self.fields["owner"]
            del self.fields["backup"]

    def clean(self):
        cleaned = super().clean()
        owner, backup = cleaned.get("owner"), cleaned.get("backup")
        if owner and backup and owner == backup:
            self.add_error("backup", _("The backup rep must be someone other than the owner."))
        return cleaned


class PurchaseForm(forms.Form):
    occurred_at = forms.DateTimeField(
        label=_("Time"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    amount = forms.DecimalField(
        label=_("Amount"), max_digits=14, decimal_places=2, min_value=Decimal("0")
    )
    currency = forms.CharField(label=_("Currency"), max_length=3, min_length=3)
    external_id = forms.CharField(
        label=_("Receipt or invoice number"),
        max_length=100,
        required=False,
        help_text=_("Leave empty to generate one; the same number is never recorded twice."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class ReassignForm(forms.Form):
    from_rep = forms.ModelChoiceField(
        label=_("From rep"),
        queryset=None,
        required=False,
        empty_label=_("Unassigned accounts"),
        help_text=_("Deactivated reps are listed too, so their accounts can be handed over."),
    )
    to_rep = forms.ModelChoiceField(label=_("To rep"), queryset=None)
    customer_ids = forms.CharField(
        label=_("Only these customer ids"),
        required=False,
        help_text=_("Comma-separated; leave empty to move all of the rep's accounts."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(owned_customers__isnull=False).distinct()
        self.fields["from_rep"].queryset = users.order_by("username")
        self.fields["to_rep"].queryset = reps_queryset()
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_customer_ids(self) -> list[int] | None:
        raw = self.cleaned_data["customer_ids"].replace(";", ",").strip()
        if not raw:
            return None
        try:
            return [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError(_("Enter whole numbers separated by commas.")) from None


class CustomerReassignOneForm(forms.Form):
    """Hands one account to another rep, from the customer page."""

    to_rep = forms.ModelChoiceField(label=_("New owner rep"), queryset=None)

    def __init__(self, *args, customer: Customer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        reps = reps_queryset()
        if customer.owner_id:
            reps = reps.exclude(pk=customer.owner_id)
        self.fields["to_rep"].queryset = reps
        self.fields["to_rep"].empty_label = _("Choose a rep")
        self.fields["to_rep"].label_from_instance = lambda user: user.get_full_name() or user.username
        self.helper = FormHelper()
        self.helper.form_tag = False
