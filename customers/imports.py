"""Imports of customers and purchases from CSV files, as accounting systems such as 1C export them.

One path for the command line, the browser (through `ImportJob` and a task) and code:
`import_customers(...)` / `import_purchases(...)` read a file, validate every row and write the
good ones in batches; `run_import_job(job_id=...)` does the same for an uploaded file.

What a file may look like:

* UTF-8 (with or without a byte-order mark) or Windows-1251, detected; `,`, `;` or tab delimited,
  sniffed from the header line;
* columns named as we name them or as 1C and spreadsheets name them, in English or Russian (see
  `PURCHASE_COLUMNS` / `CUSTOMER_COLUMNS`), or mapped explicitly (`{"amount": "Sum, RUB"}`);
* amounts with a decimal comma or point and spaces / non-breaking spaces between thousands;
* dates as `dd.mm.yyyy`, `dd.mm.yyyy hh:mm[:ss]` or ISO 8601 with or without an offset; times
  without an offset are read in `settings.TIME_ZONE`.

Rules:

* Each row is all-or-nothing: a row with any error writes nothing and is reported as
  (row, column, value, message). Row numbers are those of the file: the header is row 1, so the
  first data row is 2 (a quoted cell spanning lines counts as one row).
* Importing the same file again changes nothing: purchases are matched on their external id
  (stored once), customers on theirs (changed fields are updated, the rest counted unchanged).
* An external id repeated inside one file with different data is an error for the later row.
* `customers.signals.purchases_recorded` is sent once per batch, inside the batch's transaction,
  with exactly the ids of the purchases that batch inserted.
* Set-based: a handful of queries per batch of rows, never one per row.

Empty cells never erase stored data: a re-import only sets what the file says.
"""

import csv
import functools
import io
import logging
import re
import secrets
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Lookup, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.audit import AuditAction, record_audit_event
from common.csv import write_rows
from common.enqueue import enqueue, enqueue_on_commit
from common.errors import DomainError

from .models import Customer, ImportJob, Purchase
from .selectors import reps_queryset
from .signals import purchases_recorded

logger = logging.getLogger(__name__)

# Rows written per transaction. Small enough that a batch's locks and memory stay bounded, progress
# moves visibly and a failure late in a big file keeps what was already imported (re-running the
# file then only adds the rest); large enough that the few queries per batch are negligible, while
# every `IN (...)` list stays far below SQLite's limit on query parameters.
BATCH_SIZE = 5000

# A batch that lost a race on a unique external id (another import or the API inserted the same
# purchase or customer meanwhile) is read and written again; the second pass sees the winner's rows.
WRITE_ATTEMPTS = 3

ERROR_REPORT_HEADER = ["row", "column", "value", "message"]

MAX_AMOUNT = Decimal(10) ** 12  # the amount column holds 14 digits, 2 of them after the point
CENT = Decimal("0.01")

ProgressCallback = Callable[[int, int], None]
Source = str | Path | IO[bytes]


class ImportFileError(DomainError):
    """The file as a whole cannot be imported (unreadable, not CSV, required columns missing)."""

    default_message = gettext_lazy("The file could not be read.")


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    message: str


@dataclass
class ImportResult:
    """What an import did; every data row is counted exactly once: created, updated, unchanged
    (already present) or in error."""

    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def error_rows(self) -> int:
        """How many rows had at least one error (a row may have several)."""
        return len({error.row for error in self.errors})


def write_error_report(*, errors: list[RowError], stream: IO[str]) -> None:
    """Writes errors as CSV (row, column, value, message), every cell safe from formula injection."""
    write_rows(
        stream,
        ERROR_REPORT_HEADER,
        ([error.row, error.column, error.value, error.message] for error in errors),
    )


def error_report_bytes(*, errors: list[RowError]) -> bytes:
    """The error report as UTF-8 with a byte-order mark, which spreadsheet programs need for Cyrillic."""
    stream = io.StringIO()
    write_error_report(errors=errors, stream=stream)
    return stream.getvalue().encode("utf-8-sig")


# --- columns ----------------------------------------------------------------------------------


def normalise_header(text: str) -> str:
    """A header cell reduced to lower-case words: "Код  контрагента:" -> "код контрагента"."""
    text = str(text).casefold().replace("ё", "е").replace("№", " номер ").replace("#", " номер ")
    return re.sub(r"[\W_]+", " ", text).strip()


@dataclass(frozen=True)
class Column:
    """A column we import, with the header names it goes by; earlier aliases win over later ones."""

    name: str
    aliases: tuple[str, ...]
    required: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalise_header(alias) for alias in (self.name, *self.aliases)))


PURCHASE_COLUMNS = (
    Column(
        "external_id",
        (
            "external id", "номер документа", "номер", "№ документа", "№", "номер чека",
            "номер заказа", "document", "document number", "document no", "doc no", "invoice",
            "invoice number", "receipt", "receipt number", "order number", "purchase id",
            "number", "id", "документ",
        ),
        required=True,
    ),
    Column(
        "customer",
        (
            "customer external id", "customer id", "client id", "customer code", "client code",
            "код контрагента", "контрагент код", "код клиента", "клиент код", "код покупателя",
            "покупатель код", "customer", "client", "контрагент", "покупатель", "клиент",
        ),
        required=True,
    ),
    Column(
        "occurred_at",
        (
            "дата", "дата документа", "дата и время", "дата продажи", "дата покупки", "период",
            "date", "datetime", "purchase date", "order date", "time", "время",
        ),
        required=True,
    ),
    Column(
        "amount",
        (
            "сумма", "сумма документа", "сумма руб", "сумма с ндс", "итого", "всего", "amount",
            "total", "sum",
        ),
        required=True,
    ),
    Column("currency", ("валюта", "валюта документа", "currency code", "cur")),
)

