"""The Loyalty admin's workplace: programme rules, tiers, partners and rewards are edited here;
accounts, the ledger, redemptions and tier changes are read-only (changes go through services)."""

import uuid

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Sum
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from common.errors import DomainError
from contacts.models import RefusedTouch

from . import member, services
from .forms import AdjustPointsForm
from .models import (
    LedgerEntry,
    LoyaltyAccount,
    LoyaltyMessage,
    MemberAccess,
    Partner,
    Programme,
    PurchasePoints,
    Redemption,
    Reward,
    Tier,
    TierChange,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the services: visible, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.action(description=_("Place customers in tiers now"), permissions=["change"])
def place_customers_in_tiers(modeladmin, request, queryset):
    review = services.reevaluate_tiers(as_of=timezone.now())
    modeladmin.message_user(
        request,
        _("Tiers re-evaluated: %(up)s upgraded, %(down)s downgraded, %(renewed)s renewed.")
        % {"up": review.upgraded, "down": review.downgraded, "renewed": review.renewed},
        messages.SUCCESS,
    )


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "points_per_unit",
        "rounding",
        "minimum_purchase",
        "return_window_days",
        "expiry_months",
        "tier_window_months",
        "downgrade_grace_days",
    ]
    fieldsets = [
        (None, {"fields": ["name", "currency"]}),
        (
            _("Earning"),
            {
                "fields": [
                    "points_per_unit",
                    "rounding",
                    "minimum_purchase",
                    "qualifying_currencies",
                    "qualifying_sources",
                ]
            },
        ),
        (_("Pending and expiry"), {"fields": ["return_window_days", "expiry_months"]}),
        (
            _("Tiers"),
            {
                "fields": ["tier_window_months", "downgrade_grace_days"],
                "description": _(
                    "Upgrades apply as soon as a purchase lifts the rolling spend; downgrades only when the "
                    "tier's period and the grace period have passed."
                ),
            },
        ),
        (
            _("Messages and member page"),
            {
                "fields": [
                    "purchase_confirmations",
                    "expiry_warning_days",
                    "balance_reminders",
                    "member_link_days",
                ],
                "description": _(
                    "Messages go through the contacts outbox, within its frequency caps and the "
                    "customer's consent; their texts are the message templates loyalty_purchase, "
                    "loyalty_expiry and loyalty_balance."
                ),
            },
        ),
        (_("Reporting"), {"fields": ["point_value"]}),
    ]

    def has_add_permission(self, request):
        return not Programme.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One programme: the list is only a detour, go straight to its form.
        programme = Programme.load()
        if self.has_change_permission(request, programme) and not request.POST:
            return HttpResponseRedirect(
                reverse("admin:loyalty_programme_change", args=[programme.pk])
            )
        return super().changelist_view(request, extra_context)


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "order",
        "qualifying_spend",
        "earn_multiplier",
        "discount_percent",
        "customers",
    ]
    list_display_links = ["name"]
    # The numbers that make a tier programme, edited side by side in the list.
    list_editable = ["qualifying_spend", "earn_multiplier", "discount_percent"]
    ordering = ["order"]
    search_fields = ["name"]
    actions = [place_customers_in_tiers]
    change_list_template = "admin/loyalty/tier/change_list.html"
    fields = ["name", "order", "qualifying_spend", "earn_multiplier", "discount_percent", "perks"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(customer_count=Count("accounts"))

    def get_urls(self):
        return [
            path("place/", self.admin_site.admin_view(self.place_view), name="loyalty_tier_place"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        # The changelist's context has no change permission of its own; the button needs it.
        extra_context = {
            **(extra_context or {}),
            "can_place_customers": self.has_change_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def place_view(self, request):
        """The changelist's button: re-evaluates every account's tier now (POST only)."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        place_customers_in_tiers(self, request, Tier.objects.none())
        return HttpResponseRedirect(reverse("admin:loyalty_tier_changelist"))

    @admin.display(description=_("customers"), ordering="customer_count")
    def customers(self, tier):
        url = reverse("admin:loyalty_loyaltyaccount_changelist") + f"?tier__id__exact={tier.pk}"
        return format_html('<a href="{}">{}</a>', url, tier.customer_count)


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "earn_rate", "active", "points_earned", "created_at"]
    list_editable = ["earn_rate", "active"]
    list_filter = ["active"]
    search_fields = ["name"]
    fields = ["name", "earn_rate", "active"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(points_total=Sum("entries__points"))

    @admin.display(description=_("points earned"), ordering="points_total")
    def points_earned(self, partner):
        return partner.points_total or 0


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "cost", "active", "issued"]
    list_filter = ["kind", "active"]
    list_editable = ["cost", "active"]
    search_fields = ["name", "description"]
    fields = ["name", "kind", "cost", "description", "active"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                issued_count=Count(
                    "redemptions", filter=Q(redemptions__status=Redemption.Status.ISSUED)
                )
            )
        )

    @admin.display(description=_("issued"), ordering="issued_count")
    def issued(self, reward):
        return reward.issued_count


@admin.register(LoyaltyAccount)
class LoyaltyAccountAdmin(ReadOnlyAdmin):
    list_display = [
        "customer",
        "balance",
        "tier",
        "qualifying_spend",
        "tier_since",
        "tier_valid_until",
        "updated_at",
    ]
    list_filter = ["tier"]
    search_fields = ["customer__name", "customer__external_id", "customer__email"]
    list_select_related = ["customer", "tier"]
    readonly_fields = list_display
    ordering = ["-balance"]
    change_form_template = "admin/loyalty/loyaltyaccount/change_form.html"
    actions = ["revoke_member_links"]

    @admin.action(description=_("Revoke the member page links of the selected customers"))
    def revoke_member_links(self, request, queryset):
        if not request.user.has_perm("loyalty.redeem_rewards"):
            raise PermissionDenied
        customer_ids = list(queryset.values_list("customer_id", flat=True))
        for customer_id in customer_ids:
            member.revoke_member_links(customer_id=customer_id, by=request.user)
        self.message_user(
            request,
            ngettext(
                "Member page links revoked for %(count)s customer.",
                "Member page links revoked for %(count)s customers.",
                len(customer_ids),
            )
            % {"count": len(customer_ids)},
            messages.SUCCESS,
        )

    def get_actions(self, request):
        # Read-only rows, so Django would offer no actions; this one goes through a service.
        actions = super().get_actions(request)
        if not request.user.has_perm("loyalty.redeem_rewards"):
            actions.pop("revoke_member_links", None)
        return actions

    def get_urls(self):
        return [
            path(
                "<int:pk>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="loyalty_loyaltyaccount_adjust",
            ),
            *super().get_urls(),
        ]

    def adjust_view(self, request, pk: int):
        """Adds or removes points through `adjust_points`, with a reason on the ledger."""
        if not request.user.has_perm("loyalty.add_ledgerentry"):
            raise PermissionDenied
        account = get_object_or_404(
            LoyaltyAccount.objects.select_related("customer", "tier"), pk=pk
        )
        form = AdjustPointsForm(request.POST or None, initial={"key": uuid.uuid4().hex})
        if request.method == "POST" and form.is_valid():
            try:
                services.adjust_points(
                    customer_id=account.customer_id,
                    points=form.cleaned_data["points"],
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                    key=form.cleaned_data["key"],
                )
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                self.message_user(request, _("Points adjusted."), messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:loyalty_loyaltyaccount_change", args=[pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "account": account,
            "form": form,
            "title": _("Adjust points of %(customer)s") % {"customer": account.customer},
        }
        return TemplateResponse(request, "admin/loyalty/loyaltyaccount/adjust.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "customer",
        "kind",
        "points",
        "shortfall",
        "expires_at",
        "note",
        "created_by",
    ]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["key", "customer__name", "customer__external_id", "note"]
    list_select_related = ["customer", "created_by"]
    date_hierarchy = "created_at"
    raw_id_fields = ["customer", "purchase", "refund", "redemption", "partner", "created_by"]
    readonly_fields = [
        "customer",
        "kind",
        "points",
        "shortfall",
        "key",
        "purchase",
        "refund",
        "redemption",
        "partner",
        "created_by",
        "note",
        "expires_at",
        "created_at",
    ]
    show_full_result_count = False


@admin.register(PurchasePoints)
class PurchasePointsAdmin(ReadOnlyAdmin):
    list_display = [
        "purchase",
        "customer",
        "points",
        "multiplier",
        "tier_name",
        "available_at",
        "released_at",
        "expires_at",
    ]
    list_filter = ["tier_name", ("released_at", admin.EmptyFieldListFilter)]
    search_fields = ["purchase__external_id", "customer__name", "customer__external_id"]
    list_select_related = ["purchase", "customer"]
    readonly_fields = [
        "purchase",
        "customer",
        "points",
        "amount",
        "rate",
        "multiplier",
        "tier_name",
        "available_at",
        "expires_at",
        "released_at",
        "created_at",
    ]
    show_full_result_count = False


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "customer", "reward", "points", "status", "code", "created_by"]
    list_filter = ["status", "reward__kind", "reward"]
    search_fields = ["code", "key", "customer__name", "customer__external_id"]
    list_select_related = ["customer", "reward", "created_by"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "customer",
        "reward",
        "points",
        "status",
        "code",
        "key",
        "created_by",
        "created_at",
        "cancelled_at",
        "cancelled_by",
    ]
    actions = ["cancel_selected"]

    @admin.action(description=_("Cancel the selected redemptions and restore their points"))
    def cancel_selected(self, request, queryset):
        if not request.user.has_perm("loyalty.cancel_redemptions"):
            raise PermissionDenied
        cancelled = 0
        for redemption_id in queryset.filter(status=Redemption.Status.ISSUED).values_list(
            "pk", flat=True
        ):
            try:
                services.cancel_redemption(redemption_id=redemption_id, by=request.user)
            except DomainError:
                continue
            cancelled += 1
        self.message_user(
            request, _("%(count)s redemptions cancelled.") % {"count": cancelled}, messages.SUCCESS
        )


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "customer",
        "direction",
        "from_name",
        "to_name",
        "qualifying_spend",
    ]
    list_filter = ["direction", "to_name"]
    search_fields = ["customer__name", "customer__external_id"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    readonly_fields = list_display


@admin.register(LoyaltyMessage)
class LoyaltyMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "customer", "kind", "cause", "outcome"]
    list_filter = ["kind", "refused", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["customer__name", "customer__external_id", "cause"]
    list_select_related = ["customer", "message"]
    date_hierarchy = "created_at"
    readonly_fields = ["customer", "kind", "cause", "message", "refused", "created_at"]
    show_full_result_count = False

    @admin.display(description=_("outcome"))
    def outcome(self, row):
        if row.message is not None:
            return row.message.get_status_display()
        labels = dict(RefusedTouch.Reason.choices)
        return _("not sent: %(reason)s") % {"reason": labels.get(row.refused, row.refused or "—")}


@admin.register(MemberAccess)
class MemberAccessAdmin(ReadOnlyAdmin):
    list_display = ["customer", "version", "revoked_at", "revoked_by"]
    search_fields = ["customer__name", "customer__external_id"]
    list_select_related = ["customer", "revoked_by"]
    readonly_fields = list_display
