from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RetentionConfig(AppConfig):
    """The project package as an app: the nightly pipeline, its tasks, command and schedules."""

    name = "retention"
    verbose_name = _("Retention")
