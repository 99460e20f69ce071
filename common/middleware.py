"""Request-level security: response headers, the login lockout, and attributing audit events to
the request that caused them.

* `SecurityHeadersMiddleware` adds Content-Security-Policy, Permissions-Policy and
  Cross-Origin-Resource-Policy to every response, and keeps pages shown to a logged-in user out of
  browser and proxy caches (customer data must not come back with the Back button after logout).
  Django's SecurityMiddleware already sends HSTS, nosniff, Referrer-Policy and COOP; the
  clickjacking middleware sends X-Frame-Options.
* `AuditContextMiddleware` makes the current request known to `common.audit`, so receivers of
  model signals (loyalty configuration saved in the admin) know who did it and from where.
* `LockoutBackend` and `lockout_response` are django-axes' lockout with this project's answer: the
  login page again, with a message saying why and for how long.
"""

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .audit import bind_request, unbind_request


def content_security_policy_for(path: str) -> str:
    """The policy for a path: CONTENT_SECURITY_POLICY with the directives of every matching
    prefix in CONTENT_SECURITY_POLICY_PATH_OVERRIDES replacing the base ones."""
    directives = dict(settings.CONTENT_SECURITY_POLICY)
    for prefix, overrides in getattr(
        settings, "CONTENT_SECURITY_POLICY_PATH_OVERRIDES", {}
    ).items():
        if path.startswith(prefix):
            directives.update(overrides)
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in directives.items())


class SecurityHeadersMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        header = (
            "Content-Security-Policy-Report-Only"
            if getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", False)
            else "Content-Security-Policy"
        )
        if header not in response:
            response[header] = content_security_policy_for(request.path)
        if "Permissions-Policy" not in response:
            response["Permissions-Policy"] = settings.PERMISSIONS_POLICY
        if "Cross-Origin-Resource-Policy" not in response:
            response["Cross-Origin-Resource-Policy"] = "same-origin"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "Cache-Control" not in response:
            add_never_cache_headers(response)
        return response


class AuditContextMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = bind_request(request)
        try:
            return self.get_response(request)
        finally:
            unbind_request(token)


class LockoutBackend(AxesStandaloneBackend):
    """Refuses logins through a request while its username and address are locked out.

    A call without a request (a script, the test client's `login`) comes from inside the server,
    has no client address to lock, and goes on to the next backend; every login over HTTP (the
    login page, the admin) passes its request and is checked.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    """The login page again (status 429) saying that this login is blocked and for how long."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    if minutes:
        message = ngettext(
            "Too many failed login attempts. Logging in with this user name from your address is "
            "blocked for %(minutes)s minute; wait and try again, or ask an administrator.",
            "Too many failed login attempts. Logging in with this user name from your address is "
            "blocked for %(minutes)s minutes; wait and try again, or ask an administrator.",
            minutes,
        ) % {"minutes": minutes}
    else:
        message = _(
            "Too many failed login attempts. Logging in with this user name from your address is "
            "blocked; ask an administrator to unlock it."
        )
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    # Unbound: validating the posted form would try to authenticate once more.
    form = AuthenticationForm(request, initial={"username": username})
    form.cleaned_data = {}
    form.add_error(None, message)
    return render(
        request,
        "registration/login.html",
        {"form": form, "next": request.POST.get("next", ""), "locked_out": True},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
