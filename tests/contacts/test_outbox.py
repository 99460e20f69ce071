"""The outbox: recorded before sending, sent at most once, retried with back-off."""

from datetime import timedelta

import pytest
from django.core import mail
from django.dispatch import receiver

from contacts import services, sms
from contacts.errors import (
    CapExceededError,
    MessageTemplateMissingError,
    NoAddressError,
    NoConsentError,
)
from contacts.models import Channel, ConsentChange, Kind, OutboxMessage, RefusedTouch, Touch
from contacts.signals import message_variables
from contacts.tasks import send_outbox_message_task, sweep_outbox_task
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.contacts.urls")]


@pytest.fixture
def http_sms(settings, sms_provider):
    settings.SMS_BACKEND = "contacts.sms.HttpSmsBackend"
    settings.SMS_HTTP_URL = sms_provider.url
    settings.SMS_HTTP_TIMEOUT = 0.5
    return sms_provider


def queue(customer, *, channel=Channel.EMAIL, template="win_back", key="msg-1", **kwargs):
    return services.queue_message(
        customer_id=customer.pk, template_code=template, channel=channel, key=key, **kwargs
    )


def test_a_message_is_recorded_before_it_is_sent(customer, noon):
    message = queue(customer)
    assert message.status == OutboxMessage.Status.PENDING
    assert message.touch.status == Touch.Status.PLANNED
    assert mail.outbox == []


def test_after_commit_the_message_is_sent_and_its_touch_is_done(
    customer, noon, django_capture_on_commit_callbacks
):
    customer.language = "en"
    customer.save()
    with django_capture_on_commit_callbacks(execute=True):
        message = queue(customer, offer="10% off")
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.touch.status == Touch.Status.DONE
    [email] = mail.outbox
    assert email.to == [customer.email]
    assert "10% off" in email.body
    assert email.extra_headers["List-Unsubscribe"].startswith(
        "<https://crm.example.com/contacts/unsubscribe/"
    )
    assert message.provider_message_id == email.extra_headers["Message-ID"]


def test_the_template_is_chosen_in_the_customers_language(noon):
    russian = CustomerFactory(language="ru", name="Ромашка")
    message = queue(russian)
    assert message.language == "ru"
    assert "Ромашка" in message.subject
    assert "мы скучаем" in message.subject


def test_variables_from_other_apps_are_rendered(customer, noon):
    @receiver(message_variables, weak=False)
    def points(sender, customer_ids, **kwargs):
        return {
            customer_id: {"points_balance": 1250, "tier": "Gold"} for customer_id in customer_ids
        }

    try:
        customer.language = "en"
        customer.save()
        message = queue(customer)
    finally:
        message_variables.disconnect(points)
    assert "1250 points (Gold)" in message.body


def test_the_same_key_is_queued_once(customer, noon):
    first = queue(customer, key="nightly:1")
    second = queue(customer, key="nightly:1")
    assert first.pk == second.pk
    assert OutboxMessage.objects.count() == 1
    assert Touch.objects.count() == 1


def test_a_message_over_the_cap_is_refused_and_logged(customer, noon):
    queue(customer, key="first")
    with pytest.raises(CapExceededError):
        queue(customer, key="second")
    assert OutboxMessage.objects.count() == 1
    assert RefusedTouch.objects.get(key="second").reason == RefusedTouch.Reason.CAP


def test_a_message_without_consent_is_refused(noon):
    customer = CustomerFactory(consent_email=False)
    with pytest.raises(NoConsentError):
        queue(customer)
    assert not OutboxMessage.objects.exists()


def test_a_customer_without_an_address_is_refused_with_the_reason(noon):
    customer = CustomerFactory(phone="")
    with pytest.raises(NoAddressError):
        queue(customer, channel=Channel.SMS)
    assert RefusedTouch.objects.get(customer=customer).reason == RefusedTouch.Reason.NO_ADDRESS


def test_an_unknown_template_is_an_error(customer, noon):
    with pytest.raises(MessageTemplateMissingError):
        queue(customer, template="no-such-template")


def test_a_failing_provider_then_a_working_one_sends_exactly_once(customer, noon, http_sms):
    http_sms.answers = [(503, {"error": "down"}, 0), (200, {"id": "prov-77"}, 0)]
    message = queue(customer, channel=Channel.SMS)

    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.PENDING
    message.refresh_from_db()
    assert message.attempts == 1
    assert message.next_attempt_at == message.claimed_at + timedelta(seconds=60)
    assert "HTTP 503" in message.last_error

    # Not due yet: a second worker (or a duplicate task) does nothing.
    services.deliver_outbox_message(message_id=message.pk)
    assert len(http_sms.requests) == 1

    noon.shift(timedelta(seconds=61))
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.SENT
    # Delivered again by a redelivered task: nothing more goes out.
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.SENT
    assert len(http_sms.accepted) == 1
    assert len(http_sms.requests) == 2
    message.refresh_from_db()
    assert (message.status, message.attempts, message.provider_message_id) == ("sent", 2, "prov-77")
    assert message.touch.status == Touch.Status.DONE


def test_back_off_doubles_with_each_failure(customer, noon, http_sms):
    http_sms.answers = [(503, {}, 0)]
    message = queue(customer, channel=Channel.SMS)
    delays = []
    for _ in range(3):
        services.deliver_outbox_message(message_id=message.pk)
        message.refresh_from_db()
        delays.append((message.next_attempt_at - message.claimed_at).total_seconds())
        noon.move_to(message.next_attempt_at)
    assert delays == [60, 120, 240]


