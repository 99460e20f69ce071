"""Every URL of the project, tried by every role against objects the caller does not own.

The URLs come from the URL conf itself, so a new view is covered the day it is added: a URL that is
not classified in RULES below fails `test_every_url_is_classified`, and a classified one is tried
by anonymous visitors, rep A (who does not cover the customer), rep B (who owns it), a manager, a
loyalty admin and a superuser. The admin site is covered as a whole: nobody without staff status
gets past its login, and loyalty configuration is changed only by loyalty admins and superusers.

Expected answers:
* anonymous: pages redirect to the login page; the API answers 401 (or 403);
* another rep's customer (any URL with a customer's id, or the id of a purchase, refund or score
  of theirs): 404, never 403, so ids reveal nothing;
* a role without the permission: 403;
* POST-only views: GET is never a 200 for anybody (405), and a refused role's POST is refused.
"""

from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from common.audit import loyalty_config_models
from customers.models import Customer
from tests.security.conftest import (
    ANONYMOUS,
    LOYALTY_ADMIN,
    MANAGER,
    REP_A,
    REP_B,
    ROLES,
    SUPERUSER,
)

pytestmark = pytest.mark.django_db

OK = "ok"  # 2xx, or a redirect that is not to a login page (405 for a POST-only view's GET)
LOGIN = "login"  # a page: redirect to the login page; the API: 401/403 without credentials
FORBIDDEN = "403"
NOT_FOUND = "404"
REFUSED = "403 or 404"  # refused either way (which check comes first is the view's business)

LOGGED_IN = frozenset({REP_A, REP_B, MANAGER, LOYALTY_ADMIN, SUPERUSER})
MANAGERS = frozenset({MANAGER, SUPERUSER})
REPS_AND_MANAGERS = frozenset({REP_A, REP_B, MANAGER, SUPERUSER})
# Who covers rep B's customer: rep B, and whoever sees every customer.
COVERING = frozenset({REP_B, MANAGER, SUPERUSER})


@dataclass(frozen=True)
class Rule:
    expect: dict[str, str] = field(default_factory=dict)
    # URL parameter -> attribute of the `world` fixture whose pk (or value) fills it.
    params: dict[str, str] = field(default_factory=dict)
    post_only: bool = False
    public: str = ""  # why anonymous visitors may use it


def public(reason: str, **params: str) -> Rule:
    return Rule(public=reason, params=params)


def for_roles(allowed, *, post_only: bool = False, overrides=None, **params: str) -> Rule:
    expect = {role: OK if role in allowed else FORBIDDEN for role in LOGGED_IN}
    expect[ANONYMOUS] = LOGIN
    expect.update(overrides or {})
    return Rule(expect=expect, params=params, post_only=post_only)


def for_customer(allowed=COVERING, *, post_only: bool = False, **params: str) -> Rule:
    """A URL naming rep B's customer (or a row of theirs): rep A gets a 404 whatever the permission."""
    expect = {role: OK if role in allowed else FORBIDDEN for role in LOGGED_IN}
    expect.update({ANONYMOUS: LOGIN, REP_A: NOT_FOUND, LOYALTY_ADMIN: REFUSED})
    return Rule(expect=expect, params=params, post_only=post_only)


