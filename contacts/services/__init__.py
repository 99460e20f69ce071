"""The contacts app's one public entry point for changes: every write goes through these."""

from .booking import (
    BookingRequest,
    BookingResult,
    book_contacts,
    cancel_planned_touches,
    earliest_allowed_time,
    schedule_contact,
)
from .calls import log_call_outcome
from .consent import set_consent
from .feedback import record_feedback, request_feedback, send_feedback_surveys
from .outbox import (
    cancel_outbox_message,
    deliver_outbox_message,
    queue_message,
    queue_messages,
    release_unknown_message,
    sweep_outbox,
)
from .plans import plan_contacts
from .preferences import set_cap_override, update_preferences

__all__ = [
    "BookingRequest",
    "BookingResult",
    "book_contacts",
    "cancel_outbox_message",
    "cancel_planned_touches",
    "deliver_outbox_message",
    "earliest_allowed_time",
    "log_call_outcome",
    "plan_contacts",
    "queue_message",
    "queue_messages",
    "record_feedback",
    "release_unknown_message",
    "request_feedback",
    "schedule_contact",
    "send_feedback_surveys",
    "set_cap_override",
    "set_consent",
    "sweep_outbox",
    "update_preferences",
]
