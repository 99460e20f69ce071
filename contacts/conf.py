"""The contacts app's settings, read at call time with defaults, so nothing is read at import."""

from datetime import time
from decimal import Decimal

from django.conf import settings


def quiet_hours_default() -> tuple[time, time]:
    """The local hours a customer may be contacted in when their preferences do not say."""
    start, end = getattr(settings, "CONTACTS_CONTACT_HOURS", ("09:00", "21:00"))
    return time.fromisoformat(start), time.fromisoformat(end)


def quiet_hours_channels() -> frozenset[str]:
    """Channels that interrupt the customer, so they respect the customer's local contact hours."""
    return frozenset(getattr(settings, "CONTACTS_QUIET_HOURS_CHANNELS", ("phone", "sms", "email")))


def no_answer_retry_days() -> int:
    return int(getattr(settings, "CONTACTS_NO_ANSWER_RETRY_DAYS", 2))


def key_account_days() -> int:
    return int(getattr(settings, "CONTACTS_KEY_ACCOUNT_DAYS", 30))


def key_account_min_revenue() -> Decimal | None:
    value = getattr(settings, "CONTACTS_KEY_ACCOUNT_MIN_REVENUE", None)
    return None if value in (None, "") else Decimal(str(value))


def outbox_max_attempts() -> int:
    return int(getattr(settings, "CONTACTS_OUTBOX_MAX_ATTEMPTS", 6))


def outbox_retry_base_seconds() -> int:
    return int(getattr(settings, "CONTACTS_OUTBOX_RETRY_BASE_SECONDS", 60))


def outbox_sending_timeout_seconds() -> int:
    """After this long in `sending`, a row is taken as crashed mid-send and marked unknown."""
    return int(getattr(settings, "CONTACTS_OUTBOX_SENDING_TIMEOUT_SECONDS", 15 * 60))


def public_base_url() -> str:
    """Where customers reach the site (unsubscribe and survey links in messages)."""
    return getattr(settings, "PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")


def company_name() -> str:
    return getattr(settings, "CONTACTS_COMPANY_NAME", "Retention")


def win_back_days() -> int:
    return int(getattr(settings, "CONTACTS_WIN_BACK_DAYS", 60))
