import json

from django.conf import settings
from django.db import migrations

# (job, hour, minute, description): the nightly jobs of retention/nightly.py, local time.
NIGHTLY = [
    ("rescore", 2, 0, "Every night at 02:00: score every customer (value, risk, dormant)."),
    ("plan_contacts", 2, 30, "Every night at 02:30: win-backs for dormant customers, key-account "
     "calls, messages within caps."),
    ("expire_points", 3, 0, "Every night at 03:00: release pending points, expire old points."),
    ("review_tiers", 3, 15, "Every night at 03:15: re-evaluate loyalty tiers."),
    ("managers_digest", 9, 0, "Every morning at 09:00: the managers' digest e-mail."),
]


def seed_schedules(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for job, hour, minute, description in NIGHTLY:
        crontab, _ = crontab_model.objects.get_or_create(
            minute=str(minute), hour=str(hour), day_of_week="*", day_of_month="*",
            month_of_year="*", timezone=settings.TIME_ZONE,
        )
        task_model.objects.get_or_create(
            name=f"nightly: {job}",
            defaults={
                "task": "retention.run_job",
                "crontab": crontab,
                "kwargs": json.dumps({"job": job}),
                "description": description,
            },
        )
    every_five_minutes, _ = interval_model.objects.get_or_create(every=5, period="minutes")
    task_model.objects.get_or_create(
        name="imports: re-enqueue lost uploads",
        defaults={
            "task": "customers.sweep_import_jobs",
            "interval": every_five_minutes,
            "description": "Every 5 minutes: hand uploads whose task was lost back to the workers.",
        },
    )
    task_model.objects.get_or_create(
        name="outbox: sweep stuck messages",
        defaults={
            "task": "contacts.sweep_outbox",
            "interval": every_five_minutes,
            "description": "Every 5 minutes: re-enqueue messages stuck in the outbox.",
        },
    )


class Migration(migrations.Migration):
    """Default schedules for Celery beat; admins change them in the admin (Periodic tasks)."""

    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(seed_schedules, migrations.RunPython.noop)]
