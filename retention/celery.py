"""The Celery app. Configuration comes from Django settings under the CELERY_ namespace."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retention.settings")

app = Celery("retention")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="retention.ping")
def ping_task(**kwargs) -> str:
    """Answers "pong": the health check's and smoke test's round trip through a worker."""
    return "pong"
