from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from .models import TAGS, Tag

        post_save.connect(TAGS.renew, sender=Tag, dispatch_uid="customers.tags.save")
        post_delete.connect(TAGS.renew, sender=Tag, dispatch_uid="customers.tags.delete")
