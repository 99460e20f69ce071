"""Permissions and roles come from the cache after the first request, and never go stale."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from common import grants
from common.roles import ACCOUNT_REP, SALES_MANAGER, is_manager, is_rep
from tests.factories import ManagerFactory, RepFactory, UserFactory

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Port 1 on the loopback: nothing listens there, so every call is refused at once.
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


def fresh(user):
    """The user as the next request loads it: a new object with nothing cached on it."""
    return get_user_model().objects.get(pk=user.pk)


def test_second_request_asks_the_database_nothing():
    rep = RepFactory()
    assert fresh(rep).has_perm("customers.add_purchase")
    with CaptureQueriesContext(connection) as captured:
        user = fresh(rep)
        assert user.has_perm("customers.add_purchase")
        assert not user.has_perm("customers.export_customers")
        assert is_rep(user)
        assert not is_manager(user)
    # The one query loads the user; permissions and roles came from the cache.
    assert len(captured.captured_queries) == 1


def test_same_answers_as_djangos_model_backend():
    from django.contrib.auth.backends import ModelBackend

    for user in (RepFactory(), ManagerFactory(), UserFactory(), UserFactory(is_superuser=True)):
        expected = ModelBackend().get_all_permissions(fresh(user))
        assert fresh(user).get_all_permissions() == expected
        assert fresh(user).get_all_permissions() == expected  # from the cache this time


def test_joining_a_group_counts_at_once():
    user = RepFactory()
    assert not fresh(user).has_perm("customers.export_customers")
    assert not is_manager(fresh(user))
    user.groups.add(Group.objects.get(name=SALES_MANAGER))
    assert fresh(user).has_perm("customers.export_customers")
    assert is_manager(fresh(user))


def test_leaving_a_group_counts_at_once():
    user = RepFactory()
    assert fresh(user).has_perm("customers.add_purchase")
    user.groups.remove(Group.objects.get(name=ACCOUNT_REP))
    assert not fresh(user).has_perm("customers.add_purchase")
    assert not is_rep(fresh(user))


def test_a_permission_taken_from_a_group_is_gone_for_its_members():
    user = RepFactory()
    assert fresh(user).has_perm("customers.add_purchase")
    permission = Permission.objects.get(codename="add_purchase", content_type__app_label="customers")
    Group.objects.get(name=ACCOUNT_REP).permissions.remove(permission)
    assert not fresh(user).has_perm("customers.add_purchase")


def test_a_permission_given_to_the_user_counts_at_once():
    user = RepFactory()
    assert not fresh(user).has_perm("customers.export_customers")
    user.user_permissions.add(
        Permission.objects.get(codename="export_customers", content_type__app_label="customers")
    )
    assert fresh(user).has_perm("customers.export_customers")


def test_superuser_and_deactivation_count_at_once():
    user = RepFactory()
    assert not is_manager(fresh(user))
    user.is_superuser = True
    user.save()
    assert is_manager(fresh(user))
    user.is_superuser = False
    user.is_active = False
    user.save()
    assert not fresh(user).has_perm("customers.add_purchase")


def test_a_change_starts_a_new_generation_now_and_again_at_commit(
    django_capture_on_commit_callbacks,
):
    from django.core.cache import cache

    user = RepFactory()
    fresh(user).has_perm("customers.add_purchase")
    before = cache.get(grants.GENERATION_KEY)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        user.groups.add(Group.objects.get(name=SALES_MANAGER))
        during = cache.get(grants.GENERATION_KEY)
    after = cache.get(grants.GENERATION_KEY)
    assert callbacks, "no generation change was left for the commit"
    assert len({before, during, after}) == 3


def test_a_lost_generation_makes_every_kept_answer_stale():
    from django.core.cache import cache

    user = ManagerFactory()
    assert is_manager(fresh(user))
    # Redis evicted the generation but kept the user's entry; the membership changes without a
    # signal (a bulk delete of the link rows), so only the lost generation can tell.
    cache.delete(grants.GENERATION_KEY)
    get_user_model().groups.through.objects.filter(user=user).delete()
    assert not is_manager(fresh(user))


def test_without_a_shared_cache_every_request_asks_the_database(settings):
    from django.core.cache import cache

    settings.SHARED_CACHE = False
    rep = RepFactory()
    assert fresh(rep).has_perm("customers.add_purchase")
    with CaptureQueriesContext(connection) as captured:
        user = fresh(rep)
        assert user.has_perm("customers.add_purchase")
        assert is_rep(user)
    assert len(captured.captured_queries) == 3  # the user, its permissions, its groups with theirs
    assert cache.get(grants.GENERATION_KEY) is None


def test_an_unreachable_cache_answers_from_the_database(settings, caplog):
    user = RepFactory()
    settings.CACHES = UNREACHABLE_REDIS
    user.groups.add(Group.objects.get(name=SALES_MANAGER))  # the change itself goes through
    with CaptureQueriesContext(connection) as captured:
        loaded = fresh(user)
        assert loaded.has_perm("customers.export_customers")
        assert is_manager(loaded)
    # The user, its own permissions, its groups with their permissions: as without the cache.
    assert len(captured.captured_queries) == 3
    assert "grants.cache_unavailable" in caplog.text


def test_a_failed_change_of_generation_is_tried_again_at_commit(
    settings, django_capture_on_commit_callbacks, caplog
):
    from django.core.cache import cache

    user = RepFactory()
    assert not is_manager(fresh(user))
    reachable = settings.CACHES
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        settings.CACHES = UNREACHABLE_REDIS  # a blip while the change is made
        user.groups.add(Group.objects.get(name=SALES_MANAGER))
        settings.CACHES = reachable
    assert "grants.cache_unavailable" in caplog.text
    assert not is_manager(fresh(user))  # the kept answer: the bump was lost
    before = cache.get(grants.GENERATION_KEY)
    for callback in callbacks:
        callback()
    assert cache.get(grants.GENERATION_KEY) != before
    assert is_manager(fresh(user))


# --- The session's user ----------------------------------------------------------------------


def signed_in(client, user):
    client.force_login(user)
    return client


def test_a_signed_in_page_reads_no_user_row_once_kept(client):
    from django.urls import reverse

    rep = RepFactory()
    signed_in(client, rep)
    assert client.get(reverse("customers:list")).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("customers:list"))
    assert response.status_code == 200
    assert response.wsgi_request.user == rep
    user_rows = [
        query["sql"] for query in captured.captured_queries
        if 'FROM "auth_user" WHERE "auth_user"."id"' in query["sql"]
    ]
    assert user_rows == []


def test_the_backend_gives_the_kept_user_with_its_grants():
    backend = grants.CachedPermissionsBackend()
    rep = RepFactory()
    first = backend.get_user(rep.pk)
    assert first == rep
    assert first.has_perm("customers.add_purchase")
    with CaptureQueriesContext(connection) as captured:
        again = backend.get_user(rep.pk)
        assert again == rep
        assert again is not first
        assert again.has_perm("customers.add_purchase")
        assert is_rep(again)
    assert captured.captured_queries == []


def test_a_new_password_ends_other_sessions_at_once(client):
    from django.urls import reverse

    rep = RepFactory()
    signed_in(client, rep)
    assert client.get(reverse("customers:list")).status_code == 200
    rep.set_password("another-long-passphrase-9")
    rep.save()
    response = client.get(reverse("customers:list"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_deactivation_and_renaming_count_at_once():
    backend = grants.CachedPermissionsBackend()
    rep = RepFactory(first_name="Anna")
    assert backend.get_user(rep.pk).first_name == "Anna"
    rep.first_name = "Anya"
    rep.save(update_fields=["first_name"])
    assert backend.get_user(rep.pk).first_name == "Anya"
    rep.is_active = False
    rep.save()
    assert backend.get_user(rep.pk) is None
    get_user_model().objects.filter(pk=rep.pk).update(is_active=True)
    rep.delete()
    assert backend.get_user(rep.pk) is None


def test_the_session_user_without_a_shared_cache_or_with_redis_down(settings, caplog):
    backend = grants.CachedPermissionsBackend()
    rep = RepFactory()
    settings.SHARED_CACHE = False
    with CaptureQueriesContext(connection) as captured:
        assert backend.get_user(rep.pk) == rep
    assert len(captured.captured_queries) == 1
    settings.SHARED_CACHE = True
    settings.CACHES = UNREACHABLE_REDIS
    with CaptureQueriesContext(connection) as captured:
        assert backend.get_user(rep.pk) == rep
    assert len(captured.captured_queries) == 1
    assert "grants.cache_unavailable" in caplog.text


# --- API tokens --------------------------------------------------------------------------------


def token_client(user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


def test_an_api_call_reads_no_token_row_once_kept():
    from tests.factories import CustomerFactory

    rep = RepFactory()
    customer = CustomerFactory(owner=rep)
    client, _token = token_client(rep)
    assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    assert not [q for q in captured.captured_queries if "authtoken_token" in q["sql"]]


def test_a_revoked_token_or_deactivated_user_is_refused_at_once():
    from tests.factories import CustomerFactory

    rep = RepFactory()
    customer = CustomerFactory(owner=rep)
    client, token = token_client(rep)
    assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    token.delete()
    assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 401
    other, _token = token_client(rep)
    assert other.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    rep.is_active = False
    rep.save()
    assert other.get(f"/api/v1/customers/{customer.pk}/").status_code == 401


def test_tokens_without_a_shared_cache_or_with_redis_down(settings, caplog):
    from tests.factories import CustomerFactory

    rep = RepFactory()
    customer = CustomerFactory(owner=rep)
    client, _token = token_client(rep)
    settings.SHARED_CACHE = False
    assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    settings.SHARED_CACHE = True
    settings.CACHES = UNREACHABLE_REDIS
    assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    assert "grants.cache_unavailable" in caplog.text


def test_the_kept_rep_list_follows_users_and_groups():
    from customers.selectors import active_reps

    ann = RepFactory(username="ann")
    assert [rep.username for rep in active_reps()] == ["ann"]
    with CaptureQueriesContext(connection) as captured:
        assert active_reps() == [ann]
    assert captured.captured_queries == []
    RepFactory(username="bob")
    ann.is_active = False
    ann.save()
    assert [rep.username for rep in active_reps()] == ["bob"]


def test_the_cache_never_holds_a_tokens_key():
    from django.core.cache import cache

    from tests.factories import CustomerFactory

    rep = RepFactory()
    customer = CustomerFactory(owner=rep)
    client, token = token_client(rep)
    assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    assert cache._cache  # the suite's local-memory cache: pickled values
    for key in cache._cache:
        assert token.key not in key
        assert token.key.encode() not in cache._cache[key]
    again = client.get(f"/api/v1/customers/{customer.pk}/")
    assert again.status_code == 200
    assert again.wsgi_request.auth.key == token.key
    assert again.wsgi_request.auth.user == rep
