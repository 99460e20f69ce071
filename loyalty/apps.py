from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from contacts.signals import call_list_extras, message_variables
        from customers.signals import (
            customer_data_requested,
            customer_erased,
            demo_data_deleting,
            purchases_recorded,
            refunds_recorded,
        )

        from . import receivers
        from .models import Programme, Tier
        from .rules import RULES

        for model in (Programme, Tier):
            post_save.connect(RULES.renew, sender=model, dispatch_uid=f"loyalty.rules.save.{model}")
            post_delete.connect(RULES.renew, sender=model, dispatch_uid=f"loyalty.rules.del.{model}")
        post_migrate.connect(RULES.renew, dispatch_uid="loyalty.rules.migrate")

        purchases_recorded.connect(
            receivers.accrue_points_on_purchases, dispatch_uid="loyalty.accrue_points"
        )
        refunds_recorded.connect(
            receivers.reverse_points_on_refunds, dispatch_uid="loyalty.reverse_points"
        )
        demo_data_deleting.connect(
            receivers.delete_points_of_demo_customers, dispatch_uid="loyalty.delete_demo_points"
        )
        customer_data_requested.connect(
            receivers.export_loyalty_data, dispatch_uid="loyalty.export_loyalty_data"
        )
        customer_erased.connect(
            receivers.erase_loyalty_data, dispatch_uid="loyalty.erase_loyalty_data"
        )
        message_variables.connect(
            receivers.points_message_variables, dispatch_uid="loyalty.message_variables"
        )
        call_list_extras.connect(
            receivers.points_call_list_extras, dispatch_uid="loyalty.call_list_extras"
        )
