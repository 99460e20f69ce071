"""The signature on every webhook request (HMAC-SHA256), and how a receiver checks it.

Each POST carries

    Retention-Signature: t=1741957502,v1=5f0c...e9

where `t` is the Unix time of sending and `v1` is the hex HMAC-SHA256, keyed with the endpoint's
secret, of the bytes `<t>.` followed by the raw request body. A receiver recomputes it over the
body exactly as received (before parsing the JSON), compares in constant time, and refuses a `t`
too far from its own clock (five minutes), so a captured request cannot be replayed later. The
body's `id` (also in the Retention-Webhook-Id header) is the same on every attempt of a delivery:
receivers ignore an id they have already processed.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Retention-Signature"
ID_HEADER = "Retention-Webhook-Id"
EVENT_HEADER = "Retention-Event"
# How far a receiver tolerates the sender's clock to be, in seconds.
DEFAULT_TOLERANCE = 300


def compute_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={compute_signature(secret=secret, timestamp=timestamp, body=body)}"


def verify_signature(
    *,
    secret: str,
    header: str,
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when `header` signs `body` with `secret` and was made within `tolerance` seconds."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = compute_signature(secret=secret, timestamp=timestamp, body=body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
