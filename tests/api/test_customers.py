from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Customer, Tag
from tests.api.builders import score_for
from tests.factories import CustomerFactory, PurchaseFactory, RepFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"


# --- list ---------------------------------------------------------------------------------------


def test_a_rep_lists_owned_and_backed_up_customers_only(rep_api, rep, other_rep):
    owned = CustomerFactory(owner=rep, name="Alpha")
    backed_up = CustomerFactory(owner=other_rep, backup=rep, name="Beta")
    CustomerFactory(owner=other_rep, name="Gamma")

    response = rep_api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [owned.pk, backed_up.pk]


def test_a_manager_lists_every_customer_and_can_narrow_to_one_rep(manager_api, rep, other_rep):
    mine = CustomerFactory(owner=rep)
    CustomerFactory(owner=other_rep)

    assert manager_api.get(URL).json()["count"] == 2
    narrowed = manager_api.get(URL, {"owner": rep.pk}).json()
    assert [row["id"] for row in narrowed["results"]] == [mine.pk]


def test_customers_filter_by_score_segments(rep_api, rep):
    wanted = CustomerFactory(owner=rep)
    score_for(wanted, value_class="A", risk_level="high", rfm_segment="cant_lose", dormant=True)
    other = CustomerFactory(owner=rep)
    score_for(other, value_class="A", risk_level="low", rfm_segment="champions")
    CustomerFactory(owner=rep)  # not scored yet

    for query in (
        {"value_class": "A", "risk_level": "high"},
        {"rfm_segment": "cant_lose"},
        {"dormant": "true"},
    ):
        rows = rep_api.get(URL, query).json()["results"]
        assert [row["id"] for row in rows] == [wanted.pk], query


def test_customers_filter_by_stage_and_search(rep_api, rep):
    partner = CustomerFactory(owner=rep, name="Romashka LLC", stage=Customer.Stage.PARTNER)
    CustomerFactory(owner=rep, name="Vector JSC", stage=Customer.Stage.REGULAR)

    by_stage = rep_api.get(URL, {"stage": "partner"}).json()["results"]
    by_name = rep_api.get(URL, {"search": "romash"}).json()["results"]
    by_external_id = rep_api.get(URL, {"search": partner.external_id}).json()["results"]

    assert [row["id"] for row in by_stage] == [partner.pk]
    assert [row["id"] for row in by_name] == [partner.pk]
    assert [row["id"] for row in by_external_id] == [partner.pk]


def test_an_invalid_filter_value_is_a_400_with_the_field(rep_api):
    response = rep_api.get(URL, {"risk_level": "extreme", "owner": "x"})

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"risk_level", "owner"}


def test_ordering_by_revenue_at_risk_puts_the_largest_first(rep_api, rep):
    small = CustomerFactory(owner=rep, name="A")
    score_for(small, revenue_at_risk=Decimal("10.00"))
    large = CustomerFactory(owner=rep, name="B")
    score_for(large, revenue_at_risk=Decimal("900.00"))

    rows = rep_api.get(URL, {"ordering": "-revenue_at_risk"}).json()["results"]

    assert [row["id"] for row in rows] == [large.pk, small.pk]


def test_pages_hold_fifty_rows_unless_a_page_size_is_asked(rep_api, rep):
    for _index in range(55):
        CustomerFactory(owner=rep)

    first = rep_api.get(URL).json()
    small = rep_api.get(URL, {"page_size": 5, "page": 2}).json()

    assert (first["count"], len(first["results"])) == (55, 50)
    assert first["next"] is not None
    assert len(small["results"]) == 5


def test_the_customer_list_runs_a_bounded_number_of_queries(
    rep_api, rep, django_assert_max_num_queries
):
    tag = Tag.objects.create(name="vip")
    for _index in range(40):
        customer = CustomerFactory(owner=rep)
        customer.tags.add(tag)
        score_for(customer)
        PurchaseFactory(customer=customer)

    # Token, two permission reads, count, page, tags.
    with django_assert_max_num_queries(6):
        response = rep_api.get(URL)

    assert len(response.json()["results"]) == 40


# --- detail -------------------------------------------------------------------------------------


