from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import LedgerEntry, LoyaltyAccount, Programme, Tier
from tests.factories import CustomerFactory, LoyaltyAdminFactory
from tests.loyalty.conftest import balance_of, buy

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(LoyaltyAdminFactory(is_staff=True))
    return client


def test_a_loyalty_admin_builds_a_tier_programme_and_sees_customers_placed(admin_client, programme):
    regular, big = CustomerFactory(name="Regular Ltd"), CustomerFactory(name="Big Spender Ltd")
    buy(regular, "20000")
    buy(big, "300000")
    assert admin_client.get(reverse("admin:loyalty_tier_changelist")).status_code == 200
    response = admin_client.post(
        reverse("admin:loyalty_tier_add"),
        {
            "name": "Diamond",
            "order": 4,
            "qualifying_spend": "1000000",
            "earn_multiplier": "2",
            "discount_percent": "10",
            "perks": "A personal manager",
        },
    )
    assert response.status_code == 302
    # Lowering Gold's threshold moves the big spender up once customers are placed again.
    gold = Tier.objects.get(name="Gold")
    platinum = Tier.objects.get(name="Platinum")
    response = admin_client.post(
        reverse("admin:loyalty_tier_change", args=[platinum.pk]),
        {
            "name": "Platinum",
            "order": 3,
            "qualifying_spend": "250000",
            "earn_multiplier": "1.5",
            "discount_percent": "5",
            "perks": "",
        },
    )
    assert response.status_code == 302
    changelist = admin_client.get(reverse("admin:loyalty_tier_changelist")).content.decode()
    assert "Place customers in tiers now" in changelist
    assert "Diamond" in changelist
    response = admin_client.post(reverse("admin:loyalty_tier_place"), follow=True)
    assert "1 upgraded" in response.content.decode()
    placed = admin_client.get(
        reverse("admin:loyalty_loyaltyaccount_changelist"), {"tier__id__exact": platinum.pk}
    )
    assert "Big Spender Ltd" in placed.content.decode()
    assert "Regular Ltd" not in placed.content.decode()
    assert LoyaltyAccount.objects.get(customer=regular).tier.name == "Silver"
    assert gold.accounts.count() == 0


def test_tier_thresholds_must_rise_with_the_order(admin_client, programme):
    response = admin_client.post(
        reverse("admin:loyalty_tier_add"),
        {
            "name": "Odd",
            "order": 4,
            "qualifying_spend": "1000",
            "earn_multiplier": "1",
            "discount_percent": "0",
        },
    )
    assert response.status_code == 200
    assert "higher tier must need more spend" in response.content.decode()
    assert not Tier.objects.filter(name="Odd").exists()


def test_the_programme_is_edited_in_one_form(admin_client, programme):
    response = admin_client.get(reverse("admin:loyalty_programme_changelist"))
    assert response.status_code == 302
    assert response.url == reverse("admin:loyalty_programme_change", args=[1])
    data = {
        "name": "Club",
        "currency": "RUB",
        "points_per_unit": "0.02",
        "rounding": "half_up",
        "minimum_purchase": "100",
        "qualifying_currencies": "rub, usd",
        "qualifying_sources": "",
        "return_window_days": "14",
        "expiry_months": "12",
        "tier_window_months": "12",
        "downgrade_grace_days": "30",
        "point_value": "0.5",
        "purchase_confirmations": "on",
        "expiry_warning_days": "14",
        "member_link_days": "30",
    }
    assert admin_client.post(response.url, data).status_code == 302
    programme = Programme.load()
    assert (programme.points_per_unit, programme.qualifying_currencies) == (
        Decimal("0.0200"),
        "RUB,USD",
    )
    assert (
        programme.purchase_confirmations,
        programme.balance_reminders,
        programme.expiry_warning_days,
        programme.member_link_days,
    ) == (True, False, 14, 30)


def test_the_ledger_is_read_only_in_the_admin_and_adjusted_through_the_service(
    admin_client, programme, customer
):
    buy(customer, "10000")
    entry = LedgerEntry.objects.get()
    assert admin_client.get(reverse("admin:loyalty_ledgerentry_add")).status_code == 403
    page = admin_client.get(reverse("admin:loyalty_ledgerentry_change", args=[entry.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    account = LoyaltyAccount.objects.get(customer=customer)
    url = reverse("admin:loyalty_loyaltyaccount_adjust", args=[account.pk])
    assert admin_client.get(url).status_code == 200
    refused = admin_client.post(
        url, {"points": "-500", "reason": "Too much", "key": "adjust-key-1"}
    )
    assert refused.status_code == 200
    assert "below zero" in refused.content.decode()
    assert (
        admin_client.post(
            url, {"points": "25", "reason": "Apology", "key": "adjust-key-2"}
        ).status_code
        == 302
    )
    assert balance_of(customer) == 125


def test_tier_numbers_are_edited_in_the_list(admin_client, programme):
    tiers = list(Tier.objects.order_by("order"))
    data = {
        "form-TOTAL_FORMS": str(len(tiers)),
        "form-INITIAL_FORMS": str(len(tiers)),
        "_save": "Save",
    }
    for index, tier in enumerate(tiers):
        data |= {
            f"form-{index}-id": str(tier.pk),
            f"form-{index}-qualifying_spend": str(tier.qualifying_spend),
            f"form-{index}-earn_multiplier": "1.75"
            if tier.name == "Gold"
            else str(tier.earn_multiplier),
            f"form-{index}-discount_percent": str(tier.discount_percent),
        }
    response = admin_client.post(reverse("admin:loyalty_tier_changelist"), data)
    assert response.status_code == 302
    assert Tier.objects.get(name="Gold").earn_multiplier == Decimal("1.75")


def test_member_links_are_revoked_from_the_accounts_list(admin_client, programme, customer):
    from loyalty.member import link_versions

    buy(customer, "1000")
    account = LoyaltyAccount.objects.get(customer=customer)
    response = admin_client.post(
        reverse("admin:loyalty_loyaltyaccount_changelist"),
        {"action": "revoke_member_links", "_selected_action": [account.pk]},
    )
    assert response.status_code == 302
    assert link_versions([customer.pk])[customer.pk] == 1


def test_message_and_member_access_lists_open(admin_client, programme, customer):
    from loyalty import services

    purchase = buy(customer, "5000")
    services.send_purchase_confirmations(purchase_ids=[purchase.pk])
    for name in ("loyaltymessage", "memberaccess", "partner", "reward", "tier"):
        assert admin_client.get(reverse(f"admin:loyalty_{name}_changelist")).status_code == 200


def test_the_tier_list_offers_placing_customers_to_those_who_may(admin_client, client, programme):
    from tests.factories import ManagerFactory

    place = reverse("admin:loyalty_tier_place")
    assert (
        f'action="{place}"'
        in admin_client.get(reverse("admin:loyalty_tier_changelist")).content.decode()
    )
    client.force_login(ManagerFactory(is_staff=True))
    response = client.get(reverse("admin:loyalty_tier_changelist"))
    assert response.status_code == 200
    assert f'action="{place}"' not in response.content.decode()
