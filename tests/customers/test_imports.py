import csv
import io
import threading
import zoneinfo
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import imports
from customers.imports import ImportFileError, import_customers, import_purchases
from customers.models import Customer, ImportJob, Purchase
from customers.signals import purchases_recorded
from tests.factories import CustomerFactory, ManagerFactory, PurchaseFactory, RepFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")


def csv_bytes(*lines: str, encoding: str = "utf-8", newline: str = "\n") -> io.BytesIO:
    return io.BytesIO(newline.join(lines).encode(encoding))


@pytest.fixture
def recorded():
    """Every purchase id announced on purchases_recorded, one list per signal."""
    calls: list[list[int]] = []

    def receiver(sender, purchase_ids, **kwargs):
        assert connection.in_atomic_block, "the signal must be sent inside the insert's transaction"
        calls.append(list(purchase_ids))

    purchases_recorded.connect(receiver)
    yield calls
    purchases_recorded.disconnect(receiver)


@pytest.fixture
def buyers():
    return {
        "К-001": CustomerFactory(external_id="К-001", name="ООО Ромашка"),
        "К-002": CustomerFactory(external_id="К-002", name="ИП Петров"),
    }


def errors_by_row(result) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for error in result.errors:
        found.setdefault(error.row, []).append((error.column, error.message))
    return found


# --- the "done when" scenario ---------------------------------------------------------------------


def test_1c_windows_1251_file_imports_good_rows_reports_bad_ones_and_a_second_import_adds_nothing(
    buyers, recorded
):
    path = DATA / "purchases_1c_cp1251.csv"
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really Windows-1251

    first = import_purchases(source=path)

    assert (first.total_rows, first.created, first.unchanged, first.error_rows) == (8, 4, 0, 4)
    assert errors_by_row(first) == {
        4: [("Дата", "Not a date; write it as dd.mm.yyyy, dd.mm.yyyy hh:mm or yyyy-mm-dd.")],
        5: [("Код контрагента", "No customer with this id.")],
        6: [("Сумма", "The amount must not be negative.")],
        8: [("Сумма", "The amount has more than two decimal places.")],
    }
    stored = {
        purchase.external_id: purchase
        for purchase in Purchase.objects.select_related("customer")
    }
    assert sorted(stored) == ["РТ-000001", "РТ-000002", "РТ-000006", "РТ-000008"]
    assert stored["РТ-000001"].amount == Decimal("1234.50")
    assert stored["РТ-000001"].currency == "RUB"
    assert stored["РТ-000001"].customer == buyers["К-001"]
    assert stored["РТ-000001"].occurred_at == datetime(2024, 3, 15, tzinfo=MOSCOW)
    assert stored["РТ-000002"].occurred_at == datetime(2024, 3, 16, 14, 30, tzinfo=MOSCOW)
    assert stored["РТ-000006"].amount == Decimal("12000.00")
    assert stored["РТ-000008"].amount == Decimal("0.50")
    assert stored["РТ-000008"].currency == "RUB"  # empty cell: the default currency
    assert {p.source for p in stored.values()} == {Purchase.Source.IMPORT}
    assert len(recorded) == 1
    assert sorted(recorded[0]) == sorted(purchase.pk for purchase in stored.values())

    second = import_purchases(source=path)

    assert (second.created, second.unchanged, second.error_rows) == (0, 4, 4)
    assert Purchase.objects.count() == 4
    assert len(recorded) == 1  # nothing new, nothing announced


# --- reading files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("cp1251", b""), ("utf-16", b"")],
)
def test_file_encoding_is_detected(buyers, encoding, prefix):
    text = "Номер;Дата;Контрагент код;Сумма\nЧ-1;01.02.2024;К-001;10,00\n"
    source = io.BytesIO(prefix + text.encode(encoding))

    result = import_purchases(source=source)

    assert (result.created, result.errors) == (1, [])


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed_from_the_header(buyers, delimiter):
    amount = '"10,50"' if delimiter == "," else "10,50"
    line = delimiter.join(["Ч-1", "2024-02-01", "К-001", amount])
    source = csv_bytes(delimiter.join(["id", "date", "customer_id", "amount"]), line)

    result = import_purchases(source=source)

    assert result.errors == []
    assert Purchase.objects.get().amount == Decimal("10.50")


