"""Loyalty pages. Views parse input, call one selector or service, and render or redirect."""

import uuid

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from common.errors import DomainError
from customers.models import Customer
from customers.selectors import customer_for

from . import selectors, services
from .forms import RedeemForm
from .models import Redemption, Reward

LEDGER_PAGE_SIZE = 50


class RedeemRewardView(LoginRequiredMixin, PermissionRequiredMixin, FormView):
    """Redeems a reward for a customer the user may see (another rep's customer is a 404)."""

    permission_required = "loyalty.redeem_rewards"
    template_name = "loyalty/redeem_form.html"
    form_class = RedeemForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.customer = customer_for(request.user, kwargs["customer_id"])
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {"key": uuid.uuid4().hex, "reward": self.request.GET.get("reward")}

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            customer=self.customer,
            summary=selectors.loyalty_summary_for(self.customer.pk),
            **kwargs,
        )

    def form_valid(self, form):
        reward: Reward = form.cleaned_data["reward"]
        try:
            redemption = services.redeem_reward(
                customer_id=self.customer.pk,
                reward_id=reward.pk,
                by=self.request.user,
                key=form.cleaned_data["key"],
            )
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
            return self.form_invalid(form)
        if redemption.code:
            messages.success(
                self.request,
                _("%(reward)s issued for %(points)s points. Voucher code: %(code)s")
                % {"reward": reward.name, "points": redemption.points, "code": redemption.code},
            )
        else:
            messages.success(
                self.request,
                _("%(reward)s issued for %(points)s points.")
                % {"reward": reward.name, "points": redemption.points},
            )
        return redirect(self.customer)


class RedemptionCancelView(LoginRequiredMixin, PermissionRequiredMixin, View):
    """Cancels a redemption of a customer the user may see and restores its points."""

    permission_required = "loyalty.cancel_redemptions"
    http_method_names = ["post"]

    def post(self, request, pk: int):
        redemption = get_object_or_404(
            Redemption.objects.filter(
                customer__in=Customer.objects.visible_to(request.user).values("pk")
            ),
            pk=pk,
        )
        try:
            services.cancel_redemption(redemption_id=redemption.pk, by=request.user)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _("Redemption cancelled; %(points)s points restored.")
                % {"points": redemption.points},
            )
        return redirect(redemption.customer)


class CustomerLedgerView(LoginRequiredMixin, PermissionRequiredMixin, ListView):
    """A customer's full points history."""

    permission_required = "loyalty.view_ledgerentry"
    template_name = "loyalty/ledger.html"
    context_object_name = "entries"
    paginate_by = LEDGER_PAGE_SIZE

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.customer = customer_for(request.user, kwargs["customer_id"])
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.ledger_for(self.customer.pk)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            customer=self.customer,
            summary=selectors.loyalty_summary_for(self.customer.pk),
            **kwargs,
        )


class LoyaltyReportView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    """Liability, monthly points flow, customers per tier and tier movements."""

    permission_required = "loyalty.report_loyalty"
    template_name = "loyalty/reports.html"
    months = 12

    def get_context_data(self, **kwargs):
        now = timezone.now()
        flow = selectors.monthly_points_flow(months=self.months, as_of=now)
        return super().get_context_data(
            liability=selectors.points_liability(),
            flow=flow,
            flow_total={
                name: sum(getattr(month, name) for month in flow)
                for name in ("earned", "reversed", "redeemed", "expired", "adjusted", "net")
            },
            per_tier=selectors.customers_per_tier(),
            movements=selectors.tier_movements(months=self.months, as_of=now),
            recent_changes=selectors.recent_tier_changes(),
            **kwargs,
        )
