"""Loyalty pages. Views parse input, call one selector or service, and render or redirect."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.cache import cache
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, ListView, TemplateView

from common.audit import client_ip
from common.errors import DomainError
from contacts import services as contact_services
from contacts.models import ConsentChange
from customers.models import Customer
from customers.selectors import customer_for

from . import selectors, services
from .forms import MemberPreferencesForm, RedeemForm
from .member import MemberLinkError, read_member_token, revoke_member_links
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
                customer__in=Customer.objects.visible_ids(request.user)
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


# The member page: public, opened from the signed link in a message ------------------------------

# Requests per client address and window: a person reading their page and changing a setting
# stays far below; a script trying tokens (or hammering one) is stopped. Bad links count on a
# stricter budget of their own.
MEMBER_RATE_WINDOW = 600
MEMBER_RATE_LIMIT = 120
MEMBER_BAD_LINK_LIMIT = 20


def _over_limit(request, bucket: str, limit: int) -> bool:
    """Counts this request in the client's bucket (in the shared cache); True once over `limit`."""
    key = f"loyalty.member.{bucket}.{client_ip(request) or 'unknown'}"
    if cache.add(key, 1, timeout=MEMBER_RATE_WINDOW):
        return False
    try:
        count = cache.incr(key)
    except ValueError:
        # Expired between add and incr: this is the first request of a new window.
        cache.set(key, 1, timeout=MEMBER_RATE_WINDOW)
        return False
    return count > limit


@method_decorator(never_cache, name="dispatch")
class MemberPageView(View):
    """The customer's own page: balance, tier and progress, history, rewards and a preference
    centre for consent per channel. No login: the signed, expiring, revocable link is the key.

    An invalid, expired or revoked link gets a page saying so (never a 500, never a hint whether
    the customer exists); too many requests from one address get a 429.
    """

    template_name = "loyalty/member.html"
    invalid_template_name = "loyalty/member_link.html"

    def dispatch(self, request, *args, **kwargs):
        if _over_limit(request, "all", MEMBER_RATE_LIMIT):
            return self._refused(request, "throttled", status=429)
        return super().dispatch(request, *args, **kwargs)

    def _refused(self, request, reason: str, *, status: int):
        response = render(request, self.invalid_template_name, {"reason": reason}, status=status)
        response["Referrer-Policy"] = "no-referrer"
        return response

    def _visit(self, request, token: str):
        try:
            visit = read_member_token(token)
        except MemberLinkError as error:
            if _over_limit(request, "bad", MEMBER_BAD_LINK_LIMIT):
                return None, self._refused(request, "throttled", status=429)
            status = 400 if error.reason == MemberLinkError.INVALID else 410
            return None, self._refused(request, error.reason, status=status)
        if not Customer.objects.filter(pk=visit.customer_id).exists():
            return None, self._refused(request, MemberLinkError.INVALID, status=400)
        return visit, None

    def _render(self, request, token: str, customer_id: int, *, form=None, saved=False, status=200):
        page = selectors.member_page_for(customer_id)
        # The page speaks the customer's language, unless the visitor picked one with the switch.
        language = (
            translation.get_language()
            if settings.LANGUAGE_COOKIE_NAME in request.COOKIES
            else page.customer.language or settings.LANGUAGE_CODE
        )
        with translation.override(language):
            form = form or MemberPreferencesForm(customer=page.customer)
            response = render(
                request,
                self.template_name,
                {
                    "page": page,
                    "summary": page.summary,
                    "form": form,
                    "saved": saved,
                    "token": token,
                },
                status=status,
            )
        response["Referrer-Policy"] = "no-referrer"
        return response

    def get(self, request, token: str):
        visit, refused = self._visit(request, token)
        if refused is not None:
            return refused
        return self._render(
            request, token, visit.customer_id, saved=request.GET.get("saved") == "1"
        )

    def post(self, request, token: str):
        visit, refused = self._visit(request, token)
        if refused is not None:
            return refused
        customer = Customer.objects.get(pk=visit.customer_id)
        form = MemberPreferencesForm(request.POST, customer=customer)
        if not form.is_valid():
            return self._render(request, token, visit.customer_id, form=form, status=400)
        for channel, granted in form.changes().items():
            contact_services.set_consent(
                customer_id=customer.pk,
                channel=channel,
                granted=granted,
                source=ConsentChange.Source.CUSTOMER_FORM,
                note=_("Member page"),
            )
        return redirect(f"{reverse('loyalty:member', args=[token])}?saved=1")


class MemberLinksRevokeView(LoginRequiredMixin, PermissionRequiredMixin, View):
    """Revokes every member-page link sent to a customer the user may see (POST only)."""

    permission_required = "loyalty.redeem_rewards"
    http_method_names = ["post"]

    def post(self, request, customer_id: int):
        customer = customer_for(request.user, customer_id)
        revoke_member_links(customer_id=customer.pk, by=request.user)
        messages.success(
            request,
            _(
                "The member page links sent so far no longer work; the next message carries a new one."
            ),
        )
        return redirect(customer)
