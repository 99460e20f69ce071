"""Domain signals of the points programme, for apps that react to it (webhooks).

Both are sent inside the transaction that made the change, so a receiver's writes commit or roll
back with it. They carry ids and values, never model instances that a receiver could modify.
"""

from django.dispatch import Signal

# Sent by the tier-move function (loyalty.services._accounts.move_tier), once per account moved,
# with `customer_id: int`, `from_tier_id: int | None`, `to_tier_id: int | None`,
# `direction: str` ("up" or "down"), `qualifying_spend: Decimal` and `at: datetime`.
# Upgrades (during accrual) and downgrades (re-evaluation) may move thousands of accounts in one
# transaction: receivers must be cheap per call.
tier_changed = Signal()

# Sent by `redeem_reward` after a new redemption was issued (never for a replayed key), with
# `redemption_id: int` and `customer_id: int`.
points_redeemed = Signal()
