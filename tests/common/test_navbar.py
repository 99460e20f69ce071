"""The navigation bar, kept per user, grants generation and language, reads as if rendered anew."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from common.roles import SALES_MANAGER
from common.templatetags import retention_tags
from tests.factories import ManagerFactory, RepFactory

pytestmark = pytest.mark.django_db


def navbar_of(html: str) -> str:
    return html[html.index("<nav class=\"navbar"): html.index("</nav>") + len("</nav>")]


def without_tokens(html: str) -> str:
    # The CSRF token is masked anew on every request.
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken"', html)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_kept_bar_equals_the_one_rendered_anew(settings, language):
    manager = ManagerFactory(first_name="Ann", last_name="<Lee>")
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(manager)
    retention_tags._NAVBARS.clear()
    assert client.get(reverse("customers:list"), {"q": "a&b"}).status_code == 200
    assert retention_tags._NAVBARS  # kept
    kept = client.get(reverse("customers:list"), {"q": "x\"y"}).content.decode()
    settings.SHARED_CACHE = False  # every bar rendered anew
    fresh = client.get(reverse("customers:list"), {"q": "x\"y"}).content.decode()
    assert without_tokens(navbar_of(kept)) == without_tokens(navbar_of(fresh))
    # The language switcher returns to this page, whatever page kept the bar.
    assert 'name="next" type="hidden" value="/customers/?q=x%22y"' in navbar_of(kept)
    assert "a&amp;b" not in navbar_of(kept)
    assert "&lt;Lee&gt;" in navbar_of(kept)


def test_a_new_role_shows_in_the_bar_at_once():
    rep = RepFactory()
    client = Client()
    client.force_login(rep)
    assert reverse("dashboard") not in navbar_of(client.get(reverse("customers:list")).content.decode())
    rep.groups.add(Group.objects.get(name=SALES_MANAGER))
    assert reverse("dashboard") in navbar_of(client.get(reverse("customers:list")).content.decode())


def test_the_kept_bars_forms_carry_this_requests_csrf_token():
    rep = RepFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    client.get(reverse("customers:list"))  # keeps the bar
    html = navbar_of(client.get(reverse("customers:list")).content.decode())
    logout_token = re.search(
        r'action="/logout/">\s*<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"', html
    ).group(1)
    response = client.post(reverse("logout"), {"csrfmiddlewaretoken": logout_token})
    assert response.status_code == 302
    assert client.get(reverse("customers:list")).status_code == 302  # logged out
