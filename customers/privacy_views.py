"""Managers' personal-data pages: a customer's data as a JSON download, and erasure after a
confirmation. Both are recorded in the audit trail by the services they call."""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import FormView

from common.roles import is_manager

from . import privacy, selectors
from .models import Purchase


class ManagerRequiredMixin(UserPassesTestMixin):
    """Sales managers (and superusers) only; anybody else logged in gets a 403."""

    def test_func(self) -> bool:
        return is_manager(self.request.user)


class ManagedCustomerMixin(LoginRequiredMixin, ManagerRequiredMixin):
    """The customer of the URL if the user may see it (404 otherwise, as everywhere), then the
    manager check (403): a rep learns nothing about other reps' customers."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.customer = selectors.customer_for(request.user, kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)


class ErasureForm(forms.Form):
    confirm = forms.BooleanField(
        label=gettext_lazy(
            "I understand that the name, contact details and notes are removed for good."
        ),
        required=True,
    )


class CustomerDataExportView(ManagedCustomerMixin, View):
    """Everything kept about one customer, as a JSON file."""

    def get(self, request, pk: int):
        customer = self.customer
        data = privacy.export_customer_data(customer_id=customer.pk, by=request.user)
        response = HttpResponse(
            json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="customer-{customer.pk}-personal-data.json"'
        )
        return response


class CustomerEraseView(ManagedCustomerMixin, FormView):
    """Says what erasure removes and keeps, and erases after an explicit confirmation."""

    template_name = "customers/privacy/erase_confirm.html"
    form_class = ErasureForm

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            customer=self.customer,
            purchase_count=Purchase.objects.filter(customer_id=self.customer.pk).count(),
            already_erased=privacy.was_erased(customer_id=self.customer.pk),
            **kwargs,
        )

    def form_valid(self, form):
        privacy.erase_customer(customer_id=self.customer.pk, by=self.request.user)
        messages.success(
            self.request,
            _("The personal data of customer #%(id)s was erased; purchases and points are kept.")
            % {"id": self.customer.pk},
        )
        return HttpResponseRedirect(self.customer.get_absolute_url())
