"""Consent changes with their source, the unsubscribe link and the feedback survey."""

from datetime import date, timedelta

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from contacts import services
from contacts.errors import ConsentError, FeedbackError
from contacts.models import CallListEntry, Channel, ConsentChange, Feedback, Kind, Touch
from contacts.selectors import call_list_for
from contacts.services.feedback import feedback_token, read_feedback_token
from contacts.services.outbox import read_unsubscribe_token, unsubscribe_token
from customers.models import Customer
from tests.contacts.factories import FeedbackFactory
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.contacts.urls")]


def test_a_consent_change_updates_the_customer_and_is_logged_with_its_source(customer, rep):
    change = services.set_consent(
        customer_id=customer.pk,
        channel=Channel.SMS,
        granted=False,
        source="rep",
        by=rep,
        note="asked by phone",
    )
    customer.refresh_from_db()
    assert customer.consent_sms is False
    assert (change.channel, change.granted, change.source, change.by) == ("sms", False, "rep", rep)


def test_setting_consent_to_what_it_already_is_logs_nothing(customer):
    assert (
        services.set_consent(
            customer_id=customer.pk, channel=Channel.SMS, granted=True, source="rep"
        )
        is None
    )
    assert not ConsentChange.objects.exists()


def test_consent_is_only_recorded_for_channels_that_have_it(customer):
    with pytest.raises(ConsentError):
        services.set_consent(
            customer_id=customer.pk, channel=Channel.IN_PERSON, granted=True, source="rep"
        )
    with pytest.raises(ConsentError):
        services.set_consent(
            customer_id=customer.pk, channel=Channel.SMS, granted=True, source="rumour"
        )


def test_withdrawing_consent_cancels_planned_touches_on_that_channel_only(customer, noon):
    sms = services.schedule_contact(
        customer_id=customer.pk,
        channel=Channel.SMS,
        kind=Kind.ADVERTISING,
        source="system",
        key="s",
    )
    email = services.schedule_contact(
        customer_id=customer.pk, channel=Channel.EMAIL, kind=Kind.CONTENT, source="system", key="e"
    )
    services.set_consent(
        customer_id=customer.pk, channel=Channel.SMS, granted=False, source="import"
    )
    sms.refresh_from_db()
    email.refresh_from_db()
    assert (sms.status, email.status) == (Touch.Status.CANCELLED, Touch.Status.PLANNED)


def test_the_unsubscribe_link_asks_first_then_records_the_opt_out(client, customer):
    token = unsubscribe_token(customer_id=customer.pk, channel=Channel.EMAIL)
    url = reverse("contacts:unsubscribe", args=[token])
    page = client.get(url)
    assert page.status_code == 200
    customer.refresh_from_db()
    assert customer.consent_email is True

    done = client.post(url)

    assert done.status_code == 200
    assert b"unsubscribed" in done.content
    customer.refresh_from_db()
    assert customer.consent_email is False
    change = ConsentChange.objects.get()
    assert (change.channel, change.granted, change.source) == ("email", False, "unsubscribe")


