"""Small presentation filters shared by every app's templates."""

from django import template
from django.template.defaultfilters import floatformat

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
