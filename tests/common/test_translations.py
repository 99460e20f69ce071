"""The Russian catalogue: complete, faithful to its placeholders, compiled, and served.

The .po file is parsed with the standard library only (polib is not a runtime or test dependency), and the
committed .mo is read back with `gettext.GNUTranslations`, so a .po edited without `compilemessages` fails here
rather than silently showing English in production.
"""

import ast
import gettext
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import formats, translation

LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES"
PO_PATH = LOCALE_DIR / "django.po"
MO_PATH = LOCALE_DIR / "django.mo"

# %-style conversions as Python's `%` operator reads them, including `%(name).2f` and the `%%` escape.
PERCENT_PLACEHOLDER = re.compile(
    r"%(?:\([^)]+\))?[#0\- +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa%]"
)
# `{{ name }}` is literal text in some help texts (message template variables) and must survive translation.
TEMPLATE_VARIABLE = re.compile(r"\{\{\s*[\w.]+\s*\}\}")
HTML_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>")


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def forms(self) -> list[str]:
        if self.msgid_plural is None:
            return [self.msgstr]
        return [self.msgstr_plural[i] for i in sorted(self.msgstr_plural)]


def _unquote(text: str) -> str:
    # A .po string is a C string literal; Python's literal syntax reads the escapes gettext writes
    # (\n, \t, \", \\) the same way.
    return ast.literal_eval(text)


def parse_po(path: Path) -> tuple[dict[str, str], list[Entry]]:
    """Returns the header fields and the (non-obsolete) entries of a .po file."""
    entries: list[Entry] = []
    current = Entry()
    target: tuple[str, int | None] | None = None
    started = False

    def finish() -> None:
        nonlocal current, target, started
        if started:
            entries.append(current)
        current, target, started = Entry(), None, False

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue  # obsolete entries are not served
        if line.startswith("#,"):
            if started:
                finish()
            current.flags.update(flag.strip() for flag in line[2:].split(",") if flag.strip())
            continue
        if line.startswith("#"):
            if started and target is not None and target[0] == "msgstr":
                finish()
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            if target is None:
                raise AssertionError(f"{path}:{number}: a continuation line outside an entry")
            value = _unquote(line)
        else:
            match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
            if keyword in {"msgctxt", "msgid"} and target is not None and target[0] == "msgstr":
                finish()
            if not started:
                current.line = number
                started = True
            if match:
                target = ("msgstr", int(match.group(1)))
                current.msgstr_plural[target[1]] = ""
            elif keyword in {"msgctxt", "msgid", "msgid_plural", "msgstr"}:
                target = (keyword, None)
                if keyword in {"msgctxt", "msgid_plural"}:
                    setattr(current, keyword, "")
            else:
                raise AssertionError(f"{path}:{number}: unexpected line {raw!r}")
            value = _unquote(rest)
        name, index = target
        if index is not None:
            current.msgstr_plural[index] += value
        else:
            setattr(current, name, (getattr(current, name) or "") + value)
    finish()

    header_entries = [e for e in entries if e.msgid == "" and e.msgctxt is None]
    assert len(header_entries) == 1, "the catalogue must have exactly one header entry"
    header = header_entries[0]
    assert "fuzzy" not in header.flags, "the header is still marked fuzzy"
    fields = dict(line.split(": ", 1) for line in header.msgstr.splitlines() if ": " in line)
    return fields, [e for e in entries if e is not header]


@pytest.fixture(scope="module")
def catalogue() -> tuple[dict[str, str], list[Entry]]:
    return parse_po(PO_PATH)


def _label(entry: Entry) -> str:
    return f"django.po:{entry.line} {entry.msgid!r}"


def _percent_placeholders(text: str) -> tuple[set[str], list[str]]:
    """Named placeholders (order free) and positional ones (order and count matter)."""
    found = PERCENT_PLACEHOLDER.findall(text)
    named = {p for p in found if p.startswith("%(")}
    positional = [p for p in found if not p.startswith("%(")]
    return named, positional


def _markup(text: str) -> tuple[list[str], list[str]]:
    return sorted(TEMPLATE_VARIABLE.findall(text)), sorted(HTML_TAG.findall(text))


def test_the_header_is_russian_with_django_plural_rule(catalogue):
    header, _ = catalogue
    assert header["Language"] == "ru"
    assert "charset=UTF-8" in header["Content-Type"]
    assert header["Plural-Forms"].startswith("nplurals=4; plural=(n%10==1 && n%100!=11 ? 0")


def test_no_entry_is_fuzzy(catalogue):
    _, entries = catalogue
    fuzzy = [_label(e) for e in entries if "fuzzy" in e.flags]
    assert fuzzy == []


def test_every_entry_is_translated_in_every_plural_form(catalogue):
    header, entries = catalogue
    nplurals = int(re.match(r"nplurals=(\d+)", header["Plural-Forms"]).group(1))
    assert len(entries) > 500, "the catalogue looks truncated"
    untranslated = [_label(e) for e in entries if not all(form.strip() for form in e.forms)]
    wrong_form_count = [
        _label(e)
        for e in entries
        if e.msgid_plural is not None and len(e.msgstr_plural) != nplurals
    ]
    assert untranslated == []
    assert wrong_form_count == []


