import io
from decimal import Decimal

import pytest
import yaml
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management import CommandError, call_command
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIRequestFactory

from common.api import (
    Conflict,
    MoneyField,
    StrictFieldsMixin,
    exception_handler,
    flatten_errors,
)
from common.errors import DomainError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


# --- the error handler ------------------------------------------------------------------------


def _handled(error: Exception):
    return exception_handler(error, {"request": APIRequestFactory().get("/")})


def test_a_domain_error_becomes_a_400_on_its_field():
    response = _handled(DomainError("Only 5.00 is left.", field="amount"))

    assert response.status_code == 400
    assert response.data == {
        "code": "invalid",
        "detail": "Invalid input.",
        "fields": {"amount": ["Only 5.00 is left."]},
    }


def test_a_domain_error_without_a_field_is_a_non_field_error():
    response = _handled(DomainError("No."))

    assert response.data["fields"] == {"non_field_errors": ["No."]}


def test_a_django_validation_error_becomes_a_400_with_its_fields():
    response = _handled(DjangoValidationError({"email": ["Enter a valid e-mail."]}))

    assert response.status_code == 400
    assert response.data["fields"] == {"email": ["Enter a valid e-mail."]}


def test_a_conflict_carries_its_field_and_context():
    response = _handled(Conflict("Capped.", field="channel", context={"next_allowed_at": "x"}))

    assert response.status_code == 409
    assert response.data == {
        "code": "conflict",
        "detail": "Capped.",
        "fields": {"channel": ["Capped."]},
        "context": {"next_allowed_at": "x"},
    }


def test_an_unexpected_error_is_left_to_be_a_500():
    assert _handled(RuntimeError("boom")) is None


def test_nested_errors_are_flattened_with_dotted_names():
    detail = {"items": [{}, {"amount": ["Bad."]}], "name": ["Required."], "x": "Plain."}

    assert flatten_errors(detail) == {
        "items.1.amount": ["Bad."],
        "name": ["Required."],
        "x": ["Plain."],
    }


# --- strict input and money -------------------------------------------------------------------


class _Sample(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField()
    created = serializers.DateTimeField(read_only=True)
    amount = MoneyField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.refused_fields = {"owner": "Managers only."}


def test_strict_serializers_name_unknown_read_only_and_refused_fields():
    sample = _Sample(data={"name": "x", "colour": "red", "created": "now", "owner": 1})

    assert not sample.is_valid()
    assert sample.errors == {
        "colour": ["Unknown field."],
        "created": ["This field cannot be set."],
        "owner": ["Managers only."],
    }


def test_strict_serializers_accept_exactly_their_fields():
    sample = _Sample(data={"name": "x", "amount": "10.5"})

    assert sample.is_valid(), sample.errors
    assert sample.validated_data == {"name": "x", "amount": Decimal("10.50")}


def test_the_csrf_token_of_a_browser_form_is_not_an_unknown_field():
    from django.http import QueryDict

    sample = _Sample(data=QueryDict("name=x&csrfmiddlewaretoken=abc"))

    assert sample.is_valid(), sample.errors


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("0", True),
        ("0.10", True),
        (" 12.5 ", True),
        ("999999999999.99", True),
        ("1000000000000.00", False),
        ("0.1", True),
        ("0.001", False),
        (0.1, False),
        (10, False),
        ("1,5", False),
        ("Infinity", False),
        ("-0.01", False),
    ],
)
def test_money_is_a_non_negative_decimal_string_with_two_places_at_most(value, valid):
    sample = _Sample(data={"name": "x", "amount": value})

    assert sample.is_valid() is valid, sample.errors


# --- throttling -------------------------------------------------------------------------------


def test_a_user_over_the_rate_gets_a_429_with_retry_after(settings, rep_api):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100/minute", "user": "3/minute"},
    }

    statuses = [rep_api.get("/api/v1/customers/").status_code for _index in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = rep_api.get("/api/v1/customers/")
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_anonymous_callers_have_their_own_lower_rate(settings, client):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/minute", "user": "100/minute"},
    }

    statuses = [client.get("/api/v1/customers/").status_code for _index in range(3)]

    assert statuses == [401, 401, 429]


def test_guessing_tokens_is_throttled_like_any_anonymous_call(settings):
    from rest_framework.test import APIClient

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/minute", "user": "100/minute"},
    }
    client = APIClient()

    statuses = []
    for guess in ("a" * 40, "b" * 40, "c" * 40):
        client.credentials(HTTP_AUTHORIZATION=f"Token {guess}")
        statuses.append(client.get("/api/v1/customers/").status_code)

    assert statuses == [401, 401, 429]


def test_one_users_requests_do_not_use_up_anothers_rate(settings, rep_api, other_rep_api):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100/minute", "user": "1/minute"},
    }

    assert rep_api.get("/api/v1/customers/").status_code == 200
    assert rep_api.get("/api/v1/customers/").status_code == 429
    assert other_rep_api.get("/api/v1/customers/").status_code == 200


