"""Which URLs webhooks may be sent to: the SSRF guard.

A webhook URL is typed by an admin, but the request is made by our servers from inside our
network, so a URL naming an internal address (the database, a cloud metadata service at
169.254.169.254, localhost) would let whoever configures it probe the inside. Refused: schemes
other than https (http only when WEBHOOKS_ALLOW_HTTP is on, the development default), user names
in URLs, and any host that is or resolves to a loopback, private, link-local, multicast, reserved
or unspecified address (unless WEBHOOKS_ALLOW_PRIVATE_ADDRESSES is on, e.g. for tests against a
server on 127.0.0.1). The check runs when the endpoint is saved (without DNS) and before every
send (with DNS); the send then connects to exactly the address that was checked, so a DNS answer
that changes between the check and the connection (DNS rebinding) cannot redirect it.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from . import conf

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _refuse(message: str) -> ValidationError:
    return ValidationError({"url": message})


def check_endpoint_url(url: str, *, resolve: bool) -> list[str]:
    """Raises ValidationError (on `url`) for a URL webhooks may not be sent to; with `resolve`,
    returns the host's checked addresses, to connect to one of them and nothing else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise _refuse(_("Enter a valid URL.")) from error
    allowed = ("https", "http") if conf.allow_http() else ("https",)
    if parts.scheme not in allowed:
        if conf.allow_http():
            raise _refuse(_("Webhook URLs must start with https:// or http://."))
        raise _refuse(_("Webhook URLs must start with https://."))
    if parts.username or parts.password:
        raise _refuse(_("Put no user name or password in the URL; requests are signed instead."))
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise _refuse(_("Enter a valid URL."))
    private_ok = conf.allow_private_addresses()
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if not private_ok and (host in _LOCAL_NAMES or host.endswith(".localhost")):
        raise _refuse(_("This address is inside a private network; webhooks are not sent there."))
    if literal is not None and not private_ok and not _is_public(literal):
        raise _refuse(_("This address is inside a private network; webhooks are not sent there."))
    if not resolve:
        return []
    if literal is not None:
        return [str(literal)]
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise _refuse(_("The host name could not be resolved.")) from error
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    if not private_ok and not all(_is_public(ipaddress.ip_address(a)) for a in addresses):
        raise _refuse(_("This address is inside a private network; webhooks are not sent there."))
    return addresses
