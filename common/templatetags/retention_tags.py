"""Small presentation filters shared by every app's templates."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django import forms, template
from django.forms.utils import flatatt
from django.urls import get_script_prefix
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from common.forms import KeptModelChoiceField
from common.numbers import format_number

register = template.Library()


@register.filter
def percent(value, digits: int = 0) -> str:
    """0.1234 -> "12%" (or "12.3%" with digits=1), in the current locale; "—" when missing."""
    if value is None or value == "":
        return "—"
    try:
        return f"{format_number(float(value) * 100, int(digits))}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def amount(value, places: int = 0) -> str:
    """A sum of money or a count in the current locale, digits grouped: what floatformat:"2g"
    (for places=2) writes, several times faster (common.numbers)."""
    return format_number(value, int(places), grouping=True)


@register.filter
def alpha(value) -> str:
    """A share 0..1 as a CSS alpha value: always a dot, whatever the language ("0.53")."""
    try:
        share = min(max(Decimal(str(value)), Decimal(0)), Decimal(1))
    except (InvalidOperation, TypeError, ValueError):
        return "0"
    # As floatformat rounds; a negative zero ("-0.00") is written as zero.
    return str(share.copy_abs().quantize(Decimal("0.01"), ROUND_HALF_UP))


# Badges of a customer's stage, value class and risk level. Tags rather than included templates:
# the customer list shows three per row, and an {% include %} costs far more than a format_html.

_STAGE_CLASSES = {"partner": "badge-stage-partner", "regular": "text-bg-success"}
_VALUE_CLASSES = {"A": "text-bg-primary", "B": "text-bg-info", "C": "text-bg-secondary"}
_RISK_CLASSES = {"high": "text-bg-danger", "medium": "text-bg-warning"}


@register.simple_tag
def stage_badge(customer) -> str:
    """The relationship stage (one-off, regular, partner) as a badge."""
    return stage_badge_for(customer.stage, customer.get_stage_display())


def stage_badge_for(stage: str, label: str) -> str:
    """A stage badge from the stage's value and its label."""
    css = _STAGE_CLASSES.get(stage, "text-bg-secondary")
    return format_html('<span class="badge {}">{}</span>', css, label)


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


# Filter bars. A crispy field renders through a dozen nested templates (and a select's every
# option through one more); a list page's bar of ten fields cost more than its fifty rows. These
# few widget kinds are written here with the markup crispy's Bootstrap 5 pack gives them (same
# ids, names, classes and options; the error feedback is one block under the control, with the
# id the control's aria-describedby names); any other widget still goes through crispy.

_TEXT_INPUTS = (forms.TextInput, forms.NumberInput, forms.EmailInput, forms.DateInput)


_SELECTED = mark_safe(" selected")
_CHECKED = mark_safe(" checked")


def _errors(field) -> tuple[str, str]:
    """The control's invalid class and the feedback below it; its id is the one the control's
    aria-describedby names, so screen readers read the message with the field."""
    if not field.errors:
        return "", ""
    feedback = format_html(
        '<div id="{}_error" class="invalid-feedback d-block">{}</div>',
        field.auto_id,
        format_html_join(" ", "<strong>{}</strong>", ((error,) for error in field.errors)),
    )
    return " is-invalid", feedback


def _attrs(field, css: str) -> str:
    attrs = {**field.field.widget.attrs, **field.build_widget_attrs({})}
    attrs["class"] = " ".join(filter(None, [css, attrs.get("class", "")]))
    attrs["id"] = field.auto_id
    return flatatt({key: value for key, value in attrs.items() if value not in (None, False)})


def _choices(form_field) -> list:
    """A field's choices; a model choice field's read with one plain query (its own iterator
    uses .iterator(), which on PostgreSQL is a server-side cursor: three round trips and ~9 ms
    for a table of ten rows), or from the cache for a KeptModelChoiceField."""
    if isinstance(form_field, forms.ModelChoiceField):
        empty = [("", form_field.empty_label)] if form_field.empty_label is not None else []
        if isinstance(form_field, KeptModelChoiceField):
            return empty + form_field.kept_choices()
        return empty + [
            (form_field.prepare_value(instance), form_field.label_from_instance(instance))
            for instance in form_field.queryset
        ]
    return list(form_field.widget.choices)


