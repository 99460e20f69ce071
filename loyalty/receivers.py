"""Reactions to other apps' domain signals.

customers: accrual and reversal (sent inside the recording transaction; set-based and idempotent,
as `customers.signals` requires), demo resets, the personal-data export and erasure.
contacts: the variables every message may use (balance, tier, the member-page link) and the
call list's extras, answered in a few queries for however many customers are asked about.
"""

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from common.enqueue import enqueue
from loyalty import services
from loyalty.member import revoke_member_links
from loyalty.models import (
    LedgerEntry,
    LoyaltyAccount,
    LoyaltyMessage,
    MemberAccess,
    PurchasePoints,
    Redemption,
    TierChange,
)
from loyalty.selectors import message_facts_for
from loyalty.services import backlog
from loyalty.services.messages import recent_purchase_ids


def accrue_points_on_purchases(sender, purchase_ids: list[int], **kwargs) -> None:
    if len(purchase_ids) >= backlog.DEFER_FROM and backlog.deferral_available():
        # A large batch: a worker accrues it after commit (see loyalty.services.backlog).
        backlog.defer_accrual(purchase_ids=purchase_ids)
        return
    services.accrue_points_for_purchases(purchase_ids=purchase_ids)
    recent = recent_purchase_ids(purchase_ids)
    if recent:
        # After commit: the confirmation reads the points just accrued, and a rolled-back import
        # confirms nothing.
        from loyalty.tasks import send_purchase_confirmations_task

        transaction.on_commit(
            lambda: enqueue(send_purchase_confirmations_task, purchase_ids=recent)
        )


def reverse_points_on_refunds(sender, refund_ids: list[int], **kwargs) -> None:
    services.reverse_points_for_refunds(refund_ids=refund_ids)


def delete_points_of_demo_customers(sender, customer_ids: list[int], **kwargs) -> None:
    services.delete_points_of_demo_customers(customer_ids=customer_ids)


def points_message_variables(sender, customer_ids: list[int], **kwargs) -> dict[int, dict]:
    """{customer id: {points_balance, tier, next_tier, ..., member_url}} for any message."""
    return message_facts_for(customer_ids)


def points_call_list_extras(sender, customer_ids: list[int], **kwargs) -> dict[int, dict]:
    """The balance and tier of each customer on a call list (one query)."""
    extras = {}
    for customer_id, balance, tier in LoyaltyAccount.objects.filter(
        customer_id__in=list(customer_ids)
    ).values_list("customer_id", "balance", "tier__name"):
        value = f"{balance:,}".replace(",", "\u202f") + (f" · {tier}" if tier else "")
        extras[customer_id] = {"label": _("Points"), "value": value}
    return extras


def export_loyalty_data(sender, customer_id: int, **kwargs) -> dict:
    """{"loyalty": {...}}: the account, every ledger entry, points per purchase, redemptions, tier
    changes, the programme's messages and the member-page link state (one query each)."""
    mine = {"customer_id": customer_id}
    return {
        "loyalty": {
            "account": LoyaltyAccount.objects.filter(**mine)
            .values(
                "balance",
                "tier__name",
                "tier_since",
                "tier_valid_until",
                "qualifying_spend",
                "created_at",
            )
            .first(),
            "balance_by_ledger": LedgerEntry.objects.filter(**mine).aggregate(total=Sum("points"))[
                "total"
            ]
            or 0,
            "ledger": list(
                LedgerEntry.objects.filter(**mine)
                .order_by("created_at", "pk")
                .values(
                    "created_at",
                    "kind",
                    "points",
                    "shortfall",
                    "purchase_id",
                    "refund_id",
                    "redemption_id",
                    "partner__name",
                    "note",
                    "expires_at",
                )
            ),
            "purchase_points": list(
                PurchasePoints.objects.filter(**mine)
                .order_by("created_at", "pk")
                .values(
                    "purchase_id",
                    "points",
                    "amount",
                    "rate",
                    "multiplier",
                    "tier_name",
                    "available_at",
                    "expires_at",
                    "released_at",
                )
            ),
            "redemptions": list(
                Redemption.objects.filter(**mine)
                .order_by("created_at", "pk")
                .values("created_at", "reward__name", "points", "status", "code", "cancelled_at")
            ),
            "tier_changes": list(
                TierChange.objects.filter(**mine)
                .order_by("created_at", "pk")
                .values("created_at", "direction", "from_name", "to_name", "qualifying_spend")
            ),
            "messages": list(
                LoyaltyMessage.objects.filter(**mine)
                .order_by("created_at", "pk")
                .values("created_at", "kind", "cause", "message_id", "refused")
            ),
            "member_links": MemberAccess.objects.filter(**mine)
            .values("version", "revoked_at")
            .first(),
        }
    }


def erase_loyalty_data(sender, customer_id: int, by_id: int | None = None, **kwargs) -> None:
    """The points stay (they are the programme's liability, not personal data); every member-page
    link sent so far stops working, since it opens a page with the customer's name and history."""
    from django.contrib.auth import get_user_model

    by = get_user_model().objects.filter(pk=by_id).first() if by_id else None
    revoke_member_links(customer_id=customer_id, by=by)