RULES: dict[str, Rule] = {
    # --- public by design -----------------------------------------------------------------
    "healthz": public("load balancers probe it; it says only ok/error per dependency"),
    "set_language": public("the language switch works on the login page too"),
    "login": public("the way in"),
    "logout": public("logging out needs no permission (POST only)"),
    "contacts:unsubscribe": public(
        "customers unsubscribe from a message link; the signed token names the customer",
        token="unsubscribe_token",
    ),
    "contacts:feedback": public(
        "customers answer the survey from a message link; the signed token names the survey",
        token="feedback_token",
    ),
    "loyalty:member": public(
        "customers open their member page from a message link; the signed, expiring, revocable "
        "token names the customer",
        token="member_token",
    ),
    "schema": public("the OpenAPI description for integrators; no data, only the API's shape"),
    "swagger-ui": public("renders the public schema"),
    "redoc": public("renders the public schema"),
    # --- pages ----------------------------------------------------------------------------
    "home": for_roles(LOGGED_IN),
    "dashboard": for_roles(MANAGERS),
    "dashboard-reps": for_roles(MANAGERS),
    "dashboard-activity": for_roles(MANAGERS),
    "dashboard-liability": for_roles(MANAGERS),
    "customers:list": for_roles(LOGGED_IN),
    "customers:export": for_roles(MANAGERS),
    "customers:create": for_roles(MANAGERS),
    "customers:reassign": for_roles(MANAGERS),
    "customers:segmentation": for_roles(MANAGERS),
    "customers:detail": for_customer(pk="customer_b"),
    "customers:update": for_customer(pk="customer_b"),
    "customers:reassign-one": for_customer(MANAGERS, pk="customer_b"),
    "customer-loyalty-panel": for_customer(pk="customer_b"),
    "customer-contacts-panel": for_customer(pk="customer_b"),
    "customers:purchase-create": for_customer(pk="customer_b"),
    "customers:import-list": for_roles(MANAGERS),
    "customers:import-detail": for_roles(MANAGERS, pk="import_job"),
    "customers:import-progress": for_roles(MANAGERS, pk="import_job"),
    "customers:import-errors": for_roles(MANAGERS, pk="import_job"),
    "customers:personal-data": for_customer(MANAGERS, pk="customer_b"),
    "customers:erase": for_customer(MANAGERS, pk="customer_b"),
    "customers:audit": for_roles(MANAGERS),
    "contacts:call-list": for_roles(REPS_AND_MANAGERS),
    "contacts:log-outcome": for_customer(post_only=True, customer_id="customer_b"),
    "contacts:key-accounts": for_roles(MANAGERS),
    "contacts:performance": for_roles(MANAGERS),
    "contacts:customer-settings": for_customer(pk="customer_b"),
    "contacts:customer-schedule": for_customer(pk="customer_b"),
    "contacts:customer-log-call": for_customer(pk="customer_b"),
    "loyalty:redeem": for_customer(customer_id="customer_b"),
    "loyalty:ledger": for_customer(customer_id="customer_b"),
    # Loyalty admins may cancel redemptions, but only of customers they can see (none).
    "loyalty:cancel-redemption": for_roles(
        MANAGERS, post_only=True, overrides={LOYALTY_ADMIN: REFUSED}, pk="redemption_b"
    ),
    "loyalty:reports": for_roles(MANAGERS | {LOYALTY_ADMIN}),
    "loyalty:revoke-member-links": for_customer(post_only=True, customer_id="customer_b"),
    # --- API ------------------------------------------------------------------------------
    "api-root": for_roles(LOGGED_IN),
    "customer-list": for_roles(LOGGED_IN),
    "customer-detail": for_customer(pk="customer_b"),
    "purchase-list": for_roles(LOGGED_IN),
    "purchase-detail": for_customer(pk="purchase_b"),
    "purchase-bulk": for_roles(REPS_AND_MANAGERS, post_only=True),
    "refund-list": for_roles(LOGGED_IN),
    "refund-detail": for_customer(pk="refund_b"),
    "score-list": for_roles(LOGGED_IN),
    "score-summary": for_roles(LOGGED_IN),
    "score-detail": for_customer(customer="score_b"),
    "scoring-run-list": for_roles(MANAGERS),
    "scoring-run-detail": for_roles(MANAGERS, pk="scoring_run"),
    "call-list-list": for_roles(REPS_AND_MANAGERS),
    "contact-list": for_roles(REPS_AND_MANAGERS),
    "contact-detail": for_customer(pk="touch_b"),
    "contact-booking-list": for_roles(REPS_AND_MANAGERS, post_only=True),
    "loyalty-account-list": for_roles(LOGGED_IN),
    "loyalty-account-detail": for_customer(customer="customer_b"),
    "ledger-entry-list": for_roles(LOGGED_IN),
    "ledger-entry-detail": for_customer(pk="ledger_entry_b"),
    "tier-list": for_roles(LOGGED_IN),
    "tier-detail": for_roles(LOGGED_IN, pk="tier"),
    "reward-list": for_roles(LOGGED_IN),
    "reward-detail": for_roles(LOGGED_IN, pk="reward"),
    "redemption-list": for_roles(LOGGED_IN),
    "redemption-detail": for_customer(pk="redemption_b"),
    "redemption-cancel": for_roles(
        MANAGERS, post_only=True, overrides={LOYALTY_ADMIN: REFUSED}, pk="redemption_b"
    ),
    "job-run-list": for_roles(MANAGERS),
    "job-run-detail": for_roles(MANAGERS, pk="job_run"),
}