CUSTOMER_COLUMNS = (
    Column(
        "external_id",
        (
            "external id", "код", "код контрагента", "код клиента", "customer id", "client id",
            "customer code", "client code", "code", "id",
        ),
        required=True,
    ),
    Column(
        "name",
        (
            "наименование", "полное наименование", "фио", "название", "контрагент", "клиент",
            "покупатель", "имя", "full name", "customer name", "client name", "company",
            "customer", "client",
        ),
        required=True,
    ),
    Column(
        "kind",
        ("вид", "тип", "вид контрагента", "юр физ лицо", "юридическое физическое лицо", "type"),
    ),
    Column(
        "email",
        (
            "e mail", "эл почта", "электронная почта", "адрес электронной почты", "почта", "mail",
            "email address",
        ),
    ),
    Column(
        "phone",
        ("телефон", "тел", "мобильный телефон", "номер телефона", "phone number", "mobile", "tel"),
    ),
    Column("birthday", ("дата рождения", "день рождения", "date of birth", "birth date", "dob")),
    Column("language", ("язык", "lang", "preferred language")),
    Column("time_zone", ("timezone", "часовой пояс", "tz")),
    Column(
        "owner",
        (
            "owner rep", "rep", "account manager", "manager", "ответственный", "менеджер",
            "основной менеджер", "ответственный менеджер",
        ),
    ),
    Column("backup", ("backup rep", "резервный менеджер", "заместитель")),
    Column("stage", ("relationship stage", "стадия", "этап", "стадия отношений")),
    Column(
        "consent_email",
        ("email consent", "согласие на email", "согласие email", "согласие на e mail", "согласие на рассылку"),
    ),
    Column("consent_sms", ("sms consent", "согласие на sms", "согласие на смс", "согласие sms")),
    Column(
        "consent_phone",
        ("phone consent", "согласие на звонки", "согласие на звонок", "согласие телефон"),
    ),
    Column("consent_social", ("social consent", "согласие на соцсети", "согласие соцсети")),
    Column("notes", ("note", "comment", "comments", "комментарий", "примечание", "заметки")),
)


def resolve_columns(
    header: list[str], columns: tuple[Column, ...], mapping: dict[str, str] | None = None
) -> dict[str, int]:
    """Our column name -> its position in the file; explicit `mapping` ({ours: theirs}) first."""
    normalised = [normalise_header(cell) for cell in header]
    known = [column.name for column in columns]
    positions: dict[str, int] = {}
    for ours, theirs in (mapping or {}).items():
        if ours not in known:
            raise ImportFileError(
                _("Unknown column “%(name)s” in the mapping; the columns are: %(known)s.")
                % {"name": ours, "known": ", ".join(known)}
            )
        key = normalise_header(theirs)
        if key not in normalised:
            raise ImportFileError(
                _("The file has no column “%(header)s” to read %(name)s from.")
                % {"header": theirs, "name": ours}
            )
        positions[ours] = normalised.index(key)
    taken = set(positions.values())
    for column in columns:
        if column.name in positions:
            continue
        for key in column.keys:
            index = next(
                (i for i, cell in enumerate(normalised) if cell == key and i not in taken), None
            )
            if index is not None:
                positions[column.name] = index
                taken.add(index)
                break
    missing = [column.name for column in columns if column.required and column.name not in positions]
    if missing:
        raise ImportFileError(
            _(
                "Required columns are missing: %(missing)s. The file's columns are: %(found)s. "
                "Rename them or map them explicitly."
            )
            % {"missing": ", ".join(missing), "found": ", ".join(c for c in header if c) or "-"}
        )
    return positions


# --- reading the file -------------------------------------------------------------------------

_DELIMITERS = {
    ";": ";", "semicolon": ";", ",": ",", "comma": ",", "\t": "\t", "\\t": "\t", "tab": "\t",
}


@dataclass
class Table:
    """A CSV file read as strings: the header, and per data row its number and cells."""

    header: list[str]
    frame: pd.DataFrame  # data rows only, blank rows dropped, cells stripped; index = row number
    encoding: str
    delimiter: str
    overflowing_rows: set[int] = field(default_factory=set)

    @property
    def row_count(self) -> int:
        return len(self.frame)

    def header_of(self, position: int) -> str:
        return self.header[position] if position < len(self.header) else ""


def _read_bytes(source: Source) -> bytes:
    try:
        data = source.read() if hasattr(source, "read") else Path(source).read_bytes()
    except OSError as error:
        raise ImportFileError(
            _("The file could not be read: %(reason)s") % {"reason": error.strerror or error}
        ) from error
    if isinstance(data, str):
        data = data.encode("utf-8")
    return data


