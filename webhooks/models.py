"""Webhook endpoints (configured by admins) and deliveries (one row per event per endpoint).

A delivery is a row before it is sent, created in the transaction of its cause, and unique per
(endpoint, event, object key): the same cause recorded twice (a retried task, a re-run for the
same date) is delivered once. Its status moves pending -> sending -> delivered, back to pending
for a retry, or to failed; a send interrupted by a crash is `unknown` and is never re-sent
without a person deciding to (admin action "Deliver again").
"""

import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Event(models.TextChoices):
    CUSTOMER_DORMANT = "customer.dormant", _("A customer turned dormant (nightly rescore)")
    TIER_CHANGED = "loyalty.tier_changed", _("A customer moved to another loyalty tier")
    POINTS_REDEEMED = "loyalty.points_redeemed", _("Points were redeemed for a reward")


def new_secret() -> str:
    """A signing secret: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """A URL that receives the chosen events, each POST signed with this endpoint's secret."""

    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(
        _("URL"),
        max_length=500,
        help_text=_(
            "Where events are POSTed. https:// is required unless WEBHOOKS_ALLOW_HTTP is on; "
            "addresses inside private networks are refused unless "
            "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES is on."
        ),
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=new_secret,
        help_text=_(
            "Give this to the receiving system: it checks the Retention-Signature header with it."
        ),
    )
    events = models.JSONField(_("events"), default=list, help_text=_("The events sent here."))
    active = models.BooleanField(_("active"), default=True)
    description = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from .addresses import check_endpoint_url

        super().clean()
        if not isinstance(self.events, list) or any(e not in Event.values for e in self.events):
            raise ValidationError({"events": _("Choose events from the list.")})
        if self.url:
            check_endpoint_url(self.url, resolve=False)

    def listens_to(self, event: str) -> bool:
        return self.active and event in (self.events or [])


class WebhookDelivery(models.Model):
    """One event for one endpoint: what to send, and what happened when it was sent."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        # The worker stopped (or the answer never came) after the request may have gone out.
        UNKNOWN = "unknown", _("Unknown: may have been delivered")

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        verbose_name=_("endpoint"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    event = models.CharField(_("event"), max_length=40, choices=Event.choices)
    # What the event is about, unique per endpoint and event: "<customer>:<date>" for a customer
    # turning dormant, "redemption:<id>", "<customer>:<tier>:<time>" for a tier move.
    object_key = models.CharField(_("about"), max_length=200)
    payload = models.JSONField(_("data"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event", "object_key"], name="webhook_delivery_once"
            ),
            models.CheckConstraint(
                condition=Q(status="delivered", delivered_at__isnull=False)
                | ~Q(status="delivered"),
                name="webhook_delivered_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.object_key} -> {self.endpoint_id}"


class ScoringRunScan(models.Model):
    """A finished scoring run whose dormant customers were turned into deliveries.

    Written in the same transaction as those deliveries, so the sweeper can find a run whose
    signal was lost (a crash right after the run finished) and scan it once.
    """

    run = models.OneToOneField(
        "customers.ScoringRun", on_delete=models.CASCADE, related_name="+", verbose_name=_("run")
    )
    deliveries = models.PositiveIntegerField(_("deliveries"), default=0)
    scanned_at = models.DateTimeField(_("scanned"), default=timezone.now)

    class Meta:
        verbose_name = _("scanned scoring run")
        verbose_name_plural = _("scanned scoring runs")

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.deliveries}"
