"""Domain signals of the customer base, for the apps that depend on it (loyalty, contacts).

`customers` never imports those apps; they listen here. Both signals are sent inside the transaction
that recorded the rows, so a receiver's writes commit or roll back with them. Receivers must be
set-based (one import sends tens of thousands of ids at once) and idempotent (a retried request or
import sends ids that were already handled).
"""

from django.dispatch import Signal

# Sent with `purchase_ids: list[int]` after new purchases were inserted (never for duplicates).
purchases_recorded = Signal()

# Sent with `refund_ids: list[int]` after new refunds were inserted.
refunds_recorded = Signal()

# Sent with `customer_ids: list[int]`, `to_owner_id: int | None`, `by_id: int | None` after a
# reassignment of accounts between reps.
customers_reassigned = Signal()

# Sent with `customer_ids: list[int]` (in batches) inside seed_demo --reset's transaction, before
# the demo customers, their purchases and refunds are deleted. Apps that keep rows about customers
# (loyalty ledger, contact history) delete theirs for these ids, or the reset is refused.
demo_data_deleting = Signal()
