"""Scheduling: every cap of DOMAIN.md section 3, overrides, consent, pause and contact hours."""

from datetime import date, time, timedelta

import pytest
import time_machine

from contacts import services
from contacts.errors import CapExceededError, NoConsentError, PausedError
from contacts.models import (
    CapRule,
    Channel,
    ContactPreferences,
    Kind,
    RefusedTouch,
    Touch,
)
from tests.contacts.conftest import moscow
from tests.contacts.factories import CapOverrideFactory, TouchFactory
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.contacts.urls")]


def book(customer, channel, kind, *, key=None, at=None, **kwargs):
    return services.schedule_contact(
        customer_id=customer.pk,
        channel=channel,
        kind=kind,
        source=Touch.Source.SYSTEM,
        key=key,
        at=at,
        **kwargs,
    )


def test_seeded_caps_are_the_defaults_of_the_domain():
    caps = {
        (rule.channel, rule.kind): (rule.max_count, rule.period_days)
        for rule in CapRule.objects.all()
    }
    assert caps[("social", "advertising")][0] is None
    assert caps[("email", "advertising")] == (1, 14)
    assert caps[("email", "content")] == (1, 7)
    assert caps[("sms", "advertising")] == (1, 30)
    assert caps[("phone", "advertising")] == (1, 30)
    # A personal call is held to the phone cap.
    assert caps[("phone", "personal")] == (1, 30)
    assert not CapRule.objects.filter(kind=Kind.SERVICE).exists()


def test_second_sms_within_a_month_is_refused_with_a_readable_reason(customer):
    with time_machine.travel(moscow(2026, 11, 3, 10, 0), tick=False):
        book(customer, Channel.SMS, Kind.ADVERTISING, key="sms-1")
    with (
        time_machine.travel(moscow(2026, 11, 20, 12, 0), tick=False),
        pytest.raises(CapExceededError) as refused,
    ):
        book(customer, Channel.SMS, Kind.ADVERTISING, key="sms-2")
    assert refused.value.message == "SMS: already sent on 3 Nov; next allowed 3 Dec 10:00."
    assert refused.value.next_allowed_at == moscow(2026, 12, 3, 10, 0)
    refusal = RefusedTouch.objects.get(key="sms-2")
    assert refusal.reason == RefusedTouch.Reason.CAP
    assert refusal.blocking_at == moscow(2026, 11, 3, 10, 0)


def test_sms_is_allowed_again_once_the_month_has_passed(customer):
    with time_machine.travel(moscow(2026, 11, 3, 10, 0), tick=False):
        book(customer, Channel.SMS, Kind.ADVERTISING)
    with time_machine.travel(moscow(2026, 12, 3, 10, 0), tick=False):
        touch = book(customer, Channel.SMS, Kind.ADVERTISING)
    assert touch.at == moscow(2026, 12, 3, 10, 0)


@pytest.mark.parametrize(("kind", "period_days"), [(Kind.ADVERTISING, 14), (Kind.CONTENT, 7)])
def test_email_caps_hold_for_their_period_and_no_longer(customer, kind, period_days):
    first = moscow(2026, 3, 2, 10, 0)
    with time_machine.travel(first, tick=False):
        book(customer, Channel.EMAIL, kind)
    with (
        time_machine.travel(first + timedelta(days=period_days - 1), tick=False),
        pytest.raises(CapExceededError),
    ):
        book(customer, Channel.EMAIL, kind)
    with time_machine.travel(first + timedelta(days=period_days), tick=False):
        assert book(customer, Channel.EMAIL, kind).status == Touch.Status.PLANNED


def test_advertising_email_counts_a_content_email_sent_within_two_weeks(customer):
    with time_machine.travel(moscow(2026, 3, 2, 10, 0), tick=False):
        book(customer, Channel.EMAIL, Kind.CONTENT)
    with time_machine.travel(moscow(2026, 3, 12, 10, 0), tick=False):
        # A content e-mail may go again (7 days passed), an advertising one may not (14 days).
        with pytest.raises(CapExceededError):
            book(customer, Channel.EMAIL, Kind.ADVERTISING)
        assert book(customer, Channel.EMAIL, Kind.CONTENT)


def test_a_reps_logged_call_counts_against_the_phone_cap(customer, rep, noon):
    services.log_call_outcome(customer_id=customer.pk, by=rep, outcome="reached")
    noon.shift(timedelta(days=10))
    with pytest.raises(CapExceededError) as refused:
        book(customer, Channel.PHONE, Kind.ADVERTISING)
    assert "already contacted on 10 Mar" in refused.value.message
    # A personal call is held to the same phone cap.
    with pytest.raises(CapExceededError):
        book(customer, Channel.PHONE, Kind.PERSONAL)


def test_a_reps_own_email_counts_against_the_newsletter_cap(customer, noon):
    TouchFactory(customer=customer, channel=Channel.EMAIL, kind=Kind.PERSONAL)
    with pytest.raises(CapExceededError):
        book(customer, Channel.EMAIL, Kind.CONTENT)


