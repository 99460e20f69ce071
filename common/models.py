"""Infrastructure rows shared by every app: the record and lock of each scheduled job run."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
