"""Celery tasks of webhooks: each carries ids and calls one service."""

from celery import shared_task

from . import services


@shared_task(name="webhooks.deliver", acks_late=True, ignore_result=True)
def deliver_webhook_task(delivery_id: int, **kwargs) -> str:
    """Sends one delivery; run twice, the second run finds the row claimed and does nothing."""
    return services.deliver_webhook(delivery_id=delivery_id)


@shared_task(name="webhooks.sweep", acks_late=True, ignore_result=True)
def sweep_webhooks_task(**kwargs) -> dict:
    """Every 5 minutes: marks crashed sends unknown, scans missed scoring runs, and hands due
    deliveries (new or retried) to workers."""
    result = services.sweep_webhooks()
    services.enqueue_deliveries(result.due_ids)
    return {
        "unknown": result.marked_unknown,
        "scanned_runs": result.scanned_runs,
        "enqueued": len(result.due_ids),
    }
