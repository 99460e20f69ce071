from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Customer, ImportJob, Purchase, Refund, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class PurchaseInline(admin.TabularInline):
    model = Purchase
    extra = 0
    fields = ["occurred_at", "amount", "currency", "external_id", "source"]
    readonly_fields = fields
    ordering = ["-occurred_at"]
    show_change_link = True
    max_num = 0
    can_delete = False

    def get_queryset(self, request):
        # The inline shows the latest purchases only; a key account may have thousands.
        return super().get_queryset(request).order_by("-occurred_at")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "name", "external_id", "stage", "owner", "value_class", "risk_level", "dormant",
        "revenue_12m",
    ]
    list_editable = ["stage"]
    list_filter = [
        "kind", "stage", "score__value_class", "score__risk_level", "score__dormant", "owner",
        "language", "consent_email", "consent_sms", "consent_phone", "tags",
    ]
    search_fields = ["name", "email", "phone", "external_id"]
    autocomplete_fields = ["owner", "backup", "tags"]
    list_select_related = ["owner", "backup", "score"]
    date_hierarchy = "created_at"
    # The base may hold millions of customers: no second COUNT(*) of the whole table per page.
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["kind", "name", "external_id", "stage", "tags", "notes"]}),
        (_("Contact"), {"fields": ["email", "phone", "birthday", "language", "time_zone"]}),
        (_("Coverage"), {"fields": ["owner", "backup"]}),
        (_("Consent"), {"fields": ["consent_email", "consent_sms", "consent_phone", "consent_social"]}),
    ]

    @admin.display(description=_("value"), ordering="score__value_class")
    def value_class(self, customer) -> str:
        score = getattr(customer, "score", None)
        return score.value_class if score else "—"

    @admin.display(description=_("risk"), ordering="score__risk_level")
    def risk_level(self, customer) -> str:
        score = getattr(customer, "score", None)
        return score.get_risk_level_display() if score else "—"

    @admin.display(description=_("dormant"), boolean=True, ordering="score__dormant")
    def dormant(self, customer) -> bool | None:
        score = getattr(customer, "score", None)
        return score.dormant if score else None

    @admin.display(description=_("revenue, 12 months"), ordering="score__revenue_12m")
    def revenue_12m(self, customer):
        score = getattr(customer, "score", None)
        return score.revenue_12m if score else None

    def save_model(self, request, obj, form, change):
        # A new owner goes through the reassignment service like everywhere else, so the move is
        # in the audit trail and the apps that follow owners (call lists) hear of it.
        new_owner = obj.owner
        if change and "owner" in form.changed_data and new_owner is not None:
            old_owner_id = form.initial.get("owner")
            obj.owner_id = old_owner_id
            super().save_model(request, obj, form, change)
            services.reassign_customers(
                from_rep_id=old_owner_id,
                to_rep_id=new_owner.pk,
                customer_ids=[obj.pk],
                by=request.user,
            )
            obj.owner = new_owner
            return
        super().save_model(request, obj, form, change)


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    readonly_fields = ["amount", "occurred_at", "external_id", "reason"]
    can_delete = False


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = ["external_id", "customer", "occurred_at", "amount", "currency", "source"]
    list_filter = ["source", "currency"]
    search_fields = ["external_id", "customer__name", "customer__external_id"]
    date_hierarchy = "occurred_at"
    raw_id_fields = ["customer"]
    list_select_related = ["customer"]
    inlines = [RefundInline]

    def has_change_permission(self, request, obj=None):
        # Purchases are facts from the till or accounting; corrections are refunds.
        return False


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ["external_id", "purchase", "amount", "occurred_at"]
    search_fields = ["external_id", "purchase__external_id"]
    raw_id_fields = ["purchase"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "original_name", "kind", "status", "total_rows", "created_count", "updated_count",
        "unchanged_count", "error_count", "created_by", "created_at",
    ]
    list_filter = ["kind", "status"]
    readonly_fields = [field.name for field in ImportJob._meta.fields]

    def has_add_permission(self, request):
        return False


admin.site.site_header = _("Retention administration")
admin.site.site_title = _("Retention")
admin.site.index_title = _("Configuration")
