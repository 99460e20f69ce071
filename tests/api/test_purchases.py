from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from customers.api.serializers import MAX_BULK_ITEMS
from customers.models import Purchase
from customers.signals import purchases_recorded
from tests.factories import CustomerFactory, PurchaseFactory, RefundFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/purchases/"
BULK_URL = "/api/v1/purchases/bulk/"


def purchase_body(customer_, **overrides) -> dict:
    body = {
        "external_id": "RT-0001",
        "customer": customer_.pk,
        "occurred_at": "2025-03-14T16:05:00+03:00",
        "amount": "1250.50",
        "currency": "RUB",
    }
    body.update(overrides)
    return body


@pytest.fixture
def announced():
    """Ids sent with purchases_recorded, one list per signal."""
    calls: list[list[int]] = []

    def receiver(sender, purchase_ids, **kwargs):
        calls.append(list(purchase_ids))

    purchases_recorded.connect(receiver, dispatch_uid="tests.api.announced")
    yield calls
    purchases_recorded.disconnect(dispatch_uid="tests.api.announced")


# --- single create ----------------------------------------------------------------------------


def test_a_new_purchase_is_recorded_and_answered_with_201(rep_api, customer):
    response = rep_api.post(URL, purchase_body(customer), format="json")

    assert response.status_code == 201, response.json()
    purchase = Purchase.objects.get()
    assert response.json() == {
        "id": purchase.pk,
        "external_id": "RT-0001",
        "customer": customer.pk,
        "customer_external_id": customer.external_id,
        "occurred_at": "2025-03-14T16:05:00+03:00",
        "amount": "1250.50",
        "currency": "RUB",
        "source": "api",
        "created_at": response.json()["created_at"],
    }
    assert purchase.amount == Decimal("1250.50")
    assert purchase.source == Purchase.Source.API


