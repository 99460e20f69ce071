"""Signed, expiring, revocable links to a customer's member page (the "club of regular customers").

A link is `signing.dumps({"c": customer id, "v": link version})` with a timestamp; it is good for
`Programme.member_link_days` and as long as the customer's `MemberAccess.version` is still the one
it carries. Revoking bumps the version, which kills every link sent so far at once; the next
message carries a fresh one. The token holds no personal data, only the customer's id, and is
tamper-proof (HMAC with SECRET_KEY), so ids cannot be guessed into a working link.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from contacts import conf

from .models import MemberAccess, Programme

logger = logging.getLogger(__name__)

MEMBER_SALT = "loyalty.member"
_TOKEN_PLACEHOLDER = "--token--"  # noqa: S105 - a URL placeholder, not a secret


class MemberLinkError(Exception):
    """A link that does not open the page; `reason` says why (shown to the visitor)."""

    INVALID = "invalid"
    EXPIRED = "expired"
    REVOKED = "revoked"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def link_versions(customer_ids: Iterable[int]) -> dict[int, int]:
    """The current link version of each customer (0 without a row); one query."""
    ids = list(customer_ids)
    versions = dict.fromkeys(ids, 0)
    versions.update(
        MemberAccess.objects.filter(customer_id__in=ids).values_list("customer_id", "version")
    )
    return versions


def member_token(*, customer_id: int, version: int) -> str:
    return signing.dumps({"c": customer_id, "v": version}, salt=MEMBER_SALT, compress=True)


def member_url_base() -> str:
    return conf.public_base_url() + reverse("loyalty:member", args=[_TOKEN_PLACEHOLDER])


def member_urls(customer_ids: Iterable[int]) -> dict[int, str]:
    """A fresh member-page link per customer (one query, whatever the number of customers)."""
    base = member_url_base()
    return {
        customer_id: base.replace(
            _TOKEN_PLACEHOLDER, member_token(customer_id=customer_id, version=version)
        )
        for customer_id, version in link_versions(customer_ids).items()
    }


def member_url(customer_id: int) -> str:
    return member_urls([customer_id])[customer_id]


@dataclass(frozen=True)
class MemberVisit:
    customer_id: int
    version: int


def read_member_token(token: str, *, max_age: timedelta | None = None) -> MemberVisit:
    """The customer a genuine, current link names; MemberLinkError (with the reason) otherwise."""
    if max_age is None:
        max_age = timedelta(days=Programme.load().member_link_days)
    try:
        data = signing.loads(token, salt=MEMBER_SALT, max_age=max_age)
    except signing.SignatureExpired as error:
        raise MemberLinkError(MemberLinkError.EXPIRED) from error
    except signing.BadSignature as error:
        raise MemberLinkError(MemberLinkError.INVALID) from error
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("c"), int)
        or not isinstance(data.get("v"), int)
    ):
        raise MemberLinkError(MemberLinkError.INVALID)
    customer_id, version = data["c"], data["v"]
    if link_versions([customer_id])[customer_id] != version:
        raise MemberLinkError(MemberLinkError.REVOKED)
    return MemberVisit(customer_id=customer_id, version=version)


@transaction.atomic
def revoke_member_links(*, customer_id: int, by=None) -> int:
    """Makes every member-page link sent to the customer so far stop working; returns the new version.

    A conditional increment (or the row's creation), so two revocations at once both take effect.
    """
    now = timezone.now()
    access, created = MemberAccess.objects.get_or_create(
        customer_id=customer_id, defaults={"version": 1, "revoked_at": now, "revoked_by": by}
    )
    if not created:
        MemberAccess.objects.filter(pk=customer_id).update(
            version=F("version") + 1, revoked_at=now, revoked_by=by
        )
        access.refresh_from_db(fields=["version"])
    logger.info(
        "loyalty.member_links_revoked customer=%s version=%s by=%s",
        customer_id,
        access.version,
        getattr(by, "pk", None),
    )
    return access.version