def test_a_message_that_keeps_failing_gives_up_and_frees_its_slot(
    customer, noon, http_sms, settings
):
    settings.CONTACTS_OUTBOX_MAX_ATTEMPTS = 2
    http_sms.answers = [(503, {}, 0)]
    message = queue(customer, channel=Channel.SMS)
    services.deliver_outbox_message(message_id=message.pk)
    noon.shift(timedelta(minutes=5))
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.FAILED
    message.refresh_from_db()
    assert message.touch.status == Touch.Status.CANCELLED


def test_a_rejected_message_fails_at_once(customer, noon, http_sms):
    http_sms.answers = [(400, {"error": "invalid number"}, 0)]
    message = queue(customer, channel=Channel.SMS)
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.FAILED
    assert len(http_sms.requests) == 1


def test_a_timeout_after_sending_is_unknown_and_never_resent(customer, noon, http_sms):
    http_sms.answers = [(200, {"id": "slow"}, 1.5)]
    message = queue(customer, channel=Channel.SMS)
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.UNKNOWN
    noon.shift(timedelta(hours=1))
    services.deliver_outbox_message(message_id=message.pk)
    assert services.sweep_outbox().due_ids == []
    assert len(http_sms.requests) == 1
    message.refresh_from_db()
    # It may have reached the customer, so it still counts for the caps.
    assert message.touch.status == Touch.Status.PLANNED


def test_a_row_stuck_in_sending_after_a_crash_becomes_unknown_and_is_not_resent(customer, noon):
    message = queue(customer, channel=Channel.SMS)
    # A worker claimed the row and died before it could record the result.
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxMessage.Status.SENDING, claimed_at=message.created_at
    )
    noon.shift(timedelta(minutes=16))
    result = services.sweep_outbox()
    assert result.marked_unknown == 1
    assert message.pk not in result.due_ids
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.UNKNOWN
    assert sms.outbox == []


def test_a_recent_send_in_progress_is_left_alone_by_the_sweeper(customer, noon):
    message = queue(customer, channel=Channel.SMS)
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxMessage.Status.SENDING, claimed_at=message.created_at
    )
    noon.shift(timedelta(minutes=5))
    assert services.sweep_outbox().marked_unknown == 0


def test_an_unknown_message_is_sent_again_only_when_a_person_releases_it(customer, noon, manager):
    message = queue(customer, channel=Channel.SMS)
    OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.UNKNOWN)
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.UNKNOWN
    assert services.release_unknown_message(message_id=message.pk, by=manager)
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.SENT
    assert len(sms.outbox) == 1


def test_the_sweeper_task_hands_out_due_messages(customer, noon):
    message = queue(customer, channel=Channel.SMS)
    assert sweep_outbox_task() == {"unknown": 0, "enqueued": 1}
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert sweep_outbox_task() == {"unknown": 0, "enqueued": 0}


def test_the_send_task_run_twice_sends_once(customer, noon):
    message = queue(customer, channel=Channel.SMS)
    send_outbox_message_task(message.pk)
    send_outbox_message_task(message.pk)
    assert len(sms.outbox) == 1


def test_a_message_for_tomorrow_morning_waits_until_due(customer):
    import time_machine

    from tests.contacts.conftest import moscow

    with time_machine.travel(moscow(2026, 3, 10, 22, 0), tick=False) as clock:
        message = queue(customer, channel=Channel.SMS)
        assert message.next_attempt_at == moscow(2026, 3, 11, 9, 0)
        assert (
            services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.PENDING
        )
        assert services.sweep_outbox().due_ids == []
        clock.move_to(moscow(2026, 3, 11, 9, 0))
        assert services.sweep_outbox().due_ids == [message.pk]


def test_withdrawing_consent_cancels_waiting_messages_and_frees_the_slot(customer, noon, rep):
    message = queue(customer, channel=Channel.SMS)
    change = services.set_consent(
        customer_id=customer.pk,
        channel=Channel.SMS,
        granted=False,
        source=ConsentChange.Source.REP,
        by=rep,
    )
    assert change.source == "rep"
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.CANCELLED
    assert message.touch.status == Touch.Status.CANCELLED
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.CANCELLED
    assert sms.outbox == []


def test_consent_withdrawn_while_a_message_is_claimed_stops_it(customer, noon):
    message = queue(customer, channel=Channel.SMS)
    # Consent changed behind the service's back (an import writing the column directly).
    type(customer).objects.filter(pk=customer.pk).update(consent_sms=False)
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.CANCELLED
    assert sms.outbox == []


def test_service_messages_go_out_without_marketing_consent(noon):
    customer = CustomerFactory(consent_email=False, language="en")
    message = queue(customer, kind=Kind.SERVICE, key="receipt-1")
    assert services.deliver_outbox_message(message_id=message.pk) == OutboxMessage.Status.SENT
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers


def test_cancelling_a_waiting_message_frees_its_slot(customer, noon, manager):
    message = queue(customer, channel=Channel.SMS, key="a")
    assert services.cancel_outbox_message(message_id=message.pk, by=manager)
    assert queue(customer, channel=Channel.SMS, key="b").status == OutboxMessage.Status.PENDING