def _decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError as error:
            raise ImportFileError(
                _("Unknown encoding “%(encoding)s”.") % {"encoding": encoding}
            ) from error
        except UnicodeDecodeError as error:
            raise ImportFileError(
                _("The file is not in the %(encoding)s encoding.") % {"encoding": encoding}
            ) from error
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        # UTF-8 is strict enough that Windows-1251 text practically never passes as UTF-8.
        candidates = ["utf-8", "cp1251"]
    for candidate in candidates:
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise ImportFileError(_("The file is neither UTF-8 nor Windows-1251 text."))


def _sniff_delimiter(header_line: str) -> str:
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in (";", "\t", ",")}
    best = max(counts, key=counts.get)  # ties go to ";" then tab: 1C's and Excel's choices
    return best if counts[best] else ","


def read_table(
    source: Source, *, encoding: str | None = None, delimiter: str | None = None
) -> Table:
    """Reads a CSV file as strings with pandas; raises ImportFileError if it cannot be read at all."""
    text, used_encoding = _decode(_read_bytes(source), encoding)
    lines = text.splitlines()
    header_line = next((line for line in lines if line.strip()), None)
    if header_line is None:
        raise ImportFileError(_("The file is empty."))
    if delimiter:
        if delimiter not in _DELIMITERS:
            raise ImportFileError(
                _("Unknown delimiter “%(delimiter)s”; use ; , or tab.") % {"delimiter": delimiter}
            )
        delimiter = _DELIMITERS[delimiter]
    else:
        delimiter = _sniff_delimiter(header_line)
    if "\x00" in text:
        raise ImportFileError(
            _("This is not a text file (an Excel workbook?); save it as CSV and upload that.")
        )
    # Every row is read with room for as many cells as the widest row has, so a row with too many
    # cells is reported as that row's error instead of failing the whole file.
    try:
        width = max(len(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error:
        width = max(line.count(delimiter) for line in text.split("\n")) + 1
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            names=list(range(width)),
            index_col=False,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except (pd.errors.ParserError, ValueError) as error:
        raise ImportFileError(
            _("The file is not a readable CSV file: %(reason)s") % {"reason": error}
        ) from error
    frame = frame.fillna("").apply(lambda column: column.str.strip())
    non_blank = (frame != "").any(axis=1)
    if not non_blank.any():
        raise ImportFileError(_("The file is empty."))
    header_index = int(non_blank.to_numpy().argmax())
    header = frame.iloc[header_index].tolist()
    while header and not header[-1]:
        header.pop()
    data = frame.iloc[header_index + 1 :]
    data = data[non_blank.iloc[header_index + 1 :]]
    # Row numbers as the file shows them: the first line is row 1.
    data.index = data.index + 1
    overflowing = (data.iloc[:, len(header) :] != "").any(axis=1)
    return Table(
        header=header,
        frame=data,
        encoding=used_encoding,
        delimiter=delimiter,
        overflowing_rows=set(data.index[overflowing].tolist()),
    )


# --- cell parsers: each returns the value or raises ValueError with a message for the user ------

_DOTTED_MOMENT = re.compile(
    r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)
_THOUSANDS = re.compile(r"[\s\u00a0\u202f']")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_TRUE = {"1", "yes", "y", "true", "t", "on", "да", "д", "+", "x", "х", "✓"}
_FALSE = {"0", "no", "n", "false", "f", "off", "нет", "н", "-"}
_CURRENCY_ALIASES = {
    "руб": "RUB", "р": "RUB", "рубль": "RUB", "рубли": "RUB", "rur": "RUB", "₽": "RUB", "643": "RUB",
    "$": "USD", "долл": "USD", "доллар": "USD", "840": "USD",
    "€": "EUR", "евро": "EUR", "978": "EUR",
}
_KINDS = {
    Customer.Kind.COMPANY: {
        "company", "компания", "организация", "юрлицо", "юр лицо", "юридическое лицо",
        "legal entity", "business",
    },
    Customer.Kind.PERSON: {
        "person", "individual", "private person", "физлицо", "физ лицо", "физическое лицо",
        "частное лицо", "человек",
    },
}
_STAGES = {
    Customer.Stage.ONE_OFF: {"one off", "oneoff", "разовый", "разовая", "одноразовый"},
    Customer.Stage.REGULAR: {"regular", "постоянный", "постоянная", "регулярный"},
    Customer.Stage.PARTNER: {"partner", "партнер", "golden", "золотой"},
}
_LANGUAGES = {
    Customer.Language.EN: {"en", "eng", "english", "английский", "англ"},
    Customer.Language.RU: {"ru", "rus", "russian", "русский", "рус"},
}


def parse_amount(text: str) -> Decimal:
    """"1 234,50", "1234.5", "1.234,50" or "1,234.50" -> Decimal("1234.50"); >= 0, cents at most."""
    number = _THOUSANDS.sub("", text)
    if "," in number and "." in number:
        if number.rfind(",") > number.rfind("."):
            number = number.replace(".", "").replace(",", ".")
        else:
            number = number.replace(",", "")
    elif number.count(",") == 1:
        number = number.replace(",", ".")
    elif number.count(",") > 1:
        number = number.replace(",", "")
    elif number.count(".") > 1:
        number = number.replace(".", "")
    if not _PLAIN_NUMBER.fullmatch(number):
        raise ValueError(_("Not an amount; write it like 1234,50."))
    try:
        amount = Decimal(number)
    except InvalidOperation as error:  # pragma: no cover - the pattern above admits only numbers
        raise ValueError(_("Not an amount; write it like 1234,50.")) from error
    if amount < 0:
        raise ValueError(_("The amount must not be negative."))
    if amount != amount.quantize(CENT):
        raise ValueError(_("The amount has more than two decimal places."))
    if amount >= MAX_AMOUNT:
        raise ValueError(_("The amount is too large."))
    return amount.quantize(CENT)


def _naive_moment(text: str) -> datetime:
    match = _DOTTED_MOMENT.fullmatch(text)
    if match:
        day, month, year, hour, minute, second = match.groups()
        return datetime(  # noqa: DTZ001 - made aware by the caller, in settings.TIME_ZONE
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    return datetime.fromisoformat(text)


@functools.lru_cache(maxsize=65536)
def _moment(text: str, time_zone: str) -> datetime:
    # Exports repeat the same dates thousands of times; parsing each distinct text once is enough.
    moment = _naive_moment(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(time_zone))
    return moment


def parse_moment(text: str, *, time_zone: str | None = None) -> datetime:
    """dd.mm.yyyy[ hh:mm[:ss]] or ISO 8601 -> an aware datetime (naive ones in `time_zone`,
    by default settings.TIME_ZONE)."""
    try:
        moment = _moment(text, time_zone or settings.TIME_ZONE)
    except ValueError as error:
        raise ValueError(
            _("Not a date; write it as dd.mm.yyyy, dd.mm.yyyy hh:mm or yyyy-mm-dd.")
        ) from error
    if moment.year < 1900:
        raise ValueError(_("The date is too far in the past."))
    return moment


def parse_date(text: str) -> date:
    """dd.mm.yyyy or yyyy-mm-dd -> a date in the past."""
    try:
        value = _naive_moment(text)
    except ValueError as error:
        raise ValueError(_("Not a date; write it as dd.mm.yyyy or yyyy-mm-dd.")) from error
    if value.time() != datetime.min.time():
        raise ValueError(_("Write a date without a time."))
    if value.year < 1900 or value.date() > timezone.localdate():
        raise ValueError(_("The date must be in the past."))
    return value.date()


def parse_currency(text: str) -> str:
    key = text.casefold().rstrip(".")
    if key in _CURRENCY_ALIASES:
        return _CURRENCY_ALIASES[key]
    if re.fullmatch(r"[a-z]{3}", key):
        return key.upper()
    raise ValueError(_("Write the currency as a three-letter code such as RUB."))


def parse_bool(text: str) -> bool:
    key = text.casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(_("Write yes or no (or 1 / 0)."))


def _choice_parser(options: dict[str, set[str]], hint: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        key = normalise_header(text)
        for value, names in options.items():
            if key == normalise_header(value) or key in names:
                return value
        raise ValueError(hint)

    return parse


def _text_parser(max_length: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > max_length:
            raise ValueError(
                _("Longer than %(limit)s characters.") % {"limit": max_length}
            )
        return text

    return parse


def parse_email(text: str) -> str:
    try:
        validate_email(text)
    except ValidationError as error:
        raise ValueError(_("Not a valid e-mail address.")) from error
    return text


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_time_zone(text: str) -> str:
    if text not in _time_zones():
        raise ValueError(_("Not a time zone; write it like Europe/Moscow."))
    return text


# --- the import loop --------------------------------------------------------------------------


class _Rows:
    """A batch of rows: their numbers and, per imported column, the cells."""

    def __init__(self, table: Table, positions: dict[str, int], frame: pd.DataFrame) -> None:
        self.numbers: list[int] = frame.index.tolist()
        self.cells = {name: frame[position].tolist() for name, position in positions.items()}
        self.headers = {name: table.header_of(position) for name, position in positions.items()}


class _Collector:
    """Row errors of one batch, kept apart until the batch is written."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.errors: list[RowError] = []
        self.failed: set[int] = set()

    def add(self, row: int, column: str | None, value: str, message: str) -> None:
        header = self.headers.get(column, column or "") if column else ""
        self.errors.append(RowError(row=row, column=header, value=value, message=str(message)))
        self.failed.add(row)


def _batches(table: Table, positions: dict[str, int]) -> Iterator[_Rows]:
    for start in range(0, table.row_count, BATCH_SIZE):
        yield _Rows(table, positions, table.frame.iloc[start : start + BATCH_SIZE])


def _parse_cells(
    rows: _Rows,
    parsers: dict[str, Callable[[str], Any]],
    required: set[str],
    errors: _Collector,
    overflowing_rows: set[int],
) -> list[tuple[int, dict[str, Any]]]:
    """Parses every cell of the batch into (row number, {column: value}); failed cells are
    reported to `errors` and left out, so later checks can still report the row's other problems.

    Empty optional cells are left out of the values, so they neither set nor erase anything.
    """
    columns = [name for name in parsers if name in rows.cells]
    parsed: list[tuple[int, dict[str, Any]]] = []
    for index, row in enumerate(rows.numbers):
        values: dict[str, Any] = {}
        if row in overflowing_rows:
            errors.add(
                row, None, "",
                _("The row has more cells than the header; check the delimiter and quotes."),
            )
        for name in columns:
            text = rows.cells[name][index]
            if not text:
                if name in required:
                    errors.add(row, name, text, _("This value is required."))
                continue
            try:
                values[name] = parsers[name](text)
            except ValueError as error:
                errors.add(row, name, text, str(error))
        parsed.append((row, values))
    return parsed


class _AnyOf(Lookup):
    """`column = ANY(%s)`: the values travel as one array parameter (PostgreSQL)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection) -> tuple[str, list]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, list(self.rhs)]


def _with_external_ids(queryset: QuerySet, external_ids) -> QuerySet:
    """The rows whose external_id is one of `external_ids`.

    On PostgreSQL the ids go as one array parameter: as an `IN (...)` list of 5,000 parameters,
    psycopg splices each into the SQL text on the client, which measured 5x slower per batch.
    """
    external_ids = list(external_ids)
    if connections[queryset.db].vendor == "postgresql":
        return queryset.filter(_AnyOf(F("external_id"), external_ids))
    return queryset.filter(external_id__in=external_ids)


@dataclass
class _BatchOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    seen: dict[str, tuple[int, Any]] = field(default_factory=dict)  # id -> (row, its data)


def _write_with_retry(write: Callable[[], _BatchOutcome]) -> _BatchOutcome:
    """Runs a batch's transaction, again when it lost a race on a unique external id."""
    attempt = 1
    while True:
        try:
            return write()
        except IntegrityError:
            if attempt >= WRITE_ATTEMPTS:
                raise
            logger.info("import.batch_retry attempt=%s", attempt)
            attempt += 1


def _add_outcome(
    result: ImportResult, outcome: _BatchOutcome, parse_errors: _Collector, seen: dict
) -> None:
    seen.update(outcome.seen)
    result.created += outcome.created
    result.updated += outcome.updated
    result.unchanged += outcome.unchanged
    result.errors.extend(parse_errors.errors + outcome.errors)


def _sort_errors(result: ImportResult, table: Table) -> None:
    """Errors in file order: by row, then by the column's place in the header."""
    places = {header: place for place, header in reversed(list(enumerate(table.header)))}
    result.errors.sort(key=lambda error: (error.row, places.get(error.column, -1)))


def _report(result: ImportResult, on_progress: ProgressCallback | None, processed: int) -> None:
    if on_progress is not None:
        on_progress(processed, result.total_rows)


# --- purchases ------------------------------------------------------------------------------

def _purchase_moment_parser() -> Callable[[str], datetime]:
    """A purchase's time: as parse_moment, and not in the future (a day's slack for time zones)."""
    time_zone = settings.TIME_ZONE
    latest = timezone.now() + timedelta(days=1)

    def parse(text: str) -> datetime:
        moment = parse_moment(text, time_zone=time_zone)
        if moment > latest:
            raise ValueError(_("The date is in the future."))
        return moment

    return parse


def _purchase_parsers() -> dict[str, Callable[[str], Any]]:
    return {
        "external_id": _text_parser(100),
        "customer": _text_parser(100),
        "occurred_at": _purchase_moment_parser(),
        "amount": parse_amount,
        "currency": parse_currency,
    }


def import_purchases(
    *,
    source: Source,
    mapping: dict[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Imports the file's valid purchase rows once each; raises ImportFileError if it is unreadable.

    `on_progress(processed_rows, total_rows)` is called after each batch.
    """
    table = read_table(source, encoding=encoding, delimiter=delimiter)
    positions = resolve_columns(table.header, PURCHASE_COLUMNS, mapping)
    result = ImportResult(total_rows=table.row_count)
    _report(result, on_progress, 0)
    seen: dict[str, tuple[int, tuple]] = {}  # external id -> (first row, its data)
    parsers = _purchase_parsers()
    processed = 0
    for rows in _batches(table, positions):
        errors = _Collector(rows.headers)
        parsed = _parse_cells(
            rows, parsers, {"external_id", "customer", "occurred_at", "amount"},
            errors, table.overflowing_rows,
        )
        outcome = _write_with_retry(
            functools.partial(_write_purchase_batch, parsed, seen, errors)
        )
        _add_outcome(result, outcome, errors, seen)
        processed += len(rows.numbers)
        _report(result, on_progress, processed)
    _sort_errors(result, table)
    logger.info(
        "import.purchases rows=%s created=%s unchanged=%s error_rows=%s",
        result.total_rows, result.created, result.unchanged, result.error_rows,
    )
    return result


@transaction.atomic
def _write_purchase_batch(
    parsed: list[tuple[int, dict[str, Any]]],
    seen: dict[str, tuple[int, tuple]],
    parse_errors: _Collector,
) -> _BatchOutcome:
    """Inserts the batch's new purchases and announces exactly their ids; one transaction."""
    errors = _Collector(parse_errors.headers)
    references = {values["customer"] for _row, values in parsed if "customer" in values}
    customer_ids = dict(
        _with_external_ids(Customer.objects, references).values_list("external_id", "pk")
    )
    default_currency = settings.DEFAULT_CURRENCY.upper()
    ready: list[tuple[int, dict[str, Any]]] = []
    for row, values in parsed:
        customer_id = customer_ids.get(values.get("customer"))
        if "customer" in values and customer_id is None:
            errors.add(row, "customer", values["customer"], _("No customer with this id."))
        elif row not in parse_errors.failed:
            values["customer_id"] = customer_id
            values.setdefault("currency", default_currency)
            ready.append((row, values))
    stored = {
        external_id: (customer_id, amount, currency)
        for external_id, customer_id, amount, currency in _with_external_ids(
            Purchase.objects, [values["external_id"] for _row, values in ready]
        ).values_list("external_id", "customer_id", "amount", "currency")
    }
    batch_seen: dict[str, tuple[int, tuple]] = {}
    new: list[dict[str, Any]] = []
    unchanged = 0
    for row, values in ready:
        external_id = values["external_id"]
        data = (values["customer_id"], values["occurred_at"], values["amount"], values["currency"])
        earlier = batch_seen.get(external_id) or seen.get(external_id)
        if earlier is not None:
            if earlier[1] == data:
                unchanged += 1
            else:
                errors.add(
                    row, "external_id", external_id,
                    _("Row %(row)s already has this id with different data.") % {"row": earlier[0]},
                )
            continue
        if external_id in stored:
            # Same rule as record_purchase: the same purchase again is no change, another one under
            # the same id is refused. The time is not compared: an API may have recorded it to the
            # second while the export has the day only.
            if stored[external_id] != (values["customer_id"], values["amount"], values["currency"]):
                errors.add(
                    row, "external_id", external_id,
                    _("A different purchase with this id is already recorded."),
                )
                continue
            unchanged += 1
        else:
            new.append(
                {
                    "customer_id": values["customer_id"],
                    "occurred_at": values["occurred_at"],
                    "amount": values["amount"],
                    "currency": values["currency"],
                    "external_id": external_id,
                    "source": Purchase.Source.IMPORT,
                }
            )
        batch_seen[external_id] = (row, data)
    # No ignore_conflicts: the external ids were checked inside this transaction, so a conflict
    # means someone inserted one meanwhile; the IntegrityError sends the batch round again. That
    # keeps the inserted ids exact, which loyalty relies on when it accrues points on the signal.
    new_ids = _insert_purchases(new)
    if new_ids:
        purchases_recorded.send(sender=Purchase, purchase_ids=new_ids)
    return _BatchOutcome(
        created=len(new), unchanged=unchanged, errors=errors.errors, seen=batch_seen
    )


def _array_type(field, connection) -> str:
    db_type = field.db_type(connection)
    # A cast to varchar(n) would silently cut longer text; text assigned to the column is checked.
    return "text" if db_type.startswith("varchar") else db_type


def _insert_purchases(rows: list[dict[str, Any]]) -> list[int]:
    """Inserts purchases given as {attname: value}; returns the new ids.

    On PostgreSQL one `INSERT ... SELECT FROM unnest(arrays) RETURNING id` per batch: a column is
    one array parameter, where bulk_create prepares every cell in Python and psycopg then splices
    7 x 5,000 parameters into the SQL text (measured: about half the time of bulk_create, which was
    the largest cost of an import). Other databases use bulk_create.
    """
    if not rows:
        return []
    connection = connections[Purchase.objects.db]
    if connection.vendor != "postgresql":
        purchases = Purchase.objects.bulk_create([Purchase(**row) for row in rows])
        ids = [purchase.pk for purchase in purchases]
        if None in ids:  # a database that cannot return ids from a bulk insert
            ids = list(
                _with_external_ids(Purchase.objects, [row["external_id"] for row in rows])
                .values_list("pk", flat=True)
            )
        return ids
    fields = [field for field in Purchase._meta.concrete_fields if not field.primary_key]
    # Columns the import does not set take the model's default, evaluated once per batch.
    columns = [
        [row[field.attname] for row in rows]
        if field.attname in rows[0]
        else [field.get_default()] * len(rows)
        for field in fields
    ]
    quote = connection.ops.quote_name
    # Only names from the model's metadata go into the text; every value is a parameter.
    sql = "INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) RETURNING {pk}".format(  # noqa: S608
        table=quote(Purchase._meta.db_table),
        columns=", ".join(quote(field.column) for field in fields),
        arrays=", ".join(f"%s::{_array_type(field, connection)}[]" for field in fields),
        pk=quote(Purchase._meta.pk.column),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)
        return [pk for (pk,) in cursor.fetchall()]


# --- customers --------------------------------------------------------------------------------

_CUSTOMER_PARSERS: dict[str, Callable[[str], Any]] = {
    "external_id": _text_parser(100),
    "name": _text_parser(200),
    "kind": _choice_parser(_KINDS, gettext_lazy("Write company or person.")),
    "email": parse_email,
    "phone": _text_parser(40),
    "birthday": parse_date,
    "language": _choice_parser(_LANGUAGES, gettext_lazy("Write en or ru.")),
    "time_zone": parse_time_zone,
    "owner": _text_parser(254),
    "backup": _text_parser(254),
    "stage": _choice_parser(_STAGES, gettext_lazy("Write one-off, regular or partner.")),
    "consent_email": parse_bool,
    "consent_sms": parse_bool,
    "consent_phone": parse_bool,
    "consent_social": parse_bool,
    "notes": _text_parser(10000),
}


def _reps_by_reference(references: set[str]) -> dict[str, int | None]:
    """Lower-cased username or e-mail -> the active rep's id (None when it names two reps)."""
    lowered = {reference.casefold() for reference in references}
    if not lowered:
        return {}
    found: dict[str, int | None] = {}
    reps = (
        reps_queryset()
        .annotate(username_key=Lower("username"), email_key=Lower("email"))
        .filter(Q(username_key__in=lowered) | Q(email_key__in=lowered))
        .values_list("pk", "username_key", "email_key")
    )
    for pk, username_key, email_key in reps:
        for key in {username_key, email_key} & lowered:
            found[key] = pk if found.get(key, pk) == pk else None
    return found


def import_customers(
    *,
    source: Source,
    mapping: dict[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Creates new customers and updates changed ones, matched on external id; raises
    ImportFileError if the file is unreadable.

    `on_progress(processed_rows, total_rows)` is called after each batch.
    """
    table = read_table(source, encoding=encoding, delimiter=delimiter)
    positions = resolve_columns(table.header, CUSTOMER_COLUMNS, mapping)
    result = ImportResult(total_rows=table.row_count)
    _report(result, on_progress, 0)
    seen: dict[str, tuple[int, dict]] = {}
    processed = 0
    for rows in _batches(table, positions):
        errors = _Collector(rows.headers)
        parsed = _parse_cells(
            rows, _CUSTOMER_PARSERS, {"external_id", "name"}, errors, table.overflowing_rows
        )
        reps = _reps_by_reference(
            {values[name] for _row, values in parsed for name in ("owner", "backup") if name in values}
        )
        for row, values in parsed:
            for name in ("owner", "backup"):
                if name not in values:
                    continue
                rep_id = reps.get(values[name].casefold(), 0)
                if not rep_id:
                    message = (
                        _("Two reps go by this name; use the username.")
                        if rep_id is None
                        else _("No active rep with this username or e-mail.")
                    )
                    errors.add(row, name, values[name], message)
                    continue
                values[f"{name}_id"] = rep_id
                del values[name]
        valid = [(row, values) for row, values in parsed if row not in errors.failed]
        outcome = _write_with_retry(
            functools.partial(_write_customer_batch, valid, seen, errors)
        )
        _add_outcome(result, outcome, errors, seen)
        processed += len(rows.numbers)
        _report(result, on_progress, processed)
    _sort_errors(result, table)
    logger.info(
        "import.customers rows=%s created=%s updated=%s unchanged=%s error_rows=%s",
        result.total_rows, result.created, result.updated, result.unchanged, result.error_rows,
    )
    return result


@transaction.atomic
def _write_customer_batch(
    valid: list[tuple[int, dict[str, Any]]],
    seen: dict[str, tuple[int, dict]],
    parse_errors: _Collector,
) -> _BatchOutcome:
    """Creates the batch's new customers and updates the changed ones; one transaction."""
    errors = _Collector(parse_errors.headers)
    # Locked so that two imports updating the same customers cannot lose each other's changes.
    stored = {
        customer.external_id: customer
        for customer in _with_external_ids(
            Customer.objects.select_for_update(),
            [values["external_id"] for _row, values in valid],
        )
    }
    batch_seen: dict[str, tuple[int, dict]] = {}
    new: list[Customer] = []
    changed: list[Customer] = []
    changed_fields: set[str] = set()
    unchanged = 0
    for row, values in valid:
        external_id = values["external_id"]
        earlier = batch_seen.get(external_id) or seen.get(external_id)
        if earlier is not None:
            if earlier[1] == values:
                unchanged += 1
            else:
                errors.add(
                    row, "external_id", external_id,
                    _("Row %(row)s already has this id with different data.") % {"row": earlier[0]},
                )
            continue
        current = stored.get(external_id)
        owner_id = values.get("owner_id", current.owner_id if current else None)
        backup_id = values.get("backup_id", current.backup_id if current else None)
        if owner_id is not None and owner_id == backup_id:
            column = "backup" if "backup_id" in values else "owner"
            errors.add(row, column, "", _("The backup rep must be someone other than the owner."))
            continue
        batch_seen[external_id] = (row, values)
        if current is None:
            new.append(Customer(**values))
            continue
        differences = {
            name: value for name, value in values.items() if getattr(current, name) != value
        }
        if not differences:
            unchanged += 1
            continue
        for name, value in differences.items():
            setattr(current, name, value)
        changed.append(current)
        changed_fields.update(differences)
    # No ignore_conflicts: a customer created meanwhile under the same id raises IntegrityError and
    # the batch is read again, so it is updated instead of silently skipped.
    Customer.objects.bulk_create(new)
    if changed:
        Customer.objects.bulk_update(changed, sorted(changed_fields), batch_size=1000)
    return _BatchOutcome(
        created=len(new),
        updated=len(changed),
        unchanged=unchanged,
        errors=errors.errors,
        seen=batch_seen,
    )


# --- jobs -------------------------------------------------------------------------------------

IMPORTERS: dict[str, Callable[..., ImportResult]] = {
    ImportJob.Kind.CUSTOMERS: import_customers,
    ImportJob.Kind.PURCHASES: import_purchases,
}


@transaction.atomic
def create_import_job(*, kind: str, upload: Any, by: Any) -> ImportJob:
    """Stores the uploaded file as a pending job and runs it in a task once the job is committed."""
    from .tasks import run_import_job_task  # the task module imports this one

    job = ImportJob.objects.create(
        kind=kind, file=upload, original_name=Path(upload.name).name[:255], created_by=by
    )
    enqueue_on_commit(run_import_job_task, job_id=job.pk)
    logger.info("import.job_created id=%s kind=%s by=%s", job.pk, kind, getattr(by, "pk", None))
    return job


def run_import_job(*, job_id: int) -> ImportJob | None:
    """Runs a pending job to done or failed; returns None when it was not pending (run it once).

    Claiming is a conditional update, so of two workers given the same job only one runs it. An
    unexpected error marks the job failed with the reason and is logged, not raised: the job row is
    what people look at, and the rows of batches already written stay (importing again adds the rest).
    """
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.PENDING).update(
        status=ImportJob.Status.RUNNING, started_at=now, processed_rows=0, failure=""
    )
    if not claimed:
        logger.info("import.job_not_pending id=%s", job_id)
        return None
    job = ImportJob.objects.get(pk=job_id)
    record_audit_event(
        action=AuditAction.IMPORT_STARTED, actor=job.created_by, obj=job, details={"kind": job.kind}
    )
    running = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING)

    def on_progress(processed: int, total: int) -> None:
        running.update(processed_rows=processed, total_rows=total)

    try:
        with job.file.open("rb") as stream:
            result = IMPORTERS[job.kind](source=stream, on_progress=on_progress)
    except ImportFileError as error:
        running.update(
            status=ImportJob.Status.FAILED, failure=error.message, finished_at=timezone.now()
        )
        logger.info("import.job_unreadable id=%s", job_id)
    except Exception as error:
        # Whatever went wrong, the job must not stay "running" forever.
        running.update(
            status=ImportJob.Status.FAILED,
            failure=_("The import stopped unexpectedly (%(error)s). Rows imported before stay; "
                      "importing the file again adds the rest.")
            % {"error": f"{type(error).__name__}: {error}"[:500]},
            finished_at=timezone.now(),
        )
        logger.exception("import.job_failed id=%s", job_id)
    else:
        report_name = ""
        if result.errors:
            # A random part keeps report names unguessable, should media files ever be served.
            job.error_report.save(
                f"import-{job.pk}-{secrets.token_hex(8)}-errors.csv",
                ContentFile(error_report_bytes(errors=result.errors)),
                save=False,
            )
            report_name = job.error_report.name
        running.update(
            status=ImportJob.Status.DONE,
            total_rows=result.total_rows,
            processed_rows=result.total_rows,
            created_count=result.created,
            updated_count=result.updated,
            unchanged_count=result.unchanged,
            error_count=result.error_rows,
            error_report=report_name,
            finished_at=timezone.now(),
        )
        logger.info(
            "import.job_done id=%s rows=%s created=%s error_rows=%s",
            job_id, result.total_rows, result.created, result.error_rows,
        )
    job.refresh_from_db()
    record_audit_event(
        action=AuditAction.IMPORT_FINISHED,
        actor=job.created_by,
        obj=job,
        details={
            "kind": job.kind,
            "status": job.status,
            "rows": job.total_rows,
            "created": job.created_count,
            "updated": job.updated_count,
            "error_rows": job.error_count,
        },
    )
    return job


# --- reads for the import pages -----------------------------------------------------------------


def recent_import_jobs(*, limit: int = 20) -> QuerySet[ImportJob]:
    """The latest imports, newest first, with who started them."""
    return ImportJob.objects.select_related("created_by").order_by("-created_at", "-id")[:limit]


def first_errors_of(*, job: ImportJob, limit: int = 20) -> list[RowError]:
    """The first `limit` errors from a job's error report (empty when it has none)."""
    if not job.error_report:
        return []
    errors: list[RowError] = []
    with job.error_report.open("rb") as stream:
        reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig"))
        next(reader, None)
        for row, column, value, message in reader:
            errors.append(RowError(row=int(row), column=column, value=value, message=message))
            if len(errors) >= limit:
                break
    return errors


# A pending job this old was never picked up (its message was lost with a broker outage).
PENDING_GRACE = timedelta(minutes=2)


def sweep_import_jobs(*, now: datetime | None = None) -> dict:
    """Puts lost import jobs back in the queue; safe because an import of the same file twice
    creates nothing new.

    A job still "running" after the hard task time limit was killed with its worker (the limit
    guarantees no live task runs that long), so it goes back to pending too.
    """
    from .tasks import run_import_job_task  # the task module imports this one

    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    revived = ImportJob.objects.filter(
        status=ImportJob.Status.RUNNING, started_at__lt=stale
    ).update(status=ImportJob.Status.PENDING)
    lost = list(
        ImportJob.objects.filter(
            status=ImportJob.Status.PENDING, created_at__lt=now - PENDING_GRACE
        ).values_list("pk", flat=True)
    )
    sent = sum(enqueue(run_import_job_task, job_id=job_id) for job_id in lost)
    if lost:
        logger.info("import.swept revived=%s pending=%s enqueued=%s", revived, len(lost), sent)
    return {"revived": revived, "pending": len(lost), "enqueued": sent}