def test_the_same_request_twice_records_one_purchase_and_gives_the_same_body(
    rep_api, customer, announced
):
    first = rep_api.post(URL, purchase_body(customer), format="json")
    second = rep_api.post(URL, purchase_body(customer), format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert Purchase.objects.count() == 1
    assert announced == [[first.json()["id"]]]


def test_a_different_purchase_under_a_taken_external_id_is_a_409(rep_api, customer):
    rep_api.post(URL, purchase_body(customer), format="json")

    response = rep_api.post(URL, purchase_body(customer, amount="99.00"), format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict"
    assert "different purchase" in body["detail"]
    assert list(body["fields"]) == ["external_id"]
    assert Purchase.objects.get().amount == Decimal("1250.50")


def test_the_customer_can_be_named_by_its_external_id(rep_api, customer):
    body = purchase_body(customer, customer_external_id=customer.external_id)
    del body["customer"]

    response = rep_api.post(URL, body, format="json")

    assert response.status_code == 201
    assert Purchase.objects.get().customer == customer


def test_naming_the_customer_both_ways_or_not_at_all_is_a_400(rep_api, customer):
    both = rep_api.post(
        URL, purchase_body(customer, customer_external_id=customer.external_id), format="json"
    )
    neither = purchase_body(customer)
    del neither["customer"]

    assert both.status_code == 400
    assert "customer" in both.json()["fields"]
    assert rep_api.post(URL, neither, format="json").status_code == 400


def test_a_purchase_for_another_reps_customer_is_refused_like_a_missing_customer(
    rep_api, other_rep
):
    theirs = CustomerFactory(owner=other_rep)

    by_id = rep_api.post(URL, purchase_body(theirs), format="json")
    missing = rep_api.post(URL, purchase_body(theirs, customer=theirs.pk + 1000), format="json")

    assert by_id.status_code == missing.status_code == 400
    assert by_id.json()["fields"] == missing.json()["fields"]
    assert not Purchase.objects.exists()


def test_an_amount_sent_as_a_json_number_is_a_400_that_says_why(rep_api, customer):
    response = rep_api.post(URL, purchase_body(customer, amount=1250.5), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "decimal string" in body["fields"]["amount"][0]
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("amount", [1250, True, None])
def test_an_amount_that_is_not_a_string_is_a_400(rep_api, customer, amount):
    response = rep_api.post(URL, purchase_body(customer, amount=amount), format="json")

    assert response.status_code == 400
    assert "amount" in response.json()["fields"]


@pytest.mark.parametrize("amount", ["12.345", "1e3", "NaN", "1 250,50", "-5.00", ""])
def test_an_amount_with_more_than_two_places_or_not_plain_digits_is_a_400(
    rep_api, customer, amount
):
    response = rep_api.post(URL, purchase_body(customer, amount=amount), format="json")

    assert response.status_code == 400
    assert "amount" in response.json()["fields"]


def test_an_unknown_field_is_a_400_naming_it(rep_api, customer):
    response = rep_api.post(URL, purchase_body(customer, discount="10.00", note="x"), format="json")

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert fields["discount"] == ["Unknown field."]
    assert fields["note"] == ["Unknown field."]
    assert not Purchase.objects.exists()


def test_unknown_fields_are_reported_together_with_other_errors(rep_api, customer):
    response = rep_api.post(URL, purchase_body(customer, amount=5, colour="red"), format="json")

    assert set(response.json()["fields"]) == {"amount", "colour"}


def test_a_time_without_an_offset_is_read_in_the_configured_time_zone(rep_api, customer, settings):
    settings.TIME_ZONE = "Asia/Yekaterinburg"

    response = rep_api.post(
        URL, purchase_body(customer, occurred_at="2025-03-14T16:05:00"), format="json"
    )

    assert response.status_code == 201
    stored = Purchase.objects.get().occurred_at
    assert stored == datetime(2025, 3, 14, 16, 5, tzinfo=ZoneInfo("Asia/Yekaterinburg"))
    assert response.json()["occurred_at"] == "2025-03-14T16:05:00+05:00"


def test_a_time_with_an_offset_keeps_its_instant(rep_api, customer):
    response = rep_api.post(
        URL, purchase_body(customer, occurred_at="2025-03-14T10:00:00Z"), format="json"
    )

    assert response.status_code == 201
    assert Purchase.objects.get().occurred_at == datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00", "0001-01-01T00:00:00+05:00", "yesterday"]
)
def test_a_time_that_cannot_be_placed_is_a_400(rep_api, customer, moment):
    response = rep_api.post(URL, purchase_body(customer, occurred_at=moment), format="json")

    assert response.status_code == 400
    assert "occurred_at" in response.json()["fields"]


@pytest.mark.parametrize(
    "moment",
    [
        "2024-10-27T02:30:00",  # happened twice in Berlin: the clocks went back at 03:00
        "2024-03-31T02:30:00",  # never happened in Berlin: the clocks went forward at 02:00
    ],
)
def test_an_ambiguous_or_missing_local_time_is_a_400_rather_than_a_guess(
    rep_api, customer, settings, moment
):
    settings.TIME_ZONE = "Europe/Berlin"

    response = rep_api.post(URL, purchase_body(customer, occurred_at=moment), format="json")

    assert response.status_code == 400
    assert "UTC offset" in response.json()["fields"]["occurred_at"][0]
    with_offset = rep_api.post(
        URL, purchase_body(customer, occurred_at=f"{moment}+01:00"), format="json"
    )
    assert with_offset.status_code == 201


def test_a_purchase_dated_in_the_future_is_a_400(rep_api, customer):
    later = (timezone.now() + timedelta(days=3)).isoformat()

    response = rep_api.post(URL, purchase_body(customer, occurred_at=later), format="json")

    assert response.status_code == 400
    assert "occurred_at" in response.json()["fields"]


def test_the_currency_defaults_to_the_configured_one(rep_api, customer, settings):
    settings.DEFAULT_CURRENCY = "EUR"
    body = purchase_body(customer)
    del body["currency"]

    response = rep_api.post(URL, body, format="json")

    assert response.json()["currency"] == "EUR"


def test_a_user_without_the_add_purchase_permission_gets_a_403(customer):
    from tests.api.conftest import token_client
    from tests.factories import LoyaltyAdminFactory

    client = token_client(LoyaltyAdminFactory())

    response = client.post(URL, purchase_body(customer), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_a_call_without_credentials_is_a_401_that_names_the_scheme(client, customer):
    response = client.post(URL, purchase_body(customer), content_type="application/json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


# --- list and detail --------------------------------------------------------------------------


def test_a_rep_lists_only_purchases_of_covered_customers(rep_api, rep, other_rep):
    mine = PurchaseFactory(customer=CustomerFactory(owner=rep))
    backed_up = PurchaseFactory(customer=CustomerFactory(owner=other_rep, backup=rep))
    PurchaseFactory(customer=CustomerFactory(owner=other_rep))

    response = rep_api.get(URL)

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {mine.pk, backed_up.pk}


def test_a_manager_lists_every_purchase(manager_api, rep, other_rep):
    PurchaseFactory(customer=CustomerFactory(owner=rep))
    PurchaseFactory(customer=CustomerFactory(owner=other_rep))

    assert manager_api.get(URL).json()["count"] == 2


def test_the_list_shows_what_was_refunded(rep_api, customer):
    purchase = PurchaseFactory(customer=customer, amount=Decimal("500.00"))
    RefundFactory(purchase=purchase, amount=Decimal("120.00"))
    RefundFactory(purchase=purchase, amount=Decimal("30.50"))

    row = rep_api.get(URL).json()["results"][0]

    assert row["refunded"] == "150.50"


def test_purchases_filter_by_customer_and_time(rep_api, rep):
    customer = CustomerFactory(owner=rep)
    old = PurchaseFactory(customer=customer, occurred_at=timezone.now() - timedelta(days=40))
    PurchaseFactory(customer=customer)
    PurchaseFactory(customer=CustomerFactory(owner=rep))
    cutoff = (timezone.now() - timedelta(days=10)).isoformat()

    response = rep_api.get(URL, {"customer": customer.pk, "occurred_before": cutoff})

    assert [row["id"] for row in response.json()["results"]] == [old.pk]


def test_another_reps_purchase_is_a_404(rep_api, other_rep):
    theirs = PurchaseFactory(customer=CustomerFactory(owner=other_rep))

    response = rep_api.get(f"{URL}{theirs.pk}/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_the_purchase_list_runs_a_bounded_number_of_queries(
    rep_api, rep, django_assert_max_num_queries
):
    for _index in range(30):
        purchase = PurchaseFactory(customer=CustomerFactory(owner=rep))
        RefundFactory(purchase=purchase, amount=Decimal("1.00"))

    with django_assert_max_num_queries(6):
        response = rep_api.get(URL)

    assert len(response.json()["results"]) == 30


# --- bulk ---------------------------------------------------------------------------------------


def test_bulk_records_the_good_items_and_reports_each_bad_one(rep_api, rep, other_rep, announced):
    mine = CustomerFactory(owner=rep)
    theirs = CustomerFactory(owner=other_rep)
    PurchaseFactory(customer=mine, external_id="TAKEN", amount=Decimal("10.00"))
    items = [
        purchase_body(mine, external_id="B-1"),
        purchase_body(mine, external_id="B-2", amount=12.5),
        purchase_body(theirs, external_id="B-3"),
        purchase_body(mine, external_id="TAKEN", amount="11.00"),
        purchase_body(mine, external_id="B-5", colour="red"),
        "not an object",
        purchase_body(mine, external_id="B-7", amount="7.00"),
    ]

    response = rep_api.post(BULK_URL, {"items": items}, format="json")

    assert response.status_code == 200
    body = response.json()
    statuses = [result["status"] for result in body["results"]]
    assert statuses == ["created", "error", "error", "error", "error", "error", "created"]
    assert (body["created"], body["exists"], body["errors"]) == (2, 0, 5)
    errors = [result["errors"] for result in body["results"]]
    assert "decimal string" in errors[1]["amount"][0]
    assert list(errors[2]) == ["customer"]
    assert list(errors[3]) == ["external_id"]
    assert errors[4] == {"colour": ["Unknown field."]}
    assert list(errors[5]) == ["non_field_errors"]
    assert [result["index"] for result in body["results"]] == list(range(7))
    assert body["results"][5]["external_id"] is None
    assert set(Purchase.objects.values_list("external_id", flat=True)) == {"TAKEN", "B-1", "B-7"}
    created_ids = [body["results"][0]["purchase"]["id"], body["results"][6]["purchase"]["id"]]
    assert announced == [created_ids]


def test_bulk_sent_twice_records_nothing_new_and_returns_the_stored_purchases(rep_api, customer):
    items = [purchase_body(customer, external_id=f"B-{n}") for n in range(5)]

    first = rep_api.post(BULK_URL, {"items": items}, format="json").json()
    second = rep_api.post(BULK_URL, {"items": items}, format="json").json()

    assert first["created"] == 5
    assert (second["created"], second["exists"], second["errors"]) == (0, 5, 0)
    assert [r["purchase"] for r in second["results"]] == [r["purchase"] for r in first["results"]]
    assert Purchase.objects.count() == 5


def test_bulk_agrees_with_single_creates_about_the_same_purchase(rep_api, customer):
    single = rep_api.post(URL, purchase_body(customer, external_id="S-1"), format="json").json()

    result = rep_api.post(
        BULK_URL, {"items": [purchase_body(customer, external_id="S-1")]}, format="json"
    ).json()["results"][0]

    assert result["status"] == "exists"
    assert result["purchase"] == single


def test_a_purchase_repeated_within_one_bulk_request_is_recorded_once(rep_api, customer):
    items = [
        purchase_body(customer, external_id="D-1"),
        purchase_body(customer, external_id="D-1"),
        purchase_body(customer, external_id="D-1", amount="1.00"),
    ]

    body = rep_api.post(BULK_URL, {"items": items}, format="json").json()

    assert [r["status"] for r in body["results"]] == ["created", "exists", "error"]
    assert body["results"][1]["purchase"] == body["results"][0]["purchase"]
    assert Purchase.objects.count() == 1


def test_bulk_with_more_than_the_maximum_items_is_refused_whole(rep_api, customer):
    items = [purchase_body(customer, external_id=f"M-{n}") for n in range(MAX_BULK_ITEMS + 1)]

    response = rep_api.post(BULK_URL, {"items": items}, format="json")

    assert response.status_code == 400
    assert "1000" in response.json()["fields"]["items"][0]
    assert not Purchase.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"items": []}, {"items": "x"}, {"items": [], "extra": 1}, [{"external_id": "x"}]],
)
def test_bulk_without_a_list_of_items_is_a_400(rep_api, body):
    response = rep_api.post(BULK_URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_bulk_of_the_maximum_size_runs_a_bounded_number_of_queries(
    rep_api, rep, django_assert_max_num_queries
):
    customers = [CustomerFactory(owner=rep) for _index in range(20)]
    items = [
        purchase_body(customers[n % 20], external_id=f"Q-{n}", amount=f"{n}.00")
        for n in range(MAX_BULK_ITEMS)
    ]

    # Auth, permissions, customers, stored ids, the inserts and loyalty's set-based accrual; a
    # query per purchase would be over 1,000. SQLite splits each insert into batches of ~140 rows.
    with django_assert_max_num_queries(60):
        body = rep_api.post(BULK_URL, {"items": items}, format="json").json()

    assert body["created"] == MAX_BULK_ITEMS
    assert Purchase.objects.count() == MAX_BULK_ITEMS
