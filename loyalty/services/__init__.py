"""Every change to points and tiers goes through these functions: views, admin, commands, tasks,
and the receivers of the customer base's signals.

Ledger invariants kept by all of them (and verified by `manage.py check_ledger`): entries are
only ever added; each write locks the customer's account row (or decides with a conditional
UPDATE on it) and moves its balance by the entries' sum in the same transaction; the balance is
never negative. Pending points (inside the return window) are kept out of the ledger in
`PurchasePoints` until `release_pending_points` enters them.
"""

from .accrual import (
    accrue_points_for_purchases,
    record_partner_points,
    release_pending_points,
    reverse_points_for_refunds,
)
from .adjustments import OpeningBalanceReport, adjust_points, import_opening_balances
from .demo import delete_points_of_demo_customers
from .expiry import expire_points
from .messages import (
    MessageOutcome,
    send_balance_reminders,
    send_expiry_warnings,
    send_purchase_confirmations,
)
from .redemption import cancel_redemption, redeem_reward
from .tiers import TierReview, reevaluate_tiers

__all__ = [
    "MessageOutcome",
    "OpeningBalanceReport",
    "TierReview",
    "accrue_points_for_purchases",
    "adjust_points",
    "cancel_redemption",
    "delete_points_of_demo_customers",
    "expire_points",
    "import_opening_balances",
    "record_partner_points",
    "redeem_reward",
    "reevaluate_tiers",
    "release_pending_points",
    "reverse_points_for_refunds",
    "send_balance_reminders",
    "send_expiry_warnings",
    "send_purchase_confirmations",
]