def test_explicit_encoding_and_delimiter_win_over_detection(buyers):
    source = csv_bytes("id|date|customer_id|amount", "Ч-1|01.02.2024|К-001|5", encoding="cp1251")
    source = io.BytesIO(source.getvalue().replace(b"|", b";"))

    result = import_purchases(source=source, encoding="cp1251", delimiter="semicolon")

    assert result.created == 1


def test_wrong_explicit_encoding_fails_the_file(buyers):
    source = csv_bytes("id;date;customer_id;amount", "Ч-1;01.02.2024;К-001;5", encoding="cp1251")
    with pytest.raises(ImportFileError, match="utf-8"):
        import_purchases(source=source, encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"PK\x03\x04\x00\x00binary", "not a text file"),
        ("сумма;дата\n1;2\n".encode(), "Required columns are missing: external_id, customer"),
    ],
)
def test_a_file_that_cannot_be_read_raises_import_file_error(content, message):
    with pytest.raises(ImportFileError, match=message):
        import_purchases(source=io.BytesIO(content))


def test_a_missing_path_raises_import_file_error(tmp_path):
    with pytest.raises(ImportFileError, match="could not be read"):
        import_purchases(source=tmp_path / "absent.csv")


def test_row_numbers_count_the_header_and_blank_lines_as_in_the_file(buyers):
    source = csv_bytes(
        "id;date;customer_id;amount",  # row 1
        "A;01.02.2024;К-001;1",  # 2
        "",  # 3, blank: skipped, not counted
        "B;01.02.2024;К-001;x",  # 4
        "C;01.02.2024;К-001;1;extra",  # 5
        "D;01.02.2024;;1",  # 6
    )

    result = import_purchases(source=source)

    assert result.total_rows == 4
    assert errors_by_row(result) == {
        4: [("amount", "Not an amount; write it like 1234,50.")],
        5: [("", "The row has more cells than the header; check the delimiter and quotes.")],
        6: [("customer_id", "This value is required.")],
    }
    assert list(Purchase.objects.values_list("external_id", flat=True)) == ["A"]


def test_a_row_with_several_errors_reports_each_and_writes_nothing(buyers):
    source = csv_bytes("id;date;customer_id;amount;currency", "A;32.01.2024;К-404;-1;рубли!")

    result = import_purchases(source=source)

    assert [column for column, _message in errors_by_row(result)[2]] == [
        "date", "customer_id", "amount", "currency",
    ]
    assert result.error_rows == 1
    assert Purchase.objects.count() == 0


# --- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234,56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("1\u00a0234,5", "1234.50"),
        ("1\u202f234\u202f567,00", "1234567.00"),
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1,234,567", "1234567.00"),
        ("12", "12.00"),
        ("0,00", "0.00"),
        ("10.500", "10.50"),
    ],
)
def test_amounts_read_decimal_commas_and_thousands_separators(text, expected):
    assert imports.parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1,00", "negative"),
        ("10,555", "two decimal places"),
        ("1,234", "two decimal places"),  # a decimal comma, never silently a thousands comma
        ("abc", "Not an amount"),
        ("1e5", "Not an amount"),
        ("NaN", "Not an amount"),
        ("1000000000000", "too large"),
    ],
)
def test_bad_amounts_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        imports.parse_amount(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15.03.2024", datetime(2024, 3, 15, tzinfo=MOSCOW)),
        ("5.3.2024", datetime(2024, 3, 5, tzinfo=MOSCOW)),
        ("15.03.2024 9:05", datetime(2024, 3, 15, 9, 5, tzinfo=MOSCOW)),
        ("15.03.2024 10:30:15", datetime(2024, 3, 15, 10, 30, 15, tzinfo=MOSCOW)),
        ("2024-03-15", datetime(2024, 3, 15, tzinfo=MOSCOW)),
        ("2024-03-15T10:30", datetime(2024, 3, 15, 10, 30, tzinfo=MOSCOW)),
        ("2024-03-15 10:30:00+00:00", datetime(2024, 3, 15, 13, 30, tzinfo=MOSCOW)),
        ("2024-03-15T10:30:00Z", datetime(2024, 3, 15, 13, 30, tzinfo=MOSCOW)),
    ],
)
def test_dates_read_dotted_and_iso_forms(text, expected):
    moment = imports.parse_moment(text)
    assert moment.tzinfo is not None
    assert moment == expected


