"""A schema-driven fuzz of the whole API: schemathesis reads the live schema from a running server
and sends generated requests (valid and invalid) to every operation, on a small seeded base.

Every answer must be documented: no 5xx, a status code the schema lists, the content type it
lists, and a body that validates against the schema. Bounded: FUZZ_EXAMPLES requests per
operation (FUZZ_EXAMPLES=200 for a longer run by hand), derandomized so CI runs are repeatable.
"""

import os
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from common.models import JobRun
from contacts.models import CallListEntry, Touch
from customers.models import ScoreTransition
from loyalty import services as loyalty_services
from loyalty.models import Reward
from tests.api.builders import finished_run, score_for
from tests.factories import CustomerFactory, ManagerFactory, RefundFactory, RepFactory
from tests.loyalty.conftest import buy

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
# Enough of each failure to see what broke and how to reproduce it.
FAILURE_TEXT = int(os.environ.get("FUZZ_FAILURE_TEXT", "3000"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def seeded_base():
    """Two reps' customers with purchases, a refund, scores, points, a redemption, contacts, a
    call list, a scoring run and a job run: every list has rows to answer with."""
    rep, other = RepFactory(username="fuzz-rep"), RepFactory(username="fuzz-other")
    manager = ManagerFactory(username="fuzz-manager")
    customers = [
        CustomerFactory(owner=rep, external_id="K-1"),
        CustomerFactory(owner=rep, backup=other, external_id="K-2"),
        CustomerFactory(owner=other, external_id="K-3"),
    ]
    reward = Reward.objects.create(name="Voucher", kind=Reward.Kind.VOUCHER, cost=10)
    today = timezone.localdate()
    for number, customer in enumerate(customers):
        purchase = buy(customer, "5000")
        score_for(customer, value_class="ABC"[number], dormant=number == 2)
        Touch.objects.create(
            customer=customer,
            channel="phone",
            kind="personal",
            status="done",
            at=purchase.occurred_at,
            source="rep",
            outcome="reached",
        )
        CallListEntry.objects.create(customer=customer, day=today, reason="at_risk")
    RefundFactory(purchase=purchase, amount=Decimal("100.00"), external_id="R-1")
    ScoreTransition.objects.create(
        customer=customers[2], as_of=today, dimension="dormant", from_value="no", to_value="yes"
    )
    loyalty_services.redeem_reward(
        customer_id=customers[0].pk, reward_id=reward.pk, by=rep, key="fuzz-redemption"
    )
    finished_run(as_of=today - timedelta(days=1))
    JobRun.objects.create(job="rescore", run_date=today, status=JobRun.Status.SUCCEEDED)
    return Token.objects.create(user=manager).key


def test_every_operation_answers_as_its_schema_says(live_server, seeded_base, settings):
    # Thousands of calls in a minute are the point here, not a client to slow down.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100000/minute", "user": "100000/minute"},
    }
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {seeded_base}"
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, "the schema lost its operations"

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case):
            case.call_and_validate(base_url=live_server.url, session=session, checks=CHECKS)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - all failures are listed
            failures.append(f"{operation.label}: {str(error)[:FAILURE_TEXT]}")

    # Kept-alive connections hold server threads (and their database sessions) open otherwise.
    session.close()
    assert not failures, "\n\n".join(failures)
