"""What each event says: (object key, data) pairs built set-based from the rows of the cause.

Data holds ids and the few facts a receiving system acts on, never personal data (no names, no
contact details: the receiver looks the customer up by id or external id, so an erased customer is
not kept in delivery rows). Values are JSON-ready (Decimal money as strings, times in ISO 8601 with
their offset).
"""

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from customers.models import Customer, ScoreTransition

# Rows read per query when a night's dormant customers become deliveries.
DORMANT_BATCH = 2_000


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _moment(value: datetime | None) -> str | None:
    return None if value is None else timezone.localtime(value).isoformat()


def dormant_items(*, as_of: date) -> Iterator[list[tuple[str, dict]]]:
    """Batches of the customers who turned dormant in the scoring of `as_of`."""
    rows = (
        ScoreTransition.objects.filter(
            as_of=as_of, dimension=ScoreTransition.Dimension.DORMANT, to_value="yes"
        )
        .order_by("customer_id")
        .values(
            "customer_id",
            "customer__external_id",
            "customer__owner_id",
            "customer__score__value_class",
            "customer__score__risk_level",
            "customer__score__p_alive",
            "customer__score__days_since_last",
            "customer__score__revenue_12m",
            "customer__score__revenue_at_risk",
        )
    )
    batch: list[tuple[str, dict]] = []
    for row in rows.iterator(chunk_size=DORMANT_BATCH):
        batch.append(
            (
                f"customer:{row['customer_id']}:{as_of.isoformat()}",
                {
                    "customer": {
                        "id": row["customer_id"],
                        "external_id": row["customer__external_id"],
                        "owner": row["customer__owner_id"],
                    },
                    "as_of": as_of.isoformat(),
                    "value_class": row["customer__score__value_class"],
                    "risk_level": row["customer__score__risk_level"],
                    "p_alive": row["customer__score__p_alive"],
                    "days_since_last_purchase": row["customer__score__days_since_last"],
                    "revenue_12m": _money(row["customer__score__revenue_12m"]),
                    "revenue_at_risk": _money(row["customer__score__revenue_at_risk"]),
                },
            )
        )
        if len(batch) >= DORMANT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _customer(customer_id: int) -> dict:
    external_id = (
        Customer.objects.filter(pk=customer_id).values_list("external_id", flat=True).first()
    )
    return {"id": customer_id, "external_id": external_id}


def tier_change_item(
    *,
    customer_id: int,
    from_tier_id: int | None,
    to_tier_id: int | None,
    direction: str,
    qualifying_spend: Decimal,
    at: datetime,
) -> tuple[str, dict]:
    from loyalty.models import Tier

    names = dict(
        Tier.objects.filter(pk__in=[pk for pk in (from_tier_id, to_tier_id) if pk]).values_list(
            "pk", "name"
        )
    )

    def tier(pk: int | None) -> dict | None:
        return None if pk is None else {"id": pk, "name": names.get(pk, "")}

    key = f"customer:{customer_id}:tier:{to_tier_id or 0}:{at.timestamp():.6f}"
    return key, {
        "customer": _customer(customer_id),
        "direction": direction,
        "from_tier": tier(from_tier_id),
        "to_tier": tier(to_tier_id),
        "qualifying_spend": _money(qualifying_spend),
        "at": _moment(at),
    }


def redemption_item(*, redemption_id: int) -> tuple[str, dict]:
    from loyalty.models import Redemption

    redemption = Redemption.objects.select_related("reward", "customer").get(pk=redemption_id)
    return f"redemption:{redemption_id}", {
        "redemption": redemption.pk,
        "customer": {"id": redemption.customer_id, "external_id": redemption.customer.external_id},
        "reward": {
            "id": redemption.reward_id,
            "name": redemption.reward.name,
            "kind": redemption.reward.kind,
        },
        "points": redemption.points,
        "code": redemption.code,
        "at": _moment(redemption.created_at),
    }
