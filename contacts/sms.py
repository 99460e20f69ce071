"""SMS backends: a small interface in the manner of Django's e-mail backends.

`SMS_BACKEND` names the class (default: the console backend). Development uses the console or
file backend; production the HTTP provider backend, configured from settings:

    SMS_BACKEND = "contacts.sms.HttpSmsBackend"
    SMS_HTTP_URL = "https://sms.example.com/api/messages"   # POST, JSON body
    SMS_HTTP_TOKEN = "..."                                  # sent as "Authorization: Bearer ..."
    SMS_HTTP_TIMEOUT = 10                                   # seconds, connect and read
    SMS_SENDER = "Retention"

The HTTP backend sends {"to", "text", "sender", "reference"} with an Idempotency-Key header (the
outbox key), and reads the provider's id from "id" or "message_id" of a JSON answer.
"""

import json
import logging
import sys
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from .delivery import AmbiguousDeliveryError, PermanentDeliveryError, TemporaryDeliveryError

logger = logging.getLogger(__name__)

DEFAULT_BACKEND = "contacts.sms.ConsoleSmsBackend"

# Messages "sent" by LocMemSmsBackend, for tests and local experiments (like django.core.mail.outbox).
outbox: list[dict] = []
_outbox_lock = threading.Lock()


class BaseSmsBackend:
    def send(self, *, to: str, body: str, key: str) -> str:
        """Sends one SMS; returns the provider's message id or raises a DeliveryError subclass."""
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Writes each SMS to a stream (stdout by default) instead of sending it."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def send(self, *, to: str, body: str, key: str) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        self.stream.write(f"SMS to {to} [{key}] {message_id}\n{body}\n{'-' * 40}\n")
        self.stream.flush()
        return message_id


class FileSmsBackend(BaseSmsBackend):
    """Writes each SMS to its own file under SMS_FILE_PATH."""

    def __init__(self, path: str | None = None) -> None:
        self.path = Path(path or getattr(settings, "SMS_FILE_PATH", settings.BASE_DIR / "sms"))

    def send(self, *, to: str, body: str, key: str) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        message_id = f"file-{uuid.uuid4().hex}"
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        (self.path / f"{stamp}-{message_id}.txt").write_text(
            f"To: {to}\nKey: {key}\nId: {message_id}\n\n{body}\n", encoding="utf-8"
        )
        return message_id


class LocMemSmsBackend(BaseSmsBackend):
    """Keeps each SMS in `contacts.sms.outbox`."""

    def send(self, *, to: str, body: str, key: str) -> str:
        message_id = f"locmem-{len(outbox) + 1}"
        with _outbox_lock:
            outbox.append({"to": to, "body": body, "key": key, "id": message_id})
        return message_id


class HttpSmsBackend(BaseSmsBackend):
    """Posts each SMS as JSON to a provider's HTTP API, with timeouts and an idempotency key."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        sender: str | None = None,
    ) -> None:
        self.url = url or getattr(settings, "SMS_HTTP_URL", "")
        self.token = token if token is not None else getattr(settings, "SMS_HTTP_TOKEN", "")
        self.timeout = timeout or float(getattr(settings, "SMS_HTTP_TIMEOUT", 10))
        self.sender = sender or getattr(settings, "SMS_SENDER", "")
        if not self.url.startswith(("https://", "http://")):
            raise PermanentDeliveryError("SMS_HTTP_URL must be an http(s) URL")

    def send(self, *, to: str, body: str, key: str) -> str:
        payload = json.dumps(
            {"to": to, "text": body, "sender": self.sender, "reference": key}
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")  # noqa: S310 - scheme checked in __init__
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read(64 * 1024)
        except urllib.error.HTTPError as error:
            # 429 and 5xx: the provider did not take the message; other 4xx: it never will.
            if error.code == 429 or error.code >= 500:
                raise TemporaryDeliveryError(f"HTTP {error.code}") from error
            raise PermanentDeliveryError(f"HTTP {error.code}") from error
        except urllib.error.URLError as error:
            # Failing to connect (refused, DNS, connect timeout): nothing was sent.
            raise TemporaryDeliveryError(type(error.reason).__name__) from error
        except (TimeoutError, ConnectionResetError) as error:
            # The request went out and the answer did not come back: it may have been sent.
            raise AmbiguousDeliveryError(type(error).__name__) from error
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
        message_id = (
            str(data.get("id") or data.get("message_id") or "") if isinstance(data, dict) else ""
        )
        logger.info("sms.sent provider_id=%s", message_id)
        return message_id


def get_sms_backend(path: str | None = None, **kwargs) -> BaseSmsBackend:
    """An instance of the configured backend (SMS_BACKEND) or of the one named by `path`."""
    return import_string(path or getattr(settings, "SMS_BACKEND", DEFAULT_BACKEND))(**kwargs)
