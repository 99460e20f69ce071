from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty")

    def ready(self) -> None:
        from customers.signals import demo_data_deleting, purchases_recorded, refunds_recorded

        from . import receivers

        purchases_recorded.connect(
            receivers.accrue_points_on_purchases, dispatch_uid="loyalty.accrue_points"
        )
        refunds_recorded.connect(
            receivers.reverse_points_on_refunds, dispatch_uid="loyalty.reverse_points"
        )
        demo_data_deleting.connect(
            receivers.delete_points_of_demo_customers, dispatch_uid="loyalty.delete_demo_points"
        )