def test_social_posts_have_no_limit(customer, noon):
    customer.consent_social = True
    customer.save()
    for _ in range(5):
        book(customer, Channel.SOCIAL, Kind.ADVERTISING)
    assert Touch.objects.filter(customer=customer, channel=Channel.SOCIAL).count() == 5


def test_meetings_in_person_are_held_to_once_a_week(customer, noon):
    book(customer, Channel.IN_PERSON, Kind.PERSONAL)
    noon.shift(timedelta(days=6))
    with pytest.raises(CapExceededError):
        book(customer, Channel.IN_PERSON, Kind.PERSONAL)
    noon.shift(timedelta(days=1))
    assert book(customer, Channel.IN_PERSON, Kind.PERSONAL)


def test_service_messages_are_exempt_from_caps_consent_and_pause(customer, noon):
    book(customer, Channel.SMS, Kind.ADVERTISING)
    customer.consent_sms = False
    customer.save()
    ContactPreferences.objects.filter(customer=customer).update(paused_until=date(2026, 6, 1))
    receipt = book(customer, Channel.SMS, Kind.SERVICE)
    assert receipt.status == Touch.Status.PLANNED
    assert receipt.at == moscow(2026, 3, 10, 12, 0)


def test_service_messages_do_not_fill_a_cap(customer, noon):
    book(customer, Channel.SMS, Kind.SERVICE)
    assert book(customer, Channel.SMS, Kind.ADVERTISING)


def test_a_customers_own_cap_replaces_the_company_cap(customer, noon):
    CapOverrideFactory(
        customer=customer,
        channel=Channel.PHONE,
        max_count=1,
        period_days=7,
        note="weekly, as agreed",
    )
    book(customer, Channel.PHONE, Kind.PERSONAL)
    noon.shift(timedelta(days=5))
    with pytest.raises(CapExceededError):
        book(customer, Channel.PHONE, Kind.PERSONAL)
    noon.shift(timedelta(days=2))
    # Seven days: the company's monthly cap would refuse, the agreed weekly one allows.
    assert book(customer, Channel.PHONE, Kind.PERSONAL)


def test_a_kind_specific_override_wins_over_the_channel_wide_one(customer, noon):
    CapOverrideFactory(
        customer=customer, channel=Channel.EMAIL, kind="", max_count=1, period_days=30
    )
    CapOverrideFactory(customer=customer, channel=Channel.EMAIL, kind=Kind.CONTENT, max_count=None)
    book(customer, Channel.EMAIL, Kind.CONTENT)
    assert book(customer, Channel.EMAIL, Kind.CONTENT)
    with pytest.raises(CapExceededError):
        book(customer, Channel.EMAIL, Kind.ADVERTISING)


def test_a_cap_of_several_per_period_allows_that_many_then_names_when(customer, noon):
    CapOverrideFactory(customer=customer, channel=Channel.SMS, max_count=2, period_days=7)
    first = book(customer, Channel.SMS, Kind.ADVERTISING)
    noon.shift(timedelta(days=1))
    book(customer, Channel.SMS, Kind.ADVERTISING)
    noon.shift(timedelta(days=1))
    with pytest.raises(CapExceededError) as refused:
        book(customer, Channel.SMS, Kind.ADVERTISING)
    assert refused.value.next_allowed_at == first.at + timedelta(days=7)


def test_a_booking_in_the_future_blocks_an_earlier_one_within_the_period(customer, noon):
    book(customer, Channel.SMS, Kind.ADVERTISING, at=moscow(2026, 3, 20, 12, 0))
    with pytest.raises(CapExceededError) as refused:
        book(customer, Channel.SMS, Kind.ADVERTISING)
    assert "already booked for 20 Mar" in refused.value.message
    assert refused.value.next_allowed_at == moscow(2026, 4, 19, 12, 0)


def test_a_cancelled_booking_frees_its_slot(customer, noon):
    touch = book(customer, Channel.SMS, Kind.ADVERTISING)
    touch.status = Touch.Status.CANCELLED
    touch.save()
    assert book(customer, Channel.SMS, Kind.ADVERTISING)


def test_no_consent_means_no_contact_and_the_refusal_is_logged(noon):
    customer = CustomerFactory(consent_sms=False)
    with pytest.raises(NoConsentError) as refused:
        book(customer, Channel.SMS, Kind.ADVERTISING, key="no-consent")
    assert refused.value.next_allowed_at is None
    assert "has not agreed" in refused.value.message
    assert RefusedTouch.objects.get(key="no-consent").reason == RefusedTouch.Reason.NO_CONSENT
    assert not Touch.objects.filter(customer=customer).exists()
    assert (
        services.earliest_allowed_time(
            customer_id=customer.pk, channel=Channel.SMS, kind=Kind.ADVERTISING
        )
        is None
    )


