import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from loyalty import services
from loyalty.models import Redemption, Reward
from loyalty.selectors import customer_panel_for
from tests.factories import CustomerFactory, LoyaltyAdminFactory
from tests.loyalty.conftest import balance_of, buy, grant

# Until retention/urls.py includes loyalty.urls, these tests add it themselves.
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.loyalty.urls")]


@pytest.fixture
def funded(customer, programme):
    buy(customer, "25000")  # 250 points
    return customer


@pytest.fixture
def redeeming_rep(rep):
    grant(rep, "redeem_rewards")
    return rep


def test_a_rep_redeems_a_reward_for_their_customer(client, redeeming_rep, funded, reward):
    client.force_login(redeeming_rep)
    url = reverse("loyalty:redeem", args=[funded.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"reward": reward.pk, "key": "form-key-1"}, follow=True)
    assert response.redirect_chain[-1][0] == funded.get_absolute_url()
    redemption = Redemption.objects.get()
    assert redemption.code in response.content.decode()
    assert balance_of(funded) == 150
    client.post(url, {"reward": reward.pk, "key": "form-key-1"})  # the same form sent twice
    assert balance_of(funded) == 150


def test_another_reps_customer_is_not_found(client, redeeming_rep, other_rep, reward, programme):
    theirs = CustomerFactory(owner=other_rep)
    buy(theirs, "25000")
    client.force_login(redeeming_rep)
    response = client.post(
        reverse("loyalty:redeem", args=[theirs.pk]), {"reward": reward.pk, "key": "form-key-1"}
    )
    assert response.status_code == 404
    assert client.get(reverse("loyalty:ledger", args=[theirs.pk])).status_code == 404
    assert balance_of(theirs) == 250


def test_redeeming_needs_the_permission(client, funded, reward):
    from tests.factories import UserFactory

    # Covers the customer but has no role, so no redeem permission.
    outsider = UserFactory(username="no-role")
    funded.backup = outsider
    funded.save()
    client.force_login(outsider)
    response = client.post(
        reverse("loyalty:redeem", args=[funded.pk]), {"reward": reward.pk, "key": "form-key-1"}
    )
    assert response.status_code == 403
    assert balance_of(funded) == 250


def test_anonymous_users_are_sent_to_log_in(client, funded):
    response = client.get(reverse("loyalty:redeem", args=[funded.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(
    "data", [{}, {"reward": "999999", "key": "form-key-1"}, {"reward": "x", "key": "k"}]
)
def test_bad_input_is_shown_on_the_form(client, redeeming_rep, funded, reward, data):
    client.force_login(redeeming_rep)
    response = client.post(reverse("loyalty:redeem", args=[funded.pk]), data)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert balance_of(funded) == 250


def test_too_few_points_is_a_form_error(client, redeeming_rep, funded):
    expensive = Reward.objects.create(name="TV", kind=Reward.Kind.GIFT, cost=1000)
    client.force_login(redeeming_rep)
    response = client.post(
        reverse("loyalty:redeem", args=[funded.pk]), {"reward": expensive.pk, "key": "form-key-1"}
    )
    assert response.status_code == 200
    assert "not have enough points" in str(response.context["form"].errors)
    assert not Redemption.objects.exists()


def test_a_manager_cancels_a_redemption(manager_client, manager, funded, reward):
    grant(manager, "cancel_redemptions")
    redemption = services.redeem_reward(
        customer_id=funded.pk, reward_id=reward.pk, by=None, key="k-1"
    )
    url = reverse("loyalty:cancel-redemption", args=[redemption.pk])
    assert manager_client.get(url).status_code == 405
    response = manager_client.post(url)
    assert response.status_code == 302
    assert response.url == funded.get_absolute_url()
    assert balance_of(funded) == 250
    again = manager_client.post(url, follow=True)
    assert "already been cancelled" in again.content.decode()
    assert balance_of(funded) == 250


def test_cancelling_another_reps_redemption_is_not_found(client, rep, other_rep, reward, programme):
    grant(rep, "cancel_redemptions")
    theirs = CustomerFactory(owner=other_rep)
    buy(theirs, "25000")
    redemption = services.redeem_reward(
        customer_id=theirs.pk, reward_id=reward.pk, by=None, key="k-1"
    )
    client.force_login(rep)
    assert (
        client.post(reverse("loyalty:cancel-redemption", args=[redemption.pk])).status_code == 404
    )
    assert Redemption.objects.get().status == "issued"


def test_a_rep_sees_the_points_history_of_their_customer(rep_client, funded):
    response = rep_client.get(reverse("loyalty:ledger", args=[funded.pk]))
    assert response.status_code == 200
    assert "+250" in response.content.decode()


def test_reports_are_for_loyalty_admins_and_managers_with_the_permission(
    client, rep, manager, funded
):
    client.force_login(LoyaltyAdminFactory())
    response = client.get(reverse("loyalty:reports"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="liability-points">250<' in body
    client.force_login(rep)
    assert client.get(reverse("loyalty:reports")).status_code == 403
    grant(manager, "report_loyalty")
    client.force_login(manager)
    assert client.get(reverse("loyalty:reports")).status_code == 200


def test_the_customer_panel_renders_balance_progress_and_the_redeem_form(
    rf, redeeming_rep, funded, reward
):
    request = rf.get("/")
    request.user = redeeming_rep
    panel = customer_panel_for(customer=funded, user=redeeming_rep)
    html = render_to_string(
        "loyalty/_partials/customer_panel.html", {"loyalty": panel}, request=request
    )
    assert 'data-testid="loyalty-balance">250<' in html
    assert "75,000 RUB more to Gold" in html
    assert reverse("loyalty:redeem", args=[funded.pk]) in html
    assert panel.redeem_key in html
    assert reward.name in html


def test_the_panel_hides_the_redeem_form_without_the_permission(rf, funded, reward):
    from tests.factories import UserFactory

    outsider = UserFactory(username="no-role")  # covers the customer, has no role
    funded.backup = outsider
    funded.save()
    request = rf.get("/")
    request.user = outsider
    html = render_to_string(
        "loyalty/_partials/customer_panel.html",
        {"loyalty": customer_panel_for(customer=funded, user=outsider)},
        request=request,
    )
    assert "loyalty-redeem-form" not in html
