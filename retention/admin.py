"""The admin of what the project itself owns: the nightly schedules (Celery beat) and the users.

django-celery-beat's and Django's own admins are kept (their forms, actions and password pages)
and given the columns, filters and search people need here: when each job runs in plain words,
the last run, roles and the accounts a rep covers.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

User = get_user_model()

# Lists here are wide (scores, schedules, roles): the page's width goes to them, not to a second
# copy of the index in a sidebar.
admin.site.enable_nav_sidebar = False


@admin.display(description=_("runs"))
def _schedule(task: PeriodicTask) -> str:
    """The schedule in words: cron in the schedule's own time zone, or the interval."""
    if task.crontab_id:
        crontab = task.crontab
        if crontab.day_of_week == "*" and crontab.day_of_month == "*" and crontab.month_of_year == "*":
            if crontab.hour == "*" and crontab.minute.startswith("*/") and crontab.minute[2:].isdigit():
                minutes = int(crontab.minute[2:])
                return ngettext(
                    "every %(n)s minute", "every %(n)s minutes", minutes
                ) % {"n": minutes}
            if crontab.hour.isdigit() and crontab.minute.isdigit():
                return _("every day at %(time)s (%(zone)s)") % {
                    "time": f"{int(crontab.hour):02d}:{int(crontab.minute):02d}",
                    "zone": crontab.timezone,
                }
        return (
            f"{crontab.minute} {crontab.hour} {crontab.day_of_month} {crontab.month_of_year} "
            f"{crontab.day_of_week} ({crontab.timezone})"
        )
    if task.interval_id:
        return str(task.interval)
    if task.clocked_id:
        return str(task.clocked)
    if task.solar_id:
        return str(task.solar)
    return "—"


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class ScheduleAdmin(PeriodicTaskAdmin):
    """Beat's schedules: switch a job on or off from the list; the description says what it does."""

    list_display = ["name", "enabled", _schedule, "last_run_at", "description"]
    list_editable = ["enabled"]
    list_display_links = ["name"]
    list_filter = ["enabled", "task", "one_off"]
    search_fields = ["name", "task", "description"]
    list_select_related = ["crontab", "interval", "clocked", "solar"]
    ordering = ["name"]


admin.site.unregister(User)


@admin.register(User)
class RetentionUserAdmin(UserAdmin):
    """Users with their roles and the accounts they own; deactivate a leaver from the list."""

    list_display = [
        "username",
        "full_name",
        "roles",
        "owned_accounts",
        "is_active",
        "is_staff",
        "last_login",
    ]
    list_editable = ["is_active"]
    list_filter = ["groups", "is_active", "is_staff", "is_superuser"]
    search_fields = ["username", "first_name", "last_name", "email"]
    ordering = ["username"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("groups")
            .annotate(owned_count=Count("owned_customers", distinct=True))
        )

    @admin.display(description=_("name"), ordering="last_name")
    def full_name(self, user) -> str:
        return user.get_full_name()

    @admin.display(description=_("roles"))
    def roles(self, user) -> str:
        return ", ".join(sorted(group.name for group in user.groups.all())) or "—"

    @admin.display(description=_("accounts owned"), ordering="owned_count")
    def owned_accounts(self, user):
        if not user.owned_count:
            return 0
        url = f"{reverse('customers:list')}?owner={user.pk}"
        return format_html('<a href="{}">{}</a>', url, user.owned_count)
