"""The stage, value and risk badges (template tags used by the list, the page and the dashboard)."""

import pytest
from django.template import Context, Template
from django.utils import translation

from customers.models import Customer


def render(source: str, **context) -> str:
    return Template("{% load retention_tags %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("stage", "css"),
    [("partner", "badge-stage-partner"), ("regular", "text-bg-success"), ("one_off", "text-bg-secondary")],
)
def test_a_stage_badge_is_coloured_by_stage(stage, css):
    customer = Customer(name="Acme", stage=stage)
    html = render("{% stage_badge customer %}", customer=customer)
    assert html == f'<span class="badge {css}">{customer.get_stage_display()}</span>'


def test_value_and_risk_badges_say_their_class_in_the_users_language():
    with translation.override("ru"):
        value = render("{% value_badge 'A' %}")
        none = render("{% value_badge '-' %}")
        risk = render("{% risk_badge 'high' label %}", label="<b>High</b>")
    assert 'class="badge text-bg-primary"' in value
    assert "value A" not in value
    assert "text-bg-light border" in none
    assert 'class="badge text-bg-danger"' in risk
    assert "&lt;b&gt;High&lt;/b&gt;" in risk  # labels are escaped
