from decimal import Decimal

import pytest

from customers.models import Refund
from customers.signals import refunds_recorded
from tests.factories import CustomerFactory, PurchaseFactory, RefundFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/refunds/"


@pytest.fixture
def purchase(customer):
    return PurchaseFactory(customer=customer, amount=Decimal("1000.00"), external_id="RT-1")


def refund_body(purchase_, **overrides) -> dict:
    body = {"external_id": "VZ-1", "purchase": purchase_.pk, "amount": "250.00", "reason": "Broken"}
    body.update(overrides)
    return body


def test_a_refund_is_recorded_and_answered_with_201(rep_api, purchase):
    response = rep_api.post(URL, refund_body(purchase), format="json")

    assert response.status_code == 201, response.json()
    refund = Refund.objects.get()
    body = response.json()
    assert body["id"] == refund.pk
    assert (body["purchase"], body["purchase_external_id"]) == (purchase.pk, "RT-1")
    assert (body["amount"], body["reason"]) == ("250.00", "Broken")
    assert body["customer"] == purchase.customer_id


def test_the_same_refund_twice_is_recorded_once_with_the_same_body(rep_api, purchase):
    seen: list[list[int]] = []

    def receiver(sender, refund_ids, **kwargs):
        seen.append(list(refund_ids))

    refunds_recorded.connect(receiver, dispatch_uid="tests.api.refunds")
    try:
        first = rep_api.post(URL, refund_body(purchase), format="json")
        second = rep_api.post(URL, refund_body(purchase), format="json")
    finally:
        refunds_recorded.disconnect(dispatch_uid="tests.api.refunds")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert Refund.objects.count() == 1
    assert seen == [[first.json()["id"]]]


def test_the_purchase_can_be_named_by_its_external_id(rep_api, purchase):
    body = refund_body(purchase, purchase_external_id="RT-1")
    del body["purchase"]

    assert rep_api.post(URL, body, format="json").status_code == 201


def test_a_refund_larger_than_what_is_left_is_a_400_saying_how_much_is_left(rep_api, purchase):
    RefundFactory(purchase=purchase, amount=Decimal("900.00"))

    response = rep_api.post(URL, refund_body(purchase, amount="100.01"), format="json")

    assert response.status_code == 400
    assert response.json()["fields"]["amount"] == [
        "Only 100.00 of this purchase is left to refund."
    ]
    assert Refund.objects.count() == 1


def test_a_different_refund_under_a_taken_external_id_is_a_409(rep_api, purchase):
    rep_api.post(URL, refund_body(purchase), format="json")

    response = rep_api.post(URL, refund_body(purchase, amount="10.00"), format="json")

    assert response.status_code == 409
    assert list(response.json()["fields"]) == ["external_id"]


def test_a_taken_refund_id_on_another_reps_purchase_is_a_409_that_reveals_nothing(
    rep_api, other_rep, purchase
):
    theirs = PurchaseFactory(customer=CustomerFactory(owner=other_rep))
    RefundFactory(purchase=theirs, external_id="VZ-1", amount=Decimal("250.00"))

    response = rep_api.post(URL, refund_body(purchase), format="json")

    assert response.status_code == 409
    assert "purchase" not in response.json()


@pytest.mark.parametrize("amount", ["0.00", "0", 250, "250.001", "-1.00"])
def test_a_refund_amount_must_be_a_positive_decimal_string(rep_api, purchase, amount):
    response = rep_api.post(URL, refund_body(purchase, amount=amount), format="json")

    assert response.status_code == 400
    assert "amount" in response.json()["fields"]
    assert not Refund.objects.exists()


def test_refunding_another_reps_purchase_is_refused_like_a_missing_one(rep_api, other_rep):
    theirs = PurchaseFactory(customer=CustomerFactory(owner=other_rep))

    response = rep_api.post(URL, refund_body(theirs), format="json")

    assert response.status_code == 400
    assert "purchase" in response.json()["fields"]
    assert not Refund.objects.exists()


def test_a_rep_lists_refunds_of_covered_customers_only(rep_api, purchase, other_rep):
    mine = RefundFactory(purchase=purchase)
    RefundFactory(purchase=PurchaseFactory(customer=CustomerFactory(owner=other_rep)))

    body = rep_api.get(URL).json()

    assert [row["id"] for row in body["results"]] == [mine.pk]


def test_another_reps_refund_is_a_404(rep_api, other_rep):
    theirs = RefundFactory(purchase=PurchaseFactory(customer=CustomerFactory(owner=other_rep)))

    assert rep_api.get(f"{URL}{theirs.pk}/").status_code == 404


def test_the_refund_list_runs_a_bounded_number_of_queries(
    manager_api, django_assert_max_num_queries
):
    for _index in range(30):
        RefundFactory()

    with django_assert_max_num_queries(5):
        response = manager_api.get(URL)

    assert len(response.json()["results"]) == 30
