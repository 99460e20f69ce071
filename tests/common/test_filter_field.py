"""Filter bars' fields: crispy's Bootstrap markup without crispy's templates."""

import re

import pytest
from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django.template import Context, Template

from customers.forms import CustomerFilterForm
from tests.factories import RepFactory

pytestmark = pytest.mark.django_db


def render(form) -> dict[str, str]:
    template = Template("{% load retention_tags %}{% filter_field field %}")
    return {name: template.render(Context({"field": form[name]})) for name in form.fields}


def options(html: str) -> list[tuple[str, bool, str]]:
    return [
        (value, " selected" in attributes, label.strip())
        for value, attributes, label in re.findall(
            r'<option value="([^"]*)"([^>]*)>([^<]*)</option>', html
        )
    ]


def test_the_same_options_selection_names_and_classes_as_crispy():
    rep = RepFactory(username="ann<b>")
    form = CustomerFilterForm({"owner": str(rep.pk), "risk": "high", "dormant": "false",
                               "unassigned": "on", "q": '"><script>'})
    assert form.is_valid()
    ours = render(form)
    for name in form.fields:
        theirs = str(as_crispy_field(form[name]))
        assert options(ours[name]) == options(theirs), name
        for fragment in (f'name="{name}"', f'id="id_{name}"', f'id="div_id_{name}"'):
            assert fragment in ours[name], (name, fragment)
        for css in re.findall(r'class="([^"]*(?:form-select|form-control|form-check-input))"', theirs):
            assert css.split()[-1] in ours[name], (name, css)
    assert (str(rep.pk), True, "ann&lt;b&gt;") in options(ours["owner"])
    assert ("false", True, "Not dormant") in options(ours["dormant"])
    assert "checked" in ours["unassigned"]
    assert 'value="&quot;&gt;&lt;script&gt;"' in ours["q"]


def test_an_invalid_choice_is_marked_and_explained_where_aria_points():
    form = CustomerFilterForm({"risk": "bogus"})
    assert not form.is_valid()
    html = render(form)["risk"]
    assert "is-invalid" in html
    assert 'aria-describedby="id_risk_error"' in html
    assert '<div id="id_risk_error" class="invalid-feedback d-block"><strong>' in html
    assert "bogus" in html


def test_rep_and_tag_options_come_from_the_cache_and_follow_every_change():
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from common.roles import ACCOUNT_REP
    from customers.models import Tag

    ann = RepFactory(username="ann")
    vip = Tag.objects.create(name="vip")
    assert ("", True, "---------") in options(render(CustomerFilterForm())["owner"])
    with CaptureQueriesContext(connection) as captured:
        html = render(CustomerFilterForm())
    assert captured.captured_queries == []
    assert (str(ann.pk), False, "ann") in options(html["owner"])
    assert (str(vip.pk), False, "vip") in options(html["tag"])

    RepFactory(username="bob")  # a new rep
    ann.groups.remove(Group.objects.get(name=ACCOUNT_REP))  # no longer a rep
    vip.name = "VIP"
    vip.save()
    Tag.objects.create(name="wholesale")
    html = render(CustomerFilterForm())
    reps = {label for _value, _selected, label in options(html["owner"])}
    tags = {label for _value, _selected, label in options(html["tag"])}
    assert "bob" in reps
    assert "ann" not in reps
    assert {"VIP", "wholesale"} <= tags
    assert "vip" not in tags
    Tag.objects.get(name="wholesale").delete()
    assert "wholesale" not in {label for *_rest, label in options(render(CustomerFilterForm())["tag"])}


def test_a_kept_option_is_still_checked_against_the_database():
    rep = RepFactory()
    render(CustomerFilterForm())  # options kept
    rep.delete()
    form = CustomerFilterForm(data={"owner": str(rep.pk)})
    assert not form.is_valid()
    assert "owner" in form.errors