def test_naive_times_are_read_in_the_configured_time_zone(settings):
    settings.TIME_ZONE = "Asia/Vladivostok"
    assert imports.parse_moment("15.03.2024 10:00") == datetime(
        2024, 3, 15, 10, tzinfo=zoneinfo.ZoneInfo("Asia/Vladivostok")
    )


@pytest.mark.parametrize("text", ["31.02.2024", "2024-13-01", "15/03/2024", "вчера", "15.03.24"])
def test_bad_dates_are_refused(text):
    with pytest.raises(ValueError, match="Not a date"):
        imports.parse_moment(text)


def test_a_purchase_in_the_future_is_refused(buyers):
    source = csv_bytes("id;date;customer_id;amount", "A;01.01.2999;К-001;1")
    result = import_purchases(source=source)
    assert errors_by_row(result) == {2: [("date", "The date is in the future.")]}


@pytest.mark.parametrize(
    ("text", "expected"), [("руб.", "RUB"), ("RUR", "RUB"), ("usd", "USD"), ("€", "EUR")]
)
def test_currencies_are_read_as_iso_codes(text, expected):
    assert imports.parse_currency(text) == expected


# --- columns --------------------------------------------------------------------------------------


def test_purchase_headers_are_recognised_in_russian_and_english(buyers):
    russian = csv_bytes("№;Дата документа;Контрагент (код);Сумма, руб.", "1;01.02.2024;К-001;1")
    english = csv_bytes("Document number,Date,Client ID,Total,Currency", "2,2024-02-01,К-002,2,usd")

    assert import_purchases(source=russian).created == 1
    assert import_purchases(source=english).created == 1
    assert Purchase.objects.get(external_id="2").currency == "USD"


def test_a_customer_code_column_wins_over_a_customer_name_column(buyers):
    source = csv_bytes(
        "Номер;Дата;Контрагент;Код контрагента;Сумма",
        "1;01.02.2024;ООО Ромашка;К-001;1",
    )
    result = import_purchases(source=source)
    assert result.errors == []
    assert Purchase.objects.get().customer == buyers["К-001"]


def test_no_alias_names_two_columns_of_one_import():
    for columns in (imports.PURCHASE_COLUMNS, imports.CUSTOMER_COLUMNS):
        keys = [key for column in columns for key in column.keys]
        assert len(keys) == len(set(keys))


def test_explicit_mapping_reads_differently_named_columns(buyers):
    source = csv_bytes("Чек;Когда;Кто;Сколько", "A;01.02.2024;К-001;3,5")

    result = import_purchases(
        source=source,
        mapping={"external_id": "Чек", "occurred_at": "когда", "customer": "Кто", "amount": "Сколько"},
    )

    assert result.errors == []
    assert Purchase.objects.get().amount == Decimal("3.50")


def test_explicit_mapping_wins_over_an_alias(buyers):
    source = csv_bytes("id;date;customer_id;amount;amount_net", "A;01.02.2024;К-001;12;10")
    import_purchases(source=source, mapping={"amount": "amount_net"})
    assert Purchase.objects.get().amount == Decimal("10.00")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [({"price": "amount"}, "Unknown column"), ({"amount": "Absent"}, "no column")],
)
def test_a_bad_mapping_fails_the_file(buyers, mapping, message):
    source = csv_bytes("id;date;customer_id;amount", "A;01.02.2024;К-001;1")
    with pytest.raises(ImportFileError, match=message):
        import_purchases(source=source, mapping=mapping)


# --- purchases: duplicates and idempotence --------------------------------------------------------


def test_an_id_repeated_in_the_file_with_other_data_is_an_error_for_the_later_row(buyers):
    source = csv_bytes(
        "id;date;customer_id;amount",
        "A;01.02.2024;К-001;10",
        "A;01.02.2024;К-001;10,00",  # the same purchase again
        "A;01.02.2024;К-001;11",
    )

    result = import_purchases(source=source)

    assert (result.created, result.unchanged) == (1, 1)
    assert errors_by_row(result) == {4: [("id", "Row 2 already has this id with different data.")]}
    assert Purchase.objects.get().amount == Decimal("10.00")


