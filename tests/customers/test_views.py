import csv
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from customers.models import Customer, Purchase
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("customers:list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_rep_sees_only_covered_customers_in_the_list(rep_client, rep, other_rep):
    CustomerFactory(owner=rep, name="Mine Ltd")
    CustomerFactory(owner=other_rep, backup=rep, name="Backed Ltd")
    CustomerFactory(owner=other_rep, name="Foreign Ltd")
    body = rep_client.get(reverse("customers:list")).content.decode()
    assert "Mine Ltd" in body
    assert "Backed Ltd" in body
    assert "Foreign Ltd" not in body


def test_manager_sees_every_customer_and_can_filter_by_owner(manager_client, rep, other_rep):
    CustomerFactory(owner=rep, name="Mine Ltd")
    CustomerFactory(owner=other_rep, name="Foreign Ltd")
    body = manager_client.get(reverse("customers:list")).content.decode()
    assert "Mine Ltd" in body
    assert "Foreign Ltd" in body
    filtered = manager_client.get(reverse("customers:list"), {"owner": rep.pk}).content.decode()
    assert "Mine Ltd" in filtered
    assert "Foreign Ltd" not in filtered


def test_list_search_matches_name_email_and_external_id(manager_client):
    CustomerFactory(name="Ромашка", external_id="X-1")
    CustomerFactory(name="Василёк", external_id="X-2")
    body = manager_client.get(reverse("customers:list"), {"q": "X-1"}).content.decode()
    assert "Ромашка" in body
    assert "Василёк" not in body


def test_list_query_count_does_not_grow_with_the_page(manager_client, django_assert_max_num_queries):
    CustomerFactory.create_batch(30)
    with django_assert_max_num_queries(12):
        manager_client.get(reverse("customers:list"))


def test_rep_asking_for_another_reps_customer_gets_404(rep_client, other_rep):
    foreign = CustomerFactory(owner=other_rep)
    assert rep_client.get(reverse("customers:detail", args=[foreign.pk])).status_code == 404
    assert rep_client.get(reverse("customers:update", args=[foreign.pk])).status_code == 404
    assert (
        rep_client.get(reverse("customers:purchase-create", args=[foreign.pk])).status_code == 404
    )


def test_customer_page_shows_purchases_and_net_revenue(rep_client, customer):
    purchase = PurchaseFactory(customer=customer, amount=Decimal("1500.00"), external_id="INV-77")
    purchase.refunds.create(amount=Decimal("500.00"), external_id="R-77")
    body = rep_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "INV-77" in body
    assert ">1,000<" in body


def test_export_is_for_managers_only_and_neutralises_formulas(rep_client, manager, rep):
    CustomerFactory(owner=rep, name="=HYPERLINK(\"http://evil\")")
    assert rep_client.get(reverse("customers:export")).status_code == 403
    manager_client = Client()
    manager_client.force_login(manager)
    response = manager_client.get(reverse("customers:export"))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["id", "external_id", "name"]
    assert rows[1][2].startswith("'=")


def test_rep_records_a_purchase_by_hand(rep_client, customer):
    response = rep_client.post(
        reverse("customers:purchase-create", args=[customer.pk]),
        {"occurred_at": "2026-11-01T10:00", "amount": "1234,50".replace(",", "."),
         "currency": "RUB", "external_id": "CHK-1"},
    )
    assert response.status_code == 302
    purchase = Purchase.objects.get(external_id="CHK-1")
    assert purchase.amount == Decimal("1234.50")
    assert purchase.source == Purchase.Source.UI


def test_purchase_form_rejects_negative_amounts(rep_client, customer):
    response = rep_client.post(
        reverse("customers:purchase-create", args=[customer.pk]),
        {"occurred_at": "2026-11-01T10:00", "amount": "-5", "currency": "RUB"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["amount"]
    assert not Purchase.objects.exists()


def test_purchase_form_reports_a_conflicting_external_id(rep_client, customer):
    PurchaseFactory(customer=customer, external_id="CHK-1", amount=Decimal("10"))
    response = rep_client.post(
        reverse("customers:purchase-create", args=[customer.pk]),
        {"occurred_at": "2026-11-01T10:00", "amount": "99", "currency": "RUB",
         "external_id": "CHK-1"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["external_id"]


def test_rep_edits_contact_details_but_cannot_reassign(rep_client, customer, other_rep):
    response = rep_client.post(
        reverse("customers:update", args=[customer.pk]),
        {"kind": "company", "name": "New name", "email": "new@example.com", "language": "ru",
         "time_zone": "Europe/Moscow", "stage": "regular", "owner": other_rep.pk},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "New name"
    assert customer.owner != other_rep


def test_manager_reassigns_a_reps_accounts(manager_client, rep, other_rep):
    CustomerFactory.create_batch(3, owner=rep)
    response = manager_client.post(
        reverse("customers:reassign"), {"from_rep": rep.pk, "to_rep": other_rep.pk}
    )
    assert response.status_code == 302
    assert Customer.objects.filter(owner=other_rep).count() == 3


def test_rep_cannot_open_the_reassign_page(rep_client):
    assert rep_client.get(reverse("customers:reassign")).status_code == 403


def test_manager_creates_a_customer(manager_client, rep):
    response = manager_client.post(
        reverse("customers:create"),
        {"kind": "person", "name": "Иван Петров", "language": "ru", "time_zone": "Europe/Moscow",
         "stage": "one_off", "owner": rep.pk, "consent_phone": "on"},
    )
    assert response.status_code == 302
    assert Customer.objects.get(name="Иван Петров").owner == rep


def test_customer_page_shows_the_score_and_its_explanation(rep_client, customer):
    from datetime import date

    from customers.models import CustomerScore

    CustomerScore.objects.create(
        customer=customer, as_of=date(2026, 11, 1), purchase_days=5, frequency=4,
        days_since_last=64, median_gap_days=21.0, method="model", p_alive=0.18,
        p_purchase=0.12, risk_level="high", value_class="A", dormant=True,
    )
    body = rep_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "Buys about every 21 days; last purchase 64 days ago; P(alive) 0.18" in body
    assert "dormant" in body


def test_segmentation_page_is_for_managers(rep_client, manager):
    assert rep_client.get(reverse("customers:segmentation")).status_code == 403
    client = Client()
    client.force_login(manager)
    response = client.get(reverse("customers:segmentation"))
    assert response.status_code == 200
    assert "No backtest yet" in response.content.decode()


HTMX = {"HTTP_HX_REQUEST": "true"}


def test_a_manager_reassigns_one_account_from_its_page_and_the_audit_trail_records_it(
    manager_client, manager, customer, other_rep
):
    from common.models import AuditEvent

    neighbour = CustomerFactory(owner=customer.owner)
    response = manager_client.post(
        reverse("customers:reassign-one", args=[customer.pk]), {"to_rep": other_rep.pk}, **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "customer-changed"
    customer.refresh_from_db()
    neighbour.refresh_from_db()
    assert customer.owner == other_rep
    assert neighbour.owner != other_rep
    event = AuditEvent.objects.get(action="customers_reassigned", customer_id=customer.pk)
    assert event.actor == manager
    assert event.details["to_owner_id"] == other_rep.pk


def test_reassigning_without_htmx_redirects_to_the_customer(manager_client, customer, other_rep):
    response = manager_client.post(
        reverse("customers:reassign-one", args=[customer.pk]), {"to_rep": other_rep.pk}
    )
    assert response.status_code == 302
    assert response.url == customer.get_absolute_url()


def test_reassigning_to_the_current_owner_or_nobody_is_a_form_error(manager_client, customer):
    url = reverse("customers:reassign-one", args=[customer.pk])
    for data in ({"to_rep": customer.owner_id}, {}):
        response = manager_client.post(url, data, **HTMX)
        assert response.status_code == 400
        assert "to_rep" in response.context["form"].errors
    customer.refresh_from_db()
    assert customer.owner is not None


def test_reps_cannot_reassign_their_accounts(rep_client, customer, other_rep):
    url = reverse("customers:reassign-one", args=[customer.pk])
    assert rep_client.post(url, {"to_rep": other_rep.pk}).status_code == 403
    customer.refresh_from_db()
    assert customer.owner.username == "rep"
    assert 'data-testid="action-reassign"' not in rep_client.get(
        reverse("customers:detail", args=[customer.pk])
    ).content.decode()


def test_the_customer_page_draws_purchases_by_month_and_loads_its_panels(rep_client, customer):
    PurchaseFactory(customer=customer, amount=Decimal("1200.00"))
    response = rep_client.get(reverse("customers:detail", args=[customer.pk]))
    chart = response.context["purchase_chart"]
    assert len(chart["labels"]) == 24
    assert chart["count"][-1] == 1
    assert Decimal(chart["total"][-1]) == Decimal("1200.00")
    assert sum(chart["count"]) == 1
    body = response.content.decode()
    for marker in ('id="purchase-chart-data"', "/panels/loyalty/", "/panels/contacts/",
                   'data-testid="action-schedule"', 'data-testid="action-log-call"'):
        assert marker in body
    loyalty = rep_client.get(reverse("customer-loyalty-panel", args=[customer.pk]))
    assert 'data-testid="loyalty-panel"' in loyalty.content.decode()
    contacts = rep_client.get(reverse("customer-contacts-panel", args=[customer.pk]))
    assert 'data-testid="customer-contacts"' in contacts.content.decode()


def test_panels_of_another_reps_customer_are_not_found(rep_client, other_rep):
    foreign = CustomerFactory(owner=other_rep)
    for name in ("customer-loyalty-panel", "customer-contacts-panel"):
        assert rep_client.get(reverse(name, args=[foreign.pk])).status_code == 404


# --- Admin ------------------------------------------------------------------------------------


@pytest.fixture
def admin_client_logged(client, db):
    from tests.factories import UserFactory

    admin_user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    return client, admin_user


def test_admin_lists_customers_with_scores_users_with_roles_and_schedules_in_words(
    admin_client_logged, customer
):
    client, _admin = admin_client_logged
    customers = client.get(reverse("admin:customers_customer_changelist"), {"score__dormant": "1"})
    assert customers.status_code == 200
    users = client.get(reverse("admin:auth_user_changelist"))
    body = users.content.decode()
    assert "Account rep" in body
    assert f"/customers/?owner={customer.owner_id}" in body
    schedules = client.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert schedules.status_code == 200
    assert "every day at 02:00" in schedules.content.decode()


def test_changing_the_owner_in_the_admin_goes_through_reassignment(
    admin_client_logged, customer, other_rep
):
    from common.models import AuditEvent

    client, admin_user = admin_client_logged
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    form = client.get(url).context["adminform"].form
    data = {
        key: value
        for key, value in form.initial.items()
        if value is not None and key not in ("tags", "birthday")
    }
    data.update(owner=other_rep.pk, name="Renamed Ltd", tags=[])
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert (customer.owner, customer.name) == (other_rep, "Renamed Ltd")
    event = AuditEvent.objects.get(action="customers_reassigned", customer_id=customer.pk)
    assert event.actor == admin_user