def test_a_refusal_under_one_key_is_logged_once(noon):
    customer = CustomerFactory(consent_sms=False)
    for _ in range(3):
        with pytest.raises(NoConsentError):
            book(customer, Channel.SMS, Kind.ADVERTISING, key="same-key")
    assert RefusedTouch.objects.filter(customer=customer).count() == 1


def test_the_same_key_books_once(customer, noon):
    first = book(customer, Channel.SMS, Kind.ADVERTISING, key="once")
    second = book(customer, Channel.SMS, Kind.ADVERTISING, key="once")
    assert first.pk == second.pk
    assert Touch.objects.filter(customer=customer).count() == 1


def test_a_message_at_night_waits_for_the_morning_in_the_customers_time_zone():
    customer = CustomerFactory(time_zone="Asia/Vladivostok")
    # 16:00 in Moscow is 23:00 in Vladivostok.
    with time_machine.travel(moscow(2026, 3, 10, 16, 0), tick=False):
        touch = book(customer, Channel.SMS, Kind.ADVERTISING)
    assert touch.at.astimezone(customer_tz(customer)).time() == time(9, 0)
    assert touch.at == moscow(2026, 3, 11, 2, 0)


def customer_tz(customer):
    from zoneinfo import ZoneInfo

    return ZoneInfo(customer.time_zone)


def test_early_morning_is_moved_to_the_start_of_contact_hours(customer):
    with time_machine.travel(moscow(2026, 3, 10, 7, 30), tick=False):
        touch = book(customer, Channel.PHONE, Kind.PERSONAL)
    assert touch.at == moscow(2026, 3, 10, 9, 0)


def test_a_customers_own_contact_hours_replace_the_default(customer, rep, noon):
    services.update_preferences(
        customer_id=customer.pk, by=rep, contact_from=time(14, 0), contact_until=time(16, 0)
    )
    touch = book(customer, Channel.PHONE, Kind.PERSONAL)
    assert touch.at == moscow(2026, 3, 10, 14, 0)


def test_contact_hours_setting_is_the_default(customer, settings, noon):
    settings.CONTACTS_CONTACT_HOURS = ("13:00", "18:00")
    assert book(customer, Channel.EMAIL, Kind.CONTENT).at == moscow(2026, 3, 10, 13, 0)


def test_social_posts_ignore_contact_hours(customer, settings):
    customer.consent_social = True
    customer.save()
    with time_machine.travel(moscow(2026, 3, 10, 23, 30), tick=False):
        assert book(customer, Channel.SOCIAL, Kind.CONTENT).at == moscow(2026, 3, 10, 23, 30)


def test_a_paused_customer_is_refused_until_the_pause_ends(customer, rep, noon):
    services.update_preferences(
        customer_id=customer.pk, by=rep, paused_until=date(2026, 3, 15), pause_reason="on holiday"
    )
    with pytest.raises(PausedError) as refused:
        book(customer, Channel.EMAIL, Kind.CONTENT)
    assert refused.value.next_allowed_at == moscow(2026, 3, 15, 9, 0)
    assert "paused" in refused.value.message
    noon.move_to(moscow(2026, 3, 15, 10, 0))
    assert book(customer, Channel.EMAIL, Kind.CONTENT)


def test_earliest_allowed_time_combines_cap_and_contact_hours(customer):
    with time_machine.travel(moscow(2026, 3, 1, 20, 30), tick=False):
        book(customer, Channel.SMS, Kind.ADVERTISING)
    with time_machine.travel(moscow(2026, 3, 5, 12, 0), tick=False):
        earliest = services.earliest_allowed_time(
            customer_id=customer.pk, channel=Channel.SMS, kind=Kind.ADVERTISING
        )
    # The cap ends on 31 Mar at 20:30, inside the hours (until 21:00).
    assert earliest == moscow(2026, 3, 31, 20, 30)


def test_earliest_allowed_time_waits_for_the_morning_when_the_cap_ends_in_the_evening(
    customer, settings
):
    with time_machine.travel(moscow(2026, 3, 1, 20, 30), tick=False):
        book(customer, Channel.SMS, Kind.ADVERTISING)
    settings.CONTACTS_CONTACT_HOURS = ("09:00", "18:00")
    with time_machine.travel(moscow(2026, 3, 2, 12, 0), tick=False):
        earliest = services.earliest_allowed_time(
            customer_id=customer.pk, channel=Channel.SMS, kind=Kind.ADVERTISING
        )
    assert earliest == moscow(2026, 4, 1, 9, 0)


def test_forecast_does_not_hold_a_slot(customer, noon):
    services.earliest_allowed_time(
        customer_id=customer.pk, channel=Channel.SMS, kind=Kind.ADVERTISING
    )
    assert not Touch.objects.exists()


def test_booking_an_unknown_customer_raises():
    from customers.models import Customer

    with pytest.raises(Customer.DoesNotExist):
        services.schedule_contact(
            customer_id=999999,
            channel=Channel.SMS,
            kind=Kind.ADVERTISING,
            source="system",
            key=None,
        )
