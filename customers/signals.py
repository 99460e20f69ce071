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

# Sent with `customer_id: int` by `customers.privacy.export_customer_data` (the export of everything
# kept about one customer). Each receiver returns {section: data}: every row its app keeps about
# the customer, as lists and dicts of values Django's JSON encoder writes (str, int, bool, None,
# Decimal, date, datetime), e.g. from `.values()`. Sections are named after the app ("contacts",
# "loyalty"), appear at the top level of the export and must not repeat another's name.
customer_data_requested = Signal()

# Sent with `customer_id: int` and `by_id: int | None` by `customers.privacy.erase_customer`, inside
# its transaction and before the customer's personal fields are cleared (receivers can still read
# them). Receivers withdraw consent through their own log, cancel whatever is queued for the
# customer (messages, planned contacts) and clear personal data in their rows, keeping the counts.
customer_erased = Signal()

# Sent with `run_id: int` and `as_of: date` by `customers.scoring.finish_scoring_run` once a scoring
# run's summary is saved (after every chunk's scores and transitions committed). Receivers read the
# day's ScoreTransition rows set-based (e.g. customers who turned dormant) and must be idempotent:
# a re-run for the same date sends it again.
scoring_run_finished = Signal()
