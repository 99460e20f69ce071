import json

from django.conf import settings
from django.db import migrations


def seed_schedule(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
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


class Migration(migrations.Migration):
    """The monthly loyalty balance reminder for Celery beat; admins change it in the admin."""

    dependencies = [("retention", "0001_default_schedules")]

    operations = [migrations.RunPython(seed_schedule, migrations.RunPython.noop)]
