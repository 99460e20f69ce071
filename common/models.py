"""Infrastructure rows shared by every app: the record and lock of each scheduled job run, and the
audit trail."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .errors import DomainError


class JobRun(models.Model):
    """One run of a scheduled job for one business date: its lock, its outcome and its counts.

    The unique (job, run_date) makes a job idempotent per day; `lease_until` is the lock a crashed
    worker cannot hold forever: once it passes, another worker may claim the run again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    job = models.CharField(_("job"), max_length=60)
    run_date = models.DateField(_("business date"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    lease_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=120, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-run_date", "job"]
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        constraints = [
            models.UniqueConstraint(fields=["job", "run_date"], name="job_run_once_per_day"),
        ]
        indexes = [models.Index(fields=["status", "lease_until"], name="job_run_status_idx")]

    def __str__(self) -> str:
        return f"{self.job} {self.run_date} {self.status}"

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class AuditTrailIsAppendOnlyError(DomainError):
    default_message = _("Audit events are never changed or deleted.")


class AuditEventQuerySet(models.QuerySet):
    """Queryset-wide updates and deletes would bypass `AuditEvent.save`/`delete`; both refuse."""

    def update(self, **kwargs):
        raise AuditTrailIsAppendOnlyError

    def delete(self):
        raise AuditTrailIsAppendOnlyError


class AuditEvent(models.Model):
    """One thing a person (or a job on their behalf) did that matters: who, what, when, from where.

    Append-only: `save` refuses to change a stored row, `delete` and queryset updates and deletes
    raise, the admin is read-only, and on PostgreSQL a trigger refuses UPDATE and DELETE of any
    column except clearing `actor`/`customer` when that user or customer row is deleted (the
    labels and ids in `actor_label`, `object_id` and `details` keep the record readable).

    `details` never holds a customer's personal data (names, addresses): ids and counts only, so
    erasing a customer leaves nothing personal behind in the audit trail.
    """

    class Action(models.TextChoices):
        LOGIN = "login", _("Logged in")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOGOUT = "logout", _("Logged out")
        POINTS_ADJUSTED = "points_adjusted", _("Points adjusted")
        REWARD_REDEEMED = "reward_redeemed", _("Reward redeemed")
        REDEMPTION_CANCELLED = "redemption_cancelled", _("Redemption cancelled")
        CUSTOMERS_REASSIGNED = "customers_reassigned", _("Accounts reassigned")
        CONSENT_CHANGED = "consent_changed", _("Consent changed")
        IMPORT_STARTED = "import_started", _("Import started")
        IMPORT_FINISHED = "import_finished", _("Import finished")
        EXPORT = "export", _("Customer list exported")
        PERSONAL_DATA_EXPORTED = "personal_data_exported", _("Personal data exported")
        CUSTOMER_ERASED = "customer_erased", _("Customer erased")
        LOYALTY_CONFIG_CHANGED = "loyalty_config_changed", _("Loyalty configuration changed")

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The username as it was, so the record reads right after the user is renamed or deleted.
    actor_label = models.CharField(_("user name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=30, choices=Action.choices)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        indexes = [
            models.Index(fields=["action", "at"], name="audit_action_time_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_time_idx"),
            models.Index(fields=["customer", "at"], name="audit_customer_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditTrailIsAppendOnlyError
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnlyError
