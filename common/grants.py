"""A signed-in user, their permissions and role names: read from the database once, then from
the cache.

Every page and API call asks who the user is (a query for the session's user) and what they may
do: Django's ModelBackend answers with two queries (the user's own permissions and their groups'
permissions) and the role flags of the navigation bar cost a third (the group names). Those
answers change only when a user is saved or an administrator changes groups or permissions, so
they are kept in the shared cache (Redis in production) under the user's id, stamped with a
generation (`common.caching.Generation`: renewed at the change and again at its commit). Any
change to groups, permissions or their links, any save or deletion of a user or an API token (a
login's new last_login and a new password included: the session check compares the password's
hash) and every migrate start a new generation, which makes every kept answer stale at once.

Entries also expire after `GRANTS_TTL` seconds. When the cache cannot be reached the answer comes
from the database, as it would without this module: a cache outage never locks anybody out or
lets anybody in. The cache must be shared by every process that serves requests: without Redis
(settings.SHARED_CACHE off) every request asks the database, as Django does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from rest_framework.authentication import TokenAuthentication

from common.caching import Generation

GRANTS_TTL = 300
GENERATION = Generation("grants", ttl=GRANTS_TTL)
GENERATION_KEY = GENERATION.key


@dataclass(frozen=True)
class Grants:
    permissions: frozenset[str]  # "app_label.codename"
    groups: frozenset[str]


def _entry_key(user_id: int) -> str:
    return f"grants:user:{user_id}"


def _account_key(user_id: int) -> str:
    return f"grants:account:{user_id}"


def _from_database(user, backend: ModelBackend) -> Grants:
    """Two queries, as ModelBackend's: the user's own permissions; its groups with theirs."""
    rows = list(
        user.groups.values_list(
            "name", "permissions__content_type__app_label", "permissions__codename"
        )
    )
    # A superuser's own permissions are every permission there is (ModelBackend's rule).
    permissions = set(backend.get_user_permissions(user))
    if not user.is_superuser:
        permissions.update(f"{app}.{code}" for _name, app, code in rows if code is not None)
    return Grants(
        permissions=frozenset(permissions), groups=frozenset(name for name, *_ in rows)
    )


def grants_for(user) -> Grants:
    """The permissions and group names of an active, saved user (cached on the user object)."""
    cached = getattr(user, "_retention_grants", None)
    if cached is None:
        cached = user._retention_grants = _kept_grants(user, ModelBackend())
    return cached


def _kept_grants(user, backend: ModelBackend) -> Grants:
    key = _entry_key(user.pk)
    generation, current = GENERATION.read([key])
    if key in current:
        superuser, grants = current[key]
        if superuser == user.is_superuser:
            return grants
    grants = _from_database(user, backend)
    GENERATION.keep(generation, key, (user.is_superuser, grants))
    return grants


def start_new_generation(**_kwargs) -> None:
    """Makes every kept answer stale, now and again at commit (see common.caching.Generation)."""
    GENERATION.renew()


def cached_user(user_id, load):
    """The active user `load(user_id)` reads from the database (None when there is none), kept in
    the cache; the user's kept grants, when still current, come with it in the same cache call.
    A kept user is a copy of the row as it was when the generation began: any save of a user
    starts a new one."""
    user_key, grants_key = _account_key(user_id), _entry_key(user_id)
    generation, current = GENERATION.read([user_key, grants_key])
    user = current.get(user_key)
    if user is None:
        user = load(user_id)
        if user is None:
            return None
        GENERATION.keep(generation, user_key, user)
    kept = current.get(grants_key)
    if kept is not None and kept[0] == user.is_superuser:
        user._retention_grants = kept[1]
    # What this user was read under: anything rendered from the user, their roles and
    # permissions alone may be kept under it too (the navigation bar).
    user._grants_generation = generation
    return user


def connect_receivers() -> None:
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    uid = "common.grants"
    # A revoked or re-issued API token stops working at once.
    post_save.connect(start_new_generation, sender=Token, dispatch_uid=f"{uid}.token")
    post_delete.connect(start_new_generation, sender=Token, dispatch_uid=f"{uid}.token.del")
    for through in (
        user_model.groups.through,
        user_model.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(start_new_generation, sender=through, dispatch_uid=f"{uid}.{through}")
    for model in (Group, Permission):
        post_save.connect(start_new_generation, sender=model, dispatch_uid=f"{uid}.save.{model}")
        post_delete.connect(start_new_generation, sender=model, dispatch_uid=f"{uid}.del.{model}")
    post_save.connect(start_new_generation, sender=user_model, dispatch_uid=f"{uid}.user")
    post_delete.connect(start_new_generation, sender=user_model, dispatch_uid=f"{uid}.user.del")
    post_migrate.connect(start_new_generation, dispatch_uid=f"{uid}.migrate")


class CachedPermissionsBackend(ModelBackend):
    """ModelBackend whose session user and permission answers come from the cache (`cached_user`,
    `grants_for`): same rules, fewer queries."""

    def get_user(self, user_id):
        return cached_user(user_id, super().get_user)

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = set(grants_for(user_obj).permissions)
        return user_obj._perm_cache


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication with the token and its user kept under the generation (any save
    or deletion of a token or a user renews it): an API call reads no token row once kept."""

    def authenticate_credentials(self, key):
        # The entry is named by the key's digest and holds the user and the token's creation
        # time, never the key itself: the cache holds nothing that authenticates a caller.
        entry_key = "grants:token:" + hashlib.sha256(key.encode()).hexdigest()
        generation, current = GENERATION.read([entry_key])
        if entry_key in current:
            user, created = current[entry_key]
            return user, self.get_model()(key=key, user=user, created=created)
        user, token = super().authenticate_credentials(key)  # raises for unknown or inactive
        # Django hung the token on its user (the reverse one-to-one): not into the cache with it.
        user._state.fields_cache.pop("auth_token", None)
        GENERATION.keep(generation, entry_key, (user, token.created))
        return user, token
