"""The admin for contacts: caps, plans and templates are edited here; logs and the outbox are read."""

from django import forms
from django.contrib import admin, messages
from django.template import Template, TemplateSyntaxError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import (
    CallListEntry,
    CapOverride,
    CapRule,
    ConsentChange,
    ContactPlan,
    ContactPreferences,
    Feedback,
    MessageTemplate,
    OutboxMessage,
    RefusedTouch,
    Touch,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs are written by the services only; the admin shows them."""

    # Logs grow with every night: no second COUNT(*) of the whole table per page.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CapRule)
class CapRuleAdmin(admin.ModelAdmin):
    """The company's frequency caps, edited in place: an empty count means no limit."""

    list_display = ["channel", "kind", "max_count", "period_days", "rule", "note"]
    list_display_links = ["channel"]
    list_editable = ["max_count", "period_days", "note"]
    list_filter = ["channel", "kind"]
    search_fields = ["note"]
    ordering = ["channel", "kind"]

    @admin.display(description=_("in words"))
    def rule(self, cap: CapRule) -> str:
        return cap.describe()


@admin.register(CapOverride)
class CapOverrideAdmin(admin.ModelAdmin):
    list_display = ["customer", "channel", "kind", "max_count", "period_days", "note", "created_at"]
    list_filter = ["channel", "kind"]
    search_fields = ["customer__name", "customer__external_id", "note"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]


@admin.register(ContactPreferences)
class ContactPreferencesAdmin(admin.ModelAdmin):
    list_display = [
        "customer",
        "preferred_channel",
        "paused_until",
        "contact_from",
        "contact_until",
    ]
    list_filter = ["preferred_channel"]
    search_fields = ["customer__name", "customer__external_id"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]


@admin.register(ContactPlan)
class ContactPlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "segment",
        "action",
        "channel",
        "kind",
        "every_days",
        "within_days",
        "order",
        "active",
    ]
    ordering = ["order", "name"]
    list_editable = ["active", "every_days", "within_days"]
    list_filter = ["active", "action", "segment", "channel"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "code", "active", "order", "segment", "action"]}),
        (_("How"), {"fields": ["channel", "kind", "template_code", "offer"]}),
        (_("When"), {"fields": ["every_days", "within_days"]}),
    ]


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["name", "code", "channel", "language", "kind", "active", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 14, "cols": 90})}

    def clean(self):
        cleaned = super().clean()
        for name in ("subject", "body"):
            try:
                Template(cleaned.get(name) or "")
            except TemplateSyntaxError as error:
                self.add_error(name, _("Template error: %(error)s") % {"error": error})
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ["name", "code", "channel", "language", "kind", "active", "updated_at"]
    list_filter = ["code", "channel", "language", "kind", "active"]
    search_fields = ["name", "code", "subject", "body"]
    fieldsets = [
        (None, {"fields": ["name", "code", "channel", "language", "kind", "active"]}),
        (
            _("Text"),
            {
                "fields": ["subject", "body"],
                "description": _(
                    "Variables: {{ first_name }}, {{ name }}, {{ points_balance }}, {{ tier }}, "
                    "{{ offer }}, {{ unsubscribe_url }}, {{ feedback_url }}, {{ company }}."
                ),
            },
        ),
    ]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "customer",
        "channel",
        "kind",
        "template",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["status", "channel", "kind", "language"]
    search_fields = ["key", "customer__name", "provider_message_id"]
    list_select_related = ["customer", "template"]
    date_hierarchy = "created_at"
    actions = ["release_unknown", "cancel_messages"]
    readonly_fields = [
        "customer",
        "channel",
        "kind",
        "template",
        "language",
        "to",
        "subject",
        "body",
        "key",
        "touch",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "last_error",
        "sent_at",
        "provider_message_id",
        "created_at",
    ]

    def has_change_permission(self, request, obj=None):
        # The actions below need change permission; the fields stay read-only.
        return request.user.has_perm("contacts.change_outboxmessage")

    @admin.action(
        description=_("Send again (I checked with the provider that it was not delivered)")
    )
    def release_unknown(self, request, queryset):
        released = sum(
            services.release_unknown_message(message_id=pk, by=request.user)
            for pk in queryset.filter(status=OutboxMessage.Status.UNKNOWN).values_list(
                "pk", flat=True
            )
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d message queued again.", "%(count)d messages queued again.", released
            )
            % {"count": released},
            messages.SUCCESS,
        )

    @admin.action(description=_("Cancel (not sent yet)"))
    def cancel_messages(self, request, queryset):
        cancelled = sum(
            services.cancel_outbox_message(message_id=pk, by=request.user)
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(
            request,
            ngettext("%(count)d message cancelled.", "%(count)d messages cancelled.", cancelled)
            % {"count": cancelled},
            messages.SUCCESS,
        )


@admin.register(Touch)
class TouchAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "customer",
        "channel",
        "kind",
        "status",
        "source",
        "outcome",
        "leave_reason",
        "by",
    ]
    list_filter = ["status", "channel", "kind", "source", "outcome", "leave_reason"]
    search_fields = ["customer__name", "key", "notes"]
    list_select_related = ["customer", "by"]
    date_hierarchy = "at"


@admin.register(RefusedTouch)
class RefusedTouchAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "customer",
        "channel",
        "kind",
        "reason",
        "next_allowed_at",
        "source",
    ]
    list_filter = ["reason", "channel", "kind", "source"]
    search_fields = ["customer__name", "key"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"


@admin.register(ConsentChange)
class ConsentChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "customer", "channel", "granted", "source", "by", "note"]
    list_filter = ["channel", "granted", "source"]
    search_fields = ["customer__name", "note"]
    list_select_related = ["customer", "by"]


@admin.register(CallListEntry)
class CallListEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "customer",
        "reason",
        "status",
        "plan",
        "due_by",
        "callback_at",
        "done_at",
    ]
    list_filter = ["status", "reason", "plan"]
    search_fields = ["customer__name"]
    list_select_related = ["customer", "plan"]
    date_hierarchy = "day"


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "customer", "score", "answered_at"]
    list_filter = ["score"]
    search_fields = ["customer__name", "comment"]
    list_select_related = ["customer"]
