"""Logging call outcomes and the rep's call list: ordering, badges, callbacks, no-answers."""

from datetime import date, timedelta

import pytest
from django.dispatch import receiver
from django.utils import timezone

from contacts import services
from contacts.errors import OutcomeError
from contacts.models import CallListEntry, Channel, LeaveReason, Outcome, Touch
from contacts.selectors import call_list_for, priority_of
from contacts.signals import call_list_extras
from tests.contacts.conftest import moscow
from tests.contacts.factories import CallListEntryFactory, CustomerScoreFactory, TouchFactory
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.contacts.urls")]

TODAY = date(2026, 3, 10)


def badges_of(row) -> list[str]:
    return [badge.text for badge in row.badges]


def test_a_no_answer_closes_todays_entry_and_comes_back_after_the_delay(rep, customer, noon):
    CallListEntryFactory(customer=customer, day=TODAY)
    touch = services.log_call_outcome(customer_id=customer.pk, by=rep, outcome=Outcome.NO_ANSWER)
    assert touch.status == Touch.Status.DONE
    assert CallListEntry.objects.get(day=TODAY).status == CallListEntry.Status.DONE
    assert call_list_for(rep=rep, day=TODAY + timedelta(days=1)).rows == []
    [row] = call_list_for(rep=rep, day=TODAY + timedelta(days=2)).rows
    assert "no answer last time" in badges_of(row)


def test_the_no_answer_delay_is_a_setting(rep, customer, noon, settings):
    settings.CONTACTS_NO_ANSWER_RETRY_DAYS = 5
    services.log_call_outcome(customer_id=customer.pk, by=rep, outcome=Outcome.NO_ANSWER)
    assert CallListEntry.objects.get(reason="no_answer").day == TODAY + timedelta(days=5)


def test_a_promised_callback_comes_back_on_its_day_with_its_time(rep, customer, noon):
    CallListEntryFactory(customer=customer, day=TODAY)
    services.log_call_outcome(
        customer_id=customer.pk,
        by=rep,
        outcome=Outcome.CALLBACK,
        callback_at=moscow(2026, 3, 13, 15, 30),
    )
    assert call_list_for(rep=rep, day=TODAY).rows == []
    [row] = call_list_for(rep=rep, day=date(2026, 3, 13)).rows
    assert "callback promised 15:30" in badges_of(row)


def test_a_callback_needs_a_time_in_the_future(rep, customer, noon):
    with pytest.raises(OutcomeError) as missing:
        services.log_call_outcome(customer_id=customer.pk, by=rep, outcome=Outcome.CALLBACK)
    assert missing.value.field == "callback_at"
    with pytest.raises(OutcomeError):
        services.log_call_outcome(
            customer_id=customer.pk,
            by=rep,
            outcome=Outcome.CALLBACK,
            callback_at=moscow(2026, 3, 9, 10, 0),
        )


def test_a_dormant_customer_reached_needs_the_reason_for_leaving(rep, customer, noon):
    CustomerScoreFactory(customer=customer, dormant=True)
    with pytest.raises(OutcomeError) as missing:
        services.log_call_outcome(customer_id=customer.pk, by=rep, outcome=Outcome.REACHED)
    assert missing.value.field == "leave_reason"
    touch = services.log_call_outcome(
        customer_id=customer.pk,
        by=rep,
        outcome=Outcome.REACHED,
        leave_reason=LeaveReason.COMPETITOR,
        notes="Competitor gave 15% off",
    )
    assert (touch.leave_reason, touch.was_dormant) == ("competitor", True)


def test_a_no_answer_from_a_dormant_customer_needs_no_reason(rep, customer, noon):
    CustomerScoreFactory(customer=customer, dormant=True)
    assert services.log_call_outcome(customer_id=customer.pk, by=rep, outcome=Outcome.NO_ANSWER)


def test_an_unknown_outcome_or_reason_is_refused(rep, customer, noon):
    with pytest.raises(OutcomeError):
        services.log_call_outcome(customer_id=customer.pk, by=rep, outcome="maybe")
    with pytest.raises(OutcomeError):
        services.log_call_outcome(
            customer_id=customer.pk, by=rep, outcome="reached", leave_reason="weather"
        )