def _options(field) -> SafeString | None:
    """The select's options, or None when its choices have groups (crispy renders those)."""
    selected = set(field.field.widget.format_value(field.value()))
    rows = []
    for value, label in _choices(field.field):
        if isinstance(label, list | tuple):
            return None
        value = "" if value is None else str(value)
        rows.append((value, _SELECTED if value in selected else "", label))
    return format_html_join("", '<option value="{}"{}>{}</option>', rows)


@register.simple_tag
def filter_field(field) -> str:
    """One field of a filter bar: label and control, as `{{ field|as_crispy_field }}` gives."""
    widget = field.field.widget
    invalid, feedback = _errors(field)
    help_text = format_html('<div class="form-text">{}</div>', field.help_text) if field.help_text else ""
    if isinstance(widget, forms.CheckboxInput):
        checked = _CHECKED if widget.check_test(field.value()) else ""
        return format_html(
            '<div class="mb-3"><div id="div_{}" class="form-check">'
            '<input type="checkbox" name="{}"{}{}>'
            '<label for="{}" class="form-check-label">{}</label>{}{}</div></div>',
            field.auto_id, field.html_name,
            _attrs(field, "checkboxinput form-check-input" + invalid),
            checked, field.auto_id, field.label, feedback, help_text,
        )
    label = format_html('<label for="{}" class="form-label">{}</label>', field.auto_id, field.label)
    if isinstance(widget, forms.Select) and not widget.allow_multiple_selected:
        options = _options(field)
        if options is not None:
            return format_html(
                '<div id="div_{}" class="mb-3">{}<select name="{}"{}>{}</select>{}{}</div>',
                field.auto_id, label, field.html_name,
                _attrs(field, "select form-select" + invalid),
                options, feedback, help_text,
            )
    elif isinstance(widget, _TEXT_INPUTS):
        value = widget.format_value(field.value())
        return format_html(
            '<div id="div_{}" class="mb-3">{}<input type="{}" name="{}"{}{}>{}{}</div>',
            field.auto_id, label, widget.input_type, field.html_name,
            format_html(' value="{}"', value) if value not in (None, "") else "",
            _attrs(field, f"{widget.input_type}input form-control" + invalid),
            feedback, help_text,
        )
    return as_crispy_field(field)


# The navigation bar depends on the user (name, roles, permissions, staff flag) and the language,
# and costs half a millisecond to render (a dozen reversed URLs), on every page. It is rendered
# once per user, grants generation (any change to the user, their groups or permissions makes a
# new one: common.grants) and language, and kept in this process; the two parts that change with
# every request, the CSRF token of its forms and the page the language switcher returns to, are
# slots filled in each time. Without a generation (no shared cache, or a user not read through
# it) the bar is rendered every time.
_NAVBARS: dict[tuple, str] = {}
_NAVBARS_KEPT = 1000
_CSRF_SLOT = "\x00csrf-token\x00"
_NEXT_SLOT = "\x00next-path\x00"


@register.simple_tag(takes_context=True)
def navbar(context) -> str:
    """includes/navbar.html for the request's user."""
    request = context.get("request")
    template = context.template.engine.get_template("includes/navbar.html")
    path = request.get_full_path() if request is not None else ""
    generation = getattr(getattr(request, "user", None), "_grants_generation", None)
    token = str(context.get("csrf_token") or "")
    if generation is None or not token or token == "NOTPROVIDED":  # noqa: S105 - Django's marker
        with context.push(language_next=path):
            return template.render(context)
    key = (request.user.pk, generation, get_language(), get_script_prefix())
    html = _NAVBARS.get(key)
    if html is None:
        with context.push(csrf_token=_CSRF_SLOT, language_next=_NEXT_SLOT):
            html = template.render(context)
        if len(_NAVBARS) >= _NAVBARS_KEPT:
            _NAVBARS.clear()
        _NAVBARS[key] = html
    return mark_safe(  # noqa: S308 - the kept markup was rendered (escaped) by the template
        html.replace(_CSRF_SLOT, escape(token)).replace(_NEXT_SLOT, escape(path))
    )
