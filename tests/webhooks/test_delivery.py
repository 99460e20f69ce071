import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from customers import scoring
from customers.models import ScoreTransition, ScoringRun
from loyalty import services as loyalty_services
from loyalty.models import Reward, Tier
from tests.api.builders import score_for
from tests.loyalty.conftest import buy
from webhooks import services
from webhooks.addresses import check_endpoint_url
from webhooks.models import Event, ScoringRunScan, WebhookDelivery, WebhookEndpoint
from webhooks.signing import signature_header, verify_signature

pytestmark = pytest.mark.django_db


def redeem(customer, *, cost=100, key="redeem-key-1", rep=None):
    reward = Reward.objects.create(name="Coffee voucher", kind=Reward.Kind.VOUCHER, cost=cost)
    return loyalty_services.redeem_reward(
        customer_id=customer.pk, reward_id=reward.pk, by=rep, key=key
    )


@pytest.fixture
def funded(customer):
    buy(customer, "25000")  # 250 points
    return customer


# --- from the cause to the receiver ---------------------------------------------------------------


def test_a_redemption_is_posted_signed_to_the_endpoint(
    funded, endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        redemption = redeem(funded)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.object_key == f"redemption:{redemption.pk}"
    [request] = receiver.requests
    assert request["path"] == "/hooks/retention?source=crm"
    headers = request["headers"]
    assert headers["Retention-Event"] == "loyalty.points_redeemed"
    assert headers["Retention-Webhook-Id"] == str(delivery.pk)
    assert verify_signature(
        secret="s3cret-for-tests", header=headers["Retention-Signature"], body=request["body"]
    )
    body = json.loads(request["body"])
    assert body["id"] == delivery.pk
    assert body["event"] == "loyalty.points_redeemed"
    assert body["data"]["redemption"] == redemption.pk
    assert body["data"]["customer"]["id"] == funded.pk
    assert body["data"]["points"] == 100
    assert body["data"]["code"] == redemption.code


def test_the_signature_fails_for_another_body_secret_or_an_old_time():
    body = b'{"id": 1}'
    header = signature_header(secret="k", body=body)

    assert verify_signature(secret="k", header=header, body=body)
    assert not verify_signature(secret="k", header=header, body=b'{"id": 2}')
    assert not verify_signature(secret="other", header=header, body=body)
    assert not verify_signature(secret="k", header=header, body=body, now=time.time() + 301)
    assert not verify_signature(secret="k", header="v1=abc", body=body)


def test_a_cause_that_rolls_back_records_and_sends_nothing(
    funded, endpoint, receiver, django_capture_on_commit_callbacks
):
    class AbortError(Exception):
        pass

    with (  # noqa: PT012
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(AbortError),
        transaction.atomic(),
    ):
        redeem(funded)
        raise AbortError

    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_endpoints_get_only_their_events_and_inactive_ones_nothing(
    funded, receiver, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.create(name="Tiers", url=receiver.url, events=[Event.TIER_CHANGED])
    WebhookEndpoint.objects.create(
        name="Off", url=receiver.url, events=[Event.POINTS_REDEEMED], active=False
    )

    with django_capture_on_commit_callbacks(execute=True):
        redeem(funded)

    assert not WebhookDelivery.objects.exists()


def test_the_same_cause_recorded_twice_is_one_delivery(
    endpoint, django_capture_on_commit_callbacks
):
    item = ("redemption:999", {"redemption": 999})

    with django_capture_on_commit_callbacks(execute=True):
        services.record_deliveries(event=Event.POINTS_REDEEMED, items=[item])
        services.record_deliveries(event=Event.POINTS_REDEEMED, items=[item])

    assert WebhookDelivery.objects.count() == 1


def test_a_tier_upgrade_is_delivered(
    customer, endpoint, receiver, django_capture_on_commit_callbacks
):
    top = Tier.objects.order_by("-order").first()

    with django_capture_on_commit_callbacks(execute=True):
        buy(customer, str(top.qualifying_spend + 1))

    delivery = WebhookDelivery.objects.get(event=Event.TIER_CHANGED)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    data = json.loads(receiver.requests[-1]["body"])["data"]
    assert data["direction"] == "up"
    assert data["to_tier"] == {"id": top.pk, "name": top.name}
    assert data["customer"]["id"] == customer.pk


def test_customers_turning_dormant_are_delivered_when_the_scoring_run_finishes(
    rep, endpoint, receiver, django_capture_on_commit_callbacks
):
    from tests.factories import CustomerFactory

    dormant, woke, other_day = (CustomerFactory(owner=rep) for _ in range(3))
    for customer in (dormant, woke, other_day):
        score_for(customer, dormant=customer is dormant, revenue_at_risk="1500.00")
    day = timezone.localdate() - timedelta(days=1)
    ScoreTransition.objects.create(
        customer=dormant, as_of=day, dimension="dormant", from_value="no", to_value="yes"
    )
    ScoreTransition.objects.create(
        customer=woke, as_of=day, dimension="dormant", from_value="yes", to_value="no"
    )
    ScoreTransition.objects.create(
        customer=other_day,
        as_of=day - timedelta(days=1),
        dimension="dormant",
        from_value="no",
        to_value="yes",
    )
    run = ScoringRun.objects.create(as_of=day, method="model", dormant_rule="model")

    with django_capture_on_commit_callbacks(execute=True):
        scoring.finish_scoring_run(run_id=run.pk)
        scoring.finish_scoring_run(run_id=run.pk)  # a second signal for the same run

    delivery = WebhookDelivery.objects.get(event=Event.CUSTOMER_DORMANT)
    assert delivery.object_key == f"customer:{dormant.pk}:{day.isoformat()}"
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    data = json.loads(receiver.requests[0]["body"])["data"]
    assert data["customer"]["id"] == dormant.pk
    assert data["revenue_at_risk"] == "1500.00"
    assert ScoringRunScan.objects.get(run=run).deliveries == 1


def test_the_sweeper_scans_a_finished_run_whose_signal_was_lost(rep, endpoint):
    from tests.factories import CustomerFactory

    customer = CustomerFactory(owner=rep)
    day = timezone.localdate() - timedelta(days=1)
    ScoreTransition.objects.create(
        customer=customer, as_of=day, dimension="dormant", from_value="no", to_value="yes"
    )
    ScoringRun.objects.create(
        as_of=day, method="model", dormant_rule="model", finished_at=timezone.now()
    )

    result = services.sweep_webhooks()

    assert result.scanned_runs == 1
    delivery = WebhookDelivery.objects.get()
    assert result.due_ids == [delivery.pk]
    assert services.sweep_webhooks().scanned_runs == 0


def test_a_rescore_of_an_old_date_announces_nobody(rep, endpoint):
    from tests.factories import CustomerFactory

    day = timezone.localdate() - timedelta(days=30)
    ScoreTransition.objects.create(
        customer=CustomerFactory(owner=rep),
        as_of=day,
        dimension="dormant",
        from_value="no",
        to_value="yes",
    )
    run = ScoringRun.objects.create(as_of=day, method="model", dormant_rule="model")

    scoring.finish_scoring_run(run_id=run.pk)

    assert not WebhookDelivery.objects.exists()
    assert ScoringRunScan.objects.get(run=run).deliveries == 0


# --- failures, retries and the unknown --------------------------------------------------------------


def _pending(endpoint) -> WebhookDelivery:
    with transaction.atomic():
        [delivery_id] = services.record_deliveries(
            event=Event.POINTS_REDEEMED, items=[("redemption:1", {"redemption": 1})]
        )
    return WebhookDelivery.objects.get(pk=delivery_id)


def test_an_error_answer_is_retried_with_back_off_until_delivered(endpoint, receiver):
    receiver.answers = [(503, 0), (500, 0), (200, 0)]
    delivery = _pending(endpoint)
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        assert services.deliver_webhook(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status_code == 503
    assert delivery.next_attempt_at == start + timedelta(seconds=60)
    # Not due yet: a second hand-off does nothing.
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert services.deliver_webhook(delivery_id=delivery.pk) == "pending"
    assert len(receiver.requests) == 1

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert services.deliver_webhook(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == start + timedelta(seconds=61 + 120)

    with time_machine.travel(start + timedelta(seconds=200), tick=False):
        assert services.deliver_webhook(delivery_id=delivery.pk) == "delivered"
    delivery.refresh_from_db()
    assert delivery.attempts == 3
    assert len(receiver.requests) == 3
    # Every attempt is signed afresh over the same body.
    assert len({request["body"] for request in receiver.requests}) == 1


def test_a_delivery_fails_for_good_after_the_last_attempt(endpoint, receiver):
    receiver.answers = [(500, 0)]
    delivery = _pending(endpoint)
    moment = timezone.now()

    for _attempt in range(3):
        moment += timedelta(days=1)
        with time_machine.travel(moment, tick=False):
            services.deliver_webhook(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == 3
    assert "HTTP 500" in delivery.last_error


def test_no_connection_is_retried(endpoint, receiver):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="http://127.0.0.1:9/closed")
    delivery = _pending(endpoint)

    assert services.deliver_webhook(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("connect:")


def test_a_timeout_after_sending_is_unknown_and_never_resent_without_a_person(
    endpoint, receiver, admin_client, django_capture_on_commit_callbacks
):
    receiver.answers = [(200, 3), (200, 0)]
    delivery = _pending(endpoint)

    assert services.deliver_webhook(delivery_id=delivery.pk) == "unknown"
    result = services.sweep_webhooks(now=timezone.now() + timedelta(days=1))
    assert result.due_ids == []
    assert services.deliver_webhook(delivery_id=delivery.pk) == "unknown"
    assert len(receiver.requests) == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/webhooks/webhookdelivery/",
            {"action": "redeliver", "_selected_action": [delivery.pk]},
        )

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert len(receiver.requests) == 2


def test_a_send_interrupted_by_a_crash_becomes_unknown(endpoint):
    delivery = _pending(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.SENDING, claimed_at=timezone.now() - timedelta(minutes=6)
    )

    result = services.sweep_webhooks()

    delivery.refresh_from_db()
    assert result.marked_unknown == 1
    assert delivery.status == WebhookDelivery.Status.UNKNOWN
    assert result.due_ids == []


# --- where requests may go ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "https://0.0.0.0/hook",
        "https://user:pw@example.com/hook",
        "ftp://example.com/hook",
    ],
)
def test_internal_or_odd_urls_are_refused(settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False

    with pytest.raises(ValidationError):
        check_endpoint_url(url, resolve=False)


def test_plain_http_is_refused_unless_allowed(settings):
    settings.WEBHOOKS_ALLOW_HTTP = False
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False

    with pytest.raises(ValidationError):
        check_endpoint_url("http://93.184.215.14/hook", resolve=False)
    assert check_endpoint_url("https://93.184.215.14/hook", resolve=True) == ["93.184.215.14"]


def test_an_endpoint_with_an_internal_address_is_refused_when_saved_and_when_sent(
    settings, endpoint, receiver
):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(ValidationError):
        endpoint.full_clean()
    delivery = _pending(endpoint)

    assert services.deliver_webhook(delivery_id=delivery.pk) == "failed"
    assert receiver.requests == []


def test_the_admin_lists_endpoints_and_deliveries(admin_client, endpoint):
    _pending(endpoint)

    assert admin_client.get("/admin/webhooks/webhookendpoint/").status_code == 200
    assert (
        admin_client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").status_code
        == 200
    )
    assert admin_client.get("/admin/webhooks/webhookdelivery/").status_code == 200


def test_the_admin_form_saves_the_chosen_events(admin_client, receiver):
    response = admin_client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {
            "name": "POS",
            "url": receiver.url,
            "events": [Event.POINTS_REDEEMED, Event.TIER_CHANGED],
            "active": "on",
            "secret": "another-secret",
            "description": "",
        },
    )

    assert response.status_code == 302, response.content
    assert WebhookEndpoint.objects.get(name="POS").events == [
        Event.POINTS_REDEEMED,
        Event.TIER_CHANGED,
    ]
