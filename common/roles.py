"""The three roles and what each may do, kept in one place.

Groups are created by a data migration; their permission sets are re-synced after every migrate,
so models added later (and their permissions) reach the roles without a hand-written migration.
"""

from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db.models import Q

SALES_MANAGER = "Sales manager"
ACCOUNT_REP = "Account rep"
LOYALTY_ADMIN = "Loyalty admin"

# app_label -> codenames, or "*" for every permission of that app.
ROLE_PERMISSIONS: dict[str, dict[str, list[str] | str]] = {
    SALES_MANAGER: {
        "customers": [
            "view_customer", "add_customer", "change_customer", "view_all_customers",
            "export_customers", "reassign_customers", "import_data",
            "view_purchase", "add_purchase", "change_purchase", "view_refund", "add_refund",
            "view_importjob", "view_tag", "add_tag", "change_tag",
        ],
        "contacts": "*",
        "loyalty": ["view_*", "redeem_rewards", "cancel_redemptions", "report_loyalty"],
    },
    ACCOUNT_REP: {
        "customers": [
            "view_customer", "change_customer", "view_purchase", "add_purchase",
            "view_refund", "add_refund", "view_tag",
        ],
        "contacts": ["view_*", "add_*", "change_*"],
        "loyalty": ["view_*", "redeem_rewards"],
    },
    LOYALTY_ADMIN: {
        "customers": ["view_customer", "view_purchase", "view_refund"],
        "contacts": ["view_messagetemplate", "add_messagetemplate", "change_messagetemplate"],
        "loyalty": "*",
    },
}


def _permissions_for(spec: dict[str, list[str] | str]) -> Q:
    query = Q(pk__in=[])
    for app_label, codenames in spec.items():
        if codenames == "*":
            query |= Q(content_type__app_label=app_label)
            continue
        for codename in codenames:
            if codename.endswith("*"):
                query |= Q(content_type__app_label=app_label, codename__startswith=codename[:-1])
            else:
                query |= Q(content_type__app_label=app_label, codename=codename)
    return query


def sync_roles(*, group_model=Group, permission_model=Permission) -> None:
    """Makes every role group exist with exactly the permissions ROLE_PERMISSIONS gives it."""
    for name, spec in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.set(permission_model.objects.filter(_permissions_for(spec)))


def sync_roles_after_migrate(sender, **kwargs) -> None:
    # Each app's permissions are created by its own post_migrate call, so re-sync after each one.
    if sender.name in {"common", "customers", "contacts", "loyalty"}:
        sync_roles()


def user_roles(user) -> frozenset[str] | set[str]:
    """The role names of a user; superusers count as every role."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return set()
    if user.is_superuser:
        return {SALES_MANAGER, ACCOUNT_REP, LOYALTY_ADMIN}
    from .grants import grants_for

    return grants_for(user).groups


def is_manager(user) -> bool:
    return SALES_MANAGER in user_roles(user)


def is_rep(user) -> bool:
    return ACCOUNT_REP in user_roles(user)


def is_loyalty_admin(user) -> bool:
    return LOYALTY_ADMIN in user_roles(user)