def test_a_meeting_can_be_logged_as_a_personal_contact(rep, customer, noon):
    touch = services.log_call_outcome(
        customer_id=customer.pk, by=rep, outcome=Outcome.REACHED, channel=Channel.IN_PERSON
    )
    assert (touch.channel, touch.kind) == ("in_person", "personal")


def test_the_list_is_ordered_by_value_risk_overdue_and_days_since_contact(rep, noon):
    small = CustomerFactory(owner=rep, name="Small C low")
    CustomerScoreFactory(customer=small, value_class="C", risk_level="low")
    big_risky = CustomerFactory(owner=rep, name="Big A high")
    CustomerScoreFactory(customer=big_risky, value_class="A", risk_level="high")
    big_calm = CustomerFactory(owner=rep, name="Big A low")
    CustomerScoreFactory(customer=big_calm, value_class="A", risk_level="low")
    overdue_small = CustomerFactory(owner=rep, name="Small C low, overdue")
    CustomerScoreFactory(customer=overdue_small, value_class="C", risk_level="low")
    for customer in (small, big_risky, big_calm):
        CallListEntryFactory(customer=customer, day=TODAY)
        TouchFactory(customer=customer, at=timezone.now() - timedelta(days=20))
    CallListEntryFactory(customer=overdue_small, day=TODAY - timedelta(days=14))
    TouchFactory(customer=overdue_small, at=timezone.now() - timedelta(days=20))

    rows = call_list_for(rep=rep, day=TODAY).rows

    assert [row.customer.name for row in rows] == [
        "Big A high",
        "Big A low",
        "Small C low, overdue",
        "Small C low",
    ]
    assert rows[0].priority == priority_of(
        score=big_risky.score, overdue_days=0, days_since_contact=20
    )
    assert rows[2].overdue_days == 14


def test_priority_grows_with_each_factor():
    base = priority_of(score=None, overdue_days=0, days_since_contact=0)
    assert base == 1
    assert priority_of(score=None, overdue_days=7, days_since_contact=0) == 2
    assert priority_of(score=None, overdue_days=0, days_since_contact=30) == 2
    assert priority_of(score=None, overdue_days=0, days_since_contact=None) == priority_of(
        score=None, overdue_days=0, days_since_contact=365
    )


def test_badges_say_why_the_customer_is_on_the_list(rep, noon):
    key_account = CustomerFactory(owner=rep, birthday=date(1980, 3, 10))
    CustomerScoreFactory(customer=key_account, value_class="A", dormant=True)
    TouchFactory(customer=key_account, at=timezone.now() - timedelta(days=41))
    CallListEntryFactory(customer=key_account, day=TODAY, reason=CallListEntry.Reason.KEY_ACCOUNT)

    [row] = call_list_for(rep=rep, day=TODAY).rows

    assert badges_of(row)[:3] == ["dormant", "key account not called in 41 days", "birthday"]
    assert row.needs_reason
    assert row.last_contact_at == timezone.now() - timedelta(days=41)


def test_a_key_account_recently_called_has_no_key_account_badge(rep, noon):
    customer = CustomerFactory(owner=rep)
    CustomerScoreFactory(customer=customer, value_class="A")
    TouchFactory(customer=customer, at=timezone.now() - timedelta(days=3))
    CallListEntryFactory(customer=customer, day=TODAY)
    [row] = call_list_for(rep=rep, day=TODAY).rows
    assert not [text for text in badges_of(row) if "key account" in text]


def test_one_row_per_customer_with_every_reason(rep, customer, noon):
    CallListEntryFactory(
        customer=customer, day=TODAY, reason=CallListEntry.Reason.AT_RISK, offer="5% off"
    )
    CallListEntryFactory(
        customer=customer, day=TODAY - timedelta(days=2), reason=CallListEntry.Reason.NO_ANSWER
    )
    [row] = call_list_for(rep=rep, day=TODAY).rows
    assert set(row.reasons) == {"at_risk", "no_answer"}
    assert row.offer == "5% off"
    assert row.overdue_days == 2


