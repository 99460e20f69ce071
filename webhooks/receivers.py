"""Reactions to the domain signals of customers and loyalty: each records deliveries in the
transaction of its cause, and costs one query when no endpoint listens to the event."""

from . import events, services
from .models import Event


def customers_turned_dormant(sender, run_id: int, **kwargs) -> None:
    services.scan_scoring_run(run_id=run_id)


def tier_changed(
    sender,
    customer_id: int,
    from_tier_id: int | None,
    to_tier_id: int | None,
    direction: str,
    qualifying_spend,
    at,
    **kwargs,
) -> None:
    endpoints = services.endpoints_for(Event.TIER_CHANGED)
    if not endpoints:
        return
    item = events.tier_change_item(
        customer_id=customer_id,
        from_tier_id=from_tier_id,
        to_tier_id=to_tier_id,
        direction=direction,
        qualifying_spend=qualifying_spend,
        at=at,
    )
    services.record_deliveries(event=Event.TIER_CHANGED, items=[item], endpoints=endpoints)


def points_redeemed(sender, redemption_id: int, **kwargs) -> None:
    endpoints = services.endpoints_for(Event.POINTS_REDEEMED)
    if not endpoints:
        return
    item = events.redemption_item(redemption_id=redemption_id)
    services.record_deliveries(event=Event.POINTS_REDEEMED, items=[item], endpoints=endpoints)
