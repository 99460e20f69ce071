from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = _("Common")

    def ready(self) -> None:
        from . import audit, grants, roles

        # New models arrive with new permissions; keep each role's permission set complete.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="common.sync_roles")
        # The audit trail listens to auth, customers, contacts and loyalty (by label, lazily).
        audit.connect_receivers()
        # Cached permissions and roles go stale when groups, permissions or users change.
        grants.connect_receivers()
