from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import Event, ScoringRunScan, WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=WebhookEndpoint._meta.get_field("url").help_text,
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The events POSTed to this URL."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "active", "secret", "description"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Admins configure where events go; each endpoint signs with its own secret."""

    form = WebhookEndpointForm
    list_display = ["name", "url", "active", "event_list", "updated_at"]
    list_filter = ["active"]
    search_fields = ["name", "url"]

    @admin.display(description=_("events"))
    def event_list(self, endpoint: WebhookEndpoint) -> str:
        labels = dict(Event.choices)
        return ", ".join(str(labels.get(event, event)) for event in endpoint.events or [])


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Deliveries to read, and to send again once someone checked the receiver's side."""

    list_display = [
        "created_at",
        "event",
        "object_key",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event", "endpoint"]
    search_fields = ["object_key", "last_error"]
    list_select_related = ["endpoint"]
    date_hierarchy = "created_at"
    actions = ["redeliver"]
    readonly_fields = [
        "endpoint",
        "event",
        "object_key",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    ]

    def has_add_permission(self, request):
        # Deliveries are made by events, never by hand.
        return False

    def has_change_permission(self, request, obj=None):
        # The action below needs change permission; the fields stay read-only.
        return request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.action(
        description=_("Deliver again (for unknown ones: I checked the receiver did not process it)")
    )
    def redeliver(self, request, queryset):
        queued = sum(
            services.redeliver(delivery_id=pk, by=request.user)
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery queued again.", "%(count)d deliveries queued again.", queued
            )
            % {"count": queued},
            messages.SUCCESS,
        )


@admin.register(ScoringRunScan)
class ScoringRunScanAdmin(admin.ModelAdmin):
    list_display = ["run", "deliveries", "scanned_at"]
    readonly_fields = ["run", "deliveries", "scanned_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
