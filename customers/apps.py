from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from .models import BASE_METRICS, TAGS, Tag

        post_save.connect(TAGS.renew, sender=Tag, dispatch_uid="customers.tags.save")
        post_delete.connect(TAGS.renew, sender=Tag, dispatch_uid="customers.tags.delete")
        # A deploy migrates: nothing kept by the code before it is read by the code after it.
        post_migrate.connect(TAGS.renew, dispatch_uid="customers.tags.migrate")
        post_migrate.connect(BASE_METRICS.renew, dispatch_uid="customers.metrics.migrate")
