"""Small presentation filters shared by every app's templates."""

from django import template
from django.template.defaultfilters import floatformat
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def percent(value, digits: int = 0) -> str:
    """0.1234 -> "12%" (or "12.3%" with digits=1), in the current locale; "—" when missing."""
    if value is None or value == "":
        return "—"
    try:
        return f"{floatformat(float(value) * 100, digits)}%"
    except (TypeError, ValueError):
        return "—"


# Badges of a customer's stage, value class and risk level. Tags rather than included templates:
# the customer list shows three per row, and an {% include %} costs far more than a format_html.

_STAGE_CLASSES = {"partner": "badge-stage-partner", "regular": "text-bg-success"}
_VALUE_CLASSES = {"A": "text-bg-primary", "B": "text-bg-info", "C": "text-bg-secondary"}
_RISK_CLASSES = {"high": "text-bg-danger", "medium": "text-bg-warning"}


@register.simple_tag
def stage_badge(customer) -> str:
    """The relationship stage (one-off, regular, partner) as a badge."""
    css = _STAGE_CLASSES.get(customer.stage, "text-bg-secondary")
    return format_html('<span class="badge {}">{}</span>', css, customer.get_stage_display())


@register.simple_tag
def value_badge(value_class) -> str:
    """The ABC value class as a badge ("-" is a customer without revenue)."""
    css = _VALUE_CLASSES.get(value_class, "text-bg-light border")
    if value_class == "-":
        text = _("no revenue")
    else:
        text = _("value %(value_class)s") % {"value_class": value_class}
    return format_html(
        '<span class="badge {}" title="{}">{}</span>', css, _("Value class"), text
    )


@register.simple_tag
def risk_badge(risk_level, label) -> str:
    """The risk level (low, medium, high) as a badge; `label` is the level in words."""
    css = _RISK_CLASSES.get(risk_level, "text-bg-success")
    return format_html(
        '<span class="badge {}" title="{}">{}</span>',
        css,
        _("Risk of leaving"),
        _("risk: %(label)s") % {"label": label},
    )
