"""The planner: plans and scores become call-list entries and messages, within caps, idempotently."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from contacts import services
from contacts.models import (
    CallListEntry,
    Channel,
    ContactPlan,
    Feedback,
    Kind,
    OutboxMessage,
    RefusedTouch,
    Touch,
)
from contacts.tasks import plan_contacts_task
from tests.contacts.conftest import moscow
from tests.contacts.factories import CustomerScoreFactory, TouchFactory
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.contacts.urls")]

TODAY = date(2026, 3, 10)


def only_plans(*codes):
    ContactPlan.objects.exclude(code__in=codes).update(active=False)
    ContactPlan.objects.filter(code__in=codes).update(active=True)


def outcome_of(outcomes, code):
    return next(outcome for outcome in outcomes if outcome.plan == code)


def test_class_a_customers_get_a_key_account_call(noon):
    key = CustomerScoreFactory(value_class="A").customer
    CustomerScoreFactory(value_class="C")
    only_plans("key-account-call")
    services.plan_contacts(day=TODAY)
    entry = CallListEntry.objects.get()
    assert (entry.customer, entry.reason, entry.day) == (key, "key_account", TODAY)
    assert entry.due_by == TODAY + timedelta(days=7)


def test_a_key_account_the_rep_called_recently_is_not_planned(noon):
    key = CustomerScoreFactory(value_class="A").customer
    TouchFactory(customer=key, at=timezone.now() - timedelta(days=12))
    only_plans("key-account-call")
    services.plan_contacts(day=TODAY)
    assert not CallListEntry.objects.exists()


def test_high_value_at_risk_customers_get_a_call_within_two_days(noon):
    at_risk = CustomerScoreFactory(value_class="B", risk_level="high").customer
    CustomerScoreFactory(value_class="B", risk_level="low")
    only_plans("at-risk-call")
    services.plan_contacts(day=TODAY)
    entry = CallListEntry.objects.get()
    assert (entry.customer, entry.reason, entry.due_by) == (
        at_risk,
        "at_risk",
        TODAY + timedelta(days=2),
    )
    assert entry.offer


def test_dormant_customers_get_a_win_back_call_and_an_email_offer(noon):
    dormant = CustomerScoreFactory(dormant=True).customer
    only_plans("win-back-call", "win-back-email")
    services.plan_contacts(day=TODAY)
    assert CallListEntry.objects.get().reason == "win_back"
    message = OutboxMessage.objects.get()
    assert (message.customer, message.channel, message.kind) == (dormant, "email", "advertising")
    assert message.touch.plan.code == "win-back-email"


def test_running_the_planner_twice_creates_nothing_new(noon):
    CustomerScoreFactory(value_class="A")
    CustomerScoreFactory(dormant=True)
    CustomerFactory(birthday=date(1990, 3, 10))
    CustomerScoreFactory(customer=CustomerFactory(consent_phone=False), value_class="A")
    first = services.plan_contacts(day=TODAY)
    counts = (
        CallListEntry.objects.count(),
        OutboxMessage.objects.count(),
        Touch.objects.count(),
        RefusedTouch.objects.count(),
    )
    second = services.plan_contacts(day=TODAY)
    assert counts == (
        CallListEntry.objects.count(),
        OutboxMessage.objects.count(),
        Touch.objects.count(),
        RefusedTouch.objects.count(),
    )
    assert sum(outcome.entries + outcome.messages for outcome in first) > 0
    assert sum(outcome.entries + outcome.messages for outcome in second) == 0


def test_a_plan_is_not_due_again_before_its_interval(noon):
    CustomerScoreFactory(dormant=True)
    only_plans("win-back-email")
    services.plan_contacts(day=TODAY)
    noon.shift(timedelta(days=30))
    services.plan_contacts(day=TODAY + timedelta(days=30))
    assert OutboxMessage.objects.count() == 1
    noon.shift(timedelta(days=30))
    services.plan_contacts(day=TODAY + timedelta(days=60))
    assert OutboxMessage.objects.count() == 2


def test_the_newsletter_goes_to_customers_with_consent_within_caps(noon):
    agreed = CustomerFactory(consent_email=True)
    CustomerFactory(consent_email=False)
    recently_mailed = CustomerFactory(consent_email=True)
    TouchFactory(
        customer=recently_mailed,
        channel=Channel.EMAIL,
        kind=Kind.PERSONAL,
        at=timezone.now() - timedelta(days=3),
    )
    only_plans("newsletter")

    [outcome] = services.plan_contacts(day=TODAY)

    assert list(OutboxMessage.objects.values_list("customer", flat=True)) == [agreed.pk]
    refusal = RefusedTouch.objects.get()
    assert (refusal.customer, refusal.reason) == (recently_mailed, "cap")
    assert (outcome.candidates, outcome.messages, outcome.refused) == (2, 1, 1)


def test_planned_messages_wait_for_the_customers_morning():
    CustomerFactory(consent_email=True, time_zone="Asia/Vladivostok")
    only_plans("newsletter")
    import time_machine

    with time_machine.travel(moscow(2026, 3, 10, 1, 0), tick=False):
        services.plan_contacts(day=TODAY)
    # 09:00 in Vladivostok is 02:00 in Moscow.
    assert OutboxMessage.objects.get().next_attempt_at == moscow(2026, 3, 10, 2, 0)


def test_birthday_greetings_go_out_on_the_birthday(noon):
    birthday = CustomerFactory(birthday=date(1985, 3, 10), language="en")
    CustomerFactory(birthday=date(1985, 3, 11))
    only_plans("birthday-greeting")
    services.plan_contacts(day=TODAY)
    message = OutboxMessage.objects.get()
    assert message.customer == birthday
    assert "Happy birthday" in message.subject


def test_leap_day_birthdays_are_greeted_on_the_28th_in_other_years(noon):
    leap = CustomerFactory(birthday=date(1988, 2, 29))
    only_plans("birthday-greeting")
    services.plan_contacts(day=date(2026, 2, 28))
    assert OutboxMessage.objects.get().customer == leap


def test_event_invitations_are_off_until_an_admin_switches_them_on(noon):
    CustomerScoreFactory(value_class="A")
    ContactPlan.objects.exclude(code="event-invitation").update(active=False)
    services.plan_contacts(day=TODAY)
    assert not OutboxMessage.objects.exists()
    only_plans("event-invitation")
    services.plan_contacts(day=TODAY)
    assert OutboxMessage.objects.get().template.code == "event_invitation"


def test_yesterdays_buyers_get_the_feedback_survey(noon):
    buyer = CustomerFactory(language="en")
    PurchaseFactory(customer=buyer, occurred_at=moscow(2026, 3, 9, 15, 0))
    PurchaseFactory(occurred_at=moscow(2026, 3, 5, 15, 0))
    only_plans("feedback-after-purchase")
    services.plan_contacts(day=TODAY)
    survey = Feedback.objects.get()
    assert survey.customer == buyer
    message = OutboxMessage.objects.get()
    assert "https://crm.example.com/contacts/feedback/" in message.body


def test_a_refused_survey_leaves_no_survey_behind(noon):
    buyer = CustomerFactory()
    PurchaseFactory(customer=buyer, occurred_at=moscow(2026, 3, 9, 15, 0))
    TouchFactory(
        customer=buyer,
        channel=Channel.EMAIL,
        kind=Kind.CONTENT,
        at=timezone.now() - timedelta(days=1),
    )
    only_plans("feedback-after-purchase")
    services.plan_contacts(day=TODAY)
    assert not Feedback.objects.exists()
    assert RefusedTouch.objects.get().reason == "cap"


def test_a_call_plan_logs_a_refusal_for_a_customer_without_phone_consent(noon):
    CustomerScoreFactory(customer=CustomerFactory(consent_phone=False), value_class="A")
    only_plans("key-account-call")
    services.plan_contacts(day=TODAY)
    assert not CallListEntry.objects.exists()
    assert RefusedTouch.objects.get().reason == "no_consent"


def test_the_command_plans_a_given_day(noon):
    CustomerScoreFactory(value_class="A")
    only_plans("key-account-call")
    out = StringIO()
    call_command("plan_contacts", "--day", "2026-03-11", stdout=out)
    assert CallListEntry.objects.get().day == date(2026, 3, 11)
    assert "key-account-call: 1 due, 1 call-list entries" in out.getvalue()


def test_the_task_takes_an_iso_day(noon):
    CustomerScoreFactory(value_class="A")
    only_plans("key-account-call")
    [outcome] = plan_contacts_task(day="2026-03-10")
    assert outcome["entries"] == 1