def test_one_click_unsubscribe_from_a_mail_client_needs_no_csrf_token(customer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    token = unsubscribe_token(customer_id=customer.pk, channel=Channel.EMAIL)
    response = client.post(
        reverse("contacts:unsubscribe", args=[token]), {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert Customer.objects.get(pk=customer.pk).consent_email is False


def test_a_tampered_unsubscribe_link_is_refused(client, customer):
    token = unsubscribe_token(customer_id=customer.pk, channel=Channel.EMAIL)
    other = CustomerFactory()
    # Signed with another key: someone trying to unsubscribe a customer that is not theirs.
    forged = signing.dumps(
        {"c": other.pk, "ch": "email"}, salt="contacts.unsubscribe", key="guessed"
    )
    for bad in (token[:-2] + "xx", "nonsense", forged):
        assert client.get(reverse("contacts:unsubscribe", args=[bad])).status_code == 400
        assert client.post(reverse("contacts:unsubscribe", args=[bad])).status_code == 400
    assert not ConsentChange.objects.exists()


def test_unsubscribe_tokens_are_bound_to_their_purpose(customer):
    feedback_like = signing.dumps({"c": customer.pk, "ch": "email"}, salt="contacts.feedback")
    with pytest.raises(signing.BadSignature):
        read_unsubscribe_token(feedback_like)
    assert read_unsubscribe_token(unsubscribe_token(customer_id=customer.pk, channel="sms")) == (
        customer.pk,
        "sms",
    )


def test_a_low_score_puts_the_customer_on_the_owners_call_list_tomorrow(customer, rep, noon):
    survey = FeedbackFactory(customer=customer)
    services.record_feedback(
        feedback_id=survey.pk, score=4, comment="Slow delivery", reasons=["delivery"]
    )
    survey.refresh_from_db()
    assert (survey.score, survey.comment, survey.reasons) == (4, "Slow delivery", ["delivery"])
    tomorrow = date(2026, 3, 11)
    entry = CallListEntry.objects.get()
    assert (entry.day, entry.reason) == (tomorrow, "low_feedback")
    [row] = call_list_for(rep=rep, day=tomorrow).rows
    assert "Feedback score 4 of 10" in [badge.text for badge in row.badges]


def test_a_good_score_puts_nobody_on_the_call_list(customer, noon):
    survey = FeedbackFactory(customer=customer)
    services.record_feedback(feedback_id=survey.pk, score=9)
    assert not CallListEntry.objects.exists()


def test_a_survey_is_answered_once(customer, noon):
    survey = FeedbackFactory(customer=customer)
    services.record_feedback(feedback_id=survey.pk, score=8)
    with pytest.raises(FeedbackError):
        services.record_feedback(feedback_id=survey.pk, score=0)
    survey.refresh_from_db()
    assert survey.score == 8


def test_scores_and_reasons_outside_the_scale_are_refused(customer):
    survey = FeedbackFactory(customer=customer)
    with pytest.raises(FeedbackError):
        services.record_feedback(feedback_id=survey.pk, score=11)
    with pytest.raises(FeedbackError):
        services.record_feedback(feedback_id=survey.pk, score=5, reasons=["weather"])


def test_request_feedback_sends_a_survey_with_its_signed_link(customer, noon):
    survey = services.request_feedback(customer_id=customer.pk, key="survey-1")
    message = survey.customer.outbox_messages.get()
    token = message.body.split("/contacts/feedback/")[1].split("/")[0]
    assert read_feedback_token(token) == survey.pk


def test_the_survey_page_opens_without_login_and_stores_the_answer(client, customer, noon):
    survey = FeedbackFactory(customer=customer)
    url = reverse("contacts:feedback", args=[feedback_token(survey.pk)])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"score": "3", "reasons": ["price", "service"], "comment": "Too pricey"}
    )
    assert response.status_code == 200
    assert b"feedback-thanks" in response.content
    survey.refresh_from_db()
    assert (survey.score, survey.reasons) == (3, ["price", "service"])
    assert CallListEntry.objects.filter(customer=customer, reason="low_feedback").exists()


def test_the_survey_page_refuses_bad_input_with_field_errors(client, customer):
    survey = FeedbackFactory(customer=customer)
    url = reverse("contacts:feedback", args=[feedback_token(survey.pk)])
    response = client.post(url, {"score": "12"})
    assert response.status_code == 400
    assert b"error-score" in response.content
    assert Feedback.objects.get().answered_at is None


def test_a_tampered_survey_link_is_not_found(client, customer):
    survey = FeedbackFactory(customer=customer)
    token = feedback_token(survey.pk)
    assert client.get(reverse("contacts:feedback", args=[token[:-3] + "abc"])).status_code == 404
    assert client.post(reverse("contacts:feedback", args=["1"]), {"score": "0"}).status_code == 404
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_an_answered_survey_says_thank_you_again(client, customer):
    survey = FeedbackFactory(
        customer=customer, score=10, answered_at=timezone.now() - timedelta(days=1)
    )
    response = client.get(reverse("contacts:feedback", args=[feedback_token(survey.pk)]))
    assert response.status_code == 200
    assert b"already been answered" in response.content
