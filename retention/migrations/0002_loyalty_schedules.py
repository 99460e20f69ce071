import json

from django.conf import settings
from django.db import migrations


def seed_schedule(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    # On the 1st of every month at 10:00 local time (retention.nightly.BALANCE_REMINDER_DAY).
    crontab, _ = crontab_model.objects.get_or_create(
        minute="0", hour="10", day_of_week="*", day_of_month="1", month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    task_model.objects.get_or_create(
        name="nightly: balance_reminders",
        defaults={
            "task": "retention.run_job",
            "crontab": crontab,
            "kwargs": json.dumps({"job": "balance_reminders"}),
            "description": "On the 1st of every month at 10:00: loyalty balance reminders.",
        },
    )
    every_five_minutes, _ = interval_model.objects.get_or_create(every=5, period="minutes")
    task_model.objects.get_or_create(
        name="loyalty: accrue deferred purchases",
        defaults={
            "task": "loyalty.accrue_backlog",
            "interval": every_five_minutes,
            "description": "Every 5 minutes: accrue points of large batches a worker has not "
            "accrued yet (a lost hand-off, a worker that was down).",
        },
    )


class Migration(migrations.Migration):
    """Loyalty's schedules for Celery beat (the monthly balance reminder, the sweeper of deferred
    accruals); admins change them in the admin."""

    dependencies = [("retention", "0001_default_schedules")]

    operations = [migrations.RunPython(seed_schedule, migrations.RunPython.noop)]