def test_translations_keep_the_placeholders_of_their_source(catalogue):
    _, entries = catalogue
    mismatches = []
    for entry in entries:
        sources = [entry.msgid] + ([entry.msgid_plural] if entry.msgid_plural is not None else [])
        wanted_named: set[str] = set()
        for source in sources:
            wanted_named |= _percent_placeholders(source)[0]
        wanted_positional = _percent_placeholders(sources[-1])[1]
        wanted_markup = _markup(sources[-1])
        for form in entry.forms:
            named, positional = _percent_placeholders(form)
            # Every Russian plural form needs the number: form 0 also serves 21, 31, ...
            if named != wanted_named or positional != wanted_positional:
                mismatches.append(f"{_label(entry)}: {form!r}")
            elif _markup(form) != wanted_markup:
                mismatches.append(f"{_label(entry)} (markup): {form!r}")
    assert mismatches == []


def test_compiled_catalogue_holds_exactly_the_po_translations(catalogue):
    """The committed .mo is what Django serves; it must not lag behind the .po."""
    _, entries = catalogue
    with MO_PATH.open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = []
    for entry in entries:
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            if compiled._catalog.get(key) != entry.msgstr:
                stale.append(_label(entry))
        else:
            for index, form in entry.msgstr_plural.items():
                if compiled._catalog.get((key, index)) != form:
                    stale.append(f"{_label(entry)}[{index}]")
    expected_keys = sum(1 if e.msgid_plural is None else len(e.msgstr_plural) for e in entries)
    compiled_keys = sum(1 for key in compiled._catalog if key != "")  # "" is the header
    assert stale == []
    assert compiled_keys == expected_keys, "the .mo holds entries the .po no longer has"


def test_django_serves_every_translation_in_russian(catalogue):
    _, entries = catalogue
    wrong = []
    with translation.override("ru"):
        for entry in entries:
            if entry.msgid_plural is None:
                served = (
                    translation.gettext(entry.msgid)
                    if entry.msgctxt is None
                    else translation.pgettext(entry.msgctxt, entry.msgid)
                )
                if served != entry.msgstr:
                    wrong.append(_label(entry))
            else:
                # 1 -> form 0, 3 -> form 1, 5 -> form 2 under the Russian plural rule.
                for count, index in ((1, 0), (3, 1), (5, 2), (21, 0), (12, 2)):
                    served = (
                        translation.ngettext(entry.msgid, entry.msgid_plural, count)
                        if entry.msgctxt is None
                        else translation.npgettext(
                            entry.msgctxt, entry.msgid, entry.msgid_plural, count
                        )
                    )
                    if served != entry.msgstr_plural[index]:
                        wrong.append(f"{_label(entry)} n={count}")
    assert wrong == []


def test_key_terms_read_as_a_russian_crm_does():
    with translation.override("ru"):
        assert translation.gettext("Customers") == "Клиенты"
        assert translation.gettext("My customers") == "Мои клиенты"
        assert translation.gettext("Call list") == "Список звонков"
        assert translation.gettext("Frequency cap") == "Лимит частоты"
        assert translation.gettext("RFM segment") == "Сегмент RFM"
        assert translation.gettext("Dormant customers") == "Спящие клиенты"
        assert translation.gettext("Risk of leaving") == "Риск ухода"
        assert (
            translation.ngettext(
                "%(count)d message cancelled.", "%(count)d messages cancelled.", 22
            )
            % {"count": 22}
            == "22 сообщения отменены."
        )


def test_numbers_and_dates_follow_the_russian_locale():
    import datetime

    with translation.override("ru"):
        assert (
            formats.number_format(Decimal("1234567.50"), 2, force_grouping=True)
            == "1\xa0234\xa0567,50"
        )
        assert formats.date_format(datetime.date(2025, 3, 14), "SHORT_DATE_FORMAT") == "14.03.2025"
        assert formats.date_format(datetime.date(2025, 3, 14)) == "14 марта 2025 г."


@pytest.mark.django_db
def test_a_rep_who_switches_to_russian_sees_the_pages_in_russian(client, rep):
    client.force_login(rep)
    client.post(reverse("set_language"), {"language": "ru", "next": "/"})

    home_response = client.get(reverse("home"), follow=True)
    customers_response = client.get(reverse("customers:list"))
    assert home_response.status_code == customers_response.status_code == 200
    home = home_response.content.decode()
    customers = customers_response.content.decode()

    assert '<html lang="ru">' in home
    assert "Мои клиенты" in home
    assert "Обзор" in home
    assert "Выйти" in home
    assert ">Overview<" not in home
    assert "Log out" not in home
    assert "Мои клиенты" in customers
    assert "Сбросить" in customers
    assert "My customers" not in customers


@pytest.mark.django_db
def test_a_manager_in_russian_sees_the_manager_menu_in_russian(client, manager):
    client.force_login(manager)
    client.post(reverse("set_language"), {"language": "ru", "next": "/"})

    # Managers start on the dashboard (home redirects there).
    response = client.get(reverse("home"), follow=True)
    body = response.content.decode()

    assert response.status_code == 200
    assert '<html lang="ru">' in body
    assert "Клиенты" in body
    assert "Сегментация" in body
    assert "Передать клиентов" in body
    assert "Segmentation" not in body
    assert "Reassign" not in body
