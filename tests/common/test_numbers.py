"""format_number writes numbers exactly as Django's floatformat does, in every site language."""

import random
from decimal import Decimal

import pytest
from django.conf import settings
from django.template.defaultfilters import floatformat
from django.utils import translation

from common.numbers import format_number


def samples() -> list:
    rng = random.Random(20261124)
    values: list = [
        0, 1, -1, 0.5, 1.5, 2.5, -2.5, 0.005, 0.015, -0.004, 999.995, 1000, 1234567.891,
        Decimal("0.00"), Decimal("-0.00"), Decimal("12.345"), Decimal("-12.345"),
        Decimal("1E+5"), Decimal("1.5E+30"), Decimal("99999999999999.99"), Decimal("0.125"),
        float("inf"), float("nan"), "", None, "abc", 12.3456789e-7,
    ]
    for _ in range(300):
        digits = rng.randint(0, 12)
        cents = rng.randint(0, 10**digits)
        values.append(Decimal(cents).scaleb(-rng.randint(0, 4)) * rng.choice([1, -1]))
        values.append(rng.uniform(-1e6, 1e6))
        values.append(rng.random())
    return values


@pytest.mark.parametrize("language", [code for code, _name in settings.LANGUAGES])
@pytest.mark.parametrize("places", [0, 1, 2, 3])
@pytest.mark.parametrize("grouping", [False, True])
def test_the_same_text_as_floatformat(language, places, grouping):
    with translation.override(language):
        for value in samples():
            expected = floatformat(value, f"{places}g" if grouping else places)
            assert format_number(value, places, grouping=grouping) == expected, repr(value)


@pytest.mark.parametrize("language", [code for code, _name in settings.LANGUAGES])
def test_a_css_alpha_always_has_a_dot_and_rounds_as_floatformat(language):
    from common.templatetags.retention_tags import alpha

    with translation.override(language):
        assert [alpha(value) for value in (0.125, 0.5312, 0, 1, 1.7, -0.2, None, "x")] == [
            "0.13", "0.53", "0.00", "1.00", "1.00", "0.00", "0", "0",
        ]
        for value in samples()[:200]:
            if isinstance(value, (int, float, Decimal)) and 0 <= value <= 1:
                assert alpha(value) == str(floatformat(value, 2)).replace(",", ".")


def test_separators_follow_changed_format_settings(settings):
    with translation.override("en"):
        assert format_number(1234.5, 1, grouping=True) == "1,234.5"
        settings.THOUSAND_SEPARATOR = " "
        settings.FORMAT_MODULE_PATH = None
        assert format_number(1234.5, 1, grouping=True) == floatformat(1234.5, "1g")