# Values for parameters no rule names: the format suffix of API URLs.
COMMON_PARAMS = {"format": "json"}


@dataclass(frozen=True)
class Route:
    route: str  # the pattern as written, prefixes included (the id of unnamed patterns)
    name: str  # namespaced name; "" for unnamed patterns
    params: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.name or self.route

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    def __str__(self) -> str:
        return f"{self.key}({','.join(self.params)})" if self.params else self.key


def discover(resolver=None, prefix: str = "", namespace: str = "") -> list[Route]:
    """Every URL pattern of the URL conf, nested includes walked."""
    resolver = resolver or get_resolver()
    routes = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            routes.extend(discover(pattern, route, inner))
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}{pattern.name}" if pattern.name else ""
            routes.append(Route(route, name, tuple(pattern.pattern.regex.groupindex)))
    return routes


ROUTES = discover()
PROJECT_ROUTES = [route for route in ROUTES if not route.is_admin]
ADMIN_ROUTES = [route for route in ROUTES if route.is_admin]


def _value(source: str, world) -> str:
    value = getattr(world, source)
    return str(getattr(value, "pk", value))


def url_for(route: Route, rule: Rule, world) -> str:
    kwargs = {}
    for param in route.params:
        if param in rule.params:
            kwargs[param] = _value(rule.params[param], world)
        elif param in COMMON_PARAMS:
            kwargs[param] = COMMON_PARAMS[param]
        else:
            raise AssertionError(f"{route}: the rule does not say what fills <{param}>")
    return reverse(route.name, kwargs=kwargs)


def outcome(response, *, login_path: str = "/login/") -> str:
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        return LOGIN if urlparse(response["Location"]).path == login_path else OK
    if status == 401:
        return LOGIN
    if status < 400:
        return OK
    return str(status)


def matches(actual: str, expected: str, *, api_anonymous: bool = False) -> bool:
    if expected == REFUSED:
        return actual in (FORBIDDEN, NOT_FOUND)
    if expected == LOGIN and api_anonymous:
        # The API has no login page: 401 (or 403) without credentials.
        return actual in (LOGIN, FORBIDDEN)
    return actual == expected


def test_every_url_is_classified():
    unnamed = [route.route for route in PROJECT_ROUTES if not route.name]
    assert not unnamed, f"name these URL patterns so they can be classified: {unnamed}"
    names = {route.name for route in PROJECT_ROUTES}
    unclassified = sorted(names - set(RULES))
    assert not unclassified, (
        f"new URLs without an access rule in {__name__}.RULES: {unclassified}. Say who may use "
        f"them (for_roles / for_customer) or, if anonymous visitors may, why (public)."
    )
    assert not sorted(set(RULES) - names), "rules for URLs that no longer exist"


def test_public_urls_are_few_and_explained():
    public_names = sorted(name for name, rule in RULES.items() if rule.public)
    assert public_names == [
        "contacts:feedback",
        "contacts:unsubscribe",
        "healthz",
        "login",
        "logout",
        "loyalty:member",
        "redoc",
        "schema",
        "set_language",
        "swagger-ui",
    ]


# Bugs this test found in code owned elsewhere; strict, so the mark fails once the bug is fixed.
# Routes that fail for a known reason, each with (reason, exception); empty when none.
KNOWN_BUGS: dict[str, tuple[str, type[Exception]]] = {}


def _with_known_bugs(routes: list[Route]) -> list:
    params = []
    for route in routes:
        bug = KNOWN_BUGS.get(str(route))
        marks = [pytest.mark.xfail(reason=bug[0], raises=bug[1], strict=True)] if bug else []
        params.append(pytest.param(route, id=str(route), marks=marks))
    return params


