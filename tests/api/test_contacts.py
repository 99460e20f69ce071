from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from contacts.models import CallListEntry, RefusedTouch, Touch
from tests.api.builders import score_for
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

MOSCOW = ZoneInfo("Europe/Moscow")
LOG = "/api/v1/contacts/"
BOOK = "/api/v1/contact-bookings/"
CALLS = "/api/v1/call-list/"


@pytest.fixture(autouse=True)
def _contact_hours(settings):
    settings.CONTACTS_CONTACT_HOURS = ("09:00", "21:00")


@pytest.fixture
def noon():
    """A Tuesday noon in Moscow, inside everyone's contact hours; the clock stands still."""
    with time_machine.travel(datetime(2026, 3, 10, 12, 0, tzinfo=MOSCOW), tick=False) as traveller:
        yield traveller


# --- booking and the 409 refusal ------------------------------------------------------------------


def test_a_booking_within_the_rules_is_a_201_with_the_planned_contact(rep_api, customer, noon):
    response = rep_api.post(
        BOOK, {"customer": customer.pk, "channel": "sms", "kind": "advertising"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "planned"
    assert body["channel"] == "sms"
    assert body["customer"] == customer.pk
    assert Touch.objects.filter(customer=customer, status="planned").count() == 1


def test_a_second_sms_within_the_cap_is_a_409_with_the_reason_and_next_allowed_time(
    rep_api, customer, noon
):
    first = rep_api.post(
        BOOK, {"customer": customer.pk, "channel": "sms", "kind": "advertising"}, format="json"
    )
    assert first.status_code == 201

    second = rep_api.post(
        BOOK, {"customer": customer.pk, "channel": "sms", "kind": "content"}, format="json"
    )

    assert second.status_code == 409
    body = second.json()
    assert body["code"] == "conflict"
    assert "SMS" in body["detail"]
    assert body["context"]["reason"] == "cap"
    allowed = datetime.fromisoformat(body["context"]["next_allowed_at"])
    # Once per 30 days: the next SMS is allowed 30 days after the first.
    assert allowed == datetime.fromisoformat(first.json()["at"]) + timedelta(days=30)
    refusal = RefusedTouch.objects.get(pk=body["context"]["refusal"])
    assert refusal.reason == RefusedTouch.Reason.CAP
    assert Touch.objects.filter(customer=customer).count() == 1


def test_a_booking_without_consent_is_a_409_without_a_next_time(rep_api, rep, noon):
    customer = CustomerFactory(owner=rep, consent_sms=False)

    response = rep_api.post(
        BOOK, {"customer": customer.pk, "channel": "sms", "kind": "advertising"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["context"] == {
        "reason": "no_consent",
        "next_allowed_at": None,
        "refusal": RefusedTouch.objects.get(customer=customer).pk,
    }


def test_the_same_booking_key_twice_books_once_and_answers_the_first_booking(
    rep_api, customer, noon
):
    payload = {"customer": customer.pk, "channel": "email", "kind": "content", "key": "promo-1"}

    first = rep_api.post(BOOK, payload, format="json")
    again = rep_api.post(BOOK, payload, format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Touch.objects.filter(customer=customer).count() == 1


def test_a_booking_key_reused_for_another_booking_is_a_409_on_the_key(rep_api, rep, noon):
    one, two = CustomerFactory(owner=rep), CustomerFactory(owner=rep)
    rep_api.post(BOOK, {"customer": one.pk, "channel": "email", "key": "k-1"}, format="json")

    response = rep_api.post(
        BOOK, {"customer": two.pk, "channel": "email", "key": "k-1"}, format="json"
    )

    assert response.status_code == 409
    assert "key" in response.json()["fields"]
    assert not Touch.objects.filter(customer=two).exists()


def test_booking_for_another_reps_customer_is_a_404(rep_api, other_rep, noon):
    theirs = CustomerFactory(owner=other_rep)

    response = rep_api.post(BOOK, {"customer": theirs.pk, "channel": "sms"}, format="json")

    assert response.status_code == 404
    assert not Touch.objects.exists()


def test_a_booking_in_the_past_or_with_unknown_fields_is_a_400(rep_api, customer, noon):
    response = rep_api.post(
        BOOK,
        {"customer": customer.pk, "channel": "sms", "at": "2026-03-01T10:00:00", "x": 1},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"at", "x"}


# --- the contact log ------------------------------------------------------------------------------


def test_a_logged_callback_is_recorded_and_comes_back_on_its_day(rep_api, customer, noon):
    response = rep_api.post(
        LOG,
        {
            "customer": customer.pk,
            "outcome": "callback",
            "callback_at": "2026-03-12T11:00:00+03:00",
            "notes": "After the board meeting",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    touch = Touch.objects.get(pk=response.json()["id"])
    assert touch.status == Touch.Status.DONE
    assert touch.outcome == "callback"
    assert CallListEntry.objects.get(customer=customer).day == date(2026, 3, 12)


def test_a_callback_without_a_time_is_a_400_on_that_field(rep_api, customer, noon):
    response = rep_api.post(LOG, {"customer": customer.pk, "outcome": "callback"}, format="json")

    assert response.status_code == 400
    assert "callback_at" in response.json()["fields"]


def test_reaching_a_dormant_customer_needs_a_reason_for_leaving(rep_api, customer, noon):
    score_for(customer, dormant=True)

    refused = rep_api.post(LOG, {"customer": customer.pk, "outcome": "reached"}, format="json")
    logged = rep_api.post(
        LOG, {"customer": customer.pk, "outcome": "reached", "leave_reason": "price"}, format="json"
    )

    assert refused.status_code == 400
    assert "leave_reason" in refused.json()["fields"]
    assert logged.status_code == 201
    assert logged.json()["was_dormant"] is True


def test_logging_for_another_reps_customer_is_a_404(rep_api, other_rep, noon):
    theirs = CustomerFactory(owner=other_rep)

    response = rep_api.post(LOG, {"customer": theirs.pk, "outcome": "reached"}, format="json")

    assert response.status_code == 404
    assert not Touch.objects.exists()


def test_the_contact_log_shows_only_visible_customers_and_filters_by_customer(
    rep_api, rep, other_rep, noon
):
    mine, also_mine = CustomerFactory(owner=rep), CustomerFactory(owner=rep)
    theirs = CustomerFactory(owner=other_rep)
    for customer in (mine, also_mine, theirs):
        Touch.objects.create(
            customer=customer,
            channel="phone",
            kind="personal",
            status="done",
            at=datetime(2026, 3, 9, 10, tzinfo=MOSCOW),
            source="rep",
        )

    everything = rep_api.get(LOG).json()
    one = rep_api.get(LOG, {"customer": mine.pk}).json()
    hidden = rep_api.get(f"{LOG}{Touch.objects.get(customer=theirs).pk}/")

    assert {row["customer"] for row in everything["results"]} == {mine.pk, also_mine.pk}
    assert [row["customer"] for row in one["results"]] == [mine.pk]
    assert hidden.status_code == 404


# --- the call list --------------------------------------------------------------------------------


def test_a_rep_gets_their_own_call_list_with_reasons(rep_api, rep, other_rep, noon):
    mine = CustomerFactory(owner=rep)
    score_for(mine, value_class="A", risk_level="high")
    CallListEntry.objects.create(customer=mine, day=date(2026, 3, 10), reason="at_risk")
    CallListEntry.objects.create(
        customer=CustomerFactory(owner=other_rep), day=date(2026, 3, 10), reason="win_back"
    )

    response = rep_api.get(CALLS)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["customer"] for row in rows] == [mine.pk]
    assert rows[0]["status"] == "open"
    assert rows[0]["value_class"] == "A"
    assert [entry["reason"] for entry in rows[0]["entries"]] == ["at_risk"]


def test_a_rep_cannot_see_another_reps_call_list(rep_api, other_rep, noon):
    assert rep_api.get(CALLS, {"rep": other_rep.pk}).status_code == 404


def test_a_manager_chooses_whose_call_list(manager_api, rep, noon):
    customer = CustomerFactory(owner=rep)
    CallListEntry.objects.create(customer=customer, day=date(2026, 3, 9), reason="callback")

    rows = manager_api.get(CALLS, {"rep": rep.pk}).json()["results"]

    assert [row["customer"] for row in rows] == [customer.pk]
    assert rows[0]["overdue_days"] == 1
    assert manager_api.get(CALLS, {"rep": 10**6}).status_code == 404
    assert manager_api.get(CALLS, {"day": "tomorrow"}).status_code == 400


def test_the_same_log_key_twice_logs_once_and_answers_the_first_contact(rep_api, customer, noon):
    body = {"customer": customer.pk, "outcome": "reached", "notes": "Talked", "key": "call-77"}
    first = rep_api.post(LOG, body, format="json")
    again = rep_api.post(LOG, body, format="json")

    assert first.status_code == 201, first.json()
    assert again.status_code == 200, again.json()
    assert again.json()["id"] == first.json()["id"]
    assert Touch.objects.filter(customer=customer, status=Touch.Status.DONE).count() == 1


def test_a_log_key_reused_for_another_contact_is_a_409_on_the_key(rep_api, rep, noon):
    first, second = CustomerFactory(owner=rep), CustomerFactory(owner=rep)
    assert rep_api.post(
        LOG, {"customer": first.pk, "outcome": "reached", "key": "k-1"}, format="json"
    ).status_code == 201
    response = rep_api.post(
        LOG, {"customer": second.pk, "outcome": "reached", "key": "k-1"}, format="json"
    )

    assert response.status_code == 409
    assert "key" in response.json()["fields"]
    assert not Touch.objects.filter(customer=second).exists()
