from django.db import migrations


def seed_schedule(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    every_five_minutes, _ = interval_model.objects.get_or_create(every=5, period="minutes")
    task_model.objects.get_or_create(
        name="webhooks: sweep stuck deliveries",
        defaults={
            "task": "webhooks.sweep",
            "interval": every_five_minutes,
            "description": (
                "Every 5 minutes: send webhook deliveries that are due (new or retried), mark "
                "interrupted sends unknown, and scan finished scoring runs nobody scanned."
            ),
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="webhooks: sweep stuck deliveries"
    ).delete()


class Migration(migrations.Migration):
    """The webhooks' sweeper schedule for Celery beat (alongside retention's 0001 schedules)."""

    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed_schedule, remove_schedule)]
