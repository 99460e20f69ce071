"""The programme's messages through the contacts outbox: purchase confirmations, expiry warnings
and monthly balance reminders, each once per cause and within contacts' consent and caps."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from common.models import JobRun
from contacts.models import Channel, OutboxMessage, RefusedTouch
from loyalty import services
from loyalty.models import LoyaltyMessage, Programme, Tier
from retention import nightly
from tests.factories import CustomerFactory
from tests.loyalty.conftest import buy

pytestmark = pytest.mark.django_db


def messages_of(customer, kind):
    return LoyaltyMessage.objects.filter(customer=customer, kind=kind)


def test_a_recent_purchase_is_confirmed_with_points_balance_progress_offer_and_link(
    customer, programme, reward, django_capture_on_commit_callbacks
):
    customer.language = "en"
    customer.save()
    with django_capture_on_commit_callbacks(execute=True):
        buy(customer, "12000")  # 120 points, Silver; Gold needs 100,000
    row = messages_of(customer, LoyaltyMessage.Kind.PURCHASE).get()
    message = row.message
    assert message.channel == Channel.EMAIL
    assert message.kind == "content"
    assert message.key == f"loyalty:purchase:{customer.pk}:{row.cause}"
    assert "120 points" in message.subject
    assert "your balance is 120 points (Silver)" in message.body
    assert "88,000 RUB more to Gold" in message.body
    # The coffee voucher costs 100: the balance pays for it.
    assert "Your points already pay for: Coffee voucher." in message.body
    assert "/loyalty/member/" in message.body


def test_the_offer_names_the_next_reward_when_none_is_affordable(customer, programme, reward):
    customer.language = "ru"
    customer.save()
    purchase = buy(customer, "4000")  # 40 points: the voucher needs 60 more
    services.send_purchase_confirmations(purchase_ids=[purchase.pk])
    body = messages_of(customer, LoyaltyMessage.Kind.PURCHASE).get().message.body
    assert "Ещё 60 баллов — и Coffee voucher ваш." in body
    assert "До уровня Gold осталось 96\xa0000 RUB." in body


def test_the_same_purchase_is_confirmed_once(customer, programme):
    purchase = buy(customer, "5000")
    first = services.send_purchase_confirmations(purchase_ids=[purchase.pk])
    again = services.send_purchase_confirmations(purchase_ids=[purchase.pk, purchase.pk])
    assert (first.queued, again.queued, again.already) == (1, 0, 1)
    assert OutboxMessage.objects.filter(customer=customer).count() == 1


def test_history_and_purchases_that_earned_nothing_are_not_confirmed(customer, programme):
    old = buy(customer, "5000", at=timezone.now() - timedelta(days=30))
    dollars = buy(customer, "5000", currency="USD")  # not a qualifying currency
    outcome = services.send_purchase_confirmations(purchase_ids=[old.pk, dollars.pk])
    assert outcome.queued == outcome.refused == 0
    assert not LoyaltyMessage.objects.exists()


def test_without_consent_the_confirmation_is_refused_once_and_not_retried(programme):
    customer = CustomerFactory(consent_email=False, consent_sms=False)
    purchase = buy(customer, "5000")
    outcome = services.send_purchase_confirmations(purchase_ids=[purchase.pk])
    assert (outcome.queued, outcome.refused) == (0, 1)
    row = messages_of(customer, LoyaltyMessage.Kind.PURCHASE).get()
    assert row.message is None
    assert row.refused == RefusedTouch.Reason.NO_CONSENT
    assert RefusedTouch.objects.filter(customer=customer).count() == 1
    services.send_purchase_confirmations(purchase_ids=[purchase.pk])
    assert RefusedTouch.objects.filter(customer=customer).count() == 1
    assert not OutboxMessage.objects.exists()


def test_sms_is_used_when_only_sms_is_allowed(programme):
    customer = CustomerFactory(consent_email=False, consent_sms=True)
    purchase = buy(customer, "5000")
    services.send_purchase_confirmations(purchase_ids=[purchase.pk])
    message = messages_of(customer, LoyaltyMessage.Kind.PURCHASE).get().message
    assert message.channel == Channel.SMS
    assert message.body.startswith("+50 ")


def test_contacts_caps_apply_to_confirmations(customer, programme):
    first = buy(customer, "5000")
    services.send_purchase_confirmations(purchase_ids=[first.pk])
    second = buy(customer, "5000")
    outcome = services.send_purchase_confirmations(purchase_ids=[second.pk])
    # E-mail "useful content": at most one per week (contacts' default cap).
    assert (outcome.queued, outcome.refused) == (0, 1)
    assert (
        messages_of(customer, LoyaltyMessage.Kind.PURCHASE)
        .get(cause=f"purchase:{second.pk}")
        .refused
        == RefusedTouch.Reason.CAP
    )


def test_switched_off_confirmations_send_nothing(customer, programme):
    Programme.objects.filter(pk=1).update(purchase_confirmations=False)
    purchase = buy(customer, "5000")
    assert services.send_purchase_confirmations(purchase_ids=[purchase.pk]).queued == 0


def test_expiry_warning_once_per_notice_period(customer, programme):
    Programme.objects.filter(pk=1).update(expiry_months=1, expiry_warning_days=10)
    bought = timezone.now() - timedelta(days=25)
    buy(customer, "5000", at=bought)  # 50 points, expiring in about 5 days
    buy(customer, "3000", at=bought + timedelta(days=1))  # 30 points, a day later
    now = timezone.now()
    outcome = services.send_expiry_warnings(as_of=now)
    assert outcome.queued == 1
    message = messages_of(customer, LoyaltyMessage.Kind.EXPIRY).get().message
    assert "80" in message.subject
    # Re-run the same night, and the next night: no second warning in the notice period.
    assert services.send_expiry_warnings(as_of=now).queued == 0
    assert services.send_expiry_warnings(as_of=now + timedelta(days=1)).queued == 0
    assert OutboxMessage.objects.filter(customer=customer).count() == 1


def test_no_warning_when_nothing_expires_within_the_notice(customer, programme):
    Programme.objects.filter(pk=1).update(expiry_months=24, expiry_warning_days=30)
    buy(customer, "5000")
    assert services.send_expiry_warnings(as_of=timezone.now()).queued == 0
    Programme.objects.filter(pk=1).update(expiry_months=1, expiry_warning_days=0)
    assert services.send_expiry_warnings(as_of=timezone.now() + timedelta(days=25)).queued == 0


def test_balance_reminders_once_a_month_to_holders_only(customer, programme):
    buy(customer, "5000")
    empty = CustomerFactory()
    day = timezone.localdate()
    assert services.send_balance_reminders(day=day).queued == 1
    assert services.send_balance_reminders(day=day).queued == 0
    row = messages_of(customer, LoyaltyMessage.Kind.BALANCE).get()
    assert row.cause == day.strftime("%Y-%m")
    assert "у вас 50 баллов" in row.message.subject  # the default language is Russian
    assert not LoyaltyMessage.objects.filter(customer=empty).exists()


def test_the_nightly_reminder_job_runs_on_the_first_of_the_month(customer, programme):
    buy(customer, "5000")
    nightly.run_job("balance_reminders", date(2026, 11, 2))
    assert not LoyaltyMessage.objects.exists()
    nightly.run_job("balance_reminders", date(2026, 12, 1))
    assert LoyaltyMessage.objects.filter(kind=LoyaltyMessage.Kind.BALANCE).count() == 1
    assert (
        JobRun.objects.get(job="balance_reminders", run_date=date(2026, 12, 1)).counts["reminded"]
        == 1
    )


def test_the_expiry_job_warns_after_expiring(customer, programme):
    Programme.objects.filter(pk=1).update(expiry_months=1, expiry_warning_days=10)
    buy(customer, "5000", at=timezone.now() - timedelta(days=25))
    run = nightly.run_job("expire_points", timezone.localdate() + timedelta(days=1))
    assert run.counts["warned"] == 1
    assert messages_of(customer, LoyaltyMessage.Kind.EXPIRY).count() == 1


def test_other_messages_get_the_balance_tier_and_member_link(customer, programme):
    from contacts.services.outbox import queue_message

    buy(customer, "5000")
    Tier.objects.filter(name="Silver").update(name="Silver club")
    message = queue_message(
        customer_id=customer.pk, template_code="win_back", channel=Channel.EMAIL, key="wb-1"
    )
    assert "50" in message.body
    assert "Silver club" in message.body


def test_money_never_floats_in_progress(customer, programme):
    Tier.objects.filter(name="Gold").update(qualifying_spend=Decimal("100000.50"))
    customer.language = "en"
    customer.save()
    purchase = buy(customer, "1000.25")
    services.send_purchase_confirmations(purchase_ids=[purchase.pk])
    body = messages_of(customer, LoyaltyMessage.Kind.PURCHASE).get().message.body
    assert "99,000 RUB more to Gold" in body


def test_a_confirmation_within_quiet_hours_waits_for_the_morning(customer, programme):
    customer.time_zone = "Europe/Moscow"
    customer.save()
    with time_machine.travel(
        timezone.make_aware(timezone.datetime(2026, 3, 10, 23, 30)), tick=False
    ):
        purchase = buy(customer, "5000")
        services.send_purchase_confirmations(purchase_ids=[purchase.pk])
        message = messages_of(customer, LoyaltyMessage.Kind.PURCHASE).get().message
        assert message.next_attempt_at > timezone.now()


def test_the_call_list_shows_points_and_tier(customer, programme):
    from contacts.signals import call_list_extras, merge_responses

    buy(customer, "123400")  # 1,234 points and Gold
    extras = merge_responses(call_list_extras.send(sender=None, customer_ids=[customer.pk]))
    assert extras[customer.pk] == [{"label": "Points", "value": "1\u202f234 · Gold"}]


def test_contacts_emails_carry_the_member_link_too(customer, programme):
    from contacts.services.outbox import queue_message

    customer.language = "en"
    customer.save()
    message = queue_message(
        customer_id=customer.pk, template_code="win_back", channel=Channel.EMAIL, key="wb-2"
    )
    before_footer = message.body.split("\n\n--\n")[0]
    assert "Your points, rewards and settings: http" in before_footer
    assert "/loyalty/member/" in before_footer