def test_the_detail_includes_the_current_score_and_last_purchase(rep_api, customer):
    score_for(customer, value_class="A", risk_level="high", revenue_12m=Decimal("1200.50"))
    moment = timezone.now() - timedelta(days=3)
    PurchaseFactory(customer=customer, occurred_at=moment)

    body = rep_api.get(f"{URL}{customer.pk}/").json()

    assert body["id"] == customer.pk
    assert body["score"]["value_class"] == "A"
    assert body["score"]["risk_level"] == "high"
    assert body["score"]["revenue_12m"] == "1200.50"
    assert body["score"]["explanation"]
    assert body["last_purchase_at"] is not None


def test_an_unscored_customer_has_a_null_score(rep_api, customer):
    assert rep_api.get(f"{URL}{customer.pk}/").json()["score"] is None


def test_another_reps_customer_is_a_404_for_a_rep_and_visible_to_a_manager(
    rep_api, manager_api, other_rep
):
    theirs = CustomerFactory(owner=other_rep)

    as_rep = rep_api.get(f"{URL}{theirs.pk}/")
    as_manager = manager_api.get(f"{URL}{theirs.pk}/")

    assert as_rep.status_code == 404
    assert as_rep.json()["code"] == "not_found"
    assert as_manager.status_code == 200


def test_the_browser_session_works_as_well_as_a_token(client, rep, customer):
    client.force_login(rep)

    response = client.get(f"{URL}{customer.pk}/")

    assert response.status_code == 200


# --- create -------------------------------------------------------------------------------------


def test_a_manager_creates_a_customer_for_a_rep(manager_api, rep):
    Tag.objects.create(name="vip")

    response = manager_api.post(
        URL,
        {
            "name": "Sever LLC",
            "kind": "company",
            "owner": rep.pk,
            "tags": ["vip"],
            "external_id": "K-9",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    customer = Customer.objects.get(external_id="K-9")
    assert customer.owner == rep
    assert response.json()["tags"] == ["vip"]
    assert response.json()["id"] == customer.pk


def test_a_rep_may_not_create_customers(rep_api):
    response = rep_api.post(URL, {"name": "Sever LLC"}, format="json")

    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_a_taken_external_id_is_a_400_on_that_field(manager_api, customer):
    response = manager_api.post(
        URL, {"name": "Copy", "external_id": customer.external_id}, format="json"
    )

    assert response.status_code == 400
    assert "external_id" in response.json()["fields"]


def test_an_empty_external_id_is_stored_as_none_so_many_customers_can_lack_one(manager_api):
    for name in ("One", "Two"):
        response = manager_api.post(URL, {"name": name, "external_id": ""}, format="json")
        assert response.status_code == 201

    assert list(Customer.objects.values_list("external_id", flat=True)) == [None, None]


def test_creating_with_an_unknown_field_is_a_400(manager_api):
    response = manager_api.post(URL, {"name": "X", "vip": True, "id": 5}, format="json")

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert fields["vip"] == ["Unknown field."]
    assert fields["id"] == ["Unknown field."]


# --- partial update -----------------------------------------------------------------------------


def test_a_rep_changes_a_covered_customers_details(rep_api, customer):
    response = rep_api.patch(
        f"{URL}{customer.pk}/", {"phone": "+7 900 000-00-00", "stage": "regular"}, format="json"
    )

    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.phone, customer.stage) == ("+7 900 000-00-00", "regular")
    assert response.json()["stage"] == "regular"


def test_a_rep_cannot_change_the_owner_or_backup(rep_api, rep, customer):
    someone = RepFactory()

    response = rep_api.patch(
        f"{URL}{customer.pk}/", {"owner": someone.pk, "backup": someone.pk}, format="json"
    )

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {"owner", "backup"}
    assert "managers" in fields["owner"][0]
    customer.refresh_from_db()
    assert (customer.owner, customer.backup) == (rep, None)


def test_a_manager_moves_a_customer_to_another_rep(manager_api, customer, other_rep):
    response = manager_api.patch(f"{URL}{customer.pk}/", {"owner": other_rep.pk}, format="json")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.owner == other_rep


def test_the_backup_must_differ_from_the_owner(manager_api, rep, customer):
    response = manager_api.patch(f"{URL}{customer.pk}/", {"backup": rep.pk}, format="json")

    assert response.status_code == 400
    assert "backup" in response.json()["fields"]


def test_a_rep_cannot_change_another_reps_customer(rep_api, other_rep):
    theirs = CustomerFactory(owner=other_rep, name="Theirs")

    response = rep_api.patch(f"{URL}{theirs.pk}/", {"name": "Mine now"}, format="json")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_put_is_not_offered(rep_api, customer):
    response = rep_api.put(f"{URL}{customer.pk}/", {"name": "X"}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
