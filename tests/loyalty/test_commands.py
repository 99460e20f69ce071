import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from loyalty.errors import LedgerIsAppendOnlyError
from loyalty.models import LedgerEntry, LoyaltyAccount, PurchasePoints
from tests.factories import CustomerFactory
from tests.loyalty.conftest import balance_of, buy

pytestmark = pytest.mark.django_db


def test_check_ledger_passes_when_balances_match_the_entries(customer, programme, capsys):
    buy(customer, "10000")
    buy(CustomerFactory(), "5000")
    call_command("check_ledger")
    assert "OK: 2 accounts agree" in capsys.readouterr().out


def test_check_ledger_detects_a_tampered_balance(customer, programme, capsys):
    buy(customer, "10000")
    LoyaltyAccount.objects.filter(customer=customer).update(balance=1100)
    with pytest.raises(CommandError) as failure:
        call_command("check_ledger")
    assert failure.value.returncode == 1
    assert f"customer {customer.pk}: stored 1100, ledger 100 (+1000)" in capsys.readouterr().err


def test_check_ledger_detects_points_fixed_for_a_purchase_but_missing_from_the_ledger(
    customer, programme, capsys
):
    purchase = buy(customer, "10000")
    PurchasePoints.objects.filter(purchase=purchase).update(points=999)
    with pytest.raises(CommandError):
        call_command("check_ledger")
    assert f"purchase {purchase.pk}: fixed 999, earn entry 100" in capsys.readouterr().err


def test_ledger_entries_are_never_changed_or_deleted(customer, programme):
    buy(customer, "10000")
    entry = LedgerEntry.objects.get()
    entry.points = 5
    with pytest.raises(LedgerIsAppendOnlyError):
        entry.save()
    with pytest.raises(LedgerIsAppendOnlyError):
        entry.delete()
    with pytest.raises(LedgerIsAppendOnlyError):
        LedgerEntry.objects.update(points=5)
    with pytest.raises(LedgerIsAppendOnlyError):
        LedgerEntry.objects.all().delete()


@pytest.mark.postgres
def test_postgresql_refuses_to_update_a_ledger_entry(customer, programme):
    from django.db import DatabaseError, transaction

    buy(customer, "10000")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE loyalty_ledgerentry SET points = 5")


def test_import_opening_balances_reports_refused_rows_and_exits_non_zero(
    programme, tmp_path, capsys
):
    customer = CustomerFactory(external_id="C-1")
    source = tmp_path / "balances.csv"
    source.write_text("\ufeffexternal_id,points\nC-1,300\nC-2,5\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    with pytest.raises(CommandError) as failure:
        call_command("import_opening_balances", str(source), "--errors", str(errors))
    assert failure.value.returncode == 1
    captured = capsys.readouterr()
    assert "Rows: 2; imported: 1 (300 points); already imported: 0; refused: 1." in captured.out
    assert "Line 3: No customer with this id." in captured.err
    assert errors.read_text(encoding="utf-8").splitlines() == [
        "line,error",
        "3,No customer with this id.",
    ]
    assert balance_of(customer) == 300


def test_import_opening_balances_succeeds_quietly_on_a_clean_file(programme, tmp_path, capsys):
    CustomerFactory(external_id="C-1")
    source = tmp_path / "balances.csv"
    source.write_text("external_id;points\nC-1;300\n", encoding="utf-8")
    call_command("import_opening_balances", str(source))
    call_command("import_opening_balances", str(source))
    assert (
        "Rows: 1; imported: 0 (0 points); already imported: 1; refused: 0."
        in capsys.readouterr().out
    )


def test_import_opening_balances_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError):
        call_command("import_opening_balances", str(tmp_path / "nothing.csv"))
