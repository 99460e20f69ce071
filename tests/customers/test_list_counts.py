"""The customer list's count: exact for short lists, kept a minute for long ones."""

import pytest
from django.test import Client
from django.urls import reverse

from customers.views import CachedCountPaginator
from tests.api.builders import score_for
from tests.common.test_grants import UNREACHABLE_REDIS
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def shown_count(client, **query) -> int:
    return client.get(reverse("customers:list"), query).context["paginator"].count


@pytest.fixture
def long_from_three(monkeypatch):
    # A "long" list from three customers on, so that a test needs no thousand rows.
    monkeypatch.setattr(CachedCountPaginator, "CACHE_FROM", 3)


def test_a_long_lists_count_is_kept_for_a_minute(manager_client, long_from_three):
    CustomerFactory.create_batch(4)
    assert shown_count(manager_client) == 4
    CustomerFactory()
    assert shown_count(manager_client) == 4  # counted a moment ago, kept
    # The page itself shows every customer there is, the new one too.
    assert len(manager_client.get(reverse("customers:list")).context["customers"]) == 5


def test_a_short_lists_count_is_exact_on_every_request(manager_client, monkeypatch):
    monkeypatch.setattr(CachedCountPaginator, "CACHE_FROM", 10)
    CustomerFactory.create_batch(2)
    assert shown_count(manager_client) == 2
    CustomerFactory()
    assert shown_count(manager_client) == 3


def test_each_filter_and_each_reps_view_has_its_own_count(manager_client, rep, long_from_three):
    rep_client = Client()
    rep_client.force_login(rep)
    mine = CustomerFactory.create_batch(3, owner=rep)
    CustomerFactory.create_batch(4)
    for customer in mine[:2]:
        score_for(customer, dormant=True)
    assert shown_count(manager_client) == 7
    assert shown_count(rep_client) == 3
    assert shown_count(manager_client, dormant="true") == 2
    assert shown_count(manager_client, dormant="true", ordering="-created") == 2
    assert shown_count(manager_client, owner=rep.pk) == 3


def test_the_list_counts_without_a_cache(manager_client, settings, long_from_three):
    CustomerFactory.create_batch(3)
    settings.CACHES = UNREACHABLE_REDIS
    assert shown_count(manager_client) == 3
    CustomerFactory()
    assert shown_count(manager_client) == 4


def test_not_dormant_is_a_filter_of_its_own(manager_client, long_from_three):
    customers = CustomerFactory.create_batch(5)
    for customer in customers[:4]:
        score_for(customer, dormant=False)
    assert shown_count(manager_client, dormant="false") == 4  # kept first
    assert shown_count(manager_client) == 5
    assert shown_count(manager_client, unassigned="") == 5
