"""The webhooks' settings, read when used (never at import), with the defaults of settings.py."""

from django.conf import settings


def allow_http() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_HTTP", settings.DEBUG))


def allow_private_addresses() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", False))


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOKS_TIMEOUT", 10))


def max_attempts() -> int:
    return int(getattr(settings, "WEBHOOKS_MAX_ATTEMPTS", 8))


def retry_base_seconds() -> int:
    return int(getattr(settings, "WEBHOOKS_RETRY_BASE_SECONDS", 60))


def sending_timeout_seconds() -> int:
    return int(getattr(settings, "WEBHOOKS_SENDING_TIMEOUT_SECONDS", 300))
