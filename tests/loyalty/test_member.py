"""The member page: opened from a signed, expiring, revocable link without a password."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import formats, timezone, translation

from common.models import AuditEvent
from contacts.models import ConsentChange
from loyalty import member, services
from loyalty.models import MemberAccess
from tests.factories import CustomerFactory
from tests.loyalty.conftest import buy, grant

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.loyalty.urls")]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def member_customer(customer, programme, reward):
    buy(customer, "25000")  # 250 points
    return customer


def page_url(customer_id: int) -> str:
    return member.member_url(customer_id)


def test_the_link_opens_the_page_with_balance_tier_rewards_and_history(
    client, member_customer, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20):
        response = client.get(page_url(member_customer.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="member-balance">250<' in html
    assert 'data-testid="member-tier">Silver<' in html
    assert "Coffee voucher" in html
    assert 'data-testid="member-history"' in html
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_the_page_speaks_the_customers_language(client, member_customer):
    member_customer.language = "ru"
    member_customer.save()
    assert '<html lang="ru">' in client.get(page_url(member_customer.pk)).content.decode()
    member_customer.language = "en"
    member_customer.save()
    assert '<html lang="en">' in client.get(page_url(member_customer.pk)).content.decode()
    # The visitor's own pick with the language switch wins.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    assert '<html lang="ru">' in client.get(page_url(member_customer.pk)).content.decode()


def test_the_customer_changes_consent_recorded_with_its_source(client, member_customer):
    url = page_url(member_customer.pk)
    response = client.post(url, {"email": "on", "phone": "on"})  # untick SMS
    assert response.status_code == 302
    assert response["Location"].endswith("?saved=1")
    member_customer.refresh_from_db()
    assert member_customer.consent_email
    assert not member_customer.consent_sms
    change = ConsentChange.objects.get(customer=member_customer)
    assert (change.channel, change.granted, change.source) == ("sms", False, "form")
    assert AuditEvent.objects.filter(
        customer_id=member_customer.pk, action=AuditEvent.Action.CONSENT_CHANGED
    ).exists()
    assert 'data-testid="member-saved"' in client.get(response["Location"]).content.decode()


def test_an_expired_link_shows_a_clear_page(client, member_customer):
    url = page_url(member_customer.pk)
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        response = client.get(url)
    assert response.status_code == 410
    assert 'data-testid="member-link-expired"' in response.content.decode()


def test_a_revoked_link_stops_working_and_a_new_one_works(client, member_customer):
    old = page_url(member_customer.pk)
    assert services_version(member_customer) == 0
    member.revoke_member_links(customer_id=member_customer.pk)
    response = client.get(old)
    assert response.status_code == 410
    assert 'data-testid="member-link-revoked"' in response.content.decode()
    assert client.post(old, {"email": "on"}).status_code == 410
    assert client.get(page_url(member_customer.pk)).status_code == 200


def services_version(customer) -> int:
    return member.link_versions([customer.pk])[customer.pk]


@pytest.mark.parametrize("token", ["garbage", "eyJjIjoxLCJ2IjowfQ:1tAAAA:forged", "a" * 300])
def test_tampered_links_get_a_clear_page_not_an_error(client, member_customer, token):
    response = client.get(reverse("loyalty:member", args=[token]))
    assert response.status_code == 400
    assert 'data-testid="member-link-invalid"' in response.content.decode()


def test_a_link_for_another_purpose_is_refused(client, member_customer):
    from contacts.services.outbox import unsubscribe_token

    token = unsubscribe_token(customer_id=member_customer.pk, channel="email")
    assert client.get(reverse("loyalty:member", args=[token])).status_code == 400


def test_guessing_links_is_throttled(client, member_customer):
    statuses = [
        client.get(reverse("loyalty:member", args=[f"guess-{n}"])).status_code for n in range(25)
    ]
    assert statuses[0] == 400
    assert statuses[-1] == 429
    # Throttled: even a genuine link waits.
    assert client.get(page_url(member_customer.pk)).status_code in {200, 429}


def test_a_rep_revokes_the_links_from_the_customer_page(client, rep, member_customer):
    grant(rep, "redeem_rewards")
    client.force_login(rep)
    url = reverse("loyalty:revoke-member-links", args=[member_customer.pk])
    # The loyalty panel loads after the customer page (htmx), from its own URL.
    page = client.get(member_customer.get_absolute_url()).content.decode()
    panel_url = reverse("customer-loyalty-panel", args=[member_customer.pk])
    assert f'hx-get="{panel_url}"' in page
    page = client.get(panel_url).content.decode()
    assert 'data-testid="member-links"' in page
    assert f'action="{url}"' in page
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302
    assert MemberAccess.objects.get(customer=member_customer).revoked_by == rep
    client.logout()
    assert client.get(page_url(member_customer.pk)).status_code == 200  # a fresh link works


def test_another_reps_customer_links_cannot_be_revoked(client, rep, other_rep, programme):
    grant(rep, "redeem_rewards")
    theirs = CustomerFactory(owner=other_rep)
    client.force_login(rep)
    response = client.post(reverse("loyalty:revoke-member-links", args=[theirs.pk]))
    assert response.status_code == 404
    assert not MemberAccess.objects.exists()


def test_erasing_a_customer_revokes_their_links(client, member_customer, manager):
    from customers.privacy import erase_customer, export_customer_data

    url = page_url(member_customer.pk)
    data = export_customer_data(customer_id=member_customer.pk, by=manager)
    assert data["loyalty"]["account"]["balance"] == 250
    assert data["loyalty"]["balance_by_ledger"] == 250
    assert len(data["loyalty"]["ledger"]) == 1
    erase_customer(customer_id=member_customer.pk, by=manager)
    assert client.get(url).status_code == 410


def test_audit_events_for_adjustments_redemptions_and_cancellations(
    member_customer, manager, reward
):
    services.adjust_points(
        customer_id=member_customer.pk, points=-20, by=manager, reason="Goodwill", key="k1"
    )
    redemption = services.redeem_reward(
        customer_id=member_customer.pk, reward_id=reward.pk, by=manager, key="r1"
    )
    services.cancel_redemption(redemption_id=redemption.pk, by=manager)
    events = AuditEvent.objects.filter(customer_id=member_customer.pk).order_by("pk")
    assert [(event.action, event.actor_id) for event in events] == [
        (AuditEvent.Action.POINTS_ADJUSTED, manager.pk),
        (AuditEvent.Action.REWARD_REDEEMED, manager.pk),
        (AuditEvent.Action.REDEMPTION_CANCELLED, manager.pk),
    ]
    assert events[0].details == {"points": -20, "balance_before": 250, "balance_after": 230}


def test_the_history_shows_when_the_customer_bought(client, customer, programme):
    bought = timezone.now() - timedelta(days=40)
    buy(customer, "5000", at=bought)
    html = client.get(page_url(customer.pk)).content.decode()
    with translation.override(customer.language):
        shown = formats.date_format(timezone.localtime(bought), "SHORT_DATE_FORMAT")
    assert shown in html
