"""Customers, their purchases and refunds, and the import jobs that bring them in."""

import uuid
import zoneinfo

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .querysets import CustomerQuerySet, PurchaseQuerySet

MONEY_DIGITS = 14
MONEY_PLACES = 2

def default_currency() -> str:
    return settings.DEFAULT_CURRENCY


TIME_ZONE_CHOICES = sorted((name, name) for name in zoneinfo.available_timezones())


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=60, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    class Kind(models.TextChoices):
        COMPANY = "company", _("Company")
        PERSON = "person", _("Person")

    class Stage(models.TextChoices):
        ONE_OFF = "one_off", _("One-off")
        REGULAR = "regular", _("Regular")
        PARTNER = "partner", _("Partner")

    class Language(models.TextChoices):
        EN = "en", _("English")
        RU = "ru", _("Russian")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    language = models.CharField(
        _("preferred language"), max_length=5, choices=Language.choices, default=Language.RU
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="Europe/Moscow"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner rep"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
    )
    backup = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("backup rep"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="backed_up_customers",
    )
    stage = models.CharField(
        _("relationship stage"), max_length=10, choices=Stage.choices, default=Stage.ONE_OFF
    )
    # Consent per channel: no consent, no contact. Service messages (receipts) are exempt.
    consent_email = models.BooleanField(_("e-mail consent"), default=False)
    consent_sms = models.BooleanField(_("SMS consent"), default=False)
    consent_phone = models.BooleanField(_("phone consent"), default=True)
    consent_social = models.BooleanField(_("social consent"), default=False)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    notes = models.TextField(_("notes"), blank=True)
    external_id = models.CharField(
        _("external id"),
        max_length=100,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The customer's id in the accounting system; imports match on it."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("view_all_customers", _("Can see every customer, not only covered ones")),
            ("export_customers", _("Can export customer lists")),
            ("reassign_customers", _("Can reassign customers between reps")),
            ("import_data", _("Can import customers and purchases")),
        ]
        indexes = [
            models.Index(fields=["owner"], name="customer_owner_idx"),
            models.Index(fields=["backup"], name="customer_backup_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(owner=models.F("backup")) | Q(owner__isnull=True),
                name="customer_backup_differs_from_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("customers:detail", args=[self.pk])

    def has_consent(self, channel: str) -> bool:
        """Whether the customer agreed to be contacted on `channel` (in person needs no consent)."""
        return channel == "in_person" or bool(getattr(self, f"consent_{channel}", False))


class Purchase(models.Model):
    class Source(models.TextChoices):
        IMPORT = "import", _("Import")
        API = "api", _("API")
        UI = "ui", _("Entered by hand")
        DEMO = "demo", _("Demo data")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="purchases"
    )
    occurred_at = models.DateTimeField(_("time"))
    amount = models.DecimalField(_("amount"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(_("currency"), max_length=3, default=default_currency)
    # The source system's id: the same purchase arriving twice (import, API retry) is stored once.
    external_id = models.CharField(_("external id"), max_length=100, unique=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)

    objects = PurchaseQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        indexes = [models.Index(fields=["customer", "occurred_at"], name="purchase_customer_time_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="purchase_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.amount} {self.currency}"

    @staticmethod
    def new_external_id() -> str:
        return f"ui-{uuid.uuid4().hex}"


class Refund(models.Model):
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="refunds"
    )
    amount = models.DecimalField(_("amount"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    external_id = models.CharField(_("external id"), max_length=100, unique=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} -{self.amount}"


class ImportJob(models.Model):
    """One upload of a customers or purchases file, moved forward by a task."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")
        PURCHASES = "purchases", _("Purchases")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("already present"), default=0)
    error_count = models.PositiveIntegerField(_("rows with errors"), default=0)
    error_report = models.FileField(_("error report"), upload_to="imports/errors/", blank=True)
    failure = models.TextField(_("failure"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.original_name}"

    def get_absolute_url(self) -> str:
        return reverse("customers:import-detail", args=[self.pk])

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))

