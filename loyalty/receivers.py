"""Reactions to the customer base's domain signals (sent inside the recording transaction).

Both receivers are set-based and idempotent, as `customers.signals` requires: a retried import
sends ids that were already handled, and one import may send tens of thousands at once.
"""

from loyalty import services


def accrue_points_on_purchases(sender, purchase_ids: list[int], **kwargs) -> None:
    services.accrue_points_for_purchases(purchase_ids=purchase_ids)


def reverse_points_on_refunds(sender, refund_ids: list[int], **kwargs) -> None:
    services.reverse_points_for_refunds(refund_ids=refund_ids)


def delete_points_of_demo_customers(sender, customer_ids: list[int], **kwargs) -> None:
    services.delete_points_of_demo_customers(customer_ids=customer_ids)