def test_the_list_shows_only_the_reps_own_customers_and_follows_reassignment(rep, other_rep, noon):
    mine = CustomerFactory(owner=rep)
    theirs = CustomerFactory(owner=other_rep)
    CallListEntryFactory(customer=mine, day=TODAY)
    CallListEntryFactory(customer=theirs, day=TODAY)
    assert [row.customer for row in call_list_for(rep=rep, day=TODAY).rows] == [mine]
    services_reassign(from_rep=other_rep, to_rep=rep)
    assert {row.customer for row in call_list_for(rep=rep, day=TODAY).rows} == {mine, theirs}


def services_reassign(*, from_rep, to_rep):
    from customers.services import reassign_customers

    reassign_customers(from_rep_id=from_rep.pk, to_rep_id=to_rep.pk)


def test_logged_rows_move_to_done_today(rep, customer, noon):
    CallListEntryFactory(customer=customer, day=TODAY)
    services.log_call_outcome(customer_id=customer.pk, by=rep, outcome=Outcome.DECLINED)
    call_list = call_list_for(rep=rep, day=TODAY)
    assert call_list.rows == []
    [done] = call_list.done_rows
    assert done.touch.outcome == "declined"


def test_future_entries_wait_for_their_day(rep, customer, noon):
    CallListEntryFactory(customer=customer, day=TODAY + timedelta(days=1))
    assert call_list_for(rep=rep, day=TODAY).rows == []


def test_extras_from_other_apps_are_shown(rep, customer, noon):
    CallListEntryFactory(customer=customer, day=TODAY)

    @receiver(call_list_extras, weak=False)
    def points(sender, customer_ids, **kwargs):
        return {
            customer_id: {"label": "Points", "value": "1 200 (Gold)"}
            for customer_id in customer_ids
        }

    try:
        [row] = call_list_for(rep=rep, day=TODAY).rows
    finally:
        call_list_extras.disconnect(points)
    assert row.extras == [{"label": "Points", "value": "1 200 (Gold)"}]


def test_the_call_list_runs_the_same_queries_for_few_and_many_rows(
    rep, noon, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def make(count):
        for _ in range(count):
            customer = CustomerFactory(owner=rep)
            CustomerScoreFactory(customer=customer, value_class="B", risk_level="medium")
            CallListEntryFactory(customer=customer, day=TODAY)
            TouchFactory(customer=customer, at=timezone.now() - timedelta(days=10))

    make(2)
    with CaptureQueriesContext(connection) as few:
        assert len(call_list_for(rep=rep, day=TODAY).rows) == 2
    make(40)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(call_list_for(rep=rep, day=TODAY).rows) == 42
    assert len(few.captured_queries) <= 3


def test_a_contact_logged_again_under_its_key_is_not_logged_twice(rep, customer, noon):
    CallListEntryFactory(customer=customer, day=timezone.localdate())
    first = services.log_call_outcome(
        customer_id=customer.pk, by=rep, outcome=Outcome.NO_ANSWER, key="retry-1"
    )
    again = services.log_call_outcome(
        customer_id=customer.pk, by=rep, outcome=Outcome.NO_ANSWER, key="retry-1"
    )

    assert again.pk == first.pk
    assert Touch.objects.filter(customer=customer).count() == 1
    # One retry entry, not two: the second call changed nothing.
    assert CallListEntry.objects.filter(customer=customer, status="open").count() == 1


def test_a_retry_day_already_on_the_list_is_reopened_not_doubled(rep, customer, noon):
    retry_day = TODAY + timedelta(days=2)
    first = services.log_call_outcome(customer_id=customer.pk, by=rep, outcome=Outcome.NO_ANSWER)
    entry = CallListEntry.objects.get(day=retry_day, reason=CallListEntry.Reason.NO_ANSWER)
    CallListEntry.objects.filter(pk=entry.pk).update(
        status=CallListEntry.Status.DONE, touch=first, done_at=timezone.now(), note="kept"
    )
    services.log_call_outcome(customer_id=customer.pk, by=rep, outcome=Outcome.NO_ANSWER)
    [again] = CallListEntry.objects.filter(day=retry_day, reason=CallListEntry.Reason.NO_ANSWER)
    assert again.pk == entry.pk
    assert again.status == CallListEntry.Status.OPEN
    assert (again.touch, again.done_at, again.callback_at) == (None, None, None)
    assert (again.note, again.created_at) == ("kept", entry.created_at)