# --- schema and docs ----------------------------------------------------------------------------


def test_the_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    paths = schema["paths"]
    for path in (
        "/api/v1/customers/",
        "/api/v1/customers/{id}/",
        "/api/v1/purchases/",
        "/api/v1/purchases/bulk/",
        "/api/v1/refunds/",
        "/api/v1/scores/",
        "/api/v1/scores/summary/",
        "/api/v1/scoring-runs/",
    ):
        assert path in paths, path
    create = paths["/api/v1/purchases/"]["post"]
    assert {"200", "201", "400", "401", "403", "409", "429"} <= set(create["responses"])
    assert create["requestBody"]["content"]["application/json"]["examples"]
    bulk = paths["/api/v1/purchases/bulk/"]["post"]
    assert bulk["requestBody"]["content"]["application/json"]["examples"]
    assert bulk["responses"]["200"]["content"]["application/json"]["examples"]
    error = {"$ref": "#/components/schemas/ErrorOutput"}
    assert (
        paths["/api/v1/customers/{id}/"]["get"]["responses"]["404"]["content"]["application/json"][
            "schema"
        ]
        == error
    )


def test_every_operation_documents_its_errors_with_the_shared_body():
    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    import json

    schema = json.loads(out.getvalue())
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "403", "429"):
                response = operation["responses"][status]
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorOutput"
                }, (path, method, status)


@pytest.mark.parametrize("url", ["/api/schema/swagger/", "/api/schema/redoc/"])
def test_the_docs_pages_load_their_scripts_from_this_server(client, url):
    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn." not in page
    assert "/static/drf_spectacular_sidecar/" in page


def test_the_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert "/api/v1/purchases/bulk/" in response.json()["paths"]


# --- tokens -------------------------------------------------------------------------------------


def test_issue_api_token_prints_a_working_token_and_keeps_it(rep, customer):
    first, second = io.StringIO(), io.StringIO()

    call_command("issue_api_token", "rep", stdout=first, stderr=io.StringIO())
    call_command("issue_api_token", "rep", stdout=second, stderr=io.StringIO())

    key = first.getvalue().strip()
    assert key == second.getvalue().strip() == Token.objects.get(user=rep).key
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 200


def test_issue_api_token_rotate_replaces_the_old_token(rep):
    old = Token.objects.create(user=rep).key
    out = io.StringIO()

    call_command("issue_api_token", "rep", "--rotate", stdout=out, stderr=io.StringIO())

    assert out.getvalue().strip() != old
    assert not Token.objects.filter(key=old).exists()


def test_issue_api_token_refuses_an_inactive_user():
    UserFactory(username="gone", is_active=False)

    with pytest.raises(CommandError):
        call_command("issue_api_token", "gone", stdout=io.StringIO())


def test_a_revoked_token_is_a_401(rep_api, rep):
    Token.objects.filter(user=rep).delete()

    response = rep_api.get("/api/v1/customers/")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


# --- found by the schema-driven fuzz (test_schemathesis.py) -------------------------------------


@pytest.mark.parametrize("page", ["0", "-3", "x", "999"])
def test_a_page_that_does_not_exist_is_a_400_on_page(rep_api, page):
    response = rep_api.get("/api/v1/customers/", {"page": page})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["page"]


def test_an_id_beyond_64_bits_is_a_404_in_a_path_and_a_400_in_a_filter(rep_api):
    huge = str(2**70)

    assert rep_api.get(f"/api/v1/scores/{huge}/").status_code == 404
    assert rep_api.get(f"/api/v1/job-runs/{huge}/").status_code in (403, 404)
    response = rep_api.get("/api/v1/purchases/", {"customer": huge})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["customer"]


def test_a_time_filter_with_any_parseable_offset_compares_instants(rep_api, customer):
    from tests.factories import PurchaseFactory

    PurchaseFactory(customer=customer)

    far = rep_api.get("/api/v1/purchases/", {"occurred_after": "1518-10-25T22:49:06+19:18"})
    future = rep_api.get("/api/v1/purchases/", {"occurred_after": "9999-12-31T23:59:59-23:00"})

    assert far.status_code == 200
    assert far.json()["count"] == 1
    # Past year 9999 in UTC: not a time the database can compare.
    assert future.status_code == 400
    assert list(future.json()["fields"]) == ["occurred_after"]


def test_a_time_before_1970_is_a_400_not_an_answer_the_schema_cannot_express(rep_api, customer):
    response = rep_api.post(
        "/api/v1/purchases/",
        {
            "external_id": "OLD-1",
            "customer": customer.pk,
            "occurred_at": "0003-03-01T00:01:00Z",
            "amount": "2.00",
        },
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["occurred_at"]


@pytest.mark.parametrize("url", ["/api/v1/scores/-5/", "/api/v1/loyalty/accounts/-5/"])
def test_a_negative_id_in_a_path_is_a_json_404(rep_api, url):
    response = rep_api.get(url)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
