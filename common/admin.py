from django.contrib import admin

from .models import AuditEvent, JobRun


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ["job", "run_date", "status", "attempts", "started_at", "finished_at", "worker"]
    list_filter = ["status", "job"]
    date_hierarchy = "run_date"
    search_fields = ["job", "error"]
    readonly_fields = [field.name for field in JobRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Job runs are records of what happened; re-run a job instead of editing its record.
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, to read and search; nobody adds, changes or deletes events, not even here."""

    list_display = [
        "at",
        "action",
        "actor_label",
        "object_type",
        "object_id",
        "customer_id",
        "ip_address",
    ]
    list_filter = ["action"]
    date_hierarchy = "at"
    search_fields = ["actor_label", "object_type", "object_id"]
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