def test_an_id_repeated_in_a_later_batch_is_caught_too(buyers, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    source = csv_bytes(
        "id;date;customer_id;amount",
        "A;01.02.2024;К-001;10",
        "B;01.02.2024;К-001;10",
        "C;01.02.2024;К-001;10",
        "A;01.02.2024;К-002;10",
    )
    result = import_purchases(source=source)
    assert result.created == 3
    assert errors_by_row(result) == {5: [("id", "Row 2 already has this id with different data.")]}


def test_a_different_purchase_under_a_stored_id_is_an_error(buyers):
    PurchaseFactory(customer=buyers["К-001"], external_id="A", amount=Decimal("10"))
    source = csv_bytes("id;date;customer_id;amount", "A;01.02.2024;К-001;99")

    result = import_purchases(source=source)

    assert errors_by_row(result) == {
        2: [("id", "A different purchase with this id is already recorded.")]
    }
    assert Purchase.objects.get().amount == Decimal("10.00")


def test_a_refused_row_repeated_in_the_file_is_refused_again(buyers):
    PurchaseFactory(customer=buyers["К-001"], external_id="A", amount=Decimal("10"))
    source = csv_bytes("id;date;customer_id;amount", "A;01.02.2024;К-001;99", "A;01.02.2024;К-001;99")

    result = import_purchases(source=source)

    assert sorted(errors_by_row(result)) == [2, 3]
    assert result.unchanged == 0


def test_signal_carries_exactly_the_newly_inserted_ids(buyers, recorded):
    old = PurchaseFactory(
        customer=buyers["К-001"], external_id="OLD", amount=Decimal("10"), currency="RUB"
    )
    source = csv_bytes(
        "id;date;customer_id;amount",
        "OLD;01.02.2024;К-001;10",
        "NEW-1;01.02.2024;К-001;10",
        "NEW-2;01.02.2024;К-002;20",
    )

    result = import_purchases(source=source)

    new_ids = set(Purchase.objects.exclude(pk=old.pk).values_list("pk", flat=True))
    assert (result.created, result.unchanged) == (2, 1)
    assert len(recorded) == 1
    assert sorted(recorded[0]) == sorted(new_ids)


def test_signal_is_sent_once_per_batch(buyers, recorded, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    lines = [f"P{n};01.02.2024;К-001;1" for n in range(5)]
    import_purchases(source=csv_bytes("id;date;customer_id;amount", *lines))
    assert [len(ids) for ids in recorded] == [2, 2, 1]
    assert sorted(pk for ids in recorded for pk in ids) == sorted(Purchase.objects.values_list("pk", flat=True))


def test_queries_per_batch_do_not_grow_with_rows(buyers, monkeypatch):
    monkeypatch.setattr(purchases_recorded, "receivers", [])  # only the import's own queries

    def queries_for(rows: int) -> list[str]:
        lines = [f"P{rows}-{n};01.02.2024;К-00{1 + n % 2};{n},50" for n in range(rows)]
        with CaptureQueriesContext(connection) as context:
            result = import_purchases(source=csv_bytes("id;date;customer_id;amount", *lines))
        assert result.created == rows
        return [query["sql"].split()[0] for query in context.captured_queries]

    small, large = queries_for(50), queries_for(1000)

    assert [sql for sql in small if sql != "INSERT"] == [sql for sql in large if sql != "INSERT"]
    assert large.count("INSERT") <= 1000 // 100  # SQLite caps parameters per statement


def test_progress_is_reported_after_each_batch(buyers, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    calls = []
    lines = [f"P{n};01.02.2024;К-001;1" for n in range(5)]
    import_purchases(
        source=csv_bytes("id;date;customer_id;amount", *lines),
        on_progress=lambda processed, total: calls.append((processed, total)),
    )
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]


# --- customers ------------------------------------------------------------------------------------

CUSTOMERS_1C = (
    "Код;Наименование;Вид;Эл. почта;Телефон;Дата рождения;Ответственный;Стадия;Согласие на SMS",
    "К-001;ООО Ромашка;Юр. лицо;info@romashka.ru;+7 900 000-00-01;;rep;постоянный;да",
    "К-002;Петров Иван;физ. лицо;petrov@example.com;;05.06.1980;rep@example.com;разовый;нет",
)


def test_customers_import_from_a_1c_export(rep):
    result = import_customers(source=csv_bytes(*CUSTOMERS_1C, encoding="cp1251", newline="\r\n"))

    assert (result.created, result.updated, result.unchanged, result.errors) == (2, 0, 0, [])
    company = Customer.objects.get(external_id="К-001")
    person = Customer.objects.get(external_id="К-002")
    assert (company.name, company.kind, company.stage) == (
        "ООО Ромашка", Customer.Kind.COMPANY, Customer.Stage.REGULAR,
    )
    assert (company.owner, company.consent_sms, company.phone) == (rep, True, "+7 900 000-00-01")
    assert (person.kind, person.birthday, person.owner) == (
        Customer.Kind.PERSON, date(1980, 6, 5), rep,
    )
    assert person.consent_sms is False
    assert person.language == Customer.Language.RU  # not in the file: the model's default


def test_customers_reimport_updates_changed_rows_and_counts_the_rest_unchanged(rep):
    import_customers(source=csv_bytes(*CUSTOMERS_1C))
    changed = (*CUSTOMERS_1C[:2], CUSTOMERS_1C[2].replace("petrov@example.com", "ivan@example.com"))

    again = import_customers(source=csv_bytes(*CUSTOMERS_1C))
    edited = import_customers(source=csv_bytes(*changed))

    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert (edited.created, edited.updated, edited.unchanged) == (0, 1, 1)
    assert Customer.objects.get(external_id="К-002").email == "ivan@example.com"
    assert Customer.objects.count() == 2


def test_empty_cells_do_not_erase_stored_values(rep):
    CustomerFactory(external_id="К-001", name="Old", email="keep@example.com", phone="123")
    source = csv_bytes("code;name;email;phone", "К-001;New;;")

    result = import_customers(source=source)

    customer = Customer.objects.get(external_id="К-001")
    assert (result.updated, customer.name, customer.email, customer.phone) == (
        1, "New", "keep@example.com", "123",
    )


def test_customer_rows_with_bad_values_are_reported_by_column(rep):
    RepFactory(username="twin1", email="same@example.com")
    RepFactory(username="twin2", email="same@example.com")
    ManagerFactory(username="boss")
    source = csv_bytes(
        "id,name,kind,email,birthday,owner,backup,consent_email,language,time_zone",
        "A,Ann,alien,not-an-email,,,,,,",
        "B,,,,31.12.2999,,,,,",
        "C,Cid,,,,ghost,,maybe,fr,Mars/Olympus",
        "D,Dan,,,,same@example.com,,,,",
        "E,Eve,,,,boss,,,,",  # a manager, not a rep
        "F,Fay,,,,rep,REP,,,",
        "G,Gus,person,g@example.com,1990-01-31,REP@example.com,,1,en,Asia/Tokyo",
    )

    result = import_customers(source=source)

    assert errors_by_row(result) == {
        2: [("kind", "Write company or person."), ("email", "Not a valid e-mail address.")],
        3: [("name", "This value is required."), ("birthday", "The date must be in the past.")],
        4: [
            ("owner", "No active rep with this username or e-mail."),
            ("consent_email", "Write yes or no (or 1 / 0)."),
            ("language", "Write en or ru."),
            ("time_zone", "Not a time zone; write it like Europe/Moscow."),
        ],
        5: [("owner", "Two reps go by this name; use the username.")],
        6: [("owner", "No active rep with this username or e-mail.")],
        7: [("backup", "The backup rep must be someone other than the owner.")],
    }
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["G"]
    gus = Customer.objects.get()
    assert (gus.owner, gus.consent_email, gus.language, gus.time_zone) == (
        rep, True, "en", "Asia/Tokyo",
    )


def test_a_backup_equal_to_the_stored_owner_is_refused(rep):
    CustomerFactory(external_id="A", owner=rep)
    result = import_customers(source=csv_bytes("id;name;backup", "A;Ann;rep"))
    assert errors_by_row(result) == {
        2: [("backup", "The backup rep must be someone other than the owner.")]
    }
    assert Customer.objects.get().backup is None


def test_a_customer_id_repeated_with_other_data_is_an_error_for_the_later_row():
    source = csv_bytes("id;name", "A;Ann", "A;Ann", "A;Anna")
    result = import_customers(source=source)
    assert (result.created, result.unchanged) == (1, 1)
    assert errors_by_row(result) == {4: [("id", "Row 2 already has this id with different data.")]}
    assert Customer.objects.get().name == "Ann"


# --- the error report -----------------------------------------------------------------------------


def test_error_report_lists_row_column_value_message_and_neutralises_formulas(buyers):
    source = csv_bytes("id;date;customer_id;amount", "A;01.02.2024;=HYPERLINK(1);1")
    result = import_purchases(source=source)

    rows = list(csv.reader(io.StringIO(imports.error_report_bytes(errors=result.errors).decode("utf-8-sig"))))

    assert rows == [
        ["row", "column", "value", "message"],
        ["2", "customer_id", "'=HYPERLINK(1)", "No customer with this id."],
    ]


# --- jobs -----------------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def make_job(kind: str, content: bytes, name: str = "upload.csv") -> ImportJob:
    job = ImportJob(kind=kind, original_name=name)
    job.file.save(name, ContentFile(content), save=False)
    job.save()
    return job


def test_job_runs_once_to_done_with_counts_and_an_error_report(media, buyers):
    job = make_job(ImportJob.Kind.PURCHASES, (DATA / "purchases_1c_cp1251.csv").read_bytes())

    finished = imports.run_import_job(job_id=job.pk)
    again = imports.run_import_job(job_id=job.pk)

    assert again is None
    assert finished.status == ImportJob.Status.DONE
    assert (finished.total_rows, finished.processed_rows, finished.progress_percent) == (8, 8, 100)
    assert (finished.created_count, finished.unchanged_count, finished.error_count) == (4, 0, 4)
    assert finished.started_at is not None
    assert finished.finished_at is not None
    assert [error.row for error in imports.first_errors_of(job=finished)] == [4, 5, 6, 8]
    assert Purchase.objects.count() == 4


def test_job_without_errors_has_no_report(media):
    job = make_job(ImportJob.Kind.CUSTOMERS, b"id;name\nA;Ann\n")
    finished = imports.run_import_job(job_id=job.pk)
    assert (finished.status, finished.created_count, finished.error_report.name) == (
        ImportJob.Status.DONE, 1, "",
    )


def test_unreadable_file_fails_the_job_with_the_reason(media):
    job = make_job(ImportJob.Kind.PURCHASES, b"nothing;useful\n1;2\n")
    finished = imports.run_import_job(job_id=job.pk)
    assert finished.status == ImportJob.Status.FAILED
    assert "Required columns are missing" in finished.failure


def test_unexpected_error_fails_the_job_instead_of_leaving_it_running(media, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(imports.IMPORTERS, ImportJob.Kind.CUSTOMERS, explode)
    job = make_job(ImportJob.Kind.CUSTOMERS, b"id;name\nA;Ann\n")

    finished = imports.run_import_job(job_id=job.pk)

    assert finished.status == ImportJob.Status.FAILED
    assert "RuntimeError: disk on fire" in finished.failure


def test_task_runs_the_job_by_id(media):
    from customers.tasks import run_import_job_task

    job = make_job(ImportJob.Kind.CUSTOMERS, b"id;name\nA;Ann\n")
    assert run_import_job_task.delay(job_id=job.pk).get() == ImportJob.Status.DONE
    assert run_import_job_task.name == "customers.run_import_job"
    assert Customer.objects.filter(external_id="A").exists()


# --- commands ---------------------------------------------------------------------------------


def test_import_purchases_command_prints_a_summary_and_writes_the_error_report(buyers, tmp_path):
    target = tmp_path / "purchases.csv"
    target.write_bytes((DATA / "purchases_1c_cp1251.csv").read_bytes())
    out, err = io.StringIO(), io.StringIO()

    call_command("import_purchases", str(target), stdout=out, stderr=err)

    assert (
        "Rows: 8. Created: 4. Updated: 0. Already present: 0. Rows with errors: 4." in out.getvalue()
    )
    assert "Row 5, Код контрагента “К-404”: No customer with this id." in err.getvalue()
    assert "8/8" in err.getvalue()  # the progress bar
    report = tmp_path / "purchases.csv.errors.csv"
    assert f"All errors are in {report}." in out.getvalue()
    assert report.read_bytes().decode("utf-8-sig").count("\n") == 5


def test_import_customers_command_takes_a_mapping_encoding_delimiter_and_errors_path(tmp_path):
    source = tmp_path / "clients.txt"
    source.write_bytes("Клиент;Имя\nA;Ann\nB;\n".encode("cp1251"))
    errors_out = tmp_path / "report.csv"
    out = io.StringIO()

    call_command(
        "import_customers", str(source), "--map", "external_id=Клиент", "--map", "name=имя",
        "--encoding", "cp1251", "--delimiter", ";", "--errors-out", str(errors_out),
        stdout=out, stderr=io.StringIO(), verbosity=0,
    )

    assert "Created: 1." in out.getvalue()
    assert Customer.objects.get().name == "Ann"
    report = list(csv.reader(io.StringIO(errors_out.read_bytes().decode("utf-8-sig"))))
    assert report[1] == ["3", "Имя", "", "This value is required."]


def test_import_command_fails_only_when_the_file_cannot_be_read(tmp_path):
    with pytest.raises(CommandError, match="could not be read"):
        call_command("import_customers", str(tmp_path / "absent.csv"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="OURS=THEIRS"):
        call_command("import_customers", "x.csv", "--map", "name", stdout=io.StringIO())


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


def _in_threads(count: int, work) -> list:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except Exception as error:  # noqa: BLE001 - reported by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_records_and_announces_each_purchase_once(recorded):
    CustomerFactory(external_id="К-001")
    content = "\n".join(
        ["id;date;customer_id;amount", *(f"P{n};01.02.2024;К-001;{n}" for n in range(300))]
    ).encode()

    results = _in_threads(2, lambda: import_purchases(source=io.BytesIO(content)))

    assert all(isinstance(result, imports.ImportResult) for result in results), results
    assert sum(result.created for result in results) == 300
    assert sum(result.created + result.unchanged for result in results) == 600
    announced = [pk for ids in recorded for pk in ids]
    assert len(announced) == len(set(announced)) == 300
    assert set(announced) == set(Purchase.objects.values_list("pk", flat=True))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_customers_imported_twice_at_once_are_created_once():
    content = "\n".join(["id;name", *(f"C{n};Customer {n}" for n in range(300))]).encode()

    results = _in_threads(2, lambda: import_customers(source=io.BytesIO(content)))

    assert all(isinstance(result, imports.ImportResult) for result in results), results
    assert sum(result.created for result in results) == 300
    assert sum(result.unchanged for result in results) == 300
    assert Customer.objects.count() == 300


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_only_one_runner_claims_a_pending_job(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    job = make_job(ImportJob.Kind.CUSTOMERS, b"id;name\nA;Ann\n")

    results = _in_threads(4, lambda: imports.run_import_job(job_id=job.pk))

    assert sum(result is not None for result in results) == 1, results
    assert Customer.objects.count() == 1
    assert ImportJob.objects.get().status == ImportJob.Status.DONE


def test_sweeper_re_enqueues_lost_and_stale_import_jobs(settings, time_machine, tmp_path):
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from customers.imports import sweep_import_jobs
    from customers.models import ImportJob

    settings.MEDIA_ROOT = tmp_path
    time_machine.move_to(timezone.now())
    lost = ImportJob.objects.create(
        kind=ImportJob.Kind.CUSTOMERS, file=ContentFile(b"code;name\n", name="a.csv"),
        original_name="a.csv",
    )
    dead = ImportJob.objects.create(
        kind=ImportJob.Kind.CUSTOMERS, file=ContentFile(b"code;name\n", name="b.csv"),
        original_name="b.csv", status=ImportJob.Status.RUNNING, started_at=timezone.now(),
    )
    assert sweep_import_jobs()["pending"] == 0  # too fresh to be lost
    time_machine.shift(timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60))
    result = sweep_import_jobs()
    assert result["revived"] == 1
    assert result["pending"] == 2
    lost.refresh_from_db()
    dead.refresh_from_db()
    # Tasks run in-process in tests: both jobs were picked up and finished.
    assert lost.status == dead.status == ImportJob.Status.DONE
