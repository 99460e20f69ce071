from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        from customers.signals import scoring_run_finished
        from loyalty.signals import points_redeemed, tier_changed

        from . import receivers

        scoring_run_finished.connect(
            receivers.customers_turned_dormant, dispatch_uid="webhooks.customers_turned_dormant"
        )
        tier_changed.connect(receivers.tier_changed, dispatch_uid="webhooks.tier_changed")
        points_redeemed.connect(receivers.points_redeemed, dispatch_uid="webhooks.points_redeemed")
