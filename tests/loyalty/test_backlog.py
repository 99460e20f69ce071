"""Large batches accrued by a worker: nothing lost, nothing accrued twice."""

import pytest

from customers.signals import purchases_recorded
from loyalty.models import LedgerEntry, PendingAccrual, PurchasePoints
from loyalty.services import backlog
from loyalty.tasks import accrue_backlog_task
from tests.factories import CustomerFactory, PurchaseFactory
from tests.loyalty.conftest import balance_of, ledger_sum

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(programme):
    customers = CustomerFactory.create_batch(20)
    return [PurchaseFactory(customer=customers[n % 20]).pk for n in range(60)]


def test_a_deferred_batch_is_accrued_once_after_commit(batch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        backlog.defer_accrual(purchase_ids=batch)
        backlog.defer_accrual(purchase_ids=batch)  # the same batch announced twice
    assert not PendingAccrual.objects.exists()
    assert PurchasePoints.objects.count() == LedgerEntry.objects.count() == len(batch)
    assert accrue_backlog_task() == 0


def test_a_lost_hand_off_is_picked_up_by_the_sweeper(batch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        backlog.defer_accrual(purchase_ids=batch)
    assert PendingAccrual.objects.count() == len(batch)
    assert not PurchasePoints.objects.exists()
    assert accrue_backlog_task() == len(batch)
    assert not PendingAccrual.objects.exists()
    customer = PurchasePoints.objects.first().customer
    assert balance_of(customer) == ledger_sum(customer) == 30  # three purchases of 1,000


def test_chunks_are_accrued_one_transaction_at_a_time(batch):
    backlog.defer_accrual(purchase_ids=batch[:10])
    assert backlog.accrue_backlog(max_chunks=1) == sorted(batch[:10])
    assert backlog.accrue_backlog() == []


def test_large_signals_go_to_the_worker_only_when_there_is_one(batch, monkeypatch):
    monkeypatch.setattr(backlog, "DEFER_FROM", 10)
    purchases_recorded.send(sender=None, purchase_ids=batch[:20])
    assert PurchasePoints.objects.count() == 20  # in-process tasks: accrued at once
    monkeypatch.setattr(backlog, "deferral_available", lambda: True)
    purchases_recorded.send(sender=None, purchase_ids=batch[20:])
    assert PurchasePoints.objects.count() == 20
    assert PendingAccrual.objects.count() == 40
    purchases_recorded.send(sender=None, purchase_ids=batch[20:25])  # small: at once
    assert PurchasePoints.objects.count() == 25
    backlog.accrue_backlog()
    assert PurchasePoints.objects.count() == LedgerEntry.objects.count() == 60


def test_beat_runs_the_sweeper_and_the_monthly_reminders(db):
    from django_celery_beat.models import PeriodicTask

    sweeper = PeriodicTask.objects.get(name="loyalty: accrue deferred purchases")
    assert sweeper.task == accrue_backlog_task.name
    assert (sweeper.interval.every, sweeper.interval.period) == (5, "minutes")
    reminders = PeriodicTask.objects.get(name="nightly: balance_reminders")
    assert (reminders.crontab.day_of_month, reminders.crontab.hour) == ("1", "10")
    assert reminders.kwargs == '{"job": "balance_reminders"}'


def test_check_ledger_says_how_many_purchases_wait_for_a_worker(batch):
    import io

    from django.core.management import call_command

    PendingAccrual.objects.bulk_create(PendingAccrual(purchase_id=pk) for pk in batch[:7])
    out = io.StringIO()
    call_command("check_ledger", stdout=out)
    assert "7 purchases await accrual by a worker" in out.getvalue()
