"""A customer's personal data: the JSON export of everything kept, and erasure that keeps the totals."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from common.audit import AuditAction
from common.models import AuditEvent
from contacts.models import (
    CallListEntry,
    ConsentChange,
    ContactPreferences,
    Kind,
    OutboxMessage,
    Touch,
)
from customers import privacy, selectors, services
from customers.models import Customer, Purchase
from loyalty.models import LedgerEntry, LoyaltyAccount, PurchasePoints
from tests.contacts.factories import (
    CallListEntryFactory,
    CustomerScoreFactory,
    FeedbackFactory,
    TouchFactory,
)
from tests.factories import CustomerFactory, PurchaseFactory, RefundFactory

pytestmark = pytest.mark.django_db


def queue(
    customer, *, kind: str = Kind.ADVERTISING, status: str = OutboxMessage.Status.PENDING, key: str
):
    return OutboxMessage.objects.create(
        customer=customer,
        channel="email",
        kind=kind,
        language="ru",
        to=customer.email,
        subject=f"Hello {customer.name}",
        body=f"Dear {customer.name}, ...",
        key=key,
        status=status,
    )


@pytest.fixture
def person(rep):
    """A customer with a history in every app: purchases, a refund, a score, contacts, points."""
    customer = CustomerFactory(
        owner=rep,
        name="Ivan Petrov",
        email="ivan@example.com",
        phone="+79001234567",
        birthday=date(1980, 5, 17),
        notes="Prefers calls after lunch",
        external_id="1C-000777",
        consent_email=True,
        consent_sms=True,
        consent_phone=True,
    )
    for number, amount in enumerate(("1500.00", "2500.50", "990.00"), start=1):
        services.record_purchase(
            customer_id=customer.pk,
            occurred_at=timezone.now() - timedelta(days=40 * number),
            amount=Decimal(amount),
            external_id=f"SALE-{number}",
            source=Purchase.Source.API,
        )
    RefundFactory(purchase=Purchase.objects.get(external_id="SALE-1"), amount=Decimal("100.00"))
    CustomerScoreFactory(customer=customer)
    ContactPreferences.objects.create(customer=customer, pause_reason="In hospital until May")
    TouchFactory(customer=customer, by=rep, notes="Talked about his daughter's wedding")
    TouchFactory(
        customer=customer, status=Touch.Status.PLANNED, at=timezone.now() + timedelta(days=2)
    )
    CallListEntryFactory(customer=customer)
    FeedbackFactory(customer=customer, score=9, comment="Ivan here: great service")
    queue(customer, key="advert-1")
    queue(customer, kind=Kind.SERVICE, key="receipt-1")
    queue(customer, status=OutboxMessage.Status.SENT, key="sent-1")
    return customer


# --- export -------------------------------------------------------------------------------------


def test_the_export_holds_the_customer_their_purchases_and_every_app_rows(person, manager):
    data = privacy.export_customer_data(customer_id=person.pk, by=manager)
    assert json.loads(json.dumps(data)) == data  # plain JSON all the way down
    assert data["customer"]["name"] == "Ivan Petrov"
    assert data["customer"]["birthday"] == "1980-05-17"
    assert data["customer"]["external_id"] == "1C-000777"
    assert [row["external_id"] for row in data["purchases"]] == ["SALE-3", "SALE-2", "SALE-1"]
    assert {row["amount"] for row in data["purchases"]} == {"1500.00", "2500.50", "990.00"}
    assert [row["amount"] for row in data["refunds"]] == ["100.00"]
    assert data["score"]["customer_id"] == person.pk
    contacts = data["contacts"]
    assert contacts["preferences"]["pause_reason"] == "In hospital until May"
    assert len(contacts["touches"]) == 2
    assert [row["subject"] for row in contacts["messages"]] == ["Hello Ivan Petrov"] * 3
    assert contacts["feedback"][0]["comment"] == "Ivan here: great service"
    assert len(contacts["call_list_entries"]) == 1
    assert data["erasures"] == []


def test_the_export_includes_the_consent_log(person, manager, rep):
    from contacts.services import set_consent

    set_consent(customer_id=person.pk, channel="sms", granted=False, source="rep", by=rep)
    consent = privacy.export_customer_data(customer_id=person.pk, by=manager)["contacts"][
        "consent_changes"
    ]
    assert [(row["channel"], row["granted"], row["source"]) for row in consent] == [
        ("sms", False, "rep")
    ]


def test_the_export_is_audited(person, manager):
    privacy.export_customer_data(customer_id=person.pk, by=manager)
    event = AuditEvent.objects.get(action=AuditAction.PERSONAL_DATA_EXPORTED)
    assert (event.actor, event.customer_id) == (manager, person.pk)
    assert event.details["purchases"] == 3
    assert "Ivan" not in json.dumps(event.details)


def test_managers_download_the_export_as_a_json_file(manager_client, person):
    response = manager_client.get(reverse("customers:personal-data", args=[person.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert f"customer-{person.pk}-personal-data.json" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["customer"]["email"] == "ivan@example.com"
    assert len(data["purchases"]) == 3


def test_the_owner_rep_may_not_export_or_erase(rep_client, person):
    assert rep_client.get(reverse("customers:personal-data", args=[person.pk])).status_code == 403
    response = rep_client.post(reverse("customers:erase", args=[person.pk]), {"confirm": "on"})
    assert response.status_code == 403
    assert Customer.objects.get(pk=person.pk).name == "Ivan Petrov"
    assert not AuditEvent.objects.filter(action=AuditAction.PERSONAL_DATA_EXPORTED).exists()


# --- erasure ------------------------------------------------------------------------------------


def totals(customer_id: int) -> tuple:
    customer = Customer.objects.get(pk=customer_id)
    summary = selectors.purchase_summary_for(customer)
    ledger = LedgerEntry.objects.filter(customer_id=customer_id).aggregate(total=Sum("points"))
    account = LoyaltyAccount.objects.filter(customer_id=customer_id).first()
    return (
        summary.count,
        summary.total,
        summary.refunded,
        ledger["total"],
        LedgerEntry.objects.filter(customer_id=customer_id).count(),
        PurchasePoints.objects.filter(customer_id=customer_id).count(),
        account.balance if account else None,
    )


def test_erasure_anonymises_the_customer_and_keeps_the_totals(person, manager):
    before = totals(person.pk)
    # Three purchases, one refund, and the points they earned (ledger, pending lots, balance).
    assert before[:3] == (3, Decimal("4990.50"), Decimal("100.00"))
    assert before[3] > 0
    assert before[5] == 3
    privacy.erase_customer(customer_id=person.pk, by=manager)
    erased = Customer.objects.get(pk=person.pk)
    assert erased.name == f"Erased customer #{person.pk}"
    assert (erased.email, erased.phone, erased.birthday, erased.notes) == ("", "", None, "")
    assert not any(
        (erased.consent_email, erased.consent_sms, erased.consent_phone, erased.consent_social)
    )
    # The accounting system's key stays: its purchases must keep landing on this row.
    assert erased.external_id == "1C-000777"
    assert erased.owner_id == person.owner_id
    assert totals(person.pk) == before


def test_erasure_withdraws_consent_through_the_consent_log(person, manager):
    privacy.erase_customer(customer_id=person.pk, by=manager)
    changes = ConsentChange.objects.filter(customer=person)
    assert sorted(changes.values_list("channel", flat=True)) == ["email", "phone", "sms"]
    assert all(
        (change.granted, change.source, change.by) == (False, ConsentChange.Source.ADMIN, manager)
        for change in changes
    )
    assert (
        AuditEvent.objects.filter(action=AuditAction.CONSENT_CHANGED, customer=person).count() == 3
    )


def test_erasure_cancels_everything_queued_and_clears_personal_text(person, manager):
    privacy.erase_customer(customer_id=person.pk, by=manager)
    messages = OutboxMessage.objects.filter(customer=person)
    assert dict(messages.values_list("key", "status")) == {
        "advert-1": OutboxMessage.Status.CANCELLED,
        # Service messages are spared when consent is withdrawn, not when the customer is erased.
        "receipt-1": OutboxMessage.Status.CANCELLED,
        "sent-1": OutboxMessage.Status.SENT,
    }
    assert set(messages.values_list("to", "subject", "body")) == {("", "", "")}
    assert not Touch.objects.filter(customer=person, status=Touch.Status.PLANNED).exists()
    assert Touch.objects.filter(customer=person).count() == 2
    assert set(Touch.objects.filter(customer=person).values_list("notes", flat=True)) == {""}
    assert not CallListEntry.objects.filter(
        customer=person, status=CallListEntry.Status.OPEN
    ).exists()
    feedback = person.feedback.get()
    assert (feedback.score, feedback.comment) == (9, "")
    assert ContactPreferences.objects.get(customer=person).pause_reason == ""


def test_erasure_removes_the_name_from_the_admin_history(person, manager):
    LogEntry.objects.create(
        user=manager,
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=str(person.pk),
        object_repr=str(person),
        action_flag=CHANGE,
    )
    privacy.erase_customer(customer_id=person.pk, by=manager)
    assert list(LogEntry.objects.values_list("object_repr", flat=True)) == [
        f"Erased customer #{person.pk}"
    ]


def test_erasure_is_audited_without_personal_data(person, manager):
    privacy.erase_customer(customer_id=person.pk, by=manager)
    event = AuditEvent.objects.get(action=AuditAction.CUSTOMER_ERASED)
    assert (event.actor, event.customer_id) == (manager, person.pk)
    assert event.details["purchases_kept"] == 3
    assert "Ivan" not in json.dumps(event.details)
    assert privacy.was_erased(customer_id=person.pk)
    exported = privacy.export_customer_data(customer_id=person.pk, by=manager)
    assert exported["erasures"] == [json.loads(json.dumps(event.at, cls=DjangoJSONEncoder))]


def test_purchases_after_erasure_still_land_on_the_erased_customer(person, manager):
    privacy.erase_customer(customer_id=person.pk, by=manager)
    purchase = PurchaseFactory(customer=Customer.objects.get(external_id="1C-000777"))
    assert purchase.customer_id == person.pk


def test_erasing_again_clears_what_arrived_since(person, manager):
    privacy.erase_customer(customer_id=person.pk, by=manager)
    Customer.objects.filter(pk=person.pk).update(name="Ivan Petrov", email="ivan@example.com")
    privacy.erase_customer(customer_id=person.pk, by=manager)
    erased = Customer.objects.get(pk=person.pk)
    assert (erased.name, erased.email) == (f"Erased customer #{person.pk}", "")
    assert AuditEvent.objects.filter(action=AuditAction.CUSTOMER_ERASED).count() == 2


def test_a_manager_erases_from_the_confirmation_page(manager_client, manager, person):
    url = reverse("customers:erase", args=[person.pk])
    page = manager_client.get(url)
    assert page.status_code == 200
    assert page.context["purchase_count"] == 3
    assert not page.context["already_erased"]
    unconfirmed = manager_client.post(url, {})
    assert unconfirmed.status_code == 200
    assert unconfirmed.context["form"].errors["confirm"]
    assert Customer.objects.get(pk=person.pk).name == "Ivan Petrov"
    response = manager_client.post(url, {"confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == person.get_absolute_url()
    assert Customer.objects.get(pk=person.pk).email == ""
    assert manager_client.get(url).context["already_erased"]
