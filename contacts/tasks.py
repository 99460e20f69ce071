"""Celery tasks of contacts: each carries ids or ISO dates and calls one service."""

import logging
from datetime import date

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="contacts.send_outbox_message", acks_late=True, ignore_result=True)
def send_outbox_message_task(message_id: int, **kwargs) -> str:
    """Sends one outbox message; run twice, the second run finds the row claimed and does nothing."""
    return services.deliver_outbox_message(message_id=message_id)


@shared_task(name="contacts.sweep_outbox", acks_late=True, ignore_result=True)
def sweep_outbox_task(**kwargs) -> dict:
    """Every minute: marks crashed sends unknown and hands due messages (new or retried) to workers."""
    result = services.sweep_outbox()
    for message_id in result.due_ids:
        send_outbox_message_task.delay(message_id)
    return {"unknown": result.marked_unknown, "enqueued": len(result.due_ids)}


@shared_task(name="contacts.plan_contacts", acks_late=True, ignore_result=True)
def plan_contacts_task(day: str | None = None, **kwargs) -> list[dict]:
    """Nightly: the contact plans become the day's call lists and messages (idempotent per day)."""
    outcomes = services.plan_contacts(day=date.fromisoformat(day) if day else None)
    return [outcome.__dict__ for outcome in outcomes]
