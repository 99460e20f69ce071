"""Arbitrary JSON at the write endpoints: every answer is a 2xx or a 4xx in the documented shape,
never a 500. (A schema-driven run with schemathesis against a live server belongs in CI.)"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import token_client
from tests.factories import CustomerFactory, ManagerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
PLAUSIBLE = {
    "external_id": st.text(max_size=120) | JSON_VALUES,
    "customer": st.integers(min_value=-5, max_value=2**64) | JSON_VALUES,
    "customer_external_id": st.text(max_size=120) | JSON_VALUES,
    "purchase": st.integers(min_value=-5, max_value=2**64) | JSON_VALUES,
    "occurred_at": st.datetimes().map(lambda moment: moment.isoformat()) | JSON_VALUES,
    "amount": st.decimals(allow_nan=True, places=3).map(str) | JSON_VALUES,
    "currency": st.text(max_size=4) | JSON_VALUES,
    "reason": st.text(max_size=250) | JSON_VALUES,
    "name": st.text(max_size=250) | JSON_VALUES,
    "owner": JSON_VALUES,
    "tags": st.lists(st.text(max_size=5), max_size=3) | JSON_VALUES,
    "birthday": st.dates().map(str) | JSON_VALUES,
}


def bodies(keys: list[str]):
    known = st.fixed_dictionaries({}, optional={key: PLAUSIBLE[key] for key in keys})
    return known | st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=4) | JSON_VALUES


def assert_documented(response) -> None:
    assert response.status_code < 500, response.content
    body = response.json()
    if response.status_code >= 400:
        assert set(body) <= {"code", "detail", "fields", "context"}
        assert isinstance(body["code"], str)
        assert isinstance(body["detail"], str)
        for messages in body.get("fields", {}).values():
            assert all(isinstance(message, str) for message in messages)


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def fuzz_client():
    customer = CustomerFactory(external_id="K-1")
    PurchaseFactory(customer=customer, external_id="RT-1")
    return token_client(ManagerFactory(username="fuzz-manager"))


@FUZZ
@given(
    body=bodies(
        ["external_id", "customer", "customer_external_id", "occurred_at", "amount", "currency"]
    )
)
def test_purchase_create_never_fails_with_a_500(fuzz_client, body):
    assert_documented(fuzz_client.post("/api/v1/purchases/", body, format="json"))


@FUZZ
@given(
    items=st.lists(
        bodies(["external_id", "customer", "customer_external_id", "occurred_at", "amount"]),
        max_size=5,
    )
    | JSON_VALUES
)
def test_purchase_bulk_never_fails_with_a_500(fuzz_client, items):
    response = fuzz_client.post("/api/v1/purchases/bulk/", {"items": items}, format="json")

    assert_documented(response)
    if response.status_code == 200:
        results = response.json()["results"]
        assert [result["index"] for result in results] == list(range(len(items)))


@FUZZ
@given(body=bodies(["external_id", "purchase", "amount", "occurred_at", "reason"]))
def test_refund_create_never_fails_with_a_500(fuzz_client, body):
    assert_documented(fuzz_client.post("/api/v1/refunds/", body, format="json"))


@FUZZ
@given(body=bodies(["name", "owner", "tags", "birthday", "external_id"]))
def test_customer_create_never_fails_with_a_500(fuzz_client, body):
    assert_documented(fuzz_client.post("/api/v1/customers/", body, format="json"))
