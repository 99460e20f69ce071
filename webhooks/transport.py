"""POSTing one webhook over HTTP(S), and what a failure means for trying again.

- TemporaryDeliveryError: the request certainly did not reach the receiver (no connection) or
  the receiver answered with an error; tried again with back-off.
- PermanentDeliveryError: it will never work as configured (the URL is refused by the SSRF guard).
- AmbiguousDeliveryError: the request may have reached the receiver (the connection broke or
  timed out after it was sent); the delivery becomes `unknown` and is not re-sent on its own.
"""

import http.client
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from .addresses import check_endpoint_url

# The first bytes of an answer are kept for the admin; the rest is not read.
ANSWER_EXCERPT_BYTES = 1024


class DeliveryError(Exception):
    pass


class TemporaryDeliveryError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


class AmbiguousDeliveryError(DeliveryError):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address the SSRF guard checked, whatever DNS answers now."""

    def __init__(self, host: str, port: int | None, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS: the certificate is still checked against the URL's host name."""

    def __init__(self, host: str, port: int | None, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POSTs `body` to `url` (no redirects followed) and returns the answer, any status."""
    try:
        addresses = check_endpoint_url(url, resolve=True)
    except ValidationError as error:
        raise PermanentDeliveryError("; ".join(error.messages)) from error
    parts = urlsplit(url)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, parts.port, address=addresses[0], timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            connection.connect()
        except OSError as error:
            # Refused, unreachable, TLS handshake or connect timeout: nothing was sent.
            raise TemporaryDeliveryError(f"connect: {type(error).__name__}") from error
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            excerpt = response.read(ANSWER_EXCERPT_BYTES)
        except (OSError, http.client.HTTPException) as error:
            raise AmbiguousDeliveryError(f"after sending: {type(error).__name__}") from error
    finally:
        connection.close()
    return Answer(status=response.status, excerpt=excerpt.decode("utf-8", "replace"))
