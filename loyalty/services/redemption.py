"""Points out for rewards, and back when a redemption is cancelled."""

import logging
import secrets

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from common.audit import AuditAction, record_audit_event
from loyalty.errors import (
    IdempotencyConflictError,
    InsufficientPointsError,
    LoyaltyError,
    RedemptionNotCancellableError,
    RewardUnavailableError,
)
from loyalty.models import LedgerEntry, LoyaltyAccount, Redemption, Reward
from loyalty.signals import points_redeemed

logger = logging.getLogger(__name__)

# Unambiguous when read aloud or typed from a receipt: no 0/O, 1/I/L.
VOUCHER_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
VOUCHER_GROUPS = 3
VOUCHER_GROUP_LENGTH = 4


def new_voucher_code() -> str:
    """A random code such as 7KQF-M2XD-9RTA (31^12 possibilities; the column is unique)."""
    return "-".join(
        "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(VOUCHER_GROUP_LENGTH))
        for _group in range(VOUCHER_GROUPS)
    )


def _replayed(existing: Redemption, *, customer_id: int, reward_id: int) -> Redemption:
    if existing.customer_id != customer_id or existing.reward_id != reward_id:
        raise IdempotencyConflictError(field="key")
    return existing


@transaction.atomic
def redeem_reward(*, customer_id: int, reward_id: int, by, key: str) -> Redemption:
    """Deducts an active reward's cost and issues it, once per `key`; never takes the balance below 0.

    The conditional UPDATE (`balance >= cost`) is the whole decision: under concurrency the
    database serialises the updates of the row, and each one's row count says whether it won, so
    fifty simultaneous requests against a balance that pays for ten issue exactly ten. A repeated
    request with the same key returns the first redemption.
    """
    existing = Redemption.objects.filter(key=key).first()
    if existing is not None:
        return _replayed(existing, customer_id=customer_id, reward_id=reward_id)
    reward = Reward.objects.active().filter(pk=reward_id).first()
    if reward is None:
        raise RewardUnavailableError(field="reward")
    now = timezone.now()
    try:
        with transaction.atomic():
            won = LoyaltyAccount.objects.filter(
                customer_id=customer_id, balance__gte=reward.cost
            ).update(balance=F("balance") - reward.cost, updated_at=now)
            if not won:
                raise InsufficientPointsError(
                    field="reward", customer_id=customer_id, needed=reward.cost
                )
            redemption = Redemption.objects.create(
                customer_id=customer_id,
                reward=reward,
                points=reward.cost,
                code=new_voucher_code() if reward.kind == Reward.Kind.VOUCHER else None,
                key=key,
                created_by=by,
                created_at=now,
            )
            LedgerEntry.objects.create(
                customer_id=customer_id,
                kind=LedgerEntry.Kind.REDEEM,
                points=-reward.cost,
                key=f"redeem:redemption:{redemption.pk}",
                redemption=redemption,
                created_by=by,
                note=reward.name,
                created_at=now,
            )
            record_audit_event(
                action=AuditAction.REWARD_REDEEMED,
                actor=by,
                obj=redemption,
                details={"reward": reward.pk, "points": reward.cost},
            )
    except IntegrityError:
        # The same key won in a concurrent request: its redemption stands, this one's deduction
        # was rolled back with the savepoint.
        existing = Redemption.objects.filter(key=key).first()
        if existing is None:
            raise
        return _replayed(existing, customer_id=customer_id, reward_id=reward_id)
    logger.info(
        "loyalty.redeemed redemption=%s customer=%s reward=%s points=%s",
        redemption.pk,
        customer_id,
        reward.pk,
        reward.cost,
    )
    points_redeemed.send(sender=Redemption, redemption_id=redemption.pk, customer_id=customer_id)
    return redemption


@transaction.atomic
def cancel_redemption(*, redemption_id: int, by) -> Redemption:
    """Cancels an issued redemption and restores its points exactly once.

    The status flip is a conditional UPDATE, so of two concurrent cancellations one restores the
    points and the other is refused. Restored points count as unspent again: if the points the
    redemption used have expired meanwhile, the next expiry run takes them (soonest-expiring first).
    """
    now = timezone.now()
    claimed = Redemption.objects.filter(pk=redemption_id, status=Redemption.Status.ISSUED).update(
        status=Redemption.Status.CANCELLED, cancelled_at=now, cancelled_by=by
    )
    redemption = Redemption.objects.select_related("reward").filter(pk=redemption_id).first()
    if redemption is None:
        raise LoyaltyError(field="redemption")
    if not claimed:
        raise RedemptionNotCancellableError(field="redemption")
    LoyaltyAccount.objects.filter(customer_id=redemption.customer_id).update(
        balance=F("balance") + redemption.points, updated_at=now
    )
    LedgerEntry.objects.create(
        customer_id=redemption.customer_id,
        kind=LedgerEntry.Kind.REVERSE,
        points=redemption.points,
        key=f"reverse:redemption:{redemption.pk}",
        redemption=redemption,
        created_by=by,
        note=redemption.reward.name,
        created_at=now,
    )
    record_audit_event(
        action=AuditAction.REDEMPTION_CANCELLED,
        actor=by,
        obj=redemption,
        details={"reward": redemption.reward_id, "points": redemption.points},
    )
    logger.info(
        "loyalty.redemption_cancelled redemption=%s points=%s", redemption.pk, redemption.points
    )
    return redemption
