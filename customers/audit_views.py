"""The audit trail for managers: who did what and when, filtered by action, user, customer and date."""

from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView

from common.audit import audit_events
from common.models import AuditEvent

from .privacy_views import ManagerRequiredMixin

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("Any action")), *AuditEvent.Action.choices],
    )
    actor = forms.ModelChoiceField(
        label=_("User"),
        required=False,
        queryset=get_user_model().objects.order_by("username"),
        empty_label=_("Anyone"),
    )
    customer = forms.IntegerField(label=_("Customer id"), required=False, min_value=1)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To (inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class AuditEventListView(LoginRequiredMixin, ManagerRequiredMixin, ListView):
    template_name = "customers/audit_list.html"
    context_object_name = "events"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        self.filter_form = AuditFilterForm(self.request.GET or None)
        filters = self.filter_form.cleaned_data if self.filter_form.is_valid() else {}
        actor, since, until = filters.get("actor"), filters.get("since"), filters.get("until")
        return audit_events(
            action=filters.get("action", ""),
            actor_id=actor.pk if actor else None,
            customer_id=filters.get("customer"),
            since=_start_of(since) if since else None,
            until=_start_of(until + timedelta(days=1)) if until else None,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(filter_form=self.filter_form, querystring=query.urlencode())
        return context
