from django.contrib import admin

from .models import JobRun


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
