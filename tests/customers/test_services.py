from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers import services
from customers.errors import PurchaseConflictError, ReassignmentError, RefundTooLargeError
from customers.models import Customer, Purchase
from customers.signals import purchases_recorded
from tests.factories import CustomerFactory, PurchaseFactory, RepFactory

pytestmark = pytest.mark.django_db


def test_same_purchase_recorded_twice_is_stored_once(customer):
    kwargs = {
        "customer_id": customer.pk, "occurred_at": timezone.now(), "amount": Decimal("10.50"),
        "external_id": "INV-1", "source": Purchase.Source.API,
    }
    first, created_first = services.record_purchase(**kwargs)
    second, created_second = services.record_purchase(**kwargs)
    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert Purchase.objects.count() == 1


def test_different_purchase_under_a_taken_external_id_is_refused(customer):
    services.record_purchase(
        customer_id=customer.pk, occurred_at=timezone.now(), amount=Decimal("10"),
        external_id="INV-1", source=Purchase.Source.API,
    )
    with pytest.raises(PurchaseConflictError):
        services.record_purchase(
            customer_id=customer.pk, occurred_at=timezone.now(), amount=Decimal("11"),
            external_id="INV-1", source=Purchase.Source.API,
        )


def test_purchase_signal_carries_only_new_ids(customer):
    received = []

    def receiver(sender, purchase_ids, **kwargs):
        received.extend(purchase_ids)

    purchases_recorded.connect(receiver)
    try:
        kwargs = {
            "customer_id": customer.pk, "occurred_at": timezone.now(), "amount": Decimal("1"),
            "external_id": "INV-9", "source": Purchase.Source.API,
        }
        purchase, _ = services.record_purchase(**kwargs)
        services.record_purchase(**kwargs)
    finally:
        purchases_recorded.disconnect(receiver)
    assert received == [purchase.pk]


def test_refunds_never_exceed_the_purchase_amount():
    purchase = PurchaseFactory(amount=Decimal("100.00"))
    services.record_refund(purchase_id=purchase.pk, amount=Decimal("60"), external_id="R1")
    with pytest.raises(RefundTooLargeError):
        services.record_refund(purchase_id=purchase.pk, amount=Decimal("40.01"), external_id="R2")
    refund, created = services.record_refund(
        purchase_id=purchase.pk, amount=Decimal("40"), external_id="R2"
    )
    assert created
    assert refund.amount == Decimal("40.00")


def test_refund_with_a_known_external_id_is_not_recorded_again():
    purchase = PurchaseFactory(amount=Decimal("100.00"))
    first, _ = services.record_refund(purchase_id=purchase.pk, amount=Decimal("10"), external_id="R1")
    again, created = services.record_refund(
        purchase_id=purchase.pk, amount=Decimal("10"), external_id="R1"
    )
    assert not created
    assert again.pk == first.pk


def test_reassigning_moves_all_of_a_reps_accounts_and_clears_a_duplicate_backup(rep, other_rep):
    mine = CustomerFactory.create_batch(3, owner=rep)
    mine[0].backup = other_rep
    mine[0].save()
    untouched = CustomerFactory(owner=RepFactory())
    moved = services.reassign_customers(from_rep_id=rep.pk, to_rep_id=other_rep.pk)
    assert moved == 3
    assert set(Customer.objects.filter(owner=other_rep)) == set(mine)
    assert Customer.objects.get(pk=mine[0].pk).backup is None
    assert Customer.objects.get(pk=untouched.pk).owner != other_rep


def test_reassigning_only_some_accounts(rep, other_rep):
    first, second = CustomerFactory.create_batch(2, owner=rep)
    assert services.reassign_customers(
        from_rep_id=rep.pk, to_rep_id=other_rep.pk, customer_ids=[first.pk]
    ) == 1
    assert Customer.objects.get(pk=second.pk).owner == rep


def test_deactivated_reps_accounts_count_as_unassigned_and_can_be_handed_over(rep, other_rep):
    customer = CustomerFactory(owner=rep)
    rep.is_active = False
    rep.save()
    assert list(Customer.objects.unassigned()) == [customer]
    assert services.reassign_customers(from_rep_id=None, to_rep_id=other_rep.pk) == 1


def test_reassigning_to_an_inactive_rep_is_refused(rep, other_rep):
    other_rep.is_active = False
    other_rep.save()
    CustomerFactory(owner=rep)
    with pytest.raises(ReassignmentError):
        services.reassign_customers(from_rep_id=rep.pk, to_rep_id=other_rep.pk)


def test_create_customer_validates_fields(rep):
    customer = services.create_customer(data={"name": "ООО Ромашка", "owner": rep, "kind": "company"})
    assert customer.pk
    assert customer.owner == rep
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.create_customer(data={"name": "", "email": "not-an-email"})


def test_visible_to_scopes_reps_to_covered_customers(rep, other_rep, manager):
    own = CustomerFactory(owner=rep)
    backed = CustomerFactory(owner=other_rep, backup=rep)
    foreign = CustomerFactory(owner=other_rep)
    assert set(Customer.objects.visible_to(rep)) == {own, backed}
    assert set(Customer.objects.visible_to(manager)) == {own, backed, foreign}
    assert timezone.now() - own.created_at > timedelta(days=1)