@pytest.mark.parametrize("route", _with_known_bugs(PROJECT_ROUTES))
def test_each_role_gets_what_the_url_allows(route, world, clients):
    rule = RULES.get(route.name)
    if rule is None:
        pytest.fail(f"{route} is not classified (see test_every_url_is_classified)")
    url = url_for(route, rule, world)
    if rule.public:
        response = clients[ANONYMOUS].get(url)
        assert outcome(response) != LOGIN, f"public {url} sends visitors to log in"
        assert response.status_code < 500
        return
    wrong = []
    for role in ROLES:
        expected = rule.expect[role]
        client = clients[role]
        response = client.get(url)
        actual = outcome(response)
        api_anonymous = route.is_api and role == ANONYMOUS
        if rule.post_only:
            # GET of a POST-only view: never a 200 for anybody; 405 once the role is let through.
            if response.status_code == 200:
                wrong.append(f"{role}: GET {url} -> 200 on a POST-only view")
            elif expected == OK and actual != "405":
                wrong.append(f"{role}: GET {url} -> {response.status_code}, expected 405")
            if expected != OK:
                actual = outcome(client.post(url, {}))
                if not matches(actual, expected, api_anonymous=api_anonymous):
                    wrong.append(f"{role}: POST {url} -> {actual}, expected {expected}")
            continue
        if not matches(actual, expected, api_anonymous=api_anonymous):
            wrong.append(f"{role}: GET {url} -> {actual}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def _admin_params(route: Route, world) -> dict[str, str]:
    values = {
        "app_label": "customers",
        "object_id": str(world.customer_b.pk),
        "content_type_id": str(ContentType.objects.get_for_model(Customer).pk),
        "url": "no-such-page/",
        "id": str(world.users[REP_A].pk),
    }
    # Any other id: the answer for people without staff status must not depend on it.
    return {param: values.get(param, "1") for param in route.params}


def _admin_url(route: Route, world) -> str:
    params = _admin_params(route, world)
    if route.name:
        return reverse(route.name, kwargs=params)
    # Unnamed admin patterns: the legacy object URL and the catch-all; fill the route by hand.
    path = route.route
    for param, value in params.items():
        path = path.replace(f"<path:{param}>", value).replace(f"(?P<{param}>.*)$", value)
    return "/" + path


# The admin's own login and logout: the ways in and out of the admin site.
ADMIN_PUBLIC = {"admin:login", "admin:logout"}


def test_the_admin_is_closed_to_everybody_without_staff_status(world, clients):
    """Every admin URL (new models included): no staff status, no entry; nothing errors."""
    assert len(ADMIN_ROUTES) > 50, "the admin's URLs were not found"
    login_path = reverse("admin:login")
    wrong = []
    for route in ADMIN_ROUTES:
        url = _admin_url(route, world)
        if route.name in ADMIN_PUBLIC:
            if clients[ANONYMOUS].get(url).status_code >= 500:
                wrong.append(f"anonymous: GET {url} fails")
            continue
        for role in (ANONYMOUS, REP_A, REP_B, MANAGER):
            response = clients[role].get(url)
            if outcome(response, login_path=login_path) != LOGIN:
                wrong.append(f"{role} (no staff status): GET {url} -> {response.status_code}")
        status = clients[SUPERUSER].get(url).status_code
        if status >= 500:
            wrong.append(f"superuser: GET {url} -> {status}")
    assert not wrong, "\n".join(wrong)


def _staff(world, role: str):
    user = world.users[role]
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.mark.parametrize("model", loyalty_config_models(), ids=lambda model: model._meta.model_name)
def test_only_loyalty_admins_and_superusers_change_loyalty_configuration(model, world, clients):
    # Staff status lets a manager or rep into the admin; their role must still keep them out of
    # loyalty's configuration (they may look, not change).
    for role in (MANAGER, REP_A):
        _staff(world, role)
        clients[role].force_login(world.users[role])
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"the fixtures need a {model.__name__}"
    info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    change_url = reverse(f"{info}_change", args=[obj.pk])
    add_url = reverse(f"{info}_add")
    delete_url = reverse(f"{info}_delete", args=[obj.pk])
    changelist_url = reverse(f"{info}_changelist")
    before = list(model._default_manager.order_by("pk").values())
    for role in (MANAGER, REP_A):
        client = clients[role]
        assert client.post(change_url, {}).status_code == 403, f"{role} changed {model.__name__}"
        assert client.post(add_url, {}).status_code == 403, f"{role} added a {model.__name__}"
        assert client.post(delete_url, {"post": "yes"}).status_code == 403
        client.post(changelist_url, {"action": "delete_selected", "_selected_action": [obj.pk]})
    assert list(model._default_manager.order_by("pk").values()) == before
    for role in (LOYALTY_ADMIN, SUPERUSER):
        response = clients[role].get(change_url)
        assert response.status_code == 200, f"{role}: GET {change_url} -> {response.status_code}"
        assert b'name="_save"' in response.content, f"{role} cannot save {model.__name__}"
